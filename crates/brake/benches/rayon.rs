//! The cost of the stop check in a rayon parallel iterator.
//!
//! Sums 10,000,000 `u64`s with rayon, bare and through `brake::rayon::StopExt` (one atomic load
//! per item), in the same run. Goal: ≤ 1.05× the bare sum.
//!
//! Measured (2 threads): bare 1.23 ms, `until_stopped` 1.76 ms, `run_until_stopped` 1.76 ms, i.e.
//! 1.43×: the goal is not met for a trivial, vectorizable sum, because the per-item check
//! prevents SIMD; the check itself costs about one cycle per item.
//!
//! Run: `cargo bench -p brake --features rayon --bench rayon`
#![allow(missing_docs)]

use brake::rayon::StopExt;
use brake::{Notice, Stop};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rayon::prelude::*;

const N: u64 = 10_000_000;

fn rayon_sum(c: &mut Criterion) {
    let data: Vec<u64> = (0..N).collect();
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    let expected = N * (N - 1) / 2;
    let mut group = c.benchmark_group("rayon_sum_10M");
    group.bench_function("bare", |b| {
        b.iter(|| {
            let sum: u64 = black_box(&data).par_iter().sum();
            assert_eq!(sum, expected);
        })
    });
    group.bench_function("until_stopped", |b| {
        b.iter(|| {
            let sum: u64 = black_box(&data).par_iter().until_stopped(&stop).sum();
            assert_eq!(sum, expected);
        })
    });
    group.bench_function("run_until_stopped", |b| {
        b.iter(|| {
            let partial = black_box(&data)
                .par_iter()
                .run_until_stopped(&stop, |items| items.sum::<u64>());
            assert_eq!(partial.value, expected);
        })
    });
    group.finish();
}

criterion_group!(benches, rayon_sum);
criterion_main!(benches);
