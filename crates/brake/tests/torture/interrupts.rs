//! Random interrupts against every library model: each trial starts an example with random
//! sizes in a pty and presses Ctrl-C one to three times at random moments (during start-up,
//! mid-run, while already stopping, or while the report is printed), then checks the end:
//! exit 0 or 130, `main exit` last (but for abandoned tasks of a forced stop, and the notice of
//! a press that came after the report), the report's counts adding up to what was submitted and
//! agreeing with the tasks that said they started, and nothing left alive.
//!
//! Trials are random but reproducible: each model's generator is seeded from
//! `BRAKE_TORTURE_SEED` when set, else from the clock, and the seed is printed.

use std::time::Duration;

use brake_testkit::torture::{trials, Rng, Tally};
use brake_testkit::{example_path, Command, Finished, Session, Status};

use crate::support::{count_of, report_counts};

/// No trial should come near this: a stop takes at most its grace period plus a little.
const LIMIT: Duration = Duration::from_secs(60);

/// One trial's program, and what its run should look like.
struct Trial {
    args: Vec<String>,
    /// Tasks (items) submitted.
    tasks: usize,
    /// About how long the run takes untouched: presses are spread over this span and a bit
    /// beyond, so some land after the end.
    span: Duration,
    /// Whether every task prints `worker started` exactly when its body begins (not true of
    /// rayon, whose items print nothing).
    prints_starts: bool,
}

/// Presses 1–3 times at random moments, waits for the end, and checks it. Returns what went
/// wrong, if anything.
fn run_trial(example: &str, trial: &Trial, rng: &mut Rng, tally: &mut Tally) -> Option<String> {
    let mut session = Session::spawn(Command::new(example_path(example)).args(&trial.args))
        .expect("start the example");
    let presses = rng.range(1, 3);
    let first = rng.millis(trial.span.as_millis() as u64 * 6 / 5);
    std::thread::sleep(first);
    for i in 0..presses {
        if i > 0 {
            std::thread::sleep(rng.millis(150));
        }
        // The program may be gone already: a press after the end is simply not made.
        if session.press_ctrl_c().is_err() {
            break;
        }
        tally.faults += 1;
    }
    let finished = match session.wait_exit(LIMIT) {
        Ok(finished) => finished,
        Err(e) => return Some(format!("no end within {LIMIT:?} of the presses: {e}")),
    };
    check(trial, &finished, tally).map(|what| {
        format!(
            "{what}; exit {:?} after {} presses; output:\n{}",
            finished.status,
            finished.presses,
            brake_testkit::stats::tail(&finished.output, 12)
        )
    })
}

fn check(trial: &Trial, finished: &Finished, tally: &mut Tally) -> Option<String> {
    // The terminal echoes presses as `^C`, wherever the cursor is: before the report line or
    // after the last one.
    let output = &finished.output.replace("^C", "");
    tally.left_behind += finished.survivors.len();
    if output.contains("panicked") {
        tally.panics += 1;
    }
    let starts = output.matches("worker started").count() + output.matches("task started").count();
    match finished.status {
        Status::Exited(0) | Status::Exited(130) => {}
        // A press before the program installed its handlers ends it the default way; that
        // is only right if nothing had started yet.
        Status::Signaled(libc::SIGINT) if starts == 0 && !output.contains("computing") => {
            return None;
        }
        other => return Some(format!("ended with {other:?}")),
    }
    // A forced stop abandons the tasks still running (threads cannot be killed; they end with
    // the process), and one may still say it noticed the stop after `main exit`; a press that
    // came after the report has its notice printed after it.
    let forced = output.contains(", forced.");
    let after_main = output
        .rsplit_once("main exit")
        .map_or("", |(_, after)| after);
    let only_abandoned_tasks_after = after_main.lines().map(str::trim).all(|line| {
        line.is_empty() || line.starts_with("brake: ") || (forced && line == "handler exit")
    });
    if !output.contains("main exit") || !only_abandoned_tasks_after {
        return Some("`main exit` is not the last line".into());
    }
    let (total, counts) = report_counts(output);
    if total != trial.tasks {
        tally.lost += trial.tasks.abs_diff(total);
        return Some(format!(
            "the report counts {total} of {} tasks",
            trial.tasks
        ));
    }
    let stopped = output.contains("Stopped by SIGINT");
    if (finished.status == Status::Exited(130)) != stopped {
        return Some("exit status and the report disagree on whether it was stopped".into());
    }
    if !trial.prints_starts {
        return None;
    }
    let ended = total - count_of(&counts, "not started");
    let done = count_of(&counts, "done");
    // Every task that said it started is accounted as started, and every task reported done
    // said it started: a result is neither invented nor dropped.
    if starts > ended || done > starts {
        tally.lost += 1;
        return Some(format!(
            "{starts} tasks said they started, but the report has {ended} started and {done} done"
        ));
    }
    None
}

/// Runs `count` random trials of `example`, prints the tally and fails on any bad end.
fn torture(model: &str, example: &str, count: usize, mut make: impl FnMut(&mut Rng) -> Trial) {
    let mut rng = Rng::for_model(model);
    let mut tally = Tally::new(model);
    let mut failures = Vec::new();
    for n in 0..count {
        let trial = make(&mut rng);
        tally.trials += 1;
        if let Some(what) = run_trial(example, &trial, &mut rng, &mut tally) {
            failures.push(format!("trial {n} ({}): {what}", trial.args.join(" ")));
        }
    }
    tally.finish_with(&failures);
}

/// The sizes the thread pool, process pool and task group examples share.
fn seed_args(rng: &mut Rng, workers: u64) -> (Vec<String>, usize, Duration) {
    let tasks = rng.range(1, 40) as usize;
    let seconds = rng.range(20, 300) as f64 / 1000.0;
    let kind = *rng.pick(&["cooperative", "busy", "sleep"]);
    let grace = *rng.pick(&["0", "0.05", "0.3"]);
    let rounds = tasks.div_ceil(workers as usize) as f64;
    let span = Duration::from_secs_f64(rounds * seconds + 0.1);
    let args = vec![
        format!("--tasks={tasks}"),
        format!("--task={kind}"),
        format!("--seconds={seconds}"),
        format!("--grace={grace}"),
    ];
    (args, tasks, span)
}

#[test]
fn torture_random_interrupts_thread_pool() {
    torture("threads", "threads", trials(10), |rng| {
        let workers = rng.range(1, 4);
        let (mut args, tasks, span) = seed_args(rng, workers);
        args.push(format!("--workers={workers}"));
        Trial {
            args,
            tasks,
            span,
            prints_starts: true,
        }
    });
}

#[test]
fn torture_random_interrupts_process_pool() {
    torture("process-pool", "process_pool", trials(10), |rng| {
        let workers = rng.range(1, 4);
        let (mut args, tasks, span) = seed_args(rng, workers);
        args.push(format!("--workers={workers}"));
        Trial {
            args,
            tasks,
            // Workers are started processes: the run begins later than a thread pool's.
            span: span + Duration::from_millis(100),
            prints_starts: true,
        }
    });
}

#[cfg(feature = "tokio")]
#[test]
fn torture_random_interrupts_task_group() {
    torture("tasks", "tasks", trials(10), |rng| {
        let limit = rng.range(1, 6);
        let (mut args, tasks, span) = seed_args(rng, limit);
        args.push(format!("--limit={limit}"));
        if rng.range(0, 1) == 1 {
            args.push("--current-thread".into());
        }
        Trial {
            args,
            tasks,
            span,
            prints_starts: true,
        }
    });
}

#[cfg(feature = "rayon")]
#[test]
fn torture_random_interrupts_rayon() {
    torture("rayon", "rayon", trials(10), |rng| {
        let items = rng.range(1, 200_000) as usize;
        let work = rng.range(100, 20_000);
        // About 20 ns a round on two threads, for the span only.
        let span = Duration::from_nanos(items as u64 * work * 20 / 2) + Duration::from_millis(50);
        Trial {
            args: vec![format!("--items={items}"), format!("--work={work}")],
            tasks: items,
            span: span.min(Duration::from_secs(3)),
            prints_starts: false,
        }
    });
}
