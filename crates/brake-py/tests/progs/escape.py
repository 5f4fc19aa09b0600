# A pool whose tasks each start a grandchild that leaves the worker's session (setsid), and
# write its pid to MARK_DIR. Mode "end": the pool closes and joins normally (with GO set, the
# tasks first wait until the file GO exists, so that a test can see the grandchildren alive
# before the pool's end ends them). Mode "press": the tasks then spin until Ctrl-C. With
# "scrub" the grandchild runs with an empty environment (no marker to find it by).
import os
import subprocess
import sys
import time

import brake


def task(i, scrub):
    env = {} if scrub else None
    child = subprocess.Popen(["sleep", "600"], start_new_session=True, env=env)
    path = os.path.join(os.environ["MARK_DIR"], f"grandchild-{child.pid}")
    with open(path, "w") as f:
        f.write(str(child.pid))
    if os.environ["MODE"] == "press":
        while True:
            pass
    go = os.environ.get("GO")
    while go and not os.path.exists(go):
        time.sleep(0.01)
    return child.pid


def main():
    scrub = os.environ.get("SCRUB") == "1"
    p = brake.Pool(2)
    results = [p.apply_async(task, (i, scrub)) for i in range(2)]
    p.close()
    try:
        p.join()
    except KeyboardInterrupt:
        p.terminate()
        print(f"report={p.report()}", flush=True)
        sys.exit(130)
    print(f"values={[r.get() for r in results]}", flush=True)
    print(f"report={p.report()}", flush=True)


if __name__ == "__main__":
    main()
