//! `--onall` and `--nonall`: the job list run once on every host of `-S`. Only parsed here;
//! `remote/onall.rs` holds what they mean for the run.

/// The section of `--help` these options are listed in.
const HEADING: &str = "Every job on every host (--onall)";

/// `--onall` and `--nonall`.
#[derive(clap::Args, Debug, Default, Clone, Copy)]
pub struct OnallArgs {
    /// Run every job on every host of -S (this machine without -S): each host runs its jobs
    /// one at a time, in input order, and -j hosts at once; a host's output comes whole, --tag
    /// names the host, and the exit status counts the hosts where a job failed
    #[arg(long, help_heading = HEADING)]
    pub onall: bool,

    /// --onall for a command that takes no values: without input sources, it runs once on
    /// every host, and stdin is not read
    #[arg(long, help_heading = HEADING)]
    pub nonall: bool,
}

impl OnallArgs {
    /// Whether the run is one of either.
    pub fn any(&self) -> bool {
        self.onall || self.nonall
    }
}
