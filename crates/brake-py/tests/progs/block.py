# A program that makes a pool, then blocks in a plain standard-library call (a lock, a pipe
# read), outside every brake call: Ctrl-C must still raise KeyboardInterrupt there at once.
import os
import sys
import threading
import time

import brake


def main():
    what = sys.argv[1]
    with brake.Pool(2) as p:
        assert p.apply(abs, (-3,)) == 3
        print("ready", flush=True)
        try:
            if what == "lock":
                lock = threading.Lock()
                lock.acquire()
                lock.acquire()
            else:
                read_end, _ = os.pipe()
                os.read(read_end, 1)
        except KeyboardInterrupt:
            print(f"ki_at={time.time()}", flush=True)
            raise
    print("not reached", flush=True)


if __name__ == "__main__":
    main()
