//! Test kit: run a program in a real pseudo-terminal, press Ctrl-C as a user would, and see
//! how it ended and what it left running.
//!
//! # Theory of operation
//!
//! [`Session::spawn`] opens a fresh pty and starts the program as the leader of a new session
//! whose controlling terminal is that pty; the program's process group is the terminal's
//! foreground group. [`Session::press_ctrl_c`] writes byte `0x03` to the pty master. The
//! kernel's line discipline turns it into SIGINT for the whole foreground group, exactly as it
//! does when a user presses Ctrl-C. Nothing here needs a terminal of the test's own: it works
//! in CI with no stdin and no controlling tty.
//!
//! Each session sets [`MARKER_VAR`] to a unique token in the program's environment. Children
//! inherit it, so every descendant can be found in `/proc` even after it left the program's
//! process group or session. When the program ends, the kit lists the marked processes still
//! alive ([`Finished::survivors`]) and then SIGKILLs them, so a failing test leaks nothing.
//!
//! Every wait has a timeout. A program that does not end in time is killed, with everything it
//! started, and the wait fails with a [`KitError`] whose message ends with the program's last
//! output lines: a hang fails a test, it never blocks one.
//!
//! The end of the program is observed with `waitid(WNOWAIT)` before portable-pty reaps it. That
//! gives the exact status ([`Status::Signaled`] with the signal number) and keeps the pid, and
//! so the process-group id, from being reused while the kit still signals the group.
//! Waits for the end sleep in `poll(2)` on a pidfd of the program, so the end is seen within
//! microseconds and [`Finished::since_first_stop`] times a stop of a few milliseconds
//! faithfully; it is counted from the moment just before the press's write.
//!
//! # Why portable-pty
//!
//! It is wezterm's pty layer, widely used and maintained, and its unix spawn (checked in
//! `portable-pty-0.9.0/src/unix.rs`) does in the child, before exec, what this kit needs:
//! it resets SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM and SIGALRM to their default action and
//! empties the signal mask (a test started in the background by a non-interactive shell, as in
//! CI, inherits SIGINT ignored, and the program would then never see the press); it calls
//! `setsid()` and `ioctl(TIOCSCTTY)` so the pty becomes the controlling terminal; and it closes
//! stray descriptors so no other process keeps the terminal open.
//!
//! Its rough edges, and what the kit does about them: its `ExitStatus` keeps only a
//! `strsignal()` text for a signal death (the kit reads the status itself); a command without
//! a working directory starts in `$HOME`, and a missing one silently falls back to `$HOME`
//! (the kit always passes the test's directory and checks it); a relative program path such
//! as `target/debug/x` is looked up in `PATH` (the kit makes it absolute); `Child::kill` sends
//! SIGHUP and then sleeps up to 250 ms (the kit uses its own kills); and dropping its writer
//! of the master types a newline and EOF into the terminal (the kit reads and writes through
//! descriptors of its own, so [`Session::hang_up`] closes the terminal with nothing typed).
//!
//! The kit also sets `NOFLSH` on the terminal: by default a ^C discards output the program
//! wrote but the reader had not consumed yet, which would make tests depend on thread timing.
//!
//! Linux only: it relies on `/proc`, `waitid` and pidfds.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use brake_testkit::{example_path, marked_processes, Command, Session, Status};
//!
//! let secs = Duration::from_secs;
//! let mut session = Session::spawn(Command::new(example_path("pool")).arg("--jobs=4"))?;
//! session.wait_for("ready", 1, secs(10))?;
//! let token = session.marker().to_owned();
//! let finished = session.press_until_exit(secs(1), 3, secs(10))?;
//! assert_eq!(finished.presses, 1, "one Ctrl-C must be enough");
//! assert_eq!(finished.status, Status::Exited(130));
//! assert!(finished.survivors.is_empty(), "left behind: {:?}", finished.survivors);
//! assert!(marked_processes(&token).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg(target_os = "linux")]

mod command;
mod error;
mod exit;
mod output;
mod procs;
mod session;
pub mod stats;
pub mod torture;

use std::path::PathBuf;
use std::time::Duration;

pub use command::Command;
pub use error::KitError;
pub use exit::Status;
pub use procs::{marked_processes, Survivor};
pub use session::{Finished, Session};

/// The environment variable that marks every process a [`Session`] starts.
///
/// Its value is the session's token ([`Session::marker`]); children inherit it.
pub const MARKER_VAR: &str = "BRAKE_TESTKIT_MARK";

/// The kit's polling period, for what cannot be waited for exactly (the output's next change
/// while the program may end, leftover processes dying): short, yet costing nothing on a slow
/// machine. The program's own end is waited for exactly, on a pidfd.
const POLL: Duration = Duration::from_millis(5);

/// The path of cargo example `name`, built in the same target directory and profile as the
/// running test.
///
/// A test runs from `target/<profile>/deps/`; examples live in `target/<profile>/examples/`.
/// `cargo test` builds the examples of the package under test (unless a target filter such as
/// `--test NAME` is given), but not those of other packages.
///
/// # Panics
///
/// If the example has not been built, with a message that says how to build it.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let dir = exe.parent().expect("the test binary lives in a directory");
    let profile_dir = match dir.file_name() {
        Some(last) if last == "deps" => dir.parent().unwrap_or(dir),
        _ => dir,
    };
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example `{name}` is not built: {} does not exist. Build it with the tests' profile \
         first, e.g. `cargo build --examples -p <its package>` (add `--release` if the tests \
         run with it), or run `cargo test` for that package without a target filter",
        path.display()
    );
    path
}
