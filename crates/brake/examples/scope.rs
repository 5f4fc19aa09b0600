//! Scoped tasks on a thread pool: tasks that borrow the caller's list of inputs and a counter
//! (no `Arc`), and one Ctrl-C that ends them.
//!
//! ```text
//! cargo run --release --example scope -- --workers 3 --tasks 100 --task cooperative
//! ```
//!
//! Each task reads its input from a `Vec<String>` that `main` owns and counts itself in an
//! `AtomicUsize` on `main`'s stack. Prints `worker started` as each task begins, `handler exit`
//! when a task notices the stop, then `inputs started: N of M` from the borrowed counter, the
//! report, and last `main exit`. Exits 0 when every task finished, 130 after Ctrl-C.
//!
//! Task kinds are those of the `threads` example. With `busy` (a loop that never checks the
//! stop) the scope keeps waiting after the stop is forced, since its tasks borrow from `main`:
//! the process then ends only by a further Ctrl-C a second or more after the forcing one, at
//! once and without a report (exit 130). The stop notice says as much.

#[macro_use]
#[path = "support/say.rs"]
mod say;

#[path = "support/seed_task.rs"]
mod seed_task;

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use brake::{Stop, ThreadPool};
use clap::Parser;
use seed_task::Kind;

#[derive(Parser)]
#[command(about = "Scoped tasks that borrow from main: one Ctrl-C stops them")]
struct Args {
    /// Worker threads.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Tasks to spawn in the scope, one per input.
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
            warn!("scope: {err}");
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

    let inputs: Vec<String> = (0..args.tasks).map(|n| format!("input-{n}")).collect();
    let started = AtomicUsize::new(0);
    pool.scope(|scope| {
        for input in &inputs {
            let started = &started;
            scope.spawn(move |stop| {
                started.fetch_add(1, Ordering::Relaxed);
                std::hint::black_box(input.len());
                seed_task::run(kind, length, stop)
            });
        }
    }); // returns once every task has returned or been cancelled

    say!(
        "inputs started: {} of {}",
        started.load(Ordering::Relaxed),
        inputs.len()
    );
    let report = pool.join();
    say!("{report}");
    say!("main exit");
    Ok(report.to_exit_code())
}
