//! The table of running jobs: each in its slot (`{%}`, from 1 to `-j`), the lowest free slot
//! going to the next job.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::job::Running;

/// The jobs running now, by slot, and the slots free for the next.
pub(super) struct Table {
    /// Running jobs at index `slot - 1`.
    pub(super) by_slot: Vec<Option<Running>>,
    /// Free slots, lowest first.
    free: BinaryHeap<Reverse<usize>>,
    /// Slots taken out of the run (their host is lost).
    retired: usize,
}

impl Table {
    /// `jobs` slots, all free.
    pub(super) fn new(jobs: usize) -> Table {
        Table {
            by_slot: (0..jobs).map(|_| None).collect(),
            free: (1..=jobs).map(Reverse).collect(),
            retired: 0,
        }
    }

    pub(super) fn running(&self) -> usize {
        self.by_slot.len() - self.free.len() - self.retired
    }

    pub(super) fn free(&self) -> usize {
        self.free.len()
    }

    /// The running jobs.
    pub(super) fn jobs(&self) -> impl Iterator<Item = &Running> {
        self.by_slot.iter().flatten()
    }

    /// The lowest free slot, taken.
    pub(super) fn take_free(&mut self) -> Option<usize> {
        self.free.pop().map(|Reverse(slot)| slot)
    }

    /// The lowest free slot for which `fits` holds, taken; else the lowest free slot.
    pub(super) fn take_free_preferring(&mut self, fits: impl Fn(usize) -> bool) -> Option<usize> {
        let mut passed = Vec::new();
        let mut chosen = None;
        while let Some(Reverse(slot)) = self.free.pop() {
            if fits(slot) {
                chosen = Some(slot);
                break;
            }
            passed.push(Reverse(slot));
        }
        self.free.extend(passed);
        chosen.or_else(|| self.take_free())
    }

    /// `slot`, taken if it is free.
    pub(super) fn take(&mut self, slot: usize) -> bool {
        let free = self.free.len();
        self.free.retain(|&Reverse(s)| s != slot);
        self.free.len() < free
    }

    /// A slot taken for a job that did not start, free again.
    pub(super) fn release(&mut self, slot: usize) {
        self.free.push(Reverse(slot));
    }

    /// A slot taken with [`take_free`](Table::take_free) that no job will use again.
    pub(super) fn retire(&mut self, _slot: usize) {
        self.retired += 1;
    }

    /// A started job, in the slot it was started in.
    pub(super) fn put(&mut self, running: Running) {
        let slot = running.slot;
        self.by_slot[slot - 1] = Some(running);
    }

    /// The job in `slot`, whose slot is free again.
    pub(super) fn remove(&mut self, slot: usize) -> Running {
        let running = self.by_slot[slot - 1].take().expect("a running job");
        self.release(slot);
        running
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn a_preferred_slot_is_taken_and_the_others_stay_free_in_order() {
        let mut table = Table::new(4);
        assert_eq!(table.take_free_preferring(|slot| slot % 2 == 0), Some(2));
        assert_eq!(table.take_free_preferring(|_| false), Some(1));
        assert_eq!(table.take_free(), Some(3));
        assert_eq!(table.take_free(), Some(4));
        assert_eq!(table.take_free_preferring(|_| true), None);
    }
}
