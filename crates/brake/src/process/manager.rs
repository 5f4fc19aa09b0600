//! The manager thread of a [`ProcessPool`](super::ProcessPool): it alone starts, feeds, stops
//! and reaps the worker processes.
//!
//! # Theory of operation
//!
//! Workers are started from this one long-lived thread, so the parent-death signal set in each
//! stays tied to the pool. Each worker has a reader thread that forwards its replies, in order,
//! as [`Event`]s; a worker's end of stream is an event too. The manager takes events in
//! batches, hands queued batches to workers, and settles outcomes. Nothing else touches a worker.
//!
//! A worker may hold several tiny tasks at once (its *depth*): the manager keeps an estimate
//! of how long one task takes and sends about two milliseconds of work ahead, so that a task
//! never waits for the pipe's round trip, and tasks of a millisecond or more go one at a time
//! (so that "running" means running, and a stop finds nothing queued inside a worker).
//!
//! On a stop: queued batches are cancelled; every worker's request pipe is closed (an idle worker
//! exits, a busy one cancels what it holds and exits after its task); busy workers get the
//! termination sequence, all at once ([`terminate_all`]); every reply is read to the end of its
//! pipe before the run is settled, so no finished result is lost; then descendants that left
//! their worker's process group are swept.

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, BufWriter, PipeWriter, Write};
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::ledger::{At, Ledger, Mailbox};
use super::wire::{append_frame, read_frame, write_frame, Reply, Request, Results};
use super::worker::{REPLY_FD, REQUEST_FD, WORKER_VAR};
use crate::child::{
    become_subreaper, sweep_escaped, terminate_all_from, Child, ChildOptions, Exit, Io, Program,
    Termination,
};
use crate::error::Error;
use crate::first_step::Registration;
use crate::outcome::{Outcome, TaskError};
use crate::signals::tell_first_step;
use crate::termseq::TermSeq;

/// How long a new worker has to answer the handshake before it is taken for a program that
/// does not call [`init`](crate::process::init).
const HANDSHAKE: Duration = Duration::from_secs(20);

/// Set on every worker, and so inherited by whatever its tasks start: how the sweep at the end
/// of a stop finds descendants that left the worker's process group.
const POOL_VAR: &str = "BRAKE_PROCESS_POOL";

/// How much work, in time, a worker is sent ahead of what it is running.
const AHEAD: Duration = Duration::from_millis(2);

/// The most tasks a worker holds at once. Large enough for a map's next chunk (a batch goes
/// whole) to be in the worker before it finishes the current one; the two milliseconds
/// ahead and each worker's share of the work bound it first.
const MAX_DEPTH: usize = 1 << 16;

/// How the manager runs its workers: what a [`Builder`](super::Builder) configures.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) workers: usize,
    pub(crate) max_tasks_per_worker: Option<usize>,
    pub(crate) worker_args: Option<Vec<String>>,
    /// `None`: SIGINT on a stop, SIGKILL when it is forced (see `Builder::termseq`).
    pub(crate) termseq: Option<TermSeq>,
}

/// What the manager reacts to.
pub(crate) enum Event {
    Submit(Batch),
    Reply(u64, Reply),
    /// A worker's reply pipe ended: the worker is gone or going.
    WorkerGone(u64),
    /// The stop moved; the manager's loop looks at the phase itself.
    PhaseChanged,
    /// The pool was dropped: cancel what has not started, then let the workers go.
    Close,
}

/// Consecutive items of one task, queued together (one for `submit`, a chunk for `map`).
pub(crate) struct Batch {
    pub(crate) first: u64,
    pub(crate) task: &'static str,
    /// The items' arguments, serialized back to back: item `i` is `args[ends[i - 1]..ends[i]]`.
    /// One buffer for a whole chunk, not one allocation per item.
    pub(crate) args: Vec<u8>,
    pub(crate) ends: Vec<u32>,
    pub(crate) mailbox: Arc<Mailbox>,
}

impl Batch {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn ids(&self) -> Range<u64> {
        self.first..self.first + self.len() as u64
    }

    /// Items `from..` as a batch of their own, to queue again.
    fn tail(&self, from: usize) -> Batch {
        let start = if from == 0 { 0 } else { self.ends[from - 1] };
        Batch {
            first: self.first + from as u64,
            task: self.task,
            args: self.args[start as usize..].to_vec(),
            ends: self.ends[from..].iter().map(|end| end - start).collect(),
            mailbox: self.mailbox.clone(),
        }
    }
}

/// One worker process, as the manager sees it.
struct Worker {
    /// The worker's entry in the signal handler's first-step registry. Declared before
    /// `child` so that it is dropped before the child's pidfd is closed.
    told: Option<Registration>,
    child: Child,
    /// Closed (dropped) to tell the worker there is no more work.
    requests: Option<BufWriter<PipeWriter>>,
    ready: bool,
    started: Instant,
    /// Batches sent, in the order the worker runs them, each with the index of its first item not
    /// answered yet; the front batch's such item is running.
    sent: VecDeque<(Batch, usize)>,
    /// Items sent and not answered.
    held: usize,
    /// When the front item began to run, as far as the manager can tell.
    front_since: Instant,
    tasks_run: usize,
}

pub(crate) struct Manager {
    ledger: Arc<Ledger>,
    program: PathBuf,
    args: Vec<String>,
    settings: Settings,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    workers: HashMap<u64, Worker>,
    queue: VecDeque<Batch>,
    /// Items in `queue`.
    queued: usize,
    next_worker: u64,
    /// This pool's value of [`POOL_VAR`].
    pool_token: String,
    /// Estimated time one task takes, from the replies so far.
    task_time: Duration,
    closing: bool,
    /// Why workers cannot be started, once that is known: every task then fails with it.
    broken: Option<String>,
    /// Request frames on their way to a worker: one buffer, reused.
    frames: Vec<u8>,
}

impl Manager {
    pub(crate) fn new(
        ledger: Arc<Ledger>,
        settings: Settings,
        events: Sender<Event>,
        inbox: Receiver<Event>,
    ) -> Result<Manager, Error> {
        let program = std::env::current_exe().map_err(Error::SpawnProcess)?;
        let args = settings
            .worker_args
            .clone()
            .unwrap_or_else(|| std::env::args().skip(1).collect());
        // Descendants that escape a worker's process group come back to this process when
        // their parent dies, where the sweep finds them. Without it (an old kernel), they go to
        // init and only the process-group kill reaches them.
        let _ = become_subreaper();
        Ok(Manager {
            pool_token: format!("{}-{:p}", std::process::id(), Arc::as_ptr(&ledger)),
            ledger,
            program,
            args,
            settings,
            events,
            inbox,
            workers: HashMap::new(),
            queue: VecDeque::new(),
            queued: 0,
            next_worker: 0,
            task_time: AHEAD,
            closing: false,
            broken: None,
            frames: Vec::new(),
        })
    }

    pub(crate) fn run(mut self) {
        for _ in 0..self.settings.workers {
            self.start_worker();
        }
        loop {
            if self.ledger.stop.is_stopping() {
                self.stop_all();
                return;
            }
            self.dispatch();
            if self.closing
                && self.queue.is_empty()
                && self.workers.values().all(|w| w.sent.is_empty())
            {
                self.release_idle();
                return;
            }
            match self.inbox.recv_timeout(Duration::from_millis(500)) {
                Ok(event) => {
                    self.handle(event);
                    // Take whatever else has arrived before dispatching again.
                    while let Ok(event) = self.inbox.try_recv() {
                        self.handle(event);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.check_handshakes();
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Submit(batch) => match &self.broken {
                Some(why) => {
                    let why = why.clone();
                    fail_batch(&self.ledger, batch, &why);
                }
                None => {
                    self.queued += batch.len();
                    self.queue.push_back(batch);
                }
            },
            Event::Reply(worker, Reply::Ready { .. }) => {
                if let Some(worker) = self.workers.get_mut(&worker) {
                    worker.ready = true;
                }
            }
            Event::Reply(worker, Reply::Results(results)) => self.on_results(worker, results),
            Event::WorkerGone(worker) => self.on_worker_gone(worker),
            Event::PhaseChanged => {}
            Event::Close => self.close(),
        }
    }

    /// The pool was dropped: what has not started never will. Queued batches are cancelled,
    /// and every worker's request pipe is closed: an idle worker exits, a busy one cancels
    /// what it holds and exits after its task.
    fn close(&mut self) {
        self.closing = true;
        self.queued = 0;
        cancel_batches(&self.ledger, std::mem::take(&mut self.queue));
        for worker in self.workers.values_mut() {
            worker.requests = None;
        }
    }

    /// How many tasks a worker may hold: about [`AHEAD`] of work, and no more than its share
    /// of all the work there is, so that a run of slow tasks after fast ones is spread over
    /// every worker before the estimate has caught up.
    fn depth(&self) -> usize {
        let per_task = self.task_time.as_nanos().max(1);
        let ahead = (AHEAD.as_nanos() / per_task) as usize;
        let held: usize = self.workers.values().map(|w| w.held).sum();
        let share = (self.queued + held).div_ceil(self.workers.len().max(1));
        ahead.min(share).clamp(1, MAX_DEPTH)
    }

    /// Hands queued batches to ready workers, up to each one's depth.
    fn dispatch(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let depth = self.depth();
        let mut busy_changed = false;
        for worker in self.workers.values_mut() {
            let Some(requests) = worker.requests.as_mut().filter(|_| worker.ready) else {
                continue;
            };
            let frames = &mut self.frames;
            frames.clear();
            while let Some(batch) = self.queue.front() {
                if worker.held > 0 && worker.held + batch.len() > depth {
                    break;
                }
                let batch = self.queue.pop_front().expect("front exists");
                self.queued -= batch.len();
                let request = Request::Run {
                    first: batch.first,
                    task: batch.task.to_string(),
                    args: batch.args,
                    ends: batch.ends,
                };
                let appended = append_frame(frames, &request);
                let Request::Run { args, ends, .. } = request else {
                    unreachable!("built above")
                };
                let batch = Batch {
                    args,
                    ends,
                    ..batch
                };
                if let Err(err) = appended {
                    let why = format!("cannot send task {:?} to a worker: {err}", batch.task);
                    fail_batch(&self.ledger, batch, &why);
                    continue;
                }
                if worker.sent.is_empty() {
                    worker.front_since = Instant::now();
                    busy_changed = true;
                }
                worker.held += batch.len();
                worker.sent.push_back((batch, 0));
            }
            if !frames.is_empty()
                && (requests.write_all(frames).is_err() || requests.flush().is_err())
            {
                // The worker is going away; its end-of-stream event settles what it held.
                worker.requests = None;
            }
            if self.queue.is_empty() {
                break;
            }
        }
        if busy_changed {
            self.update_busy();
        }
    }

    fn update_busy(&self) {
        let busy = self.workers.values().filter(|w| !w.sent.is_empty()).count();
        self.ledger.settle().busy(busy);
    }

    fn on_results(&mut self, id: u64, results: Results) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let now = Instant::now();
        let count = results.len() as u32;
        let block = Arc::new(results);
        let mut settle = self.ledger.settle();
        // Results come in the order items were sent: each run of them belongs to the front batch.
        'runs: for (mut run_first, mut items) in block.runs() {
            while !items.is_empty() {
                let Some((batch, next)) = worker.sent.front_mut() else {
                    break 'runs;
                };
                let from = batch.first + *next as u64;
                if run_first != from {
                    break 'runs; // out of order: the worker's end settles the rest
                }
                let taken = items.len().min(batch.len() - *next);
                let these = items.start..items.start + taken;
                settle.ended(&batch.mailbox, from, &block, these);
                items.start += taken;
                run_first += taken as u64;
                *next += taken;
                worker.held -= taken;
                if *next == batch.len() {
                    worker.sent.pop_front();
                }
            }
        }
        let worker_idle = worker.sent.is_empty();
        drop(settle);
        // One task's time: the span since the front item began, shared by the items answered.
        let per_task = now.duration_since(worker.front_since) / count.max(1);
        self.task_time = (self.task_time * 3 + per_task) / 4;
        worker.front_since = now;
        worker.tasks_run += count as usize;
        if self
            .settings
            .max_tasks_per_worker
            .is_some_and(|max| worker.tasks_run >= max)
        {
            worker.requests = None; // it exits; its end-of-stream starts a replacement
        }
        if worker_idle {
            self.update_busy();
        }
    }

    fn on_worker_gone(&mut self, id: u64) {
        let Some(mut worker) = self.workers.remove(&id) else {
            return;
        };
        worker.requests = None;
        let exit = reap(&mut worker.child);
        let stopping = self.ledger.stop.is_stopping();
        let running = if stopping {
            Outcome::Interrupted
        } else {
            Outcome::Failed(TaskError::msg(format!(
                "worker process died: {}",
                describe(exit)
            )))
        };
        // The item it was running ends with it; the items it held but never started are
        // cancelled by a stop, otherwise queued again.
        let unstarted = settle_running(&self.ledger, &mut worker, running);
        for batch in unstarted.into_iter().rev() {
            if stopping || self.closing {
                cancel_batch(&self.ledger, batch);
            } else {
                self.queued += batch.len();
                self.queue.push_front(batch);
            }
        }
        self.update_busy();
        if !worker.ready && !stopping && !self.closing {
            self.fail_start(format!(
                "a worker process ended before the handshake ({}); does main call \
                 brake::process::init(&registry) first thing?",
                describe(exit)
            ));
            return;
        }
        if !self.closing && !stopping {
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
        self.queued = 0;
        for batch in self.queue.drain(..) {
            fail_batch(&self.ledger, batch, &why);
        }
        self.broken = Some(why);
    }

    fn start_worker(&mut self) {
        if self.broken.is_some() {
            return;
        }
        if let Err(err) = self.spawn_worker() {
            self.fail_start(format!("cannot start a worker process: {err}"));
        }
    }

    fn spawn_worker(&mut self) -> std::io::Result<()> {
        let id = self.next_worker;
        self.next_worker += 1;
        let token = format!("{}-{id}-{:?}", self.pool_token, Instant::now());
        let (request_read, request_write) = std::io::pipe()?;
        let (reply_read, reply_write) = std::io::pipe()?;
        let mut command = Program::new(&self.program);
        let mut name = self.program.as_os_str().to_owned();
        name.push(" (brake worker)");
        command
            .arg0(name)
            .args(&self.args)
            .env(WORKER_VAR, &token)
            .env(POOL_VAR, &self.pool_token)
            .stdin(Io::Null)
            .fd(OwnedFd::from(request_read), REQUEST_FD)
            .fd(OwnedFd::from(reply_write), REPLY_FD);
        let options = ChildOptions {
            termseq: self
                .settings
                .termseq
                .clone()
                .unwrap_or_else(|| TermSeq::until_forced(libc::SIGINT)),
            ..ChildOptions::default()
        };
        // The hello goes into the pipe before the worker exists, so the worker never waits
        // for it: a start that finds none at once is not a pool's (see `worker::init`). It is
        // far smaller than a pipe's buffer, so this write cannot block.
        let mut requests = BufWriter::new(request_write);
        write_frame(&mut requests, &Request::Hello { token })?;
        let child = Child::start(&command, &options)?;
        let told = child
            .first_signal()
            .and_then(|signal| tell_first_step(&self.ledger.stop, child.pidfd(), signal));
        // The worker's ends of the pipes: closed here, so each side sees the other's end.
        drop(command);
        let events = self.events.clone();
        thread::Builder::new()
            .name(format!("brake-worker-{id}-replies"))
            .spawn(move || {
                let mut replies = BufReader::new(reply_read);
                while let Ok(Some(reply)) = read_frame::<Reply>(&mut replies) {
                    if let Reply::Results(results) = &reply {
                        if results.check().is_err() {
                            break; // a corrupt worker: its end settles what it held
                        }
                    }
                    if events.send(Event::Reply(id, reply)).is_err() {
                        return;
                    }
                }
                let _ = events.send(Event::WorkerGone(id));
            })?;
        self.workers.insert(
            id,
            Worker {
                told,
                child,
                requests: Some(requests),
                ready: false,
                started: Instant::now(),
                sent: VecDeque::new(),
                held: 0,
                front_since: Instant::now(),
                tasks_run: 0,
            },
        );
        Ok(())
    }

    /// The pool was dropped and its running tasks are done: close every pipe, wait for the workers to
    /// go, sweep what escaped.
    fn release_idle(&mut self) {
        for worker in self.workers.values_mut() {
            worker.requests = None;
        }
        self.drain_until_gone(Duration::from_secs(5));
        self.kill_the_rest();
        sweep_escaped(POOL_VAR, &self.pool_token, &[]);
    }

    /// The stop: cancel the queue, close every pipe, run the sequence on busy workers, read
    /// every reply to the end, reap everyone, sweep, settle the run.
    fn stop_all(&mut self) {
        self.queued = 0;
        cancel_batches(&self.ledger, std::mem::take(&mut self.queue));
        for worker in self.workers.values_mut() {
            worker.requests = None;
        }
        // From here on this thread runs the sequences: the signal handler must not send a first
        // step any more, to a worker that has had one already (see `first_step`).
        let told: HashMap<u64, i32> = self
            .workers
            .iter()
            .filter_map(|(&id, w)| Some((id, w.told.as_ref()?.disarm()?)))
            .collect();
        {
            // Workers the signal handler already told go on from where it left them.
            let (mut busy, starts): (Vec<&mut Child>, Vec<Termination>) = self
                .workers
                .iter_mut()
                .filter(|(_, w)| !w.sent.is_empty() || !w.ready)
                .map(|(id, w)| {
                    let start = match told.get(id).copied() {
                        Some(libc::SIGKILL) => Termination::after_kill(&mut w.child),
                        Some(_) => Termination::after_first_step(&mut w.child),
                        None => Termination::new(),
                    };
                    (&mut w.child, start)
                })
                .unzip();
            let _ = terminate_all_from(&mut busy, starts, Some(&self.ledger.stop));
        }
        // Busy workers are gone, so their pipes end at once; idle ones are exiting by themselves.
        self.drain_until_gone(Duration::from_secs(5));
        self.kill_the_rest();
        sweep_escaped(POOL_VAR, &self.pool_token, &[]);
        // Batches submitted while this ran are cancelled; later ones are refused by `submit`, and
        // one that slips between the two is counted cancelled by `join`.
        while let Ok(event) = self.inbox.try_recv() {
            if let Event::Submit(batch) = event {
                cancel_batch(&self.ledger, batch);
            }
        }
        self.ledger.settle().settled();
    }

    /// Handles events until every worker's end of stream has arrived, for at most `limit`.
    fn drain_until_gone(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.workers.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Event::Submit(batch)) if self.ledger.stop.is_stopping() => {
                    cancel_batch(&self.ledger, batch)
                }
                Ok(event) => self.handle(event),
                Err(_) => break,
            }
        }
    }

    /// Whatever did not end in time is killed now: nothing outlives the run.
    fn kill_the_rest(&mut self) {
        for (_, mut worker) in self.workers.drain() {
            let _ = worker.child.signal(libc::SIGKILL);
            reap(&mut worker.child);
            for batch in settle_running(&self.ledger, &mut worker, Outcome::Interrupted) {
                cancel_batch(&self.ledger, batch);
            }
        }
        self.update_busy();
    }
}

/// Settles the item `worker` was running with `outcome`, and returns the items it held but
/// never started, as batches.
fn settle_running(ledger: &Ledger, worker: &mut Worker, outcome: Outcome<At>) -> Vec<Batch> {
    worker.held = 0;
    let mut sent = std::mem::take(&mut worker.sent).into_iter();
    let Some((running, next)) = sent.next() else {
        return Vec::new();
    };
    ledger
        .settle()
        .items(&running.mailbox, running.first + next as u64, [outcome]);
    let rest = (next + 1 < running.len()).then(|| running.tail(next + 1));
    rest.into_iter()
        .chain(sent.map(|(batch, next)| batch.tail(next)))
        .collect()
}

fn fail_batch(ledger: &Ledger, batch: Batch, why: &str) {
    let outcomes = batch.ids().map(|_| Outcome::Failed(TaskError::msg(why)));
    ledger.settle().items(&batch.mailbox, batch.first, outcomes);
}

fn cancel_batch(ledger: &Ledger, batch: Batch) {
    cancel_batches(ledger, [batch]);
}

/// Cancels every item of `batches` in one batch: one lock, one wake-up of the waiters. A stop
/// cancels thousands of queued items at once, and a wake-up per item would have the pool's
/// callers contend for the lock with this thread, on cores that busy workers hold.
fn cancel_batches(ledger: &Ledger, batches: impl IntoIterator<Item = Batch>) {
    let mut settle = ledger.settle();
    for batch in batches {
        let outcomes = batch.ids().map(|_| Outcome::Cancelled);
        settle.items(&batch.mailbox, batch.first, outcomes);
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
