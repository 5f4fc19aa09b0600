//! The cost of the stop check in a rayon parallel iterator.
//!
//! Sums 10,000,000 `u64`s with rayon, bare and through `brake::rayon::StopExt` (one atomic load
//! per item), in the same run. Goal: ≤ 1.05× the bare sum.
//!
//! Measured (2 threads), two quiet runs: bare 1.37 / 1.46 ms, `until_stopped` 1.47 / 1.47 ms
//! (1.07× / 1.01×), `run_until_stopped` 1.46 / 1.49 ms. Under load from other processes one run
//! gave 1.43×: the per-item check costs about a cycle, and can keep the compiler from
//! vectorizing a trivial sum.
//!
//! `rayon_hash_10M` does the same with a few nanoseconds of work per item (four rounds of a
//! 64-bit mix), the least a real job does per item, to show what the check costs there.
//!
//! Run: `cargo bench -p brake --features rayon --bench rayon`
#![allow(missing_docs)]

use brake::rayon::prelude::*;
use brake::{Notice, Stop};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

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

/// A few nanoseconds of work per item (a small hash), the smallest a real parallel job does:
/// where the per-item check stops mattering.
fn mix(x: u64) -> u64 {
    let mut h = x ^ 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4 {
        h = (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
    h
}

fn rayon_hash(c: &mut Criterion) {
    let data: Vec<u64> = (0..N).collect();
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    let mut group = c.benchmark_group("rayon_hash_10M");
    group.bench_function("bare", |b| {
        b.iter(|| {
            black_box(&data)
                .par_iter()
                .map(|&x| mix(x))
                .reduce(|| 0, u64::wrapping_add)
        })
    });
    group.bench_function("until_stopped", |b| {
        b.iter(|| {
            black_box(&data)
                .par_iter()
                .until_stopped(&stop)
                .map(|&x| mix(x))
                .reduce(|| 0, u64::wrapping_add)
        })
    });
    group.finish();
}

criterion_group!(benches, rayon_sum, rayon_hash);
criterion_main!(benches);
