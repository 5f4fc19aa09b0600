//! [`TaskGroup`] throughput and stop latency, on a multi-thread tokio runtime with [`THREADS`]
//! workers.
//!
//! * `spawn_100k`: spawn 100,000 trivial tasks and wait for all of them; brake's group (with
//!   and without handles kept, and with a concurrency limit) side by side with a bare tokio
//!   `JoinSet`. Goal: brake within 1.1× of `JoinSet`.
//! * `cancel_100k`: 100,000 tasks in a group limited to [`THREADS`] running at once, the running
//!   ones waiting for the stop, the rest queued; timed from `stop.request(..)` to `join()`
//!   returning. Goal: ≤ 20 ms.
//!
//! Run: `cargo bench -p brake --features tokio --bench tasks`
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use brake::{Reason, Stopped, TaskGroup};
use common::{quiet_stop, THREADS};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const TASKS: usize = 100_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_time()
        .build()
        .unwrap()
}

fn spawn_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_100k");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(TASKS as u64));
    let rt = runtime();

    group.bench_function("joinset", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = JoinSet::new();
                for _ in 0..TASKS {
                    set.spawn(async { Ok::<(), Stopped>(()) });
                }
                let mut done = 0usize;
                while let Some(result) = set.join_next().await {
                    done += usize::from(result.is_ok());
                }
                done
            })
        });
    });

    group.bench_function("brake", |b| {
        let stop = quiet_stop();
        b.iter(|| {
            rt.block_on(async {
                let tasks = TaskGroup::new(&stop);
                for _ in 0..TASKS {
                    tasks.spawn(async { Ok(()) });
                }
                tasks.join().await
            })
        });
    });

    group.bench_function("brake_handles", |b| {
        let stop = quiet_stop();
        b.iter(|| {
            rt.block_on(async {
                let tasks = TaskGroup::new(&stop);
                let handles: Vec<_> = (0..TASKS).map(|_| tasks.spawn(async { Ok(()) })).collect();
                let mut done = 0usize;
                for handle in handles {
                    done += usize::from(handle.await.is_done());
                }
                done
            })
        });
    });

    group.bench_function("brake_limit_64", |b| {
        let stop = quiet_stop();
        b.iter(|| {
            rt.block_on(async {
                let tasks = TaskGroup::with_limit(&stop, 64);
                for _ in 0..TASKS {
                    tasks.spawn(async { Ok(()) });
                }
                tasks.join().await
            })
        });
    });
    group.finish();
}

fn cancel_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("cancel_100k");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let rt = runtime();
    group.bench_function("request_to_join", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let stop = quiet_stop();
                total += rt.block_on(async {
                    let tasks = TaskGroup::with_limit(&stop, THREADS);
                    for _ in 0..TASKS {
                        let stop = stop.clone();
                        tasks.spawn(async move {
                            stop.stopped().await;
                            Err::<(), _>(Stopped.into())
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let start = Instant::now();
                    stop.request(Reason::Requested);
                    let report = tasks.join().await;
                    let took = start.elapsed();
                    assert_eq!(report.cancelled + report.interrupted, TASKS);
                    took
                });
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, spawn_100k, cancel_100k);
criterion_main!(benches);
