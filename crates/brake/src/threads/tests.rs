use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use crate::{Notice, Outcome, OutcomeKind, Phase, Reason, Stop, Stopped, TaskError, ThreadPool};

fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop.set_grace(Duration::MAX);
    stop
}

/// Waits (politely, without a deadline of its own) until `n` tasks have begun.
fn wait_until(counter: &AtomicUsize, n: usize) {
    while counter.load(SeqCst) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_uninterrupted_run_reports_every_task_done() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 3).unwrap();
    let handles: Vec<_> = (0..100u32)
        .map(|n| pool.submit(move |_| Ok(n + 1)))
        .collect();
    let report = pool.join();
    assert_eq!(report.done, 100);
    assert!(report.is_success());
    assert_eq!(report.exit_code(), 0);
    let sum: u32 = handles.into_iter().filter_map(|h| h.wait().done()).sum();
    assert_eq!(sum, (1..=100).sum());
}

#[test]
fn zero_workers_is_an_error() {
    assert!(matches!(
        ThreadPool::new(&quiet_stop(), 0),
        Err(crate::Error::NoWorkers)
    ));
}

#[test]
fn failures_panics_and_interruptions_are_told_apart() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let failed = pool.submit(|_| -> Result<(), TaskError> { Err(TaskError::msg("disk full")) });
    let panicked = pool.submit(|_| -> Result<(), TaskError> { panic!("bad input 42") });
    let interrupted = pool.submit(|_| -> Result<(), TaskError> { Err(Stopped.into()) });
    let after_panic = pool.submit(|_| Ok("still working"));
    match failed.wait() {
        Outcome::Failed(err) => assert_eq!(err.to_string(), "disk full"),
        other => panic!("expected Failed, got {other:?}"),
    }
    match panicked.wait() {
        Outcome::Panicked(message) => assert_eq!(message, "bad input 42"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(interrupted.wait().kind(), OutcomeKind::Interrupted);
    assert_eq!(after_panic.wait().done(), Some("still working"));
    let report = pool.join();
    assert_eq!(
        (
            report.done,
            report.failed,
            report.panicked,
            report.interrupted
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn stopping_cancels_a_million_queued_tasks_and_waits_for_running_ones() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 4).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let ran_after_stop = Arc::new(AtomicUsize::new(0));
    for _ in 0..1_000_000 {
        let running = running.clone();
        let ran_after_stop = ran_after_stop.clone();
        pool.submit(move |stop| {
            if stop.is_stopping() {
                ran_after_stop.fetch_add(1, SeqCst);
            }
            running.fetch_add(1, SeqCst);
            while !stop.is_stopping() {
                std::hint::spin_loop();
            }
            Err::<(), _>(Stopped.into())
        });
    }
    wait_until(&running, 4);
    stop.request(Reason::Requested);
    let report = pool.join();
    assert_eq!(
        stop.phase(),
        Phase::Stopping,
        "join must not need the force"
    );
    assert_eq!(report.interrupted, 4);
    assert_eq!(report.cancelled, 1_000_000 - 4);
    assert_eq!(report.total(), 1_000_000);
    assert_eq!(report.stopped_by, Some(Reason::Requested));
    assert!(!report.forced);
    assert_eq!(
        ran_after_stop.load(SeqCst),
        0,
        "no task may start after the stop"
    );
}

#[test]
fn forcing_abandons_tasks_that_ignore_the_stop() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let release = release.clone();
            let running = running.clone();
            pool.submit(move |_| {
                running.fetch_add(1, SeqCst);
                while !release.load(SeqCst) {
                    std::hint::spin_loop();
                }
                Ok(())
            })
        })
        .collect();
    wait_until(&running, 2);
    stop.request(Reason::Signal(libc::SIGINT));
    let joiner = {
        let pool_stop = stop.clone();
        std::thread::spawn(move || {
            // join would block until forced; force from another thread after a pause.
            std::thread::sleep(Duration::from_millis(50));
            pool_stop.force_because(Reason::Signal(libc::SIGINT));
        })
    };
    let report = pool.join();
    assert!(stop.is_forcing());
    assert_eq!((report.interrupted, report.cancelled), (2, 3));
    assert!(report.forced);
    assert_eq!(report.exit_code(), 130);
    let kinds: Vec<_> = handles.into_iter().map(|h| h.wait().kind()).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == OutcomeKind::Interrupted)
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == OutcomeKind::Cancelled)
            .count(),
        3
    );
    release.store(true, SeqCst);
    joiner.join().unwrap();
}

#[test]
fn a_queued_handle_is_cancelled_at_once_while_workers_are_busy() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 1).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let busy = {
        let release = release.clone();
        pool.submit(move |_| {
            while !release.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
    };
    let queued = pool.submit(|_| Ok(()));
    let waiter = std::thread::spawn(move || queued.wait().kind());
    std::thread::sleep(Duration::from_millis(20));
    stop.request(Reason::Requested);
    assert_eq!(waiter.join().unwrap(), OutcomeKind::Cancelled);
    assert_eq!(
        pool.submit(|_| Ok(())).wait().kind(),
        OutcomeKind::Cancelled,
        "nothing submitted after the stop runs"
    );
    release.store(true, SeqCst);
    assert_eq!(
        busy.wait().kind(),
        OutcomeKind::Done,
        "finished work is kept"
    );
    let report = pool.join();
    assert_eq!((report.done, report.cancelled), (1, 2));
}

#[test]
fn map_yields_in_input_order_with_bounded_work_in_flight() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 3).unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let inputs = {
        let taken = taken.clone();
        (0..1_000_000u64).inspect(move |_| {
            taken.fetch_add(1, SeqCst);
        })
    };
    let mut map = pool.map_bounded(inputs, 8, |_, n| Ok(n * 2));
    let first: Vec<u64> = map.by_ref().take(10).filter_map(Outcome::done).collect();
    assert_eq!(first, (0..10).map(|n| n * 2).collect::<Vec<_>>());
    assert!(
        taken.load(SeqCst) <= 10 + 8,
        "took {} inputs",
        taken.load(SeqCst)
    );
    let rest = map.filter(Outcome::is_done).count();
    assert_eq!(rest, 1_000_000 - 10);
    assert_eq!(pool.join().done, 1_000_000);
}

#[test]
fn map_stops_taking_inputs_once_stopping() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let mut map = pool.map_bounded(0..1000u32, 4, |stop, n| {
        stop.check()?;
        Ok(n)
    });
    assert_eq!(map.next().and_then(Outcome::done), Some(0));
    stop.request(Reason::Requested);
    let after: Vec<_> = map.by_ref().collect();
    assert!(after.len() <= 4);
    assert!(after.iter().all(|o| o.kind() != OutcomeKind::Failed));
    let remaining = map.into_remaining().count();
    assert_eq!(
        1 + after.len() + remaining,
        1000,
        "every input is accounted for"
    );
}

#[test]
fn the_stop_notice_counts_running_and_queued_tasks() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let running = running.clone();
        pool.submit(move |stop| {
            running.fetch_add(1, SeqCst);
            let _ = stop.sleep(Duration::from_secs(600));
            Ok(())
        });
    }
    wait_until(&running, 2);
    let activity = stop.activity().unwrap();
    assert_eq!((activity.running, activity.not_started), (2, 8));
    stop.request(Reason::Requested);
    let report = pool.join();
    assert_eq!((report.done, report.cancelled), (2, 8));
    drop(pool);
    assert_eq!(stop.activity(), None, "a dropped pool stops reporting");
}

#[test]
fn detached_tasks_are_counted_in_the_report() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    for n in 0..1000u32 {
        pool.spawn(move |_| match n % 4 {
            0 => Ok(n),
            1 => Err(TaskError::msg("failed")),
            2 => Err(Stopped.into()),
            _ => panic!("task {n} panicked"),
        });
    }
    let report = pool.join();
    assert_eq!(
        (
            report.done,
            report.failed,
            report.interrupted,
            report.panicked
        ),
        (250, 250, 250, 250)
    );
    stop.request(Reason::Requested);
    pool.spawn(|_| Ok(()));
    assert_eq!(
        pool.join().cancelled,
        1,
        "nothing spawned after the stop runs"
    );
}

#[test]
fn map_unordered_yields_outcomes_as_they_come_with_their_input() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let inputs = [600u64, 10, 20, 30];
    let arrived: Vec<(usize, u64)> = pool
        .map_unordered(inputs, |_, ms| {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(ms)
        })
        .map(|(index, outcome)| (index, outcome.into_result().unwrap()))
        .collect();
    assert_eq!(arrived.last(), Some(&(0, 600)), "{arrived:?}");
    assert!(arrived.iter().all(|&(index, value)| inputs[index] == value));
    assert_eq!(pool.join().done, 4);
}

#[test]
fn map_unordered_ends_with_the_inputs_in_flight_once_stopping() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let mut map = pool.map_unordered(0..1000u32, |stop, _| {
        let _ = stop.sleep(Duration::from_secs(60));
        stop.checked(())
    });
    let watcher = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        watcher.request(Reason::Requested);
    });
    let kinds: Vec<OutcomeKind> = map.by_ref().map(|(_, o)| o.kind()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}"); // the window: twice the workers
    assert_eq!(map.into_remaining().count(), 996);
}

#[test]
fn a_dropped_pool_cancels_what_has_not_started_and_waits_for_what_runs() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 1).unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..40)
        .map(|_| {
            let started = started.clone();
            pool.submit(move |_| {
                started.fetch_add(1, SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                Ok(())
            })
        })
        .collect();
    wait_until(&started, 1);
    drop(pool);
    let kinds: Vec<OutcomeKind> = handles.into_iter().map(|h| h.wait().kind()).collect();
    let done = kinds.iter().filter(|k| **k == OutcomeKind::Done).count();
    let cancelled = kinds
        .iter()
        .filter(|k| **k == OutcomeKind::Cancelled)
        .count();
    // The running task finished before the drop returned; the rest never started.
    assert!((1..5).contains(&done), "{kinds:?}");
    assert_eq!(done + cancelled, 40);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(started.load(SeqCst), done);
}
