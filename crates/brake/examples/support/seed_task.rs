//! The task the examples run, whatever runs it (a thread, a worker process, an async
//! task): `worker started` when it begins, `handler exit` when it notices the stop.

use std::time::{Duration, Instant};

use brake::{Stop, Stopped, TaskResult};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// What a task does.
#[derive(Clone, Copy, ValueEnum, Serialize, Deserialize)]
pub enum Kind {
    /// A CPU loop that checks the stop between small steps.
    Cooperative,
    /// A tight loop that never checks (Python's `while 1: pass`).
    Busy,
    /// An interruptible sleep.
    Sleep,
}

/// Runs one task of `kind` for `length` (until stopped when `None`).
pub fn run(kind: Kind, length: Option<Duration>, stop: &Stop) -> TaskResult<()> {
    say!("worker started");
    let deadline = length.map(|length| Instant::now() + length);
    let over = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
    match kind {
        Kind::Cooperative => {
            let mut x = 0u64;
            while !over() {
                if stop.is_stopping() {
                    say!("handler exit");
                    return Err(Stopped.into());
                }
                for i in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
        }
        Kind::Busy => {
            let mut x = 0u64;
            while !over() {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Kind::Sleep => {
            let length = length.unwrap_or(Duration::from_secs(24 * 3600));
            if stop.sleep(length).is_interrupted() {
                say!("handler exit");
                return Err(Stopped.into());
            }
        }
    }
    Ok(())
}
