//! The termination sequence: which signals end a child, and how long to wait between them.
//!
//! # Theory of operation
//!
//! A [`TermSeq`] is GNU parallel's `--termseq` written as data: signals and waits in turn,
//! `SIG,MS,SIG,MS,…,SIG`. The default, `INT,2000,TERM,1000,KILL`, asks politely (what Ctrl-C
//! would have sent), then firmly, then ends it. [`Child::terminate`](crate::child::Child::terminate)
//! walks it: each signal goes to the child's process group, each wait ends early when the child
//! does, and a forced stop jumps straight to the final `KILL`.
//!
//! Every sequence ends in `KILL` (one that does not gets it appended when parsed), so no child
//! outlives its termination. A wait may follow the final `KILL` (GNU parallel's own default ends
//! `KILL,25`); it is kept, so the text round-trips, but changes nothing: after `KILL` brake always
//! waits for the child to die.
//!
//! ```
//! use brake::{TermSeq, TermStep};
//! use std::time::Duration;
//!
//! let seq: TermSeq = "sigterm,500,TERM".parse()?;
//! assert_eq!(seq.to_string(), "TERM,500,TERM,KILL"); // KILL appended
//! assert_eq!(seq.steps()[1], TermStep::Wait(Duration::from_millis(500)));
//! assert_eq!(TermSeq::default().to_string(), "INT,2000,TERM,1000,KILL");
//! # Ok::<(), brake::TermSeqError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::signame::{short_name, signal_by_name, MAX_SIGNAL};

/// An example of the syntax, quoted in every parse error.
const EXAMPLE: &str = "INT,2000,TERM,1000,KILL";

/// Whether a signal sent as a step of a sequence is followed by SIGCONT: a stopped process acts
/// on a caught signal only once continued. Not after KILL, which needs no continuing, nor after
/// the job-control signals STOP, TSTP, TTIN, TTOU and CONT: a CONT would undo the first four
/// (a sequence that starts with TSTP means to stop the job) and only repeat the last.
pub(crate) fn continue_after(signal: i32) -> bool {
    ![
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGCONT,
    ]
    .contains(&signal)
}

/// One step of a [`TermSeq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TermStep {
    /// Send this signal (to the child's process group).
    Signal(i32),
    /// Wait this long for the child to end before the next step; ends early when it does.
    Wait(Duration),
}

/// A termination sequence: signals and waits in turn, GNU parallel's `--termseq` syntax
/// (`INT,2000,TERM,1000,KILL`, the default), always ending in `SIGKILL`.
///
/// [`Child::terminate`](crate::child::Child::terminate) walks it: each signal goes to the
/// child's process group, each wait ends early when the child does, and a forced stop jumps to
/// the final `KILL`. Parse one with [`str::parse`]; see [`TermSeq::from_str`] for the syntax.
///
/// ```
/// use brake::{TermSeq, TermStep};
/// use std::time::Duration;
///
/// let seq: TermSeq = "sigterm,500,TERM".parse()?;
/// assert_eq!(seq.to_string(), "TERM,500,TERM,KILL"); // KILL appended
/// assert_eq!(seq.steps()[1], TermStep::Wait(Duration::from_millis(500)));
/// # Ok::<(), brake::TermSeqError>(())
/// ```
///
/// A `TermSeq` is plain data: dropping it does nothing, and a stop does nothing to it. It is
/// [`Child::terminate`](crate::child::Child::terminate) that acts on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TermSeq {
    steps: Vec<TermStep>,
}

impl TermSeq {
    /// The steps, in order. The last [`TermStep::Signal`] is always `SIGKILL`.
    pub fn steps(&self) -> &[TermStep] {
        &self.steps
    }

    /// The sum of the waits: how long the whole sequence takes against a child that ignores
    /// everything but `SIGKILL`.
    pub fn total_wait(&self) -> Duration {
        self.steps
            .iter()
            .map(|step| match *step {
                TermStep::Wait(wait) => wait,
                TermStep::Signal(_) => Duration::ZERO,
            })
            .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// `signal`, then a wait that only the child's end or a forced stop ends, then `SIGKILL`:
    /// a sequence whose timing is the stop's grace period.
    pub(crate) fn until_forced(signal: i32) -> TermSeq {
        TermSeq {
            steps: vec![
                TermStep::Signal(signal),
                TermStep::Wait(Duration::MAX),
                TermStep::Signal(libc::SIGKILL),
            ],
        }
    }

    /// The index in [`steps`](TermSeq::steps) of the final `SIGKILL`, where a forced stop jumps.
    pub(crate) fn kill_step(&self) -> usize {
        self.steps
            .iter()
            .rposition(|step| *step == TermStep::Signal(libc::SIGKILL))
            .expect("a TermSeq always holds a final SIGKILL")
    }
}

impl Default for TermSeq {
    /// `INT,2000,TERM,1000,KILL`.
    fn default() -> Self {
        TermSeq {
            steps: vec![
                TermStep::Signal(libc::SIGINT),
                TermStep::Wait(Duration::from_millis(2000)),
                TermStep::Signal(libc::SIGTERM),
                TermStep::Wait(Duration::from_millis(1000)),
                TermStep::Signal(libc::SIGKILL),
            ],
        }
    }
}

/// Why a `--termseq` text was refused. Its message is one line that quotes the text, names the
/// bad part, and shows the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --termseq {text:?}: {problem} (expected e.g. {EXAMPLE})")]
pub struct TermSeqError {
    text: String,
    problem: String,
}

impl TermSeqError {
    fn new(text: &str, problem: String) -> Self {
        TermSeqError {
            text: text.to_owned(),
            problem,
        }
    }

    /// The text that was refused.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What one comma-separated item is, by itself.
enum Item {
    Name(i32),
    Number(u64),
}

fn classify(part: &str) -> Result<Item, String> {
    if let Some(signal) = signal_by_name(part) {
        return Ok(Item::Name(signal));
    }
    let digits = part.strip_prefix('+').unwrap_or(part);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits
            .parse()
            .map(Item::Number)
            .map_err(|_| format!("{part:?} milliseconds is too large"));
    }
    let negative = part.strip_prefix('-').unwrap_or("");
    if !negative.is_empty() && negative.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{part:?} is negative; waits are milliseconds, 0 or more"
        ));
    }
    Err(format!(
        "{part:?} is not a signal name or a number of milliseconds"
    ))
}

fn as_signal_number(number: u64) -> Option<i32> {
    i32::try_from(number)
        .ok()
        .filter(|n| (1..=MAX_SIGNAL).contains(n))
}

impl FromStr for TermSeq {
    type Err = TermSeqError;

    /// Parses `SIG,MS,SIG,MS,…,SIG`.
    ///
    /// * A signal is a name, with or without `SIG`, in any case (`INT`, `sigterm`), or a
    ///   number from 1 to 64 where no wait can stand: first, or right after a wait.
    /// * A number right after a signal is a wait in milliseconds. Two signals in a row are
    ///   allowed (`TERM,CONT`); two waits in a row are not, nor is a wait first.
    /// * A sequence whose last signal is not `KILL` gets `KILL` appended, so no child
    ///   outlives it; a wait may end the text (`INT,2000` means `INT,2000,KILL`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |problem: String| TermSeqError::new(text, problem);
        if text.trim().is_empty() {
            return Err(err("it is empty".into()));
        }
        let mut steps = Vec::new();
        for (index, raw) in text.split(',').enumerate() {
            let part = raw.trim();
            if part.is_empty() {
                return Err(err(format!("item {} is empty", index + 1)));
            }
            let item = classify(part).map_err(&err)?;
            let after_signal = matches!(steps.last(), Some(TermStep::Signal(_)));
            let step = match item {
                Item::Name(signal) => TermStep::Signal(signal),
                Item::Number(ms) if after_signal => TermStep::Wait(Duration::from_millis(ms)),
                Item::Number(number) => match as_signal_number(number) {
                    Some(signal) => TermStep::Signal(signal),
                    None if steps.is_empty() => {
                        return Err(err(format!(
                            "it starts with the wait {part:?}; the first item must be a signal"
                        )))
                    }
                    None => {
                        let previous = text.split(',').nth(index - 1).unwrap_or("").trim();
                        return Err(err(format!(
                            "{part:?} follows the wait {previous:?}: two waits in a row"
                        )));
                    }
                },
            };
            steps.push(step);
        }
        let last_signal = steps.iter().rev().find_map(|step| match *step {
            TermStep::Signal(signal) => Some(signal),
            TermStep::Wait(_) => None,
        });
        if last_signal != Some(libc::SIGKILL) {
            steps.push(TermStep::Signal(libc::SIGKILL));
        }
        Ok(TermSeq { steps })
    }
}

impl fmt::Display for TermSeq {
    /// The canonical text, such as `INT,2000,TERM,1000,KILL`; it parses back to the same sequence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, step) in self.steps.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            match *step {
                TermStep::Signal(signal) => match short_name(signal) {
                    Some(name) => f.write_str(name)?,
                    None => write!(f, "{signal}")?,
                },
                TermStep::Wait(wait) => write!(f, "{}", wait.as_millis())?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_step_is_the_last_kill() {
        assert_eq!(TermSeq::default().kill_step(), 4);
        let seq: TermSeq = "KILL,10,TERM".parse().unwrap();
        assert_eq!(seq.kill_step(), 3);
        let seq: TermSeq = "TERM,200,KILL,25".parse().unwrap();
        assert_eq!(seq.kill_step(), 2);
    }

    #[test]
    fn numbers_are_signals_only_where_no_wait_can_stand() {
        let seq: TermSeq = "15,100,9".parse().unwrap();
        assert_eq!(seq.to_string(), "TERM,100,KILL");
        let seq: TermSeq = "INT,15".parse().unwrap();
        assert_eq!(seq.to_string(), "INT,15,KILL");
        let seq: TermSeq = "40,10,KILL".parse().unwrap();
        assert_eq!(seq.to_string(), "40,10,KILL");
        assert_eq!(crate::signame::signal_name(40), "signal 40");
    }

    #[test]
    fn aliases_print_canonically() {
        let seq: TermSeq = "SIGIOT,1,cld,1,poll".parse().unwrap();
        assert_eq!(seq.to_string(), "ABRT,1,CHLD,1,IO,KILL");
    }
}
