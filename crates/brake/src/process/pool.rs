//! [`ProcessPool`]: worker processes that run registered tasks under a [`Stop`] — the API side.
//! The worker processes themselves are driven by the manager thread (`manager.rs`).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use crossbeam_channel::Sender;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::manager::{Event, Job, Manager};
use super::task::{Registry, Task};
use super::wire::{decode, encode_into, Ended, Results};
use super::worker::WORKER_VAR;
use crate::error::Error;
use crate::outcome::{Outcome, Report, TaskError};
use crate::stop::{Activity, Stop, Subscription};
use crate::sync::{lock, wait};
use crate::termseq::TermSeq;

/// How to build a [`ProcessPool`].
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) workers: usize,
    pub(crate) max_tasks_per_worker: Option<usize>,
    pub(crate) worker_args: Option<Vec<String>>,
    pub(crate) termseq: TermSeq,
}

impl Builder {
    /// A pool of `workers` processes, replaced only when they die, sent the default
    /// termination sequence on a stop, and started with this program's own arguments.
    pub fn new(workers: usize) -> Builder {
        Builder {
            workers,
            max_tasks_per_worker: None,
            worker_args: None,
            termseq: TermSeq::default(),
        }
    }

    /// Replaces a worker after it has run `tasks` tasks (a guard against leaks in task code).
    pub fn max_tasks_per_worker(mut self, tasks: usize) -> Builder {
        self.max_tasks_per_worker = Some(tasks.max(1));
        self
    }

    /// The arguments workers are started with (default: this program's own). A test binary
    /// passes its test's name and `--exact`, so that the worker runs only the test that calls
    /// [`init`](crate::process::init).
    pub fn worker_args<I, S>(mut self, args: I) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.worker_args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// The signals and waits busy workers get on a stop (default `INT,2000,TERM,1000,KILL`).
    pub fn termseq(mut self, termseq: TermSeq) -> Builder {
        self.termseq = termseq;
        self
    }

    /// Starts the pool; the workers start in the background.
    pub fn build(self, stop: &Stop, registry: &Registry) -> Result<ProcessPool, Error> {
        ProcessPool::start(self, stop, registry)
    }
}

/// Worker processes running registered [`Task`]s under one [`Stop`].
///
/// * **Stopping**: queued tasks never start (`Cancelled`); every busy worker gets the
///   termination sequence, all at once; every result finished before the stop is delivered;
///   `join` returns when the workers are gone, so within the grace period.
/// * **Forcing**: the sequence jumps to SIGKILL; `join` returns as soon as the workers are gone.
/// * A worker that dies outside a stop (a crash, `exit`) fails its task with the cause and is
///   replaced.
///
/// Tiny tasks are sent to a worker several at a time, so that the pipe's round trip is not paid
/// once per task; tasks of a millisecond or more go one at a time. Results come back in blocks:
/// a result waits at most a millisecond for others to share its frame. Dropping the pool runs
/// the queued tasks out and waits for the workers to exit (see
/// [`Drop`](#impl-Drop-for-ProcessPool)).
pub struct ProcessPool {
    shared: Arc<Shared>,
    events: Sender<Event>,
    manager: Option<thread::JoinHandle<()>>,
    names: HashSet<&'static str>,
    workers: usize,
    _listeners: [Subscription; 2],
}

/// What the pool, its manager and its handles share.
pub(crate) struct Shared {
    pub(crate) stop: Stop,
    created: Instant,
    next_id: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    report: Report,
    submitted: usize,
    /// Workers running a task.
    busy: usize,
    /// Threads blocked in `join` or a handle's wait: settling notifies only when there are some.
    waiters: usize,
    /// Set by the manager once, after a stop, it has settled every task and every worker is gone.
    settled: bool,
}

/// The outcomes of one job's items (one for `submit`, a chunk for `map`), values still
/// serialized inside the blocks of results they came in.
pub(crate) struct Slot {
    first: u64,
    len: usize,
    state: Mutex<SlotState>,
}

struct SlotState {
    outcomes: Vec<Option<Outcome<At>>>,
    /// The blocks of results holding this slot's values, in the order they arrived.
    blocks: Vec<Arc<Results>>,
}

/// Outcomes taken from a slot, and the blocks of results their values are in.
type Run = (Vec<Outcome<At>>, Vec<Arc<Results>>);

/// Where a finished item's value is: item `item` of the slot's block `block`.
#[derive(Clone, Copy)]
pub(crate) struct At {
    block: usize,
    item: usize,
}

impl Slot {
    fn new(first: u64, len: usize) -> Arc<Slot> {
        Arc::new(Slot {
            first,
            len,
            state: Mutex::new(SlotState {
                outcomes: std::iter::repeat_with(|| None).take(len).collect(),
                blocks: Vec::new(),
            }),
        })
    }

    /// Takes the outcomes from item `from` on that have arrived, in order, with the blocks
    /// their values are in (the first of them renumbered 0); `None` if item `from` has not.
    fn take_from(&self, from: usize) -> Option<Run> {
        let mut state = lock(&self.state);
        let mut taken = Vec::new();
        let (mut low, mut high) = (usize::MAX, 0);
        for place in &mut state.outcomes[from..] {
            let Some(outcome) = place.take() else { break };
            if let Outcome::Done(at) = &outcome {
                low = low.min(at.block);
                high = high.max(at.block);
            }
            taken.push(outcome);
        }
        if taken.is_empty() {
            return None;
        }
        // Only the blocks this run needs, so that taking a long slot's items a few at a time
        // does not copy its whole list of blocks each time.
        let blocks = if low <= high {
            for outcome in &mut taken {
                if let Outcome::Done(at) = outcome {
                    at.block -= low;
                }
            }
            state.blocks[low..=high].to_vec()
        } else {
            Vec::new()
        };
        Some((taken, blocks))
    }
}

/// The manager's side of [`Shared`]: how it reports what happened.
pub(crate) struct Settle<'a> {
    shared: &'a Shared,
    state: MutexGuard<'a, State>,
}

impl Settle<'_> {
    /// Records outcomes that carry no value (cancelled, failed before running, interrupted)
    /// for consecutive items of `slot`, the first being item `first`.
    pub(crate) fn items(
        &mut self,
        slot: &Slot,
        first: u64,
        outcomes: impl IntoIterator<Item = Outcome<At>>,
    ) {
        let mut slot_state = lock(&slot.state);
        let start = (first - slot.first) as usize;
        for (place, outcome) in slot_state.outcomes[start..].iter_mut().zip(outcomes) {
            self.state.report.record(outcome.kind());
            *place = Some(outcome);
        }
    }

    /// Records items `items` of a worker's `block` of results as consecutive items of `slot`,
    /// the first being item `first`.
    pub(crate) fn ended(
        &mut self,
        slot: &Slot,
        first: u64,
        block: &Arc<Results>,
        items: Range<usize>,
    ) {
        let mut slot_state = lock(&slot.state);
        let slot_state = &mut *slot_state;
        if !slot_state
            .blocks
            .last()
            .is_some_and(|last| Arc::ptr_eq(last, block))
        {
            slot_state.blocks.push(block.clone());
        }
        let at_block = slot_state.blocks.len() - 1;
        let start = (first - slot.first) as usize;
        for (place, item) in slot_state.outcomes[start..].iter_mut().zip(items) {
            let text = || String::from_utf8_lossy(block.bytes(item)).into_owned();
            let outcome = match block.ended(item) {
                Ended::Done => Outcome::Done(At {
                    block: at_block,
                    item,
                }),
                Ended::Failed => Outcome::Failed(TaskError::msg(text())),
                Ended::Interrupted => Outcome::Interrupted,
                Ended::Panicked => Outcome::Panicked(text()),
                Ended::Cancelled => Outcome::Cancelled,
            };
            self.state.report.record(outcome.kind());
            *place = Some(outcome);
        }
    }

    /// Sets how many workers are running a task.
    pub(crate) fn busy(&mut self, busy: usize) {
        self.state.busy = busy;
    }

    /// Marks the stopped run as settled: nothing more will change.
    pub(crate) fn settled(&mut self) {
        self.state.settled = true;
    }
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if self.state.waiters > 0 {
            self.shared.wake.notify_all();
        }
    }
}

impl Shared {
    /// Opens a batch of changes; waiters are woken once, when it is dropped.
    pub(crate) fn settle(&self) -> Settle<'_> {
        Settle {
            shared: self,
            state: lock(&self.state),
        }
    }

    /// Blocks until `done` holds for the state (checked under the lock), or the stopped run has
    /// been settled.
    fn wait_until(&self, mut done: impl FnMut(&State) -> bool) {
        let mut state = lock(&self.state);
        while !(done(&state) || state.settled && self.stop.is_stopping()) {
            state.waiters += 1;
            state = wait(&self.wake, state);
            state.waiters -= 1;
        }
    }

    fn activity(&self) -> Activity {
        let state = lock(&self.state);
        Activity {
            running: state.busy,
            not_started: state
                .submitted
                .saturating_sub(state.report.total() + state.busy),
        }
    }
}

impl ProcessPool {
    /// A pool of `workers` processes with the default settings; see [`Builder`].
    pub fn new(stop: &Stop, registry: &Registry, workers: usize) -> Result<ProcessPool, Error> {
        Builder::new(workers).build(stop, registry)
    }

    fn start(builder: Builder, stop: &Stop, registry: &Registry) -> Result<ProcessPool, Error> {
        if builder.workers == 0 {
            return Err(Error::NoWorkers);
        }
        if std::env::var_os(WORKER_VAR).is_some() {
            return Err(Error::NotInitialized);
        }
        let shared = Arc::new(Shared {
            stop: stop.clone(),
            created: Instant::now(),
            next_id: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let (events, inbox) = crossbeam_channel::unbounded();
        let manager = Manager::new(shared.clone(), builder.clone(), events.clone(), inbox)?;
        let manager = thread::Builder::new()
            .name("brake-process-pool".into())
            .spawn(move || manager.run())
            .map_err(Error::SpawnThread)?;
        let on_change = events.clone();
        let on_activity = Arc::downgrade(&shared);
        let listeners = [
            stop.on_change(move |_| {
                let _ = on_change.send(Event::PhaseChanged);
            }),
            stop.report_activity(move || {
                on_activity
                    .upgrade()
                    .map_or(Activity::default(), |shared| shared.activity())
            }),
        ];
        Ok(ProcessPool {
            shared,
            events,
            manager: Some(manager),
            names: registry.names().collect(),
            workers: builder.workers,
            _listeners: listeners,
        })
    }

    /// The number of worker processes.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Queues `task` with `arg`. An argument that cannot be serialized, or a task missing from
    /// the registry, gives a handle that is already [`Outcome::Failed`]; so does a pool whose
    /// workers cannot start. Once the stop has begun the handle is [`Outcome::Cancelled`].
    pub fn submit<A, R>(&self, task: &'static Task<A, R>, arg: &A) -> Handle<R>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        let slot = self.queue(task, std::slice::from_ref(arg));
        Handle {
            slot,
            shared: self.shared.clone(),
            _value: PhantomData,
        }
    }

    /// Queues one job of `task` over `args`; its outcomes land in the returned slot.
    fn queue<A: Serialize, R>(&self, task: &'static Task<A, R>, args: &[A]) -> Arc<Slot> {
        let first = self
            .shared
            .next_id
            .fetch_add(args.len() as u64, Ordering::Relaxed);
        let slot = Slot::new(first, args.len());
        lock(&self.shared.state).submitted += args.len();
        let refuse = |outcome: &dyn Fn() -> Outcome<At>| {
            self.shared
                .settle()
                .items(&slot, first, args.iter().map(|_| outcome()));
        };
        if self.shared.stop.is_stopping() {
            refuse(&|| Outcome::Cancelled);
        } else if !self.names.contains(task.name()) {
            let why = format!("task {:?} is not in the pool's registry", task.name());
            refuse(&|| Outcome::Failed(TaskError::msg(&why)));
        } else {
            match encode_all(args) {
                Ok((args, ends)) => {
                    let job = Job {
                        first,
                        task: task.name(),
                        args,
                        ends,
                        slot: slot.clone(),
                    };
                    if self.events.send(Event::Submit(job)).is_err() {
                        refuse(&|| Outcome::Cancelled); // the manager has finished: a stopped pool
                    }
                }
                Err(err) => {
                    let why = format!(
                        "cannot encode the argument of task {:?}: {err}",
                        task.name()
                    );
                    refuse(&|| Outcome::Failed(TaskError::msg(&why)));
                }
            }
        }
        slot
    }

    /// Runs `task` over `inputs`, yielding outcomes in input order, one input per request, with
    /// at most `in_flight` inputs taken and not yet yielded. Once the stop has begun no further
    /// input is taken.
    pub fn map<A, R, I>(
        &self,
        task: &'static Task<A, R>,
        inputs: I,
        in_flight: usize,
    ) -> Map<'_, A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        self.map_chunked(task, inputs, 1, in_flight)
    }

    /// Like [`ProcessPool::map`], but inputs travel `chunk` at a time: one request and far fewer
    /// replies for many tiny tasks (Python's `Pool.map` chunks too). `in_flight` counts chunks.
    /// A stop still cancels every input not yet started, inside a chunk too, and keeps every
    /// result finished.
    pub fn map_chunked<A, R, I>(
        &self,
        task: &'static Task<A, R>,
        inputs: I,
        chunk: usize,
        in_flight: usize,
    ) -> Map<'_, A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        Map {
            pool: self,
            task,
            inputs: inputs.into_iter(),
            chunk: chunk.max(1),
            window: VecDeque::new(),
            in_flight: in_flight.max(1),
            ready: VecDeque::new(),
        }
    }

    /// Waits for the run to end and reports how every task submitted so far ended: when all
    /// have ended; or after a stop, once the workers have gone (within the grace period, at
    /// once when forced).
    pub fn join(&self) -> Report {
        let shared = &self.shared;
        shared.wait_until(|state| {
            !shared.stop.is_stopping() && state.report.total() == state.submitted
        });
        let mut report = {
            let state = lock(&shared.state);
            let mut report = state.report.clone();
            // Items the stopped manager never saw (sent as it finished) never started.
            report.cancelled += state.submitted.saturating_sub(report.total());
            report
        };
        shared.stop.wait_announced();
        report.stopped_by = shared.stop.stopping().map(|t| t.reason);
        report.forced = shared.stop.is_forcing();
        report.elapsed = shared.created.elapsed();
        report
    }
}

impl Drop for ProcessPool {
    /// Runs the queued tasks out, lets the workers go and waits until they have: no worker
    /// outlives its pool. A stop cuts this short as it cuts `join` short.
    fn drop(&mut self) {
        let _ = self.events.send(Event::Close);
        if let Some(manager) = self.manager.take() {
            let _ = manager.join();
        }
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.workers)
            .field("activity", &self.shared.activity())
            .finish()
    }
}

/// The result of one submitted task.
///
/// Dropping a handle detaches it; the task still runs and counts in the report.
pub struct Handle<R> {
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    _value: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Handle<R> {
    /// Waits for the task's outcome, and never past a stop: a task not started is `Cancelled`
    /// once the stop has begun, and a running one is settled when its worker is gone.
    pub fn wait(self) -> Outcome<R> {
        let mut outcome = Vec::with_capacity(1);
        take_run(&self.shared, &self.slot, 0, &mut outcome);
        outcome.pop().unwrap_or(Outcome::Cancelled)
    }
}

impl<R> fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("finished", &lock(&self.slot.state).outcomes[0].is_some())
            .finish()
    }
}

/// Serializes `args` back to back into one buffer, with the end offset of each.
fn encode_all<A: Serialize>(args: &[A]) -> Result<(Vec<u8>, Vec<u32>), postcard::Error> {
    let mut buffer = Vec::with_capacity(args.len() * 4);
    let mut ends = Vec::with_capacity(args.len());
    for arg in args {
        encode_into(arg, &mut buffer)?;
        let end = u32::try_from(buffer.len()).map_err(|_| postcard::Error::SerializeBufferFull)?;
        ends.push(end);
    }
    Ok((buffer, ends))
}

/// Waits for item `from` of `slot`, and adds it to `out`, decoded, with the items after it
/// that have arrived too; returns how many were added (at least one).
fn take_run<R: DeserializeOwned>(
    shared: &Shared,
    slot: &Slot,
    from: usize,
    out: &mut impl Extend<Outcome<R>>,
) -> usize {
    // Most items of a busy map are there already: take them without the pool's lock.
    let mut run = slot.take_from(from);
    if run.is_none() {
        shared.wait_until(|_| {
            run = slot.take_from(from);
            run.is_some()
        });
    }
    match run {
        Some((outcomes, blocks)) => {
            let taken = outcomes.len();
            out.extend(
                outcomes
                    .into_iter()
                    .map(|outcome| decode_outcome(outcome, &blocks)),
            );
            taken
        }
        // A settled stopped run leaves no item open; one still open was sent after the
        // manager finished, and never started.
        None => {
            out.extend([Outcome::Cancelled]);
            1
        }
    }
}

fn decode_outcome<R: DeserializeOwned>(
    outcome: Outcome<At>,
    blocks: &[Arc<Results>],
) -> Outcome<R> {
    match outcome {
        Outcome::Done(at) => match decode(blocks[at.block].bytes(at.item)) {
            Ok(value) => Outcome::Done(value),
            Err(err) => Outcome::Failed(TaskError::msg(format!(
                "cannot decode the task's value: {err} (does the handle's type match the task's?)"
            ))),
        },
        Outcome::Failed(err) => Outcome::Failed(err),
        Outcome::Panicked(message) => Outcome::Panicked(message),
        Outcome::Cancelled => Outcome::Cancelled,
        Outcome::Interrupted => Outcome::Interrupted,
        Outcome::Killed(signal) => Outcome::Killed(signal),
    }
}

/// The iterator returned by [`ProcessPool::map`]: outcomes in input order.
pub struct Map<'pool, A: 'static, R: 'static, I> {
    pool: &'pool ProcessPool,
    task: &'static Task<A, R>,
    inputs: I,
    chunk: usize,
    /// Chunks in flight, and how many of the front one's items were taken.
    window: VecDeque<(Arc<Slot>, usize)>,
    in_flight: usize,
    /// Outcomes taken from the front chunks and not yet yielded.
    ready: VecDeque<Outcome<R>>,
}

impl<A: 'static, R: 'static, I> Map<'_, A, R, I> {
    /// The inputs never taken (all of them after a stop, none after a full run).
    pub fn into_remaining(self) -> I {
        self.inputs
    }
}

impl<A, R, I> Iterator for Map<'_, A, R, I>
where
    A: Serialize + 'static,
    R: DeserializeOwned + 'static,
    I: Iterator<Item = A>,
{
    type Item = Outcome<R>;

    fn next(&mut self) -> Option<Outcome<R>> {
        if let Some(outcome) = self.ready.pop_front() {
            return Some(outcome);
        }
        while self.window.len() < self.in_flight && !self.pool.shared.stop.is_stopping() {
            let chunk: Vec<A> = self.inputs.by_ref().take(self.chunk).collect();
            if chunk.is_empty() {
                break;
            }
            self.window
                .push_back((self.pool.queue(self.task, &chunk), 0));
        }
        let (slot, taken) = self.window.front_mut()?;
        *taken += take_run(&self.pool.shared, slot, *taken, &mut self.ready);
        if *taken == slot.len {
            self.window.pop_front();
        }
        self.ready.pop_front()
    }
}
