//! The wake-up epoch: what the main thread's blocking waits sleep on, so that they wake when
//! something they may be waiting for happened, or a Ctrl-C came, and at no other time.
//!
//! One process-wide counter, `EPOCH`, moves forward whenever a waiter may have something new
//! to look at: the thread that hands results out finished a batch, a pool ended, a press came
//! (from inside the signal handler). A waiter reads the epoch, checks its own condition (with
//! the GIL), and if that is not met sleeps in `futex(FUTEX_WAIT)` on the epoch it read: a move
//! in between makes the wait return at once, so no wake-up is lost. A signal delivered to the
//! waiting thread interrupts the futex wait (brake's SIGINT handler is installed without
//! `SA_RESTART`, see `crate::hook`); one delivered to another thread moves the epoch. Either
//! way the waiter returns to Python, which runs its signal handlers (`KeyboardInterrupt`).
//!
//! Waking costs a system call only while someone waits (`WAITERS`).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

/// Moves forward on every event a waiter may be waiting for.
static EPOCH: AtomicU32 = AtomicU32::new(0);

/// Threads inside [`wait`] right now.
static WAITERS: AtomicUsize = AtomicUsize::new(0);

/// The epoch now: read it before checking a condition, and wait on the value read.
pub fn current() -> u32 {
    EPOCH.load(Ordering::SeqCst)
}

/// Moves the epoch and wakes every waiter. Async-signal-safe: an atomic add, an atomic load
/// and at most one `futex(2)` call.
pub fn bump() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
    if WAITERS.load(Ordering::SeqCst) != 0 {
        // SAFETY: FUTEX_WAKE on the address of a live static atomic; no memory is written.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                EPOCH.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                i32::MAX,
            );
        }
    }
}

/// Sleeps while the epoch is still `seen`, at most `timeout` (`None`: without limit). Returns
/// early, without saying why, on a move of the epoch, a signal, or a spurious wake-up: the
/// caller looks at its condition and at signals again.
pub fn wait(seen: u32, timeout: Option<Duration>) {
    WAITERS.fetch_add(1, Ordering::SeqCst);
    // The increment is ordered before this load, and `bump`'s epoch move before its load of
    // WAITERS: either the waker sees a waiter or this thread sees the move.
    if EPOCH.load(Ordering::SeqCst) == seen {
        let spec = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let spec_ptr = spec
            .as_ref()
            .map_or(std::ptr::null(), |s| s as *const libc::timespec);
        // SAFETY: FUTEX_WAIT reads the live static atomic and, with a relative timeout, the
        // timespec on this stack (or none); the kernel returns at once if the value is not
        // `seen`.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                EPOCH.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                seen,
                spec_ptr,
            );
        }
    }
    WAITERS.fetch_sub(1, Ordering::SeqCst);
}
