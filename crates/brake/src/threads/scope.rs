//! [`ThreadPool::scope`]: tasks that borrow from the caller's stack ([`Scope::spawn`]), run on
//! the pool's workers under the pool's stop, and the rule that keeps their borrows sound.
//!
//! # Theory of operation
//!
//! A scoped task is one allocation, a [`Slot`], shared by the pool's queue and the task's
//! [`ScopedHandle`]. It holds the task's closure until a worker takes it, then the outcome until
//! the handle takes it. The queue sees it through a trait object whose lifetime is erased to
//! `'static`; the invariants below are why nothing borrowed is touched after the scope ends.
//!
//! # Invariants
//!
//! 1. Every closure a scope queues is consumed (run to its end, or unwound by a panic) or
//!    dropped before [`ThreadPool::scope`] returns or unwinds. The scope counts its tasks in
//!    `pending`; a task leaves the count only after its closure is gone, and the scope waits
//!    for the count to reach zero, whatever the phase.
//! 2. An outcome is never left in a slot past the scope: the handle takes it, or drops it when
//!    the handle itself is dropped, or the worker drops it at once when the handle is gone
//!    already, before the task leaves `pending`. A slot that outlives the scope (in the queue
//!    of a stopped pool, say) therefore holds neither closure nor outcome, and its drop touches
//!    nothing borrowed. A handle leaked with `mem::forget` leaks its slot, which is never
//!    dropped at all.
//! 3. A slot moves `Queued → Running → Ended`, or `Queued → Cancelled`, under its own lock; only
//!    whoever moves it out of `Queued` owns the closure.
//! 4. Once the pool refuses work (the stop has begun), whoever sees a slot still queued cancels
//!    it: a worker that takes it from the queue, its handle, or the end of the scope, which
//!    empties the pool's queue so that no slot waits for a worker that has exited. A stopped
//!    pool never runs anything again, so what else the queue holds is cancelled with it.
//! 5. Wake-ups: a waiter raises its flag (the scope's `ending`, a slot's `waited`) and then
//!    checks its condition under the pool's lock; a task that settles updates its state and then,
//!    if its waiter's flag is up, notifies under the same lock. Both sides are `SeqCst`, so no
//!    wake-up is lost, and a task nobody waits for takes no lock to end.
//!
//! Lock order: the pool's `lock`, then a slot's `cell`; nothing is notified with a `cell` held.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use super::{bump, PoolCore, QueueEntry, Runnable, Tally, ThreadPool};
use crate::outcome::{end_count_index, panic_message, Outcome, TaskResult};
use crate::stop::{Phase, Stop};
use crate::sync::lock;

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
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope` is.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

/// What a scope's slots share with it.
#[derive(Default)]
struct ScopeState {
    /// Tasks spawned whose closure is not yet gone (invariant 1).
    pending: AtomicUsize,
    /// The scope's end waits for `pending` to reach zero (invariant 5).
    ending: AtomicBool,
}

/// One scoped task: its closure, then its outcome (invariants 2 and 3).
struct Slot<F, T> {
    cell: Mutex<SlotCell<F, T>>,
    scope: Arc<ScopeState>,
    /// The task's handle waits for it (invariant 5).
    waited: AtomicBool,
}

struct SlotCell<F, T> {
    state: SlotState<F, T>,
    /// The handle is gone: nobody will take the outcome.
    detached: bool,
}

enum SlotState<F, T> {
    Queued(F),
    Running,
    /// The outcome, until the handle takes it.
    Ended(Option<Outcome<T>>),
    Cancelled,
}

impl<F, T> Slot<F, T> {
    /// The task's closure is gone: one fewer for the scope to wait for. Wakes the scope's end
    /// if this was the last, and the task's handle if it waits.
    fn settle(&self, shared: &PoolCore) {
        let left = self.scope.pending.fetch_sub(1, SeqCst) - 1;
        if (left == 0 && self.scope.ending.load(SeqCst)) || self.waited.load(SeqCst) {
            shared.notify();
        }
    }

    /// Cancels the task if it is still queued; true if this call did.
    fn cancel_queued(&self, shared: &PoolCore) -> bool {
        let mut cell = lock(&self.cell);
        if !matches!(cell.state, SlotState::Queued(_)) {
            return false;
        }
        let task = std::mem::replace(&mut cell.state, SlotState::Cancelled);
        drop(cell);
        // The closure's captures are freed outside the lock, and a panic in one of their drops
        // must not skip `settle`: the scope would wait for ever, or unwind past its tasks.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(task)));
        self.settle(shared);
        true
    }
}

impl<F, T> Runnable for Slot<F, T>
where
    F: FnOnce(&Stop) -> TaskResult<T> + Send,
    T: Send,
{
    fn run(&self, shared: &PoolCore, tally: &Tally) {
        let task = {
            let mut cell = lock(&self.cell);
            match std::mem::replace(&mut cell.state, SlotState::Running) {
                SlotState::Queued(task) => task,
                other => {
                    cell.state = other;
                    return;
                }
            }
        };
        bump(&tally.started);
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| task(&shared.stop))) {
            Ok(result) => Outcome::from_result(result),
            Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
        };
        bump(&tally.ended[end_count_index(outcome.kind())]);
        let unwanted = {
            let mut cell = lock(&self.cell);
            if cell.detached {
                cell.state = SlotState::Ended(None);
                Some(outcome)
            } else {
                cell.state = SlotState::Ended(Some(outcome));
                None
            }
        };
        // Dropped before the task leaves `pending` (invariant 2), and a panic in the value's
        // drop must not skip `settle`.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(unwanted)));
        self.settle(shared);
    }

    fn cancel(&self, shared: &PoolCore) {
        self.cancel_queued(shared);
    }
}

/// A slot as its handle sees it, whatever the closure's type.
trait Awaited<T>: Send + Sync {
    /// The outcome, if it is known in `phase`; cancels the task if it is still queued once
    /// stopping. Called without the pool's lock: cancelling settles the task, which notifies.
    fn take(&self, phase: Phase, shared: &PoolCore) -> Option<Outcome<T>>;
    /// True if `take` would give an outcome in `phase`; otherwise marks the task as waited
    /// for, so that its end wakes the waiter. Called with the pool's lock held (invariant 5).
    fn ready_or_waited(&self, phase: Phase) -> bool;
    fn is_finished(&self) -> bool;
    /// The handle is dropped: drops an outcome not taken, and has the worker drop the one to
    /// come.
    fn detach(&self);
}

impl<F: Send, T: Send> Awaited<T> for Slot<F, T> {
    fn take(&self, phase: Phase, shared: &PoolCore) -> Option<Outcome<T>> {
        let mut cell = lock(&self.cell);
        let queued = match &mut cell.state {
            SlotState::Cancelled => return Some(Outcome::Cancelled),
            // `ScopedHandle::wait` consumes the handle: an outcome is taken once.
            SlotState::Ended(outcome) => return outcome.take(),
            SlotState::Running => false,
            SlotState::Queued(_) => true,
        };
        drop(cell);
        if queued && phase >= Phase::Stopping && self.cancel_queued(shared) {
            return Some(Outcome::Cancelled);
        }
        (!queued && phase == Phase::Forcing).then_some(Outcome::Interrupted)
    }

    fn ready_or_waited(&self, phase: Phase) -> bool {
        let cell = lock(&self.cell);
        let ready = match cell.state {
            SlotState::Cancelled | SlotState::Ended(_) => true,
            SlotState::Queued(_) => phase >= Phase::Stopping,
            SlotState::Running => phase == Phase::Forcing,
        };
        if !ready {
            // Under the cell's lock: whoever settles the task next sees the flag up.
            self.waited.store(true, SeqCst);
        }
        drop(cell);
        ready
    }

    fn is_finished(&self) -> bool {
        matches!(
            lock(&self.cell).state,
            SlotState::Ended(_) | SlotState::Cancelled
        )
    }

    fn detach(&self) {
        let outcome = {
            let mut cell = lock(&self.cell);
            cell.detached = true;
            match &mut cell.state {
                SlotState::Ended(outcome) => outcome.take(),
                _ => None,
            }
        };
        drop(outcome);
    }
}

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
    ///   the stop never meet this. While `scope` runs, the default notice says so rather than
    ///   offer to force (see [`Stop::unforceable`]).
    ///
    /// Scoped tasks count in the pool's [`Report`](crate::Report) like any other
    /// ([`ThreadPool::join`]). If `body` panics, `scope` waits for its tasks in the same way and
    /// then resumes the panic.
    ///
    /// # Panics
    ///
    /// When called from a task of the same pool: the task would wait for workers of which it
    /// occupies one (with one worker, for ever), so the call panics at once instead, naming the
    /// mistake. A scope on another pool is fine.
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
        assert!(
            !self.is_own_worker(),
            "ThreadPool::scope called from a task of the same pool, which would wait for the \
             worker it occupies; use a second pool for the inner scope"
        );
        let _section = self.stop().unforceable();
        let scope = Scope {
            pool: self,
            state: Arc::new(ScopeState::default()),
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
        let slot = Arc::new(Slot {
            cell: Mutex::new(SlotCell {
                state: SlotState::Queued(task),
                detached: false,
            }),
            scope: self.state.clone(),
            waited: AtomicBool::new(false),
        });
        self.state.pending.fetch_add(1, SeqCst);
        let queued: Arc<dyn Runnable + 'scope> = slot.clone();
        // SAFETY: only the lifetime bound of the trait object changes; the layout is the same.
        // Nothing borrowed is reached through it after `'scope`: the scope does not end before
        // the closure is gone (invariant 1), nor leave an outcome behind (invariant 2).
        let queued = unsafe {
            std::mem::transmute::<Arc<dyn Runnable + 'scope>, Arc<dyn Runnable + 'static>>(queued)
        };
        // Sending cannot fail: the pool holds a receiver as long as it holds the sender.
        let _ = self.pool.sender.send(QueueEntry::Handled(queued));
        // Checked after the send: a stop that this check misses comes after the send, so the
        // end of the scope finds the slot in the queue (invariant 4).
        if shared.refusing() {
            slot.cancel_queued(shared);
        }
        ScopedHandle { slot, shared }
    }

    /// Cancels everything still in the pool's queue, this scope's slots among them
    /// (invariant 4).
    fn empty_queue(&self) {
        let shared = &self.pool.shared;
        while let Ok(entry) = self.pool.receiver.try_recv() {
            // A panic in a closure's drop must not end the wait for the scope's tasks.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| match entry {
                QueueEntry::Handled(task) => task.cancel(shared),
                QueueEntry::Detached(task) => drop(task),
            }));
        }
    }

    /// Blocks until every task of the scope is finished or cancelled, whatever the phase
    /// (invariant 1); once the stop has begun, cancels what is still queued.
    fn wait_all(&self) {
        let shared = &self.pool.shared;
        let state = &self.state;
        state.ending.store(true, SeqCst);
        loop {
            if shared.refusing() {
                // A task may spawn more while the scope ends: each pass cancels what came.
                self.empty_queue();
            }
            let guard = lock(&shared.lock);
            if state.pending.load(SeqCst) == 0 {
                break;
            }
            if shared.refusing() && !self.pool.receiver.is_empty() {
                continue; // queued since the pass above: cancel it before sleeping
            }
            drop(shared.wait(guard));
        }
    }
}

/// The result of one scoped task, to wait for inside the scope.
///
/// Dropping it detaches it: the task still runs (unless a stop cancels it), counts in the pool's
/// report, and the scope still waits for it; its value is dropped when it comes.
pub struct ScopedHandle<'scope, T> {
    slot: Arc<dyn Awaited<T> + 'scope>,
    shared: &'scope PoolCore,
}

impl<T> ScopedHandle<'_, T> {
    /// Waits for the task's outcome, never past a stop, as [`Handle::wait`](super::Handle::wait)
    /// does: a task that had not started when the stop began is `Cancelled` at once, and one
    /// still running when the stop is forced is `Interrupted` (the scope itself still waits for
    /// it to return; see [`ThreadPool::scope`]).
    pub fn wait(self) -> Outcome<T> {
        let shared = self.shared;
        loop {
            if let Some(outcome) = self.slot.take(shared.phase(), shared) {
                return outcome;
            }
            let guard = lock(&shared.lock);
            if !self.slot.ready_or_waited(shared.phase()) {
                drop(shared.wait(guard));
            }
        }
    }

    /// True once the outcome is known without waiting (finished or cancelled).
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }
}

impl<T> Drop for ScopedHandle<'_, T> {
    fn drop(&mut self) {
        self.slot.detach();
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
