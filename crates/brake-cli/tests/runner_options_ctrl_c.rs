//! GNU parallel's scheduling and output options under the stop contract, in a real pty: a
//! Ctrl-C during a `--delay` wait ends the run at once, and `--results` / `--files` keep what
//! finished and claim nothing for the job the stop interrupted.

use std::path::Path;
use std::time::{Duration, Instant};

use brake_testkit::{marked_processes, Session, Status};

mod support;
use support::start_in;

const LIMIT: Duration = Duration::from_secs(120);

/// Waits until `path` exists (written by the run under test).
fn wait_for_file(session: &Session, path: &Path) {
    let until = Instant::now() + LIMIT;
    while !path.exists() {
        assert!(
            Instant::now() < until,
            "{} never appeared: {}",
            path.display(),
            session.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until one of the session's processes is `sleep 30`.
fn wait_for_sleep(session: &Session) {
    let until = Instant::now() + LIMIT;
    while !marked_processes(session.marker())
        .iter()
        .any(|p| p.cmdline == "sleep 30")
    {
        assert!(
            Instant::now() < until,
            "the job never started: {}",
            session.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Temporary files `--results` writes through, left in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".brake-result"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_press_during_a_delay_ends_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Job 1 ends at once; the hour's delay then holds job 2 back, and only the press ends it.
    let session = start_in(
        dir.path(),
        [
            "-j",
            "2",
            "--delay",
            "1h",
            "--results",
            "out",
            "echo {}",
            ":::",
            "1",
            "2",
            "3",
        ],
    );
    wait_for_file(&session, &dir.path().join("out/1/1/seq"));
    support::one_press_stops(session, LIMIT);
    assert_eq!(
        std::fs::read(dir.path().join("out/1/1/stdout")).unwrap(),
        b"1\n"
    );
    assert!(!dir.path().join("out/1/2").exists(), "job 2 never started");
}

#[test]
fn results_keep_what_finished_and_nothing_of_what_a_press_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(
        dir.path(),
        [
            "-j",
            "2",
            "--results",
            "out",
            "echo begin {}; [ {} = 1 ] || sleep 30; echo end {}",
            ":::",
            "1",
            "2",
        ],
    );
    wait_for_file(&session, &dir.path().join("out/1/1/seq"));
    wait_for_sleep(&session);
    support::one_press_stops(session, LIMIT);
    let job1 = dir.path().join("out/1/1");
    assert_eq!(
        std::fs::read(job1.join("stdout")).unwrap(),
        b"begin 1\nend 1\n"
    );
    assert_eq!(std::fs::read(job1.join("seq")).unwrap(), b"1");
    assert!(
        !dir.path().join("out/1/2").exists(),
        "the interrupted job has no results"
    );
    assert!(leftovers(&job1).is_empty(), "{:?}", leftovers(&job1));
}

#[test]
fn files_name_only_whole_outputs_after_a_press() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    let session = start_in(
        dir.path(),
        [
            "-j",
            "2",
            "--files",
            "--tmpdir",
            "t",
            "echo begin {}; [ {} = 1 ] || sleep 30; echo end {}",
            ":::",
            "1",
            "2",
        ],
    );
    wait_for_sleep(&session);
    let until = Instant::now() + LIMIT;
    while std::fs::read_dir(dir.path().join("t")).unwrap().count() == 0 {
        assert!(Instant::now() < until, "no file: {}", session.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = session
        .press_until_exit(Duration::from_secs(30), 3, LIMIT)
        .unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    assert!(
        finished.survivors.is_empty(),
        "left: {:?}",
        finished.survivors
    );
    let files: Vec<_> = std::fs::read_dir(dir.path().join("t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "only job 1's output is a file: {files:?}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), b"begin 1\nend 1\n");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(output.contains(&name), "{output}");
    assert!(
        !output.lines().any(|line| line.trim_end() == "begin 2"),
        "the interrupted job's output is not printed: {output}"
    );
}

/// Each job prints `start N`, waits for the file `go`, then prints `end N`.
const WAITS_FOR_GO: &str = "echo start {}; while [ ! -e go ]; do sleep 0.05; done; echo end {}";

#[test]
fn line_buffer_in_order_streams_the_oldest_jobs_lines() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(
        dir.path(),
        ["-k", "--lb", "-j", "2", WAITS_FOR_GO, ":::", "1", "2"],
    );
    // Job 1 is still running: only streaming can have printed its line.
    session
        .wait_for("start 1", 1, LIMIT)
        .unwrap_or_else(|err| panic!("{err}: {}", session.output()));
    assert!(
        !session.output().contains("start 2"),
        "{}",
        session.output()
    );
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = finished.output.replace('\r', "");
    assert_eq!(finished.status, Status::Exited(0), "{output}");
    assert!(
        output.contains("start 1\nend 1\nstart 2\nend 2\n"),
        "{output}"
    );
}

#[test]
fn a_press_keeps_the_lines_line_buffer_in_order_printed() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(
        dir.path(),
        ["-k", "--lb", "-j", "2", WAITS_FOR_GO, ":::", "1", "2"],
    );
    session
        .wait_for("start 1", 1, LIMIT)
        .unwrap_or_else(|err| panic!("{err}: {}", session.output()));
    let finished = session
        .press_until_exit(Duration::from_secs(30), 3, LIMIT)
        .unwrap();
    let output = finished.output.replace('\r', "");
    assert_eq!(finished.presses, 1, "{output}");
    assert_eq!(finished.status, Status::Exited(130), "{output}");
    assert!(
        finished.survivors.is_empty(),
        "left: {:?}",
        finished.survivors
    );
    assert!(output.contains("start 1\n"), "{output}");
    assert!(
        !output.lines().any(|line| line.trim_end() == "end 1"),
        "{output}"
    );
}
