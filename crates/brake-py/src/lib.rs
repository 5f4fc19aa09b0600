//! brake for Python: the native core of the `brake` package (`brake._native`), process pools
//! whose one Ctrl-C stops everything.
//!
//! The pools themselves (`brake.ProcessPoolExecutor`, `brake.Pool`) are Python, in
//! `python/brake/`; this crate is the part that must not depend on the interpreter being free
//! to run: the SIGINT hook ([`hook`]), the supervisor thread that spawns, feeds and stops the
//! workers ([`supervisor`], on `brake::child`; [`escape`] tells it when the sweep for
//! escaped processes can be skipped), the pipe format ([`wire`]), and the worker's
//! end of the pipes ([`channel`]), and the epoch the main thread's waits sleep on
//! ([`epoch`]). Every wait here releases the GIL; a wait of the main thread wakes on a signal
//! or a move of the epoch and calls `PyErr_CheckSignals`, so a Ctrl-C raises
//! `KeyboardInterrupt` at once.

#![cfg(target_os = "linux")]

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

pub mod channel;
pub mod epoch;
pub mod escape;
pub mod hook;
pub mod supervisor;
pub mod wire;

use supervisor::{Config, Shared};

/// One pool's native core: the queue, the supervisor thread and its workers.
///
/// Dropping it closes the pool: queued tasks still run, then the workers exit.
#[pyclass(frozen, module = "brake._native")]
struct Core {
    shared: Arc<Shared>,
}

#[pymethods]
impl Core {
    #[new]
    #[pyo3(signature = (argv, env, workers, init, termseq, max_tasks, marker))]
    fn new(
        argv: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
        workers: usize,
        init: &[u8],
        termseq: &str,
        max_tasks: Option<usize>,
        marker: (String, String),
    ) -> PyResult<Core> {
        if argv.is_empty() || workers == 0 {
            return Err(PyValueError::new_err("a pool needs a command and a worker"));
        }
        let termseq = termseq
            .parse()
            .map_err(|err: brake::TermSeqError| PyValueError::new_err(err.to_string()))?;
        let config = Config {
            argv,
            env,
            workers,
            init: init.to_vec(),
            termseq,
            max_tasks: max_tasks.filter(|&max| max > 0),
            marker,
        };
        let shared =
            supervisor::start(config).map_err(|err| PyOSError::new_err(err.to_string()))?;
        Ok(Core { shared })
    }

    /// Queues task `id` (unique in this pool; its event carries it): the pickled function and
    /// the pickled `(args, kwargs)`. Returns False when the pool takes no more tasks.
    fn submit(&self, id: u64, function: &[u8], call: &[u8]) -> bool {
        self.shared.submit(id, wire::task(function, call))
    }

    /// Takes a task out of the queue if no worker has it; returns whether it did.
    fn cancel(&self, id: u64) -> bool {
        self.shared.cancel(id)
    }

    /// Ends every queued task as not started.
    fn cancel_queued(&self) {
        self.shared.cancel_queued();
    }

    /// No more tasks; the workers exit once the queue is done.
    fn close(&self) {
        self.shared.close();
    }

    /// Stops the pool as a Ctrl-C does.
    fn stop(&self) {
        self.shared.stop();
    }

    /// SIGKILL to every worker.
    fn force(&self) {
        self.shared.force();
    }

    /// Whether a Ctrl-C came since the pool was made.
    #[getter]
    fn pressed(&self) -> bool {
        self.shared.stopping()
    }

    /// For the thread that hands results out: every event so far as (id, kind, payload)
    /// tuples, waiting up to `timeout` seconds (None: without limit) for one; and whether the
    /// pool has ended. Releases the GIL while it waits; never looks at signals.
    #[pyo3(signature = (timeout=None))]
    fn take_events<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> (Vec<(u64, u8, Bound<'py, PyBytes>)>, bool) {
        let timeout = timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
        // The batch taken before this call has been handed out: waiters may look again.
        epoch::bump();
        let shared = Arc::clone(&self.shared);
        let (events, ended) = py.detach(move || shared.take_events(timeout));
        let events = events
            .into_iter()
            .map(|event| (event.id, event.kind as u8, PyBytes::new(py, &event.payload)))
            .collect();
        (events, ended)
    }

    /// For the main thread: waits up to `timeout` seconds (None: without limit) for every
    /// worker to be gone; returns whether they are. Raises what a signal handler raises
    /// (`KeyboardInterrupt`) as soon as the signal comes.
    #[pyo3(signature = (timeout=None))]
    fn wait_ended(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let until = deadline(timeout);
        loop {
            let seen = epoch::current();
            if self.shared.ended() {
                return Ok(true);
            }
            if !sleep_epoch(py, seen, until)? {
                return Ok(false);
            }
        }
    }

    /// The pool's state: task counts, queued, running, worker pids, stopped, ended, broken,
    /// swept, cgroup.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.shared.snapshot();
        let dict = PyDict::new(py);
        let c = snap.counts;
        dict.set_item("done", c.done)?;
        dict.set_item("failed", c.failed)?;
        dict.set_item("interrupted", c.interrupted)?;
        dict.set_item("not_started", c.not_started)?;
        dict.set_item("killed", c.killed)?;
        dict.set_item("died", c.died)?;
        dict.set_item("broken", c.broken)?;
        dict.set_item("queued", snap.queued)?;
        dict.set_item("running", snap.running)?;
        dict.set_item("pids", snap.pids)?;
        dict.set_item("stopped", snap.stopped)?;
        dict.set_item("ended", snap.ended)?;
        dict.set_item(
            "broken_reason",
            snap.broken.map(|why| PyBytes::new(py, &why)),
        )?;
        dict.set_item("swept", snap.swept)?;
        dict.set_item("cgroup", snap.cgroup)?;
        Ok(dict)
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The instant `timeout` seconds from now; `None` without a timeout (or one too far to say).
fn deadline(timeout: Option<f64>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs_f64(t.clamp(0.0, 1e9))))
}

/// Sleeps while the epoch is `seen`, until `until` at the latest, with the GIL released;
/// then raises what a signal handler raises. Returns false once `until` has passed.
fn sleep_epoch(py: Python<'_>, seen: u32, until: Option<Instant>) -> PyResult<bool> {
    let left = match until {
        None => None,
        Some(until) => {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                py.check_signals()?;
                return Ok(false);
            }
            Some(left)
        }
    };
    py.detach(move || epoch::wait(seen, left));
    py.check_signals()?;
    Ok(true)
}

/// The wake-up epoch now: read it, check a condition, then [`wait_epoch`] on the value read.
#[pyfunction]
fn current_epoch() -> u32 {
    epoch::current()
}

/// Sleeps while the epoch is still `seen`, up to `timeout` seconds (None: without limit):
/// until results were handed out, a pool ended, or a Ctrl-C came. Raises what a signal handler
/// raises (`KeyboardInterrupt`). Returns False once the timeout is over, True otherwise
/// (which says nothing about the caller's condition).
#[pyfunction]
#[pyo3(signature = (seen, timeout=None))]
fn wait_epoch(py: Python<'_>, seen: u32, timeout: Option<f64>) -> PyResult<bool> {
    sleep_epoch(py, seen, deadline(timeout))
}

/// Moves the wake-up epoch: brake's waits look at their conditions again.
#[pyfunction]
fn wake() {
    epoch::bump();
}

/// Ctrl-C presses this process has had since brake's hook was installed.
#[pyfunction]
fn presses() -> u64 {
    hook::PRESSES.load(std::sync::atomic::Ordering::SeqCst)
}

/// The native core of the `brake` package.
#[pymodule(name = "_native", gil_used = true)]
mod native {
    #[pymodule_export]
    use super::channel::WorkerChannel;
    #[pymodule_export]
    use super::current_epoch;
    #[pymodule_export]
    use super::presses;
    #[pymodule_export]
    use super::wait_epoch;
    #[pymodule_export]
    use super::wake;
    #[pymodule_export]
    use super::Core;
}
