//! Process-pool throughput against Python's `multiprocessing.Pool`, in one run, as ratios.
//!
//! 100,000 tiny tasks (`u64 -> u64`) on 2 worker processes:
//! * one task per submission: brake `submit` vs Python `Pool.apply_async` (goal ≥ 10×);
//! * a whole input sequence: brake `map_chunked` vs Python `Pool.map`, both with Python's
//!   default chunk size (goal ≥ 2×).
//!
//! Each round runs every contender in turn; medians over the rounds are printed with ratios.
//!
//! Run: `cargo bench -p brake --bench process_ratio [-- ROUNDS]` (default 5), or `bench/process_pool.sh`.
#![allow(missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use brake::process::{init, ProcessPool, Registry, Task};
use brake::{Notice, Stop};

const TASKS: u64 = 100_000;
const WORKERS: usize = 2;

static SQUARE: Task<u64, u64> = Task::new("square", |_, n| Ok(n.wrapping_mul(n)));

const PYTHON: &str = r#"
import multiprocessing as mp, sys, time

def square(n):
    return n * n

if __name__ == "__main__":
    tasks, workers = int(sys.argv[1]), int(sys.argv[2])
    with mp.Pool(workers) as pool:
        pool.map(square, range(workers * 4))  # workers up and warm, as brake's are
        start = time.perf_counter()
        results = [pool.apply_async(square, (n,)) for n in range(tasks)]
        total = sum(r.get() for r in results)
        apply_async = time.perf_counter() - start
        start = time.perf_counter()
        total2 = sum(pool.map(square, range(tasks)))
        mapped = time.perf_counter() - start
    assert total == total2
    print(apply_async, mapped)
"#;

fn main() {
    let mut registry = Registry::new();
    registry.register(&SQUARE).expect("one task");
    init(&registry);

    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(5);
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    let pool = ProcessPool::new(&stop, &registry, WORKERS).expect("pool");
    // Workers up and warm before timing, as for Python.
    assert_eq!(pool.submit(&SQUARE, &3).wait().done(), Some(9));

    let (mut submit, mut map, mut py_apply, mut py_map) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let start = Instant::now();
        let handles: Vec<_> = (0..TASKS).map(|n| pool.submit(&SQUARE, &n)).collect();
        let total: u64 = handles.into_iter().filter_map(|h| h.wait().done()).sum();
        submit.push(start.elapsed());

        let start = Instant::now();
        // Python's default chunk size for Pool.map: len / (4 × workers), rounded up.
        let chunk = TASKS.div_ceil(4 * WORKERS as u64) as usize;
        let total2: u64 = pool
            .map_chunked(0..TASKS, chunk, 2 * WORKERS, &SQUARE)
            .filter_map(|o| o.done())
            .sum();
        map.push(start.elapsed());
        assert_eq!(total, total2);

        let out = Command::new("python3")
            .args(["-c", PYTHON, &TASKS.to_string(), &WORKERS.to_string()])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|t| t.parse().expect("seconds"))
            .collect();
        py_apply.push(Duration::from_secs_f64(times[0]));
        py_map.push(Duration::from_secs_f64(times[1]));
    }

    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (submit, map, py_apply, py_map) = (
        median(&mut submit),
        median(&mut map),
        median(&mut py_apply),
        median(&mut py_map),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{TASKS} tasks u64 -> u64 on {WORKERS} worker processes, median of {rounds} rounds:");
    println!(
        "  per task: brake submit      {:>8.1} ms   python apply_async {:>8.1} ms   brake is {:.1}× faster (goal ≥ 10×)",
        ms(submit),
        ms(py_apply),
        py_apply.as_secs_f64() / submit.as_secs_f64()
    );
    println!(
        "  mapped:   brake map_chunked {:>8.1} ms   python Pool.map    {:>8.1} ms   brake is {:.1}× faster (goal ≥ 2×)",
        ms(map),
        ms(py_map),
        py_map.as_secs_f64() / map.as_secs_f64()
    );
}
