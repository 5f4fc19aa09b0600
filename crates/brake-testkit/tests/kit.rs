//! The kit's own tests, with small `/bin/sh` programs whose reaction to Ctrl-C is known.

use std::time::Duration;

use brake_testkit::{example_path, marked_processes, Command, KitError, Session, Status};

/// Generous, for waits that should succeed: only a broken program or kit ever reaches it.
const LONG: Duration = Duration::from_secs(20);

fn sh(script: &str) -> Session {
    Session::spawn(Command::new("sh").arg("-c").arg(script)).expect("spawn sh")
}

/// Ticks in the foreground until a signal ends it.
const LOOP: &str = "while :; do sleep 0.05; done";

#[test]
fn a_press_is_a_sigint_from_the_terminal() {
    let mut session = sh(&format!(
        "trap 'echo got-int; exit 7' INT; echo ready; {LOOP}"
    ));
    session.wait_for("ready", 1, LONG).unwrap();
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LONG).unwrap();

    assert_eq!(finished.status, Status::Exited(7), "{}", finished.output);
    assert_eq!(finished.presses, 1);
    assert!(finished.output.contains("got-int"), "{}", finished.output);
    assert!(finished.since_first_stop.is_some());
    assert!(!finished.output.contains('\r'), "\\r\\n is normalised");
}

#[test]
fn a_press_kills_a_program_with_the_default_sigint_action() {
    let mut session = sh(&format!("echo ready; {LOOP}"));
    session.wait_for("ready", 1, LONG).unwrap();
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LONG).unwrap();

    assert_eq!(finished.status, Status::Signaled(libc::SIGINT));
    assert_eq!(finished.status.signal(), Some(2));
    assert_eq!(finished.status.code(), None);
}

#[test]
fn a_program_that_ignores_presses_times_out_and_is_killed() {
    let session = sh(&format!("trap '' INT; echo ready; {LOOP}"));
    session.wait_for("ready", 1, LONG).unwrap();
    let token = session.marker().to_owned();

    let err = session
        .press_until_exit(Duration::from_millis(100), 3, Duration::from_millis(800))
        .unwrap_err();

    match &err {
        KitError::Timeout {
            presses, running, ..
        } => {
            assert_eq!(*presses, 3);
            assert!(!running.is_empty(), "the shell was still running");
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(
        err.to_string().contains("ready"),
        "the message shows the output: {err}"
    );
    assert_eq!(marked_processes(&token), vec![]);
}

#[test]
fn an_escaped_grandchild_is_reported_and_then_killed() {
    // Exit only once the grandchild has its own session (session id == its pid): before
    // that, the shell's exit would SIGHUP it along with the foreground group.
    let session = sh("setsid sleep 30 & g=$!; \
         while [ \"$(cut -d' ' -f6 /proc/$g/stat)\" != \"$g\" ]; do sleep 0.01; done; \
         echo escaped; exit 0");
    let token = session.marker().to_owned();
    let finished = session.wait_exit(LONG).unwrap();

    assert_eq!(finished.status, Status::Exited(0), "{}", finished.output);
    assert!(
        finished
            .survivors
            .iter()
            .any(|s| s.cmdline.contains("sleep 30")),
        "survivors: {:?}",
        finished.survivors
    );
    assert_eq!(marked_processes(&token), vec![]);
}

#[test]
fn sigterm_is_a_stop_but_not_a_press() {
    let mut session = sh(&format!("echo ready; {LOOP}"));
    session.wait_for("ready", 1, LONG).unwrap();
    session.send_signal(libc::SIGTERM).unwrap();
    let finished = session.wait_exit(LONG).unwrap();

    assert_eq!(finished.status, Status::Signaled(libc::SIGTERM));
    assert_eq!(finished.presses, 0);
    assert!(finished.since_first_stop.is_some());
}

#[test]
fn presses_are_counted_across_calls_and_stop_once_the_program_ends() {
    let mut session = sh(&format!(
        "trap 'trap - INT; echo first' INT; echo ready; {LOOP}"
    ));
    session.wait_for("ready", 1, LONG).unwrap();
    session.press_ctrl_c().unwrap();
    session.wait_for("first", 1, LONG).unwrap();
    let finished = session
        .press_until_exit(Duration::from_secs(2), 3, LONG)
        .unwrap();

    assert_eq!(finished.presses, 2);
    assert_eq!(finished.status, Status::Signaled(libc::SIGINT));
}

#[test]
fn press_twice_does_not_press_a_program_that_already_ended() {
    let session = sh(&format!("trap 'exit 3' INT; echo ready; {LOOP}"));
    session.wait_for("ready", 1, LONG).unwrap();
    let finished = session.press_twice(Duration::from_secs(5), LONG).unwrap();

    assert_eq!(finished.presses, 1);
    assert_eq!(finished.status, Status::Exited(3));
    assert!(finished.since_first_stop.unwrap() < Duration::from_secs(5));
}

#[test]
fn wait_for_fails_when_the_program_ends_first() {
    let session = sh("echo bye; exit 3");
    let err = session.wait_for("never", 1, LONG).unwrap_err();

    match &err {
        KitError::Ended { status, .. } => assert_eq!(*status, Some(Status::Exited(3))),
        other => panic!("expected Ended, got {other}"),
    }
    assert!(err.to_string().contains("bye"), "{err}");
    assert_eq!(session.wait_exit(LONG).unwrap().status, Status::Exited(3));
}

#[test]
fn wait_for_counts_occurrences() {
    let session = sh("for i in 1 2 3; do echo tick; done; sleep 30");
    session.wait_for("tick", 3, LONG).unwrap();
    let err = session
        .wait_for("tick", 4, Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, KitError::Timeout { .. }), "{err}");
}

#[test]
fn the_program_gets_the_marker_env_and_directory() {
    let dir = std::env::temp_dir();
    let session = Session::spawn(
        Command::new("sh")
            .args(["-c", "echo \"mark=$BRAKE_TESTKIT_MARK extra=$EXTRA\"; pwd"])
            .env("EXTRA", "yes")
            .cwd(&dir),
    )
    .unwrap();
    let expected = format!("mark={} extra=yes\n", session.marker());
    let finished = session.wait_exit(LONG).unwrap();

    assert!(finished.output.contains(&expected), "{}", finished.output);
    let dir = dir.canonicalize().unwrap();
    assert!(
        finished.output.contains(dir.to_str().unwrap()),
        "{}",
        finished.output
    );
}

#[test]
fn the_terminal_signals_on_ctrl_c_and_keeps_output() {
    let finished = sh("stty -a").wait_exit(LONG).unwrap();
    let flags: Vec<&str> = finished.output.split_whitespace().collect();
    for flag in ["isig", "noflsh", "intr"] {
        assert!(flags.contains(&flag), "{flag} missing: {}", finished.output);
    }
}

#[test]
fn sessions_can_move_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<Session>();
    is_send::<KitError>();
}

#[test]
fn a_missing_directory_is_an_error_not_home() {
    let err = Session::spawn(Command::new("true").cwd("/no/such/dir")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn dropping_a_session_kills_everything_it_started() {
    let session = sh(&format!(
        "trap '' INT TERM HUP; setsid sleep 30 & echo ready; {LOOP}"
    ));
    session.wait_for("ready", 1, LONG).unwrap();
    let token = session.marker().to_owned();
    assert!(!marked_processes(&token).is_empty());

    drop(session);
    assert_eq!(marked_processes(&token), vec![]);
}

#[test]
fn a_cargo_example_is_found_and_stopped() {
    let mut session = Session::spawn(Command::new(example_path("ticker"))).unwrap();
    session.wait_for("ready", 1, LONG).unwrap();
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LONG).unwrap();
    assert_eq!(finished.status, Status::Signaled(libc::SIGINT));
}

#[test]
#[should_panic(expected = "cargo build --examples")]
fn a_missing_example_names_the_command_that_builds_it() {
    example_path("no-such-example");
}

#[test]
fn hanging_up_sends_sighup_to_the_program() {
    let session = sh("echo ready; read -r line; exit 3");
    session.wait_for("ready", 1, LONG).unwrap();
    let finished = session.hang_up(LONG).unwrap();

    assert_eq!(
        finished.status,
        Status::Signaled(libc::SIGHUP),
        "{}",
        finished.output
    );
    assert_eq!(finished.presses, 0);
    assert!(finished.since_first_stop.is_some());
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
}

#[test]
fn a_hangup_reaches_the_foreground_group_too() {
    let session = sh("trap 'echo got-hup' HUP; sleep 300 & echo ready; wait");
    session.wait_for("ready", 1, LONG).unwrap();
    let token = session.marker().to_owned();
    let finished = session.hang_up(LONG).unwrap();

    // sh handles HUP (its echo fails on the closed terminal, the trap still ends the wait)
    // and exits; its background sleep is in the same foreground group and gets HUP too.
    assert!(finished.status.code().is_some(), "{:?}", finished.status);
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert!(marked_processes(&token).is_empty());
}
