"""What both pools share: the native core, the thread that hands results out, the report, and
the exceptions a stop produces."""

import atexit
import itertools
import os
import pickle
import signal
import sys
import threading
import time
import types
import weakref

from . import _native

DONE, FAILED, INTERRUPTED, NOT_STARTED, KILLED, DIED, BROKEN = 2, 3, 4, 5, 6, 7, 8

_MARKER = "BRAKE_PY_POOL"
_pools = itertools.count()
_live = weakref.WeakSet()
_dumps = pickle.dumps
_loads = pickle.loads
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class Interrupted(KeyboardInterrupt):
    """The ``KeyboardInterrupt`` a Ctrl-C raises from brake's blocking calls.

    ``report`` counts the pool's tasks at that moment (``done``, ``failed``, ``running``,
    ``queued``, ...); ``results`` holds, for ``map``-like calls, the values finished so far in
    order, with :data:`MISSING` where a value is not there.
    """

    def __init__(self, report, results=None):
        super().__init__()
        self.report = report
        self.results = results

    def __str__(self):
        r = self.report
        return (
            f"stopped by Ctrl-C: {r['done']} done, {r['running']} running, "
            f"{r['queued'] + r['not_started']} not started"
        )


class _Missing:
    def __repr__(self):
        return "brake.MISSING"


MISSING = _Missing()


class TaskKilled(Exception):
    """The task was running when the pool stopped, and the termination sequence ended it."""


_broken = {}


def _broken_classes():
    """``WorkerDied`` and ``BrokenPool``, made on first use: their base,
    ``concurrent.futures.process.BrokenProcessPool``, imports ``multiprocessing``, which
    neither the pools nor their workers need otherwise (every worker would pay for it at
    start)."""
    if not _broken:
        from concurrent.futures.process import BrokenProcessPool

        class WorkerDied(BrokenProcessPool):
            """The worker running the task died (the pool itself goes on with a new worker)."""

        class BrokenPool(BrokenProcessPool):
            """The pool cannot run tasks: a worker's initializer raised, or no worker could
            start."""

        for cls in (WorkerDied, BrokenPool):
            cls.__qualname__ = cls.__name__
            _broken[cls.__name__] = cls
    return _broken


def __getattr__(name):
    if name in ("WorkerDied", "BrokenPool"):
        return _broken_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as its ``__cause__``."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return self.text


def exception_from(kind, payload):
    """The exception a task's failing event stands for."""
    if kind in (FAILED, INTERRUPTED):
        exc, text = _loads(payload)
        exc.__cause__ = RemoteTraceback(f'\n"""\n{text}"""')
        return exc
    if kind == KILLED:
        return TaskKilled(payload.decode(errors="replace"))
    if kind == DIED:
        return _broken_classes()["WorkerDied"](payload.decode(errors="replace"))
    if kind == BROKEN:
        try:
            text = _loads(payload)
        except Exception:
            text = payload.decode(errors="replace")
        return _broken_classes()["BrokenPool"](f"a worker could not start (main module or initializer):\n{text}")
    raise ValueError(f"event {kind} is not a failure")


def _worker_argv():
    import subprocess

    return [
        sys.executable,
        *subprocess._args_from_interpreter_flags(),
        "-c",
        "from brake._worker import main; main()",
    ]


def _main_info():
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return {
        "main_name": getattr(spec, "name", None),
        "main_path": os.path.abspath(main.__file__) if getattr(main, "__file__", None) else None,
    }


def termseq_text(grace, termseq):
    if termseq is not None:
        return termseq
    return f"INT,{int(round(grace * 1000))},TERM,1000,KILL"


_PLAIN_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType)
_function_blobs = {}


def _function_blob(fn):
    """``fn`` pickled. A plain function pickles as its module and name, the same bytes every
    time, so it is pickled once (per pool process, for the last few hundred functions); any
    other callable is pickled afresh, its state as it is now."""
    if type(fn) not in _PLAIN_FUNCTIONS:
        return _dumps(fn, _PROTOCOL)
    known = _function_blobs.get(id(fn))
    if known is not None and known[0] is fn:
        return known[1]
    blob = _dumps(fn, _PROTOCOL)
    if len(_function_blobs) >= 256:
        _function_blobs.clear()
    _function_blobs[id(fn)] = (fn, blob)
    return blob


# The longest one sleep of `wait_until` lasts before it looks again: a net for a condition
# that changes without the epoch moving (a future cancelled from another thread).
_LOOK_AGAIN = 1.0


def wait_until(done, timeout=None):
    """Waits until ``done()`` is true, at most ``timeout`` seconds; returns whether it is.

    Sleeps in brake's native wait (the GIL released) until the results thread has handed out
    a batch, a pool ended, or a signal came: a Ctrl-C raises ``KeyboardInterrupt`` at once,
    whichever thread the kernel gave the signal to."""
    current_epoch, wait_epoch = _native.current_epoch, _native.wait_epoch
    deadline = None if timeout is None else _monotonic() + timeout
    while True:
        seen = current_epoch()
        if done():
            return True
        if deadline is None:
            wait_epoch(seen, _LOOK_AGAIN)
            continue
        left = deadline - _monotonic()
        if left <= 0:
            return False
        wait_epoch(seen, min(left, _LOOK_AGAIN))


_monotonic = time.monotonic


class Engine:
    """One pool: its native core and the thread that hands results to their owners.

    ``submit`` takes a callback for each task, called once, on the results thread, with the
    task's event kind and payload; or a target, which ``settle_many`` (given to the engine)
    settles with the other targets of the same batch of events, in one call, as
    ``settle_many([(target, kind, payload), ...])``.
    """

    def __init__(self, workers, initializer, initargs, max_tasks, termseq, settle_many=None):
        init = {
            "sys_path": list(sys.path),
            "sys_argv": list(sys.argv),
            "initializer": None
            if initializer is None
            else _dumps((initializer, tuple(initargs)), _PROTOCOL),
            "max_tasks": max_tasks,
            **_main_info(),
        }
        marker = f"{os.getpid()}.{next(_pools)}"
        self.core = _native.Core(
            _worker_argv(),
            [],
            workers,
            _dumps(init, _PROTOCOL),
            termseq,
            max_tasks,
            (_MARKER, marker),
        )
        self.workers = workers
        self._handlers = {}
        self._targets = {}
        self._ids = itertools.count()
        self._thread = threading.Thread(
            target=_hand_out,
            args=(self.core, self._handlers, self._targets, settle_many),
            name="brake-results",
            daemon=True,
        )
        self._thread.start()
        _live.add(self)

    def submit(self, fn, args, kwargs, callback=None, target=None):
        """Queues ``fn(*args, **kwargs)``; returns its id, or None if the pool takes no more
        tasks. Raises what pickling raises. The task's end calls ``callback(kind, payload)``,
        or, with a target instead, passes the target to the engine's ``settle_many``."""
        function = _function_blob(fn)
        call = _dumps((args, kwargs), _PROTOCOL)
        # The handler is in place before the task is queued: the results thread, which pops
        # it, needs no lock shared with this thread.
        task = next(self._ids)
        handlers = self._handlers if target is None else self._targets
        handlers[task] = callback if target is None else target
        if not self.core.submit(task, function, call):
            del handlers[task]
            return None
        return task

    def cancel(self, task):
        if self.core.cancel(task):
            self._handlers.pop(task, None)
            self._targets.pop(task, None)
            return True
        return False

    def report(self):
        snap = self.core.snapshot()
        snap.pop("broken_reason", None)
        return snap

    def interrupted(self, results=None):
        """The exception a blocking call raises on Ctrl-C; stops the pool too, for a
        ``KeyboardInterrupt`` that did not come through brake's hook."""
        self.core.stop()
        return Interrupted(self.report(), results)

    def wait_ended(self, timeout=None):
        try:
            return self.core.wait_ended(timeout)
        except KeyboardInterrupt:
            raise self.interrupted() from None

    def at_exit(self):
        pass


def _hand_out(core, handlers, targets, settle_many):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pop, pop_target = handlers.pop, targets.pop
    while True:
        events, ended = core.take_events(None)
        batch = []
        for task, kind, payload in events:
            target = pop_target(task, None)
            if target is not None:
                batch.append((target, kind, payload))
                continue
            callback = pop(task, None)
            if callback is None:
                continue
            try:
                callback(kind, payload)
            except Exception:
                sys.excepthook(*sys.exc_info())
        if batch:
            try:
                settle_many(batch)
            except Exception:
                sys.excepthook(*sys.exc_info())
        if ended:
            return


@atexit.register
def _at_exit():
    for engine in list(_live):
        owner = getattr(engine, "owner", None)
        owner = owner() if owner is not None else None
        if owner is not None:
            try:
                owner._at_exit()
            except KeyboardInterrupt:
                engine.core.force()
