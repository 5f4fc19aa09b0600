//! Many values per job (`-X`), stopped for real: `brake` runs in a pseudo-terminal, the test
//! writes Ctrl-C (0x03) to it, then checks the exit status, the joblog, what is left alive,
//! and that `--resume` runs exactly the jobs (groups of values) that were missing.

use std::path::Path;
use std::time::Duration;

mod support;
use support::{read_joblog, run_in, start_in, wait_for_sleeps};

const LIMIT: Duration = Duration::from_secs(120);

/// Each job prints its number and values, sleeps 30 s unless it is job 1 or the file `fast`
/// exists, then appends its values to `ran.txt`. `-X` repeats `v{}` for each value.
const JOB: &str = "echo begin {#} v{}; if [ {#} != 1 ] && [ ! -e fast ]; then sleep 30; fi; \
                   echo end {#}; echo v{} >> ran.txt";

/// Twelve values, three per job, the last three spread over the two slots: jobs of 1-3, 4-6,
/// 7-9, 10-11 and 12.
fn args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["-j", "2", "-X", "-n", "3", "--joblog", "run.log"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(JOB.into());
    args.push(":::".into());
    args.extend((1..=12).map(|i| i.to_string()));
    args
}

fn ran(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("ran.txt")).unwrap_or_default();
    let mut ran: Vec<String> = text.lines().map(str::to_owned).collect();
    ran.sort_unstable();
    ran
}

fn logged(dir: &Path) -> Vec<(u64, i32)> {
    let log = read_joblog(&dir.join("run.log"))
        .unwrap()
        .expect("a joblog");
    assert!(log.header && log.torn.is_none(), "{log:?}");
    let mut jobs: Vec<(u64, i32)> = log.jobs.iter().map(|j| (j.seq, j.exitval)).collect();
    jobs.sort_unstable();
    jobs
}

#[test]
fn one_press_stops_a_packed_run_and_resume_runs_the_missing_groups() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(dir.path(), args(&[]));
    wait_for_sleeps(&session, 2, LIMIT);
    let finished = support::one_press_stops(session, LIMIT);
    let output = &finished.output;
    assert!(
        output.contains("brake: 1 done, 2 interrupted, 2 not started"),
        "{output}"
    );
    assert!(output.contains("begin 1 v1 v2 v3\nend 1\n"), "{output}");
    assert!(output.contains("begin 2 v4 v5 v6\n"), "{output}");
    assert!(!output.contains("end 2\n"), "{output}");
    assert_eq!(ran(dir.path()), ["v1 v2 v3"]);
    assert_eq!(logged(dir.path()), [(1, 0)]);

    std::fs::write(dir.path().join("fast"), "").unwrap();
    let out = run_in(dir.path(), args(&["--resume"]));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        ran(dir.path()),
        ["v1 v2 v3", "v10 v11", "v12", "v4 v5 v6", "v7 v8 v9"],
        "each group once"
    );
    assert_eq!(logged(dir.path()), [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
}
