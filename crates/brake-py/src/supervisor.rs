//! A pool's supervisor thread: it spawns the workers, hands them tasks, reads their answers,
//! replaces the ones that crash, and runs the stop.
//!
//! # Theory of operation
//!
//! One thread per pool, named `brake-py-pool`, does all of it in one `poll` loop, and lives
//! until the last worker is reaped. It is the only thread that spawns workers, so the
//! parent-death signal (which Linux ties to the spawning *thread*) fires only when the process
//! dies. Python threads talk to it through [`Shared`]: tasks go into a queue and the thread is
//! woken through an eventfd; answers come back as [`Event`]s under the same lock, with a
//! condition variable for whoever waits.
//!
//! Workers (`brake::child::Child`, SIGKILL on parent death) start in a session of their own,
//! so each leads its own process group; SIGINT is ignored until their own handler is in place;
//! they read tasks and write answers on two pipes whose descriptors `BRAKE_PY_FDS` names
//! ([`crate::wire`]); the descriptors keep the numbers they have here, so that no other
//! pre-exec step (joining a cgroup writes to a descriptor of its own) finds one of them
//! moved onto its own. The session
//! is what lets a Ctrl-C raise `KeyboardInterrupt` in the main thread within a millisecond
//! while every worker is busy: where the kernel groups scheduling by session (autogroup), a
//! worker in the terminal's session shares the program's group, and the main thread, woken by
//! the signal, waits behind the busy workers' time slices before it runs. A worker gets tasks only after it said it is ready, a few at
//! a time (more when the queue is long), and answers each before it starts the next.
//!
//! **The stop.** The pool is stopping from the first Ctrl-C after it was created (see
//! [`crate::hook`]), or from [`Shared::stop`]. The hook has already sent every worker's group the
//! first signal of the termination sequence; on `stop()` this thread sends it. Then queued
//! tasks are answered [`EventKind::NotStarted`] at once and every task pipe is closed, so no
//! worker gets another task; a worker that was told finishes its answer and exits. After the
//! grace (the sequence's first wait) what still runs gets the rest of the sequence, each signal
//! to the worker's whole group (`Sequence`); a second Ctrl-C (or [`Shared::force`]) jumps to
//! SIGKILL. When the last
//! worker is reaped, descendants that escaped their group are swept (see below).
//!
//! **Escaped descendants.** A task may start a process that leaves the worker's group and
//! session (`setsid`, a daemon's double fork); no group signal reaches it. When the last worker
//! is reaped, after a stop and after a normal end alike, such leftovers are ended:
//!
//! - where this process can create a cgroup (cgroup v2, writable: root, or a delegated systemd
//!   scope), every worker starts in a cgroup of the pool's own, and `cgroup.kill` ends what is
//!   left in it, however it left, even with a scrubbed environment;
//! - elsewhere, every process anywhere that carries the pool's environment marker (inherited
//!   from its worker) is ended (`brake::child::end_marked`), wherever it was re-parented.
//!   That walk reads every process's environment; it runs only when a process begun since
//!   the pool's start carries the marker, or when that cannot be told (see [`crate::escape`]).
//!
//! The process is never made a child subreaper: that is process-wide and lasts, and a library
//! imported into any program would make it the parent of every orphan of its descendants, the
//! program's own among them, which nothing in the program reaps.
//!
//! **A crash.** A worker that dies outside a stop fails the task it was running
//! ([`EventKind::Died`]); the tasks queued behind it go back to the front of the queue, and a
//! new worker takes its place.
//!
//! # Invariants
//!
//! 1. A worker's group is in the hook's table only while the worker is unreaped: the slot is
//!    removed before `Supervisor::reap_ended` reaps it (see `crate::hook`), and this thread
//!    signals a worker's group only while the worker is unreaped, so a group id is never
//!    signalled after it may have been reused.
//! 2. Every task handed to the pool ends in exactly one event.
//! 3. No task is handed to a worker once the pool is stopping or broken: the phase is read
//!    (one atomic load) right before each frame is built.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use brake::child::cgroup::{self, RunCgroup};
use brake::child::{end_marked, Child, ChildOptions};
use brake::{signal_name, TermSeq, TermStep};

use crate::escape::Since;
use crate::hook::{self, GroupSlot, WakerSlot};
use crate::wire::{self, Reply};

/// How a task ended, as the Python side learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    /// Returned; payload: the pickled value.
    Done = 2,
    /// Raised; payload: the pickled exception and traceback text.
    Failed = 3,
    /// Running when the stop came, and ended by its `KeyboardInterrupt`; payload as `Failed`.
    Interrupted = 4,
    /// Never ran: the stop (or a cancel) came first. No payload.
    NotStarted = 5,
    /// Running when the stop came, and ended by the termination sequence; payload: how the
    /// worker ended, as text.
    Killed = 6,
    /// Its worker died under it outside a stop; payload: how the worker ended, as text.
    Died = 7,
    /// The pool broke (a worker's initializer raised, or no worker could be started) before it
    /// ran; payload: the pickled traceback text, or an error message.
    Broken = 8,
}

/// One task's end.
#[derive(Debug)]
pub struct Event {
    /// The task's id, from [`Shared::submit`].
    pub id: u64,
    /// How it ended.
    pub kind: EventKind,
    /// What the kind says.
    pub payload: Vec<u8>,
}

/// How a pool is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// The worker's command line: program, then arguments.
    pub argv: Vec<OsString>,
    /// Environment variables set on every worker, on top of this process's.
    pub env: Vec<(OsString, OsString)>,
    /// How many workers run at once.
    pub workers: usize,
    /// The start-up payload every worker reads first.
    pub init: Vec<u8>,
    /// How a worker is ended once the pool stops.
    pub termseq: TermSeq,
    /// A worker is replaced after this many tasks.
    pub max_tasks: Option<usize>,
    /// The environment marker (key, value) every worker carries, for the escapee sweep.
    pub marker: (String, String),
}

/// Task counts, for the Python side's report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Tasks that returned.
    pub done: u64,
    /// Tasks that raised.
    pub failed: u64,
    /// Tasks that the stop interrupted and that ended by it.
    pub interrupted: u64,
    /// Tasks that never ran.
    pub not_started: u64,
    /// Tasks that the termination sequence ended.
    pub killed: u64,
    /// Tasks whose worker died under them.
    pub died: u64,
    /// Tasks failed because the pool broke.
    pub broken: u64,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<(u64, Vec<u8>)>,
    events: VecDeque<Event>,
    /// No more tasks: once the queue is empty, workers are told to exit.
    closing: bool,
    stop_requested: bool,
    force_requested: bool,
    /// The supervisor is (about to be) asleep in `poll`: a submit that makes the queue
    /// `wake_at` tasks long writes the eventfd.
    sleeping: bool,
    /// The queue length at which a worker would take tasks; shorter, a submit lets the
    /// supervisor sleep (a worker's answer wakes it, and it hands the queue out then).
    wake_at: usize,
    /// Every worker is reaped and the thread is gone.
    ended: bool,
    stopped: bool,
    broken: Option<Vec<u8>>,
    counts: Counts,
    /// Tasks handed to workers and not answered yet.
    running: usize,
    pids: Vec<u32>,
    /// Escaped descendants the final sweep ended.
    swept: Vec<String>,
    /// The pool's cgroup, if it has one.
    cgroup: Option<String>,
}

/// What the Python threads and the supervisor share.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Dropped before `wake` (field order): the hook never writes to a closed descriptor.
    _waker_slot: WakerSlot,
    wake: OwnedFd,
    /// The press count when the pool was made (see `crate::hook`).
    base: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: a write of 8 bytes from a live local to the eventfd this struct owns.
        unsafe {
            libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Queues task `id` (the caller's, unique in this pool: its events carry it); returns
    /// false if the pool no longer takes tasks (closing, stopping, broken).
    pub fn submit(&self, id: u64, payload: Vec<u8>) -> bool {
        let mut state = self.lock();
        if state.closing || state.stopped || state.broken.is_some() || self.stopping() {
            return false;
        }
        state.queue.push_back((id, payload));
        if state.sleeping && state.queue.len() >= state.wake_at {
            state.sleeping = false;
            drop(state);
            self.wake();
        }
        true
    }

    /// Takes a task out of the queue if it has not been handed to a worker; it then ends in no
    /// event. Returns whether it was still queued.
    pub fn cancel(&self, id: u64) -> bool {
        let mut state = self.lock();
        let Some(at) = state.queue.iter().position(|(queued, _)| *queued == id) else {
            return false;
        };
        state.queue.remove(at);
        true
    }

    /// Ends every queued task as not started (they never run).
    pub fn cancel_queued(&self) {
        let mut state = self.lock();
        let queued: Vec<_> = state.queue.drain(..).collect();
        for (id, _) in queued {
            push_event(&mut state, id, EventKind::NotStarted, Vec::new());
        }
        drop(state);
        self.changed.notify_all();
    }

    /// No more tasks; the workers exit once the queue is done.
    pub fn close(&self) {
        self.lock().closing = true;
        self.wake();
    }

    /// Stops the pool as a Ctrl-C would (when none came).
    pub fn stop(&self) {
        self.lock().stop_requested = true;
        self.wake();
    }

    /// Forces the stop: SIGKILL to every worker.
    pub fn force(&self) {
        let mut state = self.lock();
        state.stop_requested = true;
        state.force_requested = true;
        drop(state);
        self.wake();
    }

    /// Whether a Ctrl-C came since the pool was made.
    pub fn stopping(&self) -> bool {
        hook::presses_since(self.base) >= 1
    }

    fn forcing(&self) -> bool {
        hook::presses_since(self.base) >= 2
    }

    /// Takes every event so far; waits up to `timeout` (`None`: without limit) for one if there
    /// is none. The flag says that the pool has ended and no event will follow.
    pub fn take_events(&self, timeout: Option<Duration>) -> (Vec<Event>, bool) {
        let until = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut state = self.lock();
        loop {
            if !state.events.is_empty() || state.ended {
                let events = state.events.drain(..).collect();
                return (events, state.ended);
            }
            state = match until {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(until) => {
                    let now = Instant::now();
                    if now >= until {
                        return (Vec::new(), false);
                    }
                    self.changed
                        .wait_timeout(state, until - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Whether every worker is reaped and the supervisor is gone (it moves the epoch, see
    /// `crate::epoch`, when that happens).
    pub fn ended(&self) -> bool {
        self.lock().ended
    }

    /// A snapshot for the report: counts, queued, running, worker pids, whether stopped,
    /// whether ended, what the sweep ended.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            counts: state.counts,
            queued: state.queue.len(),
            running: state.running,
            pids: state.pids.clone(),
            stopped: state.stopped || self.stopping(),
            ended: state.ended,
            broken: state.broken.clone(),
            swept: state.swept.clone(),
            cgroup: state.cgroup.clone(),
        }
    }
}

/// What [`Shared::snapshot`] returns.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Tasks ended so far, by how.
    pub counts: Counts,
    /// Tasks waiting for a worker.
    pub queued: usize,
    /// Tasks handed to workers and not answered.
    pub running: usize,
    /// The live workers' process ids.
    pub pids: Vec<u32>,
    /// Whether the pool is stopping (or stopped).
    pub stopped: bool,
    /// Whether every worker is gone.
    pub ended: bool,
    /// Why the pool broke, if it did.
    pub broken: Option<Vec<u8>>,
    /// Escaped descendants the final sweep ended.
    pub swept: Vec<String>,
    /// The directory of the pool's cgroup, if it has one.
    pub cgroup: Option<String>,
}

fn push_event(state: &mut State, id: u64, kind: EventKind, payload: Vec<u8>) {
    let counts = &mut state.counts;
    match kind {
        EventKind::Done => counts.done += 1,
        EventKind::Failed => counts.failed += 1,
        EventKind::Interrupted => counts.interrupted += 1,
        EventKind::NotStarted => counts.not_started += 1,
        EventKind::Killed => counts.killed += 1,
        EventKind::Died => counts.died += 1,
        EventKind::Broken => counts.broken += 1,
    }
    state.events.push_back(Event { id, kind, payload });
}

/// Starts a pool: the shared state and its supervisor thread.
pub fn start(config: Config) -> io::Result<Arc<Shared>> {
    hook::install()?;
    // SAFETY: eventfd(2) with valid flags; the result is checked before it is owned.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let wake = unsafe { OwnedFd::from_raw_fd(raw) };
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        _waker_slot: WakerSlot::add(wake.as_raw_fd()),
        wake,
        base: hook::PRESSES.load(std::sync::atomic::Ordering::SeqCst),
    });
    let plan = Plan::new(&config.termseq)?;
    let thread_shared = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("brake-py-pool".into())
        .spawn(move || {
            block_sigint();
            let cgroup = own_cgroup();
            let since = cgroup.is_none().then(Since::now).flatten();
            thread_shared.lock().cgroup = cgroup
                .as_ref()
                .map(|cgroup| cgroup.path().display().to_string());
            let mut supervisor = Supervisor {
                shared: thread_shared,
                cgroup,
                since,
                config,
                plan,
                workers: Vec::new(),
                stop: None,
            };
            supervisor.run();
        })?;
    Ok(shared)
}

/// What the pools' cgroup names begin with: `brake-py.<n>-<pid>-<start time>`, `n` telling a
/// process's pools apart (see `brake::child::cgroup::run_name`).
const CGROUP_STEM: &str = "brake-py.";

/// Tells this process's pools' cgroups apart.
static NEXT_CGROUP: AtomicU64 = AtomicU64::new(0);

/// A cgroup for a new pool's workers, where this process may create one and
/// `BRAKE_PY_CGROUP` is not `0`. The first call in a process first removes the pools' cgroups
/// that processes now gone left behind.
fn own_cgroup() -> Option<RunCgroup> {
    if std::env::var_os("BRAKE_PY_CGROUP").is_some_and(|value| value == "0") {
        return None;
    }
    static CLEANED: Once = Once::new();
    CLEANED.call_once(remove_stale_cgroups);
    let stem = format!(
        "{CGROUP_STEM}{}",
        NEXT_CGROUP.fetch_add(1, Ordering::Relaxed)
    );
    RunCgroup::create(&cgroup::run_name(&stem)).ok()
}

fn remove_stale_cgroups() {
    let Ok(dir) = cgroup::own_dir() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut stems: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.rsplitn(3, '-').nth(2)?;
            stem.starts_with(CGROUP_STEM).then(|| stem.to_owned())
        })
        .collect();
    stems.sort();
    stems.dedup();
    for stem in stems {
        for dir in cgroup::stale(&stem) {
            let _ = cgroup::end_at(&dir);
        }
    }
}

/// Keeps SIGINT off this thread, so the kernel delivers a Ctrl-C to a thread that Python can
/// interrupt (its main thread), not to one that would only run the handler.
fn block_sigint() {
    // SAFETY: a zeroed sigset filled by sigemptyset/sigaddset; pthread_sigmask changes only
    // this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The termination sequence split where brake-py takes it apart: the first signal (sent by the
/// hook, or by `stop()`), the grace after it, and the rest (run by [`Sequence`]).
#[derive(Debug, Clone)]
struct Plan {
    first: i32,
    grace: Duration,
    rest: Vec<TermStep>,
}

impl Plan {
    fn new(seq: &TermSeq) -> io::Result<Plan> {
        let steps = seq.steps();
        let Some(&TermStep::Signal(first)) = steps.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a termination sequence for a pool begins with a signal",
            ));
        };
        let (grace, rest) = match steps.get(1) {
            Some(&TermStep::Wait(wait)) => (wait, &steps[2..]),
            _ => (Duration::ZERO, &steps[1..]),
        };
        let rest = if rest.is_empty() {
            vec![TermStep::Signal(libc::SIGKILL)]
        } else {
            rest.to_vec()
        };
        Ok(Plan { first, grace, rest })
    }
}

/// Sends `signal` to process group `pgid`. The caller makes sure the group's leader is
/// unreaped (invariant 1).
fn kill_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// Whether a stopped process would need SIGCONT to act on `signal`.
fn continue_after(signal: i32) -> bool {
    ![
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGCONT,
    ]
    .contains(&signal)
}

/// One worker's termination sequence after the grace: the plan's later steps, each signal sent
/// to the worker's process group (with SIGCONT after it, for a stopped group), each wait kept.
#[derive(Debug, Default)]
struct Sequence {
    next: usize,
    /// When the next step is due; `None` while it is due now.
    wait_until: Option<Instant>,
    /// The sequence is over (or forced): only the worker's end is awaited.
    over: bool,
    /// The last signal this sequence sent, for the report.
    sent: Option<i32>,
}

impl Sequence {
    /// When the next step is due; `None` once the sequence is over.
    fn next_due(&self) -> Option<Instant> {
        if self.over {
            return None;
        }
        Some(self.wait_until.unwrap_or_else(Instant::now))
    }

    /// Sends every step due at `now` to group `pgid` (whose leader is unreaped), or SIGKILL at
    /// once when `forcing`.
    fn advance(&mut self, steps: &[TermStep], pgid: u32, forcing: bool, now: Instant) {
        if self.over {
            return;
        }
        if forcing {
            kill_group(pgid, libc::SIGKILL);
            self.sent = Some(libc::SIGKILL);
            self.over = true;
            return;
        }
        loop {
            if let Some(at) = self.wait_until {
                if now < at {
                    return;
                }
                self.wait_until = None;
            }
            match steps.get(self.next) {
                None => {
                    self.over = true;
                    return;
                }
                Some(&TermStep::Signal(signal)) => {
                    kill_group(pgid, signal);
                    if continue_after(signal) {
                        kill_group(pgid, libc::SIGCONT);
                    }
                    self.sent = Some(signal);
                }
                Some(&TermStep::Wait(wait)) => match now.checked_add(wait) {
                    Some(at) => self.wait_until = Some(at),
                    None => {
                        self.over = true;
                        return;
                    }
                },
            }
            self.next += 1;
        }
    }
}

/// The stop, once it began.
#[derive(Debug)]
struct StopState {
    grace_end: Option<Instant>,
    forced: bool,
}

struct Worker {
    child: Child,
    slot: GroupSlot,
    /// The task pipe; `None` once closed (the worker gets no more tasks).
    to: Option<OwnedFd>,
    outbox: Vec<u8>,
    sent: usize,
    from: OwnedFd,
    inbox: Vec<u8>,
    /// Tasks handed over and not answered, in order, with their payloads (a task a crashed
    /// worker never began goes back to the queue).
    assigned: VecDeque<(u64, Vec<u8>)>,
    ready: bool,
    handed: usize,
    /// The rest of the termination sequence, once the grace is over.
    sequence: Option<Sequence>,
    /// The result pipe reached end of file.
    eof: bool,
    /// Reaped: from then on its group id is never signalled.
    reaped: bool,
    /// The last `poll` found its result pipe readable (or closed).
    readable: bool,
    /// The last `poll` found it ended.
    ended: bool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.reaped {
            // The leader is unreaped (the `Child`, dropped after this, kills and reaps it), so
            // the group id is still its own.
            self.slot.remove();
            kill_group(self.child.id(), libc::SIGKILL);
        }
    }
}

struct Supervisor {
    shared: Arc<Shared>,
    /// The pool's own cgroup, where one could be created.
    cgroup: Option<RunCgroup>,
    /// Where the process ids stood before the first worker, without a cgroup.
    since: Option<Since>,
    config: Config,
    plan: Plan,
    workers: Vec<Worker>,
    stop: Option<StopState>,
}

impl Supervisor {
    fn run(&mut self) {
        loop {
            self.check_stop();
            self.fill();
            self.dispatch();
            if self.finished() {
                break;
            }
            self.wait();
            // A worker that exits on a press may be seen before the press would be: a stop
            // begun first makes its unanswered tasks not started, not died.
            self.check_stop();
            self.read_all();
            self.reap_ended();
            self.advance_terminations();
        }
        let swept = self
            .sweep()
            .into_iter()
            .map(|swept| swept.to_string())
            .collect();
        let mut state = self.shared.lock();
        state.swept = swept;
        state.ended = true;
        state.pids.clear();
        drop(state);
        self.shared.changed.notify_all();
        crate::epoch::bump();
    }

    /// Ends the descendants left once every worker is reaped (see the module docs).
    fn sweep(&mut self) -> Vec<brake::child::Swept> {
        let (key, value) = &self.config.marker;
        if let Some(cgroup) = self.cgroup.take() {
            if let Ok(swept) = cgroup.end() {
                return swept;
            }
        }
        if let Some(since) = &self.since {
            if !since.marked_may_remain(key, value) {
                return Vec::new();
            }
        }
        end_marked(key, value, &[])
    }

    /// Notices a stop (a press, `stop()`, `force()`) and begins it.
    fn check_stop(&mut self) {
        let (requested, force_requested) = {
            let state = self.shared.lock();
            (state.stop_requested, state.force_requested)
        };
        let pressed = self.shared.stopping();
        if self.stop.is_none() && (pressed || requested) {
            for worker in &self.workers {
                // The hook signalled the registered ones already.
                if !pressed || !worker.slot.registered() {
                    kill_group(worker.child.id(), self.plan.first);
                }
            }
            let grace_end = Instant::now().checked_add(self.plan.grace);
            self.stop = Some(StopState {
                grace_end,
                forced: false,
            });
            let mut state = self.shared.lock();
            state.stopped = true;
            let queued: Vec<_> = state.queue.drain(..).collect();
            for (id, _) in queued {
                push_event(&mut state, id, EventKind::NotStarted, Vec::new());
            }
            drop(state);
            self.shared.changed.notify_all();
            for worker in &mut self.workers {
                worker.to = None;
                worker.outbox.clear();
            }
        }
        if let Some(stop) = &mut self.stop {
            if !stop.forced && (force_requested || self.shared.forcing()) {
                stop.forced = true;
                stop.grace_end = Some(Instant::now());
            }
        }
    }

    /// Keeps the pool at its size while there is (or may be) work.
    fn fill(&mut self) {
        if self.stop.is_some() {
            return;
        }
        let (wanted, broken) = {
            let state = self.shared.lock();
            let wanted = if state.closing && state.queue.is_empty() {
                0
            } else {
                self.config.workers
            };
            (wanted, state.broken.is_some())
        };
        if broken {
            return;
        }
        let alive = self.workers.len();
        for _ in alive..wanted {
            match self.spawn() {
                Ok(worker) => {
                    self.shared.lock().pids.push(worker.child.id());
                    self.workers.push(worker);
                }
                Err(err) => {
                    if self.workers.is_empty() {
                        self.break_pool(format!("cannot start a worker: {err}").into_bytes());
                    }
                    return;
                }
            }
        }
    }

    fn spawn(&self) -> io::Result<Worker> {
        let (task_read, task_write) = pipe()?;
        let (result_read, result_write) = pipe()?;
        set_nonblocking(task_write.as_raw_fd())?;
        set_nonblocking(result_read.as_raw_fd())?;
        let mut command = Command::new(&self.config.argv[0]);
        command
            .args(&self.config.argv[1..])
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .env(&self.config.marker.0, &self.config.marker.1)
            .env(
                "BRAKE_PY_FDS",
                format!("{},{}", task_read.as_raw_fd(), result_write.as_raw_fd()),
            )
            .stdin(Stdio::null());
        let (tasks, results) = (task_read.as_raw_fd(), result_write.as_raw_fd());
        // SAFETY: runs in the forked child before exec; `prepare_child` calls only setsid(2),
        // fcntl(2), dup2(2), sigaction(2) and sigprocmask(2) on copied integers and stack
        // locals: all async-signal-safe, no allocation, no lock.
        unsafe {
            command.pre_exec(move || prepare_child(tasks, results));
        }
        // The worker makes its own session (and so its own group) in `prepare_child`: with
        // `own_group` std would make it a group leader first, and a leader cannot start a
        // session. Its group is signalled here and by the hook, not through `Child`.
        let options = ChildOptions {
            own_group: false,
            reset_signals: false,
            cgroup: self.cgroup.as_ref().map(RunCgroup::join),
            ..ChildOptions::default()
        };
        let child = Child::spawn(&mut command, &options)?;
        drop(task_read);
        drop(result_write);
        let slot = GroupSlot::add(child.id(), self.plan.first, self.shared.base);
        let mut outbox = Vec::new();
        wire::put_items(&mut outbox, std::iter::once(self.config.init.as_slice()));
        Ok(Worker {
            child,
            slot,
            to: Some(task_write),
            outbox,
            sent: 0,
            from: result_read,
            inbox: Vec::new(),
            assigned: VecDeque::new(),
            ready: false,
            handed: 0,
            sequence: None,
            eof: false,
            reaped: false,
            readable: false,
            ended: false,
        })
    }

    /// Marks the pool broken: every queued and running task ends `Broken`, no worker is
    /// started again, and the task pipes close.
    fn break_pool(&mut self, why: Vec<u8>) {
        let mut state = self.shared.lock();
        if state.broken.is_none() {
            state.broken = Some(why.clone());
        }
        let queued: Vec<_> = state.queue.drain(..).collect();
        for (id, _) in queued {
            push_event(&mut state, id, EventKind::Broken, why.clone());
        }
        for worker in &mut self.workers {
            for (id, _) in worker.assigned.drain(..) {
                state.running -= 1;
                push_event(&mut state, id, EventKind::Broken, why.clone());
            }
            worker.to = None;
            worker.outbox.clear();
        }
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Hands queued tasks to ready workers that have room (invariant 3). The lock is held only
    /// to take the tasks out of the queue: frames are built and written after.
    fn dispatch(&mut self) {
        if self.stop.is_some() {
            return;
        }
        let mut handed = Vec::new();
        {
            let mut state = self.shared.lock();
            if state.broken.is_some() {
                return;
            }
            let closing_done = state.closing && state.queue.is_empty();
            for (index, worker) in self.workers.iter_mut().enumerate() {
                if closing_done
                    && worker.assigned.is_empty()
                    && worker.sent >= worker.outbox.len()
                    && worker.ready
                {
                    worker.to = None;
                    continue;
                }
                let target = in_flight_target(state.queue.len(), self.config.workers);
                let room = worker.room(target, self.config.max_tasks);
                if room == 0 || state.queue.is_empty() {
                    continue;
                }
                // One load of the phase right before the tasks are taken (invariant 3).
                if self.shared.stopping() {
                    break;
                }
                let take = room.min(state.queue.len());
                let batch: Vec<(u64, Vec<u8>)> = state.queue.drain(..take).collect();
                state.running += batch.len();
                handed.push((index, batch));
            }
        }
        for (index, batch) in handed {
            let worker = &mut self.workers[index];
            worker.outbox.clear();
            worker.sent = 0;
            wire::put_items(
                &mut worker.outbox,
                batch.iter().map(|(_, payload)| payload.as_slice()),
            );
            worker.handed += batch.len();
            worker.assigned.extend(batch);
            worker.flush();
        }
    }

    fn finished(&self) -> bool {
        if !self.workers.is_empty() {
            return false;
        }
        let state = self.shared.lock();
        self.stop.is_some() || state.broken.is_some() || (state.closing && state.queue.is_empty())
    }

    /// Sleeps until a worker writes, ends or can take more of its frame, the eventfd is
    /// written, or the next step of a termination is due.
    fn wait(&mut self) {
        let mut fds = vec![libc::pollfd {
            fd: self.shared.wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // For each descriptor after the eventfd: its worker, and what it tells.
        let mut owners = Vec::with_capacity(3 * self.workers.len());
        for (index, worker) in self.workers.iter().enumerate() {
            if !worker.eof {
                fds.push(pollfd(worker.from.as_raw_fd(), libc::POLLIN));
                owners.push((index, Polled::Answers));
            }
            fds.push(pollfd(
                worker.child.pidfd().as_fd().as_raw_fd(),
                libc::POLLIN,
            ));
            owners.push((index, Polled::End));
            if let Some(to) = &worker.to {
                if worker.sent < worker.outbox.len() {
                    fds.push(pollfd(to.as_raw_fd(), libc::POLLOUT));
                    owners.push((index, Polled::Room));
                }
            }
        }
        let mut deadline: Option<Instant> = None;
        if let Some(stop) = &self.stop {
            let mut consider = |at: Option<Instant>| {
                if let Some(at) = at {
                    deadline = Some(deadline.map_or(at, |d: Instant| d.min(at)));
                }
            };
            for worker in &self.workers {
                match &worker.sequence {
                    Some(sequence) => consider(sequence.next_due()),
                    None => consider(stop.grace_end),
                }
            }
        }
        let timeout_ms = match deadline {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            }
        };
        // Without a slot in the hook's table a press cannot wake this thread: look often.
        let timeout_ms = if self.shared._waker_slot.registered() {
            timeout_ms
        } else if timeout_ms < 0 {
            20
        } else {
            timeout_ms.min(20)
        };
        {
            let mut state = self.shared.lock();
            state.sleeping = true;
            state.wake_at = if self.workers.len() < self.config.workers {
                1
            } else {
                let (workers, max_tasks) = (self.config.workers, self.config.max_tasks);
                self.workers
                    .iter()
                    .map(|worker| worker.wake_at(workers, max_tasks))
                    .min()
                    .unwrap_or(usize::MAX)
            };
            let target = in_flight_target(state.queue.len(), self.config.workers);
            let max_tasks = self.config.max_tasks;
            if !state.queue.is_empty()
                && self
                    .workers
                    .iter()
                    .any(|worker| worker.room(target, max_tasks) > 0)
            {
                state.sleeping = false;
                return;
            }
        }
        // SAFETY: `fds` is a live, correctly sized array of pollfd.
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms);
        }
        self.shared.lock().sleeping = false;
        if fds[0].revents != 0 {
            let mut drain = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a live local from the non-blocking eventfd.
            unsafe {
                libc::read(self.shared.wake.as_raw_fd(), drain.as_mut_ptr().cast(), 8);
            }
        }
        // Only what `poll` reported is looked at: it is level-triggered, so what is not
        // reported now is reported by the next call.
        for (fd, &(index, what)) in fds[1..].iter().zip(&owners) {
            if fd.revents == 0 {
                continue;
            }
            let worker = &mut self.workers[index];
            match what {
                Polled::Answers => worker.readable = true,
                Polled::End => worker.ended = true,
                Polled::Room => worker.flush(),
            }
        }
    }

    /// Reads the answers of the workers whose result pipe `poll` found readable.
    fn read_all(&mut self) {
        for index in 0..self.workers.len() {
            if std::mem::take(&mut self.workers[index].readable) {
                self.read_worker(index);
            }
        }
    }

    fn read_worker(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        if worker.eof {
            return;
        }
        loop {
            worker.inbox.reserve(READ_CHUNK);
            let spare = worker.inbox.spare_capacity_mut();
            // SAFETY: reads at most `spare.len()` bytes into the vector's spare capacity, which
            // is allocated and not otherwise borrowed.
            let n = unsafe {
                libc::read(
                    worker.from.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                )
            };
            if n > 0 {
                // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
                unsafe { worker.inbox.set_len(worker.inbox.len() + n as usize) };
                continue;
            }
            if n == 0 {
                worker.eof = true;
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if err.kind() != io::ErrorKind::WouldBlock {
                worker.eof = true;
            }
            break;
        }
        let mut offset = 0;
        let mut broke: Option<Vec<u8>> = None;
        // Parsed without the lock, which the submitting thread waits for holding the GIL.
        let mut answered = Vec::new();
        loop {
            match wire::next_frame(&worker.inbox[offset..]) {
                Ok(Some((body, next))) => {
                    let body = &worker.inbox[offset + body.start..offset + body.end];
                    offset += next;
                    let Some((&byte, payload)) = body.split_first() else {
                        continue;
                    };
                    match Reply::from_byte(byte) {
                        Some(Reply::Ready) => worker.ready = true,
                        Some(Reply::InitFailed) => broke = Some(payload.to_vec()),
                        Some(reply) => {
                            let Some((id, _)) = worker.assigned.pop_front() else {
                                continue;
                            };
                            let kind = match reply {
                                Reply::Done => EventKind::Done,
                                Reply::Failed => EventKind::Failed,
                                Reply::Interrupted => EventKind::Interrupted,
                                _ => EventKind::NotStarted,
                            };
                            answered.push((id, kind, payload.to_vec()));
                        }
                        None => {}
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    // A corrupt stream: nothing more from this worker can be trusted.
                    worker.eof = true;
                    kill_group(worker.child.id(), libc::SIGKILL);
                    break;
                }
            }
        }
        worker.inbox.drain(..offset);
        if !answered.is_empty() {
            let mut state = self.shared.lock();
            for (id, kind, payload) in answered {
                state.running -= 1;
                push_event(&mut state, id, kind, payload);
            }
            drop(state);
            self.shared.changed.notify_all();
        }
        if let Some(why) = broke {
            self.break_pool(why);
        }
    }

    /// Finishes the workers that ended: their last answers, their unanswered tasks, a
    /// replacement if the pool goes on.
    fn reap_ended(&mut self) {
        let mut index = 0;
        while index < self.workers.len() {
            // `poll` reports an end: a worker it did not report has not ended, or is reported
            // next time.
            let ended = std::mem::take(&mut self.workers[index].ended)
                && self.workers[index].child.try_wait_pinned();
            if !ended {
                index += 1;
                continue;
            }
            self.read_worker(index);
            let mut worker = self.workers.swap_remove(index);
            worker.slot.remove();
            // What is left of the worker's group goes, while the ended leader still pins the
            // group id; then the leader is reaped.
            kill_group(worker.child.id(), libc::SIGKILL);
            let exit = worker.child.try_wait();
            worker.reaped = true;
            let sent = worker.sequence.as_ref().and_then(|sequence| sequence.sent);
            let how = match &exit {
                Ok(Some(exit)) => {
                    let by = match (sent, exit.signal()) {
                        (Some(sent), Some(got)) if sent == got => " (sent by brake)".to_owned(),
                        (Some(sent), _) => format!(" (after {} sent by brake)", signal_name(sent)),
                        (None, _) => String::new(),
                    };
                    format!("worker (pid {}) ended: {exit}{by}", worker.child.id())
                }
                Ok(None) | Err(_) => format!("worker (pid {}) ended", worker.child.id()),
            };
            let killed = matches!(&exit, Ok(Some(exit)) if exit.signal().is_some());
            let mut state = self.shared.lock();
            let pid = worker.child.id();
            state.pids.retain(|&p| p != pid);
            let mut unanswered = worker.assigned.drain(..);
            if self.stop.is_some() {
                if let Some((id, _)) = unanswered.next() {
                    state.running -= 1;
                    let kind = if killed {
                        EventKind::Killed
                    } else {
                        EventKind::NotStarted
                    };
                    push_event(&mut state, id, kind, how.clone().into_bytes());
                }
                for (id, _) in unanswered {
                    state.running -= 1;
                    push_event(&mut state, id, EventKind::NotStarted, Vec::new());
                }
            } else {
                if let Some((id, _)) = unanswered.next() {
                    state.running -= 1;
                    push_event(&mut state, id, EventKind::Died, how.clone().into_bytes());
                }
                let rest: Vec<(u64, Vec<u8>)> = unanswered.collect();
                state.running -= rest.len();
                // Never begun: back to the front of the queue, in order.
                for task in rest.into_iter().rev() {
                    state.queue.push_front(task);
                }
            }
            drop(state);
            self.shared.changed.notify_all();
        }
    }

    /// Runs the termination sequence's later steps once the grace is over.
    fn advance_terminations(&mut self) {
        let Some(stop) = &self.stop else {
            return;
        };
        let now = Instant::now();
        let due = stop.grace_end.is_none_or(|end| now >= end) || stop.forced;
        if !due {
            return;
        }
        let forced = stop.forced;
        for worker in &mut self.workers {
            let sequence = worker.sequence.get_or_insert_with(Sequence::default);
            // An ended worker is reaped by `reap_ended`, after its slot is removed (invariant 1);
            // here only running workers are advanced, and none of them is reaped yet.
            if worker.child.try_wait_pinned() {
                continue;
            }
            sequence.advance(&self.plan.rest, worker.child.id(), forced, now);
        }
    }
}

impl Worker {
    /// How many tasks to hand this worker now, with `target` tasks per worker in flight: none
    /// until it is ready, has taken its last frame whole, and is down to half the target, so
    /// that frames are few and large, and a worker that has all it may take does not keep the
    /// supervisor awake.
    fn room(&self, target: usize, max_tasks: Option<usize>) -> usize {
        if !self.ready || self.to.is_none() || self.sent < self.outbox.len() {
            return 0;
        }
        if self.assigned.len() * 2 > target {
            return 0;
        }
        let room = target - self.assigned.len();
        match max_tasks {
            Some(max) => room.min(max.saturating_sub(self.handed)),
            None => room,
        }
    }

    /// The queue length at which [`Worker::room`] turns positive (`usize::MAX`: it waits for
    /// something else first: its start, its frame to drain, its end).
    fn wake_at(&self, workers: usize, max_tasks: Option<usize>) -> usize {
        let waiting = !self.ready || self.to.is_none() || self.sent < self.outbox.len();
        if waiting || max_tasks.is_some_and(|max| self.handed >= max) {
            return usize::MAX;
        }
        let workers = workers.max(1);
        match self.assigned.len() {
            0 => 1,
            1 => 2 * workers,
            held if 2 * held > MAX_IN_FLIGHT => usize::MAX,
            held => 4 * workers * held,
        }
    }

    /// Writes as much of the outbox as the pipe takes.
    fn flush(&mut self) {
        let Some(to) = &self.to else {
            return;
        };
        while self.sent < self.outbox.len() {
            let rest = &self.outbox[self.sent..];
            // SAFETY: writes from a live buffer of the given length.
            let n = unsafe { libc::write(to.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                self.sent += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if err.kind() != io::ErrorKind::WouldBlock {
                // The worker is gone; `reap_ended` handles its tasks.
                self.to = None;
            }
            break;
        }
    }
}

trait Pinned {
    /// Whether the child has ended (without reaping it).
    fn try_wait_pinned(&self) -> bool;
}

impl Pinned for Child {
    fn try_wait_pinned(&self) -> bool {
        let mut fd = pollfd(self.pidfd().as_raw_fd(), libc::POLLIN);
        // SAFETY: polls one live pollfd without waiting.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) };
        ready > 0 && fd.revents != 0
    }
}

/// What a descriptor in the supervisor's `poll` is watched for.
#[derive(Debug, Clone, Copy)]
enum Polled {
    /// A worker's result pipe: answers to read.
    Answers,
    /// A worker's pidfd: its end.
    End,
    /// A worker's task pipe: room for the rest of its frame.
    Room,
}

/// How much a read of a result pipe takes at most.
const READ_CHUNK: usize = 65536;

/// The most tasks a worker holds at once.
const MAX_IN_FLIGHT: usize = 64;

/// Tasks each worker should have in flight with `queued` tasks waiting: half the queue shared
/// out, at most [`MAX_IN_FLIGHT`]; at least two while there are two tasks for every worker
/// (so that a worker finds its next task waiting when it finishes one, and none is left idle
/// by another that took two), and at least one.
fn in_flight_target(queued: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    let least = if queued >= 2 * workers { 2 } else { 1 };
    (queued / (2 * workers)).clamp(least, MAX_IN_FLIGHT)
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In the forked child: a session of its own (see the module docs), the task and result pipes
/// kept open across exec, every signal at its default action but SIGINT, which stays ignored until the worker's handler is in place
/// (a Ctrl-C during start-up would otherwise print a traceback), and an empty signal mask.
fn prepare_child(tasks: RawFd, results: RawFd) -> io::Result<()> {
    // SAFETY: setsid, fcntl, sigaction and sigprocmask are async-signal-safe system calls on
    // integers and stack locals.
    unsafe {
        if libc::setsid() < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::fcntl(tasks, libc::F_SETFD, 0) < 0 || libc::fcntl(results, libc::F_SETFD, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
        for signal in 1..32 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = if signal == libc::SIGINT {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
    Ok(())
}
