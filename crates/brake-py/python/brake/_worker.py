"""A pool worker: reads tasks from one pipe, runs them, answers on another (their descriptors
are in ``BRAKE_PY_FDS``).

Started by the pool's supervisor (``python -c "from brake._worker import main; main()"``) in
its own process group, with SIGINT ignored until :func:`main` installs the handler below. On
SIGINT (the first signal of the termination sequence, sent on Ctrl-C) the worker takes no
further task: a running task gets ``KeyboardInterrupt``, its answer is written, and the worker
exits. Functions travel by reference, so the parent's ``__main__`` is loaded here as
``__mp_main__``, as the ``spawn`` start method of ``multiprocessing`` does.
"""

import os
import pickle
import runpy
import signal
import sys
import traceback
import types

READY, DONE, FAILED, INTERRUPTED, NOT_STARTED, INIT_FAILED = 1, 2, 3, 4, 5, 6

_running = False
_stopping = False


def _on_sigint(signum, frame):
    global _stopping
    _stopping = True
    if _running:
        raise KeyboardInterrupt


def _chunk(fn, items, star):
    """Runs ``fn`` over one chunk of a map; the chunk's answer is the list of values."""
    if star:
        return [fn(*args) for args in items]
    return [fn(item) for item in items]


def _dump_exception(exc):
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exc.__traceback__ = None
    try:
        return pickle.dumps((exc, text), pickle.HIGHEST_PROTOCOL)
    except Exception:
        stand_in = Exception(f"{type(exc).__name__}: {exc}")
        return pickle.dumps((stand_in, text), pickle.HIGHEST_PROTOCOL)


def _dump_interrupted(exc):
    """The stop's ``KeyboardInterrupt`` pickled with a plain traceback: each frame's file, line
    and function, without the source lines and column marks, whose formatting reads and parses
    source files (milliseconds that the stopping pool would wait for)."""
    text = ["Traceback (most recent call last):\n"]
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        code = frame.f_code
        text.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
    text.append(f"{type(exc).__name__}\n")
    exc.__traceback__ = None
    return pickle.dumps((exc, "".join(text)), pickle.HIGHEST_PROTOCOL)


def _load_main(info):
    """Loads the parent's main module as ``__mp_main__`` (its ``if __name__ ==
    "__main__"`` block does not run), so functions defined there can be found."""
    name, path = info.get("main_name"), info.get("main_path")
    if name and name != "__main__":
        if name.endswith(".__main__"):
            name = name[: -len(".__main__")]
        namespace = runpy.run_module(name, run_name="__mp_main__", alter_sys=True)
    elif path and os.path.isfile(path):
        namespace = runpy.run_path(path, run_name="__mp_main__")
    else:
        return
    module = types.ModuleType("__mp_main__")
    module.__dict__.update(namespace)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module


_functions = {}


def _unpack(blob):
    """A task item's function and call (see the wire format). A plain function is unpickled
    once: it is its module's attribute, the same object every time."""
    size = int.from_bytes(blob[:4], "little")
    key = blob[4 : 4 + size]
    fn = _functions.get(key)
    if fn is None:
        fn = pickle.loads(key)
        if type(fn) in (types.FunctionType, types.BuiltinFunctionType) and len(_functions) < 256:
            _functions[key] = fn
    args, kwargs = pickle.loads(memoryview(blob)[4 + size :])
    return fn, args, kwargs


def _run(chan, blob):
    """Runs one task and answers it; returns whether the worker may take another."""
    global _running
    stage = 0
    value = None
    try:
        _running = True
        if _stopping:
            raise KeyboardInterrupt
        fn, args, kwargs = _unpack(blob)
        stage = 1
        value = fn(*args, **kwargs)
        stage = 2
        _running = False
    except KeyboardInterrupt as exc:
        _running = False
        if stage == 0:
            chan.send(NOT_STARTED, b"")
            return False
        if stage == 1:
            chan.send(INTERRUPTED, _dump_interrupted(exc))
            return False
    except BaseException as exc:
        _running = False
        chan.send(FAILED, _dump_exception(exc))
        return not _stopping
    try:
        payload = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        chan.send(FAILED, _dump_exception(exc))
    else:
        chan.send(DONE, payload)
    return not _stopping


def main():
    """Serves the pool until it closes the task pipe, or until the stop; after the stop the
    worker ends at once (``os._exit``, its output flushed): the pool waits for it, and
    nothing the interpreter's shutdown would do is worth that wait."""
    _serve()
    if _stopping:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(0)


def _serve():
    signal.signal(signal.SIGINT, _on_sigint)
    tasks, answers = (int(fd) for fd in os.environ.pop("BRAKE_PY_FDS").split(","))
    os.set_inheritable(tasks, False)
    os.set_inheritable(answers, False)
    from brake._native import WorkerChannel

    chan = WorkerChannel(tasks, answers)
    first = []
    while not first:
        first = chan.recv()
        if first is None or _stopping:
            return
    info = pickle.loads(first[0])
    sys.path[:] = info["sys_path"]
    sys.argv[:] = info["sys_argv"]
    global _running
    try:
        _running = True
        _load_main(info)
        if info["initializer"] is not None:
            fn, args = pickle.loads(info["initializer"])
            fn(*args)
        _running = False
    except KeyboardInterrupt:
        return
    except BaseException:
        _running = False
        chan.send(INIT_FAILED, pickle.dumps(traceback.format_exc()))
        return
    if _stopping:
        return
    chan.send(READY, b"")
    left = info["max_tasks"]
    while not _stopping:
        try:
            batch = chan.recv()
        except KeyboardInterrupt:
            return
        if batch is None:
            return
        for blob in batch:
            try:
                if not _run(chan, blob):
                    return
            except KeyboardInterrupt:
                return
            if left is not None:
                left -= 1
                if left <= 0:
                    return
