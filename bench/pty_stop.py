#!/usr/bin/env python3
"""Ctrl-C -> exit latency of a parallel runner, pressed in a real pseudo-terminal.

Usage: pty_stop.py TRIALS RUNNING -- COMMAND...

Starts COMMAND as the foreground process of a new terminal, waits until RUNNING `sleep`
processes are alive in its session, writes one Ctrl-C (0x03) to the terminal, and times the
moment the command exits. Prints one JSON line: the median and every trial in milliseconds,
the exit statuses, and how many processes of the session were still alive 200 ms after the
exit (processes left behind). A runner that needs more than one press gets another each second.
"""

import json
import os
import pty
import select
import signal
import statistics
import sys
import time


def session_pids(sid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # state, ppid, pgrp, session
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def drain(fd, seconds):
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return True
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                if not os.read(fd, 65536):
                    return False
            except OSError:
                return False


def trial(command, running):
    pid, fd = pty.fork()
    if pid == 0:
        # A script started in the background inherits SIGINT and SIGQUIT ignored, and a runner
        # rightly keeps an ignored SIGINT ignored: give the command a terminal's defaults.
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        os.execvp(command[0], command)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sleeps = [p for p in session_pids(pid) if comm(p) == "sleep"]
        if len(sleeps) >= running:
            break
        drain(fd, 0.01)
    else:
        raise SystemExit(f"never saw {running} sleep processes running")
    drain(fd, 0.05)
    os.write(fd, b"\x03")
    pressed = time.monotonic()
    presses = 1
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        drain(fd, 0.0005)
        if time.monotonic() - pressed > presses:
            os.write(fd, b"\x03")
            presses += 1
    elapsed = (time.monotonic() - pressed) * 1000
    time.sleep(0.2)
    left = session_pids(pid)
    for p in left:
        try:
            os.kill(p, 9)
        except OSError:
            pass
    os.close(fd)
    return elapsed, os.waitstatus_to_exitcode(status), presses, len(left)


def main():
    trials, running = int(sys.argv[1]), int(sys.argv[2])
    command = sys.argv[sys.argv.index("--") + 1 :]
    results = [trial(command, running) for _ in range(trials)]
    times = [r[0] for r in results]
    print(
        json.dumps(
            {
                "median_ms": statistics.median(times),
                "ms": [round(t, 2) for t in times],
                "status": sorted({r[1] for r in results}),
                "max_presses": max(r[2] for r in results),
                "left_behind": sum(r[3] for r in results),
            }
        )
    )


if __name__ == "__main__":
    main()
