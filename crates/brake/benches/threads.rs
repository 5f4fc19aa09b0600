//! [`ThreadPool`] throughput and stop latency.
//!
//! * `spawn_1m`: submit and run 1,000,000 empty tasks on [`THREADS`] workers, then wait for all
//!   of them; brake's pool side by side with a rayon pool (`scope` + `spawn`) and a plain pool
//!   of std threads pulling boxed closures from a crossbeam channel. Pools are built outside the
//!   timed part. Goal: brake within 1.2× of rayon.
//! * `stop_latency`: N workers each run a cooperative task spinning on `is_stopping()`, with the
//!   rest of 1,000,000 tasks still queued; timed from `stop.request(..)` to `pool.join()`
//!   returning. Goal: ≤ 5 ms for N = 2 and N = 8.
//!
//! Run: `cargo bench -p brake --bench threads`
#![allow(missing_docs)]

mod common;

use std::hint;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use brake::{Reason, Stopped, ThreadPool};
use common::{quiet_stop, PlainPool, TASKS, THREADS};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

fn spawn_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_1m");
    // One iteration takes a large fraction of a second: flat sampling needs 10 of them, not the
    // 55 of linear sampling, which keeps the group near a minute.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(TASKS as u64));

    group.bench_function("brake", |b| {
        let stop = quiet_stop();
        let pool = ThreadPool::new(&stop, THREADS).unwrap();
        b.iter(|| {
            for _ in 0..TASKS {
                pool.submit(|_stop| Ok(()));
            }
            pool.join()
        });
    });

    group.bench_function("brake_spawn", |b| {
        let stop = quiet_stop();
        let pool = ThreadPool::new(&stop, THREADS).unwrap();
        b.iter(|| {
            for _ in 0..TASKS {
                pool.spawn(|_stop| Ok(()));
            }
            pool.join()
        });
    });

    group.bench_function("rayon", |b| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(THREADS)
            .build()
            .unwrap();
        b.iter(|| {
            pool.scope(|s| {
                for _ in 0..TASKS {
                    s.spawn(|_| {});
                }
            })
        });
    });

    group.bench_function("crossbeam", |b| {
        let pool = PlainPool::new(THREADS);
        b.iter(|| {
            for _ in 0..TASKS {
                pool.execute(|| {});
            }
            pool.wait();
        });
    });

    group.finish();
}

/// One stop of a fresh pool whose `workers` are all busy in cooperative tasks; returns the time
/// from the request to `join` returning.
fn time_one_stop(workers: usize) -> Duration {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, workers).unwrap();
    // One Arc serves twice: its count of running tasks tells when every worker is busy, and its
    // reference count tells when the queue of the cancelled tasks has drained.
    let running = Arc::new(AtomicUsize::new(0));
    for _ in 0..TASKS {
        let running = running.clone();
        pool.submit(move |stop| {
            running.fetch_add(1, Ordering::Relaxed);
            while !stop.is_stopping() {
                hint::spin_loop();
            }
            Err::<(), _>(Stopped.into())
        });
    }
    while running.load(Ordering::Relaxed) < workers {
        thread::yield_now();
    }

    let start = Instant::now();
    stop.request(Reason::Requested);
    let report = pool.join();
    let elapsed = start.elapsed();

    assert_eq!(report.interrupted, workers);
    assert_eq!(report.cancelled, TASKS - workers);
    // Dropping the pool frees the queued closures; wait until every one is gone (each holds a
    // clone of `running`), so that no work from this stop overlaps the next.
    drop(pool);
    while Arc::strong_count(&running) > 1 {
        thread::sleep(Duration::from_millis(1));
    }
    elapsed
}

fn stop_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("stop_latency");
    // Criterion plans `iter_custom` runs by wall time, untimed setup included, and queueing
    // 1,000,000 tasks takes about half a second: one warm-up stop, then one or two per sample.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(Duration::from_secs(10));
    for workers in [2, 8] {
        group.bench_with_input(
            BenchmarkId::from_parameter(workers),
            &workers,
            |b, &workers| b.iter_custom(|iters| (0..iters).map(|_| time_one_stop(workers)).sum()),
        );
    }
    group.finish();
}

criterion_group!(benches, spawn_1m, stop_latency);
criterion_main!(benches);
