"""One Ctrl-C in a real terminal stops every pool: counted presses, exit status, last line,
tasks started after the press, processes left behind."""

import os
import re
import signal
import time

import pytest

from conftest import marked, wait_marks


def press_until_exit(s, timeout=10, most=4):
    """Presses Ctrl-C until the program exits; returns the number of presses and the time of
    the first."""
    first = s.press()
    presses = 1
    while not s.wait_exit(timeout):
        if presses >= most:
            pytest.fail(f"still running after {presses} presses:\n{s.output()}")
        s.press()
        presses += 1
    return presses, first


@pytest.mark.parametrize("workers,tasks", [(3, 6), (3, 100)])
def test_seed_stops_on_one_press(session_factory, workers, tasks):
    s = session_factory("seed.py", SEED_WORKERS=workers, SEED_TASKS=tasks)
    assert wait_marks(s.mark_dir, workers), s.output()
    time.sleep(0.2)
    presses, _ = press_until_exit(s)
    out = s.output()
    assert presses == 1, out
    assert os.WIFEXITED(s.status) and os.WEXITSTATUS(s.status) == 0, (s.status, out)
    lines = [line for line in out.splitlines() if line.strip() and line.strip() != "^C"]
    assert lines[-1].endswith("[-] main exit"), out
    assert out.count("[-] handler exit") == workers, out
    assert len(os.listdir(s.mark_dir)) == workers, "a queued task started after the press"
    time.sleep(0.2)
    assert marked(s.token) == []


@pytest.mark.parametrize("api", ["executor", "pool"])
@pytest.mark.parametrize("kind", ["busy", "coop"])
@pytest.mark.parametrize("workers,tasks", [(3, 6), (3, 100)])
def test_one_press_stops_everything(session_factory, api, kind, workers, tasks):
    s = session_factory("stop.py", api, tasks, workers, TASK_KIND=kind)
    assert wait_marks(s.mark_dir, workers), s.output()
    time.sleep(0.2)
    presses, pressed_at = press_until_exit(s)
    out = s.output()
    assert presses == 1, out
    assert os.WIFEXITED(s.status) and os.WEXITSTATUS(s.status) == 130, (s.status, out)
    lines = [line for line in out.splitlines() if line.strip() and line.strip() != "^C"]
    assert lines[-1].endswith("[-] main exit"), out
    ki_at = float(re.search(r"ki_at=([0-9.]+)", out).group(1))
    assert ki_at - pressed_at < 0.1, f"KeyboardInterrupt {ki_at - pressed_at:.3f}s after the press"
    assert len(os.listdir(s.mark_dir)) == workers, "a queued task started after the press"
    report = eval(re.search(r"report=(\{.*\})", out).group(1))
    assert report["interrupted"] == workers, report
    assert report["not_started"] == tasks - workers, report
    assert report["ended"] and report["pids"] == [], report
    time.sleep(0.2)
    assert marked(s.token) == []


@pytest.mark.parametrize("api", ["executor", "pool"])
def test_second_press_kills_at_once(session_factory, api):
    s = session_factory("stop.py", api, 6, 3, TASK_KIND="stubborn", GRACE=60)
    assert wait_marks(s.mark_dir, 3), s.output()
    time.sleep(0.2)
    s.press()
    assert not s.wait_exit(1.0), "the stubborn tasks ended without the second press"
    s.press()
    start = time.monotonic()
    assert s.wait_exit(5), s.output()
    assert time.monotonic() - start < 1.0
    time.sleep(0.2)
    assert marked(s.token) == []


@pytest.mark.parametrize("api", ["executor", "pool"])
def test_parent_kill9_leaves_no_worker(session_factory, api):
    s = session_factory("stop.py", api, 6, 3, TASK_KIND="busy")
    assert wait_marks(s.mark_dir, 3), s.output()
    assert len(marked(s.token)) >= 4
    os.kill(s.pid, signal.SIGKILL)
    s.wait_exit(5)
    time.sleep(1.0)
    assert marked(s.token) == []


@pytest.mark.parametrize("what", ["lock", "read"])
def test_press_interrupts_a_plain_blocking_call(session_factory, what):
    """brake's SIGINT handler interrupts system calls as Python's own does: a lock wait or a
    read in the main thread, outside brake, raises KeyboardInterrupt on the first press."""
    s = session_factory("block.py", what)
    end = time.monotonic() + 30
    while "ready" not in s.output() and time.monotonic() < end:
        time.sleep(0.01)
    assert "ready" in s.output(), s.output()
    time.sleep(0.2)
    presses, pressed_at = press_until_exit(s)
    out = s.output()
    assert presses == 1, out
    ki_at = float(re.search(r"ki_at=([0-9.]+)", out).group(1))
    assert ki_at - pressed_at < 0.1, f"KeyboardInterrupt {ki_at - pressed_at:.3f}s after the press"
    assert "not reached" not in out
    assert os.WIFSIGNALED(s.status) or os.WEXITSTATUS(s.status) != 0, (s.status, out)
    time.sleep(0.2)
    assert marked(s.token) == []


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


@pytest.mark.parametrize("api", ["executor", "pool"])
def test_one_press_at_any_moment_of_the_start_stops_it(session_factory, api):
    """A press while the program is still starting (importing brake, making the pool, starting
    workers) stops it as well: one press, an exit by the interrupt, nothing left. Before brake
    is imported it is Python's own KeyboardInterrupt that ends the program."""
    for delay in [i * 0.04 for i in range(13)]:
        s = session_factory("stop.py", api, 8, 4, TASK_KIND="coop")
        # From the exec on: a press before it finds no foreground group to signal.
        end = time.monotonic() + 10
        while b"stop.py" not in _cmdline(s.pid) and time.monotonic() < end:
            time.sleep(0.001)
        time.sleep(delay)
        s.press()
        if not s.wait_exit(10):
            pytest.fail(f"still running 10 s after one press {delay:.2f} s in:\n{s.output()}")
        out = s.output()
        by_sigint = os.WIFSIGNALED(s.status) and os.WTERMSIG(s.status) == signal.SIGINT
        by_brake = os.WIFEXITED(s.status) and os.WEXITSTATUS(s.status) == 130
        # Python's own start-up (its `site` import) reports an early KeyboardInterrupt so.
        in_site = os.WIFEXITED(s.status) and "KeyboardInterrupt" in out
        assert by_sigint or by_brake or in_site, (delay, s.status, out)
        if by_brake:
            assert out.rstrip().endswith("[-] main exit"), (delay, out)
        time.sleep(0.1)
        assert marked(s.token) == [], (delay, out)
