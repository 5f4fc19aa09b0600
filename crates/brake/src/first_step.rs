//! The first step of a termination sequence, sent from inside the signal handler.
//!
//! A stop normally reaches a supervised child in hops: the handler wakes the `brake-signals`
//! thread, which moves the stop, whose listener wakes the supervisor, which signals the child.
//! Each hop is a thread that must be scheduled, and on a machine whose cores are all held by
//! busy workers a woken thread waits for the running ones' time slices to end (the README
//! gives the figures). So a supervisor registers each child here with the first signal of its
//! sequence, and the handler of the first stop signal sends it at once, to the child's whole
//! process group, through the child's pidfd (no pid is ever signalled, so none that was
//! reused either). The supervisor then sees what was sent ([`Registration::disarm`]) and goes
//! on from the sequence's second step. When the stop has no grace period, it forces at once
//! and the sequence would jump to SIGKILL: the handler sends SIGKILL instead.
//!
//! # Invariants
//! 1. An entry holds a pidfd only while the [`Registration`] lives, and the registration is
//!    dropped before the pidfd is closed; dropping it waits until no handler is reading the
//!    registry, so a handler never signals a descriptor that was closed (or reused) under it.
//! 2. An entry is one word (descriptor, signal, install generation), written and read whole: a
//!    handler never pairs one child's descriptor with another's signal.
//! 3. A registration counts only for the stop installed when it was made: installing another
//!    stop bumps the generation, and the handler skips entries of older generations.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

use crate::termseq::continue_after;

/// Children told from the handler at most; more are told by their supervisor as usual.
const ENTRIES: usize = 256;

/// Each entry: 0 when free, else `pidfd + 1` (bits 0..32), the signal (bits 32..40) and the
/// install generation (bits 40..64).
static ENTRY: [AtomicU64; ENTRIES] = [const { AtomicU64::new(0) }; ENTRIES];
/// The signal the handler sent the entry's child; 0 until it has.
static TOLD: [AtomicI32; ENTRIES] = [const { AtomicI32::new(0) }; ENTRIES];
/// Handlers reading the registry right now (invariant 1).
static READERS: AtomicUsize = AtomicUsize::new(0);
/// The install generation (invariant 3), kept to 24 bits.
static GENERATION: AtomicU64 = AtomicU64::new(1);

const GENERATION_MASK: u64 = 0xff_ffff;

/// `pidfd_send_signal` flag (Linux 6.9): signal the process group the pidfd's process leads.
const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;

/// A child the next first stop signal is sent to from the handler; unregisters on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    entry: usize,
}

impl Registration {
    /// Registers the child behind `pidfd`, the leader of its own process group, to get
    /// `signal` from the handler of the first stop signal of the stop installed now. `None`
    /// when every entry is taken.
    ///
    /// The caller must drop the registration before closing `pidfd` (invariant 1).
    pub(crate) fn new(pidfd: BorrowedFd<'_>, signal: i32) -> Option<Registration> {
        let fd = u64::try_from(pidfd.as_raw_fd()).ok()?;
        let signal = u64::try_from(signal).ok().filter(|&s| s < 256)?;
        let generation = GENERATION.load(Ordering::SeqCst) & GENERATION_MASK;
        let word = (fd + 1) | signal << 32 | generation << 40;
        // A free entry's `TOLD` is 0: the drop that freed it cleared it last.
        (0..ENTRIES).find_map(|entry| {
            ENTRY[entry]
                .compare_exchange(0, word, Ordering::SeqCst, Ordering::SeqCst)
                .ok()
                .map(|_| Registration { entry })
        })
    }

    /// Takes the child out of the registry, so that no handler signals it from now on, and
    /// returns the signal a handler sent it before, if one did: the registered one, or
    /// SIGKILL when the stop was to force at once. A supervisor calls it when it begins the
    /// child's sequence itself, so the child never gets the first step twice.
    pub(crate) fn disarm(&self) -> Option<i32> {
        ENTRY[self.entry].store(0, Ordering::SeqCst);
        // A handler that loaded the word before the store may still be signalling it: wait
        // for it (a few system calls), after which `TOLD` is final.
        while READERS.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        Some(TOLD[self.entry].load(Ordering::SeqCst)).filter(|&signal| signal != 0)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.disarm();
        // Last, once no handler can touch the entry: free for the next registration.
        TOLD[self.entry].store(0, Ordering::SeqCst);
    }
}

/// Called when a different stop is installed: registrations made before count no more.
pub(crate) fn new_generation() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The handler's part: signals every registered child of the current generation, with its
/// registered signal, or with SIGKILL when `force` (a stop with no grace period forces at once,
/// and a forced sequence jumps to SIGKILL). Only atomic operations and the
/// `pidfd_send_signal` system call: async-signal-safe.
pub(crate) fn tell_all(force: bool) {
    READERS.fetch_add(1, Ordering::SeqCst);
    let generation = GENERATION.load(Ordering::SeqCst) & GENERATION_MASK;
    for (entry, told) in ENTRY.iter().zip(&TOLD) {
        let word = entry.load(Ordering::SeqCst);
        if word == 0 || word >> 40 != generation {
            continue;
        }
        let fd = ((word & 0xffff_ffff) - 1) as libc::c_int;
        let signal = if force {
            libc::SIGKILL
        } else {
            ((word >> 32) & 0xff) as libc::c_int
        };
        if send(fd, signal) {
            told.store(signal, Ordering::SeqCst);
            if continue_after(signal) {
                send(fd, libc::SIGCONT);
            }
        }
    }
    READERS.fetch_sub(1, Ordering::SeqCst);
}

/// `signal` to the group led by the pidfd's process, or where the kernel cannot (before 6.9)
/// to the process alone; whether it was sent.
fn send(fd: libc::c_int, signal: libc::c_int) -> bool {
    let group = PIDFD_SIGNAL_PROCESS_GROUP;
    for flags in [group, 0] {
        // SAFETY: pidfd_send_signal(2) takes a descriptor, a signal number, a null siginfo
        // (meaning "as kill(2) would") and flags; it reads no memory of ours. A raw system
        // call is async-signal-safe. `fd` is a live pidfd (invariant 1).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                flags,
            )
        };
        if rc == 0 {
            return true;
        }
        // SAFETY: reading this thread's errno right after the failed call.
        if flags == 0 || unsafe { *libc::__errno_location() } != libc::EINVAL {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use rustix::process::{pidfd_open, Pid, PidfdFlags};

    /// The state letter of `/proc/PID/stat` (`S` sleeping, `T` stopped, …).
    fn state_of(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    #[test]
    fn a_first_step_of_tstp_is_not_undone_by_a_cont() {
        let mut child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        let pidfd = pidfd_open(pid, PidfdFlags::empty()).unwrap();
        let registration = Registration::new(pidfd.as_fd(), libc::SIGTSTP).unwrap();
        tell_all(false);
        let deadline = Instant::now() + Duration::from_secs(5);
        while state_of(child.id()) != Some('T') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // A CONT sent after the TSTP would have the child running again by now.
        std::thread::sleep(Duration::from_millis(200));
        let state = state_of(child.id());
        assert_eq!(registration.disarm(), Some(libc::SIGTSTP));
        drop(registration);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(state, Some('T'), "the child should stay stopped");
    }
}
