//! The job runner, stopped for real: `brake` runs in a pseudo-terminal and the test writes
//! Ctrl-C (0x03) to it, or signals it, then checks presses, exit status, output, the joblog,
//! what is left alive, and that `--resume` finishes exactly what was missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use brake_testkit::{marked_processes, Status};

mod support;
use support::{read_joblog, run_in, start_in, wait_for_sleeps};

const LIMIT: Duration = Duration::from_secs(120);

/// Each job prints `begin N`, sleeps 30 s unless it is job 1 or 2 or the file `fast` exists,
/// then prints `end N` and appends N to `ran.txt`: `ran.txt` lists the jobs that finished.
const JOB: &str = "echo begin {}; if [ ! -e fast ]; then case {} in 1|2) ;; *) sleep 30;; esac; \
                   fi; echo end {}; echo {} >> ran.txt";

fn values(n: u32) -> Vec<String> {
    (1..=n).map(|i| i.to_string()).collect()
}

fn run_args(jobs: u32, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["-j".into(), jobs.to_string(), "--joblog".into()];
    args.push("run.log".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(JOB.into());
    args.push(":::".into());
    args.extend(values(100));
    args
}

/// Job number → (exit value, signal) for every line of the joblog, which must be whole.
fn joblog(dir: &Path) -> BTreeMap<u64, Vec<(i32, i32)>> {
    let log = read_joblog(&dir.join("run.log"))
        .unwrap()
        .expect("a joblog");
    assert!(log.header && log.torn.is_none(), "{log:?}");
    let mut jobs: BTreeMap<u64, Vec<(i32, i32)>> = BTreeMap::new();
    for job in log.jobs {
        jobs.entry(job.seq)
            .or_default()
            .push((job.exitval, job.signal));
    }
    jobs
}

fn ran(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("ran.txt")).unwrap_or_default();
    let mut ran: Vec<u64> = text.lines().map(|l| l.parse().unwrap()).collect();
    ran.sort_unstable();
    ran
}

/// After a stop: create `fast` and resume; every job must then have finished exactly once.
fn resume_finishes_exactly_the_rest(dir: &Path, jobs: u32) {
    std::fs::write(dir.join("fast"), "").unwrap();
    let mut args = vec!["--resume".to_string()];
    args.extend(run_args(jobs, &[]));
    let out = run_in(dir, &args);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(ran(dir), (1..=100).collect::<Vec<u64>>(), "each job once");
    let log = joblog(dir);
    assert_eq!(log.len(), 100);
    assert!(log.values().all(|lines| lines == &[(0, 0)]), "{log:?}");
}

fn one_press_stops_everything_and_resume_runs_the_rest(jobs: u32) {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(dir.path(), run_args(jobs, &[]));
    wait_for_sleeps(&session, jobs as usize, LIMIT);
    let finished = support::one_press_stops(session, LIMIT);
    let output = &finished.output;
    let notice = format!(
        "brake: stopping — {jobs} running, {} not started (Ctrl-C again to force)",
        98 - jobs
    );
    assert!(output.contains(&notice), "{output}");
    let summary = format!(
        "brake: 2 done, {jobs} interrupted, {} not started; stopped by SIGINT (Ctrl-C) — resume with:",
        98 - jobs
    );
    assert!(output.contains(&summary), "{output}");
    // Finished jobs' output whole; interrupted jobs' output up to the stop.
    for job in [1, 2] {
        assert!(
            output.contains(&format!("begin {job}\nend {job}\n")),
            "{output}"
        );
    }
    assert!(
        output.contains("begin 3\n") && !output.contains("end 3\n"),
        "{output}"
    );
    assert_eq!(ran(dir.path()), [1, 2]);
    let log = joblog(dir.path());
    assert_eq!(log.keys().copied().collect::<Vec<_>>(), [1, 2], "{log:?}");
    resume_finishes_exactly_the_rest(dir.path(), jobs);
}

#[test]
fn one_press_stops_3_running_jobs_and_resume_runs_the_rest() {
    one_press_stops_everything_and_resume_runs_the_rest(3);
}

#[test]
fn one_press_stops_64_running_jobs_and_resume_runs_the_rest() {
    one_press_stops_everything_and_resume_runs_the_rest(64);
}

#[test]
fn jobs_that_ignore_ctrl_c_are_escalated() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(
        dir.path(),
        [
            "-j",
            "4",
            "--termseq",
            "INT,300,TERM,300,KILL",
            "trap '' INT; trap 'echo TERM > {}.ended; exit 1' TERM; sleep 30 & wait",
            ":::",
            "a",
            "b",
            "c",
            "d",
            "e",
        ],
    );
    wait_for_sleeps(&session, 4, LIMIT);
    let finished = session
        .press_until_exit(Duration::from_secs(30), 2, LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 1, "{}", finished.output);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(
        finished.survivors.is_empty(),
        "left: {:?}",
        finished.survivors
    );
    // SIGINT was ignored: the SIGTERM that came next ended them, as each job wrote down.
    // (Not timed from the press: under load the kit's clock can start late.)
    for value in ["a", "b", "c", "d"] {
        let ended = std::fs::read_to_string(dir.path().join(format!("{value}.ended")));
        assert_eq!(
            ended.ok().as_deref(),
            Some("TERM\n"),
            "job {value}: {}",
            finished.output
        );
    }
    assert!(
        finished
            .output
            .contains("0 done, 4 interrupted, 1 not started"),
        "{}",
        finished.output
    );
}

#[test]
fn a_second_press_kills_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(
        dir.path(),
        [
            "-j",
            "2",
            "--termseq",
            "INT,60000,TERM,60000,KILL",
            "trap '' INT TERM; sleep 30; echo {}",
            ":::",
            "a",
            "b",
        ],
    );
    wait_for_sleeps(&session, 2, LIMIT);
    let finished = session
        .press_twice(Duration::from_millis(300), LIMIT)
        .unwrap();
    assert_eq!(finished.presses, 2);
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    // The sequence would take two minutes and the jobs 30 s: only the press ended them.
    assert!(finished.since_first_stop.unwrap() < Duration::from_secs(25));
    assert!(
        finished.survivors.is_empty(),
        "left: {:?}",
        finished.survivors
    );
    assert!(
        finished
            .output
            .contains("brake: forcing stop now — killing 2 running"),
        "{}",
        finished.output
    );
}

#[test]
fn sigterm_stops_with_143() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = start_in(dir.path(), run_args(3, &[]));
    wait_for_sleeps(&session, 3, LIMIT);
    session.send_signal(libc::SIGTERM).unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Exited(143), "{}", finished.output);
    assert!(
        finished.survivors.is_empty(),
        "left: {:?}",
        finished.survivors
    );
}

#[test]
fn a_sigkilled_runner_leaves_no_job_behind_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = start_in(dir.path(), run_args(8, &[]));
    wait_for_sleeps(&session, 8, LIMIT);
    let token = session.marker().to_owned();
    session.send_signal(libc::SIGKILL).unwrap();
    let killed = Instant::now();
    loop {
        let jobs: Vec<_> = marked_processes(&token)
            .into_iter()
            .filter(|p| p.cmdline.contains("sleep"))
            .collect();
        if jobs.is_empty() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "jobs outlived the runner by a second: {jobs:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Signaled(libc::SIGKILL));
    resume_finishes_exactly_the_rest(dir.path(), 8);
}
