//! The cost of asking "should I stop?" from a hot loop.
//!
//! Measures one call of [`Stop::is_stopping`] and of [`Stop::check`] on a stop that is still
//! Running, which is the case a busy task pays for on every step of its work.
//!
//! Goal: ≤ 2 ns per call, so that checking on every iteration of a tight loop is affordable.
//!
//! Run: `cargo bench -p brake --bench stop`
#![allow(missing_docs)]

use brake::{Notice, Stop};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn stop_checks(c: &mut Criterion) {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    let mut group = c.benchmark_group("stop");
    // black_box on the handle too, so the compiler cannot prove the phase unchanged and hoist
    // the load out of criterion's loop.
    group.bench_function("is_stopping", |b| b.iter(|| black_box(&stop).is_stopping()));
    group.bench_function("check", |b| b.iter(|| black_box(&stop).check()));
    group.finish();
}

criterion_group!(benches, stop_checks);
criterion_main!(benches);
