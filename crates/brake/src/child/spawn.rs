//! Starting a child without `std::process`: a [`Program`] says what to run, and the child is made
//! with `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, plus `CLONE_INTO_CGROUP` when it joins
//! a run cgroup, so that it is born inside the cgroup: no process is ever migrated, neither the
//! child before its `exec` nor this process (a migration of a multi-threaded process waits for
//! an RCU grace period, milliseconds each).
//!
//! # The child's side
//!
//! Everything is prepared in the parent before the clone: argv and envp as C strings, the paths
//! to try for the program (a `PATH` search, done as `execvp` would), the descriptors to place
//! on 0, 1, 2 and beyond (copied above every target first when one of them is not, so that
//! placing one never closes another). The parent blocks every signal around the clone, but
//! SIGCHLD where the kernel clears the child's handlers (see [`clone`]). The child shares the
//! parent's memory until it execs (the parent's thread is suspended meanwhile), runs on a stack
//! of its own inside the parent's frame, and makes only raw system calls. Every handled signal
//! goes back to its default action (a handler of the parent must never run in it): the kernel
//! does that in the clone where it has `CLONE_CLEAR_SIGHAND` (Linux 5.5), the child
//! otherwise, a call or two per signal; with
//! [`ChildOptions::reset_signals`] the child puts every standard signal back to its default,
//! ignored ones too; and SIGPIPE always (Rust programs ignore it, and a child should not
//! inherit that). Then it joins a new process group; arms the parent-death signal; places the
//! descriptors; changes directory; clears its signal mask; then `execve`s each candidate path
//! in turn. If all fail, it writes the error into the parent's memory and `_exit`s: the parent
//! reaps it and returns the error.
//!
//! # When this path is not taken
//!
//! On other architectures than x86-64; when `clone3` is refused (`ENOSYS` before Linux 5.3 or
//! under a seccomp filter, `EPERM` from a filter, `E2BIG`/`EINVAL` before 5.7 for
//! `CLONE_INTO_CGROUP`), which is then remembered for the whole process; when
//! [`ChildOptions::clone3`] is `false`; and when the environment variable [`NO_CLONE3_VAR`] is
//! set to anything but `0` or the empty string. [`Child::start`](super::Child::start) then
//! builds a [`Command`](std::process::Command) from the [`Program`] and spawns it as
//! [`Child::spawn`](super::Child::spawn) does.
//!
//! [`ChildOptions::reset_signals`]: super::ChildOptions::reset_signals
//! [`ChildOptions::clone3`]: super::ChildOptions::clone3

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU8, Ordering};

use super::program::{errno, high_copies, place, Io, Program};

/// Set to anything but `0` or the empty string, children are started through `std::process`
/// (fork or `posix_spawn`) rather than `clone3`: for tests of that path, and a way out should a
/// sandbox misbehave with `clone3`.
pub const NO_CLONE3_VAR: &str = "BRAKE_NO_CLONE3";

// ---------------------------------------------------------------------------------------------
// Whether clone3 is used

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

/// Whether `clone3` may be tried at all: set once, from the architecture, [`NO_CLONE3_VAR`]
/// and the first refusal.
static CLONE3: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Whether `CLONE_INTO_CGROUP` may be tried: no after its first refusal.
static INTO_CGROUP: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Whether `CLONE_CLEAR_SIGHAND` (Linux 5.5) may be tried: no after its first refusal.
static CLEAR_SIGHAND: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether children are started with `clone3` in this process (see the module docs).
pub fn clone3_enabled() -> bool {
    match CLONE3.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let off = !cfg!(target_arch = "x86_64")
                || std::env::var_os(NO_CLONE3_VAR).is_some_and(|v| !v.is_empty() && v != "0");
            CLONE3.store(if off { NO } else { YES }, Ordering::Relaxed);
            !off
        }
    }
}

/// Whether `err`, from `clone3` itself, means the kernel or a sandbox refuses the call (or the
/// flags) rather than this one child.
fn refused(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOSYS | libc::EPERM | libc::EINVAL | libc::E2BIG)
    )
}

/// Remembers a refusal of `clone3` (with a cgroup or without) for the rest of the process.
fn remember_refusal(with_cgroup: bool) {
    if with_cgroup {
        INTO_CGROUP.store(NO, Ordering::Relaxed);
    } else {
        CLONE3.store(NO, Ordering::Relaxed);
    }
}

/// Whether a child can be started inside a cgroup through `CLONE_INTO_CGROUP` in this process.
pub(super) fn into_cgroup_enabled() -> bool {
    clone3_enabled() && INTO_CGROUP.load(Ordering::Relaxed) != NO
}

// ---------------------------------------------------------------------------------------------
// The clone

/// How a child is set up between the clone and its exec.
pub(super) struct Setup {
    pub(super) own_group: bool,
    pub(super) death_signal: Option<i32>,
    pub(super) reset_signals: bool,
    /// The cgroup directory to start the child in.
    pub(super) cgroup: Option<RawFd>,
}

/// A child started by [`start`]: its pid, its pidfd, and the parent's ends of its pipes.
pub(super) struct Started {
    pub(super) pid: u32,
    pub(super) pidfd: OwnedFd,
    pub(super) pipes: [Option<OwnedFd>; 3],
}

/// Why [`start`] did not start a child.
pub(super) enum NotStarted {
    /// `clone3` (or `CLONE_INTO_CGROUP`) is refused here: use the `std::process` path.
    Refused,
    /// The child could not be made or could not exec: the error to return.
    Failed(io::Error),
}

impl From<io::Error> for NotStarted {
    fn from(err: io::Error) -> NotStarted {
        NotStarted::Failed(err)
    }
}

/// What the child reads, all of it prepared and owned by the parent's frame in [`start`].
#[repr(C)]
struct ChildArgs {
    candidates: *const *const libc::c_char,
    candidate_count: usize,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    moves: *const (RawFd, RawFd),
    move_count: usize,
    own_group: bool,
    death_signal: i32,
    reset_signals: bool,
    parent: libc::pid_t,
    /// Whether the kernel puts every handled signal back to its default in the clone
    /// (`CLONE_CLEAR_SIGHAND`); set by [`start`] before each clone it tries.
    handlers_cleared: bool,
    /// Written by the child when it fails: the errno, read by the parent once it resumes.
    error: i32,
}

/// Starts `program` as a child set up by `setup`, through `clone3`.
pub(super) fn start(program: &Program, setup: &Setup) -> Result<Started, NotStarted> {
    let nul = |_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    };
    let cstring = |s: &OsStr| CString::new(s.as_bytes()).map_err(nul);
    let argv: Vec<CString> = program
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()?;
    let envp = environment(program)?;
    let candidates = candidates(program)?;
    let cwd = program
        .cwd
        .as_ref()
        .map(|dir| cstring(dir.as_os_str()))
        .transpose()?;

    // The standard streams, then the extra descriptors, all copied high.
    let mut parent_ends: [Option<OwnedFd>; 3] = [None, None, None];
    let mut child_fds: Vec<(OwnedFd, RawFd)> = Vec::with_capacity(3 + program.fds.len());
    for (target, io) in program.stdio.iter().enumerate() {
        match io {
            Io::Inherit => {}
            Io::Null => {
                // std opens every file close-on-exec.
                let null = std::fs::OpenOptions::new()
                    .read(target == 0)
                    .write(target != 0)
                    .open("/dev/null")?;
                child_fds.push((OwnedFd::from(null), target as RawFd));
            }
            Io::Piped => {
                // std makes both ends close-on-exec.
                let (read, write) = io::pipe()?;
                let (ours, theirs) = if target == 0 {
                    (OwnedFd::from(write), OwnedFd::from(read))
                } else {
                    (OwnedFd::from(read), OwnedFd::from(write))
                };
                parent_ends[target] = Some(ours);
                child_fds.push((theirs, target as RawFd));
            }
        }
    }
    // Copies are needed only when a source could be closed by placing another: a source at or
    // below some target (0 to 2 closed in this process, or an extra descriptor's target).
    let every = || child_fds.iter().chain(&program.fds);
    let top = every().map(|(_, target)| *target).max().unwrap_or(2).max(2);
    let high = if every().all(|(fd, _)| fd.as_raw_fd() > top) {
        Vec::new()
    } else {
        let mut high = high_copies(&child_fds, 3)?;
        high.extend(high_copies(&program.fds, 3)?);
        high
    };
    let moves: Vec<(RawFd, RawFd)> = if high.is_empty() {
        every().map(|(fd, t)| (fd.as_raw_fd(), *t)).collect()
    } else {
        high.iter().map(|(fd, t)| (fd.as_raw_fd(), *t)).collect()
    };

    let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
        strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let argv_ptrs = pointers(&argv);
    let envp_ptrs = pointers(&envp);
    let candidate_ptrs = pointers(&candidates);
    let mut args = ChildArgs {
        candidates: candidate_ptrs.as_ptr(),
        candidate_count: candidates.len(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        moves: moves.as_ptr(),
        move_count: moves.len(),
        own_group: setup.own_group,
        death_signal: setup.death_signal.unwrap_or(0),
        reset_signals: setup.reset_signals,
        parent: std::process::id() as libc::pid_t,
        handlers_cleared: false,
        error: 0,
    };
    // Where the kernel has CLONE_CLEAR_SIGHAND (5.5), it puts every handled signal back to its
    // default in the clone, which spares the child one system call per signal.
    let clear = CLEAR_SIGHAND.load(Ordering::Relaxed) != NO;
    args.handlers_cleared = clear;
    let extra = if clear { CLONE_CLEAR_SIGHAND } else { 0 };
    let mut started = clone(setup.cgroup, extra, child_main, &mut args);
    if clear && matches!(&started, Err(err) if err.raw_os_error() == Some(libc::EINVAL)) {
        // A kernel that does not know the flag (or a filter refusing it): tried again without
        // it, and not asked for again if that works.
        args.handlers_cleared = false;
        started = clone(setup.cgroup, 0, child_main, &mut args);
        if started.is_ok() {
            CLEAR_SIGHAND.store(NO, Ordering::Relaxed);
        }
    }
    let (pid, pidfd) = match started {
        Ok(started) => started,
        Err(err) if refused(&err) => {
            remember_refusal(setup.cgroup.is_some());
            return Err(NotStarted::Refused);
        }
        Err(err) => return Err(NotStarted::Failed(err)),
    };
    // The child has exec'd or exited: CLONE_VFORK resumed us only then. Its error, if any, is
    // in `args`, which the asm block may have written (it takes a pointer to it).
    // SAFETY: `args` is a live local; a volatile read because another task wrote it.
    let error = unsafe { std::ptr::read_volatile(&args.error) };
    drop(high);
    drop(child_fds);
    if error != 0 {
        let _ = reap(pid);
        return Err(NotStarted::Failed(io::Error::from_raw_os_error(error)));
    }
    Ok(Started {
        pid,
        pidfd,
        pipes: parent_ends,
    })
}

/// Starts a child that exits at once inside the cgroup whose directory is `cgroup`, and reaps
/// it: whether `CLONE_INTO_CGROUP` works there. A refusal of the call itself is remembered.
pub(super) fn probe_into(cgroup: RawFd) -> io::Result<()> {
    if !into_cgroup_enabled() {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    let mut nothing = 0u8;
    match clone(Some(cgroup), 0, probe_main, &mut nothing) {
        Ok((pid, _pidfd)) => {
            reap(pid)?;
            Ok(())
        }
        Err(err) => {
            if refused(&err) {
                remember_refusal(true);
            }
            Err(err)
        }
    }
}

/// Waits for the child `pid` (ended or about to) and returns its raw wait status.
pub(super) fn reap(pid: u32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid(2) writes the status into our local; `pid` is an unreaped child of
        // ours, so it cannot name another process.
        let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if rc >= 0 {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The child's environment, `KEY=VALUE` strings: this process's (unless cleared) with the
/// program's changes.
fn environment(program: &Program) -> io::Result<Vec<CString>> {
    let nul = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    };
    let mut out = Vec::new();
    let mut push = |key: &OsStr, value: &OsStr| -> io::Result<()> {
        let mut bytes = Vec::with_capacity(key.len() + value.len() + 2);
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(b'=');
        bytes.extend_from_slice(value.as_bytes());
        out.push(CString::new(bytes).map_err(|_| nul())?);
        Ok(())
    };
    if !program.env_clear {
        for (key, value) in std::env::vars_os() {
            if !program.env.iter().any(|(k, _)| *k == key) {
                push(&key, &value)?;
            }
        }
    }
    for (key, value) in &program.env {
        if let Some(value) = value {
            if key.is_empty() || key.as_bytes().contains(&b'=') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{key:?} is not an environment variable name"),
                ));
            }
            push(key, value)?;
        }
    }
    Ok(out)
}

/// The paths the child tries to exec, in order: the program itself if it holds a `/`, else
/// each directory of `PATH` (the child's, else this process's, else `/bin:/usr/bin`) joined
/// with it, an empty entry meaning the current directory.
fn candidates(program: &Program) -> io::Result<Vec<CString>> {
    let name = program.program.as_bytes();
    let nul = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    };
    if name.is_empty() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    if name.contains(&b'/') {
        return Ok(vec![CString::new(name).map_err(|_| nul())?]);
    }
    let own;
    let path: &[u8] = match program.env.iter().find(|(k, _)| k == "PATH") {
        Some((_, Some(path))) => path.as_bytes(),
        Some((_, None)) => b"/bin:/usr/bin",
        None if program.env_clear => b"/bin:/usr/bin",
        None => {
            own = std::env::var_os("PATH");
            own.as_deref()
                .map_or(&b"/bin:/usr/bin"[..], OsStr::as_bytes)
        }
    };
    path.split(|&b| b == b':')
        .map(|dir| {
            let mut full = Vec::with_capacity(dir.len() + name.len() + 1);
            if !dir.is_empty() {
                full.extend_from_slice(dir);
                full.push(b'/');
            }
            full.extend_from_slice(name);
            CString::new(full).map_err(|_| nul())
        })
        .collect()
}

/// The layout of `struct clone_args` up to `cgroup` (Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgsRaw {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_VM: u64 = 0x100;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The child's stack: inside the parent's frame, which is idle while the child runs
/// (CLONE_VFORK). The child's work needs a few hundred bytes; this leaves a wide margin.
#[repr(C, align(16))]
struct ChildStack([std::mem::MaybeUninit<u8>; 32 * 1024]);

/// `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD [| CLONE_INTO_CGROUP])`: runs `entry(arg)` in
/// the child, on a stack of its own, and returns once the child has exec'd or exited, with its
/// pid and pidfd. Every signal is blocked in this thread meanwhile (the child starts with them
/// blocked and unblocks them itself), but SIGCHLD when the child's handlers are cleared.
///
/// `extra` adds flags: `CLONE_CLEAR_SIGHAND`.
fn clone<T>(
    cgroup: Option<RawFd>,
    extra: u64,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: &mut T,
) -> io::Result<(u32, OwnedFd)> {
    let mut stack = ChildStack([std::mem::MaybeUninit::uninit(); 32 * 1024]);
    let mut pidfd: libc::c_int = -1;
    let mut clone_args = CloneArgsRaw {
        flags: CLONE_VM | CLONE_VFORK | CLONE_PIDFD | extra,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.0.as_mut_ptr() as u64,
        stack_size: stack.0.len() as u64,
        ..CloneArgsRaw::default()
    };
    if let Some(dir) = cgroup {
        clone_args.flags |= CLONE_INTO_CGROUP;
        clone_args.cgroup = dir as u64;
    }
    // With CLONE_CLEAR_SIGHAND the child is born with every handler at its default, and
    // SIGCHLD's default is to ignore it: the child may take one before exec. Left deliverable
    // here, a job that ends while this thread waits for the clone sends it a SIGCHLD that the
    // kernel discards at once (or runs a handler the program installed, once the clone
    // returns); blocked, the kernel would queue it for the process and wake another thread
    // to take it, once for nearly every job.
    let old = block_signals(extra & CLONE_CLEAR_SIGHAND != 0);
    // SAFETY: see `clone3_raw`: the arguments are live locals of this frame (the stack, the
    // pidfd slot, `arg`), and `entry` never returns.
    let ret = unsafe { clone3_raw(&mut clone_args, entry, (arg as *mut T).cast()) };
    restore_signals(&old);
    if ret < 0 {
        return Err(io::Error::from_raw_os_error((-ret) as i32));
    }
    // SAFETY: with CLONE_PIDFD the kernel stored a new pidfd, owned by no one else, in `pidfd`.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok((ret as u32, pidfd))
}

/// The raw system call, in assembly: the child resumes on the new stack, where no Rust frame
/// of the parent's lies, so it must not return; it calls `entry(arg)` at once.
///
/// # Safety
///
/// `args` must describe a stack that stays valid and unused until the child execs or exits,
/// and `entry` must never return and may only make async-signal-safe calls (it shares the
/// parent's memory and thread pointer).
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_raw(
    args: &mut CloneArgsRaw,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> isize {
    let ret: isize;
    // SAFETY: the caller's contract. The parent's path only makes the system call (rax, rcx,
    // r11 are its clobbers). The child's path starts with rsp at the top of its own 16-byte
    // aligned stack, so `call` leaves it aligned as the ABI wants at `entry`'s start; `entry`
    // diverges, and `ud2` stops any return.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *mut CloneArgsRaw,
            in("rsi") std::mem::size_of::<CloneArgsRaw>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere `clone3_enabled` is false and this is never called.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_raw(
    _args: &mut CloneArgsRaw,
    _entry: extern "C" fn(*mut libc::c_void) -> !,
    _arg: *mut libc::c_void,
) -> isize {
    -(libc::ENOSYS as isize)
}

/// The kernel's signal set: 64 bits on every Linux architecture brake runs on.
type KernelSigset = u64;

/// Blocks every signal in this thread (32 and 33, which glibc keeps for itself, too), but
/// SIGCHLD when `but_sigchld`; returns the mask to restore.
fn block_signals(but_sigchld: bool) -> KernelSigset {
    let sigchld: KernelSigset = 1 << (libc::SIGCHLD - 1);
    let all: KernelSigset = if but_sigchld { !sigchld } else { !0 };
    let mut old: KernelSigset = 0;
    // SAFETY: rt_sigprocmask(2) reads and writes two 8-byte locals; SIGKILL and SIGSTOP are
    // silently left unblocked by the kernel.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const KernelSigset,
            &mut old as *mut KernelSigset,
            std::mem::size_of::<KernelSigset>(),
        );
    }
    old
}

fn restore_signals(old: &KernelSigset) {
    // SAFETY: rt_sigprocmask(2) reads one 8-byte local.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            old as *const KernelSigset,
            std::ptr::null_mut::<KernelSigset>(),
            std::mem::size_of::<KernelSigset>(),
        );
    }
}

/// The probe's child: exits at once.
extern "C" fn probe_main(_arg: *mut libc::c_void) -> ! {
    // SAFETY: _exit(2) is async-signal-safe and ends only this child (not its thread group's
    // parent: the child is a process of its own).
    unsafe { libc::_exit(0) }
}

/// The child, between the clone and the exec. Only raw system calls; nothing allocates or
/// locks (the memory is the parent's, whose other threads may hold any lock).
extern "C" fn child_main(arg: *mut libc::c_void) -> ! {
    // SAFETY: `arg` is the `ChildArgs` of the parent's suspended frame in `start`.
    let args = unsafe { &mut *arg.cast::<ChildArgs>() };
    let error = child_setup_and_exec(args);
    // SAFETY: a volatile write to the parent's `ChildArgs`, which it reads after we exit;
    // `_exit` is async-signal-safe.
    unsafe {
        std::ptr::write_volatile(&mut args.error, error);
        libc::_exit(127)
    }
}

/// The kernel's `struct sigaction` on x86-64 (`rt_sigaction(2)`, with an 8-byte signal set).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: KernelSigset,
}

/// `rt_sigaction(2)` itself, which reaches every signal (libc's wrapper refuses 32 and 33, whose
/// handlers glibc keeps for itself): with `Some(handler)`, sets the signal's action to that
/// handler (SIG_DFL or SIG_IGN) with no flags; with `None`, only reads it. Returns the
/// signal's handler before the call, or `None` if the call failed. Async-signal-safe.
fn kernel_sigaction(
    signal: i32,
    handler: Option<libc::sighandler_t>,
) -> Option<libc::sighandler_t> {
    let new = handler.map(|handler| KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    });
    let mut old = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction(2) reads `new` (or nothing) and writes `old`, both on this stack and
    // laid out as the kernel's struct; the set size is the kernel's, 8 bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            new.as_ref()
                .map_or(std::ptr::null(), |new| new as *const KernelSigaction),
            &mut old as *mut KernelSigaction,
            std::mem::size_of::<KernelSigset>(),
        )
    };
    (rc == 0).then_some(old.handler)
}

/// Sets the child up and execs; returns the errno that stopped it.
fn child_setup_and_exec(args: &ChildArgs) -> i32 {
    // Signal dispositions: a handler of the parent must never run here, and with
    // `reset_signals` every standard signal goes back to its default. SIGPIPE too, which Rust
    // programs ignore and a child should not inherit ignored.
    if args.handlers_cleared {
        // The kernel has put every handled signal back to its default and left ignored ones
        // ignored: only those to reset remain.
        for signal in 1..32 {
            if signal == libc::SIGPIPE
                || (args.reset_signals && signal != libc::SIGKILL && signal != libc::SIGSTOP)
            {
                kernel_sigaction(signal, Some(libc::SIG_DFL));
            }
        }
    } else {
        for signal in 1..=64 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let reset = (args.reset_signals && signal < 32)
                || signal == libc::SIGPIPE
                || kernel_sigaction(signal, None)
                    .is_some_and(|handler| handler != libc::SIG_DFL && handler != libc::SIG_IGN);
            if reset {
                kernel_sigaction(signal, Some(libc::SIG_DFL));
            }
        }
    }
    if args.own_group {
        // SAFETY: setpgid(2) on plain integers; async-signal-safe.
        if unsafe { libc::setpgid(0, 0) } != 0 {
            return errno();
        }
    }
    if args.death_signal != 0 {
        // SAFETY: prctl(2) with PR_SET_PDEATHSIG takes integers only; getppid, getpid, kill
        // and _exit are async-signal-safe system calls on integers.
        unsafe {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                args.death_signal as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return errno();
            }
            if libc::getppid() != args.parent {
                // The parent died before the prctl armed: what the signal would have done.
                libc::kill(libc::getpid(), args.death_signal);
                libc::_exit(127);
            }
        }
    }
    // SAFETY: `moves` points to `move_count` pairs in the parent's frame, alive until we exec.
    let moves = unsafe { std::slice::from_raw_parts(args.moves, args.move_count) };
    let placed = place(moves);
    if placed != 0 {
        return placed;
    }
    // SAFETY: chdir(2) reads a NUL-terminated string of the parent's, alive until we exec.
    if !args.cwd.is_null() && unsafe { libc::chdir(args.cwd) } != 0 {
        return errno();
    }
    let empty: KernelSigset = 0;
    // SAFETY: rt_sigprocmask(2) reads one 8-byte local. Every handler is SIG_DFL or SIG_IGN by
    // now, so a pending signal can only act as it would on the new program.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const KernelSigset,
            std::ptr::null_mut::<KernelSigset>(),
            std::mem::size_of::<KernelSigset>(),
        );
    }
    // SAFETY: `candidates` points to `candidate_count` NUL-terminated strings of the parent's.
    let candidates = unsafe { std::slice::from_raw_parts(args.candidates, args.candidate_count) };
    let mut denied = false;
    let mut last = libc::ENOENT;
    for &path in candidates {
        // SAFETY: execve(2) with NUL-terminated strings and null-terminated pointer arrays
        // prepared by the parent; it returns only on failure. Async-signal-safe.
        unsafe { libc::execve(path, args.argv, args.envp) };
        last = errno();
        match last {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return last,
        }
    }
    if denied {
        libc::EACCES
    } else {
        last
    }
}
