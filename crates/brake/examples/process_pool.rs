//! The multiprocessing model, done right: a pool of worker processes, more tasks than
//! workers, and one Ctrl-C that ends it all — the pool, every worker, every task.
//!
//! ```text
//! cargo run --release --example process_pool -- --workers 3 --tasks 6 --task busy
//! ```
//!
//! Prints `worker started` as each task begins (in its worker process), `handler exit` when a
//! task notices the stop, the report, and last `main exit`. Exits 0 when every task finished,
//! 130 after Ctrl-C.
//!
//! Task kinds, as in the `threads` example:
//! * `cooperative` (default): a CPU loop that checks the stop between small steps.
//! * `busy`: a tight loop that never checks (Python's `while 1: pass`); its worker is ended by
//!   the termination sequence.
//! * `sleep`: an interruptible sleep.

#[macro_use]
#[path = "support/say.rs"]
mod say;

#[path = "support/seed_task.rs"]
mod seed_task;

use std::process::ExitCode;
use std::time::Duration;

use brake::process::{ProcessPool, Registry, Task};
use brake::{Stop, TaskResult};
use clap::Parser;
use seed_task::Kind;
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(about = "The multiprocessing model: one Ctrl-C stops every worker process")]
struct Args {
    /// Worker processes.
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

#[derive(Serialize, Deserialize)]
struct Work {
    kind: Kind,
    seconds: Option<f64>,
}

static WORK: Task<Work, ()> = Task::new("work", work);

fn main() -> ExitCode {
    let mut registry = Registry::new();
    registry.register(&WORK).expect("one task, one name");
    // A worker takes over here, before the program parses its arguments.
    brake::process::main(&registry, |registry| {
        let args = Args::parse();
        match run(&args, registry) {
            Ok(code) => code,
            Err(err) => {
                warn!("process_pool: {err}");
                ExitCode::from(2)
            }
        }
    })
}

fn run(args: &Args, registry: &Registry) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let stop = Stop::new();
    if let Some(grace) = args.grace {
        stop.set_grace(Duration::try_from_secs_f64(grace)?);
    }
    stop.install_signals()?;
    let pool = ProcessPool::new(&stop, registry, args.workers)?;
    let work = Work {
        kind: args.task,
        seconds: args.seconds,
    };
    for _ in 0..args.tasks {
        // No handles kept: the report counts every task, and nothing here needs a value.
        drop(pool.submit(&WORK, &work));
    }
    let report = pool.join();
    say!("{report}");
    say!("main exit");
    Ok(report.to_exit_code())
}

fn work(stop: &Stop, work: Work) -> TaskResult<()> {
    seed_task::run(work.kind, work.seconds.map(Duration::from_secs_f64), stop)
}
