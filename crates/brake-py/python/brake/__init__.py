"""brake: process pools whose one Ctrl-C stops everything.

``brake.ProcessPoolExecutor`` and ``brake.Pool`` are drop-ins for
``concurrent.futures.ProcessPoolExecutor`` and ``multiprocessing.Pool``. On the first Ctrl-C:
the main thread gets ``KeyboardInterrupt`` at once from whatever brake call it waits in, no
queued task starts, running tasks get ``KeyboardInterrupt`` in their worker, and what has not
ended after the grace period gets the rest of the termination sequence (``TERM``, then
``KILL``). Finished results are kept. A second Ctrl-C kills the workers at once. Workers die
with the parent, even when it is ``kill -9``ed.
"""

import importlib

# Where each public name lives. They are imported on first use: a worker imports this package
# to run, and so does every program whose main module a worker loads, and neither needs the
# pools' modules (nor what they import) for that.
_HOME = {
    "AsyncResult": "._pool",
    "BrokenPool": "._engine",
    "Interrupted": "._engine",
    "MISSING": "._engine",
    "MapResult": "._pool",
    "Pool": "._pool",
    "ProcessPoolExecutor": "._executor",
    "RemoteTraceback": "._engine",
    "TaskKilled": "._engine",
    "WorkerDied": "._engine",
}

__all__ = sorted(_HOME)


def __getattr__(name):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))
