//! The end of a run, once no job runs: held output printed, the joblog synced, containment
//! ended, then the summary and the exit status.

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::sync::atomic::Ordering;

use super::{halt, Runner, Tally, STDOUT_CLOSED};
use crate::remote::onall::Onall;
use crate::summary::{self, resume_hint, Summary, INTERNAL_ERROR};

impl Runner {
    /// Ends the run; `argv` is brake's own command line, for the resume hint. Returns the exit
    /// status.
    pub(super) fn finish(mut self, argv: &[OsString]) -> u8 {
        self.print_held();
        if let Err(err) = self.output.finish() {
            self.lost_stdout(&err);
        }
        if let Err(message) = self.record.sync() {
            say!("brake: {message}");
        }
        self.progress.clear();
        // Every job is reaped, and after a stop its termination sequence is over.
        if let Some(cluster) = &mut self.cluster {
            cluster.end();
        }
        self.containment.end();
        self.stop.wait_announced();
        let summary = self.summary(argv);
        let clean = summary.exit_code == 0 && !summary.incomplete();
        if !clean || io::stderr().is_terminal() {
            if let Some(line) = summary.interrupted_line() {
                say!("{line}");
            }
            say!("{summary}");
        }
        let mut exit_code = summary.exit_code;
        if let Some(path) = &self.settings.json {
            if let Err(err) = summary.write_json(path) {
                say!("brake: cannot write {}: {err}", path.display());
                exit_code = INTERNAL_ERROR;
            }
        }
        self.containment.wait();
        exit_code
    }

    /// The run's counts and exit status. Retries that never got to run count as the failures
    /// they were.
    fn summary(&mut self, argv: &[OsString]) -> Summary {
        let retries = self
            .queue
            .pending
            .iter()
            .filter(|job| job.attempt > 1)
            .count();
        self.tally.failed += retries as u64;
        let interrupted_jobs = std::mem::take(&mut self.tally.interrupted_jobs);
        let Tally {
            done,
            failed,
            interrupted,
            skipped,
            failed_before,
            bad_input,
            ..
        } = self.tally;
        let counters = &self.progress.counters;
        let total = self.settings.total;
        let known = total.unwrap_or(counters.read.load(Ordering::Relaxed));
        let signal_code = self.stop.exit_code();
        // GNU parallel's --onall counts the hosts where a job failed.
        let failures = self
            .onall
            .as_ref()
            .map_or(failed + failed_before, Onall::failed_hosts);
        let exit_code = if self.gate.fatal.is_some() {
            INTERNAL_ERROR
        } else if signal_code.is_none() && self.gate.stdout_closed {
            STDOUT_CLOSED
        } else if signal_code.is_none() && bad_input > 0 {
            INTERNAL_ERROR
        } else if signal_code.is_some() {
            summary::exit_code(signal_code, failures)
        } else {
            halt::exit_status(
                &self.settings.rules.halt,
                self.gate.halt_status,
                self.gate.halted,
                failures,
                known,
            )
        };
        let stopped = signal_code.is_some() || self.gate.halted;
        let mut summary = Summary {
            done,
            failed,
            interrupted,
            interrupted_jobs,
            not_started: known
                .saturating_sub(done + failed + interrupted + skipped + failed_before + bad_input),
            input_complete: total.is_some() || counters.input_complete.load(Ordering::Relaxed),
            skipped,
            failed_before,
            bad_input,
            stopped_by: self
                .stop
                .stopping()
                .filter(|_| stopped)
                .map(|t| t.reason.to_string()),
            exit_code,
            seconds: self.progress.started.elapsed().as_secs_f64(),
            joblog: self.record.path.clone(),
            resume_with: None,
        };
        // --onall's joblog cannot be resumed (see `plan.rs`).
        let resumable =
            summary.joblog.is_some() && !self.record.to_stdout() && self.onall.is_none();
        let failures = summary.failed + summary.failed_before > 0;
        if resumable && (summary.incomplete() || failures) {
            summary.resume_with = Some(resume_hint(argv, failures));
        }
        summary
    }
}
