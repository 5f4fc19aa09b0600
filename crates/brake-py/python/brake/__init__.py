"""brake: process pools whose one Ctrl-C stops everything.

``brake.ProcessPoolExecutor`` and ``brake.Pool`` are drop-ins for
``concurrent.futures.ProcessPoolExecutor`` and ``multiprocessing.Pool``. On the first Ctrl-C:
the main thread gets ``KeyboardInterrupt`` at once from whatever brake call it waits in, no
queued task starts, running tasks get ``KeyboardInterrupt`` in their worker, and what has not
ended after the grace period gets the rest of the termination sequence (``TERM``, then
``KILL``). Finished results are kept. A second Ctrl-C kills the workers at once. Workers die
with the parent, even when it is ``kill -9``ed.
"""

from ._engine import (
    MISSING,
    BrokenPool,
    Interrupted,
    RemoteTraceback,
    TaskKilled,
    WorkerDied,
)
from ._executor import ProcessPoolExecutor
from ._pool import AsyncResult, MapResult, Pool

__all__ = [
    "AsyncResult",
    "BrokenPool",
    "Interrupted",
    "MISSING",
    "MapResult",
    "Pool",
    "ProcessPoolExecutor",
    "RemoteTraceback",
    "TaskKilled",
    "WorkerDied",
]
