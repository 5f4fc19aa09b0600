//! The `brake` command: a parallel job runner whose one Ctrl-C stops every job, loses no
//! finished output and can be resumed (`brake [OPTIONS] COMMAND ::: ARGS`), and
//! `brake exec -- PROGRAM ARGS...`, which runs one program and its whole process tree under the
//! same stop contract.
//!
//! Exit status of the runner: 0 all jobs succeeded; 1-100 the number of failed jobs (earlier
//! runs' failures that `--resume` skips included); 101 more than 100 failed; 128 + N after
//! signal N stopped the run (130 for Ctrl-C); 255 for usage and internal errors and for input
//! that cannot become a command. `brake exec` exits with the program's own status (see
//! `exec.rs`).

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use brake_cli::summary::INTERNAL_ERROR;
use brake_cli::{cli, exec, runner, say, watchdog};

/// `brake exec …`.
#[derive(Parser)]
#[command(name = "brake", version)]
struct ExecCli {
    #[command(subcommand)]
    command: ExecCommand,
}

#[derive(Subcommand)]
enum ExecCommand {
    /// Run PROGRAM under the stop contract: the first Ctrl-C (or SIGTERM, SIGHUP) sends the
    /// termination sequence to its whole process group, a second one kills it at once, and
    /// descendants that left the group are ended too.
    #[command(
        after_help = "Stdin: when brake's stdin is a terminal, the program's is /dev/null \
                      (it reads end of file at once): it runs in a process group of its own, \
                      and a program outside the terminal's foreground group that reads the \
                      terminal is stopped with SIGTTIN. Give it input through a pipe or a file \
                      instead (brake exec -- PROGRAM < FILE).

Exit status: the program's own (128 + signal if a signal ended it); 130 after Ctrl-C; 127 \
program not found; 126 program not runnable; 255 usage or internal error."
    )]
    Exec(exec::Options),
}

fn main() -> ExitCode {
    survive_file_size_limit();
    if let Some(code) = watchdog::run_if_guard() {
        return ExitCode::from(code);
    }
    let argv: Vec<OsString> = std::env::args_os().collect();
    // `exec` as the first word is the wrapper; anything else is a command to run in parallel.
    if argv.get(1).is_some_and(|word| word == "exec") {
        return exec_main(argv);
    }
    let args = match cli::RunArgs::try_parse_from(&argv) {
        Ok(args) => args,
        Err(err) => return clap_exit(err),
    };
    match runner::run(&args, &argv) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            say!("brake: {err}");
            ExitCode::from(INTERNAL_ERROR)
        }
    }
}

fn exec_main(argv: Vec<OsString>) -> ExitCode {
    let cli = match ExecCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(err) => return clap_exit(err),
    };
    let ExecCommand::Exec(options) = cli.command;
    match exec::run(&options) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            say!("brake: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Makes a write past `RLIMIT_FSIZE` fail with `EFBIG` instead of killing brake with SIGXFSZ,
/// so a joblog or output file that hits the limit is reported and the run stops in order.
///
/// The signal is caught, not ignored: an exec resets a caught signal to its default but keeps
/// an ignored one ignored, and jobs must get the default. signal-hook's handler (restarting
/// other system calls) only sets a flag, which nothing needs to read.
fn survive_file_size_limit() {
    let _ = signal_hook::flag::register(libc::SIGXFSZ, Arc::new(AtomicBool::new(false)));
}

/// clap's own exit: help and version succeed, usage errors are 255. An unknown option gets
/// brake's line instead of clap's tip to pass it after `--`, which here would put it into the
/// command.
fn clap_exit(err: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::UnknownArgument {
        let text = |kind| match err.get(kind) {
            Some(ContextValue::String(text)) => Some(text.as_str()),
            Some(ContextValue::Strings(texts)) => texts.first().map(String::as_str),
            _ => None,
        };
        if let Some(arg) = text(ContextKind::InvalidArg) {
            say!(
                "{}",
                cli::unknown_option(arg, text(ContextKind::SuggestedArg))
            );
            return ExitCode::from(INTERNAL_ERROR);
        }
    }
    let usage = err.use_stderr();
    let _ = err.print();
    if usage {
        ExitCode::from(INTERNAL_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}
