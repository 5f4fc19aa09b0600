//! Running termination sequences against many children at once, with shared waits.
//!
//! One loop drives every child: each has a cursor into its own [`TermSeq`](crate::TermSeq) and
//! the instant its current wait ends. A round sends every step that is due, to every child still
//! alive, then sleeps in one `poll` on all their pidfds (and the stop's eventfd) until the
//! earliest wait ends, a child exits, or the stop is forced. Sixteen children with a 3 s sequence
//! take 3 s, not 48.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use super::sys::{self, Seen, Waker};
use super::{Child, Exit};
use crate::stop::Stop;
use crate::termseq::TermStep;

/// When a child's next step is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Now.
    Now,
    /// When its current wait ends.
    At(Instant),
    /// Never: the sequence is over (or a wait too long to represent); only the child's end is
    /// awaited.
    Never,
}

/// One child's progress through its sequence.
struct Run {
    next: usize,
    due: Due,
    result: Option<io::Result<Exit>>,
}

/// Runs the termination sequence against all `children` at once and returns how each ended, in
/// the same order.
///
/// Each step is applied to every child still alive, and the waits are shared: the whole call
/// takes as long as the longest sequence, not their sum. Children may have different sequences;
/// each follows its own. A child that exits during a wait is finished at once (what is left of
/// its group gets SIGKILL, then it is reaped) while the others go on. If `stop` is forcing, or
/// becomes so during a wait, every child jumps to its final SIGKILL.
///
/// See [`Child::terminate`] for what one child goes through. An error for one child (a signal
/// refused with EPERM, say) is its result; the others are not affected.
pub fn terminate_all(children: &mut [&mut Child], stop: Option<&Stop>) -> Vec<io::Result<Exit>> {
    // Without an eventfd (descriptors exhausted), the waits still end at each step's time, and
    // a forced stop is seen at the next one; the SIGKILL at the end is never lost.
    let waker = stop.and_then(|stop| Waker::new(stop).ok());
    let mut runs: Vec<Run> = children
        .iter()
        .map(|_| Run {
            next: 0,
            due: Due::Now,
            result: None,
        })
        .collect();
    loop {
        // The eventfd was registered before this look at the phase: no change slips between.
        let forcing = stop.is_some_and(Stop::is_forcing);
        let now = Instant::now();
        for (child, run) in children.iter_mut().zip(runs.iter_mut()) {
            if run.result.is_none() {
                run.result = round(child, run, forcing, now).transpose();
            }
        }
        let pending: Vec<(BorrowedFd<'_>, Due)> = children
            .iter()
            .zip(&runs)
            .filter(|(_, run)| run.result.is_none())
            .map(|(child, run)| (child.pidfd.as_fd(), run.due))
            .collect();
        if pending.is_empty() {
            break;
        }
        let until = pending
            .iter()
            .filter_map(|&(_, due)| match due {
                Due::At(at) => Some(at),
                Due::Now | Due::Never => None,
            })
            .min();
        let mut fds: Vec<BorrowedFd<'_>> = pending.iter().map(|&(fd, _)| fd).collect();
        fds.extend(waker.as_ref().map(Waker::fd));
        if let Err(err) = sys::wait_readable(&fds, until) {
            // Cannot wait: finish every pending child with the error rather than spin.
            drop(fds);
            drop(pending);
            for run in runs.iter_mut().filter(|run| run.result.is_none()) {
                run.result = Some(Err(io::Error::new(err.kind(), err.to_string())));
            }
            break;
        }
        if let Some(waker) = &waker {
            waker.drain();
        }
    }
    runs.into_iter()
        .map(|run| run.result.expect("every run ends with a result"))
        .collect()
}

/// One round for one child: finishes it if it ended, otherwise sends the steps that are due.
/// `Some` when the child is done (ended and reaped, or failed).
fn round(
    child: &mut Child,
    run: &mut Run,
    forcing: bool,
    now: Instant,
) -> io::Result<Option<Exit>> {
    match child.look()? {
        Seen::Ended | Seen::Reaped => return child.finish_terminated().map(Some),
        Seen::Running => {}
    }
    let kill_step = child.termseq.kill_step();
    if forcing && run.next <= kill_step {
        child.send_step(kill_step, libc::SIGKILL)?;
        run.next = child.termseq.steps().len();
        run.due = Due::Never;
        return Ok(None);
    }
    loop {
        let due = match run.due {
            Due::Now => true,
            Due::At(at) => now >= at,
            Due::Never => false,
        };
        if !due {
            return Ok(None);
        }
        match child.termseq.steps().get(run.next).copied() {
            None => {
                run.due = Due::Never;
                return Ok(None);
            }
            Some(TermStep::Signal(signal)) => {
                child.send_step(run.next, signal)?;
                run.due = Due::Now;
            }
            Some(TermStep::Wait(wait)) => {
                run.due = now.checked_add(wait).map_or(Due::Never, Due::At);
            }
        }
        run.next += 1;
    }
}
