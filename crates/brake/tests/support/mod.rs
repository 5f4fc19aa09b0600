//! What the end-to-end tests share: reading a run's report line and checking how a stopped run
//! ended. Each test file that uses it says `mod support;`.
#![allow(dead_code)] // each test file uses its own subset

use std::time::Duration;

use brake_testkit::{marked_processes, Finished, Session, Status};

/// The counts in a run's report line (`N tasks in S s: a done, b interrupted, c not started. …`),
/// checked to add up to its total; returns (total, [(count, label)]).
pub fn report_counts(output: &str) -> (usize, Vec<(usize, String)>) {
    let line = output
        .lines()
        .find(|line| line.contains(" tasks in ") || line.contains(" task in "))
        .unwrap_or_else(|| panic!("no report line in:\n{output}"));
    let total: usize = line.split(' ').next().unwrap().parse().unwrap();
    let counts: Vec<(usize, String)> = line
        .split_once(": ")
        .map(|(_, parts)| parts.split(". ").next().unwrap().trim_end_matches('.'))
        .into_iter()
        .flat_map(|parts| parts.split(", "))
        .map(|part| {
            let (count, label) = part.split_once(' ').unwrap();
            (count.parse().unwrap(), label.to_string())
        })
        .collect();
    let sum: usize = counts.iter().map(|(count, _)| count).sum();
    assert_eq!(sum, total, "report counts do not add up: {line}");
    (total, counts)
}

/// The count with this label (`done`, `interrupted`, `not started`, …), 0 when absent.
pub fn count_of(counts: &[(usize, String)], label: &str) -> usize {
    counts
        .iter()
        .find(|(_, l)| l == label)
        .map_or(0, |(count, _)| *count)
}

/// The last non-empty line of `output`, trimmed.
pub fn last_line(output: &str) -> &str {
    output
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The common end of every stopped run: exit `code`, `main exit` last, nothing left running.
pub fn assert_stopped_cleanly(finished: &Finished, token: &str, code: i32) {
    assert_eq!(finished.status, Status::Exited(code), "{}", finished.output);
    assert_eq!(
        last_line(&finished.output),
        "main exit",
        "{}",
        finished.output
    );
    assert!(
        finished.survivors.is_empty(),
        "left running: {:?}",
        finished.survivors
    );
    assert!(marked_processes(token).is_empty());
}

/// Presses Ctrl-C once at a running example and checks that the press was enough: exit 130,
/// `main exit` last, the stop notice printed, nothing left running. A second press would come
/// only if the first failed, after `patience` — far longer than any grace period the tests set.
pub fn press_once(session: Session, patience: Duration, limit: Duration) -> Finished {
    let token = session.marker().to_owned();
    let finished = session.press_until_exit(patience, 2, limit).unwrap();
    assert_eq!(finished.presses, 1, "{}", finished.output);
    assert_stopped_cleanly(&finished, &token, 130);
    assert!(
        finished.output.contains("brake: stopping — "),
        "no stop notice:\n{}",
        finished.output
    );
    finished
}
