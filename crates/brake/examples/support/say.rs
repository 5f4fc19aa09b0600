//! `say!` and `warn!`: `println!` and `eprintln!` that never panic. When the terminal closes
//! under a run (SIGHUP), every later write to it fails; the stop must still run to its end.

/// Writes one line to stdout, ignoring a failed write.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Writes one line to stderr, ignoring a failed write.
#[allow(unused_macros)] // not every example reports errors
macro_rules! warn {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
