//! [`ThreadPool`]: worker threads that run closures under a [`Stop`], and report every one.
//!
//! # Theory of operation
//!
//! Tasks wait in a crossbeam channel; each worker takes one, checks the stop, and runs it. A task
//! is one allocation shared by the queue and its [`Handle`]: a small state machine
//! `Queued → Running → Finished`, or `Queued → Cancelled` when a stop comes first.
//!
//! * **Stopping**: no queued task starts. Nothing walks the queue to cancel a million tasks: a
//!   task is cancelled by whoever sees it first after the stop (a worker taking it, or its
//!   handle), and [`ThreadPool::join`] counts every task that never started as cancelled. `join`
//!   returns as soon as no task is running.
//! * **Forcing**: `join` and every handle return at once. Tasks still running are abandoned and
//!   reported interrupted; as with daemon threads, the process may exit without them. The one
//!   wait that does not return is the end of a [`ThreadPool::scope`]: its tasks borrow from the
//!   caller's stack, so it waits for them to return (see `scope.rs`).
//!
//! # Invariants
//!
//! 1. A task runs only if its worker entered the *gate* (set its `inside` flag) and then saw the
//!    stop still Running. The flag and the stop's phase are both `SeqCst`, so once `join` has
//!    seen the stop and then every flag clear, no task can start any more (a Dekker handshake).
//! 2. A worker counts a task in `started` and then in `ended` while inside the gate.
//! 3. Lock order: the pool's `lock` before a task's `cell`. Workers never hold a `cell` while
//!    taking `lock`. A thread about to block checks its condition while holding `lock`, and
//!    whoever changes that condition takes `lock` before notifying, so no wake-up is lost.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;

use crate::error::Error;
use crate::outcome::{
    end_count_index, panic_message, EndCounts, Outcome, OutcomeKind, Report, TaskResult,
};
use crate::stop::{Activity, Phase, Stop, Subscription};
use crate::sync::{lock, wait};

mod scope;
pub use scope::{Scope, ScopedHandle};

/// A fixed set of worker threads running closures under one [`Stop`].
///
/// ```
/// use brake::{Outcome, Stop, ThreadPool};
///
/// let stop = Stop::new();
/// let pool = ThreadPool::new(&stop, 2)?;
/// let square = pool.submit(|_stop| Ok(7 * 7));
/// let squares: Vec<u64> = pool
///     .map(1..=4u64, |_stop, n| Ok(n * n))
///     .filter_map(Outcome::done)
///     .collect();
/// assert_eq!(square.wait().done(), Some(49));
/// assert_eq!(squares, [1, 4, 9, 16]);
/// assert!(pool.join().is_success());
/// # Ok::<(), brake::Error>(())
/// ```
///
/// Dropping the pool cancels the tasks that have not started (their handles report
/// `Cancelled`) and waits for the running ones to return, never past Forcing; the workers then
/// exit. [`ProcessPool`](crate::process::ProcessPool) does the same. Call [`ThreadPool::join`]
/// first to run everything submitted and get the report. Once stopping, each worker exits as
/// soon as its task returns (a stopped pool runs nothing again).
pub struct ThreadPool {
    shared: Arc<PoolCore>,
    sender: Sender<QueueEntry>,
    /// Kept only to look at the queue's length; the pool never receives from it.
    receiver: Receiver<QueueEntry>,
    workers: usize,
    _listeners: [Subscription; 2],
}

/// What the pool, its workers and its handles share.
///
/// Counters that change with every task live on cache lines of their own: each worker counts
/// in its own [`Tally`], and only `submitted` is shared, written by submitters alone.
struct PoolCore {
    stop: Stop,
    created: Instant,
    submitted: CachePadded<AtomicUsize>,
    /// Threads blocked in `join`.
    joining: CachePadded<AtomicUsize>,
    /// The pool was dropped: no queued task starts, as after a stop (invariant 1 holds for it
    /// as for the stop's phase).
    closed: AtomicBool,
    tallies: Box<[CachePadded<Tally>]>,
    lock: Mutex<()>,
    wake: Condvar,
}

/// One worker's counts, written only by that worker.
#[derive(Default)]
struct Tally {
    /// The worker is between deciding to start a task and finishing it (invariant 1).
    inside: AtomicBool,
    started: AtomicUsize,
    /// Finished tasks by how they ended: done, failed, panicked, interrupted.
    ended: [AtomicUsize; 4],
}

/// Adds one to a counter that only the calling worker writes: no read-modify-write needed.
fn bump(counter: &AtomicUsize) {
    counter.store(counter.load(Relaxed) + 1, SeqCst);
}

impl PoolCore {
    fn notify(&self) {
        let _guard = lock(&self.lock);
        self.wake.notify_all();
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, ()>) -> MutexGuard<'a, ()> {
        wait(&self.wake, guard)
    }

    /// The stop's phase, raised to Stopping once the pool is dropped: what a queued task's
    /// handle goes by.
    fn phase(&self) -> Phase {
        let phase = self.stop.phase();
        if self.closed.load(SeqCst) {
            phase.max(Phase::Stopping)
        } else {
            phase
        }
    }

    /// No queued task may start: the stop has begun or the pool was dropped.
    fn refusing(&self) -> bool {
        self.stop.is_stopping() || self.closed.load(SeqCst)
    }

    fn finished(&self) -> usize {
        self.tallies
            .iter()
            .flat_map(|tally| &tally.ended)
            .map(|count| count.load(SeqCst))
            .sum()
    }

    fn started(&self) -> usize {
        self.tallies.iter().map(|t| t.started.load(SeqCst)).sum()
    }

    /// No worker is inside the gate: once stopping, no task runs or can start (invariant 1).
    fn gate_empty(&self) -> bool {
        self.tallies.iter().all(|t| !t.inside.load(SeqCst))
    }

    /// The condition `join` waits for, in the phase it is in.
    fn run_over(&self, queue: &Receiver<QueueEntry>) -> bool {
        match self.phase() {
            Phase::Forcing => true,
            Phase::Stopping => self.gate_empty(),
            // A task still queued is a task not finished: no need to add up the tallies.
            Phase::Running => queue.is_empty() && self.finished() >= self.submitted.load(SeqCst),
        }
    }

    /// A worker leaves the gate; wakes `join` if it may now return.
    fn leave_gate(&self, tally: &Tally, queue: &Receiver<QueueEntry>) {
        tally.inside.store(false, SeqCst);
        if self.joining.load(SeqCst) > 0 && self.run_over(queue) {
            self.notify();
        }
    }

    fn activity(&self) -> Activity {
        let finished = self.finished();
        let started = self.started();
        let submitted = self.submitted.load(SeqCst);
        Activity {
            running: started.saturating_sub(finished),
            not_started: submitted.saturating_sub(started),
        }
    }

    fn report(&self) -> Report {
        let mut ended = EndCounts::default();
        for tally in self.tallies.iter() {
            for (sum, count) in ended.iter_mut().zip(&tally.ended) {
                *sum += count.load(SeqCst);
            }
        }
        let started = self.started();
        let submitted = self.submitted.load(SeqCst);
        Report::from_counts(ended, started, submitted, &self.stop, self.created)
    }
}

impl ThreadPool {
    /// Starts `workers` threads that run tasks until `stop` says otherwise.
    pub fn new(stop: &Stop, workers: usize) -> Result<ThreadPool, Error> {
        if workers == 0 {
            return Err(Error::NoWorkers);
        }
        let shared = Arc::new(PoolCore {
            stop: stop.clone(),
            created: Instant::now(),
            submitted: CachePadded::new(AtomicUsize::new(0)),
            joining: CachePadded::new(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            tallies: (0..workers).map(|_| CachePadded::default()).collect(),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let (sender, receiver) = crossbeam_channel::unbounded::<QueueEntry>();
        for index in 0..workers {
            let shared = shared.clone();
            let receiver = receiver.clone();
            thread::Builder::new()
                .name(format!("brake-worker-{index}"))
                .spawn(move || work(&shared, index, &receiver))
                .map_err(Error::SpawnThread)?;
        }
        // Weak references: the stop outlives the pool, and must not keep it alive.
        let on_change = Arc::downgrade(&shared);
        let on_activity = Arc::downgrade(&shared);
        let listeners = [
            stop.on_change(move |_| {
                if let Some(shared) = Weak::upgrade(&on_change) {
                    shared.notify();
                }
            }),
            stop.report_activity(move || {
                Weak::upgrade(&on_activity).map_or(Activity::default(), |s| s.activity())
            }),
        ];
        Ok(ThreadPool {
            shared,
            sender,
            receiver,
            workers,
            _listeners: listeners,
        })
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The stop this pool obeys.
    pub fn stop(&self) -> &Stop {
        &self.shared.stop
    }

    /// Queues `task`; it receives the pool's [`Stop`] to check while it works.
    ///
    /// Return `Err(Stopped.into())` (or use `stop.check()?`) when the stop cuts the work short;
    /// that is reported as interrupted, not failed. Once the stop has begun, `submit` queues
    /// nothing and the handle reports [`Outcome::Cancelled`].
    pub fn submit<T, F>(&self, task: F) -> Handle<T>
    where
        T: Send + 'static,
        F: FnOnce(&Stop) -> TaskResult<T> + Send + 'static,
    {
        self.shared.submitted.fetch_add(1, SeqCst);
        let queued = !self.shared.stop.is_stopping();
        let task = Arc::new(Task {
            cell: Mutex::new(if queued {
                Cell::Queued(task)
            } else {
                Cell::Cancelled
            }),
            waited: AtomicBool::new(false),
        });
        if queued {
            // Sending cannot fail: the pool holds a receiver as long as it holds the sender.
            let _ = self.sender.send(QueueEntry::Handled(task.clone()));
        }
        Handle {
            task,
            shared: self.shared.clone(),
        }
    }

    /// Queues `task` without a handle: its outcome is only counted in the report. Cheaper than
    /// [`ThreadPool::submit`] when nothing waits for one task's value; the value is dropped, and
    /// so is a failure's error (the report counts it) and a panic's message (the panic hook has
    /// printed it).
    pub fn spawn<T, F>(&self, task: F)
    where
        F: FnOnce(&Stop) -> TaskResult<T> + Send + 'static,
    {
        self.shared.submitted.fetch_add(1, SeqCst);
        if !self.shared.stop.is_stopping() {
            let entry = QueueEntry::Detached(Box::new(move |stop: &Stop| {
                Outcome::from_result(task(stop)).kind()
            }));
            let _ = self.sender.send(entry);
        }
    }

    /// Runs `task` over `inputs`, yielding outcomes in input order, with at most twice the
    /// number of workers in flight. See [`ThreadPool::map_bounded`].
    pub fn map<I, T, F>(&self, inputs: I, task: F) -> Map<'_, I::IntoIter, T, F>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
        F: Fn(&Stop, I::Item) -> TaskResult<T> + Send + Sync + 'static,
    {
        self.map_bounded(inputs, self.workers * 2, task)
    }

    /// Runs `task` over `inputs`, yielding outcomes in input order, with at most `in_flight`
    /// inputs taken from `inputs` and not yet yielded; a billion inputs never become a billion
    /// queued tasks.
    ///
    /// Once the stop has begun, no further input is taken: the iterator yields the outcomes of
    /// the inputs already in flight (`Cancelled` for those that had not started) and ends. The
    /// inputs never taken are left in the input iterator ([`Map::into_remaining`]).
    pub fn map_bounded<I, T, F>(
        &self,
        inputs: I,
        in_flight: usize,
        task: F,
    ) -> Map<'_, I::IntoIter, T, F>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
        F: Fn(&Stop, I::Item) -> TaskResult<T> + Send + Sync + 'static,
    {
        Map {
            pool: self,
            inputs: inputs.into_iter(),
            task: Arc::new(task),
            window: VecDeque::new(),
            in_flight: in_flight.max(1),
        }
    }

    /// Runs `task` over `inputs`, yielding each outcome as soon as it is known, with the index
    /// of its input (0 for the first), at most twice the number of workers in flight. A slow
    /// input holds back no other.
    ///
    /// Once the stop has begun no further input is taken: the outcomes of the inputs in flight
    /// follow (`Cancelled` for those not started), then the iterator ends; the inputs never
    /// taken are left in [`MapUnordered::into_remaining`]. The same call as
    /// [`ProcessPool::map_unordered`](crate::process::ProcessPool::map_unordered).
    ///
    /// ```
    /// # use brake::{Stop, ThreadPool};
    /// let pool = ThreadPool::new(&Stop::new(), 2)?;
    /// let files = ["a.txt", "b.txt", "c.txt"];
    /// for (index, outcome) in pool.map_unordered(files, |_stop, name| Ok(name.len())) {
    ///     println!("{}: {:?}", files[index], outcome.into_result());
    /// }
    /// # Ok::<(), brake::Error>(())
    /// ```
    pub fn map_unordered<I, T, F>(&self, inputs: I, task: F) -> MapUnordered<'_, I::IntoIter, T, F>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
        F: Fn(&Stop, I::Item) -> TaskResult<T> + Send + Sync + 'static,
    {
        MapUnordered {
            pool: self,
            inputs: inputs.into_iter(),
            next_index: 0,
            task: Arc::new(task),
            window: Vec::new(),
            in_flight: (self.workers * 2).max(1),
        }
    }

    /// Waits for the run to end and reports how every task submitted so far ended.
    ///
    /// Returns when every task has finished; or, once stopping, as soon as no task is running
    /// (queued tasks are reported cancelled); or at once when the stop is forced (running tasks
    /// are reported interrupted and abandoned). Never later.
    pub fn join(&self) -> Report {
        let shared = &self.shared;
        shared.joining.fetch_add(1, SeqCst);
        let mut guard = lock(&shared.lock);
        while !shared.run_over(&self.receiver) {
            guard = shared.wait(guard);
        }
        drop(guard);
        shared.joining.fetch_sub(1, SeqCst);
        shared.stop.wait_announced();
        shared.report()
    }
}

impl Drop for ThreadPool {
    /// Cancels the tasks that have not started and waits for the running ones to return, or
    /// for the stop to be forced.
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.closed.store(true, SeqCst);
        shared.joining.fetch_add(1, SeqCst);
        let mut guard = lock(&shared.lock);
        // Handles blocked on a queued task now see it cancelled.
        shared.wake.notify_all();
        while !(shared.stop.is_forcing() || shared.gate_empty()) {
            guard = shared.wait(guard);
        }
        drop(guard);
        shared.joining.fetch_sub(1, SeqCst);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("workers", &self.workers)
            .field("activity", &self.shared.activity())
            .finish()
    }
}

thread_local! {
    /// The pool whose worker this thread is (its core's address), 0 on other threads: how
    /// `scope` recognises a call from one of its own tasks.
    static WORKER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ThreadPool {
    /// Whether the calling thread is one of this pool's workers.
    pub(crate) fn is_own_worker(&self) -> bool {
        WORKER_OF.with(|pool| pool.get() == Arc::as_ptr(&self.shared) as usize)
    }
}

/// A worker's life: take tasks until the pool is dropped and the queue is empty, or a stop.
fn work(shared: &PoolCore, index: usize, receiver: &Receiver<QueueEntry>) {
    WORKER_OF.with(|pool| pool.set(shared as *const PoolCore as usize));
    let tally = &shared.tallies[index];
    for entry in receiver {
        tally.inside.store(true, SeqCst);
        if shared.refusing() {
            shared.leave_gate(tally, receiver);
            if let QueueEntry::Handled(task) = entry {
                task.cancel(shared);
            }
            // A stopped pool never runs anything again, so the worker ends here rather than
            // cancel the rest of the queue: draining a million closures would only compete for
            // the cores with the tasks that are still returning. The queue is freed with the pool.
            return;
        }
        match entry {
            QueueEntry::Handled(task) => task.run(shared, tally),
            QueueEntry::Detached(task) => {
                bump(&tally.started);
                let kind = match panic::catch_unwind(AssertUnwindSafe(|| task(&shared.stop))) {
                    Ok(kind) => kind,
                    Err(_) => OutcomeKind::Panicked,
                };
                bump(&tally.ended[end_count_index(kind)]);
            }
        }
        shared.leave_gate(tally, receiver);
    }
}

/// What the queue holds: a task with a [`Handle`], or a detached one that only the report sees.
enum QueueEntry {
    Handled(Arc<dyn Runnable>),
    Detached(Box<dyn FnOnce(&Stop) -> OutcomeKind + Send>),
}

/// A task with a handle, as the worker sees it, whatever its closure and result types.
trait Runnable: Send + Sync {
    /// Runs the task if it is still queued (its handle may have cancelled it first), counting
    /// it in `tally`.
    fn run(&self, shared: &PoolCore, tally: &Tally);
    /// Cancels the task if it is still queued.
    fn cancel(&self, shared: &PoolCore);
}

enum Cell<F, T> {
    Queued(F),
    Running,
    Finished(Outcome<T>),
    Cancelled,
    Taken,
}

struct Task<F, T> {
    cell: Mutex<Cell<F, T>>,
    /// A handle is blocked waiting for this task (set under `cell`).
    waited: AtomicBool,
}

impl<F, T> Task<F, T> {
    /// Settles the task's cell and wakes its handle if it waits.
    fn settle(&self, shared: &PoolCore, cell: Cell<F, T>) {
        *lock(&self.cell) = cell;
        if self.waited.load(SeqCst) {
            shared.notify();
        }
    }
}

impl<T, F> Runnable for Task<F, T>
where
    T: Send + 'static,
    F: FnOnce(&Stop) -> TaskResult<T> + Send + 'static,
{
    fn run(&self, shared: &PoolCore, tally: &Tally) {
        let task = {
            let mut cell = lock(&self.cell);
            match std::mem::replace(&mut *cell, Cell::Running) {
                Cell::Queued(task) => task,
                other => {
                    *cell = other;
                    return;
                }
            }
        };
        bump(&tally.started);
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| task(&shared.stop))) {
            Ok(result) => Outcome::from_result(result),
            Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
        };
        bump(&tally.ended[end_count_index(outcome.kind())]);
        self.settle(shared, Cell::Finished(outcome));
    }

    fn cancel(&self, shared: &PoolCore) {
        let mut cell = lock(&self.cell);
        if matches!(*cell, Cell::Queued(_)) {
            let task = std::mem::replace(&mut *cell, Cell::Cancelled);
            drop(cell);
            drop(task); // the closure's captures are freed outside the lock
            if self.waited.load(SeqCst) {
                shared.notify();
            }
        }
    }
}

/// The typed side of a task, as its [`Handle`] sees it.
trait Awaited<T>: Send + Sync {
    /// The outcome, if it is known in `phase`. Cancelling drops the closure here, so this is
    /// called without the pool's lock: a closure's captures may do anything when dropped.
    fn take(&self, phase: Phase) -> Option<Outcome<T>>;
    /// True if `take` would give an outcome in `phase`; otherwise marks the task as waited for,
    /// so that whoever settles it wakes the waiter. Called with the pool's lock held.
    fn ready_or_waited(&self, phase: Phase) -> bool;
    fn is_finished(&self) -> bool;
}

impl<T, F> Awaited<T> for Task<F, T>
where
    T: Send + 'static,
    F: Send + 'static,
{
    fn take(&self, phase: Phase) -> Option<Outcome<T>> {
        let mut cell = lock(&self.cell);
        match &*cell {
            Cell::Finished(_) => match std::mem::replace(&mut *cell, Cell::Taken) {
                Cell::Finished(outcome) => Some(outcome),
                _ => unreachable!("matched Finished above"),
            },
            Cell::Cancelled => Some(Outcome::Cancelled),
            Cell::Queued(_) if phase >= Phase::Stopping => {
                let task = std::mem::replace(&mut *cell, Cell::Cancelled);
                drop(cell);
                drop(task);
                Some(Outcome::Cancelled)
            }
            Cell::Running if phase == Phase::Forcing => Some(Outcome::Interrupted),
            // `Handle::wait` consumes the handle, so a taken outcome is never asked for again.
            Cell::Queued(_) | Cell::Running | Cell::Taken => None,
        }
    }

    fn ready_or_waited(&self, phase: Phase) -> bool {
        let cell = lock(&self.cell);
        let ready = match &*cell {
            Cell::Finished(_) | Cell::Cancelled => true,
            Cell::Queued(_) => phase >= Phase::Stopping,
            Cell::Running => phase == Phase::Forcing,
            Cell::Taken => false,
        };
        if !ready {
            self.waited.store(true, SeqCst);
        }
        ready
    }

    fn is_finished(&self) -> bool {
        matches!(
            *lock(&self.cell),
            Cell::Finished(_) | Cell::Cancelled | Cell::Taken
        )
    }
}

/// The result of one submitted task, to wait for.
///
/// Dropping a handle detaches it: the task still runs (unless a stop cancels it) and still
/// counts in the pool's report.
pub struct Handle<T> {
    task: Arc<dyn Awaited<T>>,
    shared: Arc<PoolCore>,
}

impl<T> Handle<T> {
    /// Waits for the task's outcome, and never past a stop: a task that had not started when
    /// the stop began is `Cancelled` at once, and a task still running when the stop is forced
    /// is `Interrupted` (and abandoned).
    pub fn wait(self) -> Outcome<T> {
        let shared = &self.shared;
        loop {
            if let Some(outcome) = self.task.take(shared.phase()) {
                return outcome;
            }
            let guard = lock(&shared.lock);
            if !self.task.ready_or_waited(shared.phase()) {
                drop(shared.wait(guard));
            }
        }
    }

    /// True once the outcome is known without waiting (finished or cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The iterator returned by [`ThreadPool::map`]: outcomes in input order.
pub struct Map<'pool, I: Iterator, T, F> {
    pool: &'pool ThreadPool,
    inputs: I,
    task: Arc<F>,
    window: VecDeque<Handle<T>>,
    in_flight: usize,
}

impl<I: Iterator, T, F> Map<'_, I, T, F> {
    /// The inputs never taken (all of them after a stop, none after a full run).
    pub fn into_remaining(self) -> I {
        self.inputs
    }
}

impl<I, T, F> Iterator for Map<'_, I, T, F>
where
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
    F: Fn(&Stop, I::Item) -> TaskResult<T> + Send + Sync + 'static,
{
    type Item = Outcome<T>;

    fn next(&mut self) -> Option<Outcome<T>> {
        while self.window.len() < self.in_flight && !self.pool.stop().is_stopping() {
            let Some(input) = self.inputs.next() else {
                break;
            };
            let task = self.task.clone();
            self.window
                .push_back(self.pool.submit(move |stop| task(stop, input)));
        }
        self.window.pop_front().map(Handle::wait)
    }
}

#[cfg(test)]
mod tests;

/// The iterator returned by [`ThreadPool::map_unordered`]: `(input index, outcome)` pairs in
/// the order the outcomes are known.
pub struct MapUnordered<'pool, I: Iterator, T, F> {
    pool: &'pool ThreadPool,
    inputs: I,
    /// The index of the next input taken.
    next_index: usize,
    task: Arc<F>,
    /// Inputs in flight, with their index.
    window: Vec<(usize, Handle<T>)>,
    in_flight: usize,
}

impl<I: Iterator, T, F> MapUnordered<'_, I, T, F> {
    /// The inputs never taken (all of them after a stop, none after a full run).
    pub fn into_remaining(self) -> I {
        self.inputs
    }
}

impl<I, T, F> Iterator for MapUnordered<'_, I, T, F>
where
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
    F: Fn(&Stop, I::Item) -> TaskResult<T> + Send + Sync + 'static,
{
    type Item = (usize, Outcome<T>);

    fn next(&mut self) -> Option<(usize, Outcome<T>)> {
        while self.window.len() < self.in_flight && !self.pool.stop().is_stopping() {
            let Some(input) = self.inputs.next() else {
                break;
            };
            let task = self.task.clone();
            let handle = self.pool.submit(move |stop| task(stop, input));
            self.window.push((self.next_index, handle));
            self.next_index += 1;
        }
        let shared = &self.pool.shared;
        loop {
            if self.window.is_empty() {
                return None;
            }
            let phase = shared.phase();
            for at in 0..self.window.len() {
                if let Some(outcome) = self.window[at].1.task.take(phase) {
                    let (index, _) = self.window.swap_remove(at);
                    return Some((index, outcome));
                }
            }
            // As in `Handle::wait`: every task in the window is marked waited for under the
            // pool's lock, so whichever settles first wakes this thread.
            let guard = lock(&shared.lock);
            let phase = shared.phase();
            let mut ready = false;
            for (_, handle) in &self.window {
                ready |= handle.task.ready_or_waited(phase);
            }
            if !ready {
                drop(shared.wait(guard));
            }
        }
    }
}
