//! Whether a pool without a cgroup may have left a marked process behind: the test that lets
//! the final sweep skip its walk through every process on the machine.
//!
//! A process that escaped a worker's group descends from that worker, so the kernel gave it a
//! process id after the pool's first worker. Ids are handed out in increasing order until they
//! wrap at `pid_max`: while they have not wrapped since the pool began, only processes whose id
//! lies between the last one handed out then ([`Since`]) and the last one handed out now can be
//! escapees, and only those need their environment read for the pool's marker. Whether the ids
//! may have wrapped is told by the last id handed out (it went down) and by the count of
//! processes and threads the kernel created (enough of them to go round). When anything cannot
//! be read, the answer is that a marked process may be left, and the full sweep runs.

use std::fs;

use brake::child::has_marker;

/// Where the process ids stood when a pool began.
#[derive(Debug, Clone, Copy)]
pub struct Since {
    last_pid: u32,
    forks: u64,
}

impl Since {
    /// Where the ids stand now; `None` where the kernel does not say.
    pub fn now() -> Option<Since> {
        Some(Since {
            last_pid: last_pid()?,
            forks: forks()?,
        })
    }

    /// Whether a live process other than this one may carry `key=value` in its environment:
    /// false only when none of the processes begun since `self` does (one caught in the middle
    /// of an exec may) and the ids cannot have wrapped.
    pub fn marked_may_remain(&self, key: &str, value: &str) -> bool {
        let (Some(last_pid), Some(forks), Some(pid_max)) = (last_pid(), forks(), pid_max()) else {
            return true;
        };
        let Ok(entries) = fs::read_dir("/proc") else {
            return true;
        };
        let pids: Vec<u32> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        // Going round once takes `pid_max` ids less those in use (and the low ones the kernel
        // keeps back); fewer creations than that cannot have wrapped past where they began.
        let created = forks.saturating_sub(self.forks);
        let round = u64::from(pid_max).saturating_sub(pids.len() as u64 + RESERVED_PIDS);
        if last_pid < self.last_pid || created >= round {
            return true;
        }
        let me = std::process::id();
        pids.into_iter()
            .filter(|&pid| pid > self.last_pid && pid <= last_pid && pid != me)
            .any(|pid| has_marker(pid, key, value) != Some(false))
    }
}

/// The ids below which the kernel starts again once it wraps.
const RESERVED_PIDS: u64 = 300;

/// The last process id handed out in this process's pid namespace.
fn last_pid() -> Option<u32> {
    fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn pid_max() -> Option<u32> {
    fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Processes and threads the kernel has created since it booted.
fn forks() -> Option<u64> {
    fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("processes "))?
        .trim()
        .parse()
        .ok()
}
