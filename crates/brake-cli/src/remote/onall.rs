//! `--onall` and `--nonall`: the job list run once on every host. The input thread gives each
//! input to every host in turn, so job `seq` is input `(seq - 1) / hosts` on host
//! `(seq - 1) % hosts`, and a host sees its own numbering: `{#}`, `$PARALLEL_SEQ` and the
//! joblog's Seq count its jobs from 1, and `{%}` is 1, as each host runs its jobs one at a
//! time. A host's output is held until its last job has ended and then printed whole (after
//! the hosts before it, with `-k`), and the run's exit status counts the hosts where a job
//! failed, as GNU parallel's.

use crate::output::JobOutput;

/// What the run knows of every host's share of the jobs.
pub struct Onall {
    /// The hosts, in `-S` order.
    names: Vec<String>,
    /// Jobs per host: the inputs, all read before the run.
    per_host: u64,
    /// `-k`: hosts' output in `-S` order.
    keep_order: bool,
    /// For each host: its finished jobs' output, held.
    held: Vec<Vec<(u64, JobOutput)>>,
    /// For each host: its jobs that ended.
    ended: Vec<u64>,
    /// For each host: whether a job failed there.
    failed: Vec<bool>,
    /// With `-k`: the hosts before this one have been printed.
    printed: usize,
    /// `--filter-hosts`: the jobs of a host that is down are left out, not failed.
    filter_hosts: bool,
    /// `-j`: hosts that may have begun and not finished at once.
    at_once: usize,
    /// For each host: whether a job of its has started.
    started: Vec<bool>,
    /// Hosts that have begun and are not done.
    busy: usize,
}

impl Onall {
    /// The run over hosts named `names` (`:` for this machine), `per_host` jobs each.
    pub fn new(
        names: Vec<String>,
        per_host: u64,
        keep_order: bool,
        filter_hosts: bool,
        at_once: usize,
    ) -> Onall {
        let hosts = names.len();
        Onall {
            names,
            per_host,
            keep_order,
            held: (0..hosts).map(|_| Vec::new()).collect(),
            ended: vec![0; hosts],
            failed: vec![false; hosts],
            printed: 0,
            filter_hosts,
            at_once: at_once.max(1),
            started: vec![false; hosts],
            busy: 0,
        }
    }

    /// Whether a job of `host` may start: its host has begun and is not done, or fewer than
    /// `-j` hosts are, as GNU parallel runs `-j` hosts at once, each to its end.
    pub fn may_start_on(&self, host: usize) -> bool {
        (self.started[host] && self.ended[host] < self.per_host) || self.busy < self.at_once
    }

    /// A job of `host` is starting.
    pub fn starting(&mut self, host: usize) {
        if !self.started[host] {
            self.started[host] = true;
            self.busy += 1;
        }
    }

    /// Job `seq` ended without output of its own (it could not start, or its input could
    /// not become a command); returns the output now due, as [`Onall::ended`] does.
    pub fn gone(&mut self, seq: u64, failed: bool) -> Vec<(u64, JobOutput)> {
        self.ended(seq, failed, JobOutput::default())
    }

    /// Whether the jobs of a host that is down are left out (`--filter-hosts`) rather than
    /// failed, as GNU parallel has them.
    pub fn filter_hosts(&self) -> bool {
        self.filter_hosts
    }

    /// How many hosts the jobs are spread over.
    pub fn hosts(&self) -> usize {
        self.names.len()
    }

    /// The host (its index in `-S` order) that job `seq` belongs to.
    pub fn host(&self, seq: u64) -> usize {
        usize::try_from((seq - 1) % self.hosts() as u64).unwrap_or(0)
    }

    /// Job `seq`'s number on its host, from 1.
    pub fn seq_on_host(&self, seq: u64) -> u64 {
        (seq - 1) / self.hosts() as u64 + 1
    }

    /// The `--tag` prefix of job `seq`'s lines: its host.
    pub fn tag(&self, seq: u64) -> Vec<u8> {
        let mut tag = self.names[self.host(seq)].clone().into_bytes();
        tag.push(b'\t');
        tag
    }

    /// Job `seq` ended for good, failed or not; its `output` is held. Returns the output now
    /// due: that of every host whose jobs have all ended (and, with `-k`, whose hosts before
    /// it are printed), in job order.
    pub fn ended(&mut self, seq: u64, failed: bool, output: JobOutput) -> Vec<(u64, JobOutput)> {
        let host = self.host(seq);
        self.ended[host] += 1;
        if self.started[host] && self.ended[host] == self.per_host {
            self.busy -= 1;
        }
        self.failed[host] |= failed;
        self.held[host].push((seq, output));
        self.due(false)
    }

    /// The output still held, at the end of the run (a stop, a lost host): every host's, in
    /// `-S` order.
    pub fn rest(&mut self) -> Vec<(u64, JobOutput)> {
        self.due(true)
    }

    fn due(&mut self, all: bool) -> Vec<(u64, JobOutput)> {
        let complete = |host: usize, ended: &[u64]| all || ended[host] >= self.per_host;
        let mut due = Vec::new();
        if self.keep_order {
            while self.printed < self.hosts() && complete(self.printed, &self.ended) {
                due.append(&mut self.held[self.printed]);
                self.printed += 1;
            }
        } else {
            for host in 0..self.hosts() {
                if complete(host, &self.ended) {
                    due.append(&mut self.held[host]);
                }
            }
        }
        due
    }

    /// The run's failures as GNU parallel counts them: the hosts where a job failed.
    pub fn failed_hosts(&self) -> u64 {
        self.failed.iter().filter(|&&failed| failed).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(due: &[(u64, JobOutput)]) -> Vec<u64> {
        due.iter().map(|(seq, _)| *seq).collect()
    }

    #[test]
    fn jobs_are_numbered_per_host() {
        let onall = Onall::new(vec!["a".into(), "b".into(), "c".into()], 2, false, false, 3);
        let placed: Vec<(usize, u64)> = (1..=6)
            .map(|seq| (onall.host(seq), onall.seq_on_host(seq)))
            .collect();
        assert_eq!(placed, [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2)]);
        assert_eq!(onall.tag(5), b"b\t");
    }

    #[test]
    fn a_host_is_printed_whole_when_its_last_job_ends() {
        let mut onall = Onall::new(vec!["a".into(), "b".into()], 2, false, false, 2);
        assert!(onall.ended(1, false, JobOutput::default()).is_empty());
        assert!(onall.ended(2, true, JobOutput::default()).is_empty());
        assert_eq!(seqs(&onall.ended(4, false, JobOutput::default())), [2, 4]);
        assert_eq!(seqs(&onall.ended(3, false, JobOutput::default())), [1, 3]);
        assert_eq!(onall.failed_hosts(), 1);
        assert!(onall.rest().is_empty());
    }

    #[test]
    fn j_hosts_run_at_once_each_to_its_end() {
        let mut onall = Onall::new(vec!["a".into(), "b".into()], 2, false, false, 1);
        assert!(onall.may_start_on(0) && onall.may_start_on(1));
        onall.starting(0);
        onall.ended(1, false, JobOutput::default());
        assert!(onall.may_start_on(0) && !onall.may_start_on(1));
        onall.gone(3, true);
        assert!(onall.may_start_on(1));
        assert_eq!(onall.failed_hosts(), 1);
    }

    #[test]
    fn keep_order_prints_hosts_in_their_order() {
        let mut onall = Onall::new(vec!["a".into(), "b".into()], 1, true, false, 2);
        assert!(onall.ended(2, false, JobOutput::default()).is_empty());
        assert_eq!(seqs(&onall.ended(1, false, JobOutput::default())), [1, 2]);
        let mut stopped = Onall::new(vec!["a".into(), "b".into()], 2, true, false, 2);
        stopped.ended(2, false, JobOutput::default());
        assert_eq!(seqs(&stopped.rest()), [2]);
    }
}
