#!/usr/bin/env python3
"""brake's Python pools against the standard library's, side by side in one run.

    python3 bench/python_pool.py [--tasks 100000] [--workers 3] [--repeat 5] [--presses 10]

Needs the brake package installed (crates/brake-py; `python3 -m pip install ./crates/brake-py`).

* map: 100,000 tiny tasks through `Pool.map` (brake.Pool vs multiprocessing.Pool, default
  chunksize), on pools started and warmed beforehand, the two taking turns, five times
  `--repeat` each; the pools' start is timed apart.
* submit: 100,000 tiny tasks through `submit` and `result()` (brake.ProcessPoolExecutor vs
  concurrent.futures.ProcessPoolExecutor).
* Ctrl-C: a program whose pool runs never-ending busy tasks, in a real pseudo-terminal; the
  time from writing ^C to the terminal to the KeyboardInterrupt in the program's main thread
  (the program prints when it caught it), and to the program's exit, and the presses it took.
  The floor: the same program with brake imported and no pool, its main thread asleep, its
  trials taking turns with brake's: its exit is the interpreter's own, which no pool can go
  below.
* peak memory: the largest resident set of the parent plus its workers during the submit run.

Prints medians and ratios (stdlib time / brake time), and the load average before and after
(the figures are only comparable within one run on a machine others share).
"""

import argparse
import os
import pty
import re
import select
import statistics
import sys
import tempfile
import textwrap
import time


def tiny(x):
    return x + 1


def rss_tree_kb(pid):
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class PeakSampler:
    def __init__(self):
        import threading

        self.peak = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_tree_kb(os.getpid()))
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def bench_map(makers, tasks, repeat):
    """Starts each pool (timed), then maps on them in turn, `repeat` times each, so that a
    change in the machine's load falls on both alike; returns (median, start) per pool."""
    pools, started = [], []
    for make in makers:
        start = time.perf_counter()
        pool = make()
        pool.map(tiny, range(100))
        started.append(time.perf_counter() - start)
        pools.append(pool)
    times = [[] for _ in pools]
    for _ in range(repeat):
        for pool, own in zip(pools, times):
            t = time.perf_counter()
            out = pool.map(tiny, range(tasks))
            own.append(time.perf_counter() - t)
            assert out[-1] == tasks
    for pool in pools:
        pool.terminate()
        pool.join()
    return [(statistics.median(own), start) for own, start in zip(times, started)]


def bench_submit(make, tasks, repeat):
    times, peak = [], 0
    ex = make()
    ex.submit(tiny, 1).result()
    for _ in range(repeat):
        with PeakSampler() as sampler:
            t = time.perf_counter()
            futures = [ex.submit(tiny, i) for i in range(tasks)]
            total = sum(f.result() for f in futures)
            times.append(time.perf_counter() - t)
        peak = max(peak, sampler.peak)
        assert total == tasks * (tasks + 1) // 2
    ex.shutdown()
    return statistics.median(times), peak


STOP_PROGRAM = textwrap.dedent(
    """
    import os, sys, time
    USE, API = sys.argv[1], sys.argv[2]
    # Each run imports what it uses and no more: the interpreter's exit takes longer the more
    # modules it has loaded.
    if USE == "brake":
        import brake
        from brake import Pool, ProcessPoolExecutor as Executor
    elif API == "pool":
        from multiprocessing import Pool
    else:
        from concurrent.futures import ProcessPoolExecutor as Executor

    def busy(_):
        open(os.path.join(os.environ["MARKS"], f"m{os.getpid()}"), "w").close()
        while True:
            pass

    if __name__ == "__main__":
        api = API
        if api == "none":
            # The floor: the same program and imports, no pool; the main thread sleeps.
            for i in range(3):
                open(os.path.join(os.environ["MARKS"], f"m{i}"), "w").close()
            try:
                time.sleep(3600)
            except KeyboardInterrupt:
                print(f"ki_at={time.time()}", flush=True)
                sys.exit(130)
        elif api == "pool":
            p = Pool(3)
            results = [p.apply_async(busy, (i,)) for i in range(100)]
            p.close()
            try:
                for r in results:
                    r.get()
            except KeyboardInterrupt:
                print(f"ki_at={time.time()}", flush=True)
                p.terminate()
                p.join()
                sys.exit(130)
        else:
            with Executor(3) as ex:
                futures = [ex.submit(busy, i) for i in range(100)]
                try:
                    for f in futures:
                        f.result()
                except KeyboardInterrupt:
                    print(f"ki_at={time.time()}", flush=True)
                    raise
    """
)


def press_to_exit(program, use, api, timeout=10.0):
    with tempfile.TemporaryDirectory() as marks:
        token = f"{os.getpid()}-{time.monotonic_ns()}"
        env = dict(os.environ, MARKS=marks, BENCH_MARK=token)
        pid, master = pty.fork()
        if pid == 0:
            os.execve(sys.executable, [sys.executable, program, use, api], env)
        end = time.monotonic() + 60
        while len(os.listdir(marks)) < 3 and time.monotonic() < end:
            time.sleep(0.01)
        if len(os.listdir(marks)) < 3 or os.waitpid(pid, os.WNOHANG)[0]:
            raise SystemExit(f"{use} {api}: the program did not start its tasks")
        time.sleep(0.3)
        presses = 0
        out = b""
        pidfd = os.pidfd_open(pid)
        t0 = time.time()
        while True:
            os.write(master, b"\x03")
            presses += 1
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready = select.select([pidfd, master], [], [], 0.05)[0]
                if master in ready:
                    try:
                        out += os.read(master, 65536)
                    except OSError:
                        pass
                if pidfd in ready:
                    elapsed = time.time() - t0
                    os.waitpid(pid, 0)
                    out += _drain(master)
                    os.close(master)
                    os.close(pidfd)
                    found = re.search(rb"ki_at=([0-9.]+)", out)
                    ki = float(found.group(1)) - t0 if found else float("nan")
                    left = kill_marked(token)
                    return ki, elapsed, presses, left
            if presses >= 5:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                os.close(master)
                os.close(pidfd)
                return float("nan"), float("nan"), presses, kill_marked(token)


def kill_marked(token):
    """SIGKILLs (by pid) the processes a trial left behind; returns how many there were."""
    time.sleep(0.2)
    needle = f"BENCH_MARK={token}".encode()
    left = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
            os.kill(int(entry), 9)
            left += 1
        except OSError:
            pass
    return left


def _drain(fd):
    out = b""
    while select.select([fd], [], [], 0.05)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--presses", type=int, default=10, help="Ctrl-C trials per contender")
    args = parser.parse_args()

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor as StdExecutor

    import brake

    w = args.workers
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {w} workers, {args.tasks} tasks")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # A map takes tens of milliseconds: five times the repeats, taken in turns.
    (std_map, std_start), (brk_map, brk_start) = bench_map(
        [lambda: mp.Pool(w), lambda: brake.Pool(w)], args.tasks, 5 * args.repeat
    )
    print(f"map     multiprocessing.Pool {std_map*1e3:8.1f} ms   brake.Pool {brk_map*1e3:8.1f} ms   ratio {std_map/brk_map:5.2f}x")
    print(f"start   multiprocessing.Pool {std_start*1e3:8.1f} ms   brake.Pool {brk_start*1e3:8.1f} ms   (fork vs fresh interpreters)")
    std_sub, std_peak = bench_submit(lambda: StdExecutor(w), args.tasks, max(1, args.repeat // 2))
    brk_sub, brk_peak = bench_submit(lambda: brake.ProcessPoolExecutor(w), args.tasks, max(1, args.repeat // 2))
    print(f"submit  ProcessPoolExecutor  {std_sub*1e3:8.1f} ms   brake        {brk_sub*1e3:8.1f} ms   ratio {std_sub/brk_sub:5.2f}x")
    print(f"peak    ProcessPoolExecutor  {std_peak/1024:8.1f} MB   brake        {brk_peak/1024:8.1f} MB   (parent + workers, RSS)")

    with tempfile.TemporaryDirectory() as d:
        program = os.path.join(d, "stop_prog.py")
        with open(program, "w") as f:
            f.write(STOP_PROGRAM)
        for api, std_name in (("pool", "multiprocessing.Pool"), ("executor", "ProcessPoolExecutor")):
            rows = {"stdlib": [press_to_exit(program, "stdlib", api) for _ in range(args.presses)]}
            # brake's trials and the floor's take turns, so that a change of load falls on both.
            rows["brake"], rows["floor"] = [], []
            for _ in range(args.presses):
                rows["brake"].append(press_to_exit(program, "brake", api))
                rows["floor"].append(press_to_exit(program, "brake", "none"))
            (sk, st, sp, sl), (bk, bt, bp, bl), (_, ft, _, _) = (
                (
                    _median([ki for ki, _, _, _ in trials]),
                    _median([t for _, t, _, _ in trials]),
                    max(p for _, _, p, _ in trials),
                    max(n for _, _, _, n in trials),
                )
                for trials in (rows["stdlib"], rows["brake"], rows["floor"])
            )
            print(
                f"Ctrl-C  {std_name:<20} KeyboardInterrupt {sk*1e3:7.1f} ms, exit {st*1e3:8.1f} ms, "
                f"{sp} presses, {sl} left   brake KeyboardInterrupt {bk*1e3:5.1f} ms, "
                f"exit {bt*1e3:6.1f} ms, {bp} press(es), {bl} left, floor {ft*1e3:5.1f} ms   "
                f"(medians from the press)"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    main()
