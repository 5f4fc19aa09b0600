//! The worker's end of the pipes: reading task frames, writing answers ([`crate::wire`]).
//!
//! Reads block with the GIL released. A signal interrupts the read (Python installs its
//! handlers without `SA_RESTART`); the read then runs the Python-level handlers at once, so the
//! worker's SIGINT handler has marked it stopping before it could take another task.

use std::io;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::wire::{self, Reply};

/// A worker's two pipes: tasks in, answers out.
#[pyclass(module = "brake._native")]
pub struct WorkerChannel {
    tasks: RawFd,
    answers: RawFd,
    inbox: Vec<u8>,
    eof: bool,
}

/// What one `read(2)` did.
enum Read {
    Data,
    Eof,
    Interrupted,
}

/// One `read(2)` of `fd`, appended to `inbox`.
fn read_once(fd: RawFd, inbox: &mut Vec<u8>) -> io::Result<Read> {
    inbox.reserve(65536);
    let spare = inbox.spare_capacity_mut();
    // SAFETY: reads at most `spare.len()` bytes into the vector's allocated spare capacity.
    let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
    if n > 0 {
        // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
        unsafe { inbox.set_len(inbox.len() + n as usize) };
        return Ok(Read::Data);
    }
    if n == 0 {
        return Ok(Read::Eof);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::Interrupted {
        return Ok(Read::Interrupted);
    }
    Err(err)
}

#[pymethods]
impl WorkerChannel {
    #[new]
    fn new(tasks: RawFd, answers: RawFd) -> WorkerChannel {
        WorkerChannel {
            tasks,
            answers,
            inbox: Vec::new(),
            eof: false,
        }
    }

    /// The next frame's items (a list of bytes); an empty list when a signal interrupted the
    /// wait (its Python handler has run by then); None at end of file.
    fn recv<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Vec<Bound<'py, PyBytes>>>> {
        loop {
            match wire::next_frame(&self.inbox) {
                Ok(Some((body, next))) => {
                    let items = wire::split_items(&self.inbox[body])
                        .ok_or_else(|| PyValueError::new_err("malformed task frame"))?
                        .into_iter()
                        .map(|item| PyBytes::new(py, item))
                        .collect();
                    self.inbox.drain(..next);
                    return Ok(Some(items));
                }
                Ok(None) => {}
                Err(len) => {
                    return Err(PyValueError::new_err(format!("task frame of {len} bytes")))
                }
            }
            if self.eof {
                return Ok(None);
            }
            let fd = self.tasks;
            let inbox = &mut self.inbox;
            match py.detach(move || read_once(fd, inbox)) {
                Ok(Read::Data) => {}
                Ok(Read::Eof) => self.eof = true,
                Ok(Read::Interrupted) => {
                    py.check_signals()?;
                    return Ok(Some(Vec::new()));
                }
                Err(err) => return Err(PyOSError::new_err(err.to_string())),
            }
        }
    }

    /// Writes one answer: `kind` is a reply code (see the wire format), `payload` its bytes.
    fn send(&self, py: Python<'_>, kind: u8, payload: &[u8]) -> PyResult<()> {
        let reply = Reply::from_byte(kind).ok_or_else(|| PyValueError::new_err("bad reply"))?;
        let mut frame = Vec::with_capacity(payload.len() + 5);
        wire::put_reply(&mut frame, reply, payload);
        let fd = self.answers;
        py.detach(move || write_all(fd, &frame))
            .map_err(|err| PyOSError::new_err(err.to_string()))
    }
}

fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writes from a live buffer of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n >= 0 {
            bytes = &bytes[n as usize..];
            continue;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}
