//! Ending descendants that escaped their process group: the subreaper and the marker sweep.
//!
//! A job can leave its process group (`setsid`, a daemon's double fork); a group kill misses it.
//! When its parent dies, Linux re-parents it to the nearest ancestor that is a *child subreaper*
//! ([`become_subreaper`]) instead of to init, so brake can still find it among its own children.
//! It is told apart from brake's other children by a marker in its environment, inherited from
//! the job (the caller sets `key=value` on every command it spawns).

use std::cell::Cell;
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::sys;

/// How long [`sweep_escaped`] may take before it returns with what it has done.
const SWEEP_LIMIT: Duration = Duration::from_secs(5);

/// How long [`kill_marked`] waits before it scans again for a process caught mid-exec.
const RESCAN_PAUSE: Duration = Duration::from_millis(1);

/// Makes this process a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER, 1)`): orphaned
/// descendants are re-parented to it rather than to init, so [`sweep_escaped`] can find them.
///
/// It is process-wide and lasts for the life of the process. A subreaper inherits every
/// orphaned descendant, and ought to reap them: [`sweep_escaped`] does for those it ends.
pub fn become_subreaper() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(
        rustix::process::getpid(),
    ))?)
}

/// A process [`sweep_escaped`] ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Swept {
    /// Its process id (reaped: it may belong to another process by now).
    pub pid: u32,
    /// Its command line, arguments separated by spaces (`[comm]` if it has none).
    pub cmdline: String,
}

impl fmt::Display for Swept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.cmdline, self.pid)
    }
}

/// Ends descendants that escaped their process group and were re-parented to this process,
/// and returns what it ended.
///
/// A process is ended when it is a child of this one (as re-parented orphans are, once
/// [`become_subreaper`] was called), its environment (as it was started) holds `key=value`,
/// and its pid is not in `keep`. **Pass every child still tracked in `keep`**, [`Child`]ren and
/// any other: a child started by other code inherits the marker too if it is in this process's
/// own environment.
///
/// Each is SIGKILLed through a pidfd, opened first and the marker read again after, so a pid
/// reused in between is never hit; then reaped. It repeats until a scan finds nothing, since a
/// killed process's own escaped children are re-parented here in turn, for at most 5 s.
///
/// Only a process that still carries the marker is found: one that replaced its environment
/// (`env -i`) is not, and neither is one already ended (a zombie has no environment to read).
///
/// [`Child`]: super::Child
pub fn sweep_escaped(key: &str, value: &str, keep: &[u32]) -> Vec<Swept> {
    kill_marked(key, value, keep, Scope::Children)
}

/// Ends every live process, wherever it is in the process tree, whose environment (as it was
/// started) holds `key=value`, except this process and those in `keep`; returns what it ended.
///
/// For a guard that outlives its run (a process that learns the run's brake was SIGKILLed and
/// ends what it left behind). Each process is SIGKILLed through a pidfd opened before the
/// marker is read again, so a reused pid is never hit; ended children of this process are
/// reaped. It rescans until a scan finds nothing, for at most 5 s.
pub fn end_marked(key: &str, value: &str, keep: &[u32]) -> Vec<Swept> {
    kill_marked(key, value, keep, Scope::Anywhere)
}

/// Whether process `pid`'s environment (as it was started) holds `key=value`.
///
/// `None` while that cannot be told: an exec is under way and has not laid out the new
/// environment yet; ask again in a moment. A process that is gone, a zombie, or not readable
/// (another user's) gives `Some(false)`.
pub fn has_marker(pid: u32, key: &str, value: &str) -> Option<bool> {
    match mark(pid, format!("{key}={value}").as_bytes()) {
        Mark::Present => Some(true),
        Mark::Absent => Some(false),
        Mark::Unknown => None,
    }
}

/// Where [`kill_marked`] looks for marked processes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// This process's children only (orphans re-parented to a subreaper among them).
    Children,
    /// Every process but this one.
    Anywhere,
}

/// SIGKILLs the live marked processes in `scope` (not in `keep`) through pidfds, waits for
/// each to end and reaps those that are this process's children; rescans until a scan finds
/// nothing (a killed process's own escaped children may be re-parented here in turn) and
/// none was caught mid-exec, for at most [`SWEEP_LIMIT`].
fn kill_marked(key: &str, value: &str, keep: &[u32], scope: Scope) -> Vec<Swept> {
    let marker = format!("{key}={value}").into_bytes();
    let me = std::process::id();
    let limit = Instant::now() + SWEEP_LIMIT;
    let mut ended = Vec::new();
    loop {
        let (found, unsettled) = scan(me, &marker, keep, scope);
        if found.is_empty() {
            if !unsettled || Instant::now() >= limit {
                break;
            }
            // A process in the middle of an exec shows no environment yet: look again once
            // it has one.
            std::thread::sleep(RESCAN_PAUSE);
            continue;
        }
        for (_, pidfd) in &found {
            let _ = sys::pidfd_signal(pidfd.as_fd(), libc::SIGKILL);
        }
        for (one, pidfd) in found {
            // A pidfd turns readable when its process has ended (a child of ours: once it
            // is a zombie, ready to reap).
            let _ = sys::wait_readable(&[pidfd.as_fd()], Some(limit));
            let _ = sys::reap_pidfd(pidfd.as_fd());
            ended.push(one);
        }
        if Instant::now() >= limit {
            break;
        }
    }
    ended
}

/// Live processes in `scope` that carry `marker` and are not `me` or in `keep`, each with a
/// pidfd opened on it after which the marker was read again; and whether a candidate could
/// not be told yet (caught mid-exec), so the caller must scan again.
fn scan(me: u32, marker: &[u8], keep: &[u32], scope: Scope) -> (Vec<(Swept, OwnedFd)>, bool) {
    let listed = match scope {
        Scope::Children => children(me),
        Scope::Anywhere => None,
    };
    let candidates: Vec<u32> = match listed {
        Some(children) => children,
        None => {
            let Ok(dir) = fs::read_dir("/proc") else {
                return (Vec::new(), false);
            };
            dir.flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
                .collect()
        }
    };
    let wanted = |pid: u32| {
        let Some(live) = live(pid) else {
            return Mark::Absent;
        };
        let in_scope = match scope {
            Scope::Children => live.parent == me,
            Scope::Anywhere => pid != me && !live.kernel_thread,
        };
        if in_scope {
            mark(pid, marker)
        } else {
            Mark::Absent
        }
    };
    // A process that cannot be told yet is left for the next scan, which the caller makes.
    let unsettled = Cell::new(false);
    let present = |pid: u32| match wanted(pid) {
        Mark::Present => true,
        Mark::Absent => false,
        Mark::Unknown => {
            unsettled.set(true);
            false
        }
    };
    let found = candidates
        .into_iter()
        .filter(|pid| !keep.contains(pid))
        .filter(|&pid| present(pid))
        .filter_map(|pid| {
            let pidfd = sys::pidfd_open(pid).ok()?;
            // The pidfd pins the process it was opened on. If `pid` was reused before the
            // open, the newcomer must pass the same test to be touched; if it is reused
            // after, the signal goes to the pidfd's (ended) process and does nothing.
            present(pid).then(|| {
                (
                    Swept {
                        pid,
                        cmdline: cmdline(pid),
                    },
                    pidfd,
                )
            })
        })
        .collect();
    (found, unsettled.get())
}

/// The children of process `me`, from each of its threads' `children` file: a handful of reads
/// instead of one per process on the machine. `None` where the kernel does not provide the
/// files (built without `CONFIG_PROC_CHILDREN`); the caller then scans all of `/proc`.
fn children(me: u32) -> Option<Vec<u32>> {
    let tasks = fs::read_dir(format!("/proc/{me}/task")).ok()?;
    let mut children = Vec::new();
    for task in tasks.flatten() {
        let list = fs::read_to_string(task.path().join("children")).ok()?;
        children.extend(
            list.split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok()),
        );
    }
    Some(children)
}

/// What `/proc/PID/stat` says of a live process.
struct Live {
    parent: u32,
    kernel_thread: bool,
    /// Where its environment ends in its memory: 0 while an exec has replaced its memory but
    /// not yet laid out the new environment (or once it has let go of its memory on exit).
    env_end: u64,
}

/// The kernel's `PF_KTHREAD` process flag.
const PF_KTHREAD: u64 = 0x0020_0000;

/// What `/proc/PID/stat` says of `pid`, unless it is gone or a zombie.
fn live(pid: u32) -> Option<Live> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which may itself contain ") ", from field 3 (state).
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    if matches!(field(3)?, "Z" | "X") {
        return None;
    }
    Some(Live {
        parent: field(4)?.parse().ok()?,
        kernel_thread: field(9)?.parse::<u64>().ok()? & PF_KTHREAD != 0,
        // Shown since Linux 3.5; an older kernel reads as "no exec under way".
        env_end: field(51).map_or(Some(u64::MAX), |end| end.parse().ok())?,
    })
}

/// Whether a process carries the marker.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Present,
    Absent,
    /// Its environment cannot be read as it is: an exec is laying out the new one.
    Unknown,
}

/// Whether `pid`'s environment holds `marker`.
///
/// An exec makes two traps. The file is bound to the memory the process had when it was
/// opened, and reads empty once an exec has dropped that memory: so it is read in a single
/// call, never in pieces that could straddle an exec and end early. And between the moment an
/// exec replaces the memory and the moment it lays out the new environment, the file reads
/// empty too, exactly like a process started with none (`env -i`); the two are told apart by
/// where the environment ends (0 only in the first case), read after the empty read.
fn mark(pid: u32, marker: &[u8]) -> Mark {
    let carries = |env: &[u8]| env.split(|&b| b == 0).any(|var| var == marker);
    let path = format!("/proc/{pid}/environ");
    match read_at_once(&path) {
        Ok(env) if !env.is_empty() => return Mark::from(carries(&env)),
        Ok(_) => {}
        Err(_) => return Mark::Absent,
    }
    match live(pid) {
        None => Mark::Absent,
        Some(live) if live.env_end == 0 && !live.kernel_thread => Mark::Unknown,
        // The exec may have finished between the two reads: read once more.
        Some(_) => Mark::from(read_at_once(&path).is_ok_and(|env| carries(&env))),
    }
}

/// The whole of a `/proc` file as one read call returns it, from offset 0, with a buffer
/// grown until the call leaves part of it unused.
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

impl From<bool> for Mark {
    fn from(present: bool) -> Mark {
        if present {
            Mark::Present
        } else {
            Mark::Absent
        }
    }
}

pub(super) fn cmdline(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<_> = raw
        .split(|&b| b == 0)
        .filter(|word| !word.is_empty())
        .map(String::from_utf8_lossy)
        .collect();
    if words.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return format!("[{}]", comm.trim_end());
    }
    words.join(" ")
}
