//! Ctrl-C pressed in a real terminal at the `scope` example, whose tasks borrow `main`'s list of
//! inputs and counter: one press ends the scope with the report intact, and tasks that ignore
//! the stop hold the scope past Forcing until the signal handler's last resort ends the process.

use std::time::Duration;

use brake_testkit::{example_path, marked_processes, Command, Session, Status};

mod support;
use support::{count_of, press_once, report_counts};

const LIMIT: Duration = Duration::from_secs(120);

fn scope(args: &[&str]) -> Session {
    Session::spawn(Command::new(example_path("scope")).args(args)).expect("start the example")
}

/// The number of inputs the tasks counted in `main`'s borrowed counter.
fn inputs_started(output: &str, tasks: usize) -> usize {
    let line = output
        .lines()
        .find(|line| line.starts_with("inputs started: "))
        .unwrap_or_else(|| panic!("no count of inputs in:\n{output}"));
    let counts = line.trim_start_matches("inputs started: ");
    let (started, total) = counts.trim().split_once(" of ").unwrap();
    assert_eq!(total.parse::<usize>().unwrap(), tasks, "{output}");
    started.parse().unwrap()
}

fn one_press_stops(kind: &str, tasks: usize, workers: usize) {
    let session = scope(&[
        "--task",
        kind,
        "--tasks",
        &tasks.to_string(),
        "--workers",
        &workers.to_string(),
    ]);
    session.wait_for("worker started", workers, LIMIT).unwrap();
    let finished = press_once(session, Duration::from_secs(30), LIMIT);
    let output = &finished.output;
    let (total, counts) = report_counts(output);
    assert_eq!(total, tasks, "{output}");
    // The queued tasks never started: only the tasks running at the press touched the borrowed
    // counter, and each of them noticed the stop.
    assert_eq!(count_of(&counts, "interrupted"), workers, "{output}");
    assert_eq!(
        count_of(&counts, "not started"),
        tasks - workers,
        "{output}"
    );
    assert_eq!(inputs_started(output, tasks), workers, "{output}");
    assert_eq!(
        output.matches("worker started").count(),
        workers,
        "{output}"
    );
    assert_eq!(output.matches("handler exit").count(), workers, "{output}");
    assert!(output.contains("Stopped by SIGINT (Ctrl-C)."), "{output}");
    assert!(!output.contains(", forced"), "{output}");
    assert!(
        output.contains("running work finishes first") && !output.contains("again to force"),
        "{output}"
    );
}

#[test]
fn one_press_stops_a_scope_of_100_borrowing_tasks() {
    one_press_stops("cooperative", 100, 3);
    one_press_stops("sleep", 100, 3);
}

#[test]
fn an_uninterrupted_scope_runs_every_task() {
    let session = scope(&["--task", "sleep", "--seconds", "0.1", "--tasks", "9"]);
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(0), "{output}");
    assert_eq!(inputs_started(output, 9), 9);
    let (total, counts) = report_counts(output);
    assert_eq!((total, count_of(&counts, "done")), (9, 9), "{output}");
}

#[test]
fn busy_scoped_tasks_hold_the_scope_past_forcing_until_the_last_resort() {
    let mut session = scope(&["--task", "busy", "--tasks", "6", "--grace", "1"]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let token = session.marker().to_owned();
    session.press_ctrl_c().unwrap();
    session
        .wait_for(
            "brake: grace period over, running work cannot be forced — 3 still running \
             (Ctrl-C after 1 s exits at once)",
            1,
            LIMIT,
        )
        .unwrap();
    // Forcing does not end a scope whose tasks still run: they borrow from `main`'s stack.
    // A press a second or more after Forcing began ends the process from the signal handler.
    std::thread::sleep(Duration::from_millis(1500));
    let finished = session
        .press_until_exit(Duration::from_secs(30), 1, LIMIT)
        .unwrap();
    let output = &finished.output;
    assert_eq!(
        finished.presses, 2,
        "the process ended before the second press:\n{output}"
    );
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    assert!(!output.contains("inputs started"), "{output}");
    assert!(!output.contains("main exit"), "{output}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(marked_processes(&token).is_empty());
}
