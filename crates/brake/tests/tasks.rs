//! [`TaskGroup`]: Ctrl-C pressed in a real terminal at the `tasks` example (one press must end
//! every run, whatever the number of tasks, with the report intact and nothing left running), and
//! the group's contract checked in process on both runtime flavours.
#![cfg(feature = "tokio")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brake::{Notice, Outcome, OutcomeKind, Phase, Reason, Stop, Stopped, TaskGroup, TaskResult};
use brake_testkit::{example_path, Command, Session};

mod support;
use support::{assert_stopped_cleanly, count_of, press_once, report_counts};

const LIMIT: Duration = Duration::from_secs(120);

fn tasks(args: &[&str]) -> Session {
    Session::spawn(Command::new(example_path("tasks")).args(args)).expect("start the example")
}

/// One press ends a run of `count` tasks of `kind`; `extra` adds options (a limit, a runtime).
fn one_press_stops(kind: &str, count: usize, extra: &[&str]) {
    let count_arg = count.to_string();
    let mut args = vec!["--task", kind, "--tasks", &count_arg];
    args.extend_from_slice(extra);
    let session = tasks(&args);
    session.wait_for("task started", 1, LIMIT).unwrap();
    let finished = press_once(session, Duration::from_secs(30), LIMIT);
    let (total, counts) = report_counts(&finished.output);
    assert_eq!(total, count);
    let interrupted = count_of(&counts, "interrupted");
    // Every task that started noticed the stop and said so; the rest never started.
    assert_eq!(finished.output.matches("handler exit").count(), interrupted);
    assert_eq!(finished.output.matches("task started").count(), interrupted);
    assert_eq!(count_of(&counts, "not started"), count - interrupted);
    assert!(finished.output.contains("Stopped by SIGINT (Ctrl-C)."));
    assert!(!finished.output.contains(", forced"), "{}", finished.output);
}

#[test]
fn one_press_stops_5_tasks() {
    one_press_stops("cooperative", 5, &[]);
    one_press_stops("sleep", 5, &[]);
    one_press_stops("cooperative", 5, &["--current-thread"]);
}

#[test]
fn one_press_stops_1_000_tasks() {
    one_press_stops("cooperative", 1_000, &[]);
    one_press_stops("sleep", 1_000, &[]);
}

#[test]
fn one_press_stops_100_000_tasks() {
    // A loaded machine may have started most of them before the press, and each then prints a
    // line on its way out: a long grace keeps that from turning into a forced stop.
    one_press_stops("sleep", 100_000, &["--grace", "20"]);
    one_press_stops("cooperative", 100_000, &["--grace", "20"]);
    one_press_stops("cooperative", 100_000, &["--limit", "64"]);
    one_press_stops("sleep", 100_000, &["--limit", "64", "--current-thread"]);
}

#[test]
fn busy_tasks_end_after_the_grace_period_on_one_press() {
    let session = tasks(&[
        "--task",
        "busy",
        "--tasks",
        "5",
        "--threads",
        "8",
        "--grace",
        "1",
    ]);
    session.wait_for("task started", 5, LIMIT).unwrap();
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
        .contains("brake: grace period over, forcing stop — 5 still running"));
    let (_, counts) = report_counts(&finished.output);
    assert_eq!(count_of(&counts, "interrupted"), 5);
    assert!(finished
        .output
        .contains("Stopped by SIGINT (Ctrl-C), forced."));
}

#[test]
fn a_second_press_forces_busy_tasks_at_once() {
    let session = tasks(&[
        "--task",
        "busy",
        "--tasks",
        "5",
        "--threads",
        "8",
        "--grace",
        "600",
    ]);
    session.wait_for("task started", 5, LIMIT).unwrap();
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
        .contains("brake: forcing stop now — 5 still running"));
}

#[test]
fn an_uninterrupted_run_exits_0_with_every_task_done() {
    let session = tasks(&["--task", "sleep", "--seconds", "0.2", "--tasks", "7"]);
    let token = session.marker().to_owned();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_stopped_cleanly(&finished, &token, 0);
    let (total, counts) = report_counts(&finished.output);
    assert_eq!((total, count_of(&counts, "done")), (7, 7));
    assert!(!finished.output.contains("brake:"), "{}", finished.output);
}

/// The `tokio_main` example after one press: its report printed, its blocked task's thread
/// holding `#[tokio::main]`'s runtime drop, and the stop forcing for more than a second.
fn tokio_main_hanging_in_its_runtime_drop() -> Session {
    let mut session =
        Session::spawn(Command::new(example_path("tokio_main"))).expect("start the example");
    session.wait_for("task started", 4, LIMIT).unwrap();
    session.press_ctrl_c().unwrap();
    // The grace period (2 s) ends in Forcing; the report comes after.
    session.wait_for("main exit", 1, LIMIT).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    session
}

#[test]
fn a_tokio_main_hanging_in_its_runtime_drop_ends_on_a_press_after_forcing() {
    let session = tokio_main_hanging_in_its_runtime_drop();
    let token = session.marker().to_owned();
    // The first call sees the program still there, and presses once more.
    let finished = session
        .press_until_exit(Duration::from_secs(30), 1, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 2, "{}", finished.output);
    // The second press is echoed after `main exit`: the program was still there for it.
    assert_eq!(
        finished.status,
        brake_testkit::Status::Exited(130),
        "{}",
        finished.output
    );
    assert!(
        finished.output.contains("main exit\n^C"),
        "{}",
        finished.output
    );
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(brake_testkit::marked_processes(&token).is_empty());
    assert!(finished
        .output
        .contains("brake: grace period over, forcing stop — 1 still running"));
    assert!(finished.since_first_stop.unwrap() < Duration::from_secs(60));
}

#[test]
fn a_tokio_main_hanging_in_its_runtime_drop_ends_when_its_terminal_closes() {
    let session = tokio_main_hanging_in_its_runtime_drop();
    let token = session.marker().to_owned();
    let finished = session.hang_up(LIMIT).unwrap();
    assert_eq!(
        finished.status,
        brake_testkit::Status::Exited(128 + libc::SIGHUP),
        "{}",
        finished.output
    );
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(brake_testkit::marked_processes(&token).is_empty());
}

// ---- In process, on both runtime flavours ----

fn quiet() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop
}

/// Runs `test` on a current-thread runtime, then on a multi-thread one.
fn both_flavours<F, Fut>(test: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(test());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
        .block_on(test());
}

/// A task that waits for the stop and returns interrupted.
async fn until_stopped(stop: Stop) -> TaskResult<()> {
    stop.stopped().await;
    Err(Stopped.into())
}

/// Waits (10 s at most) until the stop's pools report `running` tasks running.
async fn wait_running(stop: &Stop, running: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stop.activity().map_or(0, |a| a.running) < running && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn every_task_runs_and_values_come_back() {
    both_flavours(|| async {
        let stop = quiet();
        let group = TaskGroup::new(&stop);
        let handles: Vec<_> = (0..100u64)
            .map(|n| group.spawn(async move { Ok(n * 2) }))
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.done().unwrap();
        }
        assert_eq!(sum, 9900);
        let report = group.join().await;
        assert_eq!((report.done, report.total()), (100, 100));
        assert_eq!(report.exit_code(), 0);
    });
}

#[test]
fn the_concurrency_limit_is_respected() {
    both_flavours(|| async {
        let stop = quiet();
        let group = TaskGroup::with_limit(&stop, 3);
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        for _ in 0..30 {
            let (now, most) = (now.clone(), most.clone());
            group.spawn(async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            });
        }
        let report = group.join().await;
        assert_eq!(report.done, 30);
        assert_eq!(most.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn tasks_not_started_are_cancelled_and_join_returns_at_stopping() {
    both_flavours(|| async {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        let group = TaskGroup::with_limit(&stop, 2);
        let handles: Vec<_> = (0..1000)
            .map(|_| group.spawn(until_stopped(stop.clone())))
            .collect();
        wait_running(&stop, 2).await; // the first two start
        stop.request(Reason::Requested);
        let report = group.join().await;
        assert_eq!((report.interrupted, report.cancelled), (2, 998));
        assert!(!report.forced);
        let mut kinds = Vec::new();
        for handle in handles {
            kinds.push(handle.await.kind());
        }
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
            998
        );
        // Nothing starts once stopping.
        let late = group.spawn(async { Ok(()) });
        assert!(matches!(late.await, Outcome::Cancelled));
        assert_eq!(group.join().await.cancelled, 999);
    });
}

#[test]
fn unlimited_tasks_not_polled_before_the_stop_never_start() {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let stop = quiet();
            let group = TaskGroup::new(&stop);
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..100 {
                let ran = ran.clone();
                group.spawn(async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            // The current thread has not yielded: nothing has run yet.
            stop.request(Reason::Requested);
            let report = group.join().await;
            assert_eq!(report.cancelled, 100);
            tokio::task::yield_now().await;
            assert_eq!(ran.load(Ordering::SeqCst), 0);
        });
}

#[test]
fn forcing_aborts_tasks_that_ignore_the_stop() {
    both_flavours(|| async {
        let stop = quiet();
        stop.set_grace(Duration::from_millis(100));
        let group = TaskGroup::new(&stop);
        let dropped = Arc::new(AtomicUsize::new(0));
        struct CountDrop(Arc<AtomicUsize>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let guard = CountDrop(dropped.clone());
                group.spawn(async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(600)).await; // deaf to the stop
                    Ok(())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let asked = Instant::now();
        stop.request(Reason::Requested);
        let report = group.join().await;
        let waited = asked.elapsed();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        assert_eq!(report.interrupted, 4);
        assert!(report.forced);
        for handle in handles {
            assert!(matches!(handle.await, Outcome::Interrupted));
        }
        // Aborted: each future is dropped at its `.await`.
        let deadline = Instant::now() + Duration::from_secs(5);
        while dropped.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn join_returns_at_once_on_forcing_even_with_a_blocked_task() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
        .block_on(async {
            let stop = quiet();
            stop.set_grace(Duration::MAX);
            let group = TaskGroup::new(&stop);
            let (release, blocked) = std::sync::mpsc::channel::<()>();
            group.spawn(async move {
                // Blocking code, no `.await`: cannot be aborted, only abandoned.
                let _ = blocked.recv();
                Ok(())
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            stop.request(Reason::Requested);
            let joined = tokio::spawn({
                let group = group.clone();
                async move { group.join().await }
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!joined.is_finished(), "join must wait through the grace");
            stop.force();
            let report = tokio::time::timeout(Duration::from_secs(5), joined)
                .await
                .expect("join returns at forcing")
                .unwrap();
            assert_eq!(report.interrupted, 1);
            assert!(report.forced);
            release.send(()).unwrap(); // so that the runtime can shut down
        });
}

#[test]
fn panics_are_reported_not_propagated() {
    both_flavours(|| async {
        let stop = quiet();
        let group = TaskGroup::with_limit(&stop, 2);
        let handle = group.spawn(async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok(())
        });
        let unlimited = TaskGroup::new(&stop);
        let other = unlimited.spawn(async {
            tokio::task::yield_now().await;
            if true {
                panic!("bang");
            }
            Ok(())
        });
        group.spawn(async { Ok(()) });
        match handle.await {
            Outcome::Panicked(message) => assert_eq!(message, "boom"),
            other => panic!("expected a panic, got {other:?}"),
        }
        assert!(matches!(other.await, Outcome::Panicked(m) if m == "bang"));
        let report = group.join().await;
        assert_eq!((report.panicked, report.done), (1, 1));
        assert_eq!(report.exit_code(), 1);
        assert_eq!(unlimited.join().await.panicked, 1);
    });
}

#[test]
fn failures_and_interruptions_are_told_apart() {
    both_flavours(|| async {
        let stop = quiet();
        let group = TaskGroup::new(&stop);
        let failed = group.spawn(async { Err::<(), _>(brake::TaskError::msg("disk full")) });
        let interrupted = group.spawn(async { Err::<(), _>(Stopped.into()) });
        assert_eq!(failed.await.kind(), OutcomeKind::Failed);
        assert_eq!(interrupted.await.kind(), OutcomeKind::Interrupted);
        let report = group.join().await;
        assert_eq!((report.failed, report.interrupted), (1, 1));
    });
}

#[test]
fn the_async_bridge_follows_the_stop() {
    both_flavours(|| async {
        let stop = quiet();
        stop.set_grace(Duration::MAX);
        let token = stop.cancellation_token();
        let forcing = stop.forcing_token();
        assert!(!token.is_cancelled());
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move { stop.stopped().await }
        });
        let sleeper = tokio::spawn({
            let stop = stop.clone();
            async move { stop.sleep_async(Duration::from_secs(600)).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        stop.request(Reason::Requested);
        assert_eq!(waiter.await.unwrap(), Phase::Stopping);
        assert!(sleeper.await.unwrap().is_interrupted());
        token.cancelled().await;
        assert!(!forcing.is_cancelled());
        // A child token cancelled by hand does not stop anything.
        let other = Stop::new();
        other.cancellation_token().cancel();
        assert!(!other.is_stopping());
        stop.force();
        stop.forced().await;
        forcing.cancelled().await;
        // Tokens made after the change are cancelled already.
        assert!(stop.cancellation_token().is_cancelled());
        assert!(stop.forcing_token().is_cancelled());
    });
}

#[test]
fn the_notice_counts_running_and_queued_tasks() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
        .block_on(async {
            let stop = quiet();
            stop.set_grace(Duration::MAX);
            let group = TaskGroup::with_limit(&stop, 3);
            for _ in 0..10 {
                group.spawn(until_stopped(stop.clone()));
            }
            wait_running(&stop, 3).await;
            let activity = stop.activity().unwrap();
            assert_eq!((activity.running, activity.not_started), (3, 7));
            stop.request(Reason::Requested);
            let report = group.join().await;
            assert_eq!((report.interrupted, report.cancelled), (3, 7));
        });
}

/// The environment variable that makes this test binary, started again by
/// `spawning_outside_a_runtime_panics_at_the_callers_line`, run one spawn outside any runtime.
const NO_RUNTIME_CASE: &str = "BRAKE_TEST_SPAWN_WITHOUT_RUNTIME";

/// Spawns into a group with no tokio runtime around, as `case` says, after printing the line of
/// the call on stderr: the spawn panics, and its message must name that line.
fn spawn_without_runtime(case: &str) {
    let stop = quiet();
    let group = TaskGroup::new(&stop);
    let limited = TaskGroup::with_limit(&stop, 1);
    match case {
        "spawn" => {
            eprintln!("spawn call at line {}", line!() + 1);
            let _ = group.spawn(async { Ok(()) });
        }
        "spawn_with_stop" => {
            eprintln!("spawn call at line {}", line!() + 1);
            let _ = group.spawn_with_stop(|_stop| async { Ok(()) });
        }
        "limited" => {
            eprintln!("spawn call at line {}", line!() + 1);
            let _ = limited.spawn(async { Ok(()) });
        }
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn spawning_outside_a_runtime_panics_at_the_callers_line() {
    if let Ok(case) = std::env::var(NO_RUNTIME_CASE) {
        spawn_without_runtime(&case);
        return;
    }
    for case in ["spawn", "spawn_with_stop", "limited"] {
        let run = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "spawning_outside_a_runtime_panics_at_the_callers_line",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(NO_RUNTIME_CASE, case)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success(),
            "{case}: the spawn did not panic:\n{stderr}"
        );
        let line = stderr
            .lines()
            .find_map(|l| l.strip_prefix("spawn call at line "))
            .unwrap_or_else(|| panic!("{case}: no line reported:\n{stderr}"));
        let at = format!("panicked at {}:{line}:", file!());
        assert!(stderr.contains(&at), "{case}: no `{at}` in:\n{stderr}");
        assert!(stderr.contains("no reactor running"), "{case}:\n{stderr}");
    }
}
