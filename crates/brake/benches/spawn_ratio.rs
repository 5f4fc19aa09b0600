//! Thread-pool throughput as ratios measured in one run: brake's pool (with handles, detached,
//! and scoped) against rayon's `scope`/`spawn` and a plain crossbeam-channel pool.
//!
//! Each round runs 1,000,000 empty tasks on every pool in turn, so a slow spell of a noisy
//! machine hits all of them alike; the medians over the rounds and their ratios are printed.
//! Goal: brake within 1.2× of rayon.
//!
//! Run: `cargo bench -p brake --bench spawn_ratio [-- ROUNDS]` (default 15 rounds).
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use brake::ThreadPool;
use common::{quiet_stop, PlainPool, TASKS, THREADS};

/// A pool's name, one round of its work, and the time of each round.
type Contender<'a> = (&'static str, Box<dyn FnMut() + 'a>, Vec<Duration>);

fn main() {
    // `cargo bench` passes `--bench`; the only argument of ours is a number of rounds.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(15);

    let stop = quiet_stop();
    let brake = ThreadPool::new(&stop, THREADS).unwrap();
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .unwrap();
    let plain = PlainPool::new(THREADS);

    let mut contenders: Vec<Contender> = vec![
        (
            "brake submit",
            Box::new(|| {
                for _ in 0..TASKS {
                    brake.submit(|_| Ok(()));
                }
                brake.join();
            }),
            Vec::new(),
        ),
        (
            "brake spawn",
            Box::new(|| {
                for _ in 0..TASKS {
                    brake.spawn(|_| Ok(()));
                }
                brake.join();
            }),
            Vec::new(),
        ),
        (
            "brake scope",
            Box::new(|| {
                brake.scope(|s| {
                    for _ in 0..TASKS {
                        s.spawn(|_| Ok(()));
                    }
                })
            }),
            Vec::new(),
        ),
        (
            "rayon scope",
            Box::new(|| {
                rayon.scope(|s| {
                    for _ in 0..TASKS {
                        s.spawn(|_| {});
                    }
                })
            }),
            Vec::new(),
        ),
        (
            "crossbeam",
            Box::new(|| {
                for _ in 0..TASKS {
                    plain.execute(|| {});
                }
                plain.wait();
            }),
            Vec::new(),
        ),
    ];

    for _ in 0..rounds {
        for (_, run, times) in &mut contenders {
            let start = Instant::now();
            run();
            times.push(start.elapsed());
        }
    }

    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let medians: Vec<(&str, Duration)> = contenders
        .iter_mut()
        .map(|(name, _, times)| (*name, median(times)))
        .collect();
    let rayon_median = medians
        .iter()
        .find(|(name, _)| *name == "rayon scope")
        .map_or(f64::NAN, |(_, time)| time.as_secs_f64());
    println!("{TASKS} empty tasks on {THREADS} threads, median of {rounds} interleaved rounds:");
    for (name, time) in &medians {
        println!(
            "  {name:<13} {:>8.1} ms  {:>5.0} ns/task  {:.2}× rayon",
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() * 1e9 / TASKS as f64,
            time.as_secs_f64() / rayon_median
        );
    }
}
