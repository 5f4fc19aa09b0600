//! The process pool, end to end: real worker processes, real Ctrl-C in a pseudo-terminal.
//!
//! Tests that need tasks of their own run this test binary as the pool's workers: each such
//! test calls `init` first, and builds its pool with `worker_args` naming itself, so that a
//! worker runs only that test's `init`.

use std::time::{Duration, Instant};

use brake::process::{init, Builder, ProcessPool, Registry, Task};
use brake::{Error, Notice, Outcome, OutcomeKind, Reason, Stop, TaskError};
use brake_testkit::{example_path, marked_processes, Command, Session, Status};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

mod support;
use support::{count_of, press_once, report_counts};

const LIMIT: Duration = Duration::from_secs(120);

static SQUARE: Task<u64, u64> = Task::new("square", |_, n| Ok(n * n));
static EXIT_3: Task<(), ()> = Task::new("exit-3", |_, ()| std::process::exit(3));
static SEGFAULT: Task<(), ()> = Task::new("segfault", |_, ()| {
    // Rust's runtime handles SIGSEGV (to report stack overflows); with the default action
    // restored, the raised signal ends the worker as a real crash would.
    // SAFETY: changing our own process's disposition of SIGSEGV and raising it; ending the
    // worker is what this task is for.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    Ok(())
});
static FAIL: Task<u32, ()> =
    Task::new("fail", |_, n| Err(TaskError::msg(format!("bad input {n}"))));
static PANIC: Task<(), ()> = Task::new("panic", |_, ()| panic!("worker task panicked"));
static PICKY: Task<u32, Picky> = Task::new("picky", |_, n| Ok(Picky(n)));
static UNSENDABLE: Task<Unsendable, ()> = Task::new("unsendable", |_, _| Ok(()));
/// Starts a grandchild that leaves the worker's process group and session, and returns its pid.
static ESCAPE: Task<(), u32> = Task::new("escape", |_, ()| {
    let child = std::process::Command::new("setsid")
        .args(["sleep", "300"])
        .spawn()?;
    Ok(child.id())
});

/// A value that serializes fine but refuses to deserialize when odd.
#[derive(Debug, Serialize)]
struct Picky(u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(deserializer)?;
        if n % 2 == 1 {
            return Err(de::Error::custom("odd values are refused"));
        }
        Ok(Picky(n))
    }
}

/// An argument that cannot be serialized.
#[derive(Debug, Deserialize)]
struct Unsendable;

impl Serialize for Unsendable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value cannot travel"))
    }
}

static PID: Task<(), u32> = Task::new("pid", |_, ()| Ok(std::process::id()));
static SLOW_PID: Task<(), u32> = Task::new("slow-pid", |_, ()| {
    std::thread::sleep(Duration::from_millis(200));
    Ok(std::process::id())
});
/// Never returns, whatever the stop says.
static IGNORES_STOP: Task<(), ()> = Task::new("ignores-stop", |_, ()| loop {
    std::thread::sleep(Duration::from_millis(10));
});
/// Runs until the worker's stop, then says it was interrupted.
static UNTIL_STOPPED: Task<u32, ()> = Task::new("until-stopped", |stop, _| until_stopped(stop));

/// Returns 7 at once for 0; runs until the worker's stop for anything else.
static FIRST_THEN_UNTIL_STOPPED: Task<u32, u32> =
    Task::new("first-then-until-stopped", |stop, n| match n {
        0 => Ok(7),
        _ => until_stopped(stop),
    });

/// Waits for the worker's stop, then says the task was interrupted.
fn until_stopped<T>(stop: &Stop) -> brake::TaskResult<T> {
    while !stop.is_stopping() {
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(brake::Stopped.into())
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register(&SQUARE)
        .and_then(|r| r.register(&EXIT_3))
        .and_then(|r| r.register(&SEGFAULT))
        .and_then(|r| r.register(&FAIL))
        .and_then(|r| r.register(&PANIC))
        .and_then(|r| r.register(&PICKY))
        .and_then(|r| r.register(&UNSENDABLE))
        .and_then(|r| r.register(&ESCAPE))
        .and_then(|r| r.register(&PID))
        .and_then(|r| r.register(&SLOW_PID))
        .and_then(|r| r.register(&UNTIL_STOPPED))
        .and_then(|r| r.register(&FIRST_THEN_UNTIL_STOPPED))
        .and_then(|r| r.register(&IGNORES_STOP))
        .expect("distinct names");
    registry
}

fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop
}

/// A pool whose workers are this test binary running only `test`.
fn pool_for(test: &str, stop: &Stop, registry: &Registry, workers: usize) -> ProcessPool {
    Builder::new(workers)
        .worker_args([
            test,
            "--exact",
            "--quiet",
            "--nocapture",
            "--test-threads=1",
        ])
        .build(stop, registry)
        .unwrap()
}

#[test]
fn tasks_run_in_worker_processes_and_values_come_back() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "tasks_run_in_worker_processes_and_values_come_back",
        &stop,
        &registry,
        2,
    );
    let handles: Vec<_> = (0..50u64).map(|n| pool.submit(&SQUARE, &n)).collect();
    let squares: Vec<u64> = handles
        .into_iter()
        .filter_map(|h| h.wait().done())
        .collect();
    assert_eq!(squares, (0..50u64).map(|n| n * n).collect::<Vec<_>>());
    let mapped: Vec<u64> = pool
        .map_bounded(0..1000u64, 8, &SQUARE)
        .filter_map(Outcome::done)
        .collect();
    assert_eq!(mapped.len(), 1000);
    assert_eq!(mapped[999], 999 * 999);
    let report = pool.join();
    assert_eq!((report.done, report.total()), (1050, 1050));
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn chunked_map_keeps_input_order() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for("chunked_map_keeps_input_order", &stop, &registry, 2);
    let squares: Vec<u64> = pool
        .map_chunked(0..10_000u64, 100, 4, &SQUARE)
        .filter_map(Outcome::done)
        .collect();
    assert_eq!(squares, (0..10_000u64).map(|n| n * n).collect::<Vec<_>>());
}

#[test]
fn slow_tasks_after_tiny_ones_are_spread_over_every_worker() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let test = "slow_tasks_after_tiny_ones_are_spread_over_every_worker";
    let pool = pool_for(test, &stop, &registry, 2);
    // Thousands of tiny tasks teach the pool to send many at a time...
    assert_eq!(
        pool.map_bounded(0..5000u64, 64, &SQUARE)
            .filter(Outcome::is_done)
            .count(),
        5000
    );
    // ...which must not put every slow task that follows into one worker.
    let handles: Vec<_> = (0..4).map(|_| pool.submit(&SLOW_PID, &())).collect();
    let mut pids: Vec<u32> = handles
        .into_iter()
        .filter_map(|h| h.wait().done())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(
        pids.len(),
        2,
        "four slow tasks ran on {} of 2 workers",
        pids.len()
    );
}

#[test]
fn workers_are_replaced_after_their_quota_of_tasks() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = Builder::new(2)
        .max_tasks_per_worker(5)
        .worker_args([
            "workers_are_replaced_after_their_quota_of_tasks",
            "--exact",
            "--quiet",
        ])
        .build(&stop, &registry)
        .unwrap();
    let mut pids: Vec<u32> = (0..50)
        .map(|_| pool.submit(&PID, &()).wait().done().unwrap())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert!(
        pids.len() >= 10,
        "50 tasks, 5 per worker: {} workers",
        pids.len()
    );
}

#[test]
fn a_stop_inside_a_chunk_cancels_the_rest_of_it() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "a_stop_inside_a_chunk_cancels_the_rest_of_it",
        &stop,
        &registry,
        2,
    );
    let mut map = pool.map_chunked(0..100u32, 10, 4, &UNTIL_STOPPED);
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.request(Reason::Requested);
        })
    };
    let kinds: Vec<OutcomeKind> = map.by_ref().map(|o| o.kind()).collect();
    stopper.join().unwrap();
    let taken = kinds.len();
    let remaining = map.into_remaining().count();
    assert_eq!(taken + remaining, 100, "every input is accounted for");
    let interrupted = kinds
        .iter()
        .filter(|k| **k == OutcomeKind::Interrupted)
        .count();
    assert_eq!(interrupted, 2, "one running task per worker: {kinds:?}");
    assert!(kinds
        .iter()
        .all(|k| matches!(k, OutcomeKind::Interrupted | OutcomeKind::Cancelled)));
    let report = pool.join();
    assert_eq!((report.interrupted, report.cancelled), (2, taken - 2));
}

/// A worker gathers results into blocks, but never holds a finished one back while the next
/// task of its chunk runs on: here that task ends only with the stop.
#[test]
fn a_finished_value_arrives_while_the_next_task_of_its_chunk_runs() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "a_finished_value_arrives_while_the_next_task_of_its_chunk_runs",
        &stop,
        &registry,
        1,
    );
    // If the value never came on its own, the stop would bring it; the test must not hang.
    let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
    let watchdog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if cancelled.recv_timeout(Duration::from_secs(20)).is_err() {
                stop.request(Reason::Requested);
            }
        })
    };
    let mut map = pool.map_chunked(0..2u32, 2, 1, &FIRST_THEN_UNTIL_STOPPED);
    assert_eq!(map.next().and_then(Outcome::done), Some(7));
    assert!(
        !stop.is_stopping(),
        "the first value came only with the watchdog's stop"
    );
    drop(cancel);
    watchdog.join().unwrap();
    stop.request(Reason::Requested);
    assert_eq!(map.next().map(|o| o.kind()), Some(OutcomeKind::Interrupted));
    assert!(map.next().is_none());
}

#[test]
fn a_dying_worker_fails_its_task_and_is_replaced() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "a_dying_worker_fails_its_task_and_is_replaced",
        &stop,
        &registry,
        2,
    );
    let exited = pool.submit(&EXIT_3, &());
    let crashed = pool.submit(&SEGFAULT, &());
    let after: Vec<_> = (0..20u64).map(|n| pool.submit(&SQUARE, &n)).collect();
    match exited.wait() {
        Outcome::Failed(err) => assert!(err.to_string().contains("exit"), "{err}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    match crashed.wait() {
        Outcome::Failed(err) => assert!(err.to_string().contains("SIGSEGV"), "{err}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(
        after.into_iter().all(|h| h.wait().is_done()),
        "the pool goes on"
    );
    let report = pool.join();
    assert_eq!((report.failed, report.done), (2, 20));
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn errors_and_panics_in_workers_are_reported() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "errors_and_panics_in_workers_are_reported",
        &stop,
        &registry,
        1,
    );
    match pool.submit(&FAIL, &42).wait() {
        Outcome::Failed(err) => assert_eq!(err.to_string(), "bad input 42"),
        other => panic!("expected Failed, got {other:?}"),
    }
    match pool.submit(&PANIC, &()).wait() {
        Outcome::Panicked(message) => assert_eq!(message, "worker task panicked"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(pool.submit(&SQUARE, &3).wait().done(), Some(9));
}

#[test]
fn misuse_gets_a_clear_message() {
    let registry = registry();
    init(&registry);

    let mut twice = Registry::new();
    twice.register(&SQUARE).unwrap();
    let err = twice.register(&SQUARE).unwrap_err();
    assert!(matches!(err, Error::DuplicateTask("square")));
    assert!(err.to_string().contains("\"square\""), "{err}");

    let stop = quiet_stop();
    let pool = pool_for("misuse_gets_a_clear_message", &stop, &registry, 1);
    match pool.submit(&UNSENDABLE, &Unsendable).wait() {
        Outcome::Failed(err) => assert!(
            err.to_string().contains("cannot encode the argument"),
            "{err}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
    match pool.submit(&PICKY, &3).wait() {
        Outcome::Failed(err) => assert!(
            err.to_string().contains("cannot decode the task's value"),
            "{err}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(pool.submit(&PICKY, &4).wait().done().map(|p| p.0), Some(4));
    let unregistered = Registry::new();
    let other = ProcessPool::new(&stop, &unregistered, 1).unwrap();
    match other.submit(&SQUARE, &2).wait() {
        Outcome::Failed(err) => assert!(
            err.to_string().contains("not in the pool's registry"),
            "{err}"
        ),
        outcome => panic!("expected Failed, got {outcome:?}"),
    }
}

#[test]
fn a_program_without_init_is_named_as_the_cause() {
    // No `init` here: the workers run this test as a plain program, which must not become a
    // pool itself (no fork bomb) and must not hang the parent.
    let registry = registry();
    let stop = quiet_stop();
    match Builder::new(1)
        .worker_args([
            "a_program_without_init_is_named_as_the_cause",
            "--exact",
            "--test-threads=1",
        ])
        .build(&stop, &registry)
    {
        Err(Error::NotInitialized) => {} // we are the worker: refused, as it should be
        Err(other) => panic!("unexpected error {other}"),
        Ok(pool) => match pool.submit(&SQUARE, &2).wait() {
            Outcome::Failed(err) => {
                assert!(err.to_string().contains("brake::process::init"), "{err}")
            }
            outcome => panic!("expected Failed, got {outcome:?}"),
        },
    }
}

#[test]
fn a_stop_cancels_queued_tasks_and_keeps_finished_ones() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "a_stop_cancels_queued_tasks_and_keeps_finished_ones",
        &stop,
        &registry,
        2,
    );
    let first = pool.submit(&SQUARE, &7);
    assert_eq!(first.wait().done(), Some(49));
    let queued: Vec<_> = (0..10_000u64).map(|n| pool.submit(&SQUARE, &n)).collect();
    stop.request(Reason::Requested);
    let report = pool.join();
    assert_eq!(report.total(), 10_001);
    assert!(report.done >= 1);
    assert_eq!(report.done + report.cancelled + report.interrupted, 10_001);
    let kinds: Vec<OutcomeKind> = queued.into_iter().map(|h| h.wait().kind()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == OutcomeKind::Done).count(),
        report.done - 1
    );
    assert!(kinds.iter().all(|k| matches!(
        k,
        OutcomeKind::Done | OutcomeKind::Cancelled | OutcomeKind::Interrupted
    )));
}

#[test]
fn a_busy_worker_is_killed_when_the_stops_grace_period_ends() {
    const NAME: &str = "a_busy_worker_is_killed_when_the_stops_grace_period_ends";
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(NAME, &stop, &registry, 1);
    assert_eq!(pool.submit(&SQUARE, &3).wait().done(), Some(9));
    // Set after the pool is built: read when the stop begins.
    stop.set_grace(Duration::from_secs(5));
    let stuck = pool.submit(&IGNORES_STOP, &());
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    stop.request(Reason::Requested);
    let report = pool.join();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(4_800),
        "killed after {took:?}"
    );
    assert!(took < Duration::from_secs(60), "killed after {took:?}");
    assert_eq!(stuck.wait().kind(), OutcomeKind::Interrupted);
    assert_eq!((report.done, report.interrupted), (1, 1));
}

/// Sleeps `n` milliseconds, then returns `n`.
static SLEEP_MS: Task<u64, u64> = Task::new("sleep-ms", |_, n| {
    std::thread::sleep(Duration::from_millis(n));
    Ok(n)
});

#[test]
fn map_unordered_yields_outcomes_as_they_come_with_their_input() {
    const NAME: &str = "map_unordered_yields_outcomes_as_they_come_with_their_input";
    let mut registry = registry();
    registry.register(&SLEEP_MS).unwrap();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(NAME, &stop, &registry, 2);
    let inputs = [600u64, 10, 20, 30];
    let arrived: Vec<(usize, u64)> = pool
        .map_unordered(inputs, &SLEEP_MS)
        .map(|(index, outcome)| (index, outcome.into_result().unwrap()))
        .collect();
    // The slow first input comes last; each value names its input.
    assert_eq!(arrived.last(), Some(&(0, 600)), "{arrived:?}");
    assert!(arrived.iter().all(|&(index, value)| inputs[index] == value));
    assert_eq!(pool.join().done, 4);
}

#[test]
fn a_dropped_pool_cancels_what_has_not_started() {
    const NAME: &str = "a_dropped_pool_cancels_what_has_not_started";
    let mut registry = registry();
    registry.register(&SLEEP_MS).unwrap();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(NAME, &stop, &registry, 1);
    let handles: Vec<_> = (0..40).map(|_| pool.submit(&SLEEP_MS, &100)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    drop(pool);
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    let kinds: Vec<OutcomeKind> = handles.into_iter().map(|h| h.wait().kind()).collect();
    let done = kinds.iter().filter(|k| **k == OutcomeKind::Done).count();
    let cancelled = kinds
        .iter()
        .filter(|k| **k == OutcomeKind::Cancelled)
        .count();
    assert!((1..10).contains(&done), "{kinds:?}");
    assert_eq!(done + cancelled, 40, "{kinds:?}");
}

/// The worker's thread name and its command line's first word.
static NAMES: Task<(), (String, String)> = Task::new("names", |_, ()| {
    // The thread that took the start over as a worker runs its tasks too.
    let comm = std::fs::read_to_string("/proc/thread-self/comm")?;
    let cmdline = std::fs::read("/proc/self/cmdline")?;
    let arg0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    Ok((
        comm.trim().to_string(),
        String::from_utf8_lossy(arg0).into_owned(),
    ))
});

#[test]
fn workers_started_through_main_are_named_for_ps() {
    const NAME: &str = "workers_started_through_main_are_named_for_ps";
    let mut registry = registry();
    registry.register(&NAMES).unwrap();
    brake::process::main(&registry, |registry| {
        let stop = quiet_stop();
        let pool = pool_for(NAME, &stop, registry, 1);
        let (comm, arg0) = pool.submit(&NAMES, &()).wait().into_result().unwrap();
        assert_eq!(comm, "brake-worker");
        assert!(arg0.ends_with(" (brake worker)"), "{arg0}");
    });
}

/// True while `pid` is a live process (not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn a_grandchild_that_left_the_group_is_ended_by_the_stop() {
    let registry = registry();
    init(&registry);
    let stop = quiet_stop();
    let pool = pool_for(
        "a_grandchild_that_left_the_group_is_ended_by_the_stop",
        &stop,
        &registry,
        1,
    );
    let pid = pool
        .submit(&ESCAPE, &())
        .wait()
        .done()
        .expect("the grandchild started");
    assert!(alive(pid));
    stop.request(Reason::Requested);
    pool.join();
    assert!(!alive(pid), "the setsid grandchild {pid} outlived the stop");
}

// ---- Ctrl-C at the `process_pool` example in a real terminal ----

fn example(args: &[&str]) -> Session {
    Session::spawn(Command::new(example_path("process_pool")).args(args))
        .expect("start the example")
}

fn report_line(output: &str) -> &str {
    output
        .lines()
        .find(|l| l.contains(" tasks in ") || l.contains(" task in "))
        .unwrap_or_else(|| panic!("no report in:\n{output}"))
}

fn one_press_stops(kind: &str, tasks: usize, workers: usize) {
    let (t, w) = (tasks.to_string(), workers.to_string());
    let session = example(&[
        "--task",
        kind,
        "--tasks",
        &t,
        "--workers",
        &w,
        "--grace",
        "1",
    ]);
    let running = workers.min(tasks);
    session.wait_for("worker started", running, LIMIT).unwrap();
    let finished = press_once(session, Duration::from_secs(60), LIMIT);
    let (total, counts) = report_counts(&finished.output);
    assert_eq!(total, tasks);
    assert_eq!(
        count_of(&counts, "interrupted"),
        running,
        "{}",
        finished.output
    );
    assert_eq!(
        count_of(&counts, "not started"),
        tasks - running,
        "{}",
        finished.output
    );
    if kind != "busy" {
        let exits = finished.output.matches("handler exit").count();
        assert_eq!(exits, running, "{}", finished.output);
    }
}

#[test]
fn one_press_stops_6_tasks_on_3_workers() {
    for kind in ["cooperative", "busy", "sleep"] {
        one_press_stops(kind, 6, 3);
    }
}

#[test]
fn one_press_stops_100_tasks_on_3_workers() {
    for kind in ["cooperative", "busy", "sleep"] {
        one_press_stops(kind, 100, 3);
    }
}

#[test]
fn one_press_stops_10_000_tasks_on_16_workers() {
    for kind in ["cooperative", "busy", "sleep"] {
        one_press_stops(kind, 10_000, 16);
    }
}

#[test]
fn an_uninterrupted_run_exits_0() {
    let session = example(&["--task", "sleep", "--seconds", "0.1", "--tasks", "9"]);
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Exited(0), "{}", finished.output);
    assert!(report_line(&finished.output).contains(": 9 done."));
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
}

#[test]
fn workers_die_with_a_killed_parent() {
    let mut session = example(&["--task", "busy", "--tasks", "6"]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let token = session.marker().to_owned();
    let before = marked_processes(&token).len();
    assert!(before >= 4, "parent and three workers: {before}");
    session.send_signal(libc::SIGKILL).unwrap();
    let killed = Instant::now();
    while !marked_processes(&token).is_empty() && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone_after = killed.elapsed();
    let left = marked_processes(&token);
    assert!(left.is_empty(), "workers outlived their parent: {left:?}");
    eprintln!("workers gone {gone_after:?} after the parent's SIGKILL");
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Signaled(libc::SIGKILL));
}
