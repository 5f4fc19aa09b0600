//! The `brake` command. For now it has one mode, `brake exec -- PROGRAM ARGS...`: run one
//! program and its whole process tree under brake's stop contract. The parallel job runner is
//! not built yet.
//!
//! Exit status: the program's own status (128 + signal if a signal ended it); 130 (128 +
//! SIGINT) when Ctrl-C stopped the run; 127 when the program cannot be found, 126 when it cannot
//! be run; 255 for usage and internal errors.

mod exec;
#[allow(dead_code)]
mod inputs;
#[allow(dead_code)]
mod joblog;
#[allow(dead_code)]
mod quote;
#[allow(dead_code)]
mod template;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for usage and internal errors.
const USAGE_ERROR: u8 = 255;

#[derive(Parser)]
#[command(
    name = "brake",
    version,
    about = "Run programs so that one Ctrl-C ends them all, whole process trees included",
    after_help = "Exit status: the program's own (128 + signal if a signal ended it); 130 after \
                  Ctrl-C; 127 program not found; 126 program not runnable; 255 usage or \
                  internal error.\n\nThe parallel job runner (brake COMMAND ::: ARGS) is not \
                  available yet in this version."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run PROGRAM under the stop contract: the first Ctrl-C (or SIGTERM, SIGHUP) sends the
    /// termination sequence to its whole process group, a second one kills it at once, and
    /// descendants that left the group are ended too.
    Exec(exec::Options),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os().collect::<Vec<OsString>>()) {
        Ok(cli) => cli,
        Err(err) => {
            let usage = err.use_stderr();
            let _ = err.print();
            return if usage {
                ExitCode::from(USAGE_ERROR)
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    match cli.command {
        Command::Exec(options) => match exec::run(&options) {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprintln!("brake: {err}");
                ExitCode::from(err.exit_code())
            }
        },
    }
}
