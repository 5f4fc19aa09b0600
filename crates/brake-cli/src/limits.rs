//! Fitting `-j` to the machine's limits before the run starts: each running job holds three
//! descriptors (its pidfd and two pipes) and one process at least, and running out of either
//! mid-run must not be how a user learns the limit.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modest_count_is_kept() {
        let (jobs, warning) = fit_jobs(4);
        assert_eq!(jobs, 4);
        assert_eq!(warning, None);
    }
}
