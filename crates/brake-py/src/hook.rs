//! The SIGINT hook: what a Ctrl-C does to every live pool, from inside the signal handler.
//!
//! # Theory of operation
//!
//! Python's own SIGINT handler only sets a flag that its main thread looks at between bytecodes;
//! a pool that learned of the press from there would start queued tasks until the main thread
//! got round to it. So brake registers its own handler next to Python's (through
//! signal-hook-registry, which keeps calling Python's, so `KeyboardInterrupt` is raised as
//! before). On each press the handler
//!
//! 1. counts it in [`PRESSES`]: a pool created when the count was `base` is stopping once the
//!    count passes `base` and forcing once it passes `base + 1` (a pool made after a Ctrl-C
//!    that was caught starts afresh);
//! 2. sends each registered worker's process group the first signal of its termination sequence
//!    on the pool's first press, and SIGKILL on any later one: a running task gets its
//!    `KeyboardInterrupt` without waiting for any thread to be scheduled, and a worker told so
//!    never starts another task;
//! 3. writes to every registered pool's eventfd, waking its supervisor thread;
//! 4. moves the wake-up epoch ([`crate::epoch`]), waking a main thread that waits in brake
//!    when the kernel gave the signal to another thread.
//!
//! Everything it does is async-signal-safe: atomic loads and stores, `kill(2)`, `write(2)`,
//! `futex(2)`.
//!
//! The handler is installed without `SA_RESTART`, as Python installs its own: a system call
//! that the signal interrupts (a lock wait, a read, brake's futex wait) fails with `EINTR`,
//! Python runs its handler and raises `KeyboardInterrupt`, instead of the call going back to
//! sleep with the exception pending.
//!
//! # Invariants
//!
//! 1. A group slot holds a worker's process group id only while the worker (the group's leader)
//!    is unreaped: [`GroupSlot::remove`] runs before the worker is reaped, and it returns only once
//!    no handler is running (`ACTIVE` is zero), so a handler never signals a group id that
//!    may have been reused.
//! 2. A waker slot holds an eventfd only while its pool owns it, with the same removal rule, so
//!    a handler never writes to a descriptor closed (or reused) under it.
//! 3. A slot is one word, written and read whole: a handler never pairs one worker's group
//!    with another's signal or press count.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Ctrl-C presses (SIGINT deliveries) since the process started.
pub static PRESSES: AtomicU64 = AtomicU64::new(0);

/// Handlers running right now (invariants 1 and 2).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

const GROUP_SLOTS: usize = 1024;
const WAKER_SLOTS: usize = 256;

/// Packed `(base press count: 24 bits) << 40 | (first signal: 8 bits) << 32 | pgid`; 0 is free.
static GROUPS: [AtomicU64; GROUP_SLOTS] = [const { AtomicU64::new(0) }; GROUP_SLOTS];

/// Eventfds of live pools; -1 is free.
static WAKERS: [AtomicI32; WAKER_SLOTS] = [const { AtomicI32::new(-1) }; WAKER_SLOTS];

static INSTALLED: OnceLock<Result<(), io::ErrorKind>> = OnceLock::new();

const BASE_MASK: u64 = (1 << 24) - 1;

/// Registers the handler once per process. SIGINT ignored at this point (a program started in
/// the background by a non-interactive shell, or with `nohup`) stays ignored: the one who
/// started it asked for that, and Python itself leaves it so.
pub fn install() -> io::Result<()> {
    let result = INSTALLED.get_or_init(|| {
        if ignored(libc::SIGINT) {
            return Ok(());
        }
        // SAFETY: `on_press` only performs async-signal-safe operations (atomic loads, stores
        // and adds, `kill(2)`, `write(2)` to an eventfd); it allocates nothing and takes no
        // lock, and signal-hook-registry saves and restores errno around it and goes on to call
        // the handler that was there before (Python's).
        unsafe { signal_hook_registry::register(libc::SIGINT, on_press) }
            .map_err(|err| err.kind())?;
        interrupt_calls(libc::SIGINT).map_err(|err| err.kind())
    });
    (*result).map_err(io::Error::from)
}

/// Clears `SA_RESTART` from the handler of `signal`, so that it interrupts blocking calls.
fn interrupt_calls(signal: i32) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid out-parameter; the action written back is the one
    // just read, handler and mask unchanged, with one flag cleared.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
            return Err(io::Error::last_os_error());
        }
        if current.sa_flags & libc::SA_RESTART != 0 {
            current.sa_flags &= !libc::SA_RESTART;
            if libc::sigaction(signal, &current, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Whether `signal` is ignored (`SIG_IGN`) right now.
fn ignored(signal: i32) -> bool {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only queries.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// The signal handler. Async-signal-safe: see the module docs.
fn on_press() {
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    let presses = PRESSES.fetch_add(1, Ordering::SeqCst) + 1;
    for slot in &GROUPS {
        let packed = slot.load(Ordering::SeqCst);
        if packed == 0 {
            continue;
        }
        let pgid = (packed & 0xffff_ffff) as libc::pid_t;
        let first = ((packed >> 32) & 0xff) as i32;
        let base = packed >> 40;
        let seen = presses.wrapping_sub(base) & BASE_MASK;
        let signal = if seen == 1 { first } else { libc::SIGKILL };
        // SAFETY: kill(2) is async-signal-safe; the group's leader is unreaped (invariant 1),
        // so the id still names that group.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
    for slot in &WAKERS {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            let one: u64 = 1;
            // SAFETY: write(2) is async-signal-safe; the eventfd is open (invariant 2) and
            // non-blocking, and `one` lives on this stack.
            unsafe {
                libc::write(fd, (&one as *const u64).cast(), 8);
            }
        }
    }
    crate::epoch::bump();
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
}

/// Waits until no handler is running (invariants 1 and 2).
fn quiesce() {
    while ACTIVE.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

/// Whether a pool created at press count `base` is stopping (1) or forcing (2 or more).
pub fn presses_since(base: u64) -> u64 {
    PRESSES.load(Ordering::SeqCst).saturating_sub(base)
}

/// A worker's slot in the handler's table; [`GroupSlot::remove`] it before reaping the worker.
#[derive(Debug)]
pub struct GroupSlot {
    index: Option<usize>,
}

impl GroupSlot {
    /// Registers process group `pgid` to get `first` on the first press after `base`, and
    /// SIGKILL on any later one. With every slot taken the group is not registered (the
    /// supervisor still signals it, a moment later).
    pub fn add(pgid: u32, first: i32, base: u64) -> GroupSlot {
        let packed = ((base & BASE_MASK) << 40) | (((first as u64) & 0xff) << 32) | pgid as u64;
        for (index, slot) in GROUPS.iter().enumerate() {
            if slot
                .compare_exchange(0, packed, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return GroupSlot { index: Some(index) };
            }
        }
        GroupSlot { index: None }
    }

    /// Whether the hook signals this group (false when the table was full).
    pub fn registered(&self) -> bool {
        self.index.is_some()
    }

    /// Takes the group out of the table; returns once no handler can still signal it.
    pub fn remove(&mut self) {
        if let Some(index) = self.index.take() {
            GROUPS[index].store(0, Ordering::SeqCst);
            quiesce();
        }
    }
}

impl Drop for GroupSlot {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A pool's eventfd in the handler's table; dropped before the eventfd is closed.
#[derive(Debug)]
pub struct WakerSlot {
    index: Option<usize>,
}

impl WakerSlot {
    /// Registers `fd` (a non-blocking eventfd) to be written to on every press.
    pub fn add(fd: RawFd) -> WakerSlot {
        for (index, slot) in WAKERS.iter().enumerate() {
            if slot
                .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return WakerSlot { index: Some(index) };
            }
        }
        WakerSlot { index: None }
    }
}

impl WakerSlot {
    /// Whether a press writes to the eventfd (false when the table was full).
    pub fn registered(&self) -> bool {
        self.index.is_some()
    }
}

impl Drop for WakerSlot {
    fn drop(&mut self) {
        if let Some(index) = self.index.take() {
            WAKERS[index].store(-1, Ordering::SeqCst);
            quiesce();
        }
    }
}
