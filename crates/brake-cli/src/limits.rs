//! Fitting `-j` to the machine's limits: before the run starts, to the open-file and process
//! limits (each running job holds three descriptors, its pidfd and two pipes, and one process
//! at least), and during it, when starting a job fails for want of processes or memory anyway
//! (a cgroup's `pids.max`, another program using up the user's processes): see [`Throttle`].

use std::io;
use std::time::{Duration, Instant};

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors brake keeps for itself: stdio, the joblog, signal and wake-up sockets, and
/// the transient ones of a spawn.
const RESERVED_FDS: u64 = 32;

/// Descriptors per running job when output is captured (pidfd, stdout, stderr), and during
/// its spawn (two pipe ends and std's exec-error pipe).
const FDS_PER_JOB: u64 = 3;

/// Processes left for everything else the user runs.
const RESERVED_PROCS: u64 = 16;

/// `jobs`, lowered to what the limits allow (raising the soft descriptor limit up to the hard
/// one first, as a user would with `ulimit -n`). Returns the count and a warning if it was
/// lowered.
pub fn fit_jobs(jobs: usize) -> (usize, Option<String>) {
    let wanted = jobs as u64;
    let mut fitted = wanted;
    let mut warnings = Vec::new();

    let need = wanted
        .saturating_mul(FDS_PER_JOB)
        .saturating_add(RESERVED_FDS);
    let files = getrlimit(Resource::Nofile);
    if let Some(soft) = files.current {
        let mut soft = soft;
        if soft < need {
            let raised = files.maximum.map_or(need, |hard| hard.min(need));
            if raised > soft
                && setrlimit(
                    Resource::Nofile,
                    Rlimit {
                        current: Some(raised),
                        maximum: files.maximum,
                    },
                )
                .is_ok()
            {
                soft = raised;
            }
        }
        if soft < need {
            let fits = soft.saturating_sub(RESERVED_FDS) / FDS_PER_JOB;
            fitted = fitted.min(fits.max(1));
            warnings.push(format!(
                "-j {jobs} needs about {need} open files but the limit is {soft}; running \
                 {fitted} jobs at once (raise the limit with ulimit -n)"
            ));
        }
    }

    if let Some(procs) = getrlimit(Resource::Nproc).current {
        let fits = procs.saturating_sub(RESERVED_PROCS).max(1);
        if fitted > fits {
            fitted = fits;
            warnings.push(format!(
                "-j {jobs} is more than the limit of {procs} processes allows; running {fitted} \
                 jobs at once (raise the limit with ulimit -u)"
            ));
        }
    }

    let fitted = usize::try_from(fitted).unwrap_or(jobs);
    let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
    (fitted, warning)
}

/// The first wait before trying again when no job runs (a job's end is the usual signal that
/// a process is free again; with none running there is only time).
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// The longest wait between two tries when no job runs.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long starting a job may keep failing with no job running before the run gives up. Long
/// enough to ride out a burst of some other program's processes, short enough that a run that
/// can never start anything says so.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// How many jobs may run while the machine refuses more, as GNU parallel does it ("No more
/// processes"): the first refusal lowers the count to the jobs running at that moment (at least
/// one), for the rest of the run, so the refused start is retried when one of them ends; with
/// none running, it is retried after a back-off that doubles up to [`MAX_BACKOFF`], and after
/// [`GIVE_UP_AFTER`] of nothing but refusals the run gives up.
#[derive(Debug)]
pub struct Throttle {
    cap: usize,
    lowered: bool,
    /// Since when every start has been refused with no job running.
    stalled_since: Option<Instant>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

/// What to do after a refused start.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Retry when a running job ends or at [`Throttle::retry_at`]; the warning, if any, is
    /// said once, at the first refusal.
    Wait(Option<String>),
    /// Nothing could start for [`GIVE_UP_AFTER`]: the message for the end of the run.
    GiveUp(String),
}

impl Throttle {
    /// No throttling yet: up to `jobs` at once.
    pub fn new(jobs: usize) -> Throttle {
        Throttle {
            cap: jobs.max(1),
            lowered: false,
            stalled_since: None,
            backoff: FIRST_BACKOFF,
            retry_at: None,
        }
    }

    /// How many jobs may run at once now.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// When to try again with no job running; `None` while jobs run (their end is the cue).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// A job started: whatever was short is available again.
    pub fn started(&mut self) {
        self.stalled_since = None;
        self.backoff = FIRST_BACKOFF;
        self.retry_at = None;
    }

    /// Starting a job was refused with `error` while `running` jobs ran.
    pub fn refused(&mut self, error: &io::Error, running: usize, now: Instant) -> Refused {
        let warning = (!self.lowered).then(|| {
            format!(
                "cannot start more processes ({error}): running at most {} at a time",
                running.max(1)
            )
        });
        self.lowered = true;
        self.cap = self.cap.min(running.max(1));
        if running > 0 {
            self.stalled_since = None;
            self.retry_at = None;
            return Refused::Wait(warning);
        }
        let since = *self.stalled_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= GIVE_UP_AFTER {
            self.retry_at = None;
            return Refused::GiveUp(format!(
                "could not start a job for {} s, with none running ({error}); giving up",
                GIVE_UP_AFTER.as_secs()
            ));
        }
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        Refused::Wait(warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modest_count_is_kept() {
        let (jobs, warning) = fit_jobs(4);
        assert_eq!(jobs, 4);
        assert_eq!(warning, None);
    }

    fn eagain() -> io::Error {
        io::Error::from_raw_os_error(libc::EAGAIN)
    }

    #[test]
    fn a_refusal_lowers_the_count_to_the_jobs_running_and_warns_once() {
        let mut throttle = Throttle::new(50);
        let now = Instant::now();
        let Refused::Wait(Some(warning)) = throttle.refused(&eagain(), 7, now) else {
            panic!("the first refusal warns");
        };
        assert!(warning.starts_with("cannot start more processes (Resource temporarily"));
        assert!(
            warning.ends_with("running at most 7 at a time"),
            "{warning}"
        );
        assert_eq!(throttle.cap(), 7);
        assert_eq!(throttle.retry_at(), None, "a job's end is the cue");
        assert_eq!(throttle.refused(&eagain(), 4, now), Refused::Wait(None));
        assert_eq!(throttle.cap(), 4);
        throttle.started();
        assert_eq!(throttle.cap(), 4, "the count stays lowered");
        assert_eq!(throttle.refused(&eagain(), 6, now), Refused::Wait(None));
        assert_eq!(throttle.cap(), 4, "and is never raised");
    }

    #[test]
    fn with_none_running_it_backs_off_then_gives_up() {
        let mut throttle = Throttle::new(8);
        let start = Instant::now();
        assert!(matches!(
            throttle.refused(&eagain(), 0, start),
            Refused::Wait(Some(_))
        ));
        assert_eq!(throttle.cap(), 1);
        assert_eq!(throttle.retry_at(), Some(start + FIRST_BACKOFF));
        let mut now = start;
        let mut waits = vec![];
        while let Refused::Wait(None) = throttle.refused(&eagain(), 0, now) {
            let next = throttle.retry_at().unwrap();
            waits.push(next - now);
            now = next;
        }
        assert!(now - start >= GIVE_UP_AFTER);
        assert!(now - start < GIVE_UP_AFTER + MAX_BACKOFF);
        assert_eq!(waits[0], FIRST_BACKOFF * 2);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        let Refused::GiveUp(message) = throttle.refused(&eagain(), 0, now) else {
            panic!("still giving up");
        };
        assert!(
            message.contains("giving up") && message.contains("Resource"),
            "{message}"
        );
        assert_eq!(throttle.retry_at(), None);
    }

    #[test]
    fn a_start_or_a_running_job_resets_the_clock() {
        let mut throttle = Throttle::new(2);
        let start = Instant::now();
        let _ = throttle.refused(&eagain(), 0, start);
        throttle.started();
        assert_eq!(throttle.retry_at(), None);
        let later = start + GIVE_UP_AFTER;
        assert_eq!(throttle.refused(&eagain(), 0, later), Refused::Wait(None));
        assert_eq!(throttle.retry_at(), Some(later + FIRST_BACKOFF));
        let _ = throttle.refused(&eagain(), 1, later);
        let much_later = later + GIVE_UP_AFTER;
        assert_eq!(
            throttle.refused(&eagain(), 0, much_later),
            Refused::Wait(None)
        );
    }
}
