//! The `brake` command. The job runner is not built yet; this prints usage and exits 2.

use std::process::ExitCode;

const USAGE: &str = "\
usage: brake [OPTIONS] COMMAND [ARGS...] ::: INPUTS...
       brake exec -- COMMAND [ARGS...]

The job runner is not available yet in this version of brake.
The library (crate `brake`) and its examples are: see README.md.";

fn main() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
