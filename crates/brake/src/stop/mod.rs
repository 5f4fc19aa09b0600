//! The stop contract: [`Stop`], its three phases, and the waits that end when the phase changes.
//!
//! # Theory of operation
//!
//! A [`Stop`] is a cheap, clonable handle to one shared state that only moves forward:
//!
//! ```text
//! Running ──first signal, or request(reason)──▶ Stopping ──second signal, grace over, or force()──▶ Forcing
//! ```
//!
//! * **Running**: work runs. [`Stop::is_stopping`] is one atomic load, cheap enough for a hot loop.
//! * **Stopping**: queued work must never start; running work is told (it sees `is_stopping()`, or
//!   an interruptible wait such as [`Stop::sleep`] returns early) and given the grace period
//!   ([`Stop::set_grace`], 2 s by default) to return.
//! * **Forcing**: whatever still runs is abandoned (threads), aborted (async tasks) or killed
//!   (processes). Every wait in brake returns at once.
//!
//! Each phase records why and when it began ([`Transition`]). Pools learn of a change through
//! [`Stop::on_change`] and tell the terminal how much work a stop affects through
//! [`Stop::report_activity`]; the one-line notice on the first stop signal is built from that (see
//! [`Notice`]).
//!
//! # Layout
//!
//! Dependencies run one way, from the top of this list down: `futures.rs` (the async side,
//! feature `tokio`) uses `core.rs` ([`Stop`]: its state, listeners, grace timer and waits),
//! which uses `notice.rs` (the terminal's line), `tokens.rs` (the async side's root tokens) and
//! `phase.rs` (the plain values). Signal handling (`crate::signals`) reads an installed stop's
//! state; the stop never calls into it.
//!
//! # Invariants
//!
//! 1. The phase only moves forward, and each phase is entered at most once.
//! 2. The recorded transitions in `state` are the truth; the atomic phase follows them, raised
//!    while `state` is locked. One exception: in a process-pool worker, and in a process whose
//!    pool's workers the signal handler tells itself (`first_step`), the handler raises the
//!    atomic to Stopping, so that a busy task sees the stop (and a pool sees its workers' ends
//!    as a stop's) without waiting for the watcher thread to get a core; the watcher then
//!    records the transition as usual. The handler reads the grace period from the installed
//!    stop too, to decide whether its first signal forces. Whoever reports the reason waits for that record first
//!    (`wait_announced`).
//! 3. Listeners and the notice run on the thread that moved the phase, after the lock is released:
//!    a listener may call back into the `Stop` without deadlock. Activity sources are the
//!    exception: they run under the lock, to count the work at the instant of the change, and
//!    so must never call the `Stop`.
//! 4. The phase is stored with `SeqCst`: a pool may pair a load of it with its own counters in a
//!    Dekker-style handshake (see `threads.rs`).

mod core;
#[cfg(feature = "tokio")]
mod futures;
mod notice;
mod phase;
#[cfg(test)]
mod tests;
#[cfg(feature = "tokio")]
mod tokens;

pub(crate) use self::core::monotonic_ns;
pub use self::core::{Stop, Subscription, Unforceable};
pub use notice::{ForcedWork, Notice, NoticeEvent, NoticeFn};
pub use phase::{
    exit_code_for_signal, Activity, Phase, Reason, Sleep, Stopped, Transition, DEFAULT_GRACE,
};
