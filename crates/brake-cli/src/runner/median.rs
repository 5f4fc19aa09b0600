//! `--timeout N%`: the run times of the jobs that succeeded, kept in order, whose median sets
//! how long the next jobs (and the running ones) may run.

use std::time::Duration;

use super::Runner;

/// The run times of the jobs that succeeded, in order.
#[derive(Debug, Default)]
pub(super) struct RunTimes(Vec<Duration>);

impl RunTimes {
    pub(super) fn add(&mut self, time: Duration) {
        let at = self.0.partition_point(|&t| t <= time);
        self.0.insert(at, time);
    }

    /// The median (the lower of the middle two for an even count), once there is one.
    pub(super) fn median(&self) -> Option<Duration> {
        let n = self.0.len();
        (n > 0).then(|| self.0[(n - 1) / 2])
    }
}

impl Runner {
    /// How long a job started now may run: `--timeout`, or its share of the median.
    pub(super) fn job_timeout(&self) -> Option<Duration> {
        let rules = &self.settings.rules;
        rules.timeout.or_else(|| {
            let percent = rules.timeout_percent?;
            let median = self.gate.run_times.median()?;
            Some(median.mul_f64(percent / 100.0))
        })
    }

    /// A job succeeded after `time`: under `--timeout N%` the median moves, and with it the
    /// deadline of every running job brake has not begun to end.
    pub(super) fn succeeded_after(&mut self, time: Duration) {
        if self.settings.rules.timeout_percent.is_none() {
            return;
        }
        self.gate.run_times.add(time);
        let Some(timeout) = self.job_timeout() else {
            return;
        };
        for running in self.table.by_slot.iter_mut().flatten() {
            if running.termination.is_none() {
                running.deadline = running.started_at.checked_add(timeout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_follows_the_run_times() {
        let mut times = RunTimes::default();
        assert_eq!(times.median(), None);
        let ms = Duration::from_millis;
        times.add(ms(30));
        assert_eq!(times.median(), Some(ms(30)));
        times.add(ms(10));
        times.add(ms(20));
        assert_eq!(times.median(), Some(ms(20)));
        times.add(ms(1000));
        assert_eq!(times.median(), Some(ms(20)));
    }
}
