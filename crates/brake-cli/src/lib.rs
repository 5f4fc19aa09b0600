//! The internals of the `brake` command: the job runner, `brake exec`, the joblog, the command
//! template and the rest, as the `brake` binary (`src/main.rs`) and this crate's tests use them.
//!
//! This is not a stable API: the modules are public only so that the binary and the tests in
//! `tests/` can reach them, are hidden from the documentation, and change with the command.
//! The command itself is documented in `brake --help` and the README.

/// `eprintln!` that never panics: a closed terminal (SIGHUP) or a closed stderr must not turn
/// an orderly stop into a crash, so brake's own messages ignore write errors.
/// The line is formatted first and written in one call: one write to a terminal, not one per
/// formatted piece, and never split by another thread's output.
#[doc(hidden)]
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut line = format!($($arg)*);
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

#[doc(hidden)]
pub mod cli;
mod containment;
mod escape;
#[doc(hidden)]
pub mod exec;
mod extras;
mod inputs;
mod job;
#[doc(hidden)]
pub mod joblog;
mod limits;
mod output;
mod pipe;
mod plan;
mod quote;
#[doc(hidden)]
pub mod remote;
#[doc(hidden)]
pub mod runner;
mod shell;
#[doc(hidden)]
pub mod summary;
#[doc(hidden)]
pub mod template;
#[doc(hidden)]
pub mod watchdog;
