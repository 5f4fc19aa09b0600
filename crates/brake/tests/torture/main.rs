//! Torture suite for the library's models: random Ctrl-C presses against the thread pool, the
//! process pool, task groups and rayon, and hostile input for the parsers and the pool's wire.
//!
//! Each test prints a `torture-tally` line (see `brake_testkit::torture`); the trial counts
//! are CI's fast slice unless `BRAKE_TORTURE_TRIALS` / `BRAKE_TORTURE_FUZZ_CASES` ask for the
//! long run (`bench/torture.sh`).

#[path = "../support/mod.rs"]
mod support;

mod hostile;
mod interrupts;
mod signals;
