"""Task functions for the parity tests (importable by workers)."""

import os


def square(x):
    return x * x


def add(a, b):
    return a + b


def fail(x):
    raise ValueError(f"bad value {x}")


def crash(x):
    os._exit(3)


_STATE = {}


def init(value):
    _STATE["value"] = value


def read_init(_):
    return _STATE.get("value")


class Scaled:
    """A callable with state: pickled by value, as it is at each submit."""

    def __init__(self, k):
        self.k = k
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return self.k * x, self.calls


def nap(seconds):
    import time

    time.sleep(seconds)
    return seconds
