//! What the torture tests share: how many trials to run, and the one-line tally each test
//! prints so that `bench/torture.sh` can add the lines up into its table.
//!
//! A torture test runs [`trials`] trials in CI (a fast slice) and as many as the long run asks
//! for through `BRAKE_TORTURE_TRIALS`. At its end it prints its [`Tally`] as one line starting
//! with [`TALLY_PREFIX`] and then asserts that nothing was left behind, lost or panicked, so a
//! failing test still prints what it saw. Random trials draw from an [`Rng`] whose seed is
//! printed, and `BRAKE_TORTURE_SEED` replays it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The start of every tally line: `torture-tally model=… trials=… …`.
pub const TALLY_PREFIX: &str = "torture-tally";

/// Trials per test: `BRAKE_TORTURE_TRIALS` when set (the long run), else `ci_default`.
///
/// # Panics
///
/// If the variable is set to something other than a positive number.
pub fn trials(ci_default: usize) -> usize {
    scaled("BRAKE_TORTURE_TRIALS", ci_default)
}

/// Cases per fuzz target: `BRAKE_TORTURE_FUZZ_CASES` when set, else `ci_default`.
///
/// # Panics
///
/// If the variable is set to something other than a positive number.
pub fn fuzz_cases(ci_default: u32) -> u32 {
    let cases = scaled("BRAKE_TORTURE_FUZZ_CASES", ci_default as usize);
    u32::try_from(cases).expect("BRAKE_TORTURE_FUZZ_CASES fits in u32")
}

fn scaled(var: &str, ci_default: usize) -> usize {
    match std::env::var(var) {
        Err(_) => ci_default,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{var}={text:?}: expected a positive whole number"),
        },
    }
}

/// A small xorshift generator: trials need variety and a printed seed to replay them, not
/// statistical quality.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `model`, seeded from `BRAKE_TORTURE_SEED` or the clock.
    pub fn for_model(model: &str) -> Rng {
        let seed = std::env::var("BRAKE_TORTURE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("{model}: BRAKE_TORTURE_SEED={seed}");
        Rng(seed | 1)
    }

    /// The next raw value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }

    /// A duration in `0..=max`.
    pub fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.range(0, max))
    }
}

/// What one torture test did and found. Printed by [`Tally::finish`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The model or path under attack: `threads`, `process-pool`, `cli`, `fuzz-template`, …
    pub model: String,
    /// Trials run (fuzz: cases).
    pub trials: usize,
    /// Faults injected: presses, signals, kills, closed terminals, exhausted limits.
    pub faults: usize,
    /// Bad inputs tried (fuzz cases, malformed files, misuse).
    pub bad_inputs: usize,
    /// Processes found alive after a trial ended (must be 0).
    pub left_behind: usize,
    /// Results that finished but were not reported, or were counted twice (must be 0).
    pub lost: usize,
    /// Panics of the program under test (must be 0).
    pub panics: usize,
    /// Failed checks of any kind: a wrong exit status, a report or joblog that does not add
    /// up, a hang, or any of the above (must be 0).
    pub failed: usize,
}

impl Tally {
    /// An empty tally for `model`.
    pub fn new(model: &str) -> Tally {
        Tally {
            model: model.to_owned(),
            ..Tally::default()
        }
    }

    /// Prints the tally line, then fails the test if anything was left behind, lost, or
    /// panicked, or a trial failed.
    ///
    /// # Panics
    ///
    /// When `left_behind`, `lost`, `panics` or `failed` is not 0.
    pub fn finish(&self) {
        self.finish_with(&[]);
    }

    /// Like [`finish`](Tally::finish), for a test that collected what went wrong in its trials:
    /// prints each failure, counts them in `failed`, prints the tally line, and fails the test
    /// with the failures' text if there were any.
    ///
    /// # Panics
    ///
    /// When `failures` is not empty, or as [`finish`](Tally::finish) does.
    pub fn finish_with(&self, failures: &[String]) {
        for failure in failures {
            println!("{failure}");
        }
        let tally = Tally {
            failed: self.failed + failures.len(),
            ..self.clone()
        };
        tally.print_and_check(failures);
    }

    fn print_and_check(&self, failures: &[String]) {
        println!("{self}");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(self.left_behind, 0, "processes left behind: {self}");
        assert_eq!(self.lost, 0, "results lost: {self}");
        assert_eq!(self.panics, 0, "panics: {self}");
        assert_eq!(self.failed, 0, "failed trials: {self}");
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TALLY_PREFIX} model={} trials={} faults={} bad_inputs={} left_behind={} lost={} \
             panics={} failed={}",
            self.model,
            self.trials,
            self.faults,
            self.bad_inputs,
            self.left_behind,
            self.lost,
            self.panics,
            self.failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_line_names_every_count() {
        let mut tally = Tally::new("cli");
        tally.trials = 10;
        tally.faults = 14;
        assert_eq!(
            tally.to_string(),
            "torture-tally model=cli trials=10 faults=14 bad_inputs=0 left_behind=0 lost=0 \
             panics=0 failed=0"
        );
    }
}
