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
}
