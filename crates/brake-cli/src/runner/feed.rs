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
use crate::pipe::{self, Block};

/// Jobs read ahead of the slots by the input thread.
const FEED: usize = 1024;

/// `--pipe`'s blocks read ahead of the slots: each may be megabytes, so just one.
const FEED_BLOCKS: usize = 1;

/// One job's values and, with `--pipe`, its block.
type Item = Result<(Vec<OsString>, Option<Block>), InputError>;

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
    /// first job and numbers the jobs in a random order. Each input makes `copies` jobs in a
    /// row (`--onall`: one per host).
    pub(super) fn start(
        inputs: Grouped,
        shuffle: bool,
        copies: usize,
        stop: &Stop,
        counters: &Arc<Counters>,
    ) -> io::Result<Queue> {
        let items = move |stop: &Stop| -> Box<dyn Iterator<Item = Item>> {
            let jobs = inputs.map(|item| item.map(|args| (args, None)));
            let jobs: Box<dyn Iterator<Item = Item>> = if shuffle {
                Box::new(shuffled(jobs, stop).into_iter())
            } else {
                Box::new(jobs)
            };
            // Copies follow their input, after any shuffle, so each host gets every input.
            Box::new(jobs.flat_map(move |item| -> Vec<Item> {
                match item {
                    Ok((args, _)) => (0..copies).map(|_| Ok((args.clone(), None))).collect(),
                    Err(err) => vec![Err(err)],
                }
            }))
        };
        Queue::start_with(items, FEED, stop, counters)
    }

    /// Starts the input thread on `--pipe`'s blocks.
    pub(super) fn start_blocks(
        blocks: pipe::Feed,
        stop: &Stop,
        counters: &Arc<Counters>,
    ) -> io::Result<Queue> {
        Queue::start_with(move |_: &Stop| blocks, FEED_BLOCKS, stop, counters)
    }

    /// Starts the input thread, which makes its items with `items` (on the thread, so that
    /// reading all of the input for `--shuf` never holds up the loop).
    fn start_with<I: Iterator<Item = Item>>(
        items: impl FnOnce(&Stop) -> I + Send + 'static,
        ahead: usize,
        stop: &Stop,
        counters: &Arc<Counters>,
    ) -> io::Result<Queue> {
        let (tx, rx) = mpsc::sync_channel::<Fed>(ahead);
        let (doorbell, bell) = UnixStream::pair()?;
        doorbell.set_nonblocking(true)?;
        bell.set_nonblocking(true)?;
        let stop = stop.clone();
        let counters = Arc::clone(counters);
        std::thread::Builder::new()
            .name("brake-input".into())
            .spawn(move || read_inputs(items(&stop), tx, &bell, &stop, &counters))?;
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
    items: impl Iterator<Item = Item>,
    tx: SyncSender<Fed>,
    bell: &UnixStream,
    stop: &Stop,
    counters: &Counters,
) {
    let mut seq = 0u64;
    for item in items {
        if stop.is_stopping() {
            return;
        }
        let fed = item.map(|(args, block)| {
            seq += 1;
            Job {
                seq,
                args,
                attempt: 1,
                failed_on: Vec::new(),
                block: block.map(Box::new),
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
fn shuffled<T>(
    inputs: impl IntoIterator<Item = Result<T, InputError>>,
    stop: &Stop,
) -> Vec<Result<T, InputError>> {
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
