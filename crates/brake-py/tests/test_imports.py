"""What importing brake costs: a worker, and a main module that a worker loads, import neither
multiprocessing nor subprocess; the public names are all there."""

import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool

import brake


def test_worker_and_pools_import_light():
    code = (
        "import sys\n"
        "import brake._worker\n"
        "from brake import Pool, ProcessPoolExecutor, Interrupted\n"
        "heavy = sorted(m for m in ('multiprocessing', 'subprocess') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_names():
    for name in brake.__all__:
        assert getattr(brake, name) is not None
    assert issubclass(brake.WorkerDied, BrokenProcessPool)
    assert issubclass(brake.BrokenPool, BrokenProcessPool)
    assert set(brake.__all__) <= set(dir(brake))
