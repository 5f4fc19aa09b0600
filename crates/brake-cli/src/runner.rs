//! The job runner: one loop on the main thread starts jobs as slots free up, and sleeps in one
//! `poll` on every running job's pidfd and pipes, the stop's wake-up socket and the input
//! feed's doorbell. When the run stops (a signal, `--halt now`) it sends each running job the
//! termination sequence from the same loop, so output keeps being read while jobs wind down.
//!
//! # Invariants
//!
//! 1. Every job is spawned and reaped on the main thread, which lives as long as the run: the
//!    parent-death signal is tied to the spawning thread (see `brake::child::Child::spawn`).
//! 2. A job is counted once, when it ends (or, for jobs never started, at the end): the
//!    summary's counts add up to the jobs read. Only jobs that ended by themselves (or by
//!    `--timeout`) get a joblog line, so `--resume` runs interrupted ones again.
//! 3. No job starts before the joblog's lowest recorded job has been checked against this
//!    run's command line: a log from another command is refused before anything runs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brake::child::{ignored_signals, ChildOptions};
use brake::{Activity, Notice, NoticeEvent, Phase, Reason, Stop};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustix::event::{poll, PollFd, PollFlags};

use crate::cli::{HaltOn, RunArgs};
use crate::containment::Containment;
use crate::inputs::{InputError, Inputs};
use crate::job::{self, Cause, Ending, Job, Running, Spawn, StartError};
use crate::joblog::{Entry, Joblog, Previous};
use crate::limits::{Refused, Throttle};
use crate::output::Output;
use crate::plan::{self, refuse, Plan, Rules, RunError};
use crate::summary::{self, resume_hint, Summary, INTERNAL_ERROR};
use crate::template::Template;

/// Jobs read ahead of the slots by the input thread.
const FEED: usize = 1024;

/// The exit status when stdout was closed under the run (as SIGPIPE would give).
const STDOUT_CLOSED: u8 = 128 + libc::SIGPIPE as u8;

/// Runs the jobs `args` describes; `argv` is brake's own command line, for the resume hint.
/// Returns the exit status.
pub fn run(args: &RunArgs, argv: &[OsString]) -> Result<u8, RunError> {
    let plan = Plan::new(args)?;
    for note in &plan.notes {
        say!("{note}");
    }
    let stop = Stop::new();
    // The termination sequence is the grace period: it ends in SIGKILL by itself, and only a
    // second signal should cut it short.
    stop.set_grace(Duration::MAX);
    stop.install_signals().map_err(refuse)?;
    if plan.dry_run {
        return dry_run(&plan.template, plan.inputs, plan.jobs, &stop);
    }
    let (joblog, previous) = match &plan.joblog {
        Some(wanted) => {
            let (log, previous) = wanted.open(plan.verbose)?;
            (Some(log), Some(previous))
        }
        None => (None, None),
    };
    let Plan {
        template,
        inputs,
        jobs,
        output,
        rules,
        termseq,
        joblog: joblog_plan,
        containment,
        bar,
        json,
        ..
    } = plan;
    let total = inputs.total();
    let counters = Arc::new(Counters::default());
    let bar = progress_bar(bar, total);
    stop.set_notice(notice(bar.clone()));
    let _activity = {
        let counters = Arc::clone(&counters);
        stop.report_activity(move || counters.activity(total))
    };

    let (waker_rx, waker_tx) = UnixStream::pair().map_err(refuse)?;
    waker_tx.set_nonblocking(true).map_err(refuse)?;
    waker_rx.set_nonblocking(true).map_err(refuse)?;
    let _waker = stop.on_change(move |_| {
        let _ = (&waker_tx).write(&[1]);
    });
    let (feed, doorbell) = feed(inputs, &stop, &counters).map_err(refuse)?;

    let containment = Containment::start(&containment).map_err(RunError)?;
    let ignores_signals = !ignored_signals().is_empty();
    let options = plan::child_options(&termseq, containment.guarded(), ignores_signals);
    let mut runner = Runner {
        rules,
        tag: output.tag,
        json,
        joblog_path: joblog_plan.map(|wanted| wanted.path),
        template,
        jobs,
        total,
        stop: stop.clone(),
        options,
        slots: (0..jobs).map(|_| None).collect(),
        free: (1..=jobs).map(Reverse).collect(),
        pending: VecDeque::new(),
        feed,
        feed_open: true,
        doorbell,
        waker: waker_rx,
        output: Output::new(output.mode, output.keep_order, bar.clone()),
        joblog,
        previous,
        verified: false,
        counters,
        bar,
        seen_phase: Phase::Running,
        halted: false,
        blocked: false,
        throttle: Throttle::new(jobs),
        fatal: None,
        stdout_closed: false,
        containment,
        done: 0,
        failed: 0,
        interrupted: 0,
        skipped: 0,
        started: Instant::now(),
    };
    runner.verified = runner
        .previous
        .as_ref()
        .is_none_or(|p| p.lowest_seq().is_none());
    if let Err(err) = runner.run_loop() {
        // Refused before any job ran: containment has nothing to end, but the guard must not
        // outlive brake.
        runner.containment.wait();
        return Err(err);
    }
    Ok(runner.finish(argv))
}

/// Counts shared with the stop's notice (read from the signal watcher thread).
#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    /// Jobs read from the input.
    read: AtomicU64,
    /// Jobs started (first attempts) or skipped: no longer waiting.
    consumed: AtomicU64,
    /// Set by the input thread when it has read all of the input.
    input_done: std::sync::atomic::AtomicBool,
}

impl Counters {
    fn activity(&self, total: Option<u64>) -> Activity {
        let known = total.unwrap_or_else(|| self.read.load(Ordering::Relaxed));
        let waiting = known.saturating_sub(self.consumed.load(Ordering::Relaxed));
        Activity {
            running: self.running.load(Ordering::Relaxed),
            not_started: usize::try_from(waiting).unwrap_or(usize::MAX),
        }
    }
}

/// What the input thread sends: a job, or why reading stopped.
type Fed = Result<Job, InputError>;

/// Starts the thread that reads the input into jobs, `FEED` ahead of the runner, and rings
/// the returned socket after each one so the loop's `poll` wakes for it.
fn feed(
    inputs: Inputs,
    stop: &Stop,
    counters: &Arc<Counters>,
) -> io::Result<(Receiver<Fed>, UnixStream)> {
    let (tx, rx) = mpsc::sync_channel::<Fed>(FEED);
    let (bell_rx, bell_tx) = UnixStream::pair()?;
    bell_rx.set_nonblocking(true)?;
    bell_tx.set_nonblocking(true)?;
    let stop = stop.clone();
    let counters = Arc::clone(counters);
    std::thread::Builder::new()
        .name("brake-input".into())
        .spawn(move || {
            let mut seq = 0u64;
            for item in inputs {
                if stop.is_stopping() {
                    return;
                }
                let fed = item.map(|args| {
                    seq += 1;
                    Job {
                        seq,
                        args,
                        attempt: 1,
                    }
                });
                let failed = fed.is_err();
                if fed.is_ok() {
                    counters.read.fetch_add(1, Ordering::Relaxed);
                }
                if tx.send(fed).is_err() || failed {
                    let _ = (&bell_tx).write(&[1]);
                    return;
                }
                // A full socket only means the loop has a ring it has not read yet.
                let _ = (&bell_tx).write(&[1]);
            }
            counters.input_done.store(true, Ordering::Relaxed);
            drop(tx);
            let _ = (&bell_tx).write(&[1]);
        })?;
    Ok((rx, bell_rx))
}

struct Runner {
    rules: Rules,
    /// `--tag`.
    tag: bool,
    /// `--json`.
    json: Option<PathBuf>,
    /// `--joblog`, for the summary.
    joblog_path: Option<PathBuf>,
    template: Template,
    jobs: usize,
    total: Option<u64>,
    stop: Stop,
    options: ChildOptions,
    /// Running jobs by slot (index = slot - 1).
    slots: Vec<Option<Running>>,
    /// Free slots, lowest first.
    free: BinaryHeap<Reverse<usize>>,
    /// Jobs read and not started, retries first.
    pending: VecDeque<Job>,
    feed: Receiver<Fed>,
    feed_open: bool,
    doorbell: UnixStream,
    waker: UnixStream,
    output: Output,
    joblog: Option<Joblog>,
    previous: Option<Previous>,
    /// Invariant 3: the joblog's lowest job has been checked (or there is none).
    verified: bool,
    counters: Arc<Counters>,
    bar: Option<ProgressBar>,
    seen_phase: Phase,
    /// `--halt` fired: no new job starts.
    halted: bool,
    /// A spawn failed for want of processes or descriptors: wait for a job to end, or for
    /// the throttle's retry time when none runs.
    blocked: bool,
    /// How many jobs may run since the machine refused one (see `limits::Throttle`).
    throttle: Throttle,
    /// An error that ends the run with status 255 once running jobs are done.
    fatal: Option<String>,
    stdout_closed: bool,
    /// Ended after the jobs (see `containment.rs`).
    containment: Containment,
    done: u64,
    failed: u64,
    interrupted: u64,
    skipped: u64,
    started: Instant,
}

impl Runner {
    fn running(&self) -> usize {
        self.jobs - self.free.len()
    }

    fn may_start(&self) -> bool {
        self.may_start_later() && !self.blocked
    }

    /// Whether jobs may start once a refused start is retried.
    fn may_start_later(&self) -> bool {
        !self.stop.is_stopping() && !self.halted && self.fatal.is_none()
    }

    /// A refused start is tried again when a job ends (`finish_job`) or, with none running,
    /// at the throttle's retry time.
    fn unblock_when_due(&mut self) {
        if self.blocked
            && self.running() == 0
            && self
                .throttle
                .retry_at()
                .is_none_or(|at| at <= Instant::now())
        {
            self.blocked = false;
        }
    }

    fn run_loop(&mut self) -> Result<(), RunError> {
        loop {
            self.pull()?;
            self.follow_phase();
            self.unblock_when_due();
            if self.verified && self.may_start() {
                self.start_jobs();
            }
            let running = self.running();
            let no_more = !self.may_start_later() || (self.pending.is_empty() && !self.feed_open);
            if running == 0 && (no_more || (self.blocked && self.pending.is_empty())) {
                return Ok(());
            }
            let touched = self.wait();
            self.service(&touched);
        }
    }

    /// Takes jobs from the feed into `pending`: enough to fill the free slots, or all of them
    /// up to the joblog's lowest job while it is unchecked. Skips (and checks) jobs the joblog
    /// shows done.
    fn pull(&mut self) -> Result<(), RunError> {
        drain(&self.doorbell);
        while self.feed_open && (!self.verified || self.pending.len() <= self.free.len()) {
            let job = match self.feed.try_recv() {
                Ok(Ok(job)) => job,
                Ok(Err(err)) => {
                    self.feed_open = false;
                    self.fatal_error(format!("reading the input: {err}"));
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.feed_open = false;
                    break;
                }
            };
            if let Some(previous) = &self.previous {
                if let Some(lowest) = previous.lowest_seq() {
                    if job.seq >= lowest {
                        self.verified = true;
                    }
                }
                if previous.skip(job.seq) {
                    // A command holding `{%}` depends on the slot it ran in: not comparable.
                    if !self.template.uses_slot() {
                        let rendered = self.template.render(&job.args, job.seq, 1);
                        if let Err(err) = previous.check(job.seq, &rendered.text) {
                            if self.counters.consumed.load(Ordering::Relaxed) == self.skipped {
                                return Err(refuse(err)); // nothing has run: refuse the run
                            }
                            self.fatal_error(err.to_string());
                            break;
                        }
                    }
                    self.skipped += 1;
                    self.counters.consumed.fetch_add(1, Ordering::Relaxed);
                    if let Err(err) = self.output.skipped(job.seq) {
                        self.lost_stdout(&err);
                    }
                    if let Some(bar) = &self.bar {
                        bar.inc(1);
                    }
                    continue;
                }
            }
            self.pending.push_back(job);
        }
        if !self.feed_open {
            self.verified = true;
        }
        Ok(())
    }

    fn start_jobs(&mut self) {
        while self.may_start() && self.running() < self.throttle.cap() {
            let Some(Reverse(slot)) = self.free.peek().copied() else {
                return;
            };
            let Some(job) = self.pending.pop_front() else {
                return;
            };
            self.free.pop();
            let rendered = self.template.render(&job.args, job.seq, slot);
            let spawn = Spawn {
                rendered: &rendered,
                program: self.template.program(),
                capture: self.output.captures(),
                options: &self.options,
                run_id: self.containment.run_id(),
            };
            let tag = self.tag.then(|| job::tag_for(&job.args));
            let first = job.attempt == 1;
            match job::start(job, slot, &spawn, self.rules.timeout, tag) {
                Ok(running) => {
                    if first {
                        self.counters.consumed.fetch_add(1, Ordering::Relaxed);
                    }
                    self.counters.running.fetch_add(1, Ordering::Relaxed);
                    self.slots[slot - 1] = Some(running);
                    self.throttle.started();
                }
                Err(err) => {
                    self.free.push(Reverse(slot));
                    self.start_failed(err, &rendered.text, first);
                }
            }
        }
    }

    fn start_failed(&mut self, err: StartError, command: &OsStr, first: bool) {
        if err.is_transient() {
            // Out of processes, descriptors or memory: the job did not run, so it is neither
            // counted nor logged; it goes first when a start is tried again. Given up, it is
            // one of the jobs not started, which `--resume` runs.
            let running = self.running();
            self.pending.push_front(err.job);
            self.blocked = true;
            match self.throttle.refused(&err.error, running, Instant::now()) {
                Refused::Wait(Some(warning)) => say!("brake: {warning}"),
                Refused::Wait(None) => {}
                Refused::GiveUp(message) => self.fatal_error(message),
            }
            return;
        }
        if first {
            self.counters.consumed.fetch_add(1, Ordering::Relaxed);
        }
        say!(
            "brake: job {} could not start: {}: {}",
            err.job.seq,
            err.error,
            job::describe_command(command)
        );
        // The shell would have run and failed the same way: record it like one.
        self.record(&err.entry(command));
        self.failed += 1;
        self.after_count();
    }

    /// Reacts to a new phase: on stopping, every running job gets the termination sequence.
    fn follow_phase(&mut self) {
        let phase = self.stop.phase();
        if phase == self.seen_phase {
            return;
        }
        if self.seen_phase == Phase::Running {
            for running in self.slots.iter_mut().flatten() {
                running.begin_ending(Cause::Stop);
            }
            if let Some(joblog) = &mut self.joblog {
                let _ = joblog.sync();
            }
            if let Some(bar) = &self.bar {
                bar.finish_and_clear();
            }
        }
        self.seen_phase = phase;
        let all: Vec<bool> = vec![true; self.slots.len()];
        self.service(&all);
    }

    /// Sleeps in `poll` until a job ends or writes, a termination step or deadline is due,
    /// the phase changes or the feed has jobs; returns which slots to look at.
    fn wait(&mut self) -> Vec<bool> {
        let now = Instant::now();
        let mut until: Option<Instant> = None;
        let mut soonest = |at: Instant| until = Some(until.map_or(at, |u| u.min(at)));
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(2 + 3 * self.running());
        let mut owners: Vec<usize> = Vec::with_capacity(fds.capacity());
        fds.push(PollFd::new(&self.waker, PollFlags::IN));
        owners.push(usize::MAX);
        if self.feed_open && (!self.verified || self.pending.len() <= self.free.len()) {
            fds.push(PollFd::new(&self.doorbell, PollFlags::IN));
            owners.push(usize::MAX);
        }
        if let Some(retry) = self.throttle.retry_at().filter(|_| self.blocked) {
            soonest(retry);
        }
        for (index, running) in self.slots.iter().enumerate() {
            let Some(running) = running else { continue };
            if let Some(due) = running.next_due() {
                soonest(due);
            }
            for fd in running.fds() {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                owners.push(index);
            }
        }
        let timeout = until.map(|u| {
            rustix::event::Timespec::try_from(u.saturating_duration_since(now)).unwrap_or(
                rustix::event::Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                },
            )
        });
        let mut touched = vec![false; self.slots.len()];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {
                for (fd, &owner) in fds.iter().zip(&owners) {
                    if owner != usize::MAX && !fd.revents().is_empty() {
                        touched[owner] = true;
                    }
                }
            }
            // EINTR, or no memory for poll: look at everything, then wait again.
            Err(_) => touched.fill(true),
        }
        drop(fds);
        drain(&self.waker);
        let now = Instant::now();
        for (index, running) in self.slots.iter().enumerate() {
            let Some(running) = running else { continue };
            let due = running.next_due().is_some_and(|d| d <= now);
            if due || self.stop.is_forcing() {
                touched[index] = true;
            }
        }
        touched
    }

    /// Reads the touched jobs' output, advances their termination, and finishes those that
    /// ended.
    fn service(&mut self, touched: &[bool]) {
        let forcing = self.stop.is_forcing();
        for (index, _) in touched.iter().enumerate().filter(|(_, &t)| t) {
            let Some(running) = self.slots[index].as_mut() else {
                continue;
            };
            if let Err(err) = running.read_pipes(&mut self.output) {
                self.lost_stdout(&err);
                continue;
            }
            match running.advance(forcing, Instant::now()) {
                Ok(Some(exit)) => self.finish_job(index, exit),
                Ok(None) => {}
                Err(err) => {
                    let running = self.slots[index].take().expect("a running job");
                    self.free.push(Reverse(running.slot));
                    self.counters.running.fetch_sub(1, Ordering::Relaxed);
                    self.fatal_error(format!(
                        "lost track of job {} ({}): {err}",
                        running.job.seq,
                        running.describe()
                    ));
                    self.failed += 1;
                }
            }
        }
    }

    fn finish_job(&mut self, index: usize, exit: brake::child::Exit) {
        let mut running = self.slots[index].take().expect("a running job");
        self.free.push(Reverse(running.slot));
        self.counters.running.fetch_sub(1, Ordering::Relaxed);
        self.blocked = false;
        if let Err(err) = running.read_pipes(&mut self.output) {
            self.lost_stdout(&err);
        }
        let ending = running.ending(&exit, self.stop.is_stopping());
        if running.timed_out() {
            say!(
                "brake: job {} timed out after {:?}, {exit}: {}",
                running.job.seq,
                self.rules.timeout.unwrap_or_default(),
                running.describe()
            );
        }
        if ending == Ending::Failed && running.job.attempt < self.rules.retries && self.may_start()
        {
            self.pending.push_front(running.job.next_attempt());
            return;
        }
        let output = std::mem::take(&mut running.output);
        if let Err(err) = self.output.finished(running.job.seq, output) {
            self.lost_stdout(&err);
        }
        if ending != Ending::Interrupted {
            self.record(&running.entry(&exit));
        }
        match ending {
            Ending::Done => self.done += 1,
            Ending::Failed => self.failed += 1,
            Ending::Interrupted => self.interrupted += 1,
        }
        self.after_count();
    }

    /// Appends a joblog line. A log that cannot be written (a full disk, a file-size limit)
    /// stops the run as a Ctrl-C would, with status 255: every job from here on would go
    /// unrecorded and run again on resume, so letting running jobs finish or starting new ones
    /// only repeats work. The log keeps only whole lines (see `Joblog::record`).
    fn record(&mut self, entry: &Entry) {
        let Some(joblog) = &mut self.joblog else {
            return;
        };
        if let Err(err) = joblog.record(entry) {
            let path = joblog.path().display().to_string();
            let _ = joblog.sync();
            self.joblog = None;
            self.fatal_error(format!(
                "cannot write the joblog {path}: {err}; stopping the run (make room or raise \
                 the limit, then run it again with --resume)"
            ));
            self.stop.request(Reason::Requested);
        }
    }

    /// After a job is counted: the bar moves, and `--halt` may fire.
    fn after_count(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let halt = self.rules.halt;
        if self.halted || halt.on == HaltOn::Never {
            return;
        }
        if halt.fires(self.failed, self.done, self.total) {
            self.halted = true;
            let running = self.running();
            if halt.now {
                say!("brake: --halt {halt} reached; ending {running} running job(s)");
                self.stop.request(Reason::Halted);
            } else {
                say!("brake: --halt {halt} reached; no new jobs, waiting for {running} running");
            }
        }
    }

    fn fatal_error(&mut self, message: String) {
        say!("brake: {message}");
        if self.fatal.is_none() {
            self.fatal = Some(message);
        }
    }

    /// stdout is gone (a closed pipe): nothing more can be shown, so the run stops.
    fn lost_stdout(&mut self, err: &io::Error) {
        if !self.stdout_closed {
            self.stdout_closed = true;
            if err.kind() != io::ErrorKind::BrokenPipe {
                say!("brake: cannot write output: {err}");
            }
            self.stop.request(Reason::Requested);
        }
    }

    /// The end: held output printed, the log synced, escaped processes swept, the summary.
    fn finish(mut self, argv: &[OsString]) -> u8 {
        if let Err(err) = self.output.finish() {
            self.lost_stdout(&err);
        }
        if let Some(joblog) = &mut self.joblog {
            if let Err(err) = joblog.sync() {
                say!(
                    "brake: cannot sync the joblog {}: {err}",
                    joblog.path().display()
                );
            }
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        // Every job is reaped, and after a stop its termination sequence is over.
        self.containment.end();
        self.stop.wait_announced();

        // Retries that never got to run count as the failures they were.
        let retries = self.pending.iter().filter(|job| job.attempt > 1).count() as u64;
        self.failed += retries;
        let read = self.counters.read.load(Ordering::Relaxed);
        let input_complete =
            self.total.is_some() || self.counters.input_done.load(Ordering::Relaxed);
        let known = self.total.unwrap_or(read);
        let counted = self.done + self.failed + self.interrupted + self.skipped;
        let signal_code = self.stop.exit_code();
        let exit_code = if self.fatal.is_some() {
            INTERNAL_ERROR
        } else if let Some(code) = signal_code {
            summary::exit_code(Some(code), self.failed)
        } else if self.stdout_closed {
            STDOUT_CLOSED
        } else {
            summary::exit_code(None, self.failed)
        };
        let mut summary = Summary {
            done: self.done,
            failed: self.failed,
            interrupted: self.interrupted,
            not_started: known.saturating_sub(counted),
            input_complete,
            skipped: self.skipped,
            stopped_by: self
                .stop
                .stopping()
                .filter(|_| signal_code.is_some() || self.halted)
                .map(|t| t.reason.to_string()),
            exit_code,
            seconds: self.started.elapsed().as_secs_f64(),
            joblog: self.joblog_path.clone(),
            resume_with: None,
        };
        if self.joblog_path.is_some() && (summary.incomplete() || summary.failed > 0) {
            summary.resume_with = Some(resume_hint(argv, summary.incomplete()));
        }
        let clean = exit_code == 0 && !summary.incomplete();
        if !clean || io::stderr().is_terminal() {
            say!("{summary}");
        }
        let mut exit_code = exit_code;
        if let Some(path) = &self.json {
            if let Err(err) = summary.write_json(path) {
                say!("brake: cannot write {}: {err}", path.display());
                exit_code = INTERNAL_ERROR;
            }
        }
        self.containment.wait();
        exit_code
    }
}

/// `--dry-run`: the commands, one per line, nothing run and no joblog touched.
fn dry_run(template: &Template, inputs: Inputs, jobs: usize, stop: &Stop) -> Result<u8, RunError> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut seq = 0u64;
    for item in inputs {
        if stop.is_stopping() {
            break;
        }
        let args = match item {
            Ok(args) => args,
            Err(err) => {
                let _ = out.flush();
                say!("brake: reading the input: {err}");
                return Ok(INTERNAL_ERROR);
            }
        };
        seq += 1;
        let slot = ((seq - 1) % jobs as u64) as usize + 1;
        let rendered = template.render(&args, seq, slot);
        let written = out
            .write_all(rendered.text.as_encoded_bytes())
            .and_then(|()| out.write_all(b"\n"));
        if written.is_err() {
            return Ok(STDOUT_CLOSED);
        }
    }
    if out.flush().is_err() {
        return Ok(STDOUT_CLOSED);
    }
    stop.wait_announced();
    Ok(stop
        .exit_code()
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(0))
}

/// The stop's one-line notices, written above the progress bar when there is one.
fn notice(bar: Option<ProgressBar>) -> Notice {
    Notice::custom(move |event: &NoticeEvent| {
        let line = notice_line(event)?;
        match &bar {
            Some(bar) if !bar.is_hidden() => {
                bar.suspend(|| say!("{line}"));
                None
            }
            _ => Some(line),
        }
    })
}

fn notice_line(event: &NoticeEvent) -> Option<String> {
    let Reason::Signal(signal) = event.transition.reason else {
        return None;
    };
    let activity = event.activity.unwrap_or_default();
    match event.phase {
        Phase::Stopping => {
            let again = if signal == libc::SIGINT {
                "Ctrl-C".to_string()
            } else {
                Reason::Signal(signal).to_string()
            };
            Some(format!(
                "brake: stopping — {} running, {} not started ({again} again to force)",
                activity.running, activity.not_started
            ))
        }
        Phase::Forcing => Some(format!(
            "brake: forcing stop now — killing {} running",
            activity.running
        )),
        Phase::Running => None,
    }
}

fn progress_bar(wanted: bool, total: Option<u64>) -> Option<ProgressBar> {
    if !wanted {
        return None;
    }
    // indicatif's stderr target hides itself when stderr is not a terminal.
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{elapsed_precise} [{wide_bar}] {pos}/{len} ETA {eta}"
    } else {
        "{elapsed_precise} {spinner} {pos} done"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Reads a wake-up socket empty.
fn drain(socket: &UnixStream) {
    let mut buffer = [0u8; 256];
    while let Ok(n) = (&*socket).read(&mut buffer) {
        if n == 0 {
            break;
        }
    }
}
