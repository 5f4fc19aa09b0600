//! The options of how jobs are run and shown: the shell they run in (`--shell`), GNU
//! parallel's `-t`/`--verbose` (each command on stderr) and `-v` (on stdout), and brake's own
//! `--explain`.

use std::ffi::OsString;

/// Options of the shell jobs run in and of what is said about them.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Shell and commands")]
pub struct ShellArgs {
    /// Run jobs in SHELL (bash or a POSIX sh such as dash) [default: $PARALLEL_SHELL, else
    /// the shell brake was started from, else $SHELL, else /bin/sh]
    #[arg(long, value_name = "SHELL")]
    pub shell: Option<OsString>,

    /// Print each job's command on stderr as it starts
    #[arg(short = 't', long = "verbose")]
    pub trace: bool,

    /// Print each job's command on stdout, with the job's output (given twice, as once)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print no command (undoes -v)
    #[arg(long)]
    pub silent: bool,

    /// Say on stderr how jobs are run (the shell, the cgroup), and what a resumed joblog held
    #[arg(long)]
    pub explain: bool,
}
