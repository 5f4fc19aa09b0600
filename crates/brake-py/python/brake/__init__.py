"""brake: process pools whose one Ctrl-C stops everything.

``brake.ProcessPoolExecutor`` and ``brake.Pool`` are drop-ins for
``concurrent.futures.ProcessPoolExecutor`` and ``multiprocessing.Pool``. On the first Ctrl-C:
the main thread gets ``KeyboardInterrupt`` at once from whatever brake call it waits in, no
queued task starts, running tasks get ``KeyboardInterrupt`` in their worker, and what has not
ended after the grace period gets the rest of the termination sequence (``TERM``, then
``KILL``). Finished results are kept. A second Ctrl-C kills the workers at once. Workers die
with the parent, even when it is ``kill -9``ed.

Each worker runs in a session of its own. Processes that a task starts and that leave the
worker's session (``setsid``, a daemon's double fork) are ended when the pool ends, after a
stop or a normal end: through a cgroup of the pool's own where the program may create one
(cgroup v2, writable; ``BRAKE_PY_CGROUP=0`` turns it off), otherwise by the environment
variable they inherit from their worker. brake does not make the program a child subreaper.
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
