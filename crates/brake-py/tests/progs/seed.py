# The source text's defective multiprocessing scheme (0x00), in Python 3, with brake's Pool as
# its only change. The marker file each handler writes lets the test press Ctrl-C once every
# worker is busy and count the tasks that started.
import os
import time

from brake import Pool


def main():
    p = Pool(int(os.environ.get("SEED_WORKERS", "3")))
    for _ in range(int(os.environ.get("SEED_TASKS", "6"))):
        p.apply_async(handler)
    p.close()
    try:
        p.join()
    except KeyboardInterrupt:
        p.terminate()
        p.join()
        print('[-] main exit')


def handler():
    mark()
    try:
        while 1:
            pass
    except KeyboardInterrupt:
        print('[-] handler exit')


def mark():
    path = os.path.join(os.environ["MARK_DIR"], f"started-{os.getpid()}-{time.time_ns()}")
    with open(path, "w") as f:
        f.write(str(time.time()))


if __name__ == '__main__':
    main()
