//! What the terminal shows: a reader thread drains the pty master into a shared log.

use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

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
}

struct State {
    bytes: Vec<u8>,
    ended: bool,
}

impl Output {
    /// Starts the thread that copies everything `reader` yields into the log.
    pub(crate) fn start(reader: Box<dyn Read + Send>) -> io::Result<(Arc<Output>, JoinHandle<()>)> {
        let output = Arc::new(Output {
            state: Mutex::new(State {
                bytes: Vec::new(),
                ended: false,
            }),
            changed: Condvar::new(),
        });
        let pump = Arc::clone(&output);
        let handle = thread::Builder::new()
            .name("brake-testkit-pty".into())
            .spawn(move || pump.pump(reader))?;
        Ok((output, handle))
    }

    fn pump(&self, mut reader: Box<dyn Read + Send>) {
        let mut buf = [0u8; 8192];
        loop {
            // portable-pty turns the EIO that follows the last slave close into Ok(0).
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.lock().bytes.extend_from_slice(&buf[..n]);
                    self.changed.notify_all();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.lock().ended = true;
        self.changed.notify_all();
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
