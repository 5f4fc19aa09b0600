//! The first step of a pool worker's termination sequence sent from the signal handler: each
//! test re-runs this test binary in a pseudo-terminal as a small program (chosen by
//! `CHILD_VAR`) with a process pool whose workers are this binary too, and presses Ctrl-C.
//!
//! The task notices the stop, takes 300 ms to finish up, and returns a value; the grace period
//! is 30 s. A worker that got the first step twice would take the second as "force" and end
//! without its value, so the value arriving shows the step was sent exactly once.

use std::time::Duration;

use brake::process::{init, Builder, Registry, Task};
use brake::{Notice, Reason, Stop};
use brake_testkit::{Command, Session, Status};

const CHILD_VAR: &str = "BRAKE_FIRST_STEP_TEST_CHILD";
const LIMIT: Duration = Duration::from_secs(60);

static WIND_DOWN: Task<u32, u32> = Task::new("wind-down", |stop, n| {
    println!("task started");
    while !stop.is_stopping() {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("task noticed the stop");
    // Finishing up takes a while; the grace period allows it.
    std::thread::sleep(Duration::from_millis(300));
    Ok(n * 2)
});

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(&WIND_DOWN).expect("one task");
    registry
}

/// The program: one task on a two-worker pool, its outcome printed. With `request_first`,
/// the program stops itself once the task runs, before any press.
fn program(test: &str, request_first: bool) {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop.set_grace(Duration::from_secs(30));
    stop.install_signals().unwrap();
    let pool = Builder::new(2)
        .worker_args([
            test,
            "--exact",
            "--quiet",
            "--nocapture",
            "--test-threads=1",
        ])
        .build(&stop, &registry())
        .unwrap();
    let handle = pool.submit(&WIND_DOWN, &21);
    if request_first {
        std::thread::sleep(Duration::from_millis(300));
        stop.request(Reason::Requested);
    }
    println!("outcome: {:?}", handle.wait());
    let report = pool.join();
    println!("{report}");
    std::process::exit(report.exit_code());
}

/// Starts this test binary running only `test` as the child program.
fn start(test: &str) -> Session {
    let exe = std::env::current_exe().unwrap();
    let command = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1");
    let session = Session::spawn(command).unwrap();
    session.wait_for("task started", 1, LIMIT).unwrap();
    session
}

#[test]
fn one_press_tells_a_busy_worker_once() {
    const NAME: &str = "one_press_tells_a_busy_worker_once";
    init(&registry());
    if std::env::var_os(CHILD_VAR).is_some() {
        program(NAME, false);
    }
    let mut session = start(NAME);
    std::thread::sleep(Duration::from_millis(100));
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert!(
        finished.output.contains("outcome: Done(42)"),
        "{}",
        finished.output
    );
    assert_eq!(finished.presses, 1);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
}

#[test]
fn a_press_after_the_pool_began_stopping_does_not_tell_its_workers_again() {
    const NAME: &str = "a_press_after_the_pool_began_stopping_does_not_tell_its_workers_again";
    init(&registry());
    if std::env::var_os(CHILD_VAR).is_some() {
        program(NAME, true);
    }
    let mut session = start(NAME);
    // The program stopped itself; its pool sent the worker the first step.
    session.wait_for("task noticed the stop", 1, LIMIT).unwrap();
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert!(
        finished.output.contains("outcome: Done(42)"),
        "{}",
        finished.output
    );
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
}
