//! The system calls under [`Child`](super::Child): what runs in the child before `exec`,
//! observing an exit without reaping, sending signals, and waiting on descriptors.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::process::{WaitId, WaitIdOptions};

use crate::signame::MAX_SIGNAL;
use crate::stop::{Stop, Subscription};

/// `Ok(())` for a number Linux accepts as a signal to send, `InvalidInput` otherwise.
pub(super) fn check_signal(signal: i32) -> io::Result<()> {
    if (1..=MAX_SIGNAL).contains(&signal) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{signal} is not a signal number (1 to {MAX_SIGNAL})"),
        ))
    }
}

/// Runs in the forked child, between `fork` and `exec`.
///
/// Only async-signal-safe calls are allowed here (the parent may have had other threads, holding
/// locks the child will never see released): `sigaction`, `sigemptyset`, `sigprocmask`, `prctl`,
/// `getppid`, `getpid`, `kill` and `_exit`, on stack values only. Nothing allocates: the error
/// path builds an `io::Error` from a raw OS error, which is a plain integer.
pub(super) fn in_child(
    reset_signals: bool,
    death_signal: Option<i32>,
    parent: libc::pid_t,
) -> io::Result<()> {
    if reset_signals {
        for signal in 1..32 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // SAFETY: an all-zero `sigaction` is a valid value of this plain C struct; with
            // `sa_sigaction = SIG_DFL` it asks for the default action. `sigaction(2)` is
            // async-signal-safe and only reads the struct on our stack.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
        // SAFETY: `sigemptyset` and `sigprocmask` are async-signal-safe; the set lives on our
        // stack and a null old-set pointer is allowed. After fork the child has one thread, so
        // the process mask is that thread's mask.
        let rc = unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(signal) = death_signal {
        // SAFETY: `prctl(2)` with PR_SET_PDEATHSIG takes plain integers and touches no memory;
        // it is a bare system call, so async-signal-safe.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `getppid(2)` takes nothing and cannot fail; async-signal-safe.
        if unsafe { libc::getppid() } != parent {
            // The parent died before the prctl could arm: do what the signal would have done.
            // SAFETY: `getpid`, `kill` and `_exit` are async-signal-safe and take plain
            // integers; `_exit` does not run atexit handlers or unwind.
            unsafe {
                libc::kill(libc::getpid(), signal);
                libc::_exit(127);
            }
        }
    }
    Ok(())
}

/// Opens a pidfd on `pid`, which must be an unreaped child of ours (so the pid is pinned).
pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid as i32)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// What a pidfd's process is doing, as seen without reaping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// Still running (or stopped).
    Running,
    /// Exited and unreaped: a zombie, whose pid and group id cannot be reused.
    Exited,
    /// Already reaped, by someone who waited on it outside brake (through `std_mut`).
    Reaped,
}

/// Looks at the process behind `pidfd` with `waitid(P_PIDFD, WEXITED | WNOHANG | WNOWAIT)`.
///
/// `P_PIDFD` rather than `P_PID`: if the child was reaped behind our back and its pid reused by
/// another child of ours, a wait by pid would see the newcomer; the pidfd sees only its own
/// process, and answers ECHILD once that one is reaped.
pub(super) fn look(pidfd: BorrowedFd<'_>) -> io::Result<Seen> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    loop {
        return match rustix::process::waitid(WaitId::PidFd(pidfd), options) {
            Ok(Some(_)) => Ok(Seen::Exited),
            Ok(None) => Ok(Seen::Running),
            Err(rustix::io::Errno::CHILD) => Ok(Seen::Reaped),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => Err(err.into()),
        };
    }
}

/// Reaps the process behind `pidfd` if it has ended; true if it was reaped (or already gone).
pub(super) fn reap_pidfd(pidfd: BorrowedFd<'_>) -> bool {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    loop {
        return match rustix::process::waitid(WaitId::PidFd(pidfd), options) {
            Ok(Some(_)) | Err(rustix::io::Errno::CHILD) => true,
            Err(rustix::io::Errno::INTR) => continue,
            Ok(None) | Err(_) => false,
        };
    }
}

/// Sends `signal` to process group `pgid`; an empty group is not an error.
///
/// The caller guarantees the group id is pinned: its leader is an unreaped child of ours.
pub(super) fn kill_group(pgid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The pgid is positive
    // (a pid), so `-pgid` names exactly that group, never "every process" (-1).
    let rc = unsafe { libc::kill(-(pgid as libc::pid_t), signal) };
    if rc == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        err if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        err => Err(err),
    }
}

/// Sends `signal` to the process behind `pidfd`; one that has ended is not an error.
pub(super) fn pidfd_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: the descriptor is open for the whole call (borrowed); a null siginfo is allowed
    // and means "as kill(2) would send it". The kernel never signals a process other than the
    // one the pidfd was opened on.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        err if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        err => Err(err),
    }
}

/// The process group `pid` is in now, if it still exists (zombies included).
pub(super) fn group_of(pid: u32) -> Option<u32> {
    let pid = rustix::process::Pid::from_raw(pid as i32)?;
    rustix::process::getpgid(Some(pid))
        .ok()
        .map(|pgid| pgid.as_raw_nonzero().get() as u32)
}

/// Waits until one of `fds` is readable or `until` passes (`None`: no limit). An interrupted
/// wait returns early; callers look at the state again either way.
pub(super) fn wait_readable(fds: &[BorrowedFd<'_>], until: Option<Instant>) -> io::Result<()> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    // Long waits are cut into pieces of at most a day; the callers loop.
    let timeout = until.map(|until| {
        let left = until
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(86_400));
        Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        }
    });
    match poll(&mut polled, timeout.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// An eventfd that becomes readable when a [`Stop`] changes phase, so that a `poll` on child
/// pidfds also wakes for the stop. Dropping it removes the listener.
pub(super) struct Waker {
    fd: Arc<OwnedFd>,
    _subscription: Subscription,
}

impl Waker {
    pub(super) fn new(stop: &Stop) -> io::Result<Waker> {
        let fd = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
        let listener_fd = fd.clone();
        // The listener runs on the thread that moved the phase and must be quick: one write
        // to a non-blocking eventfd is.
        let subscription = stop.on_change(move |_phase| {
            let _ = rustix::io::write(&*listener_fd, &1u64.to_ne_bytes());
        });
        Ok(Waker {
            fd,
            _subscription: subscription,
        })
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Consumes pending wake-ups, so that the next `poll` blocks again.
    pub(super) fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&*self.fd, &mut buf);
    }
}
