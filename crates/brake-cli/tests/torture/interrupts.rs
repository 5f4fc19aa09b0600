//! Random interrupts against the job runner and `brake exec`: each trial starts a run of
//! random size, speed and output mode in a pty and presses Ctrl-C one to three times at random
//! moments, then checks the end: exit 0 or 130, the `--json` summary adding up to the inputs,
//! the joblog parsing and agreeing with it (every logged job really finished, none twice),
//! and nothing left alive.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use brake_testkit::torture::{trials, Rng, Tally};
use brake_testkit::{Finished, Session, Status};

use crate::support::{read_joblog, start, start_in};

/// No trial should come near this: the longest termination sequence used is under a second.
const LIMIT: Duration = Duration::from_secs(60);

/// A job: prints `start N`, sleeps its own time, appends N to `done.txt`, prints `end N`.
/// Its input is `N:SECONDS[:i]`; with `:i` it ignores SIGINT, so only the sequence's later
/// steps end it.
const JOB: &str = "x={}; n=${x%%:*}; r=${x#*:}; d=${r%%:*}; \
                   case $x in *:i) trap '' INT;; esac; \
                   echo start $n; sleep $d; echo $n >> done.txt; echo end $n";

#[test]
fn torture_random_interrupts_runner() {
    let mut rng = Rng::for_model("cli");
    let mut tally = Tally::new("cli");
    let mut failures = Vec::new();
    for n in 0..trials(10) {
        let dir = tempfile::tempdir().unwrap();
        let jobs = rng.range(1, 60) as usize;
        let parallel = rng.range(1, 8);
        let mut total_ms = 0;
        let inputs: Vec<String> = (1..=jobs)
            .map(|i| {
                let ms = rng.range(0, 300);
                total_ms += ms;
                let ignores = rng.range(0, 9) == 0;
                format!(
                    "{i}:{}.{ms:03}{}",
                    ms / 1000,
                    if ignores { ":i" } else { "" }
                )
            })
            .collect();
        let mut args: Vec<String> = vec![
            format!("-j{parallel}"),
            "--joblog=run.log".into(),
            "--json=summary.json".into(),
            "--termseq=INT,300,TERM,300,KILL".into(),
        ];
        args.push((*rng.pick(&["--group", "--line-buffer", "-u", "-k"])).into());
        args.extend([JOB.to_string(), ":::".into()]);
        args.extend(inputs);
        let span = Duration::from_millis(total_ms / parallel + 200);
        let mut session = start_in(dir.path(), &args);
        press_randomly(&mut session, span, &mut rng, &mut tally);
        tally.trials += 1;
        let finished = match session.wait_exit(LIMIT) {
            Ok(finished) => finished,
            Err(e) => {
                failures.push(format!("trial {n}: no end: {e}"));
                continue;
            }
        };
        if let Err(what) = check_run(dir.path(), jobs, &finished, &mut tally) {
            failures.push(format!(
                "trial {n} (-j{parallel}, {jobs} jobs): {what}; exit {:?} after {} presses; \
                 output:\n{}",
                finished.status,
                finished.presses,
                brake_testkit::stats::tail(&finished.output, 15)
            ));
        }
    }
    tally.finish_with(&failures);
}

/// Presses 1–3 times: the first somewhere in 0–120 % of `span`, the others 0–150 ms apart.
pub fn press_randomly(session: &mut Session, span: Duration, rng: &mut Rng, tally: &mut Tally) {
    std::thread::sleep(rng.millis(span.as_millis() as u64 * 6 / 5));
    for i in 0..rng.range(1, 3) {
        if i > 0 {
            std::thread::sleep(rng.millis(150));
        }
        // A press after the end is not made.
        if session.press_ctrl_c().is_err() {
            break;
        }
        tally.faults += 1;
    }
}

/// What a run left must agree with itself; returns what does not.
fn check_run(
    dir: &Path,
    jobs: usize,
    finished: &Finished,
    tally: &mut Tally,
) -> Result<(), String> {
    let output = &finished.output;
    tally.left_behind += finished.survivors.len();
    if output.contains("panicked") {
        tally.panics += 1;
    }
    let starts = output.lines().filter(|l| l.starts_with("start ")).count();
    match finished.status {
        Status::Exited(0) | Status::Exited(130) => {}
        // A press before brake set up its handlers ends it the default way: only right if
        // no job had started.
        Status::Signaled(libc::SIGINT) if starts == 0 && !dir.join("done.txt").exists() => {
            return Ok(());
        }
        other => return Err(format!("ended with {other:?}")),
    }
    let summary: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.join("summary.json")).map_err(|e| format!("summary: {e}"))?,
    )
    .map_err(|e| format!("summary.json: {e}"))?;
    let count = |key: &str| summary[key].as_u64().unwrap_or(u64::MAX) as usize;
    let (done, interrupted, not_started) =
        (count("done"), count("interrupted"), count("not_started"));
    if count("failed") != 0 {
        return Err(format!("jobs failed: {summary}"));
    }
    if done + interrupted + not_started != jobs {
        tally.lost += 1;
        return Err(format!("the summary does not add up to {jobs}: {summary}"));
    }
    let stopped = summary["stopped_by"].is_string();
    if (finished.status == Status::Exited(130)) != stopped {
        return Err(format!("exit status and summary disagree: {summary}"));
    }
    let logged = logged_jobs(&dir.join("run.log"))?;
    if logged.len() != done {
        tally.lost += 1;
        return Err(format!(
            "{} joblog lines for {done} jobs done",
            logged.len()
        ));
    }
    let finished_jobs = numbers(&dir.join("done.txt"))?;
    if let Some(missing) = logged.iter().find(|seq| !finished_jobs.contains(seq)) {
        tally.lost += 1;
        return Err(format!("job {missing} is logged but never finished"));
    }
    if starts > done + interrupted || done > starts {
        tally.lost += 1;
        return Err(format!(
            "{starts} jobs printed `start`, but {done} done and {interrupted} interrupted"
        ));
    }
    Ok(())
}

/// The jobs a joblog holds, each of whose lines must be whole, well-formed and a success; a job
/// logged twice is an error. No joblog holds none.
fn logged_jobs(path: &Path) -> Result<BTreeSet<usize>, String> {
    let Some(log) = read_joblog(path)? else {
        return Ok(BTreeSet::new());
    };
    if log.torn.is_some() {
        return Err("the joblog ends in a torn line".into());
    }
    if let Some(job) = log
        .jobs
        .iter()
        .find(|job| job.exitval != 0 || job.signal != 0)
    {
        return Err(format!("job {} logged as failed: {:?}", job.seq, job.text));
    }
    Ok(log.seqs()?.into_iter().map(|seq| seq as usize).collect())
}

/// The numbers in a file of one number per line; a number twice is an error.
fn numbers(path: &Path) -> Result<BTreeSet<usize>, String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let n: usize = line
            .trim()
            .parse()
            .map_err(|_| format!("{}: {line:?}", path.display()))?;
        if !seen.insert(n) {
            return Err(format!("job {n} ran twice ({})", path.display()));
        }
    }
    Ok(seen)
}

#[test]
fn torture_random_interrupts_exec() {
    let mut rng = Rng::for_model("exec");
    let mut tally = Tally::new("exec");
    let mut failures = Vec::new();
    for n in 0..trials(10) {
        let ms = rng.range(0, 400);
        let traps = *rng.pick(&["", "trap '' INT;", "trap '' INT TERM;"]);
        let background = *rng.pick(&["", "sleep 300 & ", "setsid sleep 300 & "]);
        let script =
            format!("{traps} {background} echo ready; sleep 0.{ms:03}; echo finished; exit 0");
        let mut session = start([
            "exec",
            "--termseq=INT,200,TERM,200,KILL",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        press_randomly(
            &mut session,
            Duration::from_millis(ms + 100),
            &mut rng,
            &mut tally,
        );
        tally.trials += 1;
        let finished = match session.wait_exit(LIMIT) {
            Ok(finished) => finished,
            Err(e) => {
                failures.push(format!("trial {n}: no end: {e}"));
                continue;
            }
        };
        tally.left_behind += finished.survivors.len();
        if finished.output.contains("panicked") {
            tally.panics += 1;
        }
        let ok = match finished.status {
            Status::Exited(0) => finished.output.contains("finished"),
            Status::Exited(130) => true,
            Status::Signaled(libc::SIGINT) => !finished.output.contains("ready"),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "trial {n} ({script}): exit {:?} after {} presses; output:\n{}",
                finished.status,
                finished.presses,
                brake_testkit::stats::tail(&finished.output, 10)
            ));
        }
    }
    tally.finish_with(&failures);
}
