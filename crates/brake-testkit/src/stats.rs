//! Summaries of timed trials for the benchmarks that drive programs through the kit: medians,
//! the 90th percentile and the range, in milliseconds, and the tail of a trial's output for a
//! failure message.

use std::time::Duration;

/// What a set of trial times comes to, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The 90th percentile (nearest rank).
    pub p90: f64,
    /// The fastest trial.
    pub min: f64,
    /// The slowest trial.
    pub max: f64,
}

/// The summary of `times`; `None` when there are none.
pub fn stats(times: &[Duration]) -> Option<Stats> {
    if times.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = times.iter().map(|&t| ms(t)).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let rank = (n * 9).div_ceil(10).max(1);
    Some(Stats {
        median,
        p90: sorted[rank - 1],
        min: sorted[0],
        max: sorted[n - 1],
    })
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        let times: Vec<Duration> = [4, 1, 3, 2]
            .iter()
            .map(|&n| Duration::from_millis(n))
            .collect();
        let s = stats(&times).unwrap();
        assert_eq!((s.median, s.p90, s.min, s.max), (2.5, 4.0, 1.0, 4.0));
        assert!(stats(&[]).is_none());
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
    }
}
