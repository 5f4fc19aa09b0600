//! What a stop says: its phases, why and when each began, and the small values its waits and
//! pools report. Plain values; the [`Stop`](super::Stop) that moves them lives in `core.rs`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::signame::signal_name;

/// The grace period between Stopping and Forcing unless [`Stop::set_grace`](super::Stop::set_grace) says otherwise: 2 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// The exit status a process should end with after `signal`: 128 + its number (130 for SIGINT).
pub fn exit_code_for_signal(signal: i32) -> i32 {
    128 + signal
}

/// Where a run is in the stop contract. Ordered: `Running < Stopping < Forcing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Work runs normally.
    Running = 0,
    /// No new work starts; running work has been told and has the grace period to return.
    Stopping = 1,
    /// Running work is abandoned, aborted or killed; every wait returns at once.
    Forcing = 2,
}

impl Phase {
    pub(super) fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Running,
            1 => Phase::Stopping,
            _ => Phase::Forcing,
        }
    }
}

/// Why a phase began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A signal arrived (its number): SIGINT from Ctrl-C, SIGTERM, SIGHUP.
    Signal(i32),
    /// Code called [`Stop::request`](super::Stop::request) or [`Stop::force`](super::Stop::force) without a more specific reason.
    Requested,
    /// A halting rule fired (for example "stop after the first failure").
    Halted,
    /// A time limit ran out.
    TimedOut,
    /// The grace period ran out while stopping.
    GraceElapsed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Signal(signal) if signal == libc::SIGINT => f.write_str("SIGINT (Ctrl-C)"),
            Reason::Signal(signal) => f.write_str(&signal_name(signal)),
            Reason::Requested => f.write_str("request"),
            Reason::Halted => f.write_str("halt rule"),
            Reason::TimedOut => f.write_str("time limit"),
            Reason::GraceElapsed => f.write_str("end of grace period"),
        }
    }
}

/// The moment a phase began, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Why the phase began.
    pub reason: Reason,
    /// When it began.
    pub at: Instant,
}

/// The error a cooperative task returns when it notices the stop; see [`Stop::check`](super::Stop::check).
///
/// Pools report a task that returned it as interrupted, not failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped")
    }
}

impl std::error::Error for Stopped {}

/// How an interruptible [`Stop::sleep`](super::Stop::sleep) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a sleep cut short by a stop usually means the caller should return"]
pub enum Sleep {
    /// The whole duration passed.
    Completed,
    /// A stop began first.
    Interrupted,
}

impl Sleep {
    /// True when a stop cut the sleep short.
    pub fn is_interrupted(self) -> bool {
        self == Sleep::Interrupted
    }
}

/// How much work a stop affects, as pools report it through [`Stop::report_activity`](super::Stop::report_activity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    /// Work running now.
    pub running: usize,
    /// Work queued that has not started (and, once stopping, never will).
    pub not_started: usize,
}

impl std::ops::Add for Activity {
    type Output = Activity;
    fn add(self, other: Activity) -> Activity {
        Activity {
            running: self.running + other.running,
            not_started: self.not_started + other.not_started,
        }
    }
}
