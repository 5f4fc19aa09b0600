"""The seed's defective multiprocessing scheme (0x00), in Python 3.

Pool(3), six tasks that are busy loops catching KeyboardInterrupt, and the parent blocked in
p.join(). Run directly, a Ctrl-C reaches the workers of the current batch; run under
`brake exec`, one Ctrl-C ends the whole process tree.
"""

import multiprocessing as mp


def handler():
    print("worker started", flush=True)
    try:
        while True:
            pass
    except KeyboardInterrupt:
        print("handler exit", flush=True)


def main():
    p = mp.get_context("fork").Pool(3)
    for _ in range(6):
        p.apply_async(handler)
    p.close()
    try:
        p.join()
    except KeyboardInterrupt:
        p.terminate()
        p.join()
        print("main exit", flush=True)


if __name__ == "__main__":
    main()
