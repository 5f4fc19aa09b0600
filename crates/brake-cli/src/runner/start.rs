//! Starting jobs: a free slot, the command rendered and checked, the spawn, and what a start
//! that fails becomes — a retry later (out of processes), a failed job (the program cannot
//! run), or bad input (the input cannot become a command at all).

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use brake::Phase;

use super::launcher::{Launched, Launcher, Request};
use super::Runner;
use crate::job::{self, BadInput, Cause, Job, Spawn, StartError};
use crate::joblog::Entry;
use crate::limits::Refused;
use crate::output::Stream;
use crate::remote::Target;
use crate::template::{Rendered, Unrendered};

impl Runner {
    /// Starts pending jobs while slots are free and starts are allowed.
    pub(super) fn start_jobs(&mut self) {
        while self.may_start() && self.table.running() < self.gate.throttle.cap() {
            if self.queue.pending.is_empty() {
                return;
            }
            if self.gate.next_start.is_some_and(|at| at > Instant::now()) {
                return;
            }
            if !self.machine_has_room() {
                return;
            }
            let (slot, job) = if self.onall.is_some() {
                match self.pinned_job() {
                    Some(picked) => picked,
                    None => return,
                }
            } else {
                let Some(slot) = self.free_slot() else {
                    return;
                };
                if self.cluster.as_ref().is_some_and(|c| !c.usable(slot)) {
                    self.table.retire(slot);
                    if self.table.running() == 0 && self.table.free() == 0 {
                        self.fatal_error("no host is left to run jobs on".into());
                    }
                    continue;
                }
                (slot, self.queue.pending.pop_front().expect("a pending job"))
            };
            let shown = self.shown(job.seq, slot);
            let mut rendered = match self
                .settings
                .template
                .render_job(&job.args, shown.0, shown.1)
            {
                Ok(rendered) => rendered,
                Err(unrendered) => {
                    self.table.release(slot);
                    self.unrendered(&job, unrendered);
                    continue;
                }
            };
            if let Some(argv) = &rendered.direct {
                if !self.settings.shell.runs_directly(argv) {
                    rendered.direct = None;
                }
            }
            if let Some(bad) = BadInput::of(&job, &rendered) {
                self.table.release(slot);
                self.bad_input(&job, bad);
                continue;
            }
            // A job that writes straight to stdout could write before its command.
            let show_first = self.settings.verbose && !self.output.captures();
            if show_first {
                let mut line = rendered.text.as_encoded_bytes().to_vec();
                line.push(b'\n');
                if let Err(err) = std::io::stdout().lock().write_all(&line) {
                    self.lost_stdout(&err);
                }
            }
            let target = self
                .cluster
                .as_ref()
                .map_or(Target::Local, |c| c.target(slot));
            let niced = match (&self.settings.extras.nice, &target) {
                (Some((nice, level)), Target::Local) => Some(with_nice(&rendered, nice, *level)),
                _ => None,
            };
            let program = match (&niced, &self.settings.extras.nice) {
                (Some(_), Some((nice, _))) => Some(nice.as_path()),
                _ => self.settings.template.program(),
            };
            let is_niced = niced.is_some();
            let rendered = niced.unwrap_or(rendered);
            let tag = match &self.settings.extras.tagstring {
                Some(tagstring) => {
                    let mut tag = tagstring.render(&job.args, shown.0, shown.1);
                    tag.push(b'\t');
                    Some(tag)
                }
                None if self.settings.tag => Some(match &self.onall {
                    Some(onall) => onall.tag(job.seq),
                    None => job::tag_for(&job.args),
                }),
                None => None,
            };
            let first = job.attempt == 1;
            let timeout = self.job_timeout();
            if let (Some(launcher), Target::Local) = (&mut self.launcher, &target) {
                launcher.send(Request {
                    job,
                    slot,
                    rendered,
                    niced: is_niced,
                    timeout,
                    tag,
                    shown,
                });
                continue;
            }
            let options = match target {
                Target::Local => &self.settings.child,
                Target::Remote(_) => &self.settings.remote_child,
            };
            let spawn = Spawn {
                rendered: &rendered,
                program,
                capture: self.output.captures(),
                options,
                run_id: self.containment.run_id(),
                target,
                shell: &self.settings.shell,
                trace: self.settings.trace,
                shown,
            };
            match job::start(job, slot, &spawn, timeout, tag) {
                Ok(running) => {
                    self.started(running);
                    if let Some(delay) = self.settings.extras.delay {
                        self.gate.next_start = Instant::now().checked_add(delay);
                    }
                }
                Err(err) => {
                    self.table.release(slot);
                    if let Some(job) = self.start_failed(err, &rendered.text, first) {
                        self.queue.pending.push_front(job);
                    }
                }
            }
        }
    }

    /// A job has started: watched and counted. One that a launcher thread started after the
    /// run began to stop is told at once, like every job running then.
    fn started(&mut self, mut running: job::Running) {
        let seq = running.job.seq;
        let first = running.job.attempt == 1;
        running.output.set_seq(seq);
        // A job that writes straight to stdout had its command shown before it started.
        let shown_first = !self.output.captures();
        if self.settings.verbose && !shown_first {
            self.show_command(&mut running);
        }
        if self.gate.seen_phase != Phase::Running {
            running.begin_termination(Cause::Stop);
        }
        self.progress.started(first);
        self.readiness.watch_job(&running);
        self.table.put(running);
        self.gate.throttle.started();
    }

    /// Takes what the launcher's threads have done (see `launcher.rs`).
    pub(super) fn take_launched(&mut self) {
        let mut held = Vec::new();
        while let Some(launched) = self.launcher.as_mut().and_then(Launcher::try_take) {
            match launched {
                Launched::Started(running) => self.started(*running),
                Launched::Failed {
                    error,
                    command,
                    slot,
                } => {
                    self.table.release(slot);
                    let first = error.job.attempt == 1;
                    held.extend(self.start_failed(error, &command, first));
                }
                Launched::Held { job, slot } => {
                    self.table.release(slot);
                    held.push(job);
                }
                Launched::Lost { seq, slot } => {
                    self.table.release(slot);
                    self.tally.failed += 1;
                    self.fatal_error(format!("job {seq} was lost while it started"));
                }
            }
        }
        // Back in front of the queue, in the order they left it.
        held.sort_by_key(|job| job.seq);
        for job in held.into_iter().rev() {
            self.queue.pending.push_front(job);
        }
    }

    /// `-v`: the job's command, as the first line of its output.
    fn show_command(&mut self, running: &mut job::Running) {
        let mut line = running.command.as_encoded_bytes().to_vec();
        line.push(b'\n');
        if let Err(err) = self.output.chunk(&mut running.output, Stream::Out, &line) {
            self.lost_stdout(&err);
        }
    }

    /// The slot for the next pending job: with `-S`, a retry goes to a host it has not failed
    /// on (and that is up) when one has a free slot, as GNU parallel's `--retries` does.
    fn free_slot(&mut self) -> Option<usize> {
        let failed_on = &self.queue.pending.front()?.failed_on;
        match &self.cluster {
            Some(cluster) if !failed_on.is_empty() => self.table.take_free_preferring(|slot| {
                cluster.usable(slot) && !failed_on.contains(&cluster.host_of(slot))
            }),
            _ => self.table.take_free(),
        }
    }

    /// A job without a command: one that a Perl expression skipped is recorded as GNU
    /// parallel records it, failed with exit value -2 and never run; a failed Perl process
    /// ends the run.
    fn unrendered(&mut self, job: &Job, unrendered: Unrendered) {
        if let Unrendered::Failed(message) = unrendered {
            return self.fatal_error(message);
        }
        if job.attempt == 1 {
            self.progress.consumed();
        }
        let command = self.settings.template.render(&job.args, job.seq, 0).text;
        self.write_joblog(&Entry {
            seq: job.seq,
            host: ":".to_owned(),
            start: std::time::SystemTime::now(),
            runtime: std::time::Duration::ZERO,
            send: 0,
            receive: 0,
            exitval: -2,
            signal: 0,
            command,
        });
        self.tally.failed += 1;
        self.progress.tick();
        self.onall_gone(job.seq, true);
        let seq = job.seq;
        // Its exit value, -2, as the byte an exit status holds.
        self.after_count(254, || {
            format!("job {seq} (skipped by its Perl expression)")
        });
    }

    /// A job whose input cannot become a command: said, counted apart, and neither failed nor
    /// logged, so that no resume runs it as a job that might work another time.
    fn bad_input(&mut self, job: &Job, bad: BadInput) {
        say!("brake: {}", bad.message(job.seq, job.args.len()));
        if job.attempt == 1 {
            self.progress.consumed();
        }
        self.tally.bad_input += 1;
        self.progress.tick();
        self.onall_gone(job.seq, false);
    }

    /// A start failed. Out of processes, descriptors or memory, the job did not run: it is
    /// neither counted nor logged, and comes back, to go first when a start is tried again.
    /// Given up, it is one of the jobs not started, which `--resume` runs.
    #[must_use]
    fn start_failed(&mut self, err: StartError, command: &OsStr, first: bool) -> Option<Job> {
        if err.is_transient() {
            // Jobs started, not slots taken: starts handed to the launcher hold slots too.
            let running = self.table.jobs().count();
            let refused = self
                .gate
                .throttle
                .refused(&err.error, running, Instant::now());
            self.gate.blocked = true;
            match refused {
                Refused::Wait(Some(warning)) => say!("brake: {warning}"),
                Refused::Wait(None) => {}
                Refused::GiveUp(message) => self.fatal_error(message),
            }
            return Some(err.job);
        }
        if err.error.raw_os_error() == Some(libc::E2BIG) {
            self.bad_input(&err.job, BadInput::CommandTooLong);
            return None;
        }
        if first {
            self.progress.consumed();
        }
        say!(
            "brake: job {} could not start: {}: {}",
            err.job.seq,
            err.error,
            job::describe_command(command)
        );
        // The shell would have run and failed the same way: record it like one.
        let mut entry = err.entry(command);
        entry.seq = self.shown(entry.seq, 1).0;
        self.write_joblog(&entry);
        self.tally.failed += 1;
        self.progress.tick();
        self.onall_gone(err.job.seq, true);
        let seq = err.job.seq;
        let status = job::start_failure_status(&err.error);
        self.after_count(status, || {
            format!(
                "job {seq} (could not start: {}): `{}`",
                err.error,
                job::describe_command(command)
            )
        });
        None
    }
}

/// The job's command run through `nice -n LEVEL` (`--nice`): the niceness is set before the
/// job's program starts, and it is the job's own process that runs it. The shell line (joblog,
/// messages) stays the job's command.
fn with_nice(rendered: &Rendered, nice: &Path, level: i32) -> Rendered {
    let mut argv: Vec<OsString> = vec![
        nice.as_os_str().to_owned(),
        "-n".into(),
        level.to_string().into(),
    ];
    match &rendered.direct {
        Some(direct) => argv.extend(direct.iter().cloned()),
        None => argv.extend([
            OsString::from("/bin/sh"),
            "-c".into(),
            rendered.text.clone(),
        ]),
    }
    Rendered {
        text: rendered.text.clone(),
        direct: Some(argv),
    }
}
