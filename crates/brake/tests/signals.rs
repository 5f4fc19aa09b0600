//! The process-wide signal routing, pressed for real: each test re-runs this test binary in a
//! pseudo-terminal as a small program (chosen by `CHILD_VAR`) and presses Ctrl-C at it.

use std::time::Duration;

use brake::{Phase, Stop};
use brake_testkit::{marked_processes, Command, Session, Status};

const CHILD_VAR: &str = "BRAKE_SIGNALS_TEST_CHILD";
const LIMIT: Duration = Duration::from_secs(60);

/// Starts this test binary running only `test`, as the child program `mode`.
fn child(test: &str, mode: &str) -> Session {
    let exe = std::env::current_exe().unwrap();
    let command = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, mode);
    let session = Session::spawn(command).unwrap();
    session.wait_for("ready", 1, LIMIT).unwrap();
    session
}

/// The child program's mode, when this process is one.
fn mode() -> Option<String> {
    std::env::var(CHILD_VAR).ok()
}

fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_grace(Duration::MAX);
    stop
}

#[test]
fn a_press_a_second_after_forcing_ends_a_wedged_program_at_once() {
    const NAME: &str = "a_press_a_second_after_forcing_ends_a_wedged_program_at_once";
    if mode().is_some() {
        let stop = quiet_stop();
        stop.install_signals().unwrap();
        println!("ready");
        // Wedged: ignores the stop entirely, as a program stuck outside brake would.
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let mut session = child(NAME, "wedged");
    let alive = |session: &Session| {
        marked_processes(session.marker())
            .iter()
            .any(|p| p.pid == session.pid())
    };
    session.press_ctrl_c().unwrap();
    session
        .wait_for("brake: stopping (Ctrl-C again to force)", 1, LIMIT)
        .unwrap();
    session.press_ctrl_c().unwrap();
    session
        .wait_for("brake: forcing stop now", 1, LIMIT)
        .unwrap();
    // Hammering on right after forcing is absorbed: an orderly end may still be under way.
    for _ in 0..20 {
        session.press_ctrl_c().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(&session), "{}", session.output());
    std::thread::sleep(Duration::from_millis(800));
    let finished = session
        .press_until_exit(Duration::from_millis(500), 1, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 23, "{}", finished.output);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
}

#[test]
fn a_first_press_a_second_after_code_forced_the_stop_ends_the_process() {
    const NAME: &str = "a_first_press_a_second_after_code_forced_the_stop_ends_the_process";
    if mode().is_some() {
        let stop = quiet_stop();
        stop.install_signals().unwrap();
        stop.force(); // forcing begun by code, not by a signal
        println!("ready");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let session = child(NAME, "forced by code");
    std::thread::sleep(Duration::from_millis(1100));
    let finished = session
        .press_until_exit(Duration::from_secs(30), 1, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 1, "{}", finished.output);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
}

#[test]
fn a_press_a_second_after_the_grace_period_forced_the_stop_ends_the_process() {
    const NAME: &str = "a_press_a_second_after_the_grace_period_forced_the_stop_ends_the_process";
    if mode().is_some() {
        let stop = Stop::new();
        stop.set_grace(Duration::from_millis(100));
        stop.install_signals().unwrap();
        println!("ready");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let mut session = child(NAME, "forced by the grace period");
    session.press_ctrl_c().unwrap();
    session
        .wait_for("brake: grace period over", 1, LIMIT)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let finished = session
        .press_until_exit(Duration::from_secs(30), 1, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 2, "{}", finished.output);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
}

#[test]
fn a_sigint_ignored_at_start_stays_ignored() {
    if mode().is_some() {
        // SAFETY: setting a signal's disposition to SIG_IGN before any handler exists; this is
        // what a non-interactive shell does for `cmd &`.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        let stop = quiet_stop();
        stop.install_signals().unwrap();
        println!("ignored at start: {:?}", brake::signals::ignored_at_start());
        println!("ready");
        let stopped = stop.sleep(Duration::from_secs(2)).is_interrupted();
        println!("stopped: {stopped}");
        std::process::exit(0);
    }
    let mut session = child("a_sigint_ignored_at_start_stays_ignored", "ignored");
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Exited(0), "{}", finished.output);
    assert!(finished
        .output
        .contains(&format!("ignored at start: [{}]", libc::SIGINT)));
    assert!(
        finished.output.contains("stopped: false"),
        "{}",
        finished.output
    );
}

#[test]
fn installing_again_redirects_signals_to_the_newest_stop() {
    if mode().is_some() {
        let first = quiet_stop();
        let second = quiet_stop();
        first.install_signals().unwrap();
        second.install_signals().unwrap();
        second.install_signals().unwrap(); // the same stop again: changes nothing
        println!("ready");
        second.wait_for(Phase::Stopping);
        // One press, counted once: the second stop is stopping, not forcing.
        std::thread::sleep(Duration::from_millis(200));
        println!("first: {:?}, second: {:?}", first.phase(), second.phase());
        std::process::exit(second.exit_code().unwrap_or(1));
    }
    let mut session = child(
        "installing_again_redirects_signals_to_the_newest_stop",
        "again",
    );
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    let expected = format!("first: {:?}, second: {:?}", Phase::Running, Phase::Stopping);
    assert!(finished.output.contains(&expected), "{}", finished.output);
}

#[test]
fn after_uninstalling_ctrl_c_ends_the_process_as_usual() {
    if mode().is_some() {
        let stop = quiet_stop();
        stop.install_signals().unwrap();
        brake::signals::uninstall_signals();
        println!("ready");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let mut session = child(
        "after_uninstalling_ctrl_c_ends_the_process_as_usual",
        "gone",
    );
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(
        finished.status,
        Status::Signaled(libc::SIGINT),
        "{}",
        finished.output
    );
}
