//! [`ThreadPool::scope`]: tasks that borrow from the caller's stack ([`Scope::spawn`]), run on
//! the pool's workers under the pool's stop, and the rule that keeps their borrows sound.
//!
//! # Theory of operation
//!
//! A scoped task is queued as a [`Slot`]: a small cell holding the task's closure, with its
//! lifetime erased so that it fits the pool's queue. The slot is the only thing the queue holds;
//! the task's outcome goes to a cell that the closure and the task's [`ScopedHandle`] share.
//!
//! # Invariants
//!
//! 1. Every closure a scope queues is consumed (run to its end, or unwound by a panic) or
//!    dropped before [`ThreadPool::scope`] returns or unwinds. The scope counts its tasks in
//!    `pending`; a task leaves the count only after its closure is gone, and the scope waits
//!    for the count to reach zero, whatever the phase. What the queue may still hold after that
//!    is an empty slot, which borrows nothing.
//! 2. A slot moves `Queued → Running → Ended`, or `Queued → Cancelled`, under its own lock; only
//!    whoever moves it out of `Queued` owns the closure.
//! 3. Once the pool refuses work (the stop has begun), whoever sees a slot still queued cancels
//!    it: a worker that takes it from the queue, its handle, or the end of the scope, which
//!    cancels every queued slot of its own so that none waits for a worker that has exited.
//! 4. Wake-ups: a waiter adds itself to `waiting` and then checks its condition under the pool's
//!    lock; a task that settles updates its state and then, if anyone waits, notifies under the
//!    same lock. Both sides are `SeqCst`, so no wake-up is lost.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};

use super::{bump, PoolCore, QueueEntry, Runnable, Tally, ThreadPool};
use crate::outcome::{end_count_index, panic_message, Outcome, OutcomeKind, TaskResult};
use crate::stop::{Phase, Stop};
use crate::sync::lock;

/// A queued closure with its lifetime erased; see invariant 1 for why it never outlives the
/// borrows it holds.
type ErasedTask = Box<dyn FnOnce(&Stop) -> OutcomeKind + Send + 'static>;

/// The same closure before erasure.
type ScopedTask<'scope> = Box<dyn FnOnce(&Stop) -> OutcomeKind + Send + 'scope>;

/// A scope of borrowing tasks on a [`ThreadPool`]; made by [`ThreadPool::scope`].
///
/// `'scope` is the life of the scope itself, `'env` that of what its tasks may borrow, as for
/// [`std::thread::Scope`]. Neither a task nor its handle can outlive the scope:
///
/// ```compile_fail
/// # use brake::{Stop, ThreadPool};
/// let pool = ThreadPool::new(&Stop::new(), 2).unwrap();
/// let escaped = pool.scope(|scope| scope.spawn(|_stop| Ok(1)));
/// ```
///
/// It lives only during the call to [`ThreadPool::scope`], whose docs say what a stop does to
/// its tasks.
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'scope ThreadPool,
    state: Arc<ScopeState>,
    /// Slots that may still be queued, for the end of the scope to cancel after a stop.
    /// Pruned of the others as it grows, so a long scope keeps about as many as are queued.
    queued: Mutex<Queued>,
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope` is.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

/// The slots a scope may still have to cancel.
struct Queued {
    slots: Vec<Arc<Slot>>,
    /// Prune `slots` when it grows past this.
    prune_at: usize,
}

/// What a scope's slots and handles share with it.
#[derive(Default)]
struct ScopeState {
    /// Tasks spawned whose closure is not yet gone (invariant 1).
    pending: AtomicUsize,
    /// Threads blocked on this scope's tasks: its handles and its end (invariant 4).
    waiting: AtomicUsize,
}

impl ScopeState {
    /// A task's closure is gone: one fewer to wait for.
    fn settle(&self, shared: &PoolCore) {
        self.pending.fetch_sub(1, SeqCst);
        if self.waiting.load(SeqCst) > 0 {
            shared.notify();
        }
    }
}

/// One scoped task in the queue (invariant 2).
struct Slot {
    cell: Mutex<SlotCell>,
    scope: Arc<ScopeState>,
}

enum SlotCell {
    Queued(ErasedTask),
    Running,
    Ended,
    Cancelled,
}

impl Slot {
    /// Cancels the task if it is still queued; true if this call did.
    fn cancel_queued(&self, shared: &PoolCore) -> bool {
        let mut cell = lock(&self.cell);
        if !matches!(*cell, SlotCell::Queued(_)) {
            return false;
        }
        let task = std::mem::replace(&mut *cell, SlotCell::Cancelled);
        drop(cell);
        // The closure's captures are freed outside the lock, and a panic in one of their drops
        // must not skip `settle`: the scope would wait for ever, or unwind past its tasks.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(task)));
        self.scope.settle(shared);
        true
    }

    fn is_queued(&self) -> bool {
        matches!(*lock(&self.cell), SlotCell::Queued(_))
    }
}

impl Runnable for Slot {
    fn run(&self, shared: &PoolCore, tally: &Tally) {
        let task = {
            let mut cell = lock(&self.cell);
            match std::mem::replace(&mut *cell, SlotCell::Running) {
                SlotCell::Queued(task) => task,
                other => {
                    *cell = other;
                    return;
                }
            }
        };
        bump(&tally.started);
        // The closure catches its task's panic itself; this catches one from a drop of what
        // the task returned, so that the slot still settles.
        let kind = panic::catch_unwind(AssertUnwindSafe(|| task(&shared.stop)))
            .unwrap_or(OutcomeKind::Panicked);
        bump(&tally.ended[end_count_index(kind)]);
        *lock(&self.cell) = SlotCell::Ended;
        self.scope.settle(shared);
    }

    fn cancel(&self, shared: &PoolCore) {
        self.cancel_queued(shared);
    }
}

/// Where a scoped task puts its outcome for its handle.
type OutcomeCell<T> = Mutex<Option<Outcome<T>>>;

impl ThreadPool {
    /// Runs `body` with a [`Scope`] whose tasks may borrow from the caller (a list of files, a
    /// counter) and run on this pool's workers; returns what `body` returns, once every task
    /// spawned in the scope has finished or been cancelled.
    ///
    /// The stop contract holds for scoped tasks as for the others, with one difference at
    /// Forcing:
    ///
    /// * **Stopping**: no queued scoped task starts (each is reported cancelled); running ones
    ///   see the stop; `scope` returns as soon as they have returned.
    /// * **Forcing**: `scope` still waits for its running tasks. A task that borrows from the
    ///   caller's stack cannot be abandoned the way [`ThreadPool::join`] abandons a `'static`
    ///   one: the stack it borrows from would be gone while it runs. A scoped task that never
    ///   looks at the stop therefore holds the scope past Forcing, and the process ends then only
    ///   by the signal handler's last resort: a signal that comes a second or more after Forcing
    ///   began exits at once with 128 + its number (see [`crate::signals`]). Tasks that check
    ///   the stop never meet this. `Notice::Worded(ForcedWork::Finishing)` words the stop
    ///   notice for such work (see [`ForcedWork::Finishing`](crate::ForcedWork::Finishing)).
    ///
    /// Scoped tasks count in the pool's [`Report`](crate::Report) like any other
    /// ([`ThreadPool::join`]). If `body` panics, `scope` waits for its tasks in the same way and
    /// then resumes the panic. Do not call `scope` from a task of the same pool: the task would
    /// wait for workers of which it occupies one (with one worker, for ever).
    ///
    /// ```
    /// use brake::{Stop, ThreadPool};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = ThreadPool::new(&Stop::new(), 2)?;
    /// let words = vec!["alpha", "beta", "gamma"];
    /// let letters = AtomicUsize::new(0);
    /// let longest = pool.scope(|scope| {
    ///     for word in &words {
    ///         scope.spawn(|stop| {
    ///             stop.check()?;
    ///             letters.fetch_add(word.len(), Ordering::Relaxed);
    ///             Ok(())
    ///         });
    ///     }
    ///     let longest = scope.spawn(|_stop| Ok(words.iter().map(|w| w.len()).max()));
    ///     longest.wait().done().flatten()
    /// });
    /// assert_eq!(letters.into_inner(), 14);
    /// assert_eq!(longest, Some(5));
    /// assert_eq!(pool.join().done, 4);
    /// # Ok::<(), brake::Error>(())
    /// ```
    pub fn scope<'env, R>(
        &'env self,
        body: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    ) -> R {
        let scope = Scope {
            pool: self,
            state: Arc::new(ScopeState::default()),
            queued: Mutex::new(Queued {
                slots: Vec::new(),
                prune_at: PRUNE_FIRST,
            }),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| body(&scope)));
        scope.wait_all();
        match result {
            Ok(value) => value,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

/// The length at which a scope first prunes its list of queued slots.
const PRUNE_FIRST: usize = 1024;

impl<'scope> Scope<'scope, '_> {
    /// Queues `task`, which may borrow anything that outlives the scope; it receives the pool's
    /// [`Stop`]. Once the stop has begun, `spawn` queues nothing and the handle reports
    /// [`Outcome::Cancelled`], as [`ThreadPool::submit`] does.
    pub fn spawn<T, F>(&'scope self, task: F) -> ScopedHandle<'scope, T>
    where
        T: Send + 'scope,
        F: FnOnce(&Stop) -> TaskResult<T> + Send + 'scope,
    {
        let shared = &self.pool.shared;
        shared.submitted.fetch_add(1, SeqCst);
        let outcome: Arc<OutcomeCell<T>> = Arc::new(Mutex::new(None));
        let to_handle = outcome.clone();
        let run: ScopedTask<'scope> = Box::new(move |stop: &Stop| {
            let outcome = match panic::catch_unwind(AssertUnwindSafe(|| task(stop))) {
                Ok(result) => Outcome::from_result(result),
                Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
            };
            let kind = outcome.kind();
            *lock(&to_handle) = Some(outcome);
            kind
        });
        // SAFETY: only the lifetime bound of the trait object changes; the layout is the same.
        // The closure never outlives `'scope`: `ThreadPool::scope` does not return or unwind
        // before every closure it queued has been consumed or dropped (invariant 1).
        let run: ErasedTask = unsafe { std::mem::transmute::<ScopedTask<'scope>, ErasedTask>(run) };
        let slot = Arc::new(Slot {
            cell: Mutex::new(SlotCell::Queued(run)),
            scope: self.state.clone(),
        });
        self.state.pending.fetch_add(1, SeqCst);
        self.remember(&slot);
        // Checked after the slot is listed: a stop that this check misses comes after the
        // listing, so the end of the scope finds the slot (invariant 3).
        if shared.refusing() {
            slot.cancel_queued(shared);
        } else {
            // Sending cannot fail: the pool holds a receiver as long as it holds the sender.
            let _ = self.pool.sender.send(QueueEntry::Handled(slot.clone()));
        }
        ScopedHandle {
            slot,
            outcome,
            shared,
            state: &self.state,
        }
    }

    /// Lists `slot` for the end of the scope, pruning the slots no longer queued as the list
    /// grows.
    fn remember(&self, slot: &Arc<Slot>) {
        let mut queued = lock(&self.queued);
        if queued.slots.len() >= queued.prune_at {
            queued.slots.retain(|slot| slot.is_queued());
            queued.prune_at = (queued.slots.len() * 2).max(PRUNE_FIRST);
        }
        queued.slots.push(slot.clone());
    }

    /// Cancels every slot of this scope still queued (invariant 3).
    fn cancel_queued(&self) {
        let slots = std::mem::take(&mut lock(&self.queued).slots);
        for slot in slots {
            slot.cancel_queued(&self.pool.shared);
        }
    }

    /// Blocks until every task of the scope is finished or cancelled, whatever the phase
    /// (invariant 1); once the stop has begun, cancels what is still queued.
    fn wait_all(&self) {
        let shared = &self.pool.shared;
        let state = &self.state;
        state.waiting.fetch_add(1, SeqCst);
        loop {
            if shared.refusing() {
                // A task may spawn more while the scope ends: each pass cancels what came.
                self.cancel_queued();
            }
            let guard = lock(&shared.lock);
            if state.pending.load(SeqCst) == 0 {
                break;
            }
            if shared.refusing() && lock(&self.queued).slots.iter().any(|s| s.is_queued()) {
                continue; // listed since the pass above: cancel it before sleeping
            }
            drop(shared.wait(guard));
        }
        state.waiting.fetch_sub(1, SeqCst);
    }
}

/// The result of one scoped task, to wait for inside the scope.
///
/// Dropping it detaches it: the task still runs (unless a stop cancels it), counts in the pool's
/// report, and the scope still waits for it.
pub struct ScopedHandle<'scope, T> {
    slot: Arc<Slot>,
    outcome: Arc<OutcomeCell<T>>,
    shared: &'scope PoolCore,
    state: &'scope ScopeState,
}

impl<T> ScopedHandle<'_, T> {
    /// Waits for the task's outcome, never past a stop, as [`Handle::wait`](super::Handle::wait)
    /// does: a task that had not started when the stop began is `Cancelled` at once, and one
    /// still running when the stop is forced is `Interrupted` (the scope itself still waits for
    /// it to return; see [`ThreadPool::scope`]).
    pub fn wait(self) -> Outcome<T> {
        let shared = self.shared;
        let state = self.state;
        state.waiting.fetch_add(1, SeqCst);
        let outcome = loop {
            if let Some(outcome) = self.take(shared.phase()) {
                break outcome;
            }
            let guard = lock(&shared.lock);
            if !self.is_ready(shared.phase()) {
                drop(shared.wait(guard));
            }
        };
        state.waiting.fetch_sub(1, SeqCst);
        outcome
    }

    /// The outcome, if it is known in `phase`; cancels the task if it is still queued once
    /// stopping. Called without the pool's lock: cancelling settles the task, which notifies.
    fn take(&self, phase: Phase) -> Option<Outcome<T>> {
        if let Some(outcome) = lock(&self.outcome).take() {
            return Some(outcome);
        }
        let queued = match &*lock(&self.slot.cell) {
            SlotCell::Cancelled => return Some(Outcome::Cancelled),
            // The outcome is stored before the slot ends.
            SlotCell::Ended => return lock(&self.outcome).take(),
            SlotCell::Running => false,
            SlotCell::Queued(_) => true,
        };
        if queued && phase >= Phase::Stopping && self.slot.cancel_queued(self.shared) {
            return Some(Outcome::Cancelled);
        }
        (!queued && phase == Phase::Forcing).then_some(Outcome::Interrupted)
    }

    /// True if [`take`](Self::take) would give an outcome in `phase`. Called with the pool's
    /// lock held, after `waiting` counts this thread (invariant 4).
    fn is_ready(&self, phase: Phase) -> bool {
        lock(&self.outcome).is_some()
            || match &*lock(&self.slot.cell) {
                SlotCell::Cancelled | SlotCell::Ended => true,
                SlotCell::Queued(_) => phase >= Phase::Stopping,
                SlotCell::Running => phase == Phase::Forcing,
            }
    }

    /// True once the outcome is known without waiting (finished or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(
            *lock(&self.slot.cell),
            SlotCell::Ended | SlotCell::Cancelled
        )
    }
}

impl<T> std::fmt::Debug for ScopedHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.state.pending.load(SeqCst))
            .finish()
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
