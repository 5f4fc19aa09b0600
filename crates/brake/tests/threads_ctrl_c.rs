//! Ctrl-C pressed in a real terminal at the `threads` example: one press must end every run,
//! whatever the ratio of tasks to workers, with the report intact and nothing left running.

use std::time::Duration;

use brake_testkit::{example_path, Command, Session};

mod support;
use support::{assert_stopped_cleanly, count_of, press_once, report_counts};

const LIMIT: Duration = Duration::from_secs(120);

fn threads(args: &[&str]) -> Session {
    Session::spawn(Command::new(example_path("threads")).args(args)).expect("start the example")
}

fn one_press_stops(kind: &str, tasks: usize, workers: usize) {
    let session = threads(&[
        "--task",
        kind,
        "--tasks",
        &tasks.to_string(),
        "--workers",
        &workers.to_string(),
    ]);
    let running = workers.min(tasks);
    session.wait_for("worker started", running, LIMIT).unwrap();
    let finished = press_once(session, Duration::from_secs(30), LIMIT);
    let (total, counts) = report_counts(&finished.output);
    assert_eq!(total, tasks);
    assert_eq!(count_of(&counts, "interrupted"), running);
    assert_eq!(count_of(&counts, "not started"), tasks - running);
    assert_eq!(finished.output.matches("handler exit").count(), running);
    assert!(finished.output.contains("Stopped by SIGINT (Ctrl-C)."));
    assert!(!finished.output.contains(", forced"), "{}", finished.output);
}

#[test]
fn one_press_stops_6_tasks_on_3_workers() {
    one_press_stops("cooperative", 6, 3);
    one_press_stops("sleep", 6, 3);
}

#[test]
fn one_press_stops_100_tasks_on_3_workers() {
    one_press_stops("cooperative", 100, 3);
    one_press_stops("sleep", 100, 3);
}

#[test]
fn one_press_stops_100_000_tasks_on_64_workers() {
    one_press_stops("cooperative", 100_000, 64);
    one_press_stops("sleep", 100_000, 64);
}

#[test]
fn the_notice_counts_what_the_stop_affects() {
    let session = threads(&["--task", "sleep", "--tasks", "6", "--workers", "3"]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let finished = session
        .press_until_exit(Duration::from_secs(30), 1, LIMIT)
        .unwrap();
    assert!(
        finished
            .output
            .contains("brake: stopping — 3 running, 3 not started (Ctrl-C again to force)"),
        "{}",
        finished.output
    );
    assert_eq!(
        finished.output.matches("brake: ").count(),
        1,
        "one line only"
    );
}

#[test]
fn busy_tasks_end_after_the_grace_period_on_one_press() {
    let session = threads(&["--task", "busy", "--tasks", "6", "--grace", "1"]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let token = session.marker().to_owned();
    let finished = session
        .press_until_exit(Duration::from_secs(60), 2, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 1, "{}", finished.output);
    assert_stopped_cleanly(&finished, &token, 130);
    let waited = finished.since_first_stop.unwrap();
    assert!(
        waited >= Duration::from_secs(1),
        "ended before the grace: {waited:?}"
    );
    assert!(finished
        .output
        .contains("brake: grace period over, forcing stop — 3 still running"));
    let (_, counts) = report_counts(&finished.output);
    assert_eq!(
        (
            count_of(&counts, "interrupted"),
            count_of(&counts, "not started")
        ),
        (3, 3)
    );
    assert!(finished
        .output
        .contains("Stopped by SIGINT (Ctrl-C), forced."));
}

#[test]
fn a_second_press_forces_busy_tasks_at_once() {
    let session = threads(&["--task", "busy", "--tasks", "6", "--grace", "600"]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let token = session.marker().to_owned();
    let finished = session
        .press_twice(Duration::from_millis(300), LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 2);
    assert_stopped_cleanly(&finished, &token, 130);
    // The grace is ten minutes: ending within the test's limit proves the press forced it.
    assert!(finished.since_first_stop.unwrap() < Duration::from_secs(120));
    assert!(finished
        .output
        .contains("brake: forcing stop now — 3 still running"));
}

#[test]
fn sigterm_stops_like_the_first_press() {
    let mut session = threads(&["--tasks", "100"]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let token = session.marker().to_owned();
    session.send_signal(libc::SIGTERM).unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.presses, 0);
    assert_stopped_cleanly(&finished, &token, 143);
    assert!(finished.output.contains("(SIGTERM again to force)"));
    assert!(finished.output.contains("Stopped by SIGTERM."));
    let (total, counts) = report_counts(&finished.output);
    assert_eq!((total, count_of(&counts, "interrupted")), (100, 3));
}

#[test]
fn an_uninterrupted_run_exits_0_with_every_task_done() {
    let session = threads(&["--task", "sleep", "--seconds", "0.2", "--tasks", "7"]);
    let token = session.marker().to_owned();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_stopped_cleanly(&finished, &token, 0);
    let (total, counts) = report_counts(&finished.output);
    assert_eq!((total, count_of(&counts, "done")), (7, 7));
    assert!(!finished.output.contains("brake:"), "{}", finished.output);
}
