//! The library's error type.

use std::io;

/// What can go wrong when setting brake up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signal handlers or their watcher thread could not be set up.
    #[error("cannot install signal handling: {0}")]
    Signals(#[source] io::Error),
    /// A worker thread could not be started.
    #[error("cannot start worker thread: {0}")]
    SpawnThread(#[source] io::Error),
    /// The pool was configured with no workers.
    #[error("a pool needs at least one worker")]
    NoWorkers,
    /// A worker process could not be started.
    #[error("cannot start worker process: {0}")]
    SpawnProcess(#[source] io::Error),
    /// Two tasks were registered under one name.
    #[error("two tasks are registered under the name {0:?}; task names must be unique")]
    DuplicateTask(&'static str),
    /// A process pool was created in a start of the program meant to be a pool's worker: `main`
    /// does not call `brake::process::init` before creating pools.
    #[error(
        "this process was started as a process-pool worker, but main did not call \
         brake::process::init(&registry) first thing"
    )]
    NotInitialized,
    /// A tokio runtime could not be built (see [`run_async`](crate::run_async)).
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
}
