//! A program running in its own pseudo-terminal: pressing Ctrl-C, waiting, and cleaning up.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portable_pty::{native_pty_system, Child, MasterPty, PtySize};

use crate::output::{Output, Wait};
use crate::procs::{self, marked_processes};
use crate::{exit, Command, KitError, Status, Survivor, POLL};

/// How long cleanup (killing, reaping, draining the output) may take before the kit gives up
/// on it rather than block the test.
const CLEANUP: Duration = Duration::from_secs(5);

/// How long `wait_for` keeps reading after the program exited while some other process still
/// holds the terminal open: enough to read what the program wrote before it died.
const DRAIN: Duration = Duration::from_secs(1);

/// The byte a terminal sends for Ctrl-C (VINTR in the default termios).
const CTRL_C: u8 = 0x03;

/// A program running as the foreground process group of a new session on a fresh pty.
///
/// Dropping a `Session` that was not consumed by a wait SIGKILLs the program's process group
/// and every process carrying its marker, reaps the program, and returns; it never blocks for
/// more than a few seconds, even if something refuses to die.
pub struct Session {
    pid: u32,
    /// A pidfd on the program, whose readiness wakes a wait the moment it ends; `None` on a
    /// kernel without pidfds (before 5.3), where waits poll every few milliseconds instead.
    pidfd: Option<OwnedFd>,
    token: String,
    child: Box<dyn Child + Send + Sync>,
    /// `None` once the terminal was hung up ([`Session::hang_up`]).
    writer: Option<Box<dyn Write + Send>>,
    /// Kept so the terminal lives exactly as long as the session, or until it is hung up.
    master: Option<Box<dyn MasterPty + Send>>,
    output: Arc<Output>,
    reader: Option<JoinHandle<()>>,
    presses: u32,
    first_stop: Option<Instant>,
    /// The end, once seen, with the instant it was first seen.
    exit: Cell<Option<(Status, Instant)>>,
    settled: bool,
}

/// What happened to a program that ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Ctrl-C presses made on the session before the end was seen.
    pub presses: u32,
    /// From the first press or [`send_signal`](Session::send_signal) to the end being seen;
    /// `None` if the program was never asked to stop. It starts just before the write of the
    /// press (or the `kill`), so it never times a stop shorter than it was, and ends when a kit
    /// call sees the end: within microseconds
    /// while a kit call is waiting for it (it sleeps in `poll(2)` on a pidfd of the program),
    /// so it times stops of a few milliseconds; time the test spends between kit calls after
    /// the program ended is counted too.
    pub since_first_stop: Option<Duration>,
    /// How the program ended.
    pub status: Status,
    /// Everything the terminal showed, `\r\n` normalised to `\n`, including the `^C` echoes.
    pub output: String,
    /// Marked processes alive right after the program ended: its descendants that outlived
    /// it, escaped ones included. The kit SIGKILLed them all before returning.
    pub survivors: Vec<Survivor>,
}

impl Session {
    /// Starts `cmd` in a new pty, with [`MARKER_VAR`](crate::MARKER_VAR) set to a token unique
    /// to this session, and starts collecting what the terminal shows.
    ///
    /// The program is the leader of a new session whose controlling terminal is the pty, with
    /// SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD and SIGALRM at their default action and no
    /// signal blocked, whatever the test process inherited. Its stdin, stdout and stderr are
    /// the terminal.
    pub fn spawn(cmd: Command) -> io::Result<Session> {
        let token = new_token();
        let builder = cmd.to_builder(&token)?;
        let pair = native_pty_system()
            .openpty(PtySize::default())
            .map_err(pty_error("openpty"))?;
        keep_output_on_interrupt(&*pair.master)?;
        let reader = own_master_descriptor(&*pair.master)?;
        // Not portable-pty's writer: dropping that one types a newline and EOF into the
        // terminal, which a hangup must not be preceded by.
        let writer: Box<dyn Write + Send> = Box::new(own_master_descriptor(&*pair.master)?);
        // Started before the program, so a failure here leaves nothing running.
        let (output, reader) = Output::start(reader)?;
        let child = pair
            .slave
            .spawn_command(builder)
            .map_err(pty_error("spawning the program"))?;
        // Only the program's side may hold the slave end, or the reader never sees its end.
        drop(pair.slave);
        let pid = child
            .process_id()
            .expect("portable-pty's unix child always has a pid");
        // The program is our unreaped child, so `pid` cannot name another process here.
        let pidfd = match procs::pidfd_open(pid) {
            Ok(pidfd) => Some(pidfd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => None,
            Err(e) => {
                // Not left running behind an error: kill it and everything it started.
                procs::kill_group(pid);
                let mut child = child;
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Session {
            pid,
            pidfd,
            token,
            child,
            writer: Some(writer),
            master: Some(pair.master),
            output,
            reader: Some(reader),
            presses: 0,
            first_stop: None,
            exit: Cell::new(None),
            settled: false,
        })
    }

    /// The program's process id (also its process-group and session id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The value of [`MARKER_VAR`](crate::MARKER_VAR) for this session, for
    /// [`marked_processes`](crate::marked_processes).
    pub fn marker(&self) -> &str {
        &self.token
    }

    /// Everything the terminal showed so far, `\r\n` normalised to `\n`.
    pub fn output(&self) -> String {
        self.output.text()
    }

    /// Waits until `needle` occurs `count` times in the output.
    ///
    /// Fails with [`KitError::Timeout`] when `timeout` passes, and with [`KitError::Ended`]
    /// when the program ends first. Kills nothing: the session stays usable.
    ///
    /// Wait for a line the program prints once it is ready before pressing Ctrl-C: a press
    /// made before the program has installed its handler (or even before it has become the
    /// terminal's foreground group) acts differently or is lost.
    pub fn wait_for(&self, needle: &str, count: usize, timeout: Duration) -> Result<(), KitError> {
        let start = Instant::now();
        let deadline = start + timeout;
        let waiting_for = match count {
            1 => format!("{needle:?}"),
            _ => format!("{needle:?} to appear {count} times"),
        };
        let mut exited_at: Option<Instant> = None;
        loop {
            let mut step = (Instant::now() + POLL).min(deadline);
            if let Some(at) = exited_at {
                step = step.min(at + DRAIN);
            }
            let wait = self
                .output
                .wait_until(step, |text| text.matches(needle).count() >= count);
            if wait == Wait::Done {
                return Ok(());
            }
            // A dying process closes its files before it becomes waitable, so the terminal
            // may close a moment before the end can be seen.
            let settle_for = if wait == Wait::Ended {
                DRAIN
            } else {
                Duration::ZERO
            };
            let exit = self.wait_end(Instant::now() + settle_for)?;
            let now = Instant::now();
            if exit.is_some() && exited_at.is_none() {
                exited_at = Some(now);
            }
            if wait == Wait::Ended || exited_at.is_some_and(|at| now >= at + DRAIN) {
                return Err(KitError::Ended {
                    waiting_for,
                    status: exit.map(|(status, _)| status),
                    output: self.output.text(),
                });
            }
            if now >= deadline {
                return Err(KitError::Timeout {
                    waiting_for,
                    after: now - start,
                    presses: self.presses,
                    running: marked_processes(&self.token),
                    output: self.output.text(),
                });
            }
        }
    }

    /// Presses Ctrl-C: writes byte 0x03 to the terminal, whose line discipline sends SIGINT to
    /// the foreground process group, as for a user at a keyboard.
    ///
    /// Counts the press and, for the first stop request, remembers when it was made: the
    /// instant the write returned, when the byte is in the terminal's input and the line
    /// discipline is about to signal. The terminal echoes `^C` into the output.
    pub fn press_ctrl_c(&mut self) -> io::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the terminal is closed"))?;
        // Taken before the write: the signal can reach the program while this thread waits to
        // run again after the write, so an instant taken afterwards could start the clock late
        // and time a stop shorter than it was.
        let at = Instant::now();
        writer.write_all(&[CTRL_C])?;
        writer.flush()?;
        self.presses += 1;
        self.first_stop.get_or_insert(at);
        Ok(())
    }

    /// Sends signal `sig` to the program alone (not its group), as `kill(pid, sig)` would.
    ///
    /// Counts as the first stop request if none was made yet, but not as a press.
    pub fn send_signal(&mut self, sig: i32) -> io::Result<()> {
        // Before the kill, for the same reason as a press's.
        let at = Instant::now();
        // SAFETY: kill(2) takes plain integers and touches no memory of ours. The program is
        // reaped only when the session is consumed or dropped, so its pid cannot have been
        // reused while `self` exists.
        if unsafe { libc::kill(self.pid as libc::pid_t, sig) } == -1 {
            return Err(io::Error::last_os_error());
        }
        self.first_stop.get_or_insert(at);
        Ok(())
    }

    /// Closes the terminal, as closing a terminal window does: every descriptor of the pty
    /// master is closed, and the kernel hangs the terminal up, sending SIGHUP to the program
    /// (the session's leader) and to the foreground process group. Then waits for the end
    /// like [`wait_exit`](Session::wait_exit).
    ///
    /// Counts as the first stop request if none was made yet, but not as a press. What the
    /// program writes after the hangup is lost, as it is for a closed window; its writes to
    /// the terminal fail with EIO from then on.
    pub fn hang_up(mut self, timeout: Duration) -> Result<Finished, KitError> {
        self.output.let_go();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.writer = None;
        self.master = None;
        self.first_stop.get_or_insert(Instant::now());
        self.wait_exit(timeout)
    }

    /// Waits for the program to end, then reports and kills what it left behind.
    ///
    /// On timeout, SIGKILLs the program's group and every marked process, reaps, and fails
    /// with [`KitError::Timeout`]: a hang fails the test instead of blocking it.
    pub fn wait_exit(self, timeout: Duration) -> Result<Finished, KitError> {
        let start = Instant::now();
        match self.wait_end(start + timeout)? {
            Some(end) => Ok(self.conclude(end)),
            None => Err(self.give_up("the program to exit".into(), start)),
        }
    }

    /// Presses Ctrl-C, waits up to `interval` for the end, and presses again while the program
    /// lives, up to `max_presses` presses in this call; then waits for the end until `timeout`
    /// (counted from the call) runs out.
    ///
    /// [`Finished::presses`] then tells how many presses the program needed. On timeout,
    /// cleans up like [`wait_exit`](Session::wait_exit) and fails with [`KitError::Timeout`].
    pub fn press_until_exit(
        mut self,
        interval: Duration,
        max_presses: u32,
        timeout: Duration,
    ) -> Result<Finished, KitError> {
        let start = Instant::now();
        let deadline = start + timeout;
        for _ in 0..max_presses {
            if let Some(end) = self.wait_end(Instant::now())? {
                return Ok(self.conclude(end));
            }
            if let Err(e) = self.press_ctrl_c() {
                // The write may fail because the program just went away; its end says more.
                return match self.wait_end(Instant::now() + POLL)? {
                    Some(end) => Ok(self.conclude(end)),
                    None => Err(self.io_error("pressing Ctrl-C", e)),
                };
            }
            if let Some(end) = self.wait_end((Instant::now() + interval).min(deadline))? {
                return Ok(self.conclude(end));
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        match self.wait_end(deadline)? {
            Some(end) => Ok(self.conclude(end)),
            None => {
                let waiting_for = format!("the program to exit after {} presses", self.presses);
                Err(self.give_up(waiting_for, start))
            }
        }
    }

    /// Presses Ctrl-C, and once more after `gap` if the program still runs; see
    /// [`press_until_exit`](Session::press_until_exit).
    pub fn press_twice(self, gap: Duration, timeout: Duration) -> Result<Finished, KitError> {
        self.press_until_exit(gap, 2, timeout)
    }

    /// The program's end if it has come, remembering the instant it was first seen.
    fn observe(&self) -> io::Result<Option<(Status, Instant)>> {
        if let Some(seen) = self.exit.get() {
            return Ok(Some(seen));
        }
        let seen = exit::probe(self.pid)?.map(|status| (status, Instant::now()));
        self.exit.set(seen);
        Ok(seen)
    }

    /// Waits for the program's end until `deadline`, sleeping in `poll(2)` on its pidfd so the
    /// end is seen the moment it comes.
    fn wait_end(&self, deadline: Instant) -> Result<Option<(Status, Instant)>, KitError> {
        let mut readable = false;
        loop {
            let seen = self
                .observe()
                .map_err(|e| self.io_error("checking whether the program ended", e))?;
            let now = Instant::now();
            if seen.is_some() || now >= deadline {
                return Ok(seen);
            }
            let left = deadline - now;
            match &self.pidfd {
                // A readable pidfd whose process waitid does not report should not happen;
                // if it does, fall back to polling rather than spin.
                Some(pidfd) if !readable => {
                    readable = exit::wait_ended(pidfd.as_fd(), left)
                        .map_err(|e| self.io_error("waiting for the program to end", e))?;
                }
                _ => thread::sleep(POLL.min(left)),
            }
        }
    }

    fn conclude(mut self, (status, ended_at): (Status, Instant)) -> Finished {
        // First, before anything else can change the picture.
        let survivors = marked_processes(&self.token);
        self.settle();
        Finished {
            presses: self.presses,
            since_first_stop: self
                .first_stop
                .map(|first| ended_at.saturating_duration_since(first)),
            status,
            output: self.output.text(),
            survivors,
        }
    }

    fn give_up(mut self, waiting_for: String, start: Instant) -> KitError {
        let after = start.elapsed();
        let running = marked_processes(&self.token);
        self.settle();
        KitError::Timeout {
            waiting_for,
            after,
            presses: self.presses,
            running,
            output: self.output.text(),
        }
    }

    fn io_error(&self, during: &'static str, source: io::Error) -> KitError {
        KitError::Io {
            during,
            source,
            output: self.output.text(),
        }
    }

    /// Kills everything the session started, reaps the program and lets the reader drain.
    /// Runs once; bounded by [`CLEANUP`].
    fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        let deadline = Instant::now() + CLEANUP;
        // The program is not reaped yet, so its group id still names its group.
        procs::kill_group(self.pid);
        procs::sweep(&self.token, deadline);
        self.reap(deadline);
        // Normally immediate: with every holder of the slave end dead, the reader hits EIO.
        // A process that dropped the marker may still hold it; then the reader is left behind.
        if self.output.wait_until(deadline, |_| false) == Wait::Ended {
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
        }
    }

    fn reap(&mut self, deadline: Instant) {
        loop {
            match self.observe() {
                Ok(Some(_)) => {
                    // Already ended, so this does not block.
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                // Stuck in the kernel despite SIGKILL: a zombie is better than a hung test.
                _ => return,
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.settle();
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("pid", &self.pid)
            .field("marker", &self.token)
            .field("presses", &self.presses)
            .field("exit", &self.exit.get().map(|(status, _)| status))
            .finish_non_exhaustive()
    }
}

/// A token no other session, in this or another test process, uses.
fn new_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The time guards against a reused pid meeting a leftover from an earlier run.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{nanos:08x}", std::process::id())
}

/// A descriptor of the pty master that the kit owns (close-on-exec), so that the kit decides
/// when each one is closed.
fn own_master_descriptor(master: &dyn MasterPty) -> io::Result<File> {
    let fd = master
        .as_raw_fd()
        .ok_or_else(|| io::Error::other("the pty master has no file descriptor"))?;
    // SAFETY: `master` keeps `fd` open for the whole call; F_DUPFD_CLOEXEC returns a new
    // descriptor or -1 and touches no memory of ours.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if copy == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned `copy` to us and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(copy) }))
}

fn pty_error<E: fmt::Display>(during: &'static str) -> impl FnOnce(E) -> io::Error {
    move |e| io::Error::other(format!("{during}: {e:#}"))
}

/// Sets NOFLSH on the terminal.
///
/// Without it, the line discipline discards output the program wrote but the reader has not
/// read yet whenever ^C is pressed, so what a test sees would depend on thread timing. The
/// signal itself is sent exactly as without the flag.
fn keep_output_on_interrupt(master: &dyn MasterPty) -> io::Result<()> {
    let fd = master
        .as_raw_fd()
        .ok_or_else(|| io::Error::other("the pty master has no file descriptor"))?;
    let mut termios = MaybeUninit::<libc::termios>::uninit();
    // SAFETY: `fd` is the pty master, kept open by `master` for the whole function; tcgetattr
    // writes a whole termios into the buffer on success.
    if unsafe { libc::tcgetattr(fd, termios.as_mut_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: tcgetattr succeeded, so the termios is initialised.
    let mut termios = unsafe { termios.assume_init() };
    termios.c_lflag |= libc::NOFLSH;
    // SAFETY: same open descriptor; `termios` is a valid termios read from it just above.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &termios) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
