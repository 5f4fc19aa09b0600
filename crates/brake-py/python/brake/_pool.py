"""``brake.Pool``: ``multiprocessing.Pool`` whose one Ctrl-C stops everything."""

import collections
import itertools
import os
import threading
import weakref
from concurrent.futures import CancelledError

from . import _engine, _native
from ._engine import DONE, MISSING, NOT_STARTED, Engine, _loads, wait_until
from ._worker import _chunk

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"


class AsyncResult:
    """The result of ``apply_async``: ``get``, ``wait``, ``ready``, ``successful``."""

    def __init__(self, pool, callback, error_callback):
        self._pool = pool
        self._event = threading.Event()
        self._callback = callback
        self._error_callback = error_callback
        self._success = None
        self._value = None

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout=None):
        try:
            wait_until(self._event.is_set, timeout)
        except KeyboardInterrupt:
            raise self._pool._engine.interrupted(self._partial()) from None

    def get(self, timeout=None):
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _partial(self):
        return None

    def _set(self, success, value):
        if self._event.is_set():
            return
        self._success, self._value = success, value
        if success and self._callback is not None:
            self._callback(value)
        if not success and self._error_callback is not None:
            self._error_callback(value)
        self._event.set()

    def _on_event(self, kind, payload):
        if kind == DONE:
            try:
                self._set(True, _loads(payload))
            except Exception as exc:
                self._set(False, exc)
        elif kind == NOT_STARTED:
            self._set(False, CancelledError("the pool stopped before the task started"))
        else:
            self._set(False, _engine.exception_from(kind, payload))


ApplyResult = AsyncResult


class MapResult(AsyncResult):
    """The result of ``map_async``: the chunks' values, in order."""

    def __init__(self, pool, chunks, callback, error_callback):
        super().__init__(pool, callback, error_callback)
        self._chunks = [None] * chunks
        self._left = chunks
        self._error = None
        self._lock = threading.Lock()
        if chunks == 0:
            self._set(True, [])

    def _chunk_callback(self, index):
        def on_event(kind, payload):
            with self._lock:
                if kind == DONE:
                    try:
                        self._chunks[index] = _loads(payload)
                    except Exception as exc:
                        kind, self._error = None, self._error or exc
                elif self._error is None:
                    if kind == NOT_STARTED:
                        self._error = CancelledError("the pool stopped before the task started")
                    else:
                        self._error = _engine.exception_from(kind, payload)
                self._left -= 1
                finished = self._left == 0
            if finished:
                if self._error is None:
                    self._set(True, list(itertools.chain.from_iterable(self._chunks)))
                else:
                    self._set(False, self._error)

        return on_event

    def _fail_chunk(self, index, exc):
        with self._lock:
            self._error = self._error or exc
            self._left -= 1
            finished = self._left == 0
        if finished:
            self._set(False, self._error)

    def _partial(self):
        values = []
        for chunk, size in zip(self._chunks, self._sizes):
            values.extend(chunk if chunk is not None else [MISSING] * size)
        return values


class IMapIterator:
    """The iterator of ``imap`` (in order) and ``imap_unordered`` (as they finish)."""

    def __init__(self, pool, ordered):
        self._pool = pool
        self._ordered = ordered
        self._cond = threading.Condition()
        self._items = {}
        self._ready = collections.deque()
        self._next = 0
        self._length = None

    def _callback(self, index):
        def on_event(kind, payload):
            if kind == DONE:
                try:
                    item = (True, _loads(payload))
                except Exception as exc:
                    item = (False, exc)
            elif kind == NOT_STARTED:
                item = (False, CancelledError("the pool stopped before the task started"))
            else:
                item = (False, _engine.exception_from(kind, payload))
            with self._cond:
                if self._ordered:
                    self._items[index] = item
                else:
                    self._ready.append(item)
                self._cond.notify_all()

        return on_event

    def __iter__(self):
        return self

    def _take(self):
        if self._ordered:
            if self._next in self._items:
                item = self._items.pop(self._next)
                self._next += 1
                return item
        elif self._ready:
            self._next += 1
            return self._ready.popleft()
        return None

    def next(self, timeout=None):
        import time

        end = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = _native.current_epoch()
            with self._cond:
                if self._length is not None and self._next >= self._length:
                    raise StopIteration
                item = self._take()
            if item is None:
                left = _engine._LOOK_AGAIN
                if end is not None:
                    left = min(left, end - time.monotonic())
                    if left <= 0:
                        raise TimeoutError
                try:
                    _native.wait_epoch(seen, left)
                except KeyboardInterrupt:
                    raise self._pool._engine.interrupted() from None
                continue
            success, value = item
            if success:
                return value
            raise value

    __next__ = next


class Pool:
    """A drop-in for ``multiprocessing.Pool``.

    The first Ctrl-C stops the pool: ``join``, ``get``, ``map`` and the ``with`` exit raise
    ``KeyboardInterrupt`` (a :class:`brake.Interrupted`) at once, no queued task starts,
    running tasks get ``KeyboardInterrupt`` in their worker, and the termination sequence
    (``INT``, ``grace`` seconds, ``TERM``, 1 s, ``KILL``) ends what is left. A second Ctrl-C
    kills the workers at once. A worker that crashes fails its own task
    (``brake.WorkerDied``) and is replaced.
    """

    def __init__(
        self,
        processes=None,
        initializer=None,
        initargs=(),
        maxtasksperchild=None,
        *,
        grace=2.0,
        termseq=None,
    ):
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (
            not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0
        ):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._processes = processes
        self._engine = Engine(
            processes,
            initializer,
            initargs,
            maxtasksperchild,
            _engine.termseq_text(grace, termseq),
        )
        self._engine.owner = weakref.ref(self)
        self._state = RUN
        weakref.finalize(self, self._engine.core.stop)

    def _check_running(self):
        if self._state != RUN or self._engine.core.pressed:
            raise ValueError("Pool not running")

    def _submit(self, fn, args, kwds, callback):
        task = self._engine.submit(fn, args, kwds, callback)
        if task is None:
            raise ValueError("Pool not running")

    def apply(self, func, args=(), kwds={}):
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        self._check_running()
        result = AsyncResult(self, callback, error_callback)
        try:
            self._submit(func, tuple(args), dict(kwds), result._on_event)
        except ValueError:
            raise
        except Exception as exc:
            result._set(False, exc)
        return result

    def _map_async(self, func, iterable, star, chunksize, callback, error_callback):
        self._check_running()
        # A range, list or tuple is cut into chunks as it is (a range's chunks are ranges,
        # a few bytes each to pickle); anything else is made a list first. Every chunk is
        # pickled before this returns, so a list changed afterwards changes nothing.
        items = iterable if type(iterable) in (range, list, tuple) else list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), len(self._engine_workers()) * 4)
            if extra:
                chunksize += 1
        if len(items) == 0:
            chunksize = 0
        chunks = [items[i : i + chunksize] for i in range(0, len(items), chunksize)] if chunksize else []
        result = MapResult(self, len(chunks), callback, error_callback)
        result._sizes = [len(chunk) for chunk in chunks]
        for index, chunk in enumerate(chunks):
            try:
                self._submit(_chunk, (func, chunk, star), {}, result._chunk_callback(index))
            except ValueError:
                raise
            except Exception as exc:
                result._fail_chunk(index, exc)
        return result

    def _engine_workers(self):
        return range(self._processes)

    def map(self, func, iterable, chunksize=None):
        return self._map_async(func, iterable, False, chunksize, None, None).get()

    def starmap(self, func, iterable, chunksize=None):
        return self._map_async(func, iterable, True, chunksize, None, None).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, False, chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, True, chunksize, callback, error_callback)

    def _imap(self, func, iterable, chunksize, ordered):
        self._check_running()
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        iterator = IMapIterator(self, ordered)
        args = iter(iterable)
        count = 0
        while True:
            chunk = list(itertools.islice(args, chunksize))
            if not chunk:
                break
            self._submit_chunk_into(iterator, func, chunk, count)
            count += 1
        with iterator._cond:
            iterator._length = count
            iterator._cond.notify_all()
        return _flatten(iterator)

    def _submit_chunk_into(self, iterator, func, chunk, index):
        callback = iterator._callback(index)
        try:
            self._submit(_chunk, (func, chunk, False), {}, callback)
        except ValueError:
            raise
        except Exception as exc:
            with iterator._cond:
                item = (False, exc)
                if iterator._ordered:
                    iterator._items[index] = item
                else:
                    iterator._ready.append(item)

    def imap(self, func, iterable, chunksize=1):
        return self._imap(func, iterable, chunksize, True)

    def imap_unordered(self, func, iterable, chunksize=1):
        return self._imap(func, iterable, chunksize, False)

    def close(self):
        if self._state == RUN:
            self._state = CLOSE
            self._engine.core.close()

    def terminate(self):
        """Stops the pool: queued tasks never start, running ones get the termination sequence;
        returns once every worker is gone (a Ctrl-C while it waits raises at once)."""
        self._state = TERMINATE
        self._engine.core.stop()
        self._engine.wait_ended()

    def join(self):
        if self._state == RUN and not self._engine.core.pressed:
            raise ValueError("Pool is still running")
        self._engine.wait_ended()

    def report(self):
        """How the pool's tasks ended so far (see ``ProcessPoolExecutor.report``)."""
        return self._engine.report()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.terminate()

    def _at_exit(self):
        self.terminate()

    def __repr__(self):
        return f"<brake.Pool state={self._state} pool_size={self._processes}>"


def _flatten(iterator):
    for chunk in iterator:
        yield from chunk
