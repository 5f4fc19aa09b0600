# A pool of never-ending tasks for the Ctrl-C tests: API, task kind, task and worker counts
# from the command line. Each task writes a marker file as it starts. The main thread waits in
# the API's blocking call; on KeyboardInterrupt it prints when it got it, the pool's report,
# and "[-] main exit", and exits 130.
import os
import sys
import time
from concurrent.futures import as_completed

import brake


def task(i):
    path = os.path.join(os.environ["MARK_DIR"], f"started-{i}")
    with open(path, "w") as f:
        f.write(str(time.time()))
    kind = os.environ["TASK_KIND"]
    if kind == "busy":
        while True:
            pass
    elif kind == "stubborn":
        while True:
            try:
                while True:
                    pass
            except KeyboardInterrupt:
                pass
    else:
        while True:
            time.sleep(0.05)


def main():
    api, tasks, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    grace = float(os.environ.get("GRACE", "2.0"))
    if api == "executor":
        with brake.ProcessPoolExecutor(workers, grace=grace) as ex:
            futures = [ex.submit(task, i) for i in range(tasks)]
            try:
                for f in as_completed(futures):
                    f.result()
            except KeyboardInterrupt:
                print(f"ki_at={time.time()}", flush=True)
                ex.shutdown(wait=True)
                print(f"report={ex.report()}", flush=True)
                print("[-] main exit", flush=True)
                sys.exit(130)
    else:
        p = brake.Pool(workers, grace=grace)
        for i in range(tasks):
            p.apply_async(task, (i,))
        p.close()
        try:
            p.join()
        except KeyboardInterrupt:
            print(f"ki_at={time.time()}", flush=True)
            p.terminate()
            print(f"report={p.report()}", flush=True)
            print("[-] main exit", flush=True)
            sys.exit(130)


if __name__ == "__main__":
    main()
