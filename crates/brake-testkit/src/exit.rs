//! How a program ended, observed exactly, the moment it happens, and without reaping it.
//!
//! portable-pty reports a signal death as a `strsignal()` text, which loses the number, so the
//! status is read here with `waitid(WNOWAIT)`. Not reaping matters as much as the number: while
//! the program is an unreaped zombie its pid, and so its process-group id, cannot be reused, so
//! the kit may still signal the group and scan for survivors before portable-pty reaps.
//!
//! Waiting for the end sleeps in `poll(2)` on a pidfd of the program ([`wait_ended`]), which
//! becomes readable when the kernel makes it waitable: the end is seen within microseconds,
//! not at the next tick of a polling loop, so stop latencies of a few milliseconds can be
//! timed.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

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

/// Sleeps until the process behind `pidfd` has ended (the pidfd is readable) or `timeout`
/// passes; true when it has ended. A signal interrupting the sleep returns false early, so the
/// caller checks its deadline and waits again.
///
/// A pidfd becomes readable once its process is waitable (a zombie whose threads are all gone),
/// which is the moment [`probe`] first reports it.
pub(crate) fn wait_ended(pidfd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut polled = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Rounded up, so a wait never ends just before its deadline and spins for the remainder.
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is one valid, writable pollfd that outlives the call, and the count
    // says one; the descriptor is open for the whole call (borrowed from the caller).
    let rc = unsafe { libc::poll(&mut polled, 1, millis) };
    if rc == -1 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::Interrupted => Ok(false),
            _ => Err(err),
        };
    }
    Ok(rc > 0 && polled.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::pidfd_open;
    use std::os::fd::AsFd;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn wait_ended_wakes_when_the_child_ends_and_leaves_it_waitable() {
        let mut child = Command::new("sleep")
            .arg("0.2")
            .spawn()
            .expect("sleep runs");
        let pidfd = pidfd_open(child.id()).expect("pidfd_open");
        assert!(!wait_ended(pidfd.as_fd(), Duration::from_millis(20)).unwrap());
        assert_eq!(probe(child.id()).unwrap(), None, "still running");

        let start = Instant::now();
        let mut ended = false;
        while !ended && start.elapsed() < Duration::from_secs(20) {
            ended = wait_ended(pidfd.as_fd(), Duration::from_secs(20)).unwrap();
        }
        assert!(ended);
        // Seen at once, not at the next tick of a loop.
        assert_eq!(probe(child.id()).unwrap(), Some(Status::Exited(0)));
        assert!(
            child.wait().unwrap().success(),
            "still reapable after probe"
        );
    }
}
