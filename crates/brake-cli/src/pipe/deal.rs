//! `--round-robin`: one job per job slot, started with the first blocks, and every later block
//! dealt to one of them: the first whose stdin has room, else the next in turn (waiting for
//! it). A job's stdin ends when the input does; a job that ends early is dealt no more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// The blocks dealt to one job, and the count of bytes written of them.
pub type Dealt = (Receiver<Arc<Vec<u8>>>, Arc<AtomicU64>);

/// A job's share of the blocks, as they are dealt.
#[derive(Debug)]
pub struct Stream {
    /// Taken by the thread that writes the job's stdin.
    blocks: Mutex<Option<Receiver<Arc<Vec<u8>>>>>,
    /// Bytes written so far (the joblog's Send).
    sent: Arc<AtomicU64>,
}

impl Stream {
    /// The blocks, for the one thread that writes them; `None` once taken.
    pub fn take(&self) -> Option<Dealt> {
        let blocks = self.blocks.lock().ok()?.take()?;
        Some((blocks, Arc::clone(&self.sent)))
    }

    /// Bytes written to the job so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// The dealer: the jobs' channels, in slot order.
pub struct Dealer {
    slots: usize,
    jobs: Vec<SyncSender<Arc<Vec<u8>>>>,
    next: usize,
}

impl Dealer {
    /// A dealer for `slots` jobs.
    pub fn new(slots: usize) -> Dealer {
        Dealer {
            slots: slots.max(1),
            jobs: Vec::new(),
            next: 0,
        }
    }

    /// Deals `block`: to a new job while there are fewer than the slots (returned, to start),
    /// else to a running one. `Err(())` when every job has ended and nothing can take it.
    pub fn deal(&mut self, block: Arc<Vec<u8>>) -> Result<Option<Stream>, ()> {
        if self.jobs.len() < self.slots {
            let (tx, rx) = mpsc::sync_channel(1);
            let _ = tx.send(block);
            self.jobs.push(tx);
            return Ok(Some(Stream {
                blocks: Mutex::new(Some(rx)),
                sent: Arc::new(AtomicU64::new(0)),
            }));
        }
        let mut block = block;
        // First to any job with room, starting at the next in turn.
        for _ in 0..self.jobs.len() {
            let at = self.next % self.jobs.len();
            self.next = at + 1;
            match self.jobs[at].try_send(block) {
                Ok(()) => return Ok(None),
                Err(TrySendError::Full(back)) => block = back,
                Err(TrySendError::Disconnected(back)) => {
                    block = back;
                    self.jobs.remove(at);
                    self.next = at;
                    if self.jobs.is_empty() {
                        return Err(());
                    }
                }
            }
        }
        // All full: wait for the next in turn.
        while !self.jobs.is_empty() {
            let at = self.next % self.jobs.len();
            self.next = at + 1;
            match self.jobs[at].send(block) {
                Ok(()) => return Ok(None),
                Err(mpsc::SendError(back)) => {
                    block = back;
                    self.jobs.remove(at);
                    self.next = at;
                }
            }
        }
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Arc<Vec<u8>> {
        Arc::new(text.as_bytes().to_vec())
    }

    #[test]
    fn the_first_blocks_start_jobs_and_the_rest_are_dealt() {
        let mut dealer = Dealer::new(2);
        let one = dealer.deal(block("a")).unwrap().unwrap();
        let two = dealer.deal(block("b")).unwrap().unwrap();
        let (rx1, _) = one.take().unwrap();
        let (rx2, _) = two.take().unwrap();
        assert!(one.take().is_none(), "taken once");
        assert_eq!(rx1.recv().unwrap().as_slice(), b"a");
        // Job 1 has room, job 2 is full: c goes to job 1.
        assert!(dealer.deal(block("c")).unwrap().is_none());
        assert_eq!(rx1.recv().unwrap().as_slice(), b"c");
        assert_eq!(rx2.recv().unwrap().as_slice(), b"b");
        // A job that ended is dealt no more; with none left, the block has nowhere to go.
        drop(rx1);
        assert!(dealer.deal(block("d")).unwrap().is_none());
        assert_eq!(rx2.recv().unwrap().as_slice(), b"d");
        drop(rx2);
        assert!(dealer.deal(block("e")).is_err());
    }
}
