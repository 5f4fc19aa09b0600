//! Why a wait failed, with the program's output attached so a failing test shows it.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::{Status, Survivor};

/// How many trailing lines of output an error's message shows.
const TAIL_LINES: usize = 40;

/// A wait that did not get what it waited for.
///
/// Every variant carries the terminal output so far; `Display` shows its last lines.
#[derive(Debug)]
#[non_exhaustive]
pub enum KitError {
    /// The time ran out.
    ///
    /// When a consuming wait ([`wait_exit`](crate::Session::wait_exit) and friends) times out,
    /// everything in `running` has been SIGKILLed and the program reaped before this returns.
    Timeout {
        /// What was awaited, in words.
        waiting_for: String,
        /// How long the wait lasted.
        after: Duration,
        /// Ctrl-C presses made on the session so far.
        presses: u32,
        /// Marked processes that were alive when the time ran out.
        running: Vec<Survivor>,
        /// The terminal output.
        output: String,
    },
    /// The program exited, or every process closed the terminal, before the awaited text came.
    Ended {
        /// What was awaited, in words.
        waiting_for: String,
        /// How the program ended, if it has (`None`: it closed the terminal but still runs).
        status: Option<Status>,
        /// The terminal output.
        output: String,
    },
    /// A system call failed.
    Io {
        /// What the kit was doing.
        during: &'static str,
        /// The error.
        source: io::Error,
        /// The terminal output.
        output: String,
    },
}

impl KitError {
    /// The terminal output at the time of the error, `\r\n` normalised to `\n`.
    pub fn output(&self) -> &str {
        match self {
            KitError::Timeout { output, .. }
            | KitError::Ended { output, .. }
            | KitError::Io { output, .. } => output,
        }
    }
}

impl fmt::Display for KitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KitError::Timeout {
                waiting_for,
                after,
                presses,
                running,
                ..
            } => {
                write!(
                    f,
                    "timed out after {after:.1?} waiting for {waiting_for} \
                     ({presses} Ctrl-C presses made)"
                )?;
                for s in running {
                    write!(f, "\n  still running: pid {} `{}`", s.pid, s.cmdline)?;
                }
            }
            KitError::Ended {
                waiting_for,
                status,
                ..
            } => match status {
                Some(status) => write!(f, "the program {status} while waiting for {waiting_for}")?,
                None => write!(f, "the terminal closed while waiting for {waiting_for}")?,
            },
            KitError::Io { during, source, .. } => write!(f, "{during}: {source}")?,
        }
        write_tail(f, self.output())
    }
}

impl std::error::Error for KitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KitError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn write_tail(f: &mut fmt::Formatter<'_>, output: &str) -> fmt::Result {
    let lines: Vec<&str> = output.lines().collect();
    let skipped = lines.len().saturating_sub(TAIL_LINES);
    if lines.is_empty() {
        return write!(f, "\n--- the terminal showed nothing ---");
    }
    if skipped > 0 {
        write!(
            f,
            "\n--- terminal output ({skipped} earlier lines left out) ---"
        )?;
    } else {
        write!(f, "\n--- terminal output ---")?;
    }
    for line in &lines[skipped..] {
        write!(f, "\n{line}")?;
    }
    write!(f, "\n--- end of terminal output ---")
}
