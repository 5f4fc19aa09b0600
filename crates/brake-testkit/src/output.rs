//! What the terminal shows: a reader thread drains the pty master into a shared log.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// How long the reader sleeps in `poll(2)` before it looks whether it should let go of the
/// terminal: the longest a [`Output::let_go`] waits.
const LET_GO_TICK_MS: i32 = 10;

/// How a [`Output::wait_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The condition held.
    Done,
    /// It did not, and no more output can come.
    Ended,
    /// It did not by the deadline.
    Deadline,
}

/// The bytes read so far and whether more can come.
pub(crate) struct Output {
    state: Mutex<State>,
    changed: Condvar,
    /// Set to make the reader close its descriptor of the master, so that the terminal can
    /// be hung up by closing the last one.
    letting_go: AtomicBool,
}

struct State {
    bytes: Vec<u8>,
    ended: bool,
}

impl Output {
    /// Starts the thread that copies everything `reader`, a descriptor of the pty master of
    /// its own, yields into the log.
    pub(crate) fn start(reader: File) -> io::Result<(Arc<Output>, JoinHandle<()>)> {
        let output = Arc::new(Output {
            state: Mutex::new(State {
                bytes: Vec::new(),
                ended: false,
            }),
            changed: Condvar::new(),
            letting_go: AtomicBool::new(false),
        });
        let pump = Arc::clone(&output);
        let handle = thread::Builder::new()
            .name("brake-testkit-pty".into())
            .spawn(move || pump.pump(reader))?;
        Ok((output, handle))
    }

    fn pump(&self, mut reader: File) {
        let mut buf = [0u8; 8192];
        // The reader sleeps in poll rather than read so that it can be told to let go of its
        // descriptor: a read blocked in another thread would keep the master open.
        while !self.letting_go.load(Ordering::Acquire) {
            let mut polled = libc::pollfd {
                fd: reader.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `polled` is one valid, writable pollfd that outlives the call, for a
            // descriptor `reader` keeps open.
            let rc = unsafe { libc::poll(&mut polled, 1, LET_GO_TICK_MS) };
            if rc == 0
                || (rc < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted)
            {
                continue;
            }
            // A hangup or error is reported by the read below (EIO once every slave is closed).
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.lock().bytes.extend_from_slice(&buf[..n]);
                    self.changed.notify_all();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EIO: the last holder of the slave end closed it.
                Err(_) => break,
            }
        }
        self.lock().ended = true;
        self.changed.notify_all();
    }

    /// Asks the reader to stop reading and close its descriptor of the master; returns at
    /// once (join the reader's thread to know it has).
    pub(crate) fn let_go(&self) {
        self.letting_go.store(true, Ordering::Release);
    }

    // The pump never panics while holding the lock, but a test thread might: keep going.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything read so far, with the terminal's `\r\n` turned into `\n`.
    pub(crate) fn text(&self) -> String {
        normalise(&self.lock().bytes)
    }

    /// Waits until `done(text)` holds, the log ends, or `deadline` passes. The condition is
    /// always checked against the final log before `Ended` is reported.
    pub(crate) fn wait_until(&self, deadline: Instant, mut done: impl FnMut(&str) -> bool) -> Wait {
        let mut state = self.lock();
        loop {
            if done(&normalise(&state.bytes)) {
                return Wait::Done;
            }
            if state.ended {
                return Wait::Ended;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wait::Deadline;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn normalise(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}
