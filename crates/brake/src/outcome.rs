//! How each piece of work ended ([`Outcome`]) and how a whole run ended ([`Report`]).
//!
//! Every pool in brake reports through these two types, so a program that mixes threads, processes
//! and async tasks reads one vocabulary: work that finished (`Done`), failed (`Failed`), panicked
//! (`Panicked`), never started because of a stop (`Cancelled`), was cut short by a stop
//! (`Interrupted`), or had to be killed (`Killed`).

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use crate::stop::{Reason, Stop, Stopped};

/// How one task ended.
///
/// `Cancelled` and `Interrupted` are the two faces of a stop: the first never ran, the second was
/// running. A task that finished its work after the stop began is still `Done`: finished results
/// are kept, whenever they arrive.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<T> {
    /// The task returned `Ok(value)`.
    Done(T),
    /// The task returned an error other than [`Stopped`].
    Failed(TaskError),
    /// The task panicked; the panic message, when it was a string.
    Panicked(String),
    /// A stop came before the task started; it never ran.
    Cancelled,
    /// The task was running when the stop came: it returned `Err(Stopped)`, or it was still
    /// running when the stop was forced and was abandoned.
    Interrupted,
    /// The process running the task was killed by a signal.
    Killed(i32),
}

impl<T> Outcome<T> {
    /// The value of a `Done` outcome.
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(value) => Some(value),
            _ => None,
        }
    }

    /// True for `Done`.
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done(_))
    }

    /// Which kind of ending this is, without the payload.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Done(_) => OutcomeKind::Done,
            Outcome::Failed(_) => OutcomeKind::Failed,
            Outcome::Panicked(_) => OutcomeKind::Panicked,
            Outcome::Cancelled => OutcomeKind::Cancelled,
            Outcome::Interrupted => OutcomeKind::Interrupted,
            Outcome::Killed(_) => OutcomeKind::Killed,
        }
    }

    /// `Ok(value)` for `Done`, the way it did not finish otherwise: for `?` in code that
    /// handles one outcome at a time.
    ///
    /// ```
    /// use brake::{Outcome, OutcomeError};
    ///
    /// fn first_line(outcome: Outcome<String>) -> Result<usize, Box<dyn std::error::Error>> {
    ///     Ok(outcome.into_result()?.len())
    /// }
    /// assert_eq!(first_line(Outcome::Done("abc".into())).unwrap(), 3);
    /// let err = first_line(Outcome::Cancelled).unwrap_err();
    /// assert_eq!(err.to_string(), "not started: a stop came first");
    /// ```
    pub fn into_result(self) -> Result<T, OutcomeError> {
        match self {
            Outcome::Done(value) => Ok(value),
            Outcome::Failed(err) => Err(OutcomeError::Failed(err)),
            Outcome::Panicked(message) => Err(OutcomeError::Panicked(message)),
            Outcome::Cancelled => Err(OutcomeError::Cancelled),
            Outcome::Interrupted => Err(OutcomeError::Interrupted),
            Outcome::Killed(signal) => Err(OutcomeError::Killed(signal)),
        }
    }

    /// The outcome of a task body's return value: `Err(Stopped)` means the task noticed the stop
    /// and returned early, which is an interruption, not a failure.
    pub(crate) fn from_result(result: Result<T, TaskError>) -> Self {
        match result {
            Ok(value) => Outcome::Done(value),
            Err(err) if err.is_stopped() => Outcome::Interrupted,
            Err(err) => Outcome::Failed(err),
        }
    }
}

/// Why a task gave no value: every [`Outcome`] but `Done`, as a `std::error::Error`
/// (see [`Outcome::into_result`]). A failure's own error is its [`source`](StdError::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum OutcomeError {
    /// See [`Outcome::Failed`].
    Failed(TaskError),
    /// See [`Outcome::Panicked`].
    Panicked(String),
    /// See [`Outcome::Cancelled`].
    Cancelled,
    /// See [`Outcome::Interrupted`].
    Interrupted,
    /// See [`Outcome::Killed`].
    Killed(i32),
}

impl OutcomeError {
    /// Which kind of ending this is.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            OutcomeError::Failed(_) => OutcomeKind::Failed,
            OutcomeError::Panicked(_) => OutcomeKind::Panicked,
            OutcomeError::Cancelled => OutcomeKind::Cancelled,
            OutcomeError::Interrupted => OutcomeKind::Interrupted,
            OutcomeError::Killed(_) => OutcomeKind::Killed,
        }
    }

    /// True for the two faces of a stop: `Cancelled` and `Interrupted`.
    pub fn is_stop(&self) -> bool {
        matches!(self, OutcomeError::Cancelled | OutcomeError::Interrupted)
    }
}

impl fmt::Display for OutcomeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomeError::Failed(err) => write!(f, "failed: {err}"),
            OutcomeError::Panicked(message) => write!(f, "panicked: {message}"),
            OutcomeError::Cancelled => f.write_str("not started: a stop came first"),
            OutcomeError::Interrupted => f.write_str("interrupted by a stop"),
            OutcomeError::Killed(signal) => {
                write!(f, "killed by {}", crate::signame::signal_name(*signal))
            }
        }
    }
}

impl StdError for OutcomeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            OutcomeError::Failed(err) => Some(err.as_error()),
            _ => None,
        }
    }
}

/// The kind of an [`Outcome`], without its payload; what a [`Report`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// See [`Outcome::Done`].
    Done,
    /// See [`Outcome::Failed`].
    Failed,
    /// See [`Outcome::Panicked`].
    Panicked,
    /// See [`Outcome::Cancelled`].
    Cancelled,
    /// See [`Outcome::Interrupted`].
    Interrupted,
    /// See [`Outcome::Killed`].
    Killed,
}

/// The error a task returns: any `std::error::Error`, converted by `?`.
///
/// Like `anyhow::Error` it deliberately does not implement `std::error::Error` itself, so that
/// every error type converts into it. A task that sees the stop can return `Err(Stopped.into())`
/// (or use `stop.check()?`); that is reported as [`Outcome::Interrupted`], not as a failure.
pub struct TaskError {
    inner: Box<dyn StdError + Send + Sync + 'static>,
}

impl TaskError {
    /// An error from a plain message.
    pub fn msg(message: impl fmt::Display) -> Self {
        TaskError {
            inner: message.to_string().into(),
        }
    }

    /// True when the task returned because it saw the stop.
    pub fn is_stopped(&self) -> bool {
        self.inner.is::<Stopped>()
    }

    /// The underlying error.
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }

    /// The underlying error, owned.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.inner
    }
}

/// `?` on a [`TaskResult`] in a function that returns `Box<dyn Error + Send + Sync>`.
impl From<TaskError> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(err: TaskError) -> Self {
        err.inner
    }
}

/// `?` on a [`TaskResult`] in a function that returns `Box<dyn Error>`.
impl From<TaskError> for Box<dyn StdError + 'static> {
    fn from(err: TaskError) -> Self {
        err.inner
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for TaskError {
    fn from(err: E) -> Self {
        TaskError {
            inner: Box::new(err),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// What a task body returns: `Ok(value)` or any error (see [`TaskError`]).
pub type TaskResult<T> = Result<T, TaskError>;

/// How a whole run ended: how many tasks ended each way, and what stopped it.
///
/// The counts always add up to [`Report::total`]. `Display` gives one short paragraph, e.g.
/// `6 tasks in 1.52 s: 3 interrupted, 3 not started. Stopped by SIGINT (Ctrl-C).`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Tasks that returned a value.
    pub done: usize,
    /// Tasks that returned an error.
    pub failed: usize,
    /// Tasks that panicked.
    pub panicked: usize,
    /// Tasks that never started because of a stop.
    pub cancelled: usize,
    /// Tasks that were running when the stop came and did not finish.
    pub interrupted: usize,
    /// Tasks whose process was killed by a signal.
    pub killed: usize,
    /// Why the run was stopped, if it was.
    pub stopped_by: Option<Reason>,
    /// Whether the stop had to be forced (second signal, or grace period over).
    pub forced: bool,
    /// Wall time from the pool's start to the report.
    pub elapsed: Duration,
}

impl Report {
    /// Every task counted.
    pub fn total(&self) -> usize {
        self.done + self.failed + self.panicked + self.cancelled + self.interrupted + self.killed
    }

    /// The count of one kind.
    pub fn count(&self, kind: OutcomeKind) -> usize {
        match kind {
            OutcomeKind::Done => self.done,
            OutcomeKind::Failed => self.failed,
            OutcomeKind::Panicked => self.panicked,
            OutcomeKind::Cancelled => self.cancelled,
            OutcomeKind::Interrupted => self.interrupted,
            OutcomeKind::Killed => self.killed,
        }
    }

    /// Adds one outcome to the counts.
    pub fn record(&mut self, kind: OutcomeKind) {
        *match kind {
            OutcomeKind::Done => &mut self.done,
            OutcomeKind::Failed => &mut self.failed,
            OutcomeKind::Panicked => &mut self.panicked,
            OutcomeKind::Cancelled => &mut self.cancelled,
            OutcomeKind::Interrupted => &mut self.interrupted,
            OutcomeKind::Killed => &mut self.killed,
        } += 1;
    }

    /// True when every task is `Done` and nothing stopped the run.
    pub fn is_success(&self) -> bool {
        self.stopped_by.is_none() && self.done == self.total()
    }

    /// The process exit status this run calls for: 128 + signal number when a signal stopped it
    /// (130 after Ctrl-C), 1 when any task did not end `Done`, else 0.
    pub fn exit_code(&self) -> i32 {
        match self.stopped_by {
            Some(Reason::Signal(signal)) => crate::stop::exit_code_for_signal(signal),
            _ if self.is_success() => 0,
            _ => 1,
        }
    }
}

impl Report {
    /// [`Report::exit_code`] as the [`ExitCode`](std::process::ExitCode) `main` returns.
    pub fn to_exit_code(&self) -> std::process::ExitCode {
        std::process::ExitCode::from(u8::try_from(self.exit_code()).unwrap_or(1))
    }
}

/// `main` may return a `Report` (or `Result<Report, E>`): the process then exits with
/// [`Report::exit_code`] (130 after Ctrl-C). Print the report yourself if you want it shown.
impl std::process::Termination for Report {
    fn report(self) -> std::process::ExitCode {
        self.to_exit_code()
    }
}

/// What an in-process pool counts as tasks end: `Done`, `Failed`, `Panicked`, and `Interrupted`
/// (which takes every other kind a task can return with).
pub(crate) type EndCounts = [usize; 4];

/// Which of the [`EndCounts`] counters counts `kind`.
pub(crate) fn end_count_index(kind: OutcomeKind) -> usize {
    match kind {
        OutcomeKind::Done => 0,
        OutcomeKind::Failed => 1,
        OutcomeKind::Panicked => 2,
        _ => 3,
    }
}

impl Report {
    /// The report of an in-process pool from its counters, read in this order: `ended`, then
    /// `started`, then `submitted`. Each read is then at least as new as the one before, so the
    /// differences are never negative and the counts add up: tasks started and not ended are
    /// interrupted (abandoned at Forcing), tasks never started are cancelled.
    pub(crate) fn from_counts(
        ended: EndCounts,
        started: usize,
        submitted: usize,
        stop: &Stop,
        created: Instant,
    ) -> Report {
        let finished: usize = ended.iter().sum();
        let started = started.max(finished);
        let submitted = submitted.max(started);
        Report {
            done: ended[0],
            failed: ended[1],
            panicked: ended[2],
            interrupted: ended[3] + (started - finished),
            cancelled: submitted - started,
            stopped_by: stop.stopping().map(|t| t.reason),
            forced: stop.is_forcing(),
            elapsed: created.elapsed(),
            ..Report::default()
        }
    }
}

/// A panic's message, when it was a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let noun = if total == 1 { "task" } else { "tasks" };
        write!(f, "{total} {noun} in {:.2} s", self.elapsed.as_secs_f64())?;
        let parts = [
            (self.done, "done"),
            (self.failed, "failed"),
            (self.panicked, "panicked"),
            (self.interrupted, "interrupted"),
            (self.killed, "killed"),
            (self.cancelled, "not started"),
        ];
        let mut first = true;
        for (count, label) in parts.into_iter().filter(|(count, _)| *count > 0) {
            f.write_str(if first { ": " } else { ", " })?;
            write!(f, "{count} {label}")?;
            first = false;
        }
        f.write_str(".")?;
        if let Some(reason) = &self.stopped_by {
            write!(f, " Stopped by {reason}")?;
            if self.forced {
                f.write_str(", forced")?;
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_display_names_only_what_happened() {
        let mut report = Report {
            elapsed: Duration::from_millis(1520),
            stopped_by: Some(Reason::Signal(libc::SIGINT)),
            ..Report::default()
        };
        for _ in 0..3 {
            report.record(OutcomeKind::Interrupted);
            report.record(OutcomeKind::Cancelled);
        }
        assert_eq!(
            report.to_string(),
            "6 tasks in 1.52 s: 3 interrupted, 3 not started. Stopped by SIGINT (Ctrl-C)."
        );
        assert_eq!(report.exit_code(), 130);
        assert_eq!(report.total(), 6);
    }

    #[test]
    fn exit_code_reflects_failures_without_a_signal() {
        let mut report = Report::default();
        report.record(OutcomeKind::Done);
        assert_eq!(report.exit_code(), 0);
        report.record(OutcomeKind::Panicked);
        assert_eq!(report.exit_code(), 1);
        assert!(!report.is_success());
    }

    #[test]
    fn outcomes_fit_question_mark_code() {
        fn total(outcomes: Vec<Outcome<u32>>) -> Result<u32, Box<dyn StdError + Send + Sync>> {
            let mut sum = 0;
            for outcome in outcomes {
                sum += outcome.into_result()?;
            }
            Ok(sum)
        }
        fn task() -> Result<(), Box<dyn StdError>> {
            let result: TaskResult<()> = Err(TaskError::msg("disk full"));
            result?;
            Ok(())
        }
        assert_eq!(total(vec![Outcome::Done(1), Outcome::Done(2)]).unwrap(), 3);
        let failed = total(vec![Outcome::Failed(TaskError::msg("disk full"))]).unwrap_err();
        assert_eq!(failed.to_string(), "failed: disk full");
        assert_eq!(failed.source().unwrap().to_string(), "disk full");
        let killed = Outcome::<()>::Killed(libc::SIGKILL)
            .into_result()
            .unwrap_err();
        assert_eq!(killed.to_string(), "killed by SIGKILL");
        assert!(Outcome::<()>::Interrupted
            .into_result()
            .unwrap_err()
            .is_stop());
        assert_eq!(task().unwrap_err().to_string(), "disk full");
    }

    #[test]
    fn a_report_is_what_main_returns() {
        use std::process::{ExitCode, Termination};
        let report = Report {
            stopped_by: Some(Reason::Signal(libc::SIGINT)),
            ..Report::default()
        };
        assert_eq!(report.to_exit_code(), ExitCode::from(130));
        assert_eq!(report.report(), ExitCode::from(130));
        assert_eq!(Report::default().report(), ExitCode::SUCCESS);
    }

    #[test]
    fn stopped_error_is_an_interruption_not_a_failure() {
        let stopped: Outcome<()> = Outcome::from_result(Err(Stopped.into()));
        assert_eq!(stopped.kind(), OutcomeKind::Interrupted);
        let failed: Outcome<()> = Outcome::from_result(Err(TaskError::msg("disk full")));
        assert_eq!(failed.kind(), OutcomeKind::Failed);
    }
}
