//! How a program ended, observed exactly and without reaping it.
//!
//! portable-pty reports a signal death as a `strsignal()` text, which loses the number, so the
//! status is read here with `waitid(WNOWAIT)`. Not reaping matters as much as the number: while
//! the program is an unreaped zombie its pid, and so its process-group id, cannot be reused, so
//! the kit may still signal the group and scan for survivors before portable-pty reaps.

use std::fmt;
use std::io;

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal with this number ended it (2 is SIGINT, 15 SIGTERM, 9 SIGKILL).
    Signaled(i32),
}

impl Status {
    /// The exit code, if the program exited by itself.
    pub fn code(self) -> Option<i32> {
        match self {
            Status::Exited(code) => Some(code),
            Status::Signaled(_) => None,
        }
    }

    /// The number of the signal that ended the program, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            Status::Exited(_) => None,
            Status::Signaled(sig) => Some(sig),
        }
    }

    /// True for `Exited(0)`.
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Status::Exited(code) => write!(f, "exited with code {code}"),
            Status::Signaled(sig) => match signal_name(sig) {
                Some(name) => write!(f, "killed by signal {sig} ({name})"),
                None => write!(f, "killed by signal {sig}"),
            },
        }
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// The status of child `pid` if it has ended; the child stays waitable.
pub(crate) fn probe(pid: u32) -> io::Result<Option<Status>> {
    // SAFETY: siginfo_t is plain old data for which all zeroes is a valid value; waitid(2) asks
    // for a zeroed si_pid to tell "nothing ended yet" apart under WNOHANG.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t that outlives the call; WNOWAIT leaves the
    // child in a waitable state, so portable-pty's own wait still reaps it.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
        )
    };
    if rc == -1 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::Interrupted => Ok(None),
            _ => Err(err),
        };
    }
    // SAFETY: for a child-state change waitid fills the SIGCHLD member of the union, which
    // si_pid and si_status read; when nothing ended, the zeroes written above are read back.
    let (ended_pid, value) = unsafe { (info.si_pid(), info.si_status()) };
    if ended_pid == 0 {
        return Ok(None);
    }
    Ok(match info.si_code {
        libc::CLD_EXITED => Some(Status::Exited(value)),
        libc::CLD_KILLED | libc::CLD_DUMPED => Some(Status::Signaled(value)),
        // Only WEXITED was asked for; anything else is not an end.
        _ => None,
    })
}
