//! Scoped tasks: what they may borrow, and the stop contract at each phase, including the rule
//! that the end of a scope waits for its running tasks even when forcing.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::{Notice, Outcome, OutcomeKind, Reason, Stop, Stopped, TaskError, ThreadPool};

fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop.set_grace(Duration::MAX);
    stop
}

fn wait_until(counter: &AtomicUsize, n: usize) {
    while counter.load(SeqCst) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn tasks_borrow_a_vec_and_a_counter_and_the_scope_returns_the_body_value() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 3).unwrap();
    let inputs: Vec<String> = (0..100).map(|n| format!("file-{n}")).collect();
    let letters = AtomicUsize::new(0);
    let handles_done = pool.scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|name| {
                let letters = &letters;
                scope.spawn(move |_stop| {
                    letters.fetch_add(name.len(), SeqCst);
                    Ok(name.as_str())
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.wait().done())
            .filter(|name| name.starts_with("file-"))
            .count()
    });
    assert_eq!(handles_done, 100);
    let expected: usize = inputs.iter().map(String::len).sum();
    assert_eq!(letters.load(SeqCst), expected);
    let report = pool.join();
    assert_eq!((report.total(), report.done), (100, 100));
    assert!(report.is_success());
}

#[test]
fn a_long_scope_of_small_tasks_runs_every_one() {
    // Past the length at which the scope prunes its list of queued tasks, several times over.
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let ran = AtomicUsize::new(0);
    pool.scope(|scope| {
        for _ in 0..20_000 {
            scope.spawn(|_| {
                ran.fetch_add(1, SeqCst);
                Ok(())
            });
        }
    });
    assert_eq!(ran.load(SeqCst), 20_000);
    assert_eq!(pool.join().done, 20_000);
}

#[test]
fn stopping_cancels_queued_scoped_tasks_and_waits_for_running_ones() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let started = AtomicUsize::new(0);
    let ended = AtomicUsize::new(0);
    let outcomes: Vec<OutcomeKind> = pool.scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|stop| -> Result<(), TaskError> {
                    started.fetch_add(1, SeqCst);
                    let slept = stop.sleep(Duration::from_secs(600));
                    // Still borrowing after the stop: the scope has not returned.
                    std::thread::sleep(Duration::from_millis(50));
                    ended.fetch_add(1, SeqCst);
                    if slept.is_interrupted() {
                        Err(Stopped.into())
                    } else {
                        Ok(())
                    }
                })
            })
            .collect();
        wait_until(&started, 2);
        stop.request(Reason::Requested);
        handles.into_iter().map(|h| h.wait().kind()).collect()
    });
    assert_eq!(
        started.load(SeqCst),
        2,
        "no queued task starts after the stop"
    );
    assert_eq!(
        ended.load(SeqCst),
        2,
        "the scope waited for its running tasks"
    );
    let count = |kind| outcomes.iter().filter(|k| **k == kind).count();
    assert_eq!(count(OutcomeKind::Interrupted), 2);
    assert_eq!(count(OutcomeKind::Cancelled), 98);
    let report = pool.join();
    assert_eq!(
        (report.total(), report.interrupted, report.cancelled),
        (100, 2, 98)
    );
}

#[test]
fn a_stop_while_the_scope_ends_cancels_what_is_queued() {
    // No handle waits: the end of the scope itself must cancel the queued tasks, whose
    // workers exit on the stop without taking them.
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 1).unwrap();
    let started = AtomicUsize::new(0);
    let stopper = {
        let stop = stop.clone();
        let started = &started;
        move || {
            wait_until(started, 1);
            stop.request(Reason::Requested);
        }
    };
    std::thread::scope(|threads| {
        threads.spawn(stopper);
        pool.scope(|scope| {
            for _ in 0..1_000 {
                scope.spawn(|stop| {
                    started.fetch_add(1, SeqCst);
                    stop.wait_for(crate::Phase::Stopping);
                    Ok(())
                });
            }
        });
    });
    assert_eq!(started.load(SeqCst), 1);
    let report = pool.join();
    assert_eq!((report.done, report.cancelled), (1, 999));
}

#[test]
fn tasks_spawned_by_tasks_after_the_stop_never_start() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let ran = AtomicUsize::new(0);
    let nested = pool.scope(|scope| {
        let outer = scope.spawn(|stop| {
            ran.fetch_add(1, SeqCst);
            stop.request(Reason::Requested);
            Ok(scope.spawn(|_| {
                ran.fetch_add(1, SeqCst);
                Ok(())
            }))
        });
        outer.wait().done().unwrap().wait()
    });
    assert!(matches!(nested, Outcome::Cancelled));
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn forcing_does_not_end_the_scope_before_its_running_tasks_return() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let release = AtomicBool::new(false);
    let started = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let scope_returned = AtomicBool::new(false);
    let held = Duration::from_millis(300);
    let begun = Instant::now();
    std::thread::scope(|threads| {
        threads.spawn(|| {
            wait_until(&started, 2);
            stop.force();
            std::thread::sleep(held);
            assert!(
                !scope_returned.load(SeqCst),
                "the scope returned at Forcing"
            );
            release.store(true, SeqCst);
        });
        pool.scope(|scope| {
            let handles: Vec<_> = (0..10)
                .map(|_| {
                    scope.spawn(|_stop| {
                        // Ignores the stop, as a busy loop does, and borrows until it ends.
                        started.fetch_add(1, SeqCst);
                        while !release.load(SeqCst) {
                            std::hint::spin_loop();
                        }
                        finished.fetch_add(1, SeqCst);
                        Ok(())
                    })
                })
                .collect();
            let kinds: Vec<_> = handles.into_iter().map(|h| h.wait().kind()).collect();
            // A handle does not wait past Forcing; only the scope's end does.
            assert!(!release.load(SeqCst), "a handle waited past Forcing");
            assert_eq!(
                kinds
                    .iter()
                    .filter(|k| **k == OutcomeKind::Interrupted)
                    .count(),
                2
            );
        });
        scope_returned.store(true, SeqCst);
    });
    assert!(begun.elapsed() >= held);
    assert_eq!(finished.load(SeqCst), 2, "both running tasks returned");
    assert_eq!(started.load(SeqCst), 2);
    let report = pool.join();
    assert_eq!((report.done, report.cancelled), (2, 8));
    assert!(report.forced);
}

#[test]
fn a_panicking_body_still_waits_for_its_tasks() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let finished = AtomicUsize::new(0);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|scope| {
            scope.spawn(|_| {
                std::thread::sleep(Duration::from_millis(100));
                finished.fetch_add(1, SeqCst);
                Ok(())
            });
            panic!("body fails");
        })
    }));
    assert!(result.is_err());
    assert_eq!(finished.load(SeqCst), 1);
}

#[test]
fn a_panicking_scoped_task_is_reported_and_the_scope_goes_on() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let (panicked, after) = pool.scope(|scope| {
        let panicked = scope.spawn(|_| -> Result<(), TaskError> { panic!("bad input 7") });
        let after = scope.spawn(|_| Ok(7));
        (panicked.wait(), after.wait())
    });
    assert!(matches!(panicked, Outcome::Panicked(message) if message == "bad input 7"));
    assert_eq!(after.done(), Some(7));
    let report = pool.join();
    assert_eq!((report.panicked, report.done), (1, 1));
}

#[test]
fn spawning_after_the_stop_queues_nothing() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    stop.request(Reason::Requested);
    let ran = AtomicBool::new(false);
    let outcome = pool.scope(|scope| {
        scope
            .spawn(|_| {
                ran.store(true, SeqCst);
                Ok(())
            })
            .wait()
    });
    assert!(matches!(outcome, Outcome::Cancelled));
    assert!(!ran.load(SeqCst));
    assert_eq!(pool.join().cancelled, 1);
}

/// Counts its drops in a borrowed counter: a drop after the scope would touch a dead borrow.
struct Noisy<'a>(&'a AtomicUsize);

impl Drop for Noisy<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn values_and_closures_are_dropped_before_the_scope_returns() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let dropped = AtomicUsize::new(0);
    let started = AtomicUsize::new(0);
    pool.scope(|scope| {
        // Values of tasks whose handle is dropped at once, and of tasks never waited for.
        for _ in 0..50 {
            drop(scope.spawn(|_| Ok(Noisy(&dropped))));
        }
        let kept: Vec<_> = (0..50)
            .map(|_| scope.spawn(|_| Ok(Noisy(&dropped))))
            .collect();
        drop(kept);
        // Closures of tasks a stop cancels, some left in the queue of workers that exit.
        for _ in 0..100 {
            let noisy = Noisy(&dropped);
            let started = &started;
            scope.spawn(move |stop| {
                let _noisy = noisy;
                if started.fetch_add(1, SeqCst) == 0 {
                    stop.request(Reason::Requested);
                }
                Ok(())
            });
        }
    });
    assert_eq!(
        dropped.load(SeqCst),
        200,
        "every value and closure dropped in the scope"
    );
    drop(pool); // frees what the stopped pool's queue still holds: nothing borrowed
    assert_eq!(dropped.load(SeqCst), 200);
}

#[test]
fn a_scope_from_a_task_of_the_same_pool_panics_and_one_on_another_pool_runs() {
    let stop = quiet_stop();
    let pool = ThreadPool::new(&stop, 2).unwrap();
    let other = ThreadPool::new(&stop, 1).unwrap();
    let (same, elsewhere) = pool.scope(|scope| {
        let same = scope.spawn(|_stop| Ok(pool.scope(|_| 1)));
        let elsewhere = scope.spawn(|_stop| Ok(other.scope(|inner| inner.spawn(|_| Ok(2)).wait())));
        (same.wait(), elsewhere.wait())
    });
    assert_eq!(same.kind(), OutcomeKind::Panicked, "{same:?}");
    assert_eq!(elsewhere.done().and_then(Outcome::done), Some(2));
    assert_eq!(pool.scope(|_| 3), 3, "the caller's own thread is no worker");
}
