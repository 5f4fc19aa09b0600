//! What the thread-pool benchmarks share: sizes, a quiet stop, and the plain-pool baseline.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use brake::{Notice, Stop};
use crossbeam_channel::Sender;

/// The machine's cores: more threads would only measure oversubscription.
pub const THREADS: usize = 2;
pub const TASKS: usize = 1_000_000;

pub fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    // Never forced by time: the benchmarks must measure cooperation, not abandonment.
    stop.set_grace(Duration::MAX);
    stop
}

type Job = Box<dyn FnOnce() + Send>;

/// The baseline: the least a channel-fed pool must do to run closures and wait for them.
pub struct PlainPool {
    sender: Sender<Job>,
    latch: Arc<Latch>,
}

struct Latch {
    pending: AtomicUsize,
    lock: Mutex<()>,
    done: Condvar,
}

impl PlainPool {
    pub fn new(threads: usize) -> PlainPool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let latch = Arc::new(Latch {
            pending: AtomicUsize::new(0),
            lock: Mutex::new(()),
            done: Condvar::new(),
        });
        for _ in 0..threads {
            let receiver = receiver.clone();
            let latch = latch.clone();
            thread::spawn(move || {
                for job in receiver {
                    job();
                    if latch.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                        // Taking the lock before notifying: `wait` cannot miss the wake-up.
                        let _guard = latch.lock.lock().unwrap();
                        latch.done.notify_all();
                    }
                }
            });
        }
        PlainPool { sender, latch }
    }

    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        self.latch.pending.fetch_add(1, Ordering::Relaxed);
        self.sender.send(Box::new(job)).unwrap();
    }

    pub fn wait(&self) {
        let mut guard = self.latch.lock.lock().unwrap();
        while self.latch.pending.load(Ordering::Acquire) != 0 {
            guard = self.latch.done.wait(guard).unwrap();
        }
    }
}
