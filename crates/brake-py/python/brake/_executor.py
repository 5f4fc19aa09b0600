"""``brake.ProcessPoolExecutor``: ``concurrent.futures.ProcessPoolExecutor`` whose one Ctrl-C
stops everything."""

import itertools
import os
import threading
import weakref
from concurrent.futures import CancelledError, Executor, Future
from concurrent.futures._base import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
    RUNNING,
)

from . import _engine, _native
from ._engine import DONE, NOT_STARTED, Engine, _loads


class _Future(Future):
    """A ``concurrent.futures.Future`` that can be cancelled while its task is still queued
    in brake's core.

    Its condition is its pool's, one for every future of the pool: a condition of its own is a
    handful more objects for the garbage collector to track for each task, which with many
    small tasks costs more than the rest of ``submit``. Nothing waits on that condition:
    ``result`` and ``exception`` wait in brake's wait (which a Ctrl-C interrupts at once), and
    ``concurrent.futures.wait`` and ``as_completed`` take it only as a lock, which may be taken
    again by the thread that holds it.
    """

    def __init__(self, engine, condition):
        # What Future.__init__ sets, the condition apart.
        self._condition = condition
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks = []
        self._brake_engine = engine
        self._brake_task = None

    def _brake_wait(self, timeout):
        if self._state == FINISHED:
            return
        try:
            _engine.wait_until(self.done, timeout)
        except KeyboardInterrupt:
            raise self._brake_engine.interrupted() from None

    def result(self, timeout=None):
        self._brake_wait(timeout)
        return super().result(0)

    def exception(self, timeout=None):
        self._brake_wait(timeout)
        return super().exception(0)

    def cancel(self):
        engine = self._brake_engine
        with self._condition:
            if self._state == PENDING:
                if engine is not None and self._brake_task is not None:
                    if not engine.cancel(self._brake_task):
                        self._state = RUNNING
                        return False
        cancelled = super().cancel()
        with self._condition:
            # No event comes for a task taken out of the queue: the cancel is notified now
            # (``wait`` and ``as_completed`` count it done), as the standard library's executor
            # does when it skips the task.
            if self._state == CANCELLED:
                self.set_running_or_notify_cancel()
        _native.wake()
        return cancelled


_SETTLED = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)


def _settle_many(batch):
    """Settles a batch of one pool's futures from their events, as ``set_result`` and
    ``set_exception`` would one by one (a future cancelled meanwhile keeps its state), with one
    hold of the pool's condition for the whole batch: the values are unpickled before it is
    taken (unpickling runs code of the task's choosing), the done-callbacks run after it is
    released."""
    outcomes = []
    for future, kind, payload in batch:
        if kind == DONE:
            try:
                outcomes.append((future, True, _loads(payload)))
            except BaseException as exc:
                outcomes.append((future, False, exc))
        elif kind == NOT_STARTED:
            _not_started(future)
        else:
            try:
                outcomes.append((future, False, _engine.exception_from(kind, payload)))
            except BaseException as exc:
                outcomes.append((future, False, exc))
    if not outcomes:
        return
    called = []
    condition = outcomes[0][0]._condition
    with condition:
        for future, success, value in outcomes:
            if future._state in _SETTLED:
                continue
            if success:
                future._result = value
            else:
                future._exception = value
            future._state = FINISHED
            for waiter in future._waiters:
                if success:
                    waiter.add_result(future)
                else:
                    waiter.add_exception(future)
            if future._done_callbacks:
                called.append(future)
        condition.notify_all()
    for future in called:
        future._invoke_callbacks()


def _not_started(future):
    """Cancels a future whose task the stop (or a cancel) ended before it ran."""
    with future._condition:
        if future.done():
            return
        future._state = PENDING
    Future.cancel(future)
    future.set_running_or_notify_cancel()


class ProcessPoolExecutor(Executor):
    """A drop-in for ``concurrent.futures.ProcessPoolExecutor``.

    The first Ctrl-C stops the pool: no queued task starts (their futures are cancelled),
    running tasks get ``KeyboardInterrupt`` in their worker, and the termination sequence
    (``INT``, ``grace`` seconds, ``TERM``, 1 s, ``KILL``; or ``termseq``, GNU parallel's
    syntax) ends what is left. Results finished before it stay in their futures. A second
    Ctrl-C kills the workers at once. A worker that crashes fails its own task only
    (``brake.WorkerDied``) and is replaced: unlike the standard library's executor, the pool
    does not break.
    """

    def __init__(
        self,
        max_workers=None,
        *,
        initializer=None,
        initargs=(),
        max_tasks_per_child=None,
        grace=2.0,
        termseq=None,
    ):
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None and (
            not isinstance(max_tasks_per_child, int) or max_tasks_per_child <= 0
        ):
            raise ValueError("max_tasks_per_child must be >= 1")
        self._max_workers = max_workers
        self._engine = Engine(
            max_workers,
            initializer,
            initargs,
            max_tasks_per_child,
            _engine.termseq_text(grace, termseq),
            settle_many=_settle_many,
        )
        self._engine.owner = weakref.ref(self)
        self._condition = threading.Condition()
        self._shutdown = False
        weakref.finalize(self, self._engine.core.close)

    def submit(self, fn, /, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future = _Future(self._engine, self._condition)
        try:
            task = self._engine.submit(fn, args, kwargs, target=future)
        except Exception as exc:
            future.set_exception(exc)
            return future
        if task is None:
            snap = self._engine.core.snapshot()
            if snap["broken_reason"] is not None:
                raise _engine.exception_from(_engine.BROKEN, snap["broken_reason"])
            if snap["stopped"]:
                raise RuntimeError("cannot schedule new futures after the pool was stopped")
            raise RuntimeError("cannot schedule new futures after shutdown")
        future._brake_task = task
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        import time

        end = None if timeout is None else time.monotonic() + timeout
        args = zip(*iterables)
        futures = []
        while True:
            chunk = list(itertools.islice(args, chunksize))
            if not chunk:
                break
            futures.append(self.submit(_chunk_fn, fn, chunk, True))

        def results():
            try:
                futures.reverse()
                while futures:
                    future = futures.pop()
                    left = None if end is None else end - time.monotonic()
                    yield from self._result(future, left)
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def _result(self, future, timeout):
        return future.result(timeout)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True
        if cancel_futures:
            self._engine.core.cancel_queued()
        self._engine.core.close()
        if wait:
            self._engine.wait_ended()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._engine.core.stop()
        self.shutdown(wait=True)
        return False

    def report(self):
        """How the pool's tasks ended so far: ``done``, ``failed``, ``interrupted``,
        ``not_started``, ``killed``, ``died``, and ``queued``, ``running``, ``stopped``."""
        return self._engine.report()

    def stop(self):
        """Stops the pool as a Ctrl-C would."""
        self._engine.core.stop()

    def _at_exit(self):
        self.shutdown(wait=True)


from ._worker import _chunk as _chunk_fn  # noqa: E402
