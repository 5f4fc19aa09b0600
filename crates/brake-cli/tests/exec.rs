//! `brake exec`, pressed for real: the program runs under brake in a pseudo-terminal and the
//! test writes Ctrl-C (0x03) to it.

use std::path::PathBuf;
use std::time::Duration;

use brake_testkit::{marked_processes, Status};

mod support;
use support::start;

const LIMIT: Duration = Duration::from_secs(120);

fn data(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

#[test]
fn one_press_ends_the_seeds_python_pool_and_all_its_workers() {
    let script = data("seed_defect.py");
    let session = start(["exec", "--", "python3", &script]);
    session.wait_for("worker started", 3, LIMIT).unwrap();
    let token = session.marker().to_owned();
    assert!(
        marked_processes(&token).len() >= 5,
        "brake, python and three workers"
    );
    let finished = session
        .press_until_exit(Duration::from_secs(30), 2, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 1, "{}", finished.output);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(
        finished.survivors.is_empty(),
        "left running: {:?}",
        finished.survivors
    );
    assert!(
        finished.output.contains("brake: stopping — 1 running"),
        "{}",
        finished.output
    );
}

#[test]
fn a_program_that_ignores_ctrl_c_is_escalated() {
    let session = start([
        "exec",
        "--termseq",
        "INT,300,TERM,300,KILL",
        "--",
        "sh",
        "-c",
        "trap '' INT; echo ready; while :; do sleep 0.05; done",
    ]);
    session.wait_for("ready", 1, LIMIT).unwrap();
    let finished = session
        .press_until_exit(Duration::from_secs(30), 2, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 1, "{}", finished.output);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(
        finished.survivors.is_empty(),
        "left running: {:?}",
        finished.survivors
    );
}

#[test]
fn a_second_press_kills_at_once() {
    let session = start([
        "exec",
        "--termseq",
        "INT,60000,TERM,60000,KILL",
        "--",
        "sh",
        "-c",
        "trap '' INT TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    session.wait_for("ready", 1, LIMIT).unwrap();
    let finished = session
        .press_twice(Duration::from_millis(300), LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 2);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    // The sequence would take two minutes; only the second press ends it within one.
    assert!(finished.since_first_stop.unwrap() < Duration::from_secs(60));
    assert!(
        finished.survivors.is_empty(),
        "left running: {:?}",
        finished.survivors
    );
}

#[test]
fn a_descendant_that_left_the_group_is_ended_too() {
    let session = start([
        "exec",
        "--",
        "sh",
        "-c",
        // Ready once the sleep has its own session, not after a guess at how long that takes.
        "setsid sleep 300 & g=$!; \
         while [ \"$(cut -d' ' -f6 /proc/$g/stat)\" != \"$g\" ]; do sleep 0.01; done; \
         echo ready; while :; do sleep 0.05; done",
    ]);
    session.wait_for("ready", 1, LIMIT).unwrap();
    let finished = session
        .press_until_exit(Duration::from_secs(30), 2, LIMIT)
        .unwrap();
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(
        finished.survivors.is_empty(),
        "left running: {:?}",
        finished.survivors
    );
    assert!(
        finished
            .output
            .contains("brake: ended 1 process(es) that had left"),
        "{}",
        finished.output
    );
}

#[test]
fn the_programs_own_status_passes_through() {
    let finished = start(["exec", "--", "sh", "-c", "exit 7"])
        .wait_exit(LIMIT)
        .unwrap();
    assert_eq!(finished.status, Status::Exited(7));
    let finished = start(["exec", "--", "sh", "-c", "kill -TERM $$"])
        .wait_exit(LIMIT)
        .unwrap();
    assert_eq!(finished.status, Status::Exited(143));
}

#[test]
fn bad_input_gets_a_one_line_message_and_its_status() {
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &["exec", "--", "/nonexistent/program"],
            127,
            "brake: cannot run /nonexistent/program",
        ),
        (&["exec", "--", "/"], 126, "brake: cannot run /"),
        (&["exec"], 255, "required arguments were not provided"),
        (
            &["exec", "--termseq", "INT,abc", "--", "true"],
            255,
            "\"abc\" is not a signal name",
        ),
    ];
    for (args, code, message) in cases {
        let finished = start(args).wait_exit(LIMIT).unwrap();
        assert_eq!(
            finished.status,
            Status::Exited(code),
            "{args:?}: {}",
            finished.output
        );
        assert!(
            finished.output.contains(message),
            "{args:?}: {}",
            finished.output
        );
    }
}

#[test]
fn a_terminal_stdin_is_replaced_by_dev_null_and_help_says_why() {
    let finished = start(["exec", "--", "sh", "-c", "read x; echo \"read $? [$x]\""])
        .wait_exit(LIMIT)
        .unwrap();
    assert_eq!(finished.status, Status::Exited(0), "{}", finished.output);
    assert!(finished.output.contains("read 1 []"), "{}", finished.output);
    let help = std::process::Command::new(support::BRAKE)
        .args(["exec", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("when brake's stdin is a terminal, the program's is /dev/null"),
        "{help}"
    );
    assert!(help.contains("SIGTTIN"), "{help}");
}
