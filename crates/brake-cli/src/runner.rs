//! The job runner: one loop on the main thread starts jobs as slots free up (through the two
//! threads of `runner/launcher.rs` when more than two run at once), and sleeps in one epoll
//! wait on every running job's pidfd and pipes, the stop's wake-up socket and the input feed's
//! doorbell. When the run stops (a signal, `--halt now`) it sends each running job the
//! termination sequence from the same loop, so output keeps being read while jobs wind down.
//!
//! [`run`] is the whole run in order: the plan (what the command line decided), the stop, the
//! joblog, then the `Runner`, whose loop starts, watches and counts jobs, and at the end
//! ends containment and says the summary (`runner/finish.rs`).
//!
//! # Invariants
//!
//! 1. Every job is reaped on the main thread, and spawned on the main thread or a launcher
//!    thread, each of which lives as long as the run: the parent-death signal is tied to the
//!    spawning thread (see `brake::child::Child::spawn`).
//! 2. A job is counted once, when it ends (or, for jobs never started, at the end): the
//!    summary's counts add up to the jobs read. Only jobs that ended by themselves (or by
//!    `--timeout`) get a joblog line, so `--resume` runs interrupted ones again.
//! 3. No job starts before the joblog's lowest recorded job has been checked against this
//!    run's command line: a log from another command is refused before anything runs.

mod dry_run;
mod feed;
mod finish;
mod halt;
mod launcher;
mod machine;
mod median;
mod onall;
mod progress;
mod readiness;
mod record;
mod saved;
mod start;
mod table;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use brake::child::{ignored_signals, ChildOptions, Exit};
use brake::{Phase, Reason, Stop, Subscription};
use rustix::event::Timespec;

use crate::cli::{HaltOn, RunArgs};
use crate::containment::Containment;
use crate::extras::Extras;
use crate::job::{self, Cause, Ending, Running};
use crate::joblog::{Entry, Joblog, Previous};
use crate::limits::Throttle;
use crate::output::Output;
use crate::plan::{self, refuse, Plan, Rules, RunError};
use crate::remote;
use crate::remote::hosts::Cluster;
use crate::remote::onall::Onall;
use crate::summary::{self, Interrupted};
use crate::template::Template;

use self::dry_run::dry_run;
use self::feed::Queue;
use self::launcher::{Context, Launcher};
use self::progress::Progress;
use self::readiness::Readiness;
use self::record::{Earlier, Record};
use self::table::Table;

/// The exit status when stdout was closed under the run (as SIGPIPE would give).
const STDOUT_CLOSED: u8 = 128 + libc::SIGPIPE as u8;

/// Runs the jobs `args` describes; `argv` is brake's own command line, for the resume hint.
/// Returns the exit status.
pub fn run(args: &RunArgs, argv: &[OsString]) -> Result<u8, RunError> {
    if let Some(answer) = args.options.answer() {
        let (text, code) = answer.map_err(RunError)?;
        let mut out = io::stdout().lock();
        return match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(code),
            Err(_) => Ok(STDOUT_CLOSED),
        };
    }
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
        return Ok(match plan.blocks {
            Some(blocks) => {
                let values = blocks.map(|item| item.map(|(args, _block)| args));
                dry_run(&plan.template, values, plan.jobs, plan.trace, &stop)
            }
            None => dry_run(&plan.template, plan.inputs, plan.jobs, plan.trace, &stop),
        });
    }
    let joblog = match &plan.joblog {
        Some(wanted) => Some(wanted.open(plan.explain)?),
        None => None,
    };
    let mut runner = Runner::new(plan, joblog, stop)?;
    if let Err(err) = runner.run_loop() {
        // Refused before any job ran: containment has nothing to end, but the guard must not
        // outlive brake.
        runner.containment.wait();
        return Err(err);
    }
    Ok(runner.finish(argv))
}

/// A run once it has begun: its state in groups, each made in `Runner::new` and none set later.
struct Runner {
    /// Fixed for the run: how jobs start and by what rules they end.
    settings: Settings,
    stop: Stop,
    /// The jobs running now, by slot.
    table: Table,
    /// The jobs waiting to start.
    queue: Queue,
    /// Wakes the loop's wait when the stop's phase changes.
    waker: Waker,
    /// What the loop sleeps on.
    readiness: Readiness,
    output: Output,
    /// The joblog, and what an earlier run recorded in it.
    record: Record,
    /// What the stop's notice and the progress bar show.
    progress: Progress,
    tally: Tally,
    /// Whether new jobs may start, and how the run ends.
    gate: Gate,
    /// The hosts of `-S`, when jobs run on other machines.
    cluster: Option<Cluster>,
    /// `--onall`, `--nonall`: every job on every host.
    onall: Option<Onall>,
    /// Ended after the jobs (see `containment.rs`).
    containment: Containment,
    /// The threads that start local jobs, when more than two may run (see `launcher.rs`).
    launcher: Option<Launcher>,
}

/// What the loop needs from the plan.
struct Settings {
    template: Template,
    child: ChildOptions,
    /// How a remote job's local ssh client is spawned (see `remote::client_termseq`).
    remote_child: ChildOptions,
    rules: Rules,
    /// `--tag`.
    tag: bool,
    /// The number of jobs, when the input tells it up front.
    total: Option<u64>,
    /// `--json`.
    json: Option<PathBuf>,
    /// The shell jobs run in.
    shell: crate::shell::Shell,
    /// `-t`: commands on stderr.
    trace: bool,
    /// `-v`: commands on stdout.
    verbose: bool,
    /// `--delay`, `--nice`, `--tagstring`, `--files`, `--results`.
    extras: Extras,
}

/// The socket the stop writes to on every change of phase, for the loop's `poll`.
struct Waker {
    socket: UnixStream,
    /// The writing end, for the launcher's threads.
    ring: UnixStream,
    /// The stop's listener that writes to the other end; dropped, it stops.
    _subscription: Subscription,
}

/// Jobs counted when they end (invariant 2).
#[derive(Default)]
struct Tally {
    /// Exited 0.
    done: u64,
    /// Failed, timed out, could not start, or lost track of.
    failed: u64,
    /// Ended by brake because the run stopped.
    interrupted: u64,
    /// Done in an earlier run (`--resume`).
    skipped: u64,
    /// Failed in an earlier run and not run again (`--resume`).
    failed_before: u64,
    /// Never started: their input cannot become a command (see `job::BadInput`).
    bad_input: u64,
    /// The first interrupted jobs, for the summary to name.
    interrupted_jobs: Vec<Interrupted>,
}

/// Whether new jobs may start, and how the run ends.
struct Gate {
    /// The stop's phase the loop last acted on.
    seen_phase: Phase,
    /// `--halt` fired: no new job starts.
    halted: bool,
    /// The status of the job that fired a `--halt` rule of one job (see `halt.rs`).
    halt_status: Option<u8>,
    /// A spawn failed for want of processes or descriptors: wait for a job to end, or for
    /// the throttle's retry time when none runs.
    blocked: bool,
    /// How many jobs may run since the machine refused one (see `limits::Throttle`).
    throttle: Throttle,
    /// `--delay`: no job starts before this.
    next_start: Option<Instant>,
    /// `--timeout N%`: the run times of the jobs that succeeded.
    run_times: self::median::RunTimes,
    /// An error that ends the run with status 255 once running jobs are done.
    fatal: Option<String>,
    stdout_closed: bool,
}

impl Runner {
    /// Readies the run: the progress display, the input thread, containment (which decides how
    /// jobs are spawned), the output.
    fn new(plan: Plan, joblog: Option<(Joblog, Previous)>, stop: Stop) -> Result<Runner, RunError> {
        let copies = plan.onall.as_ref().map_or(1, Onall::hosts);
        let total = plan.blocks.is_none().then(|| plan.inputs.total()).flatten();
        let total = total.map(|total| total * copies as u64);
        let progress = Progress::new(plan.bar, total, &stop);
        let waker = Waker::new(&stop).map_err(refuse)?;
        let readiness = Readiness::new(waker.socket.as_fd()).map_err(refuse)?;
        let queue = match plan.blocks {
            Some(blocks) => Queue::start_blocks(blocks, &stop, &progress.counters),
            None => Queue::start(
                plan.inputs,
                plan.extras.shuf,
                copies,
                &stop,
                &progress.counters,
            ),
        }
        .map_err(refuse)?;
        let containment = Containment::start(&plan.containment).map_err(RunError)?;
        let ignores_signals = !ignored_signals().is_empty();
        let mut child = plan::child_options(&plan.termseq, containment.guarded(), ignores_signals);
        let mut remote_child = plan::child_options(
            &remote::client_termseq(&plan.termseq),
            containment.guarded(),
            ignores_signals,
        );
        child.cgroup = containment.job_cgroup();
        remote_child.cgroup = containment.job_cgroup();
        let cluster = match plan.remote {
            Some(remote) => Some(
                Cluster::connect(
                    &remote.logins,
                    remote.jobs,
                    remote.ssh,
                    remote.setting,
                    containment.run_id(),
                    plan.termseq.clone(),
                    &stop,
                )
                .map_err(RunError)?,
            ),
            None => None,
        };
        let slots = cluster.as_ref().map_or(plan.jobs, Cluster::slots);
        // Under --onall a slot is a host, and -j says how many run at once.
        let at_once = if plan.onall.is_some() {
            slots.min(plan.jobs)
        } else {
            slots
        };
        let slots = if plan.onall.is_some() && cluster.is_none() {
            1
        } else {
            slots
        };
        let mut runner = Runner {
            settings: Settings {
                template: plan.template,
                child,
                remote_child,
                rules: plan.rules,
                tag: plan.output.tag,
                total,
                json: plan.json,
                shell: plan.shell,
                trace: plan.trace,
                verbose: plan.verbose,
                extras: plan.extras,
            },
            stop,
            table: Table::new(slots),
            queue,
            waker,
            readiness,
            output: Output::new(
                plan.output.mode,
                plan.output.keep_order,
                progress.bar.clone(),
            ),
            record: Record::new(joblog, plan.joblog.map(|wanted| wanted.path)),
            progress,
            tally: Tally::default(),
            gate: Gate::new(at_once.min(slots)),
            cluster,
            onall: plan.onall,
            containment,
            launcher: None,
        };
        // Without its threads (out of processes or descriptors already) the loop starts every
        // job itself, as it does at -j 2: slower, never wrong.
        runner.launcher = runner.launcher().ok().flatten();
        Ok(runner)
    }

    /// Threads to start jobs, for a run of more than two local jobs at once whose starts need
    /// no order among themselves (`--delay` spaces them, `-t` prints each as it starts).
    fn launcher(&self) -> io::Result<Option<Launcher>> {
        let settings = &self.settings;
        let wanted = self.table.by_slot.len() > 2
            && self.cluster.is_none()
            && self.onall.is_none()
            && settings.extras.delay.is_none()
            && !settings.trace;
        if !wanted {
            return Ok(None);
        }
        let context = Context {
            child: settings.child.clone(),
            shell: settings.shell.clone(),
            run_id: self.containment.run_id().to_owned(),
            capture: self.output.captures(),
            trace: settings.trace,
            program: settings.template.program().map(Into::into),
            nice: settings.extras.nice.as_ref().map(|(nice, _)| nice.clone()),
        };
        Launcher::new(context, &self.stop, &self.waker.ring).map(Some)
    }

    fn may_start(&self) -> bool {
        self.may_start_later() && !self.gate.blocked
    }

    /// Whether jobs may start once a refused start is retried.
    fn may_start_later(&self) -> bool {
        !self.stop.is_stopping() && !self.gate.halted && self.gate.fatal.is_none()
    }

    /// Whether the loop takes jobs from the feed: enough to fill the free slots, or all of them
    /// up to the joblog's lowest job while it is unchecked.
    fn wants_feed(&self) -> bool {
        self.queue.open
            && (!self.record.verified
                || self.onall.is_some()
                || self.queue.pending.len() <= self.table.free())
    }

    /// A refused start is tried again when a job ends (`job_ended`) or, with none running,
    /// at the throttle's retry time.
    fn unblock_when_due(&mut self) {
        let due = self
            .gate
            .throttle
            .retry_at()
            .is_none_or(|at| at <= Instant::now());
        if self.gate.blocked && self.table.running() == 0 && due {
            self.gate.blocked = false;
        }
    }

    fn run_loop(&mut self) -> Result<(), RunError> {
        loop {
            self.pull()?;
            self.follow_phase();
            self.take_launched();
            if !self.may_start_later() {
                if let Some(launcher) = &self.launcher {
                    launcher.close();
                }
            }
            self.unblock_when_due();
            if self.record.verified {
                self.progress.show();
                if self.may_start() {
                    self.start_jobs();
                }
            }
            let pending = !self.queue.pending.is_empty();
            let no_more = !self.may_start_later() || (!pending && !self.queue.open);
            if self.table.running() == 0 && (no_more || (self.gate.blocked && !pending)) {
                return Ok(());
            }
            let touched = self.wait();
            self.service(&touched);
        }
    }

    /// Takes jobs from the feed into `pending` (see `wants_feed`), skipping (and checking)
    /// those the joblog shows done.
    fn pull(&mut self) -> Result<(), RunError> {
        if std::mem::take(&mut self.readiness.doorbell_rang) {
            drain(&self.queue.doorbell);
        }
        while self.wants_feed() {
            let job = match self.queue.feed.try_recv() {
                Ok(Ok(job)) => job,
                Ok(Err(err)) => {
                    self.queue.open = false;
                    self.fatal_error(format!("reading the input: {err}"));
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.queue.open = false;
                    break;
                }
            };
            match self.record.done_before(&job, &self.settings.template) {
                Ok(None) => self.queue.pending.push_back(job),
                Ok(Some(earlier)) => self.skipped(job.seq, earlier),
                // Nothing has run: the joblog is another command's, and the run is refused.
                Err(err)
                    if self.progress.consumed_so_far()
                        == self.tally.skipped + self.tally.failed_before =>
                {
                    return Err(refuse(err));
                }
                Err(err) => {
                    self.fatal_error(err.to_string());
                    break;
                }
            }
        }
        if !self.queue.open {
            self.record.verified = true;
        }
        Ok(())
    }

    /// Job `seq` ended in an earlier run: counted as skipped, or as failed before.
    fn skipped(&mut self, seq: u64, earlier: Earlier) {
        match earlier {
            Earlier::Succeeded => self.tally.skipped += 1,
            Earlier::Failed => self.tally.failed_before += 1,
        }
        self.progress.skipped();
        if let Err(err) = self.output.skipped(seq) {
            self.lost_stdout(&err);
        }
    }

    /// Reacts to a new phase: on stopping, every running job gets the termination sequence.
    fn follow_phase(&mut self) {
        let phase = self.stop.phase();
        if phase == self.gate.seen_phase {
            return;
        }
        let began = self.gate.seen_phase == Phase::Running;
        if began {
            for running in self.table.by_slot.iter_mut().flatten() {
                running.begin_termination(Cause::Stop);
            }
        }
        self.gate.seen_phase = phase;
        let all: Vec<bool> = vec![true; self.table.by_slot.len()];
        self.service(&all);
        // After the jobs have their signals: a joblog's fsync can take longer than sending them.
        if began {
            let _ = self.record.sync();
            self.progress.clear();
        }
    }

    /// Sleeps until a job ends or writes, a termination step or deadline is due, the phase
    /// changes or the feed has jobs; returns which slots to look at.
    fn wait(&mut self) -> Vec<bool> {
        let mut touched = vec![false; self.table.by_slot.len()];
        let wants_feed = self.wants_feed();
        self.readiness
            .watch_doorbell(self.queue.doorbell.as_fd(), wants_feed);
        let timeout = self.poll_timeout();
        self.readiness.wait(timeout.as_ref(), &mut touched);
        if self.readiness.waker_rang {
            drain(&self.waker.socket);
        }
        let now = Instant::now();
        let forcing = self.stop.is_forcing();
        for running in self.table.jobs() {
            if forcing || running.next_due().is_some_and(|due| due <= now) {
                touched[running.slot - 1] = true;
            }
        }
        touched
    }

    /// How long the wait may sleep: until the soonest termination step, deadline or retry.
    fn poll_timeout(&self) -> Option<Timespec> {
        let jobs = self.table.jobs();
        let retry = self.gate.throttle.retry_at().filter(|_| self.gate.blocked);
        let delayed = self
            .gate
            .next_start
            .filter(|_| self.may_start() && !self.queue.pending.is_empty());
        let until = jobs
            .filter_map(Running::next_due)
            .chain(retry)
            .chain(delayed)
            .min()?;
        let left = until.saturating_duration_since(Instant::now());
        Some(Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        }))
    }

    /// Reads the touched jobs' output, advances their termination, and finishes those that
    /// ended.
    fn service(&mut self, touched: &[bool]) {
        let forcing = self.stop.is_forcing();
        for (index, _) in touched.iter().enumerate().filter(|(_, &t)| t) {
            let Some(running) = self.table.by_slot[index].as_mut() else {
                continue;
            };
            // Signals first, output after: in a stop, the jobs begin to end the sooner.
            match running.advance(forcing, Instant::now()) {
                Ok(Some(exit)) => self.job_ended(index + 1, &exit),
                Ok(None) => {
                    let read = running.read_pipes(&mut self.output);
                    let copies = self.launcher.as_ref().is_some_and(Launcher::busy);
                    self.readiness.forget_spent(running, copies);
                    if let Err(err) = read {
                        self.lost_stdout(&err);
                    }
                }
                Err(err) => {
                    let mut running = self.table.remove(index + 1);
                    let copies = self.launcher.as_ref().is_some_and(Launcher::busy);
                    self.readiness.forget_job(&mut running, copies);
                    self.progress.ended();
                    self.fatal_error(format!(
                        "lost track of job {} ({}): {err}",
                        running.job.seq,
                        running.describe()
                    ));
                    self.tally.failed += 1;
                }
            }
        }
    }

    /// The job in `slot` has ended: printed, recorded and counted, or started again.
    fn job_ended(&mut self, slot: usize, exit: &Exit) {
        let mut running = self.table.remove(slot);
        self.progress.ended();
        self.gate.blocked = false;
        let read = running.read_pipes(&mut self.output);
        let copies = self.launcher.as_ref().is_some_and(Launcher::busy);
        self.readiness.forget_job(&mut running, copies);
        if let Err(err) = read {
            self.lost_stdout(&err);
        }
        let exit = &running.settle(exit);
        if let Some(host) = running.lost_on() {
            say!(
                "brake: job {} was lost with its connection to {host} (exit 255): {}",
                running.job.seq,
                running.describe()
            );
            if let Some(message) = self.cluster.as_mut().and_then(|c| c.lost(slot)) {
                say!("brake: {message}");
            }
        }
        let ending = running.ending(exit, self.stop.is_stopping());
        let rules = self.settings.rules;
        if running.timed_out() {
            let timeout = running
                .deadline
                .map_or(Duration::ZERO, |d| d.duration_since(running.started_at));
            let seq = running.job.seq;
            say!(
                "brake: job {seq} timed out after {timeout:?}, {}: {}",
                job::sequence_end(exit, &self.settings.child.termseq),
                running.describe()
            );
        }
        if ending == Ending::Failed && running.job.attempt < rules.retries && self.may_start() {
            let host = self.cluster.as_ref().map(|c| c.host_of(slot));
            self.queue
                .pending
                .push_front(running.job.next_attempt(host));
            return;
        }
        // The bar counts the job before its output is printed, so that it is redrawn below that
        // output with the count that includes it.
        self.progress.tick();
        if ending == Ending::Done {
            self.succeeded_after(running.started_at.elapsed());
        }
        let mut output = std::mem::take(&mut running.output);
        let interrupted = ending == Ending::Interrupted;
        self.save_output(&running.job, slot, &mut output, interrupted);
        self.print_finished(running.job.seq, ending == Ending::Failed, output);
        self.count_ended(running, exit, ending);
    }

    /// A job that ended for good: its joblog line (unless the stop interrupted it), its count,
    /// and `--halt`.
    fn count_ended(&mut self, running: Running, exit: &Exit, ending: Ending) {
        let seq = running.job.seq;
        // Described only for a message that names it: `--halt`, or the list of interrupted jobs.
        let halting = self.settings.rules.halt.on != HaltOn::Never;
        let listed =
            ending == Ending::Interrupted && self.tally.interrupted_jobs.len() < summary::LISTED;
        let described = (halting || listed).then(|| running.describe());
        let status = if running.timed_out() {
            // GNU parallel's -1 for a job it ended, as a status.
            255
        } else {
            halt::status_of(exit)
        };
        if ending != Ending::Interrupted {
            let mut entry = running.entry(exit);
            if let Some(onall) = &self.onall {
                entry.seq = onall.seq_on_host(entry.seq);
            }
            self.write_joblog(&entry);
        }
        match ending {
            Ending::Done => self.tally.done += 1,
            Ending::Failed => self.tally.failed += 1,
            Ending::Interrupted => {
                self.tally.interrupted += 1;
                if let Some(command) = described.clone().filter(|_| listed) {
                    self.tally
                        .interrupted_jobs
                        .push(Interrupted { seq, command });
                }
            }
        }
        self.after_count(status, || {
            format!("job {seq} ({exit}): `{}`", described.unwrap_or_default())
        });
    }

    /// Appends a joblog line. A log that cannot be written (a full disk, a file-size limit)
    /// stops the run as a Ctrl-C would, with status 255: every job from here on would go
    /// unrecorded and run again on resume, so letting running jobs finish or starting new ones
    /// only repeats work. The log keeps only whole lines (see `Joblog::record`).
    fn write_joblog(&mut self, entry: &Entry) {
        // On stdout (`--joblog -`) the line goes out with the bar out of the way, as output does.
        let appended = match self.progress.bar.as_ref() {
            Some(bar) if self.record.to_stdout() => bar.suspend(|| self.record.append(entry)),
            _ => self.record.append(entry),
        };
        if let Err(message) = appended {
            self.fatal_error(message);
            self.stop.request(Reason::Requested);
        }
    }

    /// After a job is counted, `--halt` may fire, naming the job that made it (`counted`
    /// describes it, as GNU parallel's "This job failed:" does); `status` is the job's exit
    /// status, which a rule of one job passes on.
    fn after_count(&mut self, status: u8, counted: impl FnOnce() -> String) {
        let halt = self.settings.rules.halt;
        if self.gate.halted || halt.on == HaltOn::Never {
            return;
        }
        if halt.fires(self.tally.failed, self.tally.done, self.settings.total) {
            self.gate.halted = true;
            if halt::passes_status_on(&halt) {
                self.gate.halt_status = Some(status);
            }
            let running = self.table.running();
            let by = counted();
            if halt.now {
                say!("brake: --halt {halt} reached by {by}; ending {running} running job(s)");
                self.stop.request(Reason::Halted);
            } else {
                say!(
                    "brake: --halt {halt} reached by {by}; no new jobs, waiting for {running} \
                     running"
                );
            }
        }
    }

    fn fatal_error(&mut self, message: String) {
        say!("brake: {message}");
        if self.gate.fatal.is_none() {
            self.gate.fatal = Some(message);
        }
    }

    /// stdout is gone (a closed pipe): nothing more can be shown, so the run stops.
    fn lost_stdout(&mut self, err: &io::Error) {
        if !self.gate.stdout_closed {
            self.gate.stdout_closed = true;
            if err.kind() != io::ErrorKind::BrokenPipe {
                say!("brake: cannot write output: {err}");
            }
            self.stop.request(Reason::Requested);
        }
    }
}

impl Gate {
    fn new(jobs: usize) -> Gate {
        Gate {
            seen_phase: Phase::Running,
            halted: false,
            halt_status: None,
            next_start: None,
            run_times: Default::default(),
            blocked: false,
            throttle: Throttle::new(jobs),
            fatal: None,
            stdout_closed: false,
        }
    }
}

impl Waker {
    fn new(stop: &Stop) -> io::Result<Waker> {
        let (socket, ring) = UnixStream::pair()?;
        ring.set_nonblocking(true)?;
        socket.set_nonblocking(true)?;
        let for_stop = ring.try_clone()?;
        let subscription = stop.on_change(move |_| {
            let _ = (&for_stop).write(&[1]);
        });
        Ok(Waker {
            socket,
            ring,
            _subscription: subscription,
        })
    }
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
