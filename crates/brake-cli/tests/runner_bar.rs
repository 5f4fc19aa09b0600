//! The `--bar` progress bar in a real pseudo-terminal: drawn only once the run's checks are
//! passed, counting only this run's work, and gone before the stop's notice.

use std::time::Duration;

use brake_testkit::Status;

mod support;
use support::{run_in, start_in};

const LIMIT: Duration = Duration::from_secs(60);

fn values(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[test]
fn a_refused_joblog_is_said_before_any_bar_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), ["--joblog", "run.log", "echo", ":::", "a", "b"]);
    let session = start_in(
        dir.path(),
        [
            "--bar", "--resume", "--joblog", "run.log", "touch", ":::", "a", "b", "c",
        ],
    );
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(255), "{output}");
    assert!(
        output.contains("was written by a different command line"),
        "{output}"
    );
    assert!(!output.contains("ETA"), "a bar was drawn: {output:?}");
    assert!(output.starts_with("brake: "), "{output:?}");
}

#[test]
fn on_resume_the_bar_counts_only_the_jobs_left() {
    let dir = tempfile::tempdir().unwrap();
    let job = "sleep 0.5; : {}";
    let mut first = vec!["-j", "8", "--joblog", "run.log", job, ":::"];
    let done = values(1..=8);
    first.extend(done.iter().map(String::as_str));
    let out = run_in(dir.path(), &first);
    assert!(out.status.success(), "{out:?}");
    let all = values(1..=12);
    let mut args = vec![
        "--bar", "-j", "1", "--resume", "--joblog", "run.log", job, ":::",
    ];
    args.extend(all.iter().map(String::as_str));
    let finished = start_in(dir.path(), &args).wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(0), "{output}");
    // 8 of the 12 jobs were done: the bar is of the 4 left, and starts at 0, with no ETA until
    // a job has ended.
    assert!(output.contains(" 0/4\r"), "{output:?}");
    assert!(!output.contains(" 0/4 ETA"), "{output:?}");
    assert!(output.contains(" 1/4 ETA"), "{output:?}");
    assert!(!output.contains("/12 "), "{output:?}");
    assert!(output.contains("8 skipped"), "{output:?}");
}

#[test]
fn the_stop_notice_clears_the_bar_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let all = values(1..=40);
    let mut args = vec!["--bar", "-j", "2", "sleep 0.2; echo finished {}", ":::"];
    args.extend(all.iter().map(String::as_str));
    let mut session = start_in(dir.path(), &args);
    session.wait_for("finished 4", 1, LIMIT).unwrap();
    session.wait_for("ETA", 1, LIMIT).unwrap();
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    let (_, after) = output
        .split_once("brake: stopping")
        .unwrap_or_else(|| panic!("no notice: {output:?}"));
    assert!(
        !after.contains("ETA"),
        "the bar came back after the notice: {output:?}"
    );
    // The bar's line is cleared before the notice is written over it.
    assert!(output.contains("\r\u{1b}[2Kbrake: stopping"), "{output:?}");
    // Redrawn below each job's output, the bar counts that job.
    for line in output.lines().filter(|line| line.contains("ETA")) {
        let Some((_, rest)) = line.split_once("] ") else {
            continue;
        };
        let shown: usize = rest.split('/').next().unwrap().parse().unwrap();
        let printed = output[..output.find(line).unwrap()]
            .matches("finished")
            .count();
        assert!(
            shown >= printed,
            "{shown} counted after {printed} printed: {output:?}"
        );
    }
}
