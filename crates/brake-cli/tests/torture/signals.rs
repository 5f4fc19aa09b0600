//! Signal storms and terminal faults against the job runner and `brake exec`: 50 presses in
//! 100 ms, SIGINT and SIGTERM interleaved, the terminal closing under a run, and children that
//! ignore, escape or stop themselves. Each must end in an orderly stop with nothing left
//! running and no panic.

use std::fs;
use std::path::Path;
use std::time::Duration;

use brake_testkit::torture::{trials, Tally};
use brake_testkit::{marked_processes, Finished, Session, Status};

use crate::support::start_in;

const LIMIT: Duration = Duration::from_secs(60);

/// A short sequence, so that children that ignore INT and TERM are killed quickly.
const TERMSEQ: &str = "--termseq=INT,200,TERM,200,KILL";

/// The two ways to run something under brake.
#[derive(Clone, Copy, Debug)]
enum Under {
    /// `brake -j4 --line-buffer … JOB ::: 1..20`, with a joblog and a `--json` summary.
    Runner,
    /// `brake exec -- sh -c JOB`.
    Exec,
}

fn start(under: Under, dir: &Path, job: &str) -> Session {
    let args: Vec<String> = match under {
        Under::Runner => {
            let mut args: Vec<String> = [
                "-j4",
                "--line-buffer",
                "--joblog=run.log",
                "--json=summary.json",
                TERMSEQ,
            ]
            .map(String::from)
            .to_vec();
            args.push(format!("echo started {{}}; {job}"));
            args.push(":::".into());
            args.extend((1..=20).map(|i| i.to_string()));
            args
        }
        Under::Exec => ["exec", TERMSEQ, "--", "sh", "-c"]
            .map(String::from)
            .into_iter()
            .chain([format!("echo started; {job}")])
            .collect(),
    };
    start_in(dir, args)
}

/// Waits until the run's jobs are all under way (4 for the runner, 1 for exec).
fn wait_started(session: &Session, under: Under) {
    let count = match under {
        Under::Runner => 4,
        Under::Exec => 1,
    };
    session.wait_for("started", count, LIMIT).unwrap();
    // `echo` came first; let the rest of the job line begin too.
    std::thread::sleep(Duration::from_millis(100));
}

/// Checks an orderly stop: the expected status, nothing left, no panic, and for the runner a
/// summary that says what stopped it and a joblog with no line for the stopped jobs.
fn check(
    under: Under,
    dir: &Path,
    finished: &Finished,
    code: i32,
    tally: &mut Tally,
) -> Result<(), String> {
    tally.trials += 1;
    tally.left_behind += finished.survivors.len();
    if finished.output.contains("panicked") || finished.status == Status::Exited(101) {
        tally.panics += 1;
    }
    if finished.status != Status::Exited(code) {
        return Err(format!("ended with {:?}, not {code}", finished.status));
    }
    if !finished.survivors.is_empty() {
        return Err(format!("left behind: {:?}", finished.survivors));
    }
    if let Under::Runner = under {
        let summary: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.join("summary.json")).map_err(|e| format!("summary: {e}"))?,
        )
        .map_err(|e| format!("summary.json: {e}"))?;
        if summary["exit_code"] != code || !summary["stopped_by"].is_string() {
            return Err(format!("summary: {summary}"));
        }
        let done = summary["done"].as_u64().unwrap_or(u64::MAX) as usize;
        let lines = fs::read_to_string(dir.join("run.log"))
            .map_or(0, |log| log.lines().count().saturating_sub(1));
        if lines != done {
            tally.lost += 1;
            return Err(format!("{lines} joblog lines for {done} jobs done"));
        }
    }
    Ok(())
}

/// Runs `scenario` for both ways of running, `trials` times each, and fails with everything
/// that went wrong.
fn torture(
    model: &str,
    count: usize,
    scenario: impl Fn(Under, &Path, &mut Tally) -> Result<(), String>,
) {
    let mut tally = Tally::new(model);
    let mut failures = Vec::new();
    for n in 0..count {
        for under in [Under::Runner, Under::Exec] {
            let dir = tempfile::tempdir().unwrap();
            if let Err(what) = scenario(under, dir.path(), &mut tally) {
                failures.push(format!("{under:?}, trial {n}: {what}"));
            }
        }
    }
    tally.finish_with(&failures);
}

fn explain(finished: &Finished) -> impl Fn(String) -> String + '_ {
    move |what| {
        format!(
            "{what}; output:\n{}",
            brake_testkit::stats::tail(&finished.output, 10)
        )
    }
}

#[test]
fn torture_fifty_presses_in_a_tenth_of_a_second() {
    torture("signal-storm", trials(3), |under, dir, tally| {
        let mut session = start(under, dir, "sleep 300");
        wait_started(&session, under);
        for _ in 0..50 {
            if session.press_ctrl_c().is_err() {
                break;
            }
            tally.faults += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        let finished = session.wait_exit(LIMIT).map_err(|e| e.to_string())?;
        check(under, dir, &finished, 130, tally).map_err(explain(&finished))
    });
}

#[test]
fn torture_sigint_and_sigterm_interleaved() {
    torture("signal-mix", trials(3), |under, dir, tally| {
        let mut session = start(under, dir, "sleep 300");
        wait_started(&session, under);
        for i in 0..20 {
            let sig = if i % 2 == 0 {
                libc::SIGINT
            } else {
                libc::SIGTERM
            };
            if session.send_signal(sig).is_err() {
                break;
            }
            tally.faults += 1;
            std::thread::sleep(Duration::from_millis(3));
        }
        // Usually SIGINT names the stop, but two handlers on two threads may race.
        let finished = session.wait_exit(LIMIT).map_err(|e| e.to_string())?;
        let code = match finished.status {
            Status::Exited(143) => 143,
            _ => 130,
        };
        check(under, dir, &finished, code, tally).map_err(explain(&finished))
    });
}

#[test]
fn torture_the_terminal_closes_under_a_run() {
    torture("terminal-hangup", trials(3), |under, dir, tally| {
        let session = start(under, dir, "sleep 300");
        wait_started(&session, under);
        let token = session.marker().to_owned();
        tally.faults += 1;
        // Nothing brake writes after this reaches anyone: its stdout and stderr are gone.
        let finished = session.hang_up(LIMIT).map_err(|e| e.to_string())?;
        check(under, dir, &finished, 129, tally)?;
        let left = marked_processes(&token);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("alive after the hangup: {left:?}"))
        }
    });
}

/// Children that make stopping hard, each ended by one press.
const STUBBORN: [(&str, &str); 4] = [
    (
        "ignores INT and TERM",
        "trap '' INT TERM; sleep 300 & wait; sleep 300",
    ),
    (
        "leaves a setsid grandchild that ignores everything",
        "setsid sh -c 'trap \"\" INT TERM HUP QUIT USR1 USR2; sleep 300' & sleep 300",
    ),
    ("stops itself with SIGSTOP", "kill -STOP $$; sleep 300"),
    ("stops itself with SIGTSTP", "kill -TSTP $$; sleep 300"),
];

#[test]
fn torture_children_that_ignore_escape_or_stop_themselves() {
    torture("stubborn-children", trials(1), |under, dir, tally| {
        let mut failures = Vec::new();
        for (what, job) in STUBBORN {
            let dir = dir.join(what.replace(' ', "-"));
            fs::create_dir(&dir).unwrap();
            let mut session = start(under, &dir, job);
            wait_started(&session, under);
            session.press_ctrl_c().map_err(|e| e.to_string())?;
            tally.faults += 1;
            let finished = session.wait_exit(LIMIT).map_err(|e| e.to_string())?;
            if finished.presses != 1 {
                failures.push(format!("{what}: {} presses", finished.presses));
            }
            if let Err(e) = check(under, &dir, &finished, 130, tally).map_err(explain(&finished)) {
                failures.push(format!("a child that {what}: {e}"));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    });
}
