//! What the run shows of its progress while it lasts: the counts behind the stop's notice
//! (`brake: stopping — 8 running, 992 not started …`) and the `--bar` progress bar.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brake::{Activity, ForcedWork, Notice, NoticeEvent, Stop, Subscription};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts shared with the stop's notice (read from the signal watcher thread) and the input
/// thread.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) running: AtomicUsize,
    /// Jobs read from the input.
    pub(super) read: AtomicU64,
    /// Jobs started (first attempts) or skipped: no longer waiting.
    pub(super) consumed: AtomicU64,
    /// Set by the input thread when it has read all of the input.
    pub(super) input_complete: AtomicBool,
}

/// The counters, the bar and the run's clock, reported to the stop for its notice.
///
/// The bar shows this run's work only: it is drawn once the joblog has been checked (so a
/// refusal never lands on its line), a job skipped on resume shortens it rather than moving
/// it (so the ETA is that of the jobs left to run), and the stop's notice clears it for good.
pub(super) struct Progress {
    pub(super) counters: Arc<Counters>,
    pub(super) bar: Option<ProgressBar>,
    pub(super) started: Instant,
    /// The bar is drawn ([`show`](Progress::show) was called).
    shown: bool,
    _activity: Subscription,
}

impl Progress {
    /// The progress of a run of `total` jobs (when known), with a bar if `bar`.
    pub(super) fn new(bar: bool, total: Option<u64>, stop: &Stop) -> Progress {
        let counters = Arc::new(Counters::default());
        let bar = progress_bar(bar, total);
        stop.set_notice(notice(bar.clone()));
        let activity = {
            let counters = Arc::clone(&counters);
            stop.report_activity(move || counters.activity(total))
        };
        Progress {
            counters,
            bar,
            started: Instant::now(),
            shown: false,
            _activity: activity,
        }
    }

    /// Draws the bar from now on, its clock starting now.
    pub(super) fn show(&mut self) {
        if self.shown {
            return;
        }
        self.shown = true;
        if let Some(bar) = &self.bar {
            bar.reset();
            let stderr = console::Term::stderr();
            if stderr.is_term() {
                bar.set_draw_target(ProgressDrawTarget::term_like(Box::new(Narrower(stderr))));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// A job skipped on resume: one job fewer for this run to do.
    pub(super) fn skipped(&self) {
        self.consumed();
        if let Some(bar) = self.bar.as_ref().filter(|bar| bar.length().is_some()) {
            bar.dec_length(1);
        }
    }

    /// A job started; a first attempt is one job fewer waiting.
    pub(super) fn started(&self, first: bool) {
        if first {
            self.consumed();
        }
        self.counters.running.fetch_add(1, Ordering::Relaxed);
    }

    /// A running job ended (or was lost track of).
    pub(super) fn ended(&self) {
        self.counters.running.fetch_sub(1, Ordering::Relaxed);
    }

    /// One job fewer waiting: it started, could not start, or was skipped.
    pub(super) fn consumed(&self) {
        self.counters.consumed.fetch_add(1, Ordering::Relaxed);
    }

    /// Jobs no longer waiting.
    pub(super) fn consumed_so_far(&self) -> u64 {
        self.counters.consumed.load(Ordering::Relaxed)
    }

    /// One more job of this run counted.
    pub(super) fn tick(&self) {
        if let Some(bar) = &self.bar {
            if bar.position() == 0 && bar.length().is_some() {
                set_template(bar, WITH_ETA);
            }
            bar.inc(1);
        }
    }

    /// The bar gone, leaving the terminal to the output and the summary.
    pub(super) fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Counters {
    fn activity(&self, total: Option<u64>) -> Activity {
        let known = total.unwrap_or_else(|| self.read.load(Ordering::Relaxed));
        let waiting = known.saturating_sub(self.consumed.load(Ordering::Relaxed));
        Activity {
            running: self.running.load(Ordering::Relaxed),
            not_started: usize::try_from(waiting).unwrap_or(usize::MAX),
        }
    }
}

/// The stop's one-line notices. The bar, if drawn, is cleared for good first: once the run
/// stops, its count would only go stale above the notices and the summary.
fn notice(bar: Option<ProgressBar>) -> Notice {
    Notice::custom(move |event: &NoticeEvent| {
        let line = event.line(ForcedWork::Killing)?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        Some(line)
    })
}

fn progress_bar(wanted: bool, total: Option<u64>) -> Option<ProgressBar> {
    if !wanted {
        return None;
    }
    // Hidden until `show`.
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
    let template = if total.is_some() {
        // No ETA before a job has ended: with no rate yet it would read 0 s.
        "{elapsed_precise} [{wide_bar}] {pos}/{len}"
    } else {
        "{elapsed_precise} {spinner} {pos} done"
    };
    set_template(&bar, template);
    Some(bar)
}

/// The bar's ETA, once a job has ended and there is a rate to go by.
const WITH_ETA: &str = "{elapsed_precise} [{wide_bar}] {pos}/{len} ETA {eta}";

fn set_template(bar: &ProgressBar, template: &str) {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
}

/// stderr as the bar sees it: a few columns narrower than it is. indicatif pads the bar's line
/// to the terminal's width; the `^C` a terminal echoes would then wrap onto a line of its own,
/// and clearing the bar before the stop's notice would clear only the echo, leaving a stale
/// bar on screen. With room to spare, the echo lands on the bar's line and goes with it.
#[derive(Debug)]
struct Narrower(console::Term);

/// Columns kept free at the end of the bar's line: room for `^C` (or `^\`).
const ECHO_ROOM: u16 = 3;

impl indicatif::TermLike for Narrower {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(ECHO_ROOM).max(1)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}
