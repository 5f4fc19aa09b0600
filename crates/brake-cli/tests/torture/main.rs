//! Torture suite for the `brake` command and `brake exec`: random Ctrl-C presses, killed
//! runners resumed, signal storms and a closing terminal, exhausted limits, cgroups, and
//! hostile input.
//!
//! Each test prints a `torture-tally` line (see `brake_testkit::torture`); the trial counts
//! are CI's fast slice unless `BRAKE_TORTURE_TRIALS` / `BRAKE_TORTURE_FUZZ_CASES` ask for the
//! long run (`bench/torture.sh`).

#[path = "../support/mod.rs"]
mod support;

mod cgroup;
mod hostile;
mod interrupts;
mod killed;
mod limits;
mod signals;
