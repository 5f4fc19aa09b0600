//! Signal storms and a closing terminal against the library's examples: 50 presses in 100 ms,
//! SIGINT and SIGTERM interleaved, and the terminal hung up under a run. Each must end in an
//! orderly stop (exit 128+signal, the report, nothing left alive, no panic).

use std::time::Duration;

use brake_testkit::torture::{trials, Tally};
use brake_testkit::{example_path, Command, Finished, Session, Status};

use crate::support::report_counts;

const LIMIT: Duration = Duration::from_secs(60);

/// The examples and their arguments: busy tasks, more of them than workers, a short grace.
fn models() -> Vec<(&'static str, Vec<&'static str>)> {
    let seed = ["--tasks=20", "--task=busy", "--grace=0.3"];
    let mut models = vec![
        ("threads", [&seed[..], &["--workers=3"]].concat()),
        ("process_pool", [&seed[..], &["--workers=3"]].concat()),
    ];
    if cfg!(feature = "tokio") {
        models.push(("tasks", [&seed[..], &["--limit=3"]].concat()));
    }
    if cfg!(feature = "rayon") {
        models.push(("rayon", vec!["--work=100000"]));
    }
    models
}

fn start(example: &str, args: &[&str]) -> Session {
    let session = Session::spawn(Command::new(example_path(example)).args(args)).unwrap();
    let first_line = if example == "rayon" {
        "computing"
    } else {
        "started"
    };
    session.wait_for(first_line, 1, LIMIT).unwrap();
    session
}

/// The end of an orderly stop by one of `sigs`; the report is checked when it could be seen.
fn check(
    finished: &Finished,
    sigs: &[i32],
    report_seen: bool,
    tally: &mut Tally,
) -> Result<(), String> {
    tally.trials += 1;
    tally.left_behind += finished.survivors.len();
    if finished.output.contains("panicked") || finished.status == Status::Exited(101) {
        tally.panics += 1;
    }
    let Some(&sig) = sigs
        .iter()
        .find(|&&sig| finished.status == Status::Exited(128 + sig))
    else {
        return Err(format!(
            "ended with {:?}, not 128 + one of {sigs:?}",
            finished.status
        ));
    };
    if report_seen {
        // The terminal echoes presses as `^C`, possibly right before the report.
        report_counts(&finished.output.replace("^C", ""));
        let reason = if sig == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        if !finished.output.contains(&format!("Stopped by {reason}")) {
            return Err(format!("the report does not name {reason}"));
        }
    }
    if !finished.survivors.is_empty() {
        return Err(format!("left behind: {:?}", finished.survivors));
    }
    Ok(())
}

fn torture(model: &str, scenario: impl Fn(&str, &[&str], &mut Tally) -> Result<(), String>) {
    let mut tally = Tally::new(model);
    let mut failures = Vec::new();
    for n in 0..trials(2) {
        for (example, args) in models() {
            if let Err(what) = scenario(example, &args, &mut tally) {
                failures.push(format!("{example}, trial {n}: {what}"));
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
fn torture_library_fifty_presses_in_a_tenth_of_a_second() {
    torture("lib-signal-storm", |example, args, tally| {
        let mut session = start(example, args);
        for _ in 0..50 {
            if session.press_ctrl_c().is_err() {
                break;
            }
            tally.faults += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        let finished = session.wait_exit(LIMIT).map_err(|e| e.to_string())?;
        check(&finished, &[libc::SIGINT], true, tally).map_err(explain(&finished))
    });
}

#[test]
fn torture_library_sigint_and_sigterm_interleaved() {
    torture("lib-signal-mix", |example, args, tally| {
        let mut session = start(example, args);
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
        check(&finished, &[libc::SIGINT, libc::SIGTERM], true, tally).map_err(explain(&finished))
    });
}

#[test]
fn torture_library_the_terminal_closes_under_a_run() {
    torture("lib-terminal-hangup", |example, args, tally| {
        let session = start(example, args);
        tally.faults += 1;
        let finished = session.hang_up(LIMIT).map_err(|e| e.to_string())?;
        check(&finished, &[libc::SIGHUP], false, tally).map_err(explain(&finished))
    });
}
