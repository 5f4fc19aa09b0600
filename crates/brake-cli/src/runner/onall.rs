//! The loop's side of `--onall` (see `remote::onall`): which job starts on which host, the
//! number and slot a job sees, and output held until its host is done.

use std::time::{Duration, SystemTime};

use super::Runner;
use crate::job::Job;
use crate::joblog::Entry;
use crate::output::JobOutput;

impl Runner {
    /// The first pending job whose host's slot is free and whose host may run (see
    /// `Onall::may_start_on`), with that slot, taken. Under `--onall` each host has one slot,
    /// so a host runs its jobs one at a time and in order. A job for a host that is not up
    /// fails as a lost one does (exit 255), not run, or with `--filter-hosts` is left out.
    pub(super) fn pinned_job(&mut self) -> Option<(usize, Job)> {
        if let Some(picked) = self.pinned_job_within(true) {
            return Some(picked);
        }
        // Nothing runs and no begun host has a job to start: the next host begins, so that
        // a host's job that ended unseen can never hold up the run.
        if self.table.running() == 0 {
            return self.pinned_job_within(false);
        }
        None
    }

    fn pinned_job_within(&mut self, hosts_at_once: bool) -> Option<(usize, Job)> {
        let mut index = 0;
        while let Some(job) = self.queue.pending.get(index) {
            if self.table.free() == 0 {
                return None;
            }
            let onall = self.onall.as_ref()?;
            let host = onall.host(job.seq);
            if hosts_at_once && !onall.may_start_on(host) {
                index += 1;
                continue;
            }
            let slot = match &self.cluster {
                Some(cluster) => cluster.slot_of(host).filter(|&slot| cluster.usable(slot)),
                None => Some(1),
            };
            match slot {
                Some(slot) if self.table.take(slot) => {
                    let job = self.queue.pending.remove(index)?;
                    self.onall.as_mut()?.starting(host);
                    return Some((slot, job));
                }
                Some(_) => index += 1,
                None => {
                    let job = self.queue.pending.remove(index)?;
                    if self.onall.as_ref()?.filter_hosts() {
                        self.progress.consumed();
                    } else {
                        self.unreachable(job, host);
                    }
                }
            }
        }
        None
    }

    /// Job `seq`'s number and slot as it sees them: under `--onall`, its number on its host
    /// and slot 1.
    pub(super) fn shown(&self, seq: u64, slot: usize) -> (u64, usize) {
        match &self.onall {
            Some(onall) => (onall.seq_on_host(seq), 1),
            None => (seq, slot),
        }
    }

    /// A job ended for good: its output printed, or under `--onall` held until its host's
    /// last job has ended.
    pub(super) fn print_finished(&mut self, seq: u64, failed: bool, output: JobOutput) {
        let due = match &mut self.onall {
            Some(onall) => onall.ended(seq, failed, output),
            None => vec![(seq, output)],
        };
        self.print(due);
    }

    /// Under `--onall`, job `seq` left the run without output of its own: its host may be
    /// done.
    pub(super) fn onall_gone(&mut self, seq: u64, failed: bool) {
        let due = self.onall.as_mut().map(|onall| onall.gone(seq, failed));
        self.print(due.unwrap_or_default());
    }

    /// At the end of the run: the output `--onall` still holds.
    pub(super) fn print_held(&mut self) {
        let rest = self.onall.as_mut().map(|onall| onall.rest());
        self.print(rest.unwrap_or_default());
    }

    fn print(&mut self, due: Vec<(u64, JobOutput)>) {
        for (seq, output) in due {
            if let Err(err) = self.output.finished(seq, output) {
                self.lost_stdout(&err);
            }
        }
    }

    /// A job of a host that is down: logged and counted as failed with 255, as ssh fails
    /// for a host it cannot reach.
    fn unreachable(&mut self, job: Job, host: usize) {
        if job.attempt == 1 {
            self.progress.consumed();
        }
        let (seq, _) = self.shown(job.seq, 1);
        let name = self
            .cluster
            .as_ref()
            .map_or_else(|| ":".to_owned(), |cluster| cluster.host_name(host));
        let command = self.settings.template.render(&job.args, seq, 1).text;
        self.write_joblog(&Entry {
            seq,
            host: name,
            start: SystemTime::now(),
            runtime: Duration::ZERO,
            send: 0,
            receive: 0,
            exitval: 255,
            signal: 0,
            command,
        });
        self.tally.failed += 1;
        self.progress.tick();
        self.print_finished(job.seq, true, JobOutput::default());
        self.after_count(255, || format!("job {seq} (its host is down)"));
    }
}
