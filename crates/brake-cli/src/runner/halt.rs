//! The exit status of a run under `--halt`, as GNU parallel gives it: a rule that fires on the
//! first failed (or finished) job passes that job's status on, a rule that fires on successes
//! means the run did what it was asked (0), and a rule in percent reports the share of the jobs
//! that failed, in percent rounded up. Everything else is the number of failed jobs.

use brake::child::Exit;

use crate::cli::{Halt, HaltOn, Threshold};

/// A job's exit as a shell would give it: its code, or 128 + the signal that ended it.
pub(super) fn status_of(exit: &Exit) -> u8 {
    match (exit.code(), exit.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 255,
    }
}

/// What `--halt` makes of a run's exit status (a run a signal stopped is not asked).
/// `triggered` is the status of the job that fired a `fail=1` or `done=1` rule; `fired`
/// whether the rule fired at all; `jobs` the number of jobs, the base of a percentage.
pub(super) fn exit_status(
    halt: &Halt,
    triggered: Option<u8>,
    fired: bool,
    failed: u64,
    jobs: u64,
) -> u8 {
    let counted = u8::try_from(failed.min(101)).expect("at most 101");
    if halt.on == HaltOn::Never {
        return counted;
    }
    if fired && halt.on == HaltOn::Success {
        return 0;
    }
    if let Some(status) = triggered.filter(|_| fired) {
        return status;
    }
    match halt.threshold {
        Threshold::Percent(_) if jobs > 0 => {
            let percent = (failed.saturating_mul(100)).div_ceil(jobs).min(100);
            u8::try_from(percent).expect("at most 100")
        }
        _ => counted,
    }
}

/// Whether a job's end that fires `halt` passes its own status on: a rule of one failed or one
/// finished job.
pub(super) fn passes_status_on(halt: &Halt) -> bool {
    matches!(halt.on, HaltOn::Fail | HaltOn::Done) && halt.threshold == Threshold::Count(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_halt;

    fn status(rule: &str, triggered: Option<u8>, fired: bool, failed: u64, jobs: u64) -> u8 {
        exit_status(&parse_halt(rule).unwrap(), triggered, fired, failed, jobs)
    }

    #[test]
    fn statuses_follow_gnu_parallel() {
        // The failing job's own status.
        assert_eq!(status("now,fail=1", Some(5), true, 1, 5), 5);
        assert_eq!(status("now,done=1", Some(4), true, 1, 2), 4);
        assert_eq!(status("now,done=1", Some(0), true, 0, 2), 0);
        // Counts.
        assert_eq!(status("soon,fail=2", None, true, 2, 5), 2);
        assert_eq!(status("now,done=2", None, true, 2, 4), 2);
        assert_eq!(status("now,done=3", None, true, 1, 4), 1);
        assert_eq!(status("now,success=1", None, false, 2, 2), 2);
        // Successes that fire mean the run did what it was asked.
        assert_eq!(status("now,success=1", None, true, 3, 7), 0);
        assert_eq!(status("soon,success=50%", None, true, 2, 6), 0);
        // Percentages of the jobs that failed, rounded up, fired or not.
        assert_eq!(status("soon,fail=20%", None, true, 2, 10), 20);
        assert_eq!(status("soon,fail=20%", None, true, 2, 6), 34);
        assert_eq!(status("soon,fail=1%", None, true, 1, 17), 6);
        assert_eq!(status("soon,fail=15%", None, false, 2, 20), 10);
        assert_eq!(status("now,success=50%", None, false, 3, 3), 100);
        assert_eq!(status("now,done=100%", None, true, 1, 3), 34);
        assert_eq!(status("never", None, false, 200, 300), 101);
    }

    #[test]
    fn only_rules_of_one_pass_a_status_on() {
        assert!(passes_status_on(&parse_halt("now,fail=1").unwrap()));
        assert!(passes_status_on(&parse_halt("soon,done=1").unwrap()));
        assert!(!passes_status_on(&parse_halt("now,fail=2").unwrap()));
        assert!(!passes_status_on(&parse_halt("now,success=1").unwrap()));
        assert!(!passes_status_on(&parse_halt("now,fail=1%").unwrap()));
    }
}
