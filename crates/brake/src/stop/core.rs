//! [`Stop`] itself: the shared state behind every clone, the one place its phase moves
//! (`advance`), its listeners, its grace timer and its blocking waits. The invariants
//! it keeps are numbered in the module docs of `stop`.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::notice::{Notice, NoticeEvent};
use super::phase::{
    exit_code_for_signal, Activity, Phase, Reason, Sleep, Stopped, Transition, DEFAULT_GRACE,
};
#[cfg(feature = "tokio")]
use super::tokens::StopTokens;
use crate::sync::{lock, wait, wait_timeout};

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
    /// When Forcing began, on [`monotonic_ns`]'s clock; 0 until it has. The signal handler
    /// reads it for the last-resort exit (see `crate::signals`).
    forced_at_ns: AtomicU64,
    /// Live [`Unforceable`] guards: running work that a forced stop cannot cut short.
    unforceable: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
    /// The cancellation tokens of the async side, made on first use (see `tokens.rs`).
    #[cfg(feature = "tokio")]
    tokens: std::sync::OnceLock<StopTokens>,
}

/// The shared stop state of one run; clone it freely, every clone is the same stop.
///
/// Dropping a `Stop` does nothing to the run; the state lives while any clone or pool holds it,
/// and for the rest of the process once it has been installed as the signals' stop.
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
                forced_at_ns: AtomicU64::new(0),
                unforceable: AtomicUsize::new(0),
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

    /// Marks running work that a forced stop cannot cut short (rayon items, the tasks of a
    /// [`ThreadPool::scope`](crate::ThreadPool::scope), a blocking call of your own) until the
    /// guard is dropped. While one lives, [`Notice::Default`] promises no force: it words the
    /// stop as [`ForcedWork::Finishing`](crate::ForcedWork::Finishing) does. brake's rayon
    /// helpers and `scope` hold one while they run.
    ///
    /// ```
    /// use brake::Stop;
    ///
    /// let stop = Stop::new();
    /// let section = stop.unforceable();
    /// // … a long call that cannot be interrupted …
    /// drop(section);
    /// ```
    pub fn unforceable(&self) -> Unforceable {
        self.inner.unforceable.fetch_add(1, Ordering::SeqCst);
        Unforceable { stop: self.clone() }
    }

    /// The stop's cancellation tokens, made on first use and cancelled by [`Stop::advance`]
    /// from then on; a phase entered before they were made is applied here.
    #[cfg(feature = "tokio")]
    pub(super) fn tokens(&self) -> &StopTokens {
        let tokens = self.inner.tokens.get_or_init(StopTokens::new);
        // After the cell is set: an `advance` that found it empty raised the phase before.
        tokens.cancel_for(self.phase());
        tokens
    }

    /// The atomic phase, for the signal handler of a process-pool worker (see invariant 2).
    pub(crate) fn phase_cell(&self) -> &AtomicU8 {
        &self.inner.phase
    }

    /// The grace period in nanoseconds, for the signal handler: a stop with none forces at
    /// its first signal. Read with `Relaxed`, like every load of it.
    pub(crate) fn grace_cell(&self) -> &AtomicU64 {
        &self.inner.grace_nanos
    }

    /// When Forcing began, in [`monotonic_ns`] (0: not yet), for the signal handler: it is
    /// written before the phase flips, so a handler that sees Forcing sees the instant too.
    pub(crate) fn forced_at_cell(&self) -> &AtomicU64 {
        &self.inner.forced_at_ns
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

    /// `Ok(value)`, or `Err(Stopped)` once stopping has begun: [`Stop::check`] as a task's
    /// last expression, converted to the task's error type (a [`TaskError`](crate::TaskError)).
    ///
    /// ```
    /// # let stop = brake::Stop::new();
    /// let task = |stop: &brake::Stop, n: u64| -> brake::TaskResult<u64> { stop.checked(n * n) };
    /// assert_eq!(task(&stop, 3).unwrap(), 9);
    /// ```
    #[inline]
    pub fn checked<T, E: From<Stopped>>(&self, value: T) -> Result<T, E> {
        match self.check() {
            Ok(()) => Ok(value),
            Err(stopped) => Err(stopped.into()),
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
    ///
    /// Process-pool workers follow it too: SIGINT when stopping begins, SIGKILL at Forcing,
    /// unless the pool's [`Builder::termseq`](crate::process::Builder::termseq) sets a
    /// sequence of its own.
    pub fn set_grace(&self, grace: Duration) {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self.inner.grace_nanos.store(nanos, Ordering::Relaxed);
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

    /// Blocks until the phase is at least `phase`.
    pub fn wait_for(&self, phase: Phase) {
        let mut state = lock(&self.inner.state);
        while self.phase() < phase {
            state = wait(&self.inner.changed, state);
        }
    }

    /// Blocks until the phase is at least `phase` or the clock passes `deadline`; true if the
    /// phase was reached. For a timeout, pass `Instant::now() + timeout`.
    pub fn wait_for_deadline(&self, phase: Phase, deadline: Instant) -> bool {
        let mut state = lock(&self.inner.state);
        loop {
            if self.phase() >= phase {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = wait_timeout(&self.inner.changed, state, deadline - now).0;
        }
    }

    /// Sleeps for `duration`, or less if stopping begins first; says which. This is also the
    /// wait for stopping with a timeout: `stop.sleep(timeout).is_interrupted()`.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let stopped = match Instant::now().checked_add(duration) {
            Some(deadline) => self.wait_for_deadline(Phase::Stopping, deadline),
            None => {
                self.wait_for(Phase::Stopping);
                true
            }
        };
        if stopped {
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
        // have raised the atomic already (see invariant 2).
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
            self.inner
                .forced_at_ns
                .store(monotonic_ns().max(1), Ordering::SeqCst);
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
            unforceable: self.inner.unforceable.load(Ordering::SeqCst),
        };
        if let Some(mut line) = notice.line(&event) {
            // One write for the whole line, so output from other threads cannot split it.
            // Errors are ignored: a closed terminal (SIGHUP) must not turn a stop into a panic.
            line.push('\n');
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        #[cfg(feature = "tokio")]
        if let Some(tokens) = self.inner.tokens.get() {
            tokens.cancel_for(target);
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
                if !stop.wait_for_deadline(Phase::Forcing, deadline) {
                    stop.force_because(Reason::GraceElapsed);
                }
            });
        if spawned.is_err() {
            // No thread to time the grace: force now rather than risk never forcing.
            self.force_because(Reason::GraceElapsed);
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock a signal handler can read. Async-signal-safe.
pub(crate) fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec on this stack frame; clock_gettime is
    // async-signal-safe and writes only there.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// Work that a forced stop cannot cut short is running while this guard lives; made by
/// [`Stop::unforceable`].
///
/// Dropping it ends the section.
#[must_use = "the section ends when the guard is dropped"]
pub struct Unforceable {
    stop: Stop,
}

impl Drop for Unforceable {
    fn drop(&mut self) {
        self.stop.inner.unforceable.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Unforceable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unforceable")
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
