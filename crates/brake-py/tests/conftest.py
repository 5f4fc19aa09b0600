"""Helpers for the tests that drive programs in a real pseudo-terminal."""

import os
import pty
import signal
import sys
import threading
import time
import uuid

import pytest

PROGS = os.path.join(os.path.dirname(__file__), "progs")


def _environ(pid):
    """The environment of `pid` as one read call returns it (a read in pieces can end early if
    the process execs in between); None when it cannot be read."""
    try:
        fd = os.open(f"/proc/{pid}/environ", os.O_RDONLY)
    except OSError:
        return None
    try:
        size = 1 << 16
        while True:
            data = os.pread(fd, size, 0)
            if len(data) < size:
                return data
            size *= 2
    except OSError:
        return None
    finally:
        os.close(fd)


def _stat(pid):
    """The fields of /proc/PID/stat from the state on (field 3), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _carries(pid, needle):
    """Whether `pid` is live and its environment holds `needle`. While an exec lays out the new
    environment the file reads empty (and stat's env_end, field 51, is 0): tried again a moment
    later; if the exec ended between the two reads, read once more."""
    for _ in range(100):
        env = _environ(pid)
        fields = _stat(pid)
        if env is None or fields is None or fields[0] in ("Z", "X"):
            return False
        if env:
            return needle in env.split(b"\0")
        if len(fields) < 49 or fields[48] != "0":
            env = _environ(pid)
            return env is not None and needle in env.split(b"\0")
        time.sleep(0.001)
    return False


def marked(token):
    """Live processes whose environment holds BRAKE_TEST_MARK=token."""
    needle = f"BRAKE_TEST_MARK={token}".encode()
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _carries(int(e), needle)]


class Session:
    """A program run as the foreground process group of its own pseudo-terminal."""

    def __init__(self, argv, env):
        self.token = uuid.uuid4().hex
        env = dict(env, BRAKE_TEST_MARK=self.token)
        pid, master = pty.fork()
        if pid == 0:
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.master = pid, master
        self.out = bytearray()
        self.status = None
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.out += data

    def output(self):
        with self.lock:
            return self.out.decode(errors="replace").replace("\r\n", "\n")

    def press(self):
        os.write(self.master, b"\x03")
        return time.time()

    def wait_exit(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                self.reader.join(1)
                return True
            time.sleep(0.005)
        return False

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait_exit(5)


@pytest.fixture
def session_factory(tmp_path):
    made = []

    def make(script, *args, **env):
        mark_dir = tmp_path / "marks"
        mark_dir.mkdir(exist_ok=True)
        full_env = dict(os.environ, MARK_DIR=str(mark_dir), PYTHONUNBUFFERED="1")
        full_env.update({k: str(v) for k, v in env.items()})
        s = Session([sys.executable, os.path.join(PROGS, script), *map(str, args)], full_env)
        s.mark_dir = mark_dir
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()
        for pid in marked(s.token):
            os.kill(pid, signal.SIGKILL)


def wait_marks(mark_dir, count, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(os.listdir(mark_dir)) >= count:
            return True
        time.sleep(0.01)
    return False
