//! Running termination sequences: one child's ([`Child::terminate`], [`Child::supervise`],
//! [`Termination`]), or many children's at once, with shared waits ([`terminate_all`]).
//!
//! One loop drives every child: each has a cursor into its own [`TermSeq`](crate::TermSeq) and
//! the instant its current wait ends. A round sends every step that is due, to every child still
//! alive, then sleeps in one `poll` on all their pidfds (and the stop's eventfd) until the
//! earliest wait ends, a child exits, or the stop is forced. Sixteen children with a 3 s sequence
//! take 3 s, not 48.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use super::core::{Child, EndedBy, Exit};
use super::sys::{self, Seen, Waker};
use crate::stop::Stop;
use crate::termseq::TermStep;

impl Child {
    /// Runs the termination sequence now, and returns how the child ended.
    ///
    /// Each signal goes to the process group (see [`signal`](Child::signal)); after each signal
    /// other than KILL (and the stop signals STOP, TSTP, TTIN, TTOU, CONT), SIGCONT follows, since
    /// a stopped process acts on a caught signal only once continued. Each wait ends early when
    /// the child exits. When the leader has exited, the rest of its group gets SIGKILL before the
    /// leader is reaped. With `stop` forcing, or becoming so during a wait, the sequence jumps to
    /// its final SIGKILL. After SIGKILL it waits for the child without limit (SIGKILL cannot be
    /// caught; only a process stuck in the kernel takes long).
    ///
    /// A child that already ended is reaped after its group gets SIGKILL; one already reaped
    /// returns its `Exit` again.
    pub fn terminate(&mut self, stop: Option<&Stop>) -> io::Result<Exit> {
        terminate_all(&mut [self], stop)
            .pop()
            .expect("one result per child")
    }

    /// Waits for the child to end; once `stop` is stopping, runs the termination sequence
    /// ([`terminate`](Child::terminate) with the stop, so forcing jumps to SIGKILL at once).
    ///
    /// A child that ends by itself before any stop is reaped as by [`try_wait`](Child::try_wait).
    /// Blocks in `poll` on the pidfd and an eventfd that the stop's phase changes write to.
    pub fn supervise(&mut self, stop: &Stop) -> io::Result<Exit> {
        let waker = sys::Waker::new(stop)?;
        loop {
            // Registered before this first look at the phase: no change can slip between.
            if stop.is_stopping() {
                drop(waker);
                return self.terminate(Some(stop));
            }
            if let Some(exit) = self.try_wait()? {
                return Ok(exit);
            }
            sys::wait_readable(&[self.pidfd.as_fd(), waker.fd()], None)?;
            waker.drain();
        }
    }
}

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

/// One child's walk through its termination sequence, for callers that drive many children
/// from their own event loop (a job runner polling pipes and pidfds) instead of blocking in
/// [`terminate_all`].
///
/// Call [`advance`](Termination::advance) when the loop wakes: it sends the steps that are due
/// and finishes the child once it has ended. Between calls, sleep until
/// [`next_due`](Termination::next_due) or until the child's pidfd is readable.
///
/// ```no_run
/// use brake::child::{Child, ChildOptions, Termination};
/// use std::process::Command;
/// use std::time::Instant;
///
/// let mut child = Child::spawn(&mut Command::new("sleep").arg("60"), &ChildOptions::default())?;
/// let mut termination = Termination::new();
/// let exit = loop {
///     if let Some(exit) = termination.advance(&mut child, false, Instant::now())? {
///         break exit;
///     }
///     // A real loop polls the child's pidfd with `termination.next_due()` as its deadline.
///     std::thread::sleep(std::time::Duration::from_millis(10));
/// };
/// assert!(exit.ended_by.is_some());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping it does nothing (the child's own drop kills what is left); a stop does nothing to
/// it by itself: pass `forcing` to jump to the final SIGKILL.
#[derive(Debug, Clone)]
pub struct Termination {
    next: usize,
    due: Due,
}

impl Default for Termination {
    fn default() -> Self {
        Termination::new()
    }
}

impl Termination {
    /// A sequence about to send its first step.
    pub fn new() -> Termination {
        Termination {
            next: 0,
            due: Due::Now,
        }
    }

    /// A sequence whose first step, a signal, was already sent to `child` by the signal
    /// handler (see `crate::first_step`): it is recorded as sent, and the sequence goes on
    /// from its second step. A sequence that does not begin with a signal begins as new.
    pub(crate) fn after_first_step(child: &mut Child) -> Termination {
        match child.termseq.steps().first() {
            Some(&TermStep::Signal(signal)) => {
                child.ended_by = Some(EndedBy { step: 0, signal });
                Termination {
                    next: 1,
                    due: Due::Now,
                }
            }
            _ => Termination::new(),
        }
    }

    /// A sequence that the signal handler cut short with SIGKILL (a stop forcing at once): it
    /// is recorded as the sequence's final step, and only the child's end is awaited.
    pub(crate) fn after_kill(child: &mut Child) -> Termination {
        let step = child.termseq.kill_step();
        child.ended_by = Some(EndedBy {
            step,
            signal: libc::SIGKILL,
        });
        Termination {
            next: child.termseq.steps().len(),
            due: Due::Never,
        }
    }

    /// When the next step is due; `None` when only the child's end is awaited (the sequence
    /// is over, or a wait too long to represent).
    pub fn next_due(&self) -> Option<Instant> {
        match self.due {
            Due::Now => Some(Instant::now()),
            Due::At(at) => Some(at),
            Due::Never => None,
        }
    }

    /// Finishes `child` if it has ended (what is left of its group gets SIGKILL, then it is
    /// reaped) and returns its `Exit`; otherwise sends every step due at `now`, or jumps to
    /// the final SIGKILL when `forcing`, and returns `None`.
    pub fn advance(
        &mut self,
        child: &mut Child,
        forcing: bool,
        now: Instant,
    ) -> io::Result<Option<Exit>> {
        match child.look()? {
            seen @ (Seen::Exited | Seen::Reaped) => return child.finish_terminated(seen).map(Some),
            Seen::Running => {}
        }
        let kill_step = child.termseq.kill_step();
        if forcing && self.next <= kill_step {
            child.send_step(kill_step, libc::SIGKILL)?;
            self.next = child.termseq.steps().len();
            self.due = Due::Never;
            return Ok(None);
        }
        loop {
            let due = match self.due {
                Due::Now => true,
                Due::At(at) => now >= at,
                Due::Never => false,
            };
            if !due {
                return Ok(None);
            }
            match child.termseq.steps().get(self.next).copied() {
                None => {
                    self.due = Due::Never;
                    return Ok(None);
                }
                Some(TermStep::Signal(signal)) => {
                    child.send_step(self.next, signal)?;
                    self.due = Due::Now;
                }
                Some(TermStep::Wait(wait)) => {
                    self.due = now.checked_add(wait).map_or(Due::Never, Due::At);
                }
            }
            self.next += 1;
        }
    }
}

/// One child's progress in [`terminate_all`].
struct Run {
    termination: Termination,
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
    let starts = children.iter().map(|_| Termination::new()).collect();
    terminate_all_from(children, starts, stop)
}

/// [`terminate_all`], with each child's sequence starting where `starts` says (see
/// [`Termination::after_first_step`]).
pub(crate) fn terminate_all_from(
    children: &mut [&mut Child],
    starts: Vec<Termination>,
    stop: Option<&Stop>,
) -> Vec<io::Result<Exit>> {
    // Without an eventfd (descriptors exhausted), the waits still end at each step's time, and
    // a forced stop is seen at the next one; the SIGKILL at the end is never lost.
    let waker = stop.and_then(|stop| Waker::new(stop).ok());
    let mut runs: Vec<Run> = starts
        .into_iter()
        .map(|termination| Run {
            termination,
            result: None,
        })
        .collect();
    loop {
        // The eventfd was registered before this look at the phase: no change slips between.
        let forcing = stop.is_some_and(Stop::is_forcing);
        let now = Instant::now();
        for (child, run) in children.iter_mut().zip(runs.iter_mut()) {
            if run.result.is_none() {
                run.result = run.termination.advance(child, forcing, now).transpose();
            }
        }
        let pending: Vec<(BorrowedFd<'_>, Due)> = children
            .iter()
            .zip(&runs)
            .filter(|(_, run)| run.result.is_none())
            .map(|(child, run)| (child.pidfd.as_fd(), run.termination.due))
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
