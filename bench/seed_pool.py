#!/usr/bin/env python3
"""The seed's *working* multiprocessing scheme (0x01), in Python 3: the contender that
crates/brake/benches/process_stop.rs times against brake's process pool.

Every task is the seed's handler: a busy loop that catches KeyboardInterrupt and prints
"handler exit". The main process keeps every AsyncResult and waits with r.get() inside try; on
KeyboardInterrupt it terminates the pool, joins it and prints "main exit".

Differences from the seed, all for the benchmark's sake: each task prints "worker started"
(flushed) when it begins, so the bench presses Ctrl-C only once every worker is busy; the
worker count and task count are flags; after Ctrl-C the script exits 130 (128 + SIGINT, as
brake's example does) instead of 0, so both contenders' exit status can be checked alike. The
start method is "fork", the only one the seed's Python 2 had (and the Linux default up to
Python 3.13): workers share the terminal's foreground process group, so the Ctrl-C reaches
them directly, as in the seed.

    python3 bench/seed_pool.py --workers 16 --tasks 1000   # press Ctrl-C once
"""

import argparse
import multiprocessing as mp
import sys


def handler(_n):
    print("worker started", flush=True)
    try:
        while True:
            pass
    except KeyboardInterrupt:
        print("handler exit", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=16, help="worker processes")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks to submit")
    args = parser.parse_args()

    p = mp.get_context("fork").Pool(args.workers)
    results = [p.apply_async(handler, (n,)) for n in range(args.tasks)]
    p.close()
    try:
        for r in results:
            r.get()
    except KeyboardInterrupt:
        p.terminate()
        p.join()
        print("main exit", flush=True)
        sys.exit(130)
    p.join()
    print("main exit", flush=True)


if __name__ == "__main__":
    main()
