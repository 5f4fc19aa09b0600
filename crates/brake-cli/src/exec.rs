//! `brake exec`: one program and its whole process tree under the stop contract.
//!
//! The program runs in a process group of its own (so the terminal's Ctrl-C reaches brake, and
//! brake decides), with a parent-death signal (so it dies if brake is killed), its signals reset
//! to their defaults, and brake as a child subreaper (so descendants that leave the group come
//! back to brake when orphaned and are ended too). The first stop signal sends the termination
//! sequence to the group; a second one, or the end of the grace period, sends SIGKILL.

use brake::child::{become_subreaper, sweep_escaped, Child, ChildOptions, Exit, Io, Program};
use brake::{Activity, Stop, TermSeq};
use std::fmt;
use std::io::{self, IsTerminal};
use std::path::PathBuf;

use crate::cli::parse_termseq;
use crate::job::start_failure_status;

/// The variable every process of the run carries, for the sweep of escaped descendants.
const RUN_VAR: &str = "BRAKE_EXEC_RUN";

/// `brake exec` options.
#[derive(clap::Args)]
pub struct Options {
    /// Signals and waits (ms) sent to the program's process group on a stop, as in GNU
    /// parallel: SIG,MS,SIG,MS,…; KILL is appended when missing.
    #[arg(long, default_value = "INT,2000,TERM,1000,KILL", value_parser = parse_termseq)]
    termseq: TermSeq,
    /// The program to run, then its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<std::ffi::OsString>,
}

/// Why `brake exec` could not do its job.
#[derive(Debug)]
pub enum ExecError {
    /// The program could not be started.
    Start { program: PathBuf, source: io::Error },
    /// Signal handling or supervision failed.
    Internal(String),
}

impl ExecError {
    /// The exit status for this error, as a shell would give it.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExecError::Start { source, .. } => start_failure_status(source),
            ExecError::Internal(_) => 255,
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Start { program, source } => {
                write!(f, "cannot run {}: {source}", program.display())
            }
            ExecError::Internal(why) => f.write_str(why),
        }
    }
}

/// Runs the program; returns brake's exit status.
pub fn run(options: &Options) -> Result<u8, ExecError> {
    let stop = Stop::new();
    stop.set_grace(options.termseq.total_wait());
    stop.install_signals()
        .map_err(|err| ExecError::Internal(err.to_string()))?;
    // Without it, escaped descendants go to init and only the group kill reaches them.
    let _ = become_subreaper();
    let _activity = stop.report_activity(|| Activity {
        running: 1,
        not_started: 0,
    });

    let (program, args) = options
        .command
        .split_first()
        .expect("clap requires a program");
    let run_id = format!("{}", std::process::id());
    let mut command = Program::new(program);
    command.args(args).env(RUN_VAR, &run_id);
    if io::stdin().is_terminal() {
        // A program in a process group of its own is stopped (SIGTTIN) if it reads the terminal.
        command.stdin(Io::Null);
    }
    let child_options = ChildOptions {
        termseq: options.termseq.clone(),
        ..ChildOptions::default()
    };
    let mut child = Child::start(&command, &child_options).map_err(|source| ExecError::Start {
        program: PathBuf::from(program),
        source,
    })?;
    let exit = child
        .supervise(&stop)
        .map_err(|err| ExecError::Internal(format!("lost track of the program: {err}")))?;
    let swept = sweep_escaped(RUN_VAR, &run_id, &[]);
    if !swept.is_empty() {
        say!(
            "brake: ended {} process(es) that had left the program's process group",
            swept.len()
        );
    }
    stop.wait_announced();
    Ok(exit_status(&stop, &exit))
}

/// brake's status: 128 + the stop signal when a signal stopped the run and brake had to send
/// the program something; otherwise the program's own (128 + signal if one ended it).
fn exit_status(stop: &Stop, exit: &Exit) -> u8 {
    match (stop.exit_code(), exit.ended_by, exit.code(), exit.signal()) {
        (Some(code), Some(_), _, _) => code as u8,
        (_, _, Some(code), _) => code as u8,
        (_, _, None, Some(signal)) => brake::exit_code_for_signal(signal) as u8,
        _ => 255,
    }
}
