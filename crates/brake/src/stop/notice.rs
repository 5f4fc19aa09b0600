//! The one line the terminal is told when a stop changes phase: [`Notice`], what it is told
//! ([`NoticeEvent`]), and the one builder of brake's wording ([`NoticeEvent::line`]).

use std::fmt;
use std::sync::Arc;

use super::phase::{Activity, Phase, Reason, Transition};

/// What a notice is told about a phase change.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NoticeEvent {
    /// The phase just entered.
    pub phase: Phase,
    /// Why and when.
    pub transition: Transition,
    /// What the pools on this `Stop` reported; `None` when no pool reports activity.
    pub activity: Option<Activity>,
    /// How many sections of work that a forced stop cannot cut short were running
    /// ([`Stop::unforceable`](super::Stop::unforceable) guards alive).
    pub unforceable: usize,
}

/// How a notice words the work still running when a stop is forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ForcedWork {
    /// `— 4 still running`: the work is abandoned, aborted or killed, depending on the pool
    /// (what [`Notice::Default`] says).
    #[default]
    StillRunning,
    /// `— killing 4 running`: for a program whose running work is child processes, which a
    /// forced stop kills.
    Killing,
    /// For work that a forced stop cannot cut short: rayon items (see `brake::rayon`), tasks of
    /// a [`ThreadPool::scope`](crate::ThreadPool::scope) that do not check the stop. The line
    /// promises no force: `brake: stopping — running work finishes first`, then on a second
    /// signal `brake: running work cannot be forced (Ctrl-C again after 1 s exits at once)`,
    /// the one way out that remains (see [`crate::signals`]).
    Finishing,
}

impl NoticeEvent {
    /// brake's line for this change, `None` for a change that calls for none: phases begun by
    /// a signal, and forcing because the grace period ran out, get a line; stops requested by
    /// code are silent, since the code that asked can speak for itself.
    ///
    /// `brake: stopping — 4 running, 96 not started (Ctrl-C again to force)`, then
    /// `brake: forcing stop now — 4 still running` (or `— killing 4 running`, see
    /// [`ForcedWork`]), or `brake: grace period over, forcing stop — 4 still running`; for
    /// work that cannot be forced, the lines of [`ForcedWork::Finishing`]. The counts are left
    /// out when no pool reports activity. [`Notice::Default`] writes
    /// `self.line(ForcedWork::StillRunning)`; a [`Notice::custom`] that only needs to put the
    /// line somewhere else (above a progress bar, say) calls this rather than word its own.
    pub fn line(&self, forced: ForcedWork) -> Option<String> {
        if forced == ForcedWork::Finishing {
            return self.finishing_line();
        }
        let counts = |with_queue: bool| match self.activity {
            Some(a) if with_queue => {
                format!(" — {} running, {} not started", a.running, a.not_started)
            }
            Some(a) => match forced {
                ForcedWork::Killing => format!(" — killing {} running", a.running),
                _ => format!(" — {} still running", a.running),
            },
            None => String::new(),
        };
        match (self.phase, self.transition.reason) {
            (Phase::Stopping, Reason::Signal(signal)) => Some(format!(
                "brake: stopping{} ({} again to force)",
                counts(true),
                signal_words(signal)
            )),
            (Phase::Forcing, Reason::Signal(_)) => {
                Some(format!("brake: forcing stop now{}", counts(false)))
            }
            (Phase::Forcing, Reason::GraceElapsed) => Some(format!(
                "brake: grace period over, forcing stop{}",
                counts(false)
            )),
            _ => None,
        }
    }

    /// The line for work a forced stop cannot cut short ([`ForcedWork::Finishing`]): it says
    /// that the running work finishes first, and once forcing, that only a further signal a
    /// second later ends the process.
    fn finishing_line(&self) -> Option<String> {
        let running = self.activity.map(|a| a.running);
        match (self.phase, self.transition.reason) {
            (Phase::Stopping, Reason::Signal(_)) => Some(match self.activity {
                Some(a) => format!(
                    "brake: stopping — {} running, {} not started; running work finishes first",
                    a.running, a.not_started
                ),
                None => "brake: stopping — running work finishes first".to_string(),
            }),
            (Phase::Forcing, Reason::Signal(signal)) => Some(format!(
                "brake: running work cannot be forced{} ({} again after 1 s exits at once)",
                running.map_or(String::new(), |n| format!(" — {n} still running")),
                signal_words(signal)
            )),
            (Phase::Forcing, Reason::GraceElapsed) => Some(format!(
                "brake: grace period over, running work cannot be forced{} (Ctrl-C after 1 s \
                 exits at once)",
                running.map_or(String::new(), |n| format!(" — {n} still running")),
            )),
            _ => None,
        }
    }
}

/// How a line names `signal` to send again: `Ctrl-C` for SIGINT, else its name.
fn signal_words(signal: i32) -> String {
    if signal == libc::SIGINT {
        "Ctrl-C".to_string()
    } else {
        Reason::Signal(signal).to_string()
    }
}

/// A function that turns a phase change into a line for the terminal (or `None` for silence).
pub type NoticeFn = dyn Fn(&NoticeEvent) -> Option<String> + Send + Sync;

/// What the terminal is told when the phase changes. One line on stderr, never more.
///
/// Plain configuration: dropping it does nothing, and a stop only reads it.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Notice {
    /// Say nothing.
    Off,
    /// brake's own line ([`NoticeEvent::line`] with [`ForcedWork::StillRunning`]), such as
    /// `brake: stopping — 4 running, 96 not started (Ctrl-C again to force)`, for phases begun
    /// by a signal or by the end of the grace period. Stops requested by code are silent.
    /// While work that cannot be forced runs ([`Stop::unforceable`](super::Stop::unforceable):
    /// rayon helpers, a `scope`), the line is [`ForcedWork::Finishing`]'s.
    #[default]
    Default,
    /// brake's own line worded for the running work this program has
    /// ([`NoticeEvent::line`] with this [`ForcedWork`]), for the same phase changes as
    /// `Default`. `Notice::Worded(ForcedWork::Finishing)` for a rayon program.
    Worded(ForcedWork),
    /// Your own line, for every phase change.
    Custom(Arc<NoticeFn>),
}

impl Notice {
    /// A notice made by `f`.
    pub fn custom(f: impl Fn(&NoticeEvent) -> Option<String> + Send + Sync + 'static) -> Self {
        Notice::Custom(Arc::new(f))
    }

    /// The line to write for `event`, if any.
    pub(super) fn line(&self, event: &NoticeEvent) -> Option<String> {
        match self {
            Notice::Off => None,
            Notice::Default if event.unforceable > 0 => {
                // Pools with nothing to count (an idle pool beside a rayon call) would only
                // add "0 running, 0 not started".
                let idle = event
                    .activity
                    .is_some_and(|a| a.running == 0 && a.not_started == 0);
                let event = NoticeEvent {
                    activity: event.activity.filter(|_| !idle),
                    ..*event
                };
                event.line(ForcedWork::Finishing)
            }
            Notice::Default => event.line(ForcedWork::StillRunning),
            Notice::Worded(forced) => event.line(*forced),
            Notice::Custom(f) => f(event),
        }
    }
}

impl fmt::Debug for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Off => f.write_str("Off"),
            Notice::Default => f.write_str("Default"),
            Notice::Worded(forced) => write!(f, "Worded({forced:?})"),
            Notice::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}
