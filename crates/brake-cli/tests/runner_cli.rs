//! The job runner without a terminal: output modes, quoting, exit statuses, and every bad
//! input's message. Each test runs the real binary in a temporary directory of its own.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::Output;

use proptest::prelude::*;

mod support;
use support::{command, read_joblog, run, run_in};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn grouped_output_never_interleaves() {
    let values: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    let mut args = vec![
        "-j",
        "6",
        "for i in 1 2 3 4 5; do echo {}-$i; sleep 0.01; done",
        ":::",
    ];
    args.extend(values.iter().map(String::as_str));
    let out = run(&args);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 60);
    for block in lines.chunks(5) {
        let job = block[0].split('-').next().unwrap();
        let expected: Vec<String> = (1..=5).map(|i| format!("{job}-{i}")).collect();
        assert_eq!(block, expected, "a job's lines were split: {lines:?}");
    }
}

#[test]
fn keep_order_prints_in_input_order() {
    let out = run([
        "-k",
        "-j",
        "4",
        "sleep 0.{}; echo {}",
        ":::",
        "4",
        "3",
        "2",
        "1",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "4\n3\n2\n1\n");
    let out = run(["-j", "4", "sleep 0.{}; echo {}", ":::", "4", "3", "2", "1"]);
    assert_eq!(
        stdout(&out),
        "1\n2\n3\n4\n",
        "without -k, in the order jobs end"
    );
}

#[test]
fn tag_prefixes_every_line() {
    let out = run([
        "--tag",
        "-k",
        "printf 'x\\ny\\n'; echo {}",
        ":::",
        "a",
        "b c",
    ]);
    assert_eq!(stdout(&out), "a\tx\na\ty\na\ta\nb c\tx\nb c\ty\nb c\tb c\n");
}

#[test]
fn line_buffer_prints_lines_before_the_job_ends() {
    // The second job waits for the first's line to be printed by brake before it ends.
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        [
            "--line-buffer",
            "--timeout",
            "2",
            "-j",
            "2",
            "-q",
            "sh",
            "-c",
            "if [ $0 = 1 ]; then echo first; sleep 5; else sleep 0.3; echo second; fi",
            ":::",
            "1",
            "2",
        ],
    );
    // Job 1 is ended by --timeout; its line was printed long before, ahead of job 2's.
    assert_eq!(stdout(&out), "first\nsecond\n", "{}", stderr(&out));
}

#[test]
fn ungroup_passes_output_straight_through() {
    let out = run(["-u", "-j", "1", "echo", ":::", "a", "b"]);
    assert_eq!(stdout(&out), "a\nb\n");
}

#[test]
fn replacement_strings_and_sources() {
    let out = run([
        "-k",
        "echo {1} {2} {1.} {1/} {1//} {1/.} {#}",
        ":::",
        "d/f.txt",
        ":::",
        "x",
        "y",
    ]);
    assert_eq!(
        stdout(&out),
        "d/f.txt x d/f f.txt d f 1\nd/f.txt y d/f f.txt d f 2\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "one\ntwo\n").unwrap();
    let out = run_in(dir.path(), ["-k", "echo", "::::", "in.txt"]);
    assert_eq!(stdout(&out), "one\ntwo\n");
}

#[test]
fn stdin_lines_are_the_inputs_when_no_source_is_given() {
    let mut child = command(["-k", "echo", "got"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a\nb c\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "got a\ngot b c\n");
}

#[test]
fn hostile_values_stay_literal() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        [
            "printf",
            "'[%s]\\n'",
            ":::",
            "$(touch pwned); rm -rf x",
            "a'b",
            "`id`",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["[$(touch pwned); rm -rf x]", "[`id`]", "[a'b]"]);
    assert!(!dir.path().join("pwned").exists());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever bytes a value holds (no NUL: exec arguments cannot hold one), it reaches the job
    /// as exactly one argument: without a shell, through it, and inside the template's quotes.
    #[test]
    fn any_value_arrives_as_one_literal_argument(
        values in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![
                    1u8..=255,
                    prop::sample::select(b"'\"\\$`!*?[]{}()<>|&;#~= \t\n".to_vec()),
                ],
                0..16,
            ),
            1..4,
        )
    ) {
        let args: Vec<OsString> = values.iter().cloned().map(OsString::from_vec).collect();
        // Direct (-q keeps `%s\0` one word, as printf needs it) and through the shell.
        // Direct, through the shell, and inside the template's own single and double quotes.
        for template in [
            &["-q", "printf", "%s\\0"][..],
            &["printf '%s\\0' {} | cat"][..],
            &["printf '%s\\0' '{}'"][..],
            &["printf '%s\\0' \"{}\""][..],
        ] {
            let out = command(["-k", "-j", "2"])
                .args(template)
                .arg(":::")
                .args(&args)
                .output()
                .unwrap();
            prop_assert!(out.status.success(), "{:?}", out);
            let mut expected = Vec::new();
            for value in &values {
                expected.extend_from_slice(value);
                expected.push(0);
            }
            prop_assert_eq!(out.stdout, expected);
        }
    }
}

#[test]
fn invalid_utf8_passes_through() {
    let value = OsStr::from_bytes(b"caf\xe9");
    let out = command(["printf", "%s"])
        .arg(":::")
        .arg(value)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"caf\xe9");
}

#[test]
fn exit_status_counts_failures() {
    assert_eq!(run(["true", ":::", "1", "2"]).status.code(), Some(0));
    let out = run(["exit {}", ":::", "0", "3", "4", "5"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("brake: 1 done, 3 failed"),
        "{}",
        stderr(&out)
    );
    let many: Vec<String> = (1..=150).map(|i| i.to_string()).collect();
    let mut args = vec!["-j", "8", "false", ":::"];
    args.extend(many.iter().map(String::as_str));
    assert_eq!(run(&args).status.code(), Some(101));
}

#[test]
fn halt_now_stops_after_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        [
            "--halt",
            "now,fail=1",
            "-j",
            "2",
            "touch ran-{}; if [ {} = 1 ]; then exit 1; fi; sleep 5",
            ":::",
            "1",
            "2",
            "3",
            "4",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "--halt now,fail=1 reached by job 1 (exit 1): `touch ran-1; if [ 1 = 1 ]; then exit \
             1; fi; sleep 5`; ending 1 running job(s)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("ran-4").exists(),
        "no job starts after the halt"
    );
}

#[test]
fn retries_run_a_failing_job_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        [
            "--retries",
            "3",
            "echo x >> tries; echo {} > /dev/null; [ $(wc -l < tries) -ge 3 ]",
            ":::",
            "a",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tries = std::fs::read_to_string(dir.path().join("tries")).unwrap();
    assert_eq!(tries.lines().count(), 3);
}

#[test]
fn timeout_fails_a_job_that_runs_too_long() {
    let out = run(["--timeout", "300ms", "sleep", ":::", "30", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("brake: job 1 timed out after 300ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dry_run_prints_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), ["--dry-run", "touch", ":::", "a", "b c"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "touch a\ntouch 'b c'\n");
    assert!(!dir.path().join("a").exists());
}

#[test]
fn joblog_columns_and_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        [
            "-k",
            "--joblog",
            "run.log",
            "-j",
            "1",
            "sh -c 'exit {}' || kill -TERM $$",
            ":::",
            "0",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = read_joblog(&dir.path().join("run.log"))
        .unwrap()
        .expect("a joblog");
    assert!(log.header && log.torn.is_none(), "{log:?}");
    let rows = &log.jobs;
    assert_eq!(rows.len(), 2, "{log:?}");
    assert_eq!(
        (
            rows[0].seq,
            rows[0].host.as_str(),
            rows[0].exitval,
            rows[0].signal
        ),
        (1, ":", 0, 0)
    );
    // The second job's shell killed itself with SIGTERM.
    assert_eq!(
        (rows[1].seq, rows[1].exitval, rows[1].signal),
        (2, -1, 15),
        "{log:?}"
    );
}

#[test]
fn resume_failed_runs_failures_again() {
    let dir = tempfile::tempdir().unwrap();
    let job = "echo {} >> ran; [ -e fixed ] || [ {} != b ]";
    let first = run_in(
        dir.path(),
        ["--joblog", "run.log", job, ":::", "a", "b", "c"],
    );
    assert_eq!(first.status.code(), Some(1));
    let resumed = run_in(
        dir.path(),
        ["--resume", "--joblog", "run.log", job, ":::", "a", "b", "c"],
    );
    // --resume runs nothing (every job has a line), and b's earlier failure still counts.
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("2 skipped (done in an earlier run), 1 failed in an earlier run"),
        "{}",
        stderr(&resumed)
    );
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let again = run_in(
        dir.path(),
        [
            "--resume-failed",
            "--joblog",
            "run.log",
            job,
            ":::",
            "a",
            "b",
            "c",
        ],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let mut ran: Vec<String> = std::fs::read_to_string(dir.path().join("ran"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    ran.sort();
    assert_eq!(ran, ["a", "b", "b", "c"]);
}

#[test]
fn a_joblog_from_another_command_line_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), ["--joblog", "run.log", "echo", ":::", "a", "b"]);
    let before = std::fs::read(dir.path().join("run.log")).unwrap();
    let out = run_in(
        dir.path(),
        [
            "--resume", "--joblog", "run.log", "touch", ":::", "a", "b", "c",
        ],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("was written by a different command line"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(dir.path().join("run.log")).unwrap(), before);
    assert!(!dir.path().join("c").exists(), "no job ran");
}

#[test]
fn a_torn_last_line_is_reported_and_its_job_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    run_in(
        dir.path(),
        ["-j", "1", "--joblog", "run.log", "echo", ":::", "a", "b"],
    );
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // Job 2's line torn in the middle, as a SIGKILL during the write would leave it.
    let torn = format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..10]);
    std::fs::write(dir.path().join("run.log"), torn).unwrap();
    let out = run_in(
        dir.path(),
        [
            "-j", "1", "--resume", "--joblog", "run.log", "echo", ":::", "a", "b",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("was incomplete"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "b\n");
    let log = read_joblog(&dir.path().join("run.log"))
        .unwrap()
        .expect("a joblog");
    assert!(
        log.header && log.torn.is_none() && log.jobs.len() == 2,
        "{log:?}"
    );
}

#[test]
fn json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        ["--json", "sum.json", "exit {}", ":::", "0", "2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sum.json")).unwrap())
            .unwrap();
    assert_eq!(json["done"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["exit_code"], 1);
}

#[test]
fn bad_input_gets_one_line_and_status_255_and_runs_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-j", "5x", "echo", ":::", "a"],
            "is not a number of jobs: write N",
        ),
        (
            &["-j", "abc", "echo", ":::", "a"],
            "\"abc\" is not a number of jobs",
        ),
        (&["::::"], ":::: needs at least one file name"),
        (
            &["--shell", "no-such-shell", "echo", ":::", "a"],
            "--shell no-such-shell: no such program",
        ),
        (
            &["--shell", "/bin/cat", "echo", ":::", "a"],
            "brake quotes values for bash and POSIX sh (dash) only",
        ),
        (&["cat", "::::"], ":::: needs at least one file name"),
        (&["cat", "::::", "nofile.txt"], "nofile.txt"),
        (
            &["echo {3}", ":::", "a", ":::", "b"],
            "{3} in the command, but there are only 2 input sources",
        ),
        (
            &["--halt", "bogus", "echo", ":::", "a"],
            "is not a halt rule",
        ),
        (
            &["--timeout", "10x", "echo", ":::", "a"],
            "is not a duration",
        ),
        (
            &["--termseq", "INT,abc", "echo", ":::", "a"],
            "\"abc\" is not a signal name",
        ),
        (&["--resume", "echo", ":::", "a"], "--joblog"),
        (
            &["--joblog", "no/such/dir/run.log", "echo", ":::", "a"],
            "cannot open the joblog no/such/dir/run.log",
        ),
    ];
    for (args, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut full: Vec<&str> = args.to_vec();
        // A job that would leave a trace if anything ran.
        if full.contains(&"echo") {
            full = full
                .iter()
                .map(|a| if *a == "echo" { "touch ran; echo" } else { a })
                .collect();
        }
        let out = run_in(dir.path(), &full);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!dir.path().join("ran").exists(), "{args:?} ran a job");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(entries.is_empty(), "{args:?} left files: {entries:?}");
    }
}
