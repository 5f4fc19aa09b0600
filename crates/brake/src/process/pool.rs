//! [`ProcessPool`]: worker processes that run registered tasks under a [`Stop`] — the API side.
//!
//! Submitting counts items in the run's ledger (`ledger.rs`) and sends them, a batch at a time,
//! to the manager thread (`manager.rs`), which alone drives the worker processes and records
//! each item's outcome in the ledger; handles, `map` and `join` wait on the ledger. The
//! invariants and the lock order of that shared bookkeeping are written down in `ledger.rs`;
//! this side takes no lock of its own.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::Sender;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ledger::{At, Ledger, Mailbox};
use super::manager::{Batch, Event, Manager, Settings};
use super::task::{Registry, Task};
use super::wire::{decode, encode_into, Results};
use super::worker::WORKER_VAR;
use crate::error::Error;
use crate::outcome::{Outcome, Report, TaskError};
use crate::stop::{Activity, Stop, Subscription};
use crate::termseq::TermSeq;

/// How to build a [`ProcessPool`].
#[derive(Debug, Clone)]
pub struct Builder {
    settings: Settings,
}

impl Builder {
    /// A pool of `workers` processes, replaced only when they die, sent SIGINT on a stop and
    /// SIGKILL when the stop's grace period is over, and started with this program's own
    /// arguments.
    pub fn new(workers: usize) -> Builder {
        Builder {
            settings: Settings {
                workers,
                max_tasks_per_worker: None,
                worker_args: None,
                termseq: None,
            },
        }
    }

    /// Replaces a worker after it has run `tasks` tasks (a guard against leaks in task code).
    pub fn max_tasks_per_worker(mut self, tasks: usize) -> Builder {
        self.settings.max_tasks_per_worker = Some(tasks.max(1));
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
        self.settings.worker_args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// The signals and waits busy workers get on a stop. Without it, a busy worker gets
    /// SIGINT when stopping begins and SIGKILL when the stop is forced, so its timing is the
    /// stop's grace period ([`Stop::set_grace`]); with it, this sequence's own waits count,
    /// and a forced stop still jumps to its final SIGKILL.
    pub fn termseq(mut self, termseq: TermSeq) -> Builder {
        self.settings.termseq = Some(termseq);
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
/// a result waits at most a millisecond for others to share its frame.
///
/// Dropping the pool cancels the tasks that have not started (their handles report
/// `Cancelled`), lets the running ones finish and waits for the workers to exit, never past a
/// stop (see [`Drop`](#impl-Drop-for-ProcessPool)); [`ThreadPool`](crate::ThreadPool) does the
/// same. Call [`ProcessPool::join`] first to run everything submitted.
pub struct ProcessPool {
    ledger: Arc<Ledger>,
    events: Sender<Event>,
    manager: Option<thread::JoinHandle<()>>,
    names: HashSet<&'static str>,
    workers: usize,
    _listeners: [Subscription; 2],
}

impl ProcessPool {
    /// A pool of `workers` processes with the default settings; see [`Builder`].
    pub fn new(stop: &Stop, registry: &Registry, workers: usize) -> Result<ProcessPool, Error> {
        Builder::new(workers).build(stop, registry)
    }

    fn start(builder: Builder, stop: &Stop, registry: &Registry) -> Result<ProcessPool, Error> {
        if builder.settings.workers == 0 {
            return Err(Error::NoWorkers);
        }
        if std::env::var_os(WORKER_VAR).is_some() {
            return Err(Error::NotInitialized);
        }
        let ledger = Arc::new(Ledger::new(stop));
        let (events, inbox) = crossbeam_channel::unbounded();
        let manager = Manager::new(
            ledger.clone(),
            builder.settings.clone(),
            events.clone(),
            inbox,
        )?;
        let manager = thread::Builder::new()
            .name("brake-process-pool".into())
            .spawn(move || manager.run())
            .map_err(Error::SpawnThread)?;
        let on_change = events.clone();
        let on_activity = Arc::downgrade(&ledger);
        let listeners = [
            stop.on_change(move |_| {
                let _ = on_change.send(Event::PhaseChanged);
            }),
            stop.report_activity(move || {
                on_activity
                    .upgrade()
                    .map_or(Activity::default(), |ledger| ledger.activity())
            }),
        ];
        Ok(ProcessPool {
            ledger,
            events,
            manager: Some(manager),
            names: registry.names().collect(),
            workers: builder.settings.workers,
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
        let mailbox = self.queue(task, std::slice::from_ref(arg));
        Handle {
            mailbox,
            ledger: self.ledger.clone(),
            _value: PhantomData,
        }
    }

    /// Queues one batch of `task` over `args`; its outcomes land in the returned mailbox.
    fn queue<A: Serialize, R>(&self, task: &'static Task<A, R>, args: &[A]) -> Arc<Mailbox> {
        let mailbox = self.ledger.submit(args.len());
        let first = mailbox.first();
        let refuse = |outcome: &dyn Fn() -> Outcome<At>| {
            self.ledger
                .settle()
                .items(&mailbox, first, args.iter().map(|_| outcome()));
        };
        if self.ledger.stop.is_stopping() {
            refuse(&|| Outcome::Cancelled);
        } else if !self.names.contains(task.name()) {
            let why = format!("task {:?} is not in the pool's registry", task.name());
            refuse(&|| Outcome::Failed(TaskError::msg(&why)));
        } else {
            match encode_all(args) {
                Ok((args, ends)) => {
                    let batch = Batch {
                        first,
                        task: task.name(),
                        args,
                        ends,
                        mailbox: mailbox.clone(),
                    };
                    if self.events.send(Event::Submit(batch)).is_err() {
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
        mailbox
    }

    /// Runs `task` over `inputs`, yielding outcomes in input order, with at most twice the
    /// number of workers in flight. See [`ProcessPool::map_bounded`]; the same call as
    /// [`ThreadPool::map`](crate::ThreadPool::map).
    pub fn map<A, R, I>(&self, inputs: I, task: &'static Task<A, R>) -> Map<'_, A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        self.map_bounded(inputs, self.workers * 2, task)
    }

    /// Runs `task` over `inputs`, yielding outcomes in input order, one input per request, with
    /// at most `in_flight` inputs taken and not yet yielded. Once the stop has begun no further
    /// input is taken; the inputs never taken are left in [`Map::into_remaining`].
    pub fn map_bounded<A, R, I>(
        &self,
        inputs: I,
        in_flight: usize,
        task: &'static Task<A, R>,
    ) -> Map<'_, A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        self.map_chunked(inputs, 1, in_flight, task)
    }

    /// Like [`ProcessPool::map_bounded`], but inputs travel `chunk` at a time: one request and
    /// far fewer replies for many tiny tasks (Python's `Pool.map` chunks too). `in_flight`
    /// counts chunks. A stop still cancels every input not yet started, inside a chunk too, and
    /// keeps every result finished.
    pub fn map_chunked<A, R, I>(
        &self,
        inputs: I,
        chunk: usize,
        in_flight: usize,
        task: &'static Task<A, R>,
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

    /// Runs `task` over `inputs`, yielding each outcome as soon as it is known, with the index
    /// of its input (0 for the first), at most twice the number of workers in flight. A slow
    /// input holds back no other. Once the stop has begun no further input is taken: the
    /// outcomes of the inputs in flight follow (`Cancelled` for those not started), then the
    /// iterator ends. The same call as [`ThreadPool::map_unordered`](crate::ThreadPool::map_unordered).
    pub fn map_unordered<A, R, I>(
        &self,
        inputs: I,
        task: &'static Task<A, R>,
    ) -> MapUnordered<'_, A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        MapUnordered {
            pool: self,
            task,
            inputs: inputs.into_iter(),
            next_index: 0,
            window: Vec::new(),
            in_flight: (self.workers * 2).max(1),
        }
    }

    /// Waits for the run to end and reports how every task submitted so far ended: when all
    /// have ended; or after a stop, once the workers have gone (within the grace period, at
    /// once when forced).
    pub fn join(&self) -> Report {
        let ledger = &self.ledger;
        let mut report = ledger.wait_ended();
        ledger.stop.wait_announced();
        report.stopped_by = ledger.stop.stopping().map(|t| t.reason);
        report.forced = ledger.stop.is_forcing();
        report.elapsed = ledger.created.elapsed();
        report
    }
}

impl Drop for ProcessPool {
    /// Cancels the tasks that have not started, lets the running ones finish, and waits until
    /// the workers have gone: no worker outlives its pool. A stop cuts this short as it cuts
    /// `join` short.
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
            .field("activity", &self.ledger.activity())
            .finish()
    }
}

/// The result of one submitted task.
///
/// Dropping a handle detaches it; the task still runs and counts in the report.
pub struct Handle<R> {
    mailbox: Arc<Mailbox>,
    ledger: Arc<Ledger>,
    _value: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Handle<R> {
    /// Waits for the task's outcome, and never past a stop: a task not started is `Cancelled`
    /// once the stop has begun, and a running one is settled when its worker is gone.
    pub fn wait(self) -> Outcome<R> {
        let mut outcome = Vec::with_capacity(1);
        take_run(&self.ledger, &self.mailbox, 0, &mut outcome);
        outcome.pop().unwrap_or(Outcome::Cancelled)
    }
}

impl<R> fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("finished", &self.mailbox.first_arrived())
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

/// Waits for item `from` of `mailbox`, and adds it to `out`, decoded, with the items after it
/// that have arrived too; returns how many were added (at least one).
fn take_run<R: DeserializeOwned>(
    ledger: &Ledger,
    mailbox: &Mailbox,
    from: usize,
    out: &mut impl Extend<Outcome<R>>,
) -> usize {
    match ledger.take(mailbox, from) {
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

/// The iterator returned by [`ProcessPool::map_unordered`]: `(input index, outcome)` pairs in
/// the order the outcomes arrive.
pub struct MapUnordered<'pool, A: 'static, R: 'static, I> {
    pool: &'pool ProcessPool,
    task: &'static Task<A, R>,
    inputs: I,
    /// The index of the next input taken.
    next_index: usize,
    /// Inputs in flight: their index, and the mailbox of their one item.
    window: Vec<(usize, Arc<Mailbox>)>,
    in_flight: usize,
}

impl<A: 'static, R: 'static, I> MapUnordered<'_, A, R, I> {
    /// The inputs never taken (all of them after a stop, none after a full run).
    pub fn into_remaining(self) -> I {
        self.inputs
    }
}

impl<A, R, I> Iterator for MapUnordered<'_, A, R, I>
where
    A: Serialize + 'static,
    R: DeserializeOwned + 'static,
    I: Iterator<Item = A>,
{
    type Item = (usize, Outcome<R>);

    fn next(&mut self) -> Option<(usize, Outcome<R>)> {
        while self.window.len() < self.in_flight && !self.pool.ledger.stop.is_stopping() {
            let Some(input) = self.inputs.next() else {
                break;
            };
            let index = self.next_index;
            self.next_index += 1;
            let mailbox = self.pool.queue(self.task, std::slice::from_ref(&input));
            self.window.push((index, mailbox));
        }
        if self.window.is_empty() {
            return None;
        }
        let mailboxes: Vec<&Mailbox> = self.window.iter().map(|(_, m)| &**m).collect();
        match self.pool.ledger.take_any(&mailboxes) {
            Some((at, (mut outcomes, blocks))) => {
                let (index, _) = self.window.swap_remove(at);
                let outcome = outcomes.pop().unwrap_or(Outcome::Cancelled);
                Some((index, decode_outcome(outcome, &blocks)))
            }
            // A settled stopped run leaves no item open; one still open never started.
            None => self
                .window
                .pop()
                .map(|(index, _)| (index, Outcome::Cancelled)),
        }
    }
}

/// The iterator returned by [`ProcessPool::map`]: outcomes in input order.
pub struct Map<'pool, A: 'static, R: 'static, I> {
    pool: &'pool ProcessPool,
    task: &'static Task<A, R>,
    inputs: I,
    chunk: usize,
    /// Chunks in flight, and how many of the front one's items were taken.
    window: VecDeque<(Arc<Mailbox>, usize)>,
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
        while self.window.len() < self.in_flight && !self.pool.ledger.stop.is_stopping() {
            let chunk: Vec<A> = self.inputs.by_ref().take(self.chunk).collect();
            if chunk.is_empty() {
                break;
            }
            self.window
                .push_back((self.pool.queue(self.task, &chunk), 0));
        }
        let (mailbox, taken) = self.window.front_mut()?;
        *taken += take_run(&self.pool.ledger, mailbox, *taken, &mut self.ready);
        if *taken == mailbox.len() {
            self.window.pop_front();
        }
        self.ready.pop_front()
    }
}
