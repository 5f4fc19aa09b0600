//! The threading model, done right: a pool of worker threads, more tasks than workers,
//! and one Ctrl-C that ends it all.
//!
//! ```text
//! cargo run --release --example threads -- --workers 3 --tasks 6 --task cooperative
//! ```
//!
//! Prints `worker started` as each task begins, `handler exit` when a task notices the stop, the
//! report, and last `main exit`. Exits 0 when every task finished, 130 after Ctrl-C.
//!
//! Task kinds:
//! * `cooperative` (default): a CPU loop that checks the stop between small steps.
//! * `busy`: a tight loop that never checks (Python's `while 1: pass`). One Ctrl-C ends the run
//!   after the grace period, a second at once; the thread is abandoned, as daemon threads are.
//! * `sleep`: an interruptible sleep.
//!
//! With `--seconds S` each task ends by itself after S seconds; without it, tasks run until
//! stopped.

#[macro_use]
#[path = "support/say.rs"]
mod say;

#[path = "support/seed_task.rs"]
mod seed_task;

use std::process::ExitCode;
use std::time::Duration;

use brake::{Stop, ThreadPool};
use clap::Parser;
use seed_task::Kind;

#[derive(Parser)]
#[command(about = "The threading model: one Ctrl-C stops every worker thread")]
struct Args {
    /// Worker threads.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Tasks to submit.
    #[arg(long, default_value_t = 6)]
    tasks: usize,
    /// What each task does.
    #[arg(long, value_enum, default_value_t = Kind::Cooperative)]
    task: Kind,
    /// How long each task works before it ends by itself (default: until stopped).
    #[arg(long)]
    seconds: Option<f64>,
    /// Seconds between the first Ctrl-C and forcing the stop (default: the library's, 2 s).
    #[arg(long)]
    grace: Option<f64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            warn!("threads: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let stop = Stop::new();
    if let Some(grace) = args.grace {
        stop.set_grace(Duration::try_from_secs_f64(grace)?);
    }
    stop.install_signals()?;
    let pool = ThreadPool::new(&stop, args.workers)?;
    let length = args.seconds.map(Duration::try_from_secs_f64).transpose()?;
    let kind = args.task;
    for _ in 0..args.tasks {
        // No handles: the report counts every task, and nothing here needs a task's value.
        pool.spawn(move |stop| seed_task::run(kind, length, stop));
    }
    let report = pool.join();
    say!("{report}");
    say!("main exit");
    Ok(report.to_exit_code())
}
