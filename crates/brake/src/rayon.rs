//! rayon parallel iterators that stop with a [`Stop`] (feature `rayon`).
//!
//! rayon has no cancellation: once a parallel iterator runs, it runs every item, and its global
//! pool cannot be shut down. [`StopExt`] adds the missing half of the stop contract:
//!
//! * **Once stopping, no new item starts.** Every item passes one check of
//!   [`Stop::is_stopping`] (one atomic load) before it goes on down the pipeline; after the stop,
//!   the check fails, the iteration short-circuits (no further splitting, no further items, even
//!   for an iterator of billions of items) and the call returns.
//! * **Items in flight finish.** rayon cannot interrupt an item mid-way: an item that passed the
//!   check before the stop runs to its end and is counted `done`. A long item that should end
//!   early must look at [`Stop::is_stopping`] itself. Until every item in flight has returned, the
//!   call does not return, whatever the phase: a second Ctrl-C does not cut it short (one a
//!   second or more after that still ends the process, see [`crate::signals`]).
//! * **Finished results are kept.** The `*_until_stopped` helpers return what was computed and a
//!   [`Report`]: `done` items (passed the check and ran), `cancelled` ("not started") items, and
//!   what stopped the run. `interrupted` is always 0 — nothing is interrupted.
//!
//! brake re-exports rayon (the version it is built with) as this module: `use
//! brake::rayon::prelude::*;` brings rayon's prelude and [`StopExt`], and
//! `brake::rayon::ThreadPoolBuilder`, `brake::rayon::iter` and the rest are rayon's own. A
//! program needs no `rayon` dependency of its own, and never meets two versions of it.
//!
//! ```
//! use brake::rayon::prelude::*;
//! use brake::{Reason, Stop};
//!
//! let stop = Stop::new();
//! let squares = (0..1_000usize)
//!     .into_par_iter()
//!     .run_until_stopped(&stop, |items| items.map(|n| n * n).collect::<Vec<_>>());
//! assert_eq!(squares.value.len(), 1_000);
//! assert!(squares.report.is_success());
//!
//! stop.request(Reason::Requested);
//! let partial = (0..1_000usize).into_par_iter().collect_until_stopped::<Vec<_>>(&stop);
//! assert_eq!(partial.report.cancelled, 1_000); // stopped before the first item
//! assert!(partial.into_result().is_err());
//! ```
//!
//! The helpers take any parallel iterator. When rayon knows its length (ranges, slices,
//! vectors, `map`, `zip`, `chain` of those, …) the report counts exactly how many items never
//! started. When it does not (`par_bridge`, `filter`, `flat_map`, …) the items never reached
//! were never produced, so nothing can count them: the report then counts the items done,
//! [`Partial::total`] is `None`, and [`Partial::is_complete`] still says whether the stop cut
//! the run short.
//!
//! ```
//! use brake::rayon::prelude::*;
//! use brake::Stop;
//!
//! let stop = Stop::new();
//! let lines = "a\nbb\nccc".lines().par_bridge();
//! let letters = lines.run_until_stopped(&stop, |lines| lines.map(str::len).sum::<usize>());
//! assert_eq!((letters.value, letters.total), (6, None));
//! assert!(letters.is_complete());
//! ```
//!
//! Where the check sits matters: [`StopExt::until_stopped`] checks at its place in the pipeline,
//! so put it *before* the expensive step (`iter.until_stopped(&stop).map(heavy)`, not
//! `iter.map(heavy).until_stopped(&stop)`). The helpers that take a closure put it there for you.
//!
//! Cost: the check is one atomic load per item. In a loop with no work of its own (a bare sum)
//! it also keeps the compiler from vectorizing; with any real per-item work it is noise. The
//! README gives the figures (`cargo bench -p brake --features rayon --bench rayon`).
//!
//! # What the terminal is told
//!
//! Nothing can force a rayon item, so while an iterator behind [`StopExt::until_stopped`] runs,
//! it holds the stop's [`unforceable`](Stop::unforceable) guard and the default notice promises
//! no force: `brake: stopping — running work finishes first`, and on a second Ctrl-C, `brake:
//! running work cannot be forced (Ctrl-C again after 1 s exits at once)`, the signal handler's
//! last resort (see [`crate::signals`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ::rayon::iter::plumbing::{Consumer, Folder, UnindexedConsumer};
use ::rayon::iter::{FromParallelIterator, ParallelIterator};

use crate::{Report, Stop, Stopped};

#[doc(no_inline)]
pub use ::rayon::*;

/// rayon's prelude, with [`StopExt`]: `use brake::rayon::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use super::StopExt;
    #[doc(no_inline)]
    pub use ::rayon::prelude::*;
}

/// Stop-aware running of rayon parallel iterators; see the [module documentation](self).
///
/// Implemented for every [`ParallelIterator`], indexed or not.
pub trait StopExt: ParallelIterator {
    /// An adaptor that passes items on until `stop` is stopping, then short-circuits: no item
    /// that reaches it after the stop goes further, and the iteration ends early.
    ///
    /// Cost: one atomic load per item, plus one atomic add per rayon split to count the items
    /// passed on ([`UntilStopped::tally`]).
    fn until_stopped(self, stop: &Stop) -> UntilStopped<Self> {
        UntilStopped {
            base: self,
            stop: stop.clone(),
            tally: Tally::default(),
        }
    }

    /// Runs `run` (any rayon terminal operation: `sum`, `collect`, `reduce`, `for_each`, …) on
    /// this iterator behind [`until_stopped`](StopExt::until_stopped), and returns its value with a
    /// [`Report`] of how many items ran and how many never started.
    ///
    /// The value is what `run` made of the items that ran: a partial sum, a shorter collection.
    /// The report counts the items that never started when rayon knows the iterator's length
    /// (see the [module documentation](self)).
    fn run_until_stopped<R>(
        self,
        stop: &Stop,
        run: impl FnOnce(UntilStopped<Self>) -> R,
    ) -> Partial<R> {
        let started = Instant::now();
        let total = self.opt_len();
        let items = self.until_stopped(stop);
        let tally = items.tally();
        let value = run(items);
        let done = tally.done();
        let not_started = total.map_or(0, |total| total.saturating_sub(done));
        Partial {
            value,
            report: report(stop, done, not_started, started),
            total,
            cut: tally.cut(),
        }
    }

    /// Collects the items that ran, in their order, skipping the rest once `stop` is stopping.
    fn collect_until_stopped<C>(self, stop: &Stop) -> Partial<C>
    where
        C: FromParallelIterator<Self::Item>,
    {
        self.run_until_stopped(stop, |items| items.collect())
    }

    /// Calls `f` on each item until `stop` is stopping; returns the [`Report`].
    fn for_each_until_stopped<F>(self, stop: &Stop, f: F) -> Report
    where
        F: Fn(Self::Item) + Sync + Send,
    {
        self.run_until_stopped(stop, |items| items.for_each(f))
            .report
    }

    /// Calls `f` on each item until `stop` is stopping or `f` returns an error.
    ///
    /// The first error (as rayon's `try_for_each` picks it) is returned as `Err`; otherwise the
    /// [`Report`], whose `cancelled` count says whether the stop cut the run short.
    fn try_for_each_until_stopped<F, E>(self, stop: &Stop, f: F) -> Result<Report, E>
    where
        F: Fn(Self::Item) -> Result<(), E> + Sync + Send,
        E: Send,
    {
        let partial = self.run_until_stopped(stop, |items| items.try_for_each(f));
        partial.value.map(|()| partial.report)
    }
}

impl<I: ParallelIterator> StopExt for I {}

fn report(stop: &Stop, done: usize, not_started: usize, started: Instant) -> Report {
    // A signal handler may have raised the phase before the stop's watcher recorded why
    // (see `crate::first_step`): wait for the record, as the pools' `join` does.
    stop.wait_announced();
    Report {
        done,
        cancelled: not_started,
        stopped_by: stop.stopping().map(|t| t.reason),
        forced: stop.is_forcing(),
        elapsed: started.elapsed(),
        ..Report::default()
    }
}

/// What a stop-aware run computed, and how it ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct Partial<T> {
    /// What the run made of the items that ran (all of them, unless a stop came first).
    pub value: T,
    /// `done`: items that ran; `cancelled`: items that never started (0 when the length is not
    /// known, see [`Partial::total`]); `stopped_by`: the stop's reason, when the run ended
    /// stopping.
    pub report: Report,
    /// The number of items, when rayon knew it before the run; `None` for an iterator whose
    /// length it cannot tell (`par_bridge`, `filter`, …), whose unstarted items go uncounted.
    pub total: Option<usize>,
    /// The stop kept an item from running or cut rayon's splitting short.
    cut: bool,
}

impl<T> Partial<T> {
    /// True when every item ran: for an iterator of known length, none is left unstarted; for
    /// another, the stop kept no item from running.
    pub fn is_complete(&self) -> bool {
        match self.total {
            Some(_) => self.report.cancelled == 0,
            None => !self.cut,
        }
    }

    /// The value when every item ran, `Err(Stopped)` when a stop left some unstarted.
    pub fn into_result(self) -> Result<T, Stopped> {
        if self.is_complete() {
            Ok(self.value)
        } else {
            Err(Stopped)
        }
    }
}

/// A shared count of the items an [`UntilStopped`] let through; read it after the run.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    done: AtomicUsize,
    /// Set when the stop refused an item or told rayon to split and fold no more.
    cut: AtomicBool,
}

impl Tally {
    /// Items passed on so far (added once per finished rayon split, not per item).
    pub fn done(&self) -> usize {
        self.0.done.load(Ordering::SeqCst)
    }

    /// True once the stop has kept an item from going on, or told rayon to go no further; an
    /// iteration that ends without it ran every item.
    pub fn cut(&self) -> bool {
        self.0.cut.load(Ordering::SeqCst)
    }
}

/// The adaptor made by [`StopExt::until_stopped`].
#[derive(Debug, Clone)]
#[must_use = "iterator adaptors are lazy"]
pub struct UntilStopped<I> {
    base: I,
    stop: Stop,
    tally: Tally,
}

impl<I> UntilStopped<I> {
    /// The count of items this adaptor lets through, to read once the run has returned.
    pub fn tally(&self) -> Tally {
        self.tally.clone()
    }
}

impl<I: ParallelIterator> ParallelIterator for UntilStopped<I> {
    type Item = I::Item;

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        let _section = self.stop.unforceable();
        let consumer = UntilStoppedConsumer {
            base: consumer,
            stop: &self.stop,
            tally: &self.tally.0,
        };
        self.base.drive_unindexed(consumer)
    }
}

struct UntilStoppedConsumer<'a, C> {
    base: C,
    stop: &'a Stop,
    tally: &'a Counts,
}

impl<'a, C> UntilStoppedConsumer<'a, C> {
    fn with<D>(&self, base: D) -> UntilStoppedConsumer<'a, D> {
        UntilStoppedConsumer {
            base,
            stop: self.stop,
            tally: self.tally,
        }
    }
}

impl<'a, T, C: Consumer<T>> Consumer<T> for UntilStoppedConsumer<'a, C> {
    type Folder = UntilStoppedFolder<'a, C::Folder>;
    type Reducer = C::Reducer;
    type Result = C::Result;

    fn split_at(self, index: usize) -> (Self, Self, Self::Reducer) {
        let (left, right, reducer) = self.base.split_at(index);
        (
            UntilStoppedConsumer {
                base: left,
                stop: self.stop,
                tally: self.tally,
            },
            UntilStoppedConsumer {
                base: right,
                stop: self.stop,
                tally: self.tally,
            },
            reducer,
        )
    }

    fn into_folder(self) -> Self::Folder {
        UntilStoppedFolder {
            base: self.base.into_folder(),
            stop: self.stop,
            tally: self.tally,
            count: 0,
            stopped: false,
        }
    }

    /// Checked by rayon before it splits or folds a piece of work: once stopping, no more.
    fn full(&self) -> bool {
        if self.stop.is_stopping() {
            self.tally.cut.store(true, Ordering::Relaxed);
            return true;
        }
        self.base.full()
    }
}

impl<T, C: UnindexedConsumer<T>> UnindexedConsumer<T> for UntilStoppedConsumer<'_, C> {
    fn split_off_left(&self) -> Self {
        self.with(self.base.split_off_left())
    }

    fn to_reducer(&self) -> Self::Reducer {
        self.base.to_reducer()
    }
}

struct UntilStoppedFolder<'a, F> {
    base: F,
    stop: &'a Stop,
    tally: &'a Counts,
    /// Items passed on by this folder; added to `tally` once, in `complete`.
    count: usize,
    stopped: bool,
}

impl<T, F: Folder<T>> Folder<T> for UntilStoppedFolder<'_, F> {
    type Result = F::Result;

    fn consume(mut self, item: T) -> Self {
        if self.stop.is_stopping() {
            self.stopped = true;
            self.tally.cut.store(true, Ordering::Relaxed);
        } else {
            self.count += 1;
            self.base = self.base.consume(item);
        }
        self
    }

    fn consume_iter<I>(self, iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
    {
        let UntilStoppedFolder {
            base,
            stop,
            tally,
            mut count,
            ..
        } = self;
        // The hot loop: one atomic load per item, and the base folder keeps its own loop (and
        // its own `full` checks).
        let mut refused = false;
        let base = base.consume_iter(
            iter.into_iter()
                .take_while(|_| {
                    refused = stop.is_stopping();
                    !refused
                })
                .inspect(|_| count += 1),
        );
        if refused {
            tally.cut.store(true, Ordering::Relaxed);
        }
        UntilStoppedFolder {
            base,
            stop,
            tally,
            count,
            stopped: refused || stop.is_stopping(),
        }
    }

    fn complete(self) -> Self::Result {
        if self.count > 0 {
            self.tally.done.fetch_add(self.count, Ordering::SeqCst);
        }
        self.base.complete()
    }

    fn full(&self) -> bool {
        self.stopped || self.base.full()
    }
}
