//! Running an async `main` on a tokio runtime that a stop can always end (feature `tokio`):
//! [`run_async`] and [`run_async_on`].
//!
//! A dropped tokio runtime waits for every task stuck in blocking code (a loop with no
//! `.await`, a `spawn_blocking` closure), and `#[tokio::main]` drops its runtime when `main`
//! returns: one such task keeps the process alive after its report is printed. These runners
//! own the runtime instead, and shut it down on a thread of their own while the caller waits
//! only until the shutdown is over or the stop is forced, whichever comes first. What the
//! runtime still runs then is left behind, and ends with the process.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::thread;

use tokio::runtime::Runtime;

use crate::error::Error;
use crate::stop::{Phase, Stop};
use crate::sync::lock;

/// Runs `future` to its end on a new multi-thread tokio runtime (every driver enabled), then
/// shuts the runtime down without ever waiting past the stop's Forcing; see [`run_async_on`].
///
/// ```no_run
/// use brake::{Stop, TaskGroup};
///
/// fn main() -> Result<brake::Report, brake::Error> {
///     let stop = Stop::new();
///     stop.install_signals()?;
///     brake::run_async(&stop, async {
///         let group = TaskGroup::with_limit(&stop, 50);
///         for n in 0..1_000u64 {
///             group.spawn_with_stop(move |stop| async move {
///                 stop.sleep_async(std::time::Duration::from_millis(n)).await;
///                 stop.check()?;
///                 Ok(n)
///             });
///         }
///         group.join().await
///     })
/// }
/// ```
pub fn run_async<F: Future>(stop: &Stop, future: F) -> Result<F::Output, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    Ok(run_async_on(stop, runtime, future))
}

/// Runs `future` to its end on `runtime`, then shuts the runtime down the way dropping it
/// would (tasks are dropped at their next `.await`, blocking ones are waited for), but on a
/// thread of its own: this returns when the shutdown is over, or as soon as `stop` is forced,
/// whichever comes first. A task stuck in blocking code then cannot keep the program from
/// exiting: one Ctrl-C ends it after the grace period, a second at once.
///
/// Use it in place of `#[tokio::main]` when tasks may block, with the runtime built as the
/// program needs (current-thread, a number of workers, …).
pub fn run_async_on<F: Future>(stop: &Stop, runtime: Runtime, future: F) -> F::Output {
    let output = runtime.block_on(future);
    shut_down(stop, runtime);
    output
}

/// Drops `runtime` on a thread of its own, and waits for that until `stop` is forced.
fn shut_down(stop: &Stop, runtime: Runtime) {
    if stop.is_forcing() {
        runtime.shutdown_background();
        return;
    }
    let (ended, wait) = crossbeam_channel::bounded::<()>(2);
    let forced = ended.clone();
    let _subscription = stop.on_change(move |phase| {
        if phase == Phase::Forcing {
            let _ = forced.try_send(());
        }
    });
    // Shared, so that a thread that cannot be started hands the runtime back.
    let slot = Arc::new(Mutex::new(Some(runtime)));
    let theirs = slot.clone();
    let spawned = thread::Builder::new()
        .name("brake-runtime-shutdown".into())
        .spawn(move || {
            let runtime = lock(&theirs).take();
            drop(runtime);
            let _ = ended.send(());
        });
    if spawned.is_err() {
        if let Some(runtime) = lock(&slot).take() {
            runtime.shutdown_background();
        }
        return;
    }
    // Checked after subscribing: a Forcing that came before is not heard by the listener.
    if !stop.is_forcing() {
        let _ = wait.recv();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stop::Reason;
    use std::time::{Duration, Instant};

    fn quiet() -> Stop {
        let stop = Stop::new();
        stop.set_notice(crate::Notice::Off);
        stop
    }

    #[test]
    fn a_task_stuck_in_blocking_code_does_not_keep_the_runner_past_forcing() {
        let stop = quiet();
        stop.set_grace(Duration::from_millis(100));
        let started = Instant::now();
        let value = run_async(&stop, async {
            tokio::task::spawn_blocking(|| loop {
                std::thread::sleep(Duration::from_secs(3600));
            });
            stop.request(Reason::Requested);
            7
        })
        .unwrap();
        assert_eq!(value, 7);
        assert!(stop.is_forcing());
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_run_that_ends_by_itself_waits_for_its_blocking_work() {
        let stop = quiet();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        run_async(&stop, async move {
            tokio::task::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(200));
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        })
        .unwrap();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
        assert!(!stop.is_stopping());
    }
}
