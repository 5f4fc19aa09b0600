//! [`TaskGroup`]: async tasks on tokio under a [`Stop`]. The async side of the stop itself
//! ([`Stop::stopped`], [`Stop::cancellation_token`], …) lives with the stop.
//!
//! # Theory of operation
//!
//! A group spawns each future as a tokio task wrapped in a small *gate*; with a concurrency limit,
//! at most `limit` tokio tasks exist and each of them runs queued futures one after another, so a
//! million queued futures are a million boxes in a queue, not a million tokio tasks to wake.
//!
//! * **Stopping**: no future that has not started starts (it is `Cancelled`). Nothing walks the
//!   queue: [`TaskGroup::join`] counts every future that never started as cancelled, and returns
//!   as soon as none is running. Running futures are told through the stop ([`Stop::is_stopping`],
//!   [`Stop::stopped`], the group's [`CancellationToken`]) and have the grace period to return.
//! * **Forcing**: a running future is dropped at its next `.await` (it is aborted, reported
//!   `Interrupted`), and `join` and every [`TaskHandle`] return at once.
//!
//! A future stuck in blocking code cannot be aborted; [`TaskGroup`]'s page says what that
//! means for the program's end, and `runtime.rs` holds the runners that end it anyway.
//!
//! # Invariants
//!
//! 1. A future runs only if its gate counted it in `inside` and then saw the stop still Running.
//!    Both are `SeqCst`, so once `join` has seen the stop and then `inside == 0`, no future can
//!    start any more (the same Dekker handshake as the thread pool's).
//! 2. A gate counts a future in `started`, then in `ended`, while inside.
//! 3. `unfinished` counts futures spawned and not yet through the gate; a queued future that never
//!    starts stays in it, which only matters while Running, when every queued future does start.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::outcome::{end_count_index, panic_message, Outcome, OutcomeKind, Report, TaskResult};
use crate::stop::{Activity, Phase, Stop, Subscription};
use crate::sync::lock;

/// A queued future, with its result delivery built in; it returns how it ended.
type QueuedFuture = Pin<Box<dyn Future<Output = OutcomeKind> + Send>>;

/// What the group, its tokio tasks and its handles share.
struct GroupCore {
    stop: Stop,
    token: CancellationToken,
    forcing: CancellationToken,
    created: Instant,
    limit: Option<usize>,
    /// Futures waiting for a free runner (only with a limit), and the tokio tasks running them.
    queue: Mutex<Queue>,
    submitted: AtomicUsize,
    unfinished: AtomicUsize,
    /// Futures between their gate's check and their end (invariant 1).
    inside: AtomicUsize,
    started: AtomicUsize,
    /// Finished futures by how they ended: done, failed, panicked, interrupted.
    ended: [AtomicUsize; 4],
    joining: AtomicUsize,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    futures: VecDeque<QueuedFuture>,
    runners: usize,
}

impl GroupCore {
    fn finished(&self) -> usize {
        self.ended.iter().map(|count| count.load(SeqCst)).sum()
    }

    /// The condition `join` waits for, in the phase it is in.
    fn run_over(&self) -> bool {
        match self.stop.phase() {
            Phase::Forcing => true,
            Phase::Stopping => self.inside.load(SeqCst) == 0,
            Phase::Running => self.unfinished.load(SeqCst) == 0,
        }
    }

    /// Enters the gate: true if the future may start (invariant 1).
    fn enter(&self) -> bool {
        self.inside.fetch_add(1, SeqCst);
        if self.stop.is_stopping() {
            self.leave();
            return false;
        }
        self.started.fetch_add(1, SeqCst);
        true
    }

    /// Counts a started future's end and leaves the gate.
    fn end(&self, kind: OutcomeKind) {
        self.ended[end_count_index(kind)].fetch_add(1, SeqCst);
        self.unfinished.fetch_sub(1, SeqCst);
        self.leave();
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, SeqCst);
        if self.joining.load(SeqCst) > 0 && self.run_over() {
            self.wake.notify_waiters();
        }
    }

    fn activity(&self) -> Activity {
        let finished = self.finished();
        let started = self.started.load(SeqCst);
        let submitted = self.submitted.load(SeqCst);
        Activity {
            running: started.saturating_sub(finished),
            not_started: submitted.saturating_sub(started),
        }
    }

    fn report(&self) -> Report {
        let ended = self.ended.each_ref().map(|count| count.load(SeqCst));
        let started = self.started.load(SeqCst);
        let submitted = self.submitted.load(SeqCst);
        Report::from_counts(ended, started, submitted, &self.stop, self.created)
    }

    /// A runner's life with a limit: run `queued`, then the futures waiting in the queue, until it is
    /// empty or the stop begins.
    async fn run_queue(self: Arc<Self>, mut queued: QueuedFuture) {
        loop {
            queued.await;
            let next = {
                let mut queue = lock(&self.queue);
                match queue.futures.pop_front() {
                    Some(queued) if !self.stop.is_stopping() => Some(queued),
                    _ => {
                        queue.runners -= 1;
                        None
                    }
                }
            };
            match next {
                Some(next) => queued = next,
                None => return,
            }
        }
    }
}

/// Runs `future` through the gate: `Cancelled` if the stop came first, else its outcome, with
/// panics caught and the future dropped (aborted) at Forcing.
async fn gated<T, F>(shared: &GroupCore, future: F) -> Outcome<T>
where
    F: Future<Output = TaskResult<T>>,
{
    if !shared.enter() {
        return Outcome::Cancelled;
    }
    let outcome = Guarded {
        future: Some(future),
        stop: &shared.stop,
        forcing: &shared.forcing,
        forced: None,
    }
    .await;
    shared.end(outcome.kind());
    outcome
}

pin_project_lite::pin_project! {
    /// A started future: polled inside `catch_unwind`, dropped when the stop is forced.
    struct Guarded<'a, F> {
        #[pin]
        future: Option<F>,
        stop: &'a Stop,
        forcing: &'a CancellationToken,
        // Made only when the future first returns Pending: a future that completes on its
        // first poll never touches the token's lock.
        forced: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    }
}

impl<T, F> Future for Guarded<'_, F>
where
    F: Future<Output = TaskResult<T>>,
{
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        let mut this = self.project();
        if this.stop.is_forcing() {
            this.future.set(None);
            return Poll::Ready(Outcome::Interrupted);
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(Outcome::Interrupted);
        };
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(result)) => {
                this.future.set(None);
                return Poll::Ready(Outcome::from_result(result));
            }
            Ok(Poll::Pending) => {}
            Err(payload) => {
                this.future.set(None);
                return Poll::Ready(Outcome::Panicked(panic_message(payload.as_ref())));
            }
        }
        let forced = this
            .forced
            .get_or_insert_with(|| Box::pin(this.forcing.clone().cancelled_owned()));
        if forced.as_mut().poll(cx).is_ready() {
            this.future.set(None); // the abort: the future is dropped at its `.await`
            return Poll::Ready(Outcome::Interrupted);
        }
        Poll::Pending
    }
}

/// A group of async tasks on the current tokio runtime, run under one [`Stop`].
///
/// ```
/// use brake::{Outcome, Stop, TaskGroup};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let stop = Stop::new();
/// let group = TaskGroup::with_limit(&stop, 4); // at most 4 running at once
/// let square = group.spawn(async { Ok(7 * 7) });
/// for n in 0..10u64 {
///     let stop = stop.clone();
///     group.spawn(async move {
///         if stop.sleep_async(std::time::Duration::from_millis(n)).await.is_interrupted() {
///             return Err(brake::Stopped.into()); // reported "interrupted"
///         }
///         Ok(n)
///     });
/// }
/// assert_eq!(square.await.done(), Some(49));
/// let report = group.join().await;
/// assert_eq!(report.done, 11);
/// # });
/// ```
///
/// The group is a handle: clones share the same tasks and counts. Tasks are spawned with
/// [`tokio::spawn`], so the group must be used inside a runtime (current-thread or multi-thread).
/// Dropping the group does not cancel its tasks; call [`TaskGroup::join`] for the report.
///
/// # Futures that block
///
/// A future stuck in blocking code (a loop with no `.await`, a blocking read) cannot be
/// aborted: nothing in tokio can take a thread back from it. The group reports it
/// `Interrupted` and `join` still returns at Forcing, but that runtime thread stays busy, and
/// **dropping the runtime waits for it for ever** — which `#[tokio::main]` does when `main`
/// returns: the report is printed, then the program hangs. Run such programs with
/// [`run_async`](crate::run_async) or [`run_async_on`](crate::run_async_on), which never wait
/// past Forcing; under `#[tokio::main]`, a signal that comes a second or more after Forcing
/// began ends the process (see [`signals`](crate::signals)). On a current-thread runtime a
/// blocking future blocks everything, `join` included: use the multi-thread runtime when
/// futures may block.
#[derive(Clone)]
pub struct TaskGroup {
    shared: Arc<GroupCore>,
    _listeners: Arc<[Subscription; 2]>,
}

impl TaskGroup {
    /// A group with no limit on how many tasks run at once.
    pub fn new(stop: &Stop) -> TaskGroup {
        TaskGroup::build(stop, None)
    }

    /// A group that runs at most `limit` tasks at once (at least 1); the rest wait in a queue.
    pub fn with_limit(stop: &Stop, limit: usize) -> TaskGroup {
        TaskGroup::build(stop, Some(limit.max(1)))
    }

    fn build(stop: &Stop, limit: Option<usize>) -> TaskGroup {
        let shared = Arc::new(GroupCore {
            stop: stop.clone(),
            token: stop.cancellation_token(),
            forcing: stop.forcing_root(),
            created: Instant::now(),
            limit,
            queue: Mutex::new(Queue::default()),
            submitted: AtomicUsize::new(0),
            unfinished: AtomicUsize::new(0),
            inside: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            ended: Default::default(),
            joining: AtomicUsize::new(0),
            wake: Notify::new(),
        });
        // Weak references: the stop outlives the group and must not keep it alive.
        let on_change = Arc::downgrade(&shared);
        let on_activity = Arc::downgrade(&shared);
        let listeners = [
            stop.on_change(move |_| {
                if let Some(shared) = Weak::upgrade(&on_change) {
                    shared.wake.notify_waiters();
                }
            }),
            stop.report_activity(move || {
                Weak::upgrade(&on_activity).map_or(Activity::default(), |s| s.activity())
            }),
        ];
        TaskGroup {
            shared,
            _listeners: Arc::new(listeners),
        }
    }

    /// The stop this group obeys.
    pub fn stop(&self) -> &Stop {
        &self.shared.stop
    }

    /// A token cancelled when stopping begins, for tasks that `select!` on one.
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// The concurrency limit, if any.
    pub fn limit(&self) -> Option<usize> {
        self.shared.limit
    }

    /// Spawns `future` into the group; must be called within a tokio runtime (outside one it
    /// panics, and the panic names the line that called `spawn`).
    ///
    /// Return `Err(Stopped.into())` (or use `stop.check()?`) when the stop cuts the work short;
    /// that is reported as interrupted, not failed. Once the stop has begun nothing new starts:
    /// the handle reports [`Outcome::Cancelled`]. Dropping the handle detaches the task; the
    /// report still counts it.
    #[track_caller]
    pub fn spawn<T, F>(&self, future: F) -> TaskHandle<T>
    where
        T: Send + 'static,
        F: Future<Output = TaskResult<T>> + Send + 'static,
    {
        let shared = &self.shared;
        shared.submitted.fetch_add(1, SeqCst);
        shared.unfinished.fetch_add(1, SeqCst);
        if shared.stop.is_stopping() {
            return TaskHandle::cancelled(shared);
        }
        let Some(limit) = shared.limit else {
            let runner = shared.clone();
            let join = tokio::spawn(async move { gated(&runner, future).await });
            return TaskHandle {
                inner: HandleInner::Spawned(join),
                shared: shared.clone(),
            };
        };
        let (sender, receiver) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let queued: QueuedFuture = {
            let shared = shared.clone();
            let state = state.clone();
            Box::pin(async move {
                if state
                    .compare_exchange(QUEUED, STARTED, SeqCst, SeqCst)
                    .is_err()
                {
                    return OutcomeKind::Cancelled; // its handle saw the stop first
                }
                let outcome = gated(&shared, future).await;
                let kind = outcome.kind();
                let _ = sender.send(outcome);
                kind
            })
        };
        let mut queue = lock(&shared.queue);
        if queue.runners < limit {
            queue.runners += 1;
            drop(queue);
            tokio::spawn(shared.clone().run_queue(queued));
        } else {
            queue.futures.push_back(queued);
        }
        TaskHandle {
            inner: HandleInner::Queued { receiver, state },
            shared: shared.clone(),
        }
    }

    /// Like [`TaskGroup::spawn`], handing the task the group's [`Stop`] (a clone), as
    /// [`ThreadPool::submit`](crate::ThreadPool::submit) hands it to a closure:
    ///
    /// ```
    /// # use brake::{Stop, TaskGroup};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let group = TaskGroup::new(&Stop::new());
    /// let handle = group.spawn_with_stop(|stop| async move {
    ///     stop.check()?; // `?` on `Stopped`: reported interrupted
    ///     Ok(42)
    /// });
    /// assert_eq!(handle.await.done(), Some(42));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_with_stop<T, M, F>(&self, make: M) -> TaskHandle<T>
    where
        T: Send + 'static,
        M: FnOnce(Stop) -> F,
        F: Future<Output = TaskResult<T>> + Send + 'static,
    {
        self.spawn(make(self.shared.stop.clone()))
    }

    /// Waits for the run to end and reports how every task spawned so far ended.
    ///
    /// Returns when every task has finished; or, once stopping, as soon as no task is running
    /// (tasks not started are reported cancelled); or at once when the stop is forced (running
    /// tasks are reported interrupted and aborted at their next `.await`). Never later.
    pub async fn join(&self) -> Report {
        let shared = &self.shared;
        shared.joining.fetch_add(1, SeqCst);
        loop {
            let notified = shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.run_over() {
                break;
            }
            notified.await;
        }
        shared.joining.fetch_sub(1, SeqCst);
        // The listeners that woke us run before the announcement is recorded: a short wait at
        // most, so that a report printed now follows the stop notice.
        shared.stop.wait_announced();
        shared.report()
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("limit", &self.shared.limit)
            .field("activity", &self.shared.activity())
            .finish()
    }
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// One spawned task: `.await` it for its [`Outcome`].
///
/// Like every wait in brake it returns at once when the stop is forced (a task still running is
/// then `Interrupted`), and a queued task's handle returns `Cancelled` as soon as stopping begins.
pub struct TaskHandle<T> {
    inner: HandleInner<T>,
    shared: Arc<GroupCore>,
}

enum HandleInner<T> {
    Spawned(JoinHandle<Outcome<T>>),
    Queued {
        receiver: oneshot::Receiver<Outcome<T>>,
        state: Arc<AtomicU8>,
    },
    Cancelled,
}

impl<T> TaskHandle<T> {
    fn cancelled(shared: &Arc<GroupCore>) -> TaskHandle<T> {
        // Never started and never will: through the gate for the counts' sake.
        shared.unfinished.fetch_sub(1, SeqCst);
        TaskHandle {
            inner: HandleInner::Cancelled,
            shared: shared.clone(),
        }
    }

    /// True once the task has ended (or never will start).
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            HandleInner::Spawned(join) => join.is_finished(),
            HandleInner::Queued { receiver, state } => {
                state.load(Relaxed) == CANCELLED || !receiver.is_empty() || receiver.is_terminated()
            }
            HandleInner::Cancelled => true,
        }
    }
}

impl<T: Send + 'static> std::future::IntoFuture for TaskHandle<T> {
    type Output = Outcome<T>;
    type IntoFuture = Pin<Box<dyn Future<Output = Outcome<T>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let shared = self.shared;
            let forced = shared.stop.forced();
            tokio::pin!(forced);
            match self.inner {
                HandleInner::Cancelled => Outcome::Cancelled,
                HandleInner::Spawned(join) => tokio::select! {
                    biased;
                    result = join => result.unwrap_or(Outcome::Interrupted),
                    _ = &mut forced => Outcome::Interrupted,
                },
                HandleInner::Queued {
                    mut receiver,
                    state,
                } => {
                    tokio::select! {
                        biased;
                        result = &mut receiver => return result.unwrap_or(Outcome::Cancelled),
                        _ = shared.stop.stopped() => {}
                    }
                    if state
                        .compare_exchange(QUEUED, CANCELLED, SeqCst, SeqCst)
                        .is_ok()
                    {
                        return Outcome::Cancelled;
                    }
                    tokio::select! {
                        biased;
                        result = receiver => result.unwrap_or(Outcome::Interrupted),
                        _ = forced => Outcome::Interrupted,
                    }
                }
            }
        })
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
