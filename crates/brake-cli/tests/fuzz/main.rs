//! Torture by fuzzing, for the parts of the command only its own tests can reach: the command
//! template (parsing, rendering, and what `sh` makes of a rendering) and the joblog reader
//! (valid logs cut, mutated and bent out of shape).
//!
//! Each target runs `fuzz_cases` cases (`BRAKE_TORTURE_FUZZ_CASES` for a long run) and prints
//! a `torture-tally` line. Properties are checked against independent expectations: what a
//! template's literal text and values must come to after the shell's quote removal, and what a
//! cut log must still hold.

mod joblog;
mod template;

use std::cell::Cell;

use brake_testkit::torture::Tally;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Runs `cases` cases of `test` on values of `strategy`, counting them and the panics in a
/// `model` tally; fails with the smallest failing input.
fn fuzz<S: Strategy>(
    model: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = Cell::new(0usize);
    let panics = Cell::new(0usize);
    let result = runner.run(&strategy, |value| {
        ran.set(ran.get() + 1);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(value))).unwrap_or_else(
            |_| {
                panics.set(panics.get() + 1);
                Err(TestCaseError::fail("panicked"))
            },
        )
    });
    let mut tally = Tally::new(model);
    tally.trials = ran.get();
    tally.bad_inputs = ran.get();
    tally.panics = panics.get();
    if let Err(err) = result {
        println!("{tally}");
        panic!("{model}: {err}");
    }
    tally.finish();
}

/// A message meant for one terminal line: no line breaks, no control characters that could
/// move the cursor or recolour the terminal.
fn one_line(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.is_empty());
    prop_assert!(
        !message.chars().any(char::is_control),
        "not one clean line: {message:?}"
    );
    Ok(())
}
