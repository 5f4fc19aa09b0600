"""Processes that a task starts and that leave the worker's session (setsid) are ended with
the pool: after one Ctrl-C, and after the pool's normal end; through the pool's cgroup where
one can be made, and otherwise through the environment marker they inherit."""

import os
import re
import time

import pytest

from conftest import wait_marks


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def grandchildren(mark_dir):
    return [int(name.split("-")[1]) for name in os.listdir(mark_dir)]


def cgroup_possible(session_factory):
    s = session_factory("escape.py", MODE="end")
    assert s.wait_exit(60), s.output()
    report = eval(re.search(r"report=(\{.*\})", s.output()).group(1))
    return report["cgroup"] is not None


@pytest.mark.parametrize("cgroup", ["1", "0"])
@pytest.mark.parametrize("mode", ["end", "press"])
def test_setsid_grandchild_is_ended(session_factory, mode, cgroup, tmp_path):
    go = tmp_path / "go"
    s = session_factory("escape.py", MODE=mode, BRAKE_PY_CGROUP=cgroup, GO=go)
    assert wait_marks(s.mark_dir, 2), s.output()
    pids = grandchildren(s.mark_dir)
    assert all(alive(pid) for pid in pids)
    if mode == "press":
        time.sleep(0.2)
        s.press()
    else:
        go.touch()
    assert s.wait_exit(30), s.output()
    out = s.output()
    report = eval(re.search(r"report=(\{.*\})", out).group(1))
    if cgroup == "0":
        assert report["cgroup"] is None, report
    assert [pid for pid in pids if alive(pid)] == [], out
    assert len(report["swept"]) == 2, report
    if mode == "end":
        assert "values=" in out, out


def test_scrubbed_grandchild_is_ended_through_the_cgroup(session_factory):
    if not cgroup_possible(session_factory):
        pytest.skip("this process cannot create a cgroup")
    s = session_factory("escape.py", MODE="press", SCRUB="1")
    assert wait_marks(s.mark_dir, 2), s.output()
    pids = grandchildren(s.mark_dir)
    time.sleep(0.2)
    s.press()
    assert s.wait_exit(30), s.output()
    assert [pid for pid in pids if alive(pid)] == [], s.output()
