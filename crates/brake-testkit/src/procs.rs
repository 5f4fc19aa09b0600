//! Finding and ending marked processes: every process whose environment carries a session's token.
//!
//! The marker is inherited through fork and exec, so it follows descendants that escaped the
//! program's process group or session (`setsid`, double fork), which a group kill cannot reach.

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::thread;
use std::time::{Duration, Instant};

use crate::{MARKER_VAR, POLL};

/// A process that carries a session's marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survivor {
    /// Its process id (at the time of the scan).
    pub pid: u32,
    /// Its command line, arguments separated by spaces (`[comm]` if it has none).
    pub cmdline: String,
}

/// Live processes whose environment holds `MARKER_VAR=<token>`.
///
/// Reads `/proc/*/environ`, which shows the environment a process was started with. Zombies
/// and the calling process are left out, and so are processes whose environment cannot be
/// read (another user's). The list is sorted by pid. Returns an empty list where there is no
/// `/proc`.
pub fn marked_processes(token: &str) -> Vec<Survivor> {
    let wanted = entry(token);
    let me = std::process::id();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Survivor> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && carries(pid, &wanted) && alive(pid))
        .map(|pid| Survivor {
            pid,
            cmdline: cmdline(pid),
        })
        .collect();
    found.sort_by_key(|s| s.pid);
    found
}

/// SIGKILLs everything marked with `token` until nothing marked is left, or `deadline` passes.
///
/// Repeats because a process may fork between a scan and its kill. Returns true when clean.
pub(crate) fn sweep(token: &str, deadline: Instant) -> bool {
    let wanted = entry(token);
    loop {
        let left = marked_processes(token);
        if left.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        for survivor in &left {
            kill_marked(survivor.pid, &wanted);
        }
        thread::sleep(POLL);
    }
}

/// SIGKILLs process group `pgid`, ignoring a group that is already empty.
pub(crate) fn kill_group(pgid: u32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The caller guarantees
    // `pgid` is the id of its own unreaped child, which pins the group id against reuse.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}

fn entry(token: &str) -> Vec<u8> {
    format!("{MARKER_VAR}={token}").into_bytes()
}

/// Whether `pid`'s environment holds `wanted`. An exec in progress must not hide a process: the
/// file is read in one call (it reads empty once an exec drops the memory it was opened on, so
/// a read in pieces can end early), and an empty read while the new environment is not laid out
/// yet (`env_end`, field 51 of `stat`, still 0) is tried again a moment later.
fn carries(pid: u32, wanted: &[u8]) -> bool {
    let path = format!("/proc/{pid}/environ");
    let holds = |env: &[u8]| env.split(|&b| b == 0).any(|var| var == wanted);
    for _ in 0..100 {
        let Ok(env) = read_at_once(&path) else {
            return false;
        };
        if !env.is_empty() {
            return holds(&env);
        }
        if !mid_exec(pid) {
            // The exec may have finished between the two reads: read once more.
            return read_at_once(&path).is_ok_and(|env| holds(&env));
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

/// The whole of a `/proc` file as a single read call returns it.
fn read_at_once(path: &str) -> io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file.read_at(&mut buf, 0)?;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// Whether `pid` is a live user process whose environment is not laid out (an exec under way).
fn mid_exec(pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(end) = stat.rfind(')') else {
        return false;
    };
    // Fields from 3 (state) on.
    let fields: Vec<&str> = stat[end + 1..].split_whitespace().collect();
    let number = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let live = !matches!(fields.first(), Some(&("Z" | "X")) | None);
    live && number(9).is_some_and(|flags| flags & PF_KTHREAD == 0) && number(51) == Some(0)
}

/// False for zombies and the dead, for processes that are gone, and for those already dying.
fn alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which may itself contain ") ".
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None) && !dying(pid)
}

/// True once a fatal signal has been sent to `pid` but it has not run yet to die of it.
///
/// The kernel turns every signal that will kill a process (SIGKILL, or one left at a
/// terminating default) into a pending SIGKILL on each of its threads at the moment it is
/// sent. Such a process cannot do anything more, so a scan right after the program ended
/// must not count it: a shell's exit sends its background jobs SIGHUP, and they may not
/// have been scheduled yet.
fn dying(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| sigkill_pending(&status))
}

/// Reads the SigPnd line of a `/proc/PID/status` text.
fn sigkill_pending(status: &str) -> bool {
    const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
    status
        .lines()
        .filter_map(|line| line.strip_prefix("SigPnd:"))
        .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .any(|mask| mask & SIGKILL_BIT != 0)
}

fn cmdline(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<_> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(String::from_utf8_lossy)
        .collect();
    if words.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return format!("[{}]", comm.trim_end());
    }
    words.join(" ")
}

/// SIGKILLs `pid` only if it still carries the marker, without a window for pid reuse.
///
/// A pidfd pins the process it was opened on. If `pid` was reused before the open, the new
/// process lacks the marker and is spared; if it is reused after, the signal goes to the
/// pidfd's (dead) process and does nothing.
fn kill_marked(pid: u32, wanted: &[u8]) {
    match pidfd_open(pid) {
        Ok(pidfd) => {
            if carries(pid, wanted) {
                pidfd_kill(&pidfd);
            }
        }
        // Kernels before 5.3: the small reuse window is the best there is.
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            if carries(pid, wanted) {
                // SAFETY: kill(2) takes plain integers and touches no memory of ours.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        Err(_) => {} // already gone
    }
}

/// A pidfd on `pid`, which pins that process: it can neither be mistaken for a newcomer that
/// reuses the pid, nor miss its end.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1; it
    // touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_kill(pidfd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the whole call (borrowed from `pidfd`); a null siginfo
    // is allowed and means "as kill(2) would send it".
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_sigkill_means_dying() {
        let status = |pending: &str| {
            format!("Name:\tsleep\nState:\tS (sleeping)\nSigPnd:\t{pending}\nShdPnd:\t0000000000000000\n")
        };
        assert!(sigkill_pending(&status("0000000000000100")));
        assert!(sigkill_pending(&status("0000000000004101")));
        // SIGHUP or SIGTERM pending alone may still be handled: not dying.
        assert!(!sigkill_pending(&status("0000000000000001")));
        assert!(!sigkill_pending(&status("0000000000004000")));
        assert!(!sigkill_pending("Name:\tsleep\n"));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(alive(std::process::id()));
    }
}
