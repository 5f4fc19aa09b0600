//! The joblog side of the loop: which jobs an earlier run did, checked against this run's
//! command line (invariant 3), and the line each job gets when it ends.

use std::path::PathBuf;

use crate::job::Job;
use crate::joblog::{Entry, Joblog, JoblogError, Previous};
use crate::template::Template;

/// How a job this run skips ended in an earlier run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Earlier {
    /// It succeeded: done.
    Succeeded,
    /// It failed (`--resume` skips it all the same): not done, and counted as a failure.
    Failed,
}

/// The joblog, and what an earlier run recorded in it.
pub(super) struct Record {
    /// `None` without `--joblog`, and once a write failed.
    joblog: Option<Joblog>,
    /// `--joblog`, for the summary.
    pub(super) path: Option<PathBuf>,
    previous: Option<Previous>,
    /// Invariant 3: the joblog's lowest job has been checked (or there is none).
    pub(super) verified: bool,
}

impl Record {
    /// The joblog at `path` (opened, with what it held), or none.
    pub(super) fn new(joblog: Option<(Joblog, Previous)>, path: Option<PathBuf>) -> Record {
        let (joblog, previous) = joblog.unzip();
        Record {
            joblog,
            path,
            verified: previous.as_ref().is_none_or(|p| p.lowest_seq().is_none()),
            previous,
        }
    }

    /// Whether an earlier run did `job`, so this one skips it, and how it ended then. Fails
    /// when the job's command, rendered by `template`, differs from the one logged for it.
    pub(super) fn done_before(
        &mut self,
        job: &Job,
        template: &Template,
    ) -> Result<Option<Earlier>, JoblogError> {
        let Some(previous) = &self.previous else {
            return Ok(None);
        };
        if previous
            .lowest_seq()
            .is_some_and(|lowest| job.seq >= lowest)
        {
            self.verified = true;
        }
        if !previous.skip(job.seq) {
            return Ok(None);
        }
        // A command holding `{%}` depends on the slot it ran in: not comparable.
        if !template.uses_slot() {
            let rendered = template.render(&job.args, job.seq, 1);
            previous.check(job.seq, &rendered.text)?;
        }
        Ok(Some(if previous.succeeded_before(job.seq) {
            Earlier::Succeeded
        } else {
            Earlier::Failed
        }))
    }

    /// Appends a job's line. A log that cannot be written is closed, and the message says
    /// what to do.
    pub(super) fn append(&mut self, entry: &Entry) -> Result<(), String> {
        let Some(joblog) = &mut self.joblog else {
            return Ok(());
        };
        let Err(err) = joblog.record(entry) else {
            return Ok(());
        };
        let path = joblog.path().display().to_string();
        let _ = joblog.sync();
        self.joblog = None;
        Err(format!(
            "cannot write the joblog {path}: {err}; stopping the run (make room or raise the \
             limit, then run it again with --resume)"
        ))
    }

    /// Whether the joblog's lines go to stdout (`--joblog -`): they cannot be read back.
    pub(super) fn to_stdout(&self) -> bool {
        self.path
            .as_ref()
            .is_some_and(|path| path.as_os_str() == "-")
    }

    /// Puts the lines written so far on disk.
    pub(super) fn sync(&mut self) -> Result<(), String> {
        let Some(joblog) = &mut self.joblog else {
            return Ok(());
        };
        joblog
            .sync()
            .map_err(|err| format!("cannot sync the joblog {}: {err}", joblog.path().display()))
    }
}
