//! Process-wide signal handling: SIGINT, SIGTERM and SIGHUP routed to the one installed [`Stop`].
//!
//! # Theory of operation
//!
//! Handlers are registered once per process through `signal-hook` (which chains with handlers
//! other libraries installed). The handler does only async-signal-safe work: it bumps a counter
//! and writes the signal number, one byte, into a socket pair. A watcher thread named
//! `brake-signals` reads those bytes and does the real work on an ordinary thread: the first
//! signal since [`Stop::install_signals`] moves the installed `Stop` to Stopping, every later one
//! to Forcing. Reading bytes instead of signal-hook's coalescing iterator means two quick presses
//! are two presses, never one.
//!
//! A signal that comes when the stop has been forcing for a second or more ends the process from
//! inside the handler with `_exit(128 + signal)`, however Forcing began (a second signal, the
//! end of the grace period, or [`Stop::force`]): the last resort for a program wedged so badly
//! that forcing the stop does not bring it to an exit, such as one whose tokio runtime waits in
//! its drop for a task stuck in blocking code. Closing the terminal (SIGHUP) counts too.
//! Signals that come sooner (a user hammering Ctrl-C, fifty presses in a tenth of a second)
//! change nothing more, so a run that is still ending in order gets to print its report.
//!
//! Installing again with another `Stop` routes signals to the new one from then on, and counts
//! presses afresh; installing the same `Stop` again changes nothing. After
//! [`uninstall_signals`] a signal does what it would have done without brake (for SIGINT,
//! SIGTERM and SIGHUP: end the process).
//!
//! A SIGINT or SIGHUP that was ignored when the process started (a job started with `&` by a
//! non-interactive shell, or under `nohup`) stays ignored: the one who started the process asked
//! for that. SIGTERM is always handled.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;

use crate::error::Error;
use crate::first_step;
use crate::stop::{exit_code_for_signal, monotonic_ns, Reason, Stop};
use crate::sync::lock;

/// The signals a [`Stop`] answers to.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Signals since the last install, counted inside the handler: the first one tells children.
static HANDLER_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The grace period of the installed stop, its own atomic (null: none installed). A stop with
/// no grace forces at its first signal, so the handler sends that signal's first steps as
/// SIGKILL. The stop it belongs to is never freed (see [`Stop::install_signals`]).
static GRACE: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

/// When the installed stop began Forcing, its own atomic (null: none installed); see
/// `Stop::forced_at_cell`. Never freed, like `GRACE`.
static FORCED_AT: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

/// How long a forced stop has to end the process before a further signal ends it from the
/// handler.
const LAST_RESORT_AFTER_NS: u64 = 1_000_000_000;

/// When the second signal since the last install came ([`monotonic_ns`]; 0: not yet).
static SECOND_AT_NS: AtomicU64 = AtomicU64::new(0);

struct Installed {
    stop: Stop,
    /// Signals the watcher has applied to `stop`.
    seen: usize,
}

static INSTALLED: Mutex<Option<Installed>> = Mutex::new(None);

/// The phase of a stop installed with [`install_early`], which the handler itself raises to
/// Stopping on the first signal; null otherwise.
static EARLY_PHASE: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());
static SETUP: OnceLock<Result<Vec<i32>, io::ErrorKind>> = OnceLock::new();

impl Stop {
    /// Makes SIGINT, SIGTERM and SIGHUP drive this `Stop`: the first signal begins stopping, the
    /// second forces, and one that comes a second or more after that exits the process at once
    /// (see the [module docs](crate::signals)).
    ///
    /// Call it early in `main`, before starting threads that might block signals. The handlers
    /// stay for the life of the process; installing another `Stop` later redirects them. An
    /// installed stop's state is kept for the life of the process too (a few hundred bytes),
    /// since a signal handler may read it at any moment.
    pub fn install_signals(&self) -> Result<(), Error> {
        let setup = SETUP.get_or_init(|| setup().map_err(|err| err.kind()));
        if let Err(kind) = setup {
            return Err(Error::Signals(io::Error::from(*kind)));
        }
        let mut installed = lock(&INSTALLED);
        let same = matches!(&*installed, Some(current) if current.stop.same_as(self));
        if !same {
            // The handler reads this stop's atomics through raw pointers from now on: they
            // must stay valid for ever, so this stop is never freed.
            std::mem::forget(self.clone());
            let grace = self.grace_cell() as *const AtomicU64 as *mut AtomicU64;
            GRACE.store(grace, Ordering::SeqCst);
            let forced_at = self.forced_at_cell() as *const AtomicU64 as *mut AtomicU64;
            FORCED_AT.store(forced_at, Ordering::SeqCst);
            *installed = Some(Installed {
                stop: self.clone(),
                seen: 0,
            });
            EARLY_PHASE.store(std::ptr::null_mut(), Ordering::SeqCst);
            first_step::new_generation();
            HANDLER_COUNT.store(0, Ordering::SeqCst);
            SECOND_AT_NS.store(0, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Installs `stop` like [`Stop::install_signals`], and makes the handler itself raise its phase
/// to Stopping on the first signal, before the watcher thread runs: a busy task polling
/// `is_stopping()` then sees the stop at once, even on a machine whose cores are all taken.
/// The price is that the notice's counts are taken a moment later; process-pool workers,
/// whose notice is off, use this.
pub(crate) fn install_early(stop: &Stop) -> Result<(), Error> {
    stop.install_signals()?;
    raise_early(stop);
    Ok(())
}

/// Makes the handler raise the phase of `stop`, the installed one, to Stopping itself (see
/// [`install_early`]). Takes no lock. The installed stop is never freed (see
/// [`Stop::install_signals`]), so the pointer stays valid for as long as a handler may read it.
fn raise_early(stop: &Stop) {
    let cell = stop.phase_cell() as *const AtomicU8 as *mut AtomicU8;
    EARLY_PHASE.store(cell, Ordering::SeqCst);
}

/// The signals among [`STOP_SIGNALS`] that brake left alone because they were ignored when the
/// process started; empty before the first [`Stop::install_signals`].
pub fn ignored_at_start() -> Vec<i32> {
    match SETUP.get() {
        Some(Ok(handled)) => STOP_SIGNALS
            .iter()
            .copied()
            .filter(|signal| !handled.contains(signal))
            .collect(),
        _ => Vec::new(),
    }
}

/// Detaches the installed `Stop`, if any: from now on a stop signal ends the process as if brake
/// had never handled it.
pub fn uninstall_signals() {
    let mut installed = lock(&INSTALLED);
    *installed = None;
    first_step::new_generation();
    EARLY_PHASE.store(std::ptr::null_mut(), Ordering::SeqCst);
    GRACE.store(std::ptr::null_mut(), Ordering::SeqCst);
    FORCED_AT.store(std::ptr::null_mut(), Ordering::SeqCst);
}

/// Registers the child behind `pidfd` to get `signal` from the handler of the first stop
/// signal (see [`first_step`]), if `stop` is the installed stop; `None` otherwise, or when the
/// registry is full. Drop the registration before closing `pidfd`.
pub(crate) fn tell_first_step(
    stop: &Stop,
    pidfd: std::os::fd::BorrowedFd<'_>,
    signal: i32,
) -> Option<first_step::Registration> {
    // Under the lock, so that no install slips between the check and the registration's
    // generation.
    let installed = lock(&INSTALLED);
    match &*installed {
        Some(current) if current.stop.same_as(stop) => {
            // A handler that tells children must also raise the stop itself: see `on_signal`.
            raise_early(stop);
            first_step::Registration::new(pidfd, signal)
        }
        _ => None,
    }
}

/// Registers the handlers and starts the watcher; returns the signals handled.
fn setup() -> io::Result<Vec<i32>> {
    let (mut reader, writer) = UnixStream::pair()?;
    // A full socket must never block a signal handler; a lost byte only matters past the second
    // signal, and the handler sends nothing past the second.
    writer.set_nonblocking(true)?;
    let write_fd = writer.as_raw_fd();
    // The write end lives as long as the handlers that use it: for the life of the process.
    std::mem::forget(writer);

    let mut handled = Vec::new();
    for signal in STOP_SIGNALS {
        if signal != libc::SIGTERM && is_ignored(signal)? {
            continue;
        }
        // SAFETY: the action only performs async-signal-safe operations: atomic loads, stores
        // and adds, `clock_gettime(2)`, `pidfd_send_signal(2)` (`first_step::tell_all`), a
        // `write(2)` of one byte to a non-blocking socket, and `_exit(2)`. It allocates nothing,
        // takes no lock, and signal-hook-registry preserves errno around it.
        unsafe {
            signal_hook::low_level::register(signal, move || on_signal(signal, write_fd))?;
        }
        handled.push(signal);
    }

    thread::Builder::new()
        .name("brake-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            loop {
                match reader.read(&mut byte) {
                    Ok(1) => deliver(i32::from(byte[0])),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    _ => return,
                }
            }
        })?;
    Ok(handled)
}

/// The signal handler's whole work. Must stay async-signal-safe.
fn on_signal(signal: i32, write_fd: RawFd) {
    let count = HANDLER_COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    let forced_at = forced_at_ns();
    if forced_at != 0 {
        if monotonic_ns().saturating_sub(forced_at) >= LAST_RESORT_AFTER_NS {
            signal_hook::low_level::exit(exit_code_for_signal(signal));
        }
        // Already forcing: the watcher has nothing more to do with it.
        return;
    }
    if count == 2 {
        // The handler's own record of the second signal: the last resort must not depend on
        // the watcher thread getting to record the stop's Forcing.
        SECOND_AT_NS.store(monotonic_ns(), Ordering::SeqCst);
    }
    if count >= 3 {
        let second_at = SECOND_AT_NS.load(Ordering::SeqCst);
        if second_at != 0 && monotonic_ns().saturating_sub(second_at) >= LAST_RESORT_AFTER_NS {
            signal_hook::low_level::exit(exit_code_for_signal(signal));
        }
        // The second signal's forcing is on its way through the watcher.
        return;
    }
    let early = EARLY_PHASE.load(Ordering::SeqCst);
    if count == 1 && !early.is_null() {
        // SAFETY: a non-null pointer was stored by `raise_early`: the phase atomic of an
        // installed stop, which `install_signals` leaked so that it lives for the rest of the
        // process. A compare-exchange on an atomic is async-signal-safe.
        let phase = unsafe { &*early };
        let _ = phase.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
    }
    if count == 1 {
        // Supervised children hear of the stop now, not after the hops through the watcher
        // thread (see `first_step`). After the raise above: a pool whose workers all end
        // before the watcher runs must already see its stop as stopping, or it would take
        // their ends for a finished run.
        first_step::tell_all(no_grace());
    }
    let byte = signal as u8;
    // SAFETY: `write_fd` is the write end of a socket pair that is never closed, and the buffer
    // is one valid byte on this stack frame. `write` is async-signal-safe.
    unsafe {
        libc::write(write_fd, (&byte as *const u8).cast(), 1);
    }
}

/// When the installed stop began Forcing ([`monotonic_ns`]), 0 when it has not or none is
/// installed. Async-signal-safe: two atomic loads.
fn forced_at_ns() -> u64 {
    let forced_at = FORCED_AT.load(Ordering::SeqCst);
    if forced_at.is_null() {
        return 0;
    }
    // SAFETY: a non-null pointer is the forcing instant of an installed stop, which
    // `install_signals` leaked so that it lives for the rest of the process. An atomic load
    // is async-signal-safe.
    unsafe { &*forced_at }.load(Ordering::SeqCst)
}

/// Whether the installed stop has no grace period, so that its first signal forces at once.
/// Async-signal-safe: two atomic loads.
fn no_grace() -> bool {
    let grace = GRACE.load(Ordering::SeqCst);
    // SAFETY: a non-null pointer is the grace atomic of an installed stop, which
    // `install_signals` leaked so that it lives for the rest of the process. An atomic load is
    // async-signal-safe.
    !grace.is_null() && unsafe { &*grace }.load(Ordering::Relaxed) == 0
}

/// The watcher's work for one signal, on an ordinary thread.
fn deliver(signal: i32) {
    let stop = {
        let mut installed = lock(&INSTALLED);
        installed.as_mut().map(|current| {
            current.seen += 1;
            (current.stop.clone(), current.seen)
        })
    };
    match stop {
        Some((stop, 1)) => {
            stop.request(Reason::Signal(signal));
        }
        Some((stop, _)) => {
            stop.force_because(Reason::Signal(signal));
        }
        None => {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    }
}

/// Whether `signal` is ignored right now (SIG_IGN). Before brake touches a signal, that means it
/// was ignored when the process started; a child would inherit the ignore through `exec`.
pub(crate) fn is_ignored(signal: i32) -> io::Result<bool> {
    // SAFETY: an all-zero `sigaction` is a valid value for this plain C struct.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null `act` only reads the current disposition into `current`, a valid pointer.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(current.sa_sigaction == libc::SIG_IGN)
}
