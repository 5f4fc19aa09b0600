//! The input feed: a thread reads the inputs into numbered jobs, up to `FEED` ahead of the
//! loop, and rings a doorbell that the loop's `poll` watches; the jobs then wait in the
//! `Queue` for a free slot, behind the retries.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use brake::Stop;

use super::progress::Counters;
use crate::inputs::group::Grouped;
use crate::inputs::InputError;
use crate::job::Job;

/// Jobs read ahead of the slots by the input thread.
const FEED: usize = 1024;

/// What the input thread sends: a job, or why reading stopped.
pub(super) type Fed = Result<Job, InputError>;

/// Jobs read and not started: the input thread's feed, then `pending`, retries first.
pub(super) struct Queue {
    pub(super) feed: Receiver<Fed>,
    /// The input thread may send more.
    pub(super) open: bool,
    /// Rung by the input thread after each job it sends.
    pub(super) doorbell: UnixStream,
    pub(super) pending: VecDeque<Job>,
}

impl Queue {
    /// Starts the input thread; with `shuffle` (`--shuf`) it reads all of the input before the
    /// first job and numbers the jobs in a random order.
    pub(super) fn start(
        inputs: Grouped,
        shuffle: bool,
        stop: &Stop,
        counters: &Arc<Counters>,
    ) -> io::Result<Queue> {
        let (tx, rx) = mpsc::sync_channel::<Fed>(FEED);
        let (doorbell, bell) = UnixStream::pair()?;
        doorbell.set_nonblocking(true)?;
        bell.set_nonblocking(true)?;
        let stop = stop.clone();
        let counters = Arc::clone(counters);
        std::thread::Builder::new()
            .name("brake-input".into())
            .spawn(move || {
                if shuffle {
                    read_inputs(shuffled(inputs, &stop), tx, &bell, &stop, &counters);
                } else {
                    read_inputs(inputs, tx, &bell, &stop, &counters);
                }
            })?;
        Ok(Queue {
            feed: rx,
            open: true,
            doorbell,
            pending: VecDeque::new(),
        })
    }
}

/// The input thread: numbers the jobs and sends them, until the input ends, fails or the run
/// stops. At the end of the input the doorbell rings once more, the feed closed. A full
/// doorbell only means the loop has a ring it has not read yet.
fn read_inputs(
    inputs: impl IntoIterator<Item = Result<Vec<OsString>, InputError>>,
    tx: SyncSender<Fed>,
    bell: &UnixStream,
    stop: &Stop,
    counters: &Counters,
) {
    let mut seq = 0u64;
    for item in inputs {
        if stop.is_stopping() {
            return;
        }
        let fed = item.map(|args| {
            seq += 1;
            Job {
                seq,
                args,
                attempt: 1,
                failed_on: Vec::new(),
            }
        });
        let failed = fed.is_err();
        if fed.is_ok() {
            counters.read.fetch_add(1, Ordering::Relaxed);
        }
        let sent = tx.send(fed).is_ok();
        let _ = (&*bell).write(&[1]);
        if !sent || failed {
            return;
        }
    }
    counters.input_complete.store(true, Ordering::Relaxed);
    drop(tx);
    let _ = (&*bell).write(&[1]);
}

/// All of the input's values in a random order, then the error that ended the reading if one
/// did. A stop ends the reading early: nothing more will start.
fn shuffled(
    inputs: impl IntoIterator<Item = Result<Vec<OsString>, InputError>>,
    stop: &Stop,
) -> Vec<Result<Vec<OsString>, InputError>> {
    let mut values = Vec::new();
    let mut error = None;
    for item in inputs {
        if stop.is_stopping() {
            return Vec::new();
        }
        match item {
            Ok(args) => values.push(Ok(args)),
            Err(err) => {
                error = Some(Err(err));
                break;
            }
        }
    }
    fastrand::shuffle(&mut values);
    values.extend(error);
    values
}
