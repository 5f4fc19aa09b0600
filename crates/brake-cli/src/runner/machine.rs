//! `--load` and `--memfree`: a job starts only while the machine has room, as GNU parallel
//! judges it: fewer running processes than `--load` allows, at least `--memfree` bytes of
//! memory available. While it has none, the loop looks again every `RECHECK`; a stop ends the
//! wait at once, as it ends every wait of the loop.

use std::time::{Duration, Instant};

use super::Runner;

/// How often a full machine is looked at again.
const RECHECK: Duration = Duration::from_millis(500);

impl Runner {
    /// Whether the machine has room for another job; if not, the next start waits for the
    /// next look.
    pub(super) fn machine_has_room(&mut self) -> bool {
        let extras = &self.settings.extras;
        let busy = extras
            .load
            .is_some_and(|max| running_processes().is_some_and(|n| n as f64 >= max));
        let short = extras
            .memfree
            .is_some_and(|least| available_memory().is_some_and(|bytes| bytes < least));
        if busy || short {
            self.gate.next_start = Instant::now().checked_add(RECHECK);
            return false;
        }
        true
    }
}

/// The processes running on the machine now, brake not counted (`/proc/loadavg`).
fn running_processes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    running_in_loadavg(&text)
}

fn running_in_loadavg(text: &str) -> Option<u64> {
    let field = text.split_whitespace().nth(3)?;
    let running: u64 = field.split_once('/')?.0.parse().ok()?;
    Some(running.saturating_sub(1))
}

/// The memory available for new work, in bytes (`MemAvailable` in `/proc/meminfo`).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    available_in_meminfo(&text)
}

fn available_in_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machines_figures_are_read() {
        assert_eq!(running_in_loadavg("0.50 0.40 0.30 3/205 2716\n"), Some(2));
        assert_eq!(running_in_loadavg("garbage"), None);
        let meminfo = "MemTotal:  100 kB\nMemFree:  10 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(available_in_meminfo(meminfo), Some(2048 * 1024));
        assert_eq!(available_in_meminfo("MemTotal: 1 kB\n"), None);
    }
}
