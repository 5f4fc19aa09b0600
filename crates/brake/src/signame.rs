//! Signal names: the one table of them, and the one way the library writes a signal for people.
//!
//! [`signal_name`] is what every message of brake says (`SIGINT`, `signal 40`); the short
//! names (`INT`) are the termination sequence's own syntax, read and written by
//! [`TermSeq`](crate::TermSeq).

/// The largest signal number Linux knows (`SIGRTMAX`); numbers above it are not signals.
pub(crate) const MAX_SIGNAL: i32 = 64;

/// Names of the standard signals, without the `SIG` prefix, in canonical spelling. Aliases
/// come after the canonical name of the same number, so that a lookup by number finds the latter.
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// Names only Linux has.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LINUX_NAMES: &[(&str, i32)] = &[
    ("STKFLT", libc::SIGSTKFLT),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
];
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const LINUX_NAMES: &[(&str, i32)] = &[];

fn all_names() -> impl Iterator<Item = &'static (&'static str, i32)> {
    NAMES.iter().chain(LINUX_NAMES)
}

/// `signal` as people read it: `SIGINT` for 2, `signal 40` for a number without a name.
///
/// ```
/// assert_eq!(brake::signal_name(libc::SIGTERM), "SIGTERM");
/// assert_eq!(brake::signal_name(40), "signal 40");
/// ```
pub fn signal_name(signal: i32) -> String {
    match short_name(signal) {
        Some(name) => format!("SIG{name}"),
        None => format!("signal {signal}"),
    }
}

/// The canonical name of `signal` without the `SIG` prefix (`"INT"`), if it has one.
pub(crate) fn short_name(signal: i32) -> Option<&'static str> {
    all_names()
        .find(|&&(_, number)| number == signal)
        .map(|&(name, _)| name)
}

/// The number of a signal named with or without `SIG`, in any case (`int`, `SIGTERM`).
pub(crate) fn signal_by_name(text: &str) -> Option<i32> {
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    all_names()
        .find(|&&(name, _)| name == bare)
        .map(|&(_, number)| number)
}
