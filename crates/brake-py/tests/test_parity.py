"""brake's pools give what the standard library's give: values, order, exceptions with their
traceback text, chunksize, initializer, and the error for an argument that cannot be pickled."""

import concurrent.futures as cf
import multiprocessing as mp
import pickle
import threading

import pytest

import brake
from helpers import Scaled, add, crash, fail, init, nap, read_init, square


def executors():
    return [cf.ProcessPoolExecutor, brake.ProcessPoolExecutor]


def pools():
    return [mp.get_context("spawn").Pool, brake.Pool]


@pytest.mark.parametrize("make", executors())
def test_executor_results_and_order(make):
    with make(3) as ex:
        assert ex.submit(square, 7).result(30) == 49
        assert list(ex.map(square, range(50))) == [x * x for x in range(50)]
        assert list(ex.map(add, range(20), range(20), chunksize=7)) == [2 * x for x in range(20)]
        futures = [ex.submit(square, i) for i in range(200)]
        done, _ = cf.wait(futures, timeout=60)
        assert len(done) == 200
        assert sorted(f.result() for f in cf.as_completed(futures)) == sorted(x * x for x in range(200))


@pytest.mark.parametrize("make", executors())
def test_executor_exception_and_traceback(make):
    with make(2) as ex:
        future = ex.submit(fail, 5)
        with pytest.raises(ValueError, match="bad value 5") as info:
            future.result(30)
        cause = str(info.value.__cause__)
        assert "Traceback (most recent call last)" in cause
        assert 'in fail\n    raise ValueError(f"bad value {x}")' in cause
        with pytest.raises(ValueError):
            list(ex.map(fail, [1, 2]))


@pytest.mark.parametrize("make", executors())
def test_executor_initializer(make):
    with make(2, initializer=init, initargs=("hello",)) as ex:
        assert set(ex.map(read_init, range(10))) == {"hello"}


@pytest.mark.parametrize("make", executors())
def test_executor_unpicklable_argument(make):
    with make(2) as ex:
        future = ex.submit(square, lambda: 1)
        with pytest.raises(Exception) as info:
            future.result(30)
    assert isinstance(info.value, (pickle.PicklingError, AttributeError))
    # "Can't pickle local object …" until Python 3.12, "Can't get local object …" from 3.13.
    assert "local object" in str(info.value)


@pytest.mark.parametrize("make", executors())
def test_executor_callable_travels_as_it_is(make):
    """A callable object is sent with its state at each submit, and a task's changes to it
    stay in that task; a plain function is sent by name."""
    scaled = Scaled(2)
    with make(1) as ex:
        first = ex.submit(scaled, 5).result(30)
        scaled.k = 3
        again = [ex.submit(scaled, 5).result(30) for _ in range(3)]
        assert [ex.submit(square, i).result(30) for i in range(3)] == [0, 1, 4]
    assert first == (10, 1)
    assert again == [(15, 1)] * 3


@pytest.mark.parametrize("make", executors())
def test_executor_future_protocol(make):
    """Timeouts, cancel of a queued task, callbacks, exception(), wait and as_completed behave
    as the standard library's futures do."""
    with make(1) as ex:
        slow = ex.submit(nap, 0.5)
        # The standard library's executor hands one task more than it has workers over at once.
        queued = [ex.submit(square, 3) for _ in range(3)][-1]
        with pytest.raises(cf.TimeoutError):
            slow.result(timeout=0.01)
        assert queued.cancel() and queued.cancelled()
        called = threading.Event()
        slow.add_done_callback(lambda f: called.set() if f.result() == 0.5 else None)
        # A cancelled future counts as done once its executor has noticed the cancel: brake's
        # at once, the standard library's when its queue reaches the task, after `slow`.
        done, _ = cf.wait([slow, queued], timeout=30)
        assert queued in done and slow in done
        done, _ = cf.wait([slow], timeout=30)
        assert slow in done and called.wait(30)
        failed = ex.submit(fail, 1)
        assert isinstance(failed.exception(30), ValueError)
        late = []
        failed.add_done_callback(late.append)
        assert late == [failed]
        with pytest.raises(cf.CancelledError):
            queued.result()
        with pytest.raises(cf.CancelledError):
            queued.exception()
        many = [ex.submit(square, i) for i in range(50)]
        assert sorted(f.result() for f in cf.as_completed(many, timeout=60)) == sorted(
            i * i for i in range(50)
        )


def test_executor_future_has_the_standard_fields():
    """brake's future sets what Future.__init__ sets (its condition being its pool's)."""
    from brake._executor import _Future

    ours = set(vars(_Future(None, threading.Condition()))) - {"_brake_engine", "_brake_task"}
    assert ours == set(vars(cf.Future()))


def test_executor_crash_fails_its_task_only():
    with brake.ProcessPoolExecutor(2) as ex:
        bad = ex.submit(crash, 0)
        with pytest.raises(brake.WorkerDied):
            bad.result(30)
        assert ex.submit(square, 3).result(30) == 9
        assert ex.report()["died"] == 1


@pytest.mark.parametrize("make", pools())
def test_pool_results_and_order(make):
    with make(3) as p:
        assert p.map(square, range(100)) == [x * x for x in range(100)]
        assert p.map(square, range(100), chunksize=9) == [x * x for x in range(100)]
        assert p.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
        assert p.apply(add, (2, 3)) == 5
        r = p.apply_async(square, (4,))
        assert r.get(30) == 16 and r.ready() and r.successful()
        assert p.map_async(square, range(5)).get(30) == [0, 1, 4, 9, 16]
        assert p.starmap_async(add, [(1, 1)]).get(30) == [2]
        assert list(p.imap(square, range(10), chunksize=3)) == [x * x for x in range(10)]
        assert sorted(p.imap_unordered(square, range(10))) == [x * x for x in range(10)]


@pytest.mark.parametrize("make", pools())
def test_pool_map_inputs(make):
    """Ranges, lists, tuples and iterators map alike, in order."""
    with make(3) as p:
        assert p.map(square, range(5, 1000, 7)) == [x * x for x in range(5, 1000, 7)]
        assert p.map(square, tuple(range(50)), chunksize=4) == [x * x for x in range(50)]
        assert p.map(square, (x for x in range(30))) == [x * x for x in range(30)]
        assert p.starmap(add, zip(range(10), range(10))) == [2 * x for x in range(10)]
        assert p.map_async(square, list(range(100)), chunksize=10).get(30) == [
            x * x for x in range(100)
        ]
        assert p.map(square, []) == []


@pytest.mark.parametrize("make", pools())
def test_pool_exception_and_traceback(make):
    with make(2) as p:
        r = p.apply_async(fail, (9,))
        r.wait(30)
        assert r.ready() and not r.successful()
        with pytest.raises(ValueError, match="bad value 9") as info:
            r.get(30)
        assert 'in fail\n    raise ValueError(f"bad value {x}")' in str(info.value.__cause__)
        with pytest.raises(ValueError):
            p.map(fail, range(3))


@pytest.mark.parametrize("make", pools())
def test_pool_initializer_and_close_join(make):
    p = make(2, init, ("hi",))
    assert set(p.map(read_init, range(8))) == {"hi"}
    p.close()
    p.join()


@pytest.mark.parametrize("make", pools())
def test_pool_unpicklable_argument(make):
    with make(2) as p:
        r = p.apply_async(square, (lambda: 1,))
        with pytest.raises(Exception) as info:
            r.get(30)
    assert isinstance(info.value, (pickle.PicklingError, AttributeError))


def test_pool_max_tasks_per_child():
    import os

    with brake.Pool(1, maxtasksperchild=2) as p:
        pids = {p.apply(os.getpid) for _ in range(6)}
    assert len(pids) == 3
