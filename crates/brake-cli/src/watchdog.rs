//! The run's guard, from both sides: [`Guard`], brake's handle on it, and [`run_if_guard`], the
//! guard itself, a small process that outlives a SIGKILLed brake by a moment and ends every
//! process the run left behind. When it starts and when it is told all is clear is part of the
//! ordering in `containment.rs`.
//!
//! The guard is brake itself, started again with [`GUARD_VAR`] set to the run's id and its
//! stdin a pipe from brake. It runs in a process group of its own, so the terminal's Ctrl-C
//! does not reach it, and does not carry the run's marker. When the pipe reaches end of file
//! with no all-clear written to it (brake ended in any way, SIGKILL included), the guard ends
//! the run's cgroup if there is one ([`GUARD_CGROUP_VAR`]) with `cgroup.kill`, which also
//! reaches processes that cleared the marker from their environment, and removes it, so a
//! killed run leaves no empty directory behind; then it ends every process that carries the
//! marker: jobs, and descendants that escaped their process group.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use std::os::unix::process::CommandExt;

use crate::job::RUN_VAR;

/// What brake writes to the guard at a normal end: nothing is left to end.
const ALL_CLEAR: u8 = b'.';

/// The environment variable that turns a start of brake into a run's guard; its value is the
/// run's id.
pub const GUARD_VAR: &str = "BRAKE_GUARD_FOR";

/// The environment variable that gives a guard the directory of the run's cgroup, if it has one.
pub const GUARD_CGROUP_VAR: &str = "BRAKE_GUARD_CGROUP";

/// A running guard, from brake's side. Dropping it without [`all_clear`](Guard::all_clear)
/// closes the pipe, and the guard sweeps and ends on its own.
pub struct Guard {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Guard {
    /// Starts the guard for `run_id`, whose jobs run in the cgroup at `cgroup`, if any.
    pub fn start(run_id: &str, cgroup: Option<&Path>) -> io::Result<Guard> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        match cgroup {
            Some(dir) => command.env(GUARD_CGROUP_VAR, dir),
            None => command.env_remove(GUARD_CGROUP_VAR),
        };
        let mut child = command
            .env(GUARD_VAR, run_id)
            .env_remove(RUN_VAR)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child.stdin.take();
        Ok(Guard { child, pipe })
    }

    /// The guard's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Tells the guard that brake has swept the run itself: it exits without a sweep of its own.
    pub fn all_clear(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(&[ALL_CLEAR]);
        }
    }

    /// Waits for the guard to exit (it does once its pipe closes), so it does not outlive brake.
    pub fn wait(mut self) {
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// If this start of brake is a guard, runs it and returns its exit status; `None` otherwise.
pub fn run_if_guard() -> Option<u8> {
    let run_id: OsString = std::env::var_os(GUARD_VAR)?;
    let run_id = run_id.to_str()?.to_owned();
    // A guard's stdin is the pipe from its brake. A program that merely inherited the variable
    // (a user's shell, say) has a terminal or file there, and stays an ordinary brake.
    let stdin_is_pipe = rustix::fs::fstat(io::stdin())
        .is_ok_and(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode).is_fifo());
    if !stdin_is_pipe {
        return None;
    }
    // The pipe from brake is the only thing read: end of file (or any error) means brake is
    // gone or done.
    let mut bytes = [0u8; 64];
    let mut stdin = io::stdin().lock();
    let mut clear = false;
    loop {
        match stdin.read(&mut bytes) {
            Ok(0) => break,
            Ok(n) => clear = bytes[..n].contains(&ALL_CLEAR),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    if !clear {
        if let Some(dir) = std::env::var_os(GUARD_CGROUP_VAR) {
            let _ = brake::child::cgroup::end_at(Path::new(&dir));
        }
        brake::child::end_marked(RUN_VAR, &run_id, &[]);
    }
    Some(0)
}
