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
//! # Invariants
//!
//! 1. The phase only moves forward, and each phase is entered at most once.
//! 2. The recorded transitions in `state` are the truth; the atomic phase follows them, raised
//!    while `state` is locked. One exception: in a process-pool worker, and in a process whose
//!    pool's workers the signal handler tells itself (`first_step`), the handler raises the
//!    atomic to Stopping, so that a busy task sees the stop (and a pool sees its workers' ends
//!    as a stop's) without waiting for the watcher thread to get a core; the watcher then
//!    records the transition as usual. Whoever reports the reason waits for that record first
//!    (`wait_announced`).
//! 3. Listeners and the notice run on the thread that moved the phase, after the lock is released:
//!    a listener may call back into the `Stop` without deadlock. Activity sources are the
//!    exception: they run under the lock, to count the work at the instant of the change, and
//!    so must never call the `Stop`.
//! 4. The phase is stored with `SeqCst`: a pool may pair a load of it with its own counters in a
//!    Dekker-style handshake (see `threads.rs`).

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

use crate::sync::{lock, wait, wait_timeout};
use std::thread;
use std::time::{Duration, Instant};

/// The grace period between Stopping and Forcing unless [`Stop::set_grace`] says otherwise.
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
    fn from_u8(value: u8) -> Phase {
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
    /// Code called [`Stop::request`] or [`Stop::force`] without a more specific reason.
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
            Reason::Signal(signal) => f.write_str(&crate::signame::signal_name(signal)),
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

/// The error a cooperative task returns when it notices the stop; see [`Stop::check`].
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

/// How an interruptible [`Stop::sleep`] ended.
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

/// How much work a stop affects, as pools report it through [`Stop::report_activity`].
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
}

/// A function that turns a phase change into a line for the terminal (or `None` for silence).
pub type NoticeFn = dyn Fn(&NoticeEvent) -> Option<String> + Send + Sync;

/// What the terminal is told when the phase changes. One line on stderr, never more.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Notice {
    /// Say nothing.
    Off,
    /// For phases begun by a signal or by the end of the grace period, a line such as
    /// `brake: stopping — 4 running, 96 not started (Ctrl-C again to force)`. Stops requested by
    /// code are silent: the code that asked can speak for itself.
    #[default]
    Default,
    /// Your own line, for every phase change.
    Custom(Arc<NoticeFn>),
}

impl Notice {
    /// A notice made by `f`.
    pub fn custom(f: impl Fn(&NoticeEvent) -> Option<String> + Send + Sync + 'static) -> Self {
        Notice::Custom(Arc::new(f))
    }

    fn line(&self, event: &NoticeEvent) -> Option<String> {
        match self {
            Notice::Off => None,
            Notice::Default => default_notice(event),
            Notice::Custom(f) => f(event),
        }
    }
}

impl fmt::Debug for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Notice::Off => "Off",
            Notice::Default => "Default",
            Notice::Custom(_) => "Custom(..)",
        })
    }
}

fn default_notice(event: &NoticeEvent) -> Option<String> {
    let reason = event.transition.reason;
    let counts = |activity: Option<Activity>, with_queue: bool| match activity {
        Some(a) if with_queue => format!(" — {} running, {} not started", a.running, a.not_started),
        Some(a) => format!(" — {} still running", a.running),
        None => String::new(),
    };
    match (event.phase, reason) {
        (Phase::Stopping, Reason::Signal(signal)) => {
            let again = if signal == libc::SIGINT {
                "Ctrl-C again to force".to_string()
            } else {
                format!("{} again to force", Reason::Signal(signal))
            };
            Some(format!(
                "brake: stopping{} ({again})",
                counts(event.activity, true)
            ))
        }
        (Phase::Forcing, Reason::Signal(_)) => Some(format!(
            "brake: forcing stop now{}",
            counts(event.activity, false)
        )),
        (Phase::Forcing, Reason::GraceElapsed) => Some(format!(
            "brake: grace period over, forcing stop{}",
            counts(event.activity, false)
        )),
        _ => None,
    }
}

type ChangeFn = dyn Fn(Phase) + Send + Sync;
type ActivityFn = dyn Fn() -> Activity + Send + Sync;

enum Listener {
    Change(Arc<ChangeFn>),
    Activity(Arc<ActivityFn>),
}

struct State {
    stopping: Option<Transition>,
    forcing: Option<Transition>,
    listeners: Vec<(u64, Listener)>,
    next_id: u64,
    notice: Notice,
}

struct Inner {
    phase: AtomicU8,
    /// The latest phase whose notice is written and whose listeners have run.
    announced: AtomicU8,
    grace_nanos: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
    /// The cancellation tokens of the async bridge, made on first use (see `tasks.rs`).
    #[cfg(feature = "tokio")]
    tokens: std::sync::OnceLock<crate::tasks::StopTokens>,
}

/// The shared stop state of one run; clone it freely, every clone is the same stop.
///
/// Dropping a `Stop` does nothing to the run; the state lives while any clone, pool or installed
/// signal handler holds it.
///
/// ```
/// use brake::{Phase, Reason, Stop};
/// use std::time::Duration;
///
/// let stop = Stop::new();
/// stop.set_grace(Duration::from_millis(50));
/// assert!(!stop.is_stopping());
///
/// assert!(stop.request(Reason::Requested));
/// assert_eq!(stop.phase(), Phase::Stopping);
/// assert!(stop.sleep(Duration::from_secs(60)).is_interrupted()); // returns at once
///
/// stop.wait_for(Phase::Forcing); // the grace period runs out by itself
/// assert_eq!(stop.forcing().unwrap().reason, Reason::GraceElapsed);
/// ```
#[derive(Clone)]
pub struct Stop {
    inner: Arc<Inner>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("phase", &self.phase())
            .field("grace", &self.grace())
            .finish()
    }
}

impl Stop {
    /// A new stop in the Running phase, with the default grace period and notice, and no signal
    /// handling (see [`Stop::install_signals`]).
    pub fn new() -> Self {
        Stop {
            inner: Arc::new(Inner {
                phase: AtomicU8::new(Phase::Running as u8),
                announced: AtomicU8::new(Phase::Running as u8),
                grace_nanos: AtomicU64::new(DEFAULT_GRACE.as_nanos() as u64),
                state: Mutex::new(State {
                    stopping: None,
                    forcing: None,
                    listeners: Vec::new(),
                    next_id: 0,
                    notice: Notice::Default,
                }),
                changed: Condvar::new(),
                #[cfg(feature = "tokio")]
                tokens: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Where the async bridge keeps its tokens (see `tasks.rs`).
    #[cfg(feature = "tokio")]
    pub(crate) fn tokens_cell(&self) -> &std::sync::OnceLock<crate::tasks::StopTokens> {
        &self.inner.tokens
    }

    /// The atomic phase, for the signal handler of a process-pool worker (see invariant 2).
    pub(crate) fn phase_cell(&self) -> &AtomicU8 {
        &self.inner.phase
    }

    /// True when `other` is a clone of this same stop.
    pub fn same_as(&self, other: &Stop) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The current phase.
    #[inline]
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::SeqCst))
    }

    /// True once stopping has begun (Stopping or Forcing). One atomic load.
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.inner.phase.load(Ordering::SeqCst) != Phase::Running as u8
    }

    /// True once the stop is being forced.
    #[inline]
    pub fn is_forcing(&self) -> bool {
        self.inner.phase.load(Ordering::SeqCst) == Phase::Forcing as u8
    }

    /// `Err(Stopped)` once stopping has begun, for `stop.check()?` in cooperative work.
    #[inline]
    pub fn check(&self) -> Result<(), Stopped> {
        if self.is_stopping() {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// When and why stopping began, if it has.
    pub fn stopping(&self) -> Option<Transition> {
        lock(&self.inner.state).stopping
    }

    /// When and why forcing began, if it has.
    pub fn forcing(&self) -> Option<Transition> {
        lock(&self.inner.state).forcing
    }

    /// The exit status the process should end with: `Some(128 + n)` when signal `n` began the
    /// stop (130 after Ctrl-C), otherwise `None`.
    pub fn exit_code(&self) -> Option<i32> {
        match self.stopping()?.reason {
            Reason::Signal(signal) => Some(exit_code_for_signal(signal)),
            _ => None,
        }
    }

    /// The grace period between Stopping and Forcing.
    pub fn grace(&self) -> Duration {
        Duration::from_nanos(self.inner.grace_nanos.load(Ordering::Relaxed))
    }

    /// Sets the grace period; it is read when stopping begins. `Duration::MAX` (or anything past
    /// 584 years) means stopping is never forced by time, only by a second signal or
    /// [`Stop::force`]; zero means stopping forces at once.
    pub fn set_grace(&self, grace: Duration) {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self.inner.grace_nanos.store(nanos, Ordering::Relaxed);
        crate::signals::grace_changed(self);
    }

    /// Sets what the terminal is told on a phase change (see [`Notice`]).
    pub fn set_notice(&self, notice: Notice) {
        lock(&self.inner.state).notice = notice;
    }

    /// Begins stopping. Returns true if this call did it, false if stopping had already begun.
    pub fn request(&self, reason: Reason) -> bool {
        self.advance(Phase::Stopping, reason)
    }

    /// Forces the stop now, with [`Reason::Requested`]; see [`Stop::force_because`].
    pub fn force(&self) -> bool {
        self.force_because(Reason::Requested)
    }

    /// Forces the stop now. From Running this enters Stopping and Forcing at once, both with
    /// `reason`. Returns true if this call did it.
    pub fn force_because(&self, reason: Reason) -> bool {
        self.advance(Phase::Forcing, reason)
    }

    /// The step taken when a stop signal arrives: the first begins stopping, later ones force.
    pub fn escalate(&self, reason: Reason) -> Phase {
        if !self.request(reason) {
            self.force_because(reason);
        }
        self.phase()
    }

    /// Blocks until stopping begins; returns the phase then.
    pub fn wait(&self) -> Phase {
        self.wait_for(Phase::Stopping);
        self.phase()
    }

    /// Blocks until stopping begins or `timeout` passes; true if stopping began.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_for_timeout(Phase::Stopping, timeout)
    }

    /// Blocks until the phase is at least `phase`.
    pub fn wait_for(&self, phase: Phase) {
        self.wait_for_deadline(phase, None);
    }

    /// Blocks until the phase is at least `phase` or `timeout` passes; true if the phase was reached.
    pub fn wait_for_timeout(&self, phase: Phase, timeout: Duration) -> bool {
        self.wait_for_deadline(phase, Instant::now().checked_add(timeout))
    }

    /// Blocks until the phase is at least `phase` or the clock passes `deadline` (`None`: never);
    /// true if the phase was reached.
    pub fn wait_for_deadline(&self, phase: Phase, deadline: Option<Instant>) -> bool {
        let mut state = lock(&self.inner.state);
        loop {
            if self.phase() >= phase {
                return true;
            }
            state = match deadline {
                None => wait(&self.inner.changed, state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    wait_timeout(&self.inner.changed, state, deadline - now).0
                }
            };
        }
    }

    /// Sleeps for `duration`, or less if stopping begins first; says which.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        if self.wait_timeout(duration) {
            Sleep::Interrupted
        } else {
            Sleep::Completed
        }
    }

    /// Calls `f` with the new phase after every phase change, on the thread that made it.
    ///
    /// This is how pools are woken: a pool blocked on its own condition variable or channel
    /// registers a listener that wakes it. `f` must be quick and must not block. A listener
    /// registered after a change does not hear of it: check [`Stop::phase`] after registering.
    /// Dropping the returned [`Subscription`] removes the listener.
    pub fn on_change(&self, f: impl Fn(Phase) + Send + Sync + 'static) -> Subscription {
        self.listen(Listener::Change(Arc::new(f)))
    }

    /// Adds `f` to the sources of the counts shown in the stop notice (summed over all sources).
    /// Dropping the returned [`Subscription`] removes it.
    ///
    /// `f` is called with the stop's internal lock held, at the instant of a phase change, so
    /// that the notice shows the work as the stop found it: it must only read counters, and
    /// never call back into the `Stop`.
    pub fn report_activity(
        &self,
        f: impl Fn() -> Activity + Send + Sync + 'static,
    ) -> Subscription {
        self.listen(Listener::Activity(Arc::new(f)))
    }

    /// The counts of running and not-started work, summed over every pool that reports them;
    /// `None` when none does.
    pub fn activity(&self) -> Option<Activity> {
        Self::sum_activity(&lock(&self.inner.state))
    }

    fn sum_activity(state: &State) -> Option<Activity> {
        state
            .listeners
            .iter()
            .filter_map(|(_, listener)| match listener {
                Listener::Activity(f) => Some(f()),
                Listener::Change(_) => None,
            })
            .reduce(|a, b| a + b)
    }

    fn listen(&self, listener: Listener) -> Subscription {
        let mut state = lock(&self.inner.state);
        let id = state.next_id;
        state.next_id += 1;
        state.listeners.push((id, listener));
        Subscription {
            stop: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// Moves the phase forward to `target`; the single place where phases change.
    fn advance(&self, target: Phase, reason: Reason) -> bool {
        let transition = Transition {
            reason,
            at: Instant::now(),
        };
        let mut state = lock(&self.inner.state);
        // The recorded transitions, not the atomic, say where the stop is: a signal handler may
        // have raised the atomic already (see `signals::install_early`).
        let from = match (&state.stopping, &state.forcing) {
            (_, Some(_)) => Phase::Forcing,
            (Some(_), None) => Phase::Stopping,
            (None, None) => Phase::Running,
        };
        if from >= target {
            return false;
        }
        // Counted before the phase flips: the moment after, woken work starts to return.
        let activity = Self::sum_activity(&state);
        state.stopping.get_or_insert(transition);
        if target == Phase::Forcing {
            state.forcing = Some(transition);
        }
        self.inner.phase.fetch_max(target as u8, Ordering::SeqCst);
        self.inner.changed.notify_all();
        let listeners: Vec<Arc<ChangeFn>> = state
            .listeners
            .iter()
            .filter_map(|(_, listener)| match listener {
                Listener::Change(f) => Some(f.clone()),
                Listener::Activity(_) => None,
            })
            .collect();
        let notice = state.notice.clone();
        drop(state);

        // The notice comes before the listeners wake the pools, so that the terminal shows
        // "stopping" before any report the woken program prints.
        let event = NoticeEvent {
            phase: target,
            transition,
            activity,
        };
        if let Some(mut line) = notice.line(&event) {
            // One write for the whole line, so output from other threads cannot split it.
            // Errors are ignored: a closed terminal (SIGHUP) must not turn a stop into a panic.
            line.push('\n');
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        for listener in listeners {
            listener(target);
        }
        if from == Phase::Running && target == Phase::Stopping {
            self.start_grace_timer();
        }
        let _state = lock(&self.inner.state);
        self.inner
            .announced
            .fetch_max(target as u8, Ordering::SeqCst);
        self.inner.changed.notify_all();
        true
    }

    /// Blocks until the current phase has been announced: its notice written to the terminal and
    /// its [`on_change`](Stop::on_change) listeners run. Work reacts to a stop the instant the
    /// phase flips, before the notice is out; a pool's `join` calls this before returning, so a
    /// report printed after it always follows the notice. Never call it from a listener: the
    /// announcement it waits for comes after the listeners return.
    pub fn wait_announced(&self) {
        let mut state = lock(&self.inner.state);
        while self.inner.announced.load(Ordering::SeqCst) < self.inner.phase.load(Ordering::SeqCst)
        {
            state = wait(&self.inner.changed, state);
        }
    }

    fn start_grace_timer(&self) {
        let grace = self.grace();
        if grace == Duration::from_nanos(u64::MAX) {
            return; // "never": see `set_grace`
        }
        if grace.is_zero() {
            // No grace: force now, on this thread, rather than wake another to do it.
            self.force_because(Reason::GraceElapsed);
            return;
        }
        let Some(started) = self.stopping().map(|t| t.at) else {
            return;
        };
        let Some(deadline) = started.checked_add(grace) else {
            return; // a grace too long to represent never ends
        };
        let stop = self.clone();
        let spawned = thread::Builder::new()
            .name("brake-grace".into())
            .spawn(move || {
                if !stop.wait_for_deadline(Phase::Forcing, Some(deadline)) {
                    stop.force_because(Reason::GraceElapsed);
                }
            });
        if spawned.is_err() {
            // No thread to time the grace: force now rather than risk never forcing.
            self.force_because(Reason::GraceElapsed);
        }
    }
}

/// A listener registered with [`Stop::on_change`] or [`Stop::report_activity`]; dropping it
/// removes the listener.
#[must_use = "dropping a Subscription removes the listener at once"]
pub struct Subscription {
    stop: Weak<Inner>,
    id: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.stop.upgrade() {
            lock(&inner.state)
                .listeners
                .retain(|(id, _)| *id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn quiet() -> Stop {
        let stop = Stop::new();
        stop.set_notice(Notice::Off);
        stop
    }

    #[test]
    fn phases_only_move_forward() {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        assert_eq!(stop.phase(), Phase::Running);
        assert!(stop.check().is_ok());
        assert!(stop.request(Reason::Signal(libc::SIGINT)));
        assert!(
            !stop.request(Reason::Requested),
            "a second request changes nothing"
        );
        assert_eq!(stop.phase(), Phase::Stopping);
        assert_eq!(stop.check(), Err(Stopped));
        assert!(stop.force());
        assert!(!stop.force());
        assert!(!stop.request(Reason::Requested));
        assert_eq!(stop.phase(), Phase::Forcing);
        assert_eq!(
            stop.stopping().unwrap().reason,
            Reason::Signal(libc::SIGINT)
        );
        assert_eq!(stop.forcing().unwrap().reason, Reason::Requested);
        assert_eq!(stop.exit_code(), Some(130));
    }

    #[test]
    fn force_from_running_records_both_phases() {
        let stop = quiet();
        assert!(stop.force_because(Reason::TimedOut));
        assert_eq!(stop.stopping().unwrap().reason, Reason::TimedOut);
        assert_eq!(stop.forcing().unwrap().reason, Reason::TimedOut);
        assert_eq!(stop.exit_code(), None);
    }

    #[test]
    fn escalate_moves_one_step_per_call() {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        assert_eq!(
            stop.escalate(Reason::Signal(libc::SIGTERM)),
            Phase::Stopping
        );
        assert_eq!(stop.escalate(Reason::Signal(libc::SIGINT)), Phase::Forcing);
        assert_eq!(stop.escalate(Reason::Signal(libc::SIGINT)), Phase::Forcing);
        assert_eq!(stop.exit_code(), Some(143));
    }

    #[test]
    fn grace_forces_after_the_period_and_not_before() {
        let stop = quiet();
        stop.set_grace(Duration::from_millis(200));
        stop.request(Reason::Requested);
        let begun = stop.stopping().unwrap().at;
        stop.wait_for(Phase::Forcing);
        let forced = stop.forcing().unwrap();
        assert_eq!(forced.reason, Reason::GraceElapsed);
        assert!(forced.at - begun >= Duration::from_millis(200));
    }

    #[test]
    fn zero_grace_forces_at_once() {
        let stop = quiet();
        stop.set_grace(Duration::ZERO);
        stop.request(Reason::Signal(libc::SIGINT));
        assert_eq!(
            stop.phase(),
            Phase::Forcing,
            "forced before request returned"
        );
        assert_eq!(stop.forcing().unwrap().reason, Reason::GraceElapsed);
    }

    #[test]
    fn endless_grace_never_forces_by_itself() {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        stop.request(Reason::Requested);
        assert!(!stop.wait_for_timeout(Phase::Forcing, Duration::from_millis(100)));
    }

    #[test]
    fn waits_return_when_another_thread_stops() {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        let waiter = {
            let stop = stop.clone();
            thread::spawn(move || (stop.sleep(Duration::from_secs(600)), stop.wait()))
        };
        thread::sleep(Duration::from_millis(20));
        stop.request(Reason::Requested);
        let (slept, phase) = waiter.join().unwrap();
        assert_eq!(slept, Sleep::Interrupted);
        assert_eq!(phase, Phase::Stopping);
        assert_eq!(stop.sleep(Duration::from_millis(1)), Sleep::Interrupted);
    }

    #[test]
    fn uninterrupted_sleep_completes() {
        let stop = quiet();
        assert_eq!(stop.sleep(Duration::from_millis(5)), Sleep::Completed);
        assert!(!stop.wait_timeout(Duration::from_millis(5)));
    }

    #[test]
    fn listeners_hear_each_change_until_dropped() {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        let heard = Arc::new(AtomicUsize::new(0));
        let subscription = {
            let heard = heard.clone();
            stop.on_change(move |phase| {
                heard.fetch_add(phase as usize, Ordering::SeqCst);
            })
        };
        stop.request(Reason::Requested);
        assert_eq!(heard.load(Ordering::SeqCst), 1);
        drop(subscription);
        stop.force();
        assert_eq!(heard.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn activity_sums_every_source() {
        let stop = quiet();
        assert_eq!(stop.activity(), None);
        let _a = stop.report_activity(|| Activity {
            running: 3,
            not_started: 90,
        });
        let _b = stop.report_activity(|| Activity {
            running: 1,
            not_started: 6,
        });
        assert_eq!(
            stop.activity(),
            Some(Activity {
                running: 4,
                not_started: 96
            })
        );
    }

    #[test]
    fn default_notice_speaks_for_signals_only() {
        let transition = |reason| Transition {
            reason,
            at: Instant::now(),
        };
        let event = |phase, reason| NoticeEvent {
            phase,
            transition: transition(reason),
            activity: Some(Activity {
                running: 4,
                not_started: 96,
            }),
        };
        assert_eq!(
            default_notice(&event(Phase::Stopping, Reason::Signal(libc::SIGINT))).unwrap(),
            "brake: stopping — 4 running, 96 not started (Ctrl-C again to force)"
        );
        assert_eq!(
            default_notice(&event(Phase::Stopping, Reason::Signal(libc::SIGTERM))).unwrap(),
            "brake: stopping — 4 running, 96 not started (SIGTERM again to force)"
        );
        assert_eq!(
            default_notice(&event(Phase::Forcing, Reason::GraceElapsed)).unwrap(),
            "brake: grace period over, forcing stop — 4 still running"
        );
        assert_eq!(
            default_notice(&event(Phase::Stopping, Reason::Requested)),
            None
        );
    }

    #[test]
    fn custom_notice_sees_every_change() {
        let stop = Stop::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        stop.set_notice(Notice::custom(move |event| {
            lock(&log).push(event.phase);
            None
        }));
        stop.request(Reason::Requested);
        stop.force();
        assert_eq!(*lock(&seen), vec![Phase::Stopping, Phase::Forcing]);
    }
}
