//! The process pool's bookkeeping, shared by the pool's API side (`pool.rs`: submitting,
//! handles, `map`, `join`) and its manager thread (`manager.rs`): the counts of the run, and
//! where each item's outcome lands until its handle takes it.
//!
//! # Invariants
//!
//! 1. Every item is counted in `submitted` before its outcome can be recorded: settled items
//!    are a subset of submitted ones, so `report.total() <= submitted`.
//! 2. Each item's outcome is recorded once, and counted in `report` under the same lock as it
//!    is placed in its mailbox. Only the manager records outcomes of items it was sent;
//!    `ProcessPool::queue` records those of items it refuses (never sent).
//! 3. A thread that blocks (`Ledger::wait_until`) checks its condition and counts itself in
//!    `waiters` under the state lock; whoever changes the state does it through a [`Settle`],
//!    which holds that lock and notifies when it is dropped if anyone waits. No wake-up is lost.
//! 4. `settled` is set once, by the manager after a stop, when every item it was sent has an
//!    outcome and every worker is gone. After it, an item without an outcome was sent after the
//!    manager finished, and never started.
//!
//! # Lock order
//!
//! The ledger's `state` before a mailbox's `mail`. Recording (`Settle`) and waiting
//! (`Ledger::wait_until`'s condition) take a mailbox's lock while holding the state lock;
//! taking outcomes without waiting, and a handle's `Debug`, take a mailbox's lock alone, and
//! never take the state lock while holding it.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::wire::{ItemEnd, Results};
use crate::outcome::{Outcome, Report, TaskError};
use crate::stop::{Activity, Stop};
use crate::sync::{lock, wait};

/// What the pool, its manager and its handles share: the run's counts and the condition
/// variable its waiters block on.
pub(crate) struct Ledger {
    pub(crate) stop: Stop,
    pub(crate) created: Instant,
    next_id: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    report: Report,
    submitted: usize,
    /// Workers running a task.
    busy: usize,
    /// Threads blocked in `join` or a handle's wait: settling notifies only when there are some.
    waiters: usize,
    /// Set by the manager once, after a stop, it has settled every task and every worker is gone.
    settled: bool,
}

/// The outcomes of one batch's items (one for `submit`, a chunk for `map`), values still
/// serialized inside the blocks of results they came in.
pub(crate) struct Mailbox {
    first: u64,
    len: usize,
    mail: Mutex<Mail>,
}

struct Mail {
    outcomes: Vec<Option<Outcome<At>>>,
    /// The blocks of results holding this mailbox's values, in the order they arrived.
    blocks: Vec<Arc<Results>>,
}

/// Outcomes taken from a mailbox, and the blocks of results their values are in.
pub(crate) type Taken = (Vec<Outcome<At>>, Vec<Arc<Results>>);

/// Where a finished item's value is: item `item` of the mailbox's block `block`.
#[derive(Clone, Copy)]
pub(crate) struct At {
    pub(crate) block: usize,
    pub(crate) item: usize,
}

impl Mailbox {
    fn new(first: u64, len: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            first,
            len,
            mail: Mutex::new(Mail {
                outcomes: std::iter::repeat_with(|| None).take(len).collect(),
                blocks: Vec::new(),
            }),
        })
    }

    /// Takes the outcomes from item `from` on that have arrived, in order, with the blocks
    /// their values are in (the first of them renumbered 0); `None` if item `from` has not.
    fn take_from(&self, from: usize) -> Option<Taken> {
        let mut state = lock(&self.mail);
        let mut taken = Vec::new();
        let (mut low, mut high) = (usize::MAX, 0);
        for place in &mut state.outcomes[from..] {
            let Some(outcome) = place.take() else { break };
            if let Outcome::Done(at) = &outcome {
                low = low.min(at.block);
                high = high.max(at.block);
            }
            taken.push(outcome);
        }
        if taken.is_empty() {
            return None;
        }
        // Only the blocks this run needs, so that taking a long mailbox's items a few at a time
        // does not copy its whole list of blocks each time.
        let blocks = if low <= high {
            for outcome in &mut taken {
                if let Outcome::Done(at) = outcome {
                    at.block -= low;
                }
            }
            state.blocks[low..=high].to_vec()
        } else {
            Vec::new()
        };
        Some((taken, blocks))
    }

    /// The id of the batch's first item.
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// How many items the batch has.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True once the first item's outcome has arrived, and until it is taken.
    pub(crate) fn first_arrived(&self) -> bool {
        lock(&self.mail).outcomes[0].is_some()
    }
}

/// The manager's side of [`Ledger`]: how it reports what happened.
pub(crate) struct Settle<'a> {
    ledger: &'a Ledger,
    state: MutexGuard<'a, State>,
}

impl Settle<'_> {
    /// Records outcomes that carry no value (cancelled, failed before running, interrupted)
    /// for consecutive items of `mailbox`, the first being item `first`.
    pub(crate) fn items(
        &mut self,
        mailbox: &Mailbox,
        first: u64,
        outcomes: impl IntoIterator<Item = Outcome<At>>,
    ) {
        let mut mail = lock(&mailbox.mail); // lock order: state, then mail
        let start = (first - mailbox.first) as usize;
        for (place, outcome) in mail.outcomes[start..].iter_mut().zip(outcomes) {
            self.state.report.record(outcome.kind());
            *place = Some(outcome);
        }
    }

    /// Records items `items` of a worker's `block` of results as consecutive items of `mailbox`,
    /// the first being item `first`.
    pub(crate) fn ended(
        &mut self,
        mailbox: &Mailbox,
        first: u64,
        block: &Arc<Results>,
        items: Range<usize>,
    ) {
        let mut mail = lock(&mailbox.mail); // lock order: state, then mail
        let mail = &mut *mail;
        if !mail
            .blocks
            .last()
            .is_some_and(|last| Arc::ptr_eq(last, block))
        {
            mail.blocks.push(block.clone());
        }
        let at_block = mail.blocks.len() - 1;
        let start = (first - mailbox.first) as usize;
        for (place, item) in mail.outcomes[start..].iter_mut().zip(items) {
            let text = || String::from_utf8_lossy(block.bytes(item)).into_owned();
            let outcome = match block.ended(item) {
                ItemEnd::Done => Outcome::Done(At {
                    block: at_block,
                    item,
                }),
                ItemEnd::Failed => Outcome::Failed(TaskError::msg(text())),
                ItemEnd::Interrupted => Outcome::Interrupted,
                ItemEnd::Panicked => Outcome::Panicked(text()),
                ItemEnd::Cancelled => Outcome::Cancelled,
            };
            self.state.report.record(outcome.kind());
            *place = Some(outcome);
        }
    }

    /// Sets how many workers are running a task.
    pub(crate) fn busy(&mut self, busy: usize) {
        self.state.busy = busy;
    }

    /// Marks the stopped run as settled: nothing more will change.
    pub(crate) fn settled(&mut self) {
        self.state.settled = true;
    }
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if self.state.waiters > 0 {
            self.ledger.wake.notify_all(); // invariant 3
        }
    }
}

impl Ledger {
    /// The books of a new run on `stop`.
    pub(crate) fn new(stop: &Stop) -> Ledger {
        Ledger {
            stop: stop.clone(),
            created: Instant::now(),
            next_id: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        }
    }

    /// Counts `len` new items as submitted (invariant 1) and gives them their mailbox, with
    /// ids from its `first` on.
    pub(crate) fn submit(&self, len: usize) -> Arc<Mailbox> {
        let first = self.next_id.fetch_add(len as u64, Ordering::Relaxed);
        lock(&self.state).submitted += len;
        Mailbox::new(first, len)
    }

    /// Opens a batch of changes; waiters are woken once, when it is dropped (invariant 3).
    pub(crate) fn settle(&self) -> Settle<'_> {
        Settle {
            ledger: self,
            state: lock(&self.state),
        }
    }

    /// Blocks until every item submitted has ended, or the stopped run is settled; then the
    /// counts so far, with items never seen by the manager counted as not started
    /// (invariant 4). The caller adds why and when the run stopped.
    pub(crate) fn wait_ended(&self) -> Report {
        self.wait_until(|state| {
            !self.stop.is_stopping() && state.report.total() == state.submitted
        });
        let state = lock(&self.state);
        let mut report = state.report.clone();
        report.cancelled += state.submitted.saturating_sub(report.total());
        report
    }

    /// Takes the outcomes of `mailbox` from item `from` on that have arrived, waiting for item
    /// `from` if it has not; `None` once the stopped run is settled without it (invariant 4).
    pub(crate) fn take(&self, mailbox: &Mailbox, from: usize) -> Option<Taken> {
        // Most items of a busy map are there already: take them without the state lock.
        let mut taken = mailbox.take_from(from);
        if taken.is_none() {
            // Lock order: the condition takes the mailbox's lock under the state lock.
            self.wait_until(|_| {
                taken = mailbox.take_from(from);
                taken.is_some()
            });
        }
        taken
    }

    /// Takes the first item of whichever of `mailboxes` has one (its position in the slice,
    /// and what [`Ledger::take`] gives), waiting until one does; `None` once the stopped run is
    /// settled without any.
    pub(crate) fn take_any(&self, mailboxes: &[&Mailbox]) -> Option<(usize, Taken)> {
        let mut found = None;
        let look = |found: &mut Option<(usize, Taken)>| {
            *found = mailboxes
                .iter()
                .enumerate()
                .find_map(|(at, mailbox)| Some((at, mailbox.take_from(0)?)));
            found.is_some()
        };
        if !look(&mut found) {
            // Lock order: the condition takes the mailboxes' locks under the state lock.
            self.wait_until(|_| look(&mut found));
        }
        found
    }

    /// Blocks until `done` holds for the state (checked under the lock), or the stopped run has
    /// been settled.
    fn wait_until(&self, mut done: impl FnMut(&State) -> bool) {
        // Invariant 3: checked and counted in `waiters` under the lock that settling takes.
        let mut state = lock(&self.state);
        while !(done(&state) || state.settled && self.stop.is_stopping()) {
            state.waiters += 1;
            state = wait(&self.wake, state);
            state.waiters -= 1;
        }
    }

    /// The counts for the stop notice.
    pub(crate) fn activity(&self) -> Activity {
        let state = lock(&self.state);
        Activity {
            running: state.busy,
            not_started: state
                .submitted
                .saturating_sub(state.report.total() + state.busy),
        }
    }
}
