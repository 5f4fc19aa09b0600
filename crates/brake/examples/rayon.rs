//! A long rayon computation that one Ctrl-C ends, keeping what was computed.
//!
//! ```text
//! cargo run --release --features rayon --example rayon            # runs until Ctrl-C
//! cargo run --release --features rayon --example rayon -- --items 10000
//! ```
//!
//! Each item is a CPU-heavy step (`--work` rounds of a hash, or with `--seconds S` a loop of S
//! seconds that never looks at the stop). Once stopping, no new item starts; items already
//! running finish (rayon cannot interrupt them), so the run ends within one item's time, and the
//! notice says so rather than offer to force. Prints `computing …` at the start, then how many
//! items were done, the report, and last `main exit`. Exits 0 when every item ran, 130 after
//! Ctrl-C.
//!
//! rayon comes from brake (`brake::rayon::prelude`): the program has no rayon dependency.

#[macro_use]
#[path = "support/say.rs"]
mod say;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use brake::rayon::prelude::*;
use brake::Stop;
use clap::Parser;

#[derive(Parser)]
#[command(about = "A parallel computation on rayon that one Ctrl-C stops")]
struct Args {
    /// Items to compute (default: about a trillion, i.e. until stopped).
    #[arg(long, default_value_t = 1_000_000_000_000)]
    items: usize,
    /// Hash rounds per item (the CPU cost of one item; 10,000 is roughly 10–50 µs).
    #[arg(long, default_value_t = 10_000)]
    work: u32,
    /// Make each item a loop of this many seconds instead, one that never checks the stop.
    #[arg(long)]
    seconds: Option<f64>,
}

/// One item's work: `rounds` rounds of a 64-bit mixing function.
fn heavy(item: usize, rounds: u32) -> u64 {
    let mut x = item as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for _ in 0..rounds {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 29;
    }
    x
}

/// One item that takes `length` and never looks at the stop: only its end ends it.
fn long(item: usize, length: Duration) -> u64 {
    let begun = Instant::now();
    let mut x = item as u64;
    while begun.elapsed() < length {
        x = heavy(x as usize, 1_000);
    }
    x
}

fn main() -> ExitCode {
    let args = Args::parse();
    let length = match args.seconds.map(Duration::try_from_secs_f64).transpose() {
        Ok(length) => length,
        Err(err) => {
            warn!("rayon: --seconds: {err}");
            return ExitCode::from(2);
        }
    };
    let stop = Stop::new();
    if let Err(err) = stop.install_signals() {
        warn!("rayon: {err}");
        return ExitCode::from(2);
    }
    say!(
        "computing {} items on {} threads",
        args.items,
        brake::rayon::current_num_threads()
    );
    let rounds = args.work;
    let checksum = (0..args.items)
        .into_par_iter()
        .run_until_stopped(&stop, |items| {
            items
                .map(|item| match length {
                    Some(length) => long(item, length),
                    None => heavy(item, rounds),
                })
                .reduce(|| 0, |a, b| a ^ b)
        });
    say!(
        "items done: {} of {} (checksum {:016x})",
        checksum.report.done,
        args.items,
        checksum.value
    );
    say!("{}", checksum.report);
    say!("main exit");
    checksum.report.to_exit_code()
}
