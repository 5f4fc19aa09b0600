//! A runner SIGKILLed at random moments, then resumed, over and over on one joblog: in the end
//! every job has exactly one line, no job that had a line ran again, no job outlived a kill by
//! more than a second, and a torn last line (cut at a random byte after some kills) never
//! breaks a resume.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use brake_testkit::torture::{trials, Rng, Tally};
use brake_testkit::{marked_processes, Session, Status};

use crate::support::{read_joblog, start_in};

/// Jobs in the run. Each records its start and its end, and takes 0–29 ms.
const JOBS: usize = 1000;
const JOB: &str = "echo {} >> started.txt; sleep 0.0$(({} % 30)); echo {} >> ended.txt";

/// How long a killed run's jobs may outlive it.
const GRACE: Duration = Duration::from_secs(1);

fn start(dir: &Path) -> Session {
    let mut args: Vec<String> = ["-j8", "--joblog=run.log", "--resume", JOB, ":::"]
        .map(String::from)
        .to_vec();
    args.extend((1..=JOBS).map(|i| i.to_string()));
    start_in(dir, &args)
}

/// The jobs with a whole line in the joblog (a torn last line does not count), checking
/// that none has two.
fn logged(dir: &Path) -> Result<BTreeSet<usize>, String> {
    let Some(log) = read_joblog(&dir.join("run.log"))? else {
        return Ok(BTreeSet::new());
    };
    if let Some(job) = log.jobs.iter().find(|job| job.exitval != 0) {
        return Err(format!("bad joblog line {:?}", job.text));
    }
    Ok(log.seqs()?.into_iter().map(|seq| seq as usize).collect())
}

/// Lines of `started.txt` from byte `from` on.
fn started_since(dir: &Path, from: usize) -> Vec<usize> {
    let text = fs::read_to_string(dir.join("started.txt")).unwrap_or_default();
    text.get(from..)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Cuts the joblog's last line at a random byte, as a crash in the middle of a write would.
fn tear_last_line(dir: &Path, rng: &mut Rng) -> bool {
    let path = dir.join("run.log");
    let Ok(text) = fs::read(&path) else {
        return false;
    };
    let body = text.strip_suffix(b"\n").unwrap_or(&text);
    let Some(start) = body.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else {
        return false; // only the header: nothing to tear
    };
    let len = body.len() - start;
    if len < 2 {
        return false;
    }
    let keep = start + rng.range(1, len as u64 - 1) as usize;
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(keep as u64).unwrap();
    true
}

#[test]
fn torture_killed_runner_then_resume() {
    let mut rng = Rng::for_model("cli-killed");
    let mut tally = Tally::new("cli-killed");
    let mut failures = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    for cycle in 0..trials(5) {
        let before = match logged(dir.path()) {
            Ok(before) => before,
            Err(e) => {
                failures.push(format!("before cycle {cycle}: {e}"));
                break;
            }
        };
        let started_len = fs::metadata(dir.path().join("started.txt")).map_or(0, |m| m.len());
        let mut session = start(dir.path());
        let token = session.marker().to_owned();
        std::thread::sleep(rng.millis(600));
        tally.trials += 1;
        if session.send_signal(libc::SIGKILL).is_ok() {
            tally.faults += 1;
        }
        // The runner is gone at once; its jobs must follow within the grace.
        let killed_at = Instant::now();
        let mut alive = marked_processes(&token);
        while !alive.is_empty() && killed_at.elapsed() < GRACE {
            std::thread::sleep(Duration::from_millis(10));
            alive = marked_processes(&token);
        }
        if !alive.is_empty() {
            tally.left_behind += alive.len();
            failures.push(format!(
                "cycle {cycle}: alive {GRACE:?} after the kill: {alive:?}"
            ));
        }
        match session.wait_exit(Duration::from_secs(10)) {
            Ok(f) if f.status == Status::Signaled(libc::SIGKILL) => {}
            // The run may have ended before the kill came.
            Ok(f) if f.status == Status::Exited(0) => {}
            Ok(f) => failures.push(format!("cycle {cycle}: ended with {:?}", f.status)),
            Err(e) => failures.push(format!("cycle {cycle}: {e}")),
        }
        let again: Vec<usize> = started_since(dir.path(), started_len as usize)
            .into_iter()
            .filter(|seq| before.contains(seq))
            .collect();
        if !again.is_empty() {
            tally.lost += again.len();
            failures.push(format!("cycle {cycle}: logged jobs ran again: {again:?}"));
        }
        if rng.range(0, 3) == 0 && tear_last_line(dir.path(), &mut rng) {
            tally.faults += 1;
        }
    }
    // The last resume runs to the end.
    let before = logged(dir.path()).unwrap_or_default();
    let started_len = fs::metadata(dir.path().join("started.txt")).map_or(0, |m| m.len());
    match start(dir.path()).wait_exit(Duration::from_secs(300)) {
        Ok(f) if f.status == Status::Exited(0) => {}
        Ok(f) => failures.push(format!(
            "the final resume ended with {:?}:\n{}",
            f.status,
            brake_testkit::stats::tail(&f.output, 10)
        )),
        Err(e) => failures.push(format!("the final resume: {e}")),
    }
    let again = started_since(dir.path(), started_len as usize)
        .into_iter()
        .filter(|seq| before.contains(seq))
        .count();
    tally.lost += again;
    match logged(dir.path()) {
        Ok(all) => {
            let missing = (1..=JOBS).filter(|seq| !all.contains(seq)).count();
            tally.lost += missing;
            if missing > 0 || all.len() != JOBS {
                failures.push(format!(
                    "after the last resume, {missing} jobs have no line"
                ));
            }
        }
        Err(e) => failures.push(format!("the final joblog: {e}")),
    }
    tally.finish_with(&failures);
}
