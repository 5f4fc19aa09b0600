//! Stop-aware rayon: unit tests of `brake::rayon::StopExt`, and Ctrl-C pressed in a real terminal
//! at the `rayon` example.
#![cfg(feature = "rayon")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

// Through brake's re-export: a program needs no rayon dependency of its own.
use brake::rayon::prelude::*;
use brake::{Notice, Reason, Stop};
use brake_testkit::{example_path, marked_processes, Command, Session, Status};

mod support;
use support::{count_of, last_line};

const LIMIT: Duration = Duration::from_secs(120);

fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop
}

#[test]
fn a_run_without_stop_returns_everything() {
    let stop = quiet_stop();
    let all = (0..100_000usize)
        .into_par_iter()
        .collect_until_stopped::<Vec<_>>(&stop);
    assert!(all.is_complete());
    assert_eq!(all.report.done, 100_000);
    assert_eq!(all.report.cancelled, 0);
    assert!(all.report.is_success());
    assert_eq!(all.report.exit_code(), 0);
    assert_eq!(all.into_result().unwrap(), (0..100_000).collect::<Vec<_>>());

    let sum = (0..10_000u64)
        .collect::<Vec<_>>()
        .par_iter()
        .run_until_stopped(&stop, |items| items.sum::<u64>());
    assert_eq!(sum.value, 10_000 * 9_999 / 2);
    assert_eq!(sum.report.done, 10_000);
}

#[test]
fn a_stop_mid_way_returns_partial_results_whose_count_matches() {
    let stop = quiet_stop();
    let started = AtomicUsize::new(0);
    let partial = (0..1_000_000usize)
        .into_par_iter()
        .run_until_stopped(&stop, |items| {
            items
                .map(|n| {
                    if started.fetch_add(1, Ordering::SeqCst) == 999 {
                        stop.request(Reason::Requested);
                    }
                    n * 2
                })
                .collect::<Vec<_>>()
        });
    let report = &partial.report;
    assert_eq!(partial.value.len(), report.done);
    assert_eq!(report.done, started.load(Ordering::SeqCst));
    assert!(report.done >= 1_000, "{report}");
    assert!(report.cancelled > 0, "{report}");
    assert_eq!(report.done + report.cancelled, 1_000_000);
    assert_eq!(report.total(), 1_000_000);
    assert_eq!(report.stopped_by, Some(Reason::Requested));
    assert!(partial.value.iter().all(|n| n % 2 == 0));
    assert!(partial.into_result().is_err());
}

#[test]
fn on_one_thread_not_one_item_starts_after_the_stop() {
    let pool = brake::rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let stop = quiet_stop();
    let started = AtomicUsize::new(0);
    let report = pool.install(|| {
        (0..100_000usize)
            .into_par_iter()
            .for_each_until_stopped(&stop, |_| {
                if started.fetch_add(1, Ordering::SeqCst) + 1 == 100 {
                    stop.request(Reason::Requested);
                }
            })
    });
    assert_eq!(started.load(Ordering::SeqCst), 100);
    assert_eq!(report.done, 100);
    assert_eq!(report.cancelled, 100_000 - 100);
}

#[test]
fn no_item_starts_after_the_stop() {
    let stop = quiet_stop();
    let after = AtomicBool::new(false);
    let started_after = AtomicUsize::new(0);
    let started = AtomicUsize::new(0);
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while started.load(Ordering::SeqCst) < 50 {
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.request(Reason::Requested);
            // Items that passed the check just before the request have entered their body
            // long before this: from here on, any item that starts started after the stop.
            std::thread::sleep(Duration::from_millis(200));
            after.store(true, Ordering::SeqCst);
        });
        (0..100_000usize)
            .into_par_iter()
            .for_each_until_stopped(&stop, |_| {
                if after.load(Ordering::SeqCst) {
                    started_after.fetch_add(1, Ordering::SeqCst);
                }
                started.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            })
    });
    assert_eq!(started_after.load(Ordering::SeqCst), 0);
    assert_eq!(report.done, started.load(Ordering::SeqCst));
    assert!(report.cancelled > 0);
    assert_eq!(report.done + report.cancelled, 100_000);
}

#[test]
fn stopped_before_the_first_item_runs_nothing() {
    let stop = quiet_stop();
    stop.request(Reason::Requested);
    let ran = AtomicUsize::new(0);
    let report = (0..1_000usize)
        .into_par_iter()
        .for_each_until_stopped(&stop, |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(report.cancelled, 1_000);
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn an_unindexed_iterator_ends_early_too() {
    // u64 ranges are unindexed in rayon: the adaptor still short-circuits a practically endless
    // iteration, and its tally counts what ran.
    let stop = quiet_stop();
    let items = (0..u64::MAX).into_par_iter().until_stopped(&stop);
    let tally = items.tally();
    let seen = AtomicUsize::new(0);
    items.for_each(|_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 10_000 {
            stop.request(Reason::Requested);
        }
    });
    assert_eq!(tally.done(), seen.load(Ordering::SeqCst));
}

#[test]
fn a_u64_range_is_counted_like_any_other() {
    let stop = quiet_stop();
    let seen = AtomicUsize::new(0);
    let partial = (0..1_000_000u64)
        .into_par_iter()
        .run_until_stopped(&stop, |items| {
            items
                .map(|n| {
                    if seen.fetch_add(1, Ordering::SeqCst) == 999 {
                        stop.request(Reason::Requested);
                    }
                    n
                })
                .count()
        });
    let report = &partial.report;
    assert_eq!(partial.total, Some(1_000_000));
    assert_eq!(partial.value, report.done);
    assert_eq!(report.done, seen.load(Ordering::SeqCst));
    assert!(report.cancelled > 0, "{report}");
    assert_eq!(report.done + report.cancelled, 1_000_000);
    assert!(!partial.is_complete());
}

#[test]
fn a_bridged_iterator_reports_what_ran_and_whether_the_stop_cut_it() {
    let stop = quiet_stop();
    let all = (0..10_000usize)
        .par_bridge()
        .collect_until_stopped::<Vec<_>>(&stop);
    assert_eq!(all.total, None);
    assert!(all.is_complete());
    assert!(all.report.is_success(), "{}", all.report);
    assert_eq!(all.report.done, 10_000);
    assert_eq!(all.into_result().unwrap().len(), 10_000);

    // A practically endless sequential source: only the stop ends it.
    let ran = AtomicUsize::new(0);
    let partial = (0..u64::MAX)
        .par_bridge()
        .run_until_stopped(&stop, |items| {
            items.for_each(|_| {
                if ran.fetch_add(1, Ordering::SeqCst) + 1 == 5_000 {
                    stop.request(Reason::Requested);
                }
            })
        });
    let report = &partial.report;
    assert_eq!(partial.total, None);
    assert!(!partial.is_complete());
    assert_eq!(report.done, ran.load(Ordering::SeqCst));
    assert!(report.done >= 5_000);
    assert_eq!(
        report.cancelled, 0,
        "unstarted items of an unknown length go uncounted"
    );
    assert_eq!(report.stopped_by, Some(Reason::Requested));
    assert!(partial.into_result().is_err());
}

#[test]
fn a_filtered_iterator_runs_to_the_end_and_says_so() {
    let stop = quiet_stop();
    let evens = (0..1_000usize)
        .into_par_iter()
        .filter(|n| n % 2 == 0)
        .for_each_until_stopped(&stop, |_| {});
    assert_eq!((evens.done, evens.cancelled), (500, 0));
    assert!(evens.is_success());
    let stopped = quiet_stop();
    stopped.request(Reason::Requested);
    let none = (0..1_000usize)
        .into_par_iter()
        .filter(|n| n % 2 == 0)
        .collect_until_stopped::<Vec<_>>(&stopped);
    assert!(!none.is_complete());
    assert!(none.value.is_empty());
}

#[test]
fn try_for_each_returns_the_error() {
    let stop = quiet_stop();
    let result = (0..1_000usize)
        .into_par_iter()
        .try_for_each_until_stopped(&stop, |n| if n == 500 { Err(n) } else { Ok(()) });
    assert_eq!(result.unwrap_err(), 500);
    let report = (0..1_000usize)
        .into_par_iter()
        .try_for_each_until_stopped(&stop, |_| Ok::<(), ()>(()))
        .unwrap();
    assert_eq!(report.done, 1_000);
}

// ---- the example in a real terminal ----

fn rayon_example(args: &[&str]) -> Session {
    Session::spawn(Command::new(example_path("rayon")).args(args)).expect("start the example")
}

/// (total, done, not started) from the report line.
fn report_counts(output: &str) -> (usize, usize, usize) {
    let (total, counts) = support::report_counts(output);
    (
        total,
        count_of(&counts, "done"),
        count_of(&counts, "not started"),
    )
}

#[test]
fn one_press_stops_the_rayon_example() {
    const ITEMS: usize = 1_000_000_000_000;
    let session = rayon_example(&["--items", &ITEMS.to_string()]);
    session.wait_for("computing", 1, LIMIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let token = session.marker().to_owned();
    let finished = session
        .press_until_exit(Duration::from_secs(30), 2, LIMIT)
        .unwrap();
    let output = &finished.output;
    assert_eq!(finished.presses, 1, "{output}");
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    assert_eq!(last_line(output), "main exit", "{output}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(marked_processes(&token).is_empty());
    assert!(output.contains("Stopped by SIGINT (Ctrl-C)."), "{output}");
    let (total, done, not_started) = report_counts(output);
    assert_eq!(total, ITEMS, "{output}");
    assert_eq!(done + not_started, ITEMS, "{output}");
    assert!(done > 0 && not_started > 0, "{output}");
    assert!(
        output.contains(&format!("items done: {done} of {ITEMS}")),
        "{output}"
    );
}

#[test]
fn the_rayon_example_runs_to_the_end() {
    let session = rayon_example(&["--items", "2000"]);
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(0), "{output}");
    assert_eq!(last_line(output), "main exit", "{output}");
    assert_eq!(report_counts(output), (2000, 2000, 0), "{output}");
}

#[test]
fn the_notice_promises_no_force_for_items_that_cannot_be_forced() {
    const ITEMS: usize = 64;
    let session = rayon_example(&["--items", &ITEMS.to_string(), "--seconds", "4"]);
    session.wait_for("computing", 1, LIMIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let token = session.marker().to_owned();
    let finished = session
        .press_until_exit(Duration::from_secs(60), 1, LIMIT)
        .unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    assert_eq!(last_line(output), "main exit", "{output}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(marked_processes(&token).is_empty());
    assert!(
        output.contains("brake: stopping — running work finishes first"),
        "{output}"
    );
    assert!(!output.contains("again to force"), "{output}");
    assert!(!output.contains("forcing stop"), "{output}");
    // The items that had started ran to their end, well past the press.
    assert!(
        finished.since_first_stop.unwrap() >= Duration::from_secs(2),
        "{output}"
    );
    let (total, done, not_started) = report_counts(output);
    assert_eq!(total, ITEMS, "{output}");
    assert!(done > 0 && not_started > 0, "{output}");
}

#[test]
fn a_second_press_says_nothing_can_be_forced_and_a_later_one_exits_at_once() {
    let mut session = rayon_example(&["--items", "64", "--seconds", "600"]);
    session.wait_for("computing", 1, LIMIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let token = session.marker().to_owned();
    session.press_ctrl_c().unwrap();
    session
        .wait_for("brake: stopping — running work finishes first", 1, LIMIT)
        .unwrap();
    session.press_ctrl_c().unwrap();
    session
        .wait_for(
            "brake: running work cannot be forced (Ctrl-C again after 1 s exits at once)",
            1,
            LIMIT,
        )
        .unwrap();
    // What the line says: a press a second or more later ends the process at once.
    std::thread::sleep(Duration::from_millis(1500));
    let finished = session
        .press_until_exit(Duration::from_secs(60), 1, LIMIT)
        .unwrap();
    let output = &finished.output;
    assert_eq!(finished.presses, 3, "{output}");
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    assert!(!output.contains("main exit"), "{output}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(marked_processes(&token).is_empty());
    assert!(
        finished.since_first_stop.unwrap() < Duration::from_secs(60),
        "{output}"
    );
}
