//! [`ProcessPool`]: worker processes that run registered tasks under a [`Stop`].
//!
//! # Theory of operation
//!
//! One *manager* thread owns every worker process: it starts them (from one long-lived thread,
//! so the parent-death signal set in each worker stays tied to the pool), hands tasks to idle
//! workers, and turns replies into outcomes. Each worker has a reader thread that forwards its
//! replies, in order, as events; a worker's end of stream is an event too. Nothing else touches
//! the workers, so the manager's view is the truth.
//!
//! * **Stopping**: queued tasks are cancelled at once; every worker's request pipe is closed (an
//!   idle worker exits at once, a busy one after its task); busy workers get the termination
//!   sequence, all at the same time ([`terminate_all`]). Replies already written are read to the
//!   end of each pipe before the run is settled, so no finished result is lost.
//! * **Forcing**: the sequence jumps to SIGKILL; `join` returns as soon as the workers are gone.
//! * A worker that dies outside a stop fails its task with the cause and is replaced.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{BufReader, BufWriter, PipeWriter};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::task::{Registry, Task};
use super::wire::{decode, encode, read_frame, write_frame, Reply, Request};
use super::worker::{REPLY_FD, REQUEST_FD, WORKER_VAR};
use crate::child::{become_subreaper, sweep_escaped, terminate_all, Child, ChildOptions, Exit};
use crate::error::Error;
use crate::outcome::{Outcome, Report, TaskError};
use crate::stop::{Activity, Stop, Subscription};
use crate::termseq::TermSeq;

/// How long a new worker has to answer the handshake before it is taken for a program that
/// does not call [`init`](crate::process::init).
const HANDSHAKE: Duration = Duration::from_secs(20);

/// Set on every worker, and so inherited by whatever its tasks start: how the sweep at the end
/// of a stop finds descendants that left the worker's process group.
const POOL_VAR: &str = "BRAKE_PROCESS_POOL";

/// How to build a [`ProcessPool`].
#[derive(Debug, Clone)]
pub struct Builder {
    workers: usize,
    max_tasks_per_worker: Option<usize>,
    worker_args: Option<Vec<String>>,
    termseq: TermSeq,
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
/// Dropping the pool without [`join`](ProcessPool::join) lets the queued tasks run in the
/// background; the workers exit once the queue is empty.
pub struct ProcessPool {
    shared: Arc<Shared>,
    events: Sender<Event>,
    names: HashSet<&'static str>,
    workers: usize,
    _listeners: [Subscription; 2],
}

struct Shared {
    stop: Stop,
    created: Instant,
    next_id: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    report: Report,
    submitted: usize,
    running: usize,
    /// Set by the manager once it has settled every task and every worker has gone.
    settled: bool,
}

/// One task's outcome, still serialized, shared by the manager and the task's handle.
struct Slot {
    outcome: Mutex<Option<Outcome<Vec<u8>>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn settle(&self, slot: &Slot, outcome: Outcome<Vec<u8>>, was_running: bool) {
        let mut state = lock(&self.state);
        state.report.record(outcome.kind());
        if was_running {
            state.running -= 1;
        }
        *lock(&slot.outcome) = Some(outcome);
        self.wake.notify_all();
    }
}

enum Event {
    Submit(Job),
    Reply(u64, Reply),
    Ended(u64),
    /// The stop moved; the manager's loop looks at the phase itself.
    PhaseChanged,
    /// The pool was dropped: run the queue out, then let the workers go.
    Close,
}

struct Job {
    id: u64,
    task: &'static str,
    arg: Vec<u8>,
    slot: Arc<Slot>,
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
        let program = std::env::current_exe().map_err(Error::SpawnProcess)?;
        // Descendants that escape a worker's process group come back to this process when
        // their parent dies, where the sweep finds them. Without it (an old kernel), they would
        // go to init and only the process-group kill reaches them.
        let _ = become_subreaper();
        let args = builder
            .worker_args
            .clone()
            .unwrap_or_else(|| std::env::args().skip(1).collect());
        let shared = Arc::new(Shared {
            stop: stop.clone(),
            created: Instant::now(),
            next_id: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let (events, inbox) = crossbeam_channel::unbounded();
        let manager = Manager {
            shared: shared.clone(),
            program: Command::new(program),
            args,
            builder: builder.clone(),
            events: events.clone(),
            inbox,
            workers: HashMap::new(),
            queue: VecDeque::new(),
            next_worker: 0,
            pool_token: format!("{}-{:p}", std::process::id(), Arc::as_ptr(&shared)),
            closing: false,
            broken: None,
        };
        thread::Builder::new()
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
                on_activity.upgrade().map_or(Activity::default(), |shared| {
                    let state = lock(&shared.state);
                    Activity {
                        running: state.running,
                        not_started: state.submitted - state.report.total() - state.running,
                    }
                })
            }),
        ];
        Ok(ProcessPool {
            shared,
            events,
            names: registry_names(registry),
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
        let slot = Arc::new(Slot {
            outcome: Mutex::new(None),
        });
        let handle = Handle {
            slot: slot.clone(),
            shared: self.shared.clone(),
            _value: PhantomData,
        };
        lock(&self.shared.state).submitted += 1;
        let early = if self.shared.stop.is_stopping() {
            Some(Outcome::Cancelled)
        } else if !self.names.contains(task.name()) {
            Some(Outcome::Failed(TaskError::msg(format!(
                "task {:?} is not in the pool's registry",
                task.name()
            ))))
        } else {
            match encode(arg) {
                Ok(arg) => {
                    let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
                    let job = Job {
                        id,
                        task: task.name(),
                        arg,
                        slot,
                    };
                    match self.events.send(Event::Submit(job)) {
                        Ok(()) => return handle,
                        Err(crossbeam_channel::SendError(Event::Submit(job))) => {
                            self.shared.settle(&job.slot, Outcome::Cancelled, false);
                            return handle;
                        }
                        Err(_) => unreachable!("sent a Submit"),
                    }
                }
                Err(err) => Some(Outcome::Failed(TaskError::msg(format!(
                    "cannot encode the argument of task {:?}: {err}",
                    task.name()
                )))),
            }
        };
        if let Some(outcome) = early {
            self.shared.settle(&handle.slot, outcome, false);
        }
        handle
    }

    /// Runs `task` over `inputs`, yielding outcomes in input order with at most `in_flight`
    /// inputs taken and not yet yielded. Once the stop has begun no further input is taken.
    pub fn map<'a, A, R, I>(
        &'a self,
        task: &'static Task<A, R>,
        inputs: I,
        in_flight: usize,
    ) -> Map<'a, A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        Map {
            pool: self,
            task,
            inputs: inputs.into_iter(),
            window: VecDeque::new(),
            in_flight: in_flight.max(1),
        }
    }

    /// Waits for the run to end and reports how every task submitted so far ended: when all
    /// have ended; or after a stop, once the workers have gone (within the grace period, at
    /// once when forced).
    pub fn join(&self) -> Report {
        let shared = &self.shared;
        let mut state = lock(&shared.state);
        loop {
            let all_ended = state.report.total() == state.submitted;
            let over = if shared.stop.is_stopping() {
                state.settled
            } else {
                all_ended
            };
            if over {
                break;
            }
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let mut report = state.report.clone();
        drop(state);
        shared.stop.wait_announced();
        report.stopped_by = shared.stop.stopping().map(|t| t.reason);
        report.forced = shared.stop.is_forcing();
        report.elapsed = shared.created.elapsed();
        report
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Close);
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.workers)
            .finish()
    }
}

fn registry_names(registry: &Registry) -> HashSet<&'static str> {
    registry.names().collect()
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
    /// Waits for the task's outcome; never past a stop: a task not started is `Cancelled` once
    /// the stop has begun, and a running one is settled when its worker is gone.
    pub fn wait(self) -> Outcome<R> {
        let shared = &self.shared;
        let mut state = lock(&shared.state);
        loop {
            if let Some(outcome) = lock(&self.slot.outcome).take() {
                return decode_outcome(outcome);
            }
            if shared.stop.is_stopping() && state.settled {
                // Settled runs leave no slot empty; this is a handle of a task the manager never
                // saw (sent after it finished), which never started.
                return Outcome::Cancelled;
            }
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<R> fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("finished", &lock(&self.slot.outcome).is_some())
            .finish()
    }
}

fn decode_outcome<R: DeserializeOwned>(outcome: Outcome<Vec<u8>>) -> Outcome<R> {
    match outcome {
        Outcome::Done(bytes) => match decode(&bytes) {
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
    window: VecDeque<Handle<R>>,
    in_flight: usize,
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
        while self.window.len() < self.in_flight && !self.pool.shared.stop.is_stopping() {
            let Some(input) = self.inputs.next() else {
                break;
            };
            self.window.push_back(self.pool.submit(self.task, &input));
        }
        self.window.pop_front().map(Handle::wait)
    }
}

/// One worker process, as the manager sees it.
struct Worker {
    child: Child,
    /// Closed (dropped) to tell the worker there is no more work.
    requests: Option<BufWriter<PipeWriter>>,
    ready: bool,
    started: Instant,
    job: Option<Job>,
    tasks_run: usize,
}

struct Manager {
    shared: Arc<Shared>,
    program: Command,
    args: Vec<String>,
    builder: Builder,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    workers: HashMap<u64, Worker>,
    queue: VecDeque<Job>,
    next_worker: u64,
    /// This pool's value of [`POOL_VAR`].
    pool_token: String,
    closing: bool,
    /// Why workers cannot be started, once that is known: every task then fails with it.
    broken: Option<String>,
}

impl Manager {
    fn run(mut self) {
        for _ in 0..self.builder.workers {
            self.start_worker();
        }
        loop {
            if self.shared.stop.is_stopping() {
                self.stop_all();
                return;
            }
            self.dispatch();
            if self.closing
                && self.queue.is_empty()
                && self.workers.values().all(|w| w.job.is_none())
            {
                self.release_idle();
                if self.workers.is_empty() {
                    return;
                }
            }
            match self.inbox.recv_timeout(Duration::from_millis(500)) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => self.check_handshakes(),
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Submit(job) => match &self.broken {
                Some(why) => {
                    let why = why.clone();
                    self.shared
                        .settle(&job.slot, Outcome::Failed(TaskError::msg(why)), false)
                }
                None => self.queue.push_back(job),
            },
            Event::Reply(worker, reply) => self.on_reply(worker, reply),
            Event::Ended(worker) => self.on_ended(worker),
            Event::PhaseChanged => {}
            Event::Close => self.closing = true,
        }
    }

    /// Hands queued tasks to idle, ready workers.
    fn dispatch(&mut self) {
        let idle: Vec<u64> = self
            .workers
            .iter()
            .filter(|(_, w)| w.ready && w.job.is_none() && w.requests.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            let Some(mut job) = self.queue.pop_front() else {
                break;
            };
            let worker = self.workers.get_mut(&id).expect("listed above");
            let request = Request::Run {
                id: job.id,
                task: job.task.to_string(),
                arg: std::mem::take(&mut job.arg),
            };
            let sent = worker
                .requests
                .as_mut()
                .is_some_and(|out| write_frame(out, &request).is_ok());
            worker.job = Some(job);
            lock(&self.shared.state).running += 1;
            if !sent {
                // The worker is going away; its end-of-stream event settles the task.
                worker.requests = None;
            }
        }
    }

    fn on_reply(&mut self, id: u64, reply: Reply) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let outcome = match reply {
            Reply::Ready { .. } => {
                worker.ready = true;
                return;
            }
            Reply::Done { value, .. } => Outcome::Done(value),
            Reply::Failed { message, .. } => Outcome::Failed(TaskError::msg(message)),
            Reply::Interrupted { .. } => Outcome::Interrupted,
            Reply::Panicked { message, .. } => Outcome::Panicked(message),
        };
        if let Some(job) = worker.job.take() {
            self.shared.settle(&job.slot, outcome, true);
        }
        worker.tasks_run += 1;
        if self
            .builder
            .max_tasks_per_worker
            .is_some_and(|max| worker.tasks_run >= max)
        {
            worker.requests = None; // it exits; its end-of-stream starts a replacement
        }
    }

    fn on_ended(&mut self, id: u64) {
        let Some(mut worker) = self.workers.remove(&id) else {
            return;
        };
        worker.requests = None;
        let exit = reap(&mut worker.child);
        if let Some(job) = worker.job.take() {
            let outcome = if self.shared.stop.is_stopping() {
                Outcome::Interrupted
            } else {
                Outcome::Failed(TaskError::msg(format!(
                    "worker process died: {}",
                    describe(exit)
                )))
            };
            self.shared.settle(&job.slot, outcome, true);
        }
        if !worker.ready && !self.shared.stop.is_stopping() {
            self.fail_start(format!(
                "a worker process ended before the handshake ({}); does main call \
                 brake::process::init(&registry) first thing?",
                describe(exit)
            ));
            return;
        }
        if !self.closing && !self.shared.stop.is_stopping() {
            self.start_worker();
        }
    }

    fn check_handshakes(&mut self) {
        let late: Vec<u64> = self
            .workers
            .iter()
            .filter(|(_, w)| !w.ready && w.started.elapsed() > HANDSHAKE)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(worker) = self.workers.get_mut(&id) {
                let _ = worker.child.signal(libc::SIGKILL);
            }
            self.fail_start(format!(
                "a worker process did not answer the handshake within {} s; does main call \
                 brake::process::init(&registry) first thing?",
                HANDSHAKE.as_secs()
            ));
        }
    }

    /// Workers cannot start: fail everything queued and everything to come with `why`.
    fn fail_start(&mut self, why: String) {
        for job in self.queue.drain(..) {
            self.shared.settle(
                &job.slot,
                Outcome::Failed(TaskError::msg(why.clone())),
                false,
            );
        }
        self.broken = Some(why);
    }

    fn start_worker(&mut self) {
        if self.broken.is_some() {
            return;
        }
        match self.spawn_worker() {
            Ok(()) => {}
            Err(err) => self.fail_start(format!("cannot start a worker process: {err}")),
        }
    }

    fn spawn_worker(&mut self) -> std::io::Result<()> {
        let id = self.next_worker;
        self.next_worker += 1;
        let token = format!(
            "{}-{}-{id}",
            std::process::id(),
            self.shared.created.elapsed().as_nanos()
        );
        let (request_read, request_write) = std::io::pipe()?;
        let (reply_read, reply_write) = std::io::pipe()?;
        let mut command = Command::new(self.program.get_program());
        command
            .args(&self.args)
            .env(WORKER_VAR, &token)
            .env(POOL_VAR, &self.pool_token)
            .stdin(Stdio::null());
        let fds = [request_read.as_raw_fd(), reply_write.as_raw_fd()];
        // SAFETY: the hook runs in the forked child before exec and calls only `fcntl` and
        // `dup2`, which are async-signal-safe; it allocates nothing and touches no lock.
        unsafe {
            command.pre_exec(move || place_fds(fds));
        }
        let options = ChildOptions {
            termseq: self.builder.termseq.clone(),
            ..ChildOptions::default()
        };
        let child = Child::spawn(&mut command, &options)?;
        drop(request_read);
        drop(reply_write);
        let mut requests = BufWriter::new(request_write);
        write_frame(&mut requests, &Request::Hello { token })?;
        let events = self.events.clone();
        thread::Builder::new()
            .name(format!("brake-worker-{id}-replies"))
            .spawn(move || {
                let mut replies = BufReader::new(reply_read);
                while let Ok(Some(reply)) = read_frame::<Reply>(&mut replies) {
                    if events.send(Event::Reply(id, reply)).is_err() {
                        return;
                    }
                }
                let _ = events.send(Event::Ended(id));
            })?;
        self.workers.insert(
            id,
            Worker {
                child,
                requests: Some(requests),
                ready: false,
                started: Instant::now(),
                job: None,
                tasks_run: 0,
            },
        );
        Ok(())
    }

    /// Lets idle workers go: closing their pipe makes them exit.
    fn release_idle(&mut self) {
        let idle: Vec<u64> = self
            .workers
            .iter()
            .filter(|(_, w)| w.job.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(worker) = self.workers.get_mut(&id) {
                worker.requests = None;
            }
        }
        while !self.workers.is_empty() {
            match self.inbox.recv_timeout(Duration::from_secs(5)) {
                Ok(event) => self.handle(event),
                Err(_) => break,
            }
            if self.workers.values().any(|w| w.job.is_some()) {
                return;
            }
        }
    }

    /// The stop: cancel the queue, close every pipe, run the sequence on busy workers, read
    /// every reply to the end, reap everyone, settle the run.
    fn stop_all(&mut self) {
        for job in self.queue.drain(..) {
            self.shared.settle(&job.slot, Outcome::Cancelled, false);
        }
        for worker in self.workers.values_mut() {
            worker.requests = None;
        }
        {
            let mut busy: Vec<&mut Child> = self
                .workers
                .values_mut()
                .filter(|w| w.job.is_some() || !w.ready)
                .map(|w| &mut w.child)
                .collect();
            let _ = terminate_all(&mut busy, Some(&self.shared.stop));
        }
        // Every busy worker is gone, so its pipe ends soon; idle ones are exiting on their own.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.workers.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Event::Submit(job)) => self.shared.settle(&job.slot, Outcome::Cancelled, false),
                Ok(event) => self.handle(event),
                Err(_) => break,
            }
        }
        // Whatever did not end by itself in time is killed now: nothing outlives the run.
        for (_, mut worker) in self.workers.drain() {
            let _ = worker.child.signal(libc::SIGKILL);
            reap(&mut worker.child);
            if let Some(job) = worker.job.take() {
                self.shared.settle(&job.slot, Outcome::Interrupted, true);
            }
        }
        sweep_escaped(POOL_VAR, &self.pool_token, &[]);
        let mut state = lock(&self.shared.state);
        state.settled = true;
        self.shared.wake.notify_all();
        drop(state);
        // Tasks submitted from now on are cancelled by `submit` itself or below.
        while let Ok(event) = self.inbox.recv_timeout(Duration::from_millis(50)) {
            if let Event::Submit(job) = event {
                self.shared.settle(&job.slot, Outcome::Cancelled, false);
            }
        }
    }
}

/// Reaps a worker that has ended or is about to; `None` if it would not end.
fn reap(child: &mut Child) -> Option<Exit> {
    child.wait_timeout(Duration::from_secs(5)).ok().flatten()
}

fn describe(exit: Option<Exit>) -> String {
    match exit {
        Some(exit) => exit.to_string(),
        None => "status unknown".to_string(),
    }
}

/// In the child before exec: puts the request pipe on fd 3 and the reply pipe on fd 4.
fn place_fds(fds: [RawFd; 2]) -> std::io::Result<()> {
    // Move both out of the way first, so that placing one cannot close the other. The copies
    // are close-on-exec: only fds 3 and 4 may reach the worker.
    let mut high = [0; 2];
    for (slot, fd) in high.iter_mut().zip(fds) {
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor open in this process; async-signal-safe.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = dup;
    }
    for (fd, target) in high.into_iter().zip([REQUEST_FD, REPLY_FD]) {
        // SAFETY: dup2 onto fds 3 and 4 in the child; the copy has FD_CLOEXEC clear, so it
        // survives exec. Async-signal-safe.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
