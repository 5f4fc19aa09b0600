//! Concurrency that stops when the user says so.
//!
//! A program that runs many things at once (a scanner, a crawler, a batch converter) should end
//! on **one** Ctrl-C, promptly, keeping every result that was finished. brake gives every
//! concurrency model the same stop contract, built around one shared [`Stop`]:
//!
//! | phase | queued work | running work |
//! |---|---|---|
//! | Running | starts as workers free up | runs |
//! | Stopping (first Ctrl-C, SIGTERM, SIGHUP, or [`Stop::request`]) | never starts; reported [`Outcome::Cancelled`] | is told ([`Stop::is_stopping`], interruptible waits) and has a grace period to return |
//! | Forcing (second Ctrl-C, grace over, or [`Stop::force`]) | — | abandoned (threads), reported [`Outcome::Interrupted`]; every wait returns at once, but the end of a [`ThreadPool::scope`], whose tasks borrow from the caller |
//!
//! Every pool reports how each task ended ([`Outcome`]) and how the run ended ([`Report`]), and
//! the exit status says why: [`Report::exit_code`] is 130 after Ctrl-C.
//!
//! # Example: the threading model done right
//!
//! ```no_run
//! use brake::{Stop, ThreadPool};
//! use std::time::Duration;
//!
//! fn main() -> Result<brake::Report, brake::Error> {
//!     let stop = Stop::new();
//!     stop.install_signals()?; // Ctrl-C now stops `stop`
//!     let pool = ThreadPool::new(&stop, 3)?;
//!     for n in 0..6 {
//!         pool.submit(move |stop| -> brake::TaskResult<()> {
//!             for _step in 0..50 {
//!                 stop.check()?; // returns Err(Stopped) once stopping: reported "interrupted"
//!                 std::thread::sleep(Duration::from_millis(100)); // one small step of work
//!             }
//!             println!("task {n} done");
//!             Ok(())
//!         });
//!     }
//!     let report = pool.join(); // returns promptly after one Ctrl-C, whatever the queue holds
//!     println!("{report}");
//!     Ok(report) // exits 130 after Ctrl-C, 1 if a task failed, else 0
//! }
//! ```
//!
//! The same contract holds for worker processes ([`process::ProcessPool`]: queued tasks never
//! start, busy workers get SIGINT, then SIGKILL when the grace period is over), for any child
//! process ([`child::Child`]), for async tasks on tokio (`TaskGroup` and `run_async`, feature
//! `tokio`) and for rayon parallel iterators (`rayon::StopExt`, feature `rayon`). Both pools
//! share one vocabulary: `submit`, `map(inputs, task)` in input order, `map_unordered(inputs,
//! task)` in completion order with each input's index, `join`; and dropping either cancels
//! what has not started.
//!
//! The grace period is [`DEFAULT_GRACE`] (2 s) unless [`Stop::set_grace`] says otherwise.
//!
//! The examples directory holds each model done right: `threads` (this one, with busy and
//! sleeping tasks too), `scope` (tasks that borrow from `main`, [`ThreadPool::scope`]),
//! `process_pool` (worker processes), `tasks` (many async tasks on tokio),
//! `tokio_main` (the `#[tokio::main]` shape, and what ends it when a task blocks) and `rayon`.

pub mod child;
mod error;
mod first_step;
mod outcome;
pub mod process;
#[cfg(feature = "rayon")]
pub mod rayon;
#[cfg(feature = "tokio")]
mod runtime;
pub mod signals;
mod signame;
mod stop;
mod sync;
#[cfg(feature = "tokio")]
mod tasks;
mod termseq;
mod threads;

pub use error::Error;
pub use outcome::{Outcome, OutcomeError, OutcomeKind, Report, TaskError, TaskResult};
#[cfg(feature = "tokio")]
pub use runtime::{run_async, run_async_on};
pub use signame::signal_name;
pub use stop::{
    exit_code_for_signal, Activity, ForcedWork, Notice, NoticeEvent, NoticeFn, Phase, Reason,
    Sleep, Stop, Stopped, Subscription, Transition, Unforceable, DEFAULT_GRACE,
};
#[cfg(feature = "tokio")]
pub use tasks::{TaskGroup, TaskHandle};
pub use termseq::{TermSeq, TermSeqError, TermStep};
pub use threads::{Handle, Map, MapUnordered, Scope, ScopedHandle, ThreadPool};
