//! The coroutine (gevent) model, done right: many async tasks on one tokio runtime, and one
//! Ctrl-C that ends them all and reaches the main program.
//!
//! ```text
//! cargo run --release --features tokio --example tasks -- --tasks 1000 --task cooperative
//! ```
//!
//! Prints `task started` as each task begins, `handler exit` when a task notices the stop, the
//! report, and last `main exit`. Exits 0 when every task finished, 130 after Ctrl-C.
//!
//! Task kinds:
//! * `cooperative` (default): a CPU loop that checks the stop and awaits (`yield_now`) between
//!   small steps.
//! * `busy`: a tight loop that never awaits (Python's `while 1: pass`). It cannot be aborted:
//!   one Ctrl-C ends the run after the grace period, a second at once; its runtime thread is
//!   left behind (`brake::run_async_on`) and ends with the process.
//! * `sleep`: an interruptible async sleep.
//!
//! With `--seconds S` each task ends by itself after S seconds; without it, tasks run until
//! stopped. `--limit N` runs at most N tasks at once; `--threads N` sets the runtime's worker
//! threads and `--current-thread` uses the current-thread runtime instead.

#[macro_use]
#[path = "support/say.rs"]
mod say;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use brake::{Stop, Stopped, TaskGroup, TaskResult};
use clap::{Parser, ValueEnum};

/// What each task does.
#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// A CPU loop that checks the stop and awaits between small steps.
    Cooperative,
    /// A tight loop that never awaits.
    Busy,
    /// An interruptible async sleep.
    Sleep,
}

#[derive(Parser)]
#[command(about = "The coroutine model: one Ctrl-C stops every async task")]
struct Args {
    /// Tasks to spawn.
    #[arg(long, default_value_t = 5)]
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
    /// At most this many tasks run at once (default: no limit).
    #[arg(long)]
    limit: Option<usize>,
    /// Worker threads of the multi-thread runtime (default: tokio's, one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Use the current-thread runtime.
    #[arg(long)]
    current_thread: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            warn!("tasks: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let stop = Stop::new();
    if let Some(grace) = args.grace {
        stop.set_grace(Duration::try_from_secs_f64(grace)?);
    }
    // Before the runtime starts its threads; the watcher is a plain thread, no tokio::signal.
    stop.install_signals()?;
    let length = args.seconds.map(Duration::try_from_secs_f64).transpose()?;
    let runtime = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(threads) = args.threads {
            builder.worker_threads(threads);
        }
        builder
    }
    .enable_time()
    .build()?;
    // A busy task never reaches an `.await`, so dropping the runtime would wait for it for
    // ever: the runner never waits past Forcing, and leaves its thread to end with the process.
    let report = brake::run_async_on(&stop, runtime, async {
        let group = match args.limit {
            Some(limit) => TaskGroup::with_limit(&stop, limit),
            None => TaskGroup::new(&stop),
        };
        for _ in 0..args.tasks {
            // No handles: the report counts every task, and nothing here needs a task's value.
            group.spawn_with_stop(|stop| task(args.task, length, stop));
        }
        group.join().await
    });
    say!("{report}");
    say!("main exit");
    Ok(report.to_exit_code())
}

async fn task(kind: Kind, length: Option<Duration>, stop: Stop) -> TaskResult<()> {
    say!("task started");
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
                tokio::task::yield_now().await;
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
            if stop.sleep_async(length).await.is_interrupted() {
                say!("handler exit");
                return Err(Stopped.into());
            }
        }
    }
    Ok(())
}
