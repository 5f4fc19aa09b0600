//! What the job runner tells its user, without a terminal: its own `brake:` lines never pass
//! an input's control characters, GNU parallel syntax brake lacks is refused rather than run as
//! text, refused values say what to write, and the summary, the hint and the exit status tell
//! how the whole job list stands. Each test runs the real binary in a directory of its own.

use std::process::Output;

mod support;
use support::{read_joblog, run, run_in};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A value that retitles a terminal, then rings its bell, if printed raw.
const RETITLE: &str = "a\u{1b}]2;pwned\u{7}b";

fn assert_no_control_characters(out: &Output) {
    let err = stderr(out);
    assert!(
        !err.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached stderr: {err:?}"
    );
}

#[test]
fn brakes_own_lines_escape_control_characters_from_inputs() {
    // Timed out, with a joblog: the timeout line and the summary with its hint.
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        [
            "--joblog",
            "run.log",
            "--timeout",
            "200ms",
            "sleep 5; : {}",
            ":::",
            RETITLE,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_control_characters(&out);
    let err = stderr(&out);
    assert!(
        err.contains("timed out") && err.contains("a\\x1b]2;pwned\\x07b"),
        "{err}"
    );
    assert!(
        err.contains("the same brake command with --resume-failed"),
        "{err}"
    );
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    assert!(
        log.jobs[0].text.ends_with("a\\x1b]2;pwned\\x07b'"),
        "{log:?}"
    );

    // A program that cannot start: its interpreter is missing.
    let script = dir.path().join("script");
    std::fs::write(&script, "#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_in(dir.path(), ["./script", ":::", RETITLE]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_control_characters(&out);
    assert!(stderr(&out).contains("could not start"), "{}", stderr(&out));

    // A halt: as in GNU parallel, a rule of one failed job exits with that job's status.
    let out = run(["--halt", "now,fail=1", "exit 3; : {}", ":::", RETITLE]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_no_control_characters(&out);
    assert!(
        stderr(&out).contains("--halt now,fail=1 reached"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

/// Runs `args` with `touch ran` put before the command, in a directory of its own, and
/// checks that it was refused with status 255 and `message`, and that nothing ran.
fn refused(args: &[&str], message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), args);
    assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(message), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert_eq!(stdout(&out), "", "{args:?}");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(entries.is_empty(), "{args:?} ran something: {entries:?}");
}

#[test]
fn gnu_syntax_brake_lacks_is_refused_not_run_as_text() {
    refused(
        &["touch {-3}", ":::", "a", ":::", "b"],
        "brake: {-3} in the command, but there are only 2 input sources",
    );
    refused(
        &["touch", "{= $_=uq() =}", ":::", "a"],
        "brake: {= $_=uq() =} calls uq()",
    );
    refused(
        &["touch", "{= s/a/b/ (( =}", ":::", "a"],
        "brake: cannot use the Perl expression",
    );
    refused(
        &["--plus", "touch {host}", ":::", "a"],
        "brake: {host} names a remote host",
    );
    refused(&["--parens", "abc", "touch", ":::", "a"], "--parens");
    refused(&["--rpl", "{a(x[)} y", "touch", ":::", "a"], "--rpl");
    // Braces of the shell are not replacement strings (/bin/sh may not expand {a,b}).
    let out = run(["echo ${HOME+x} {a,b} {1..2}; : {}", ":::", "v"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("x "), "{}", stderr(&out));
}

#[test]
fn gnu_job_counts_run_and_refused_values_say_what_to_write() {
    for jobs in ["+1", "-1", "50%", "0"] {
        let out = run(["-k", "-j", jobs, "echo", ":::", "a", "b"]);
        assert_eq!(out.status.code(), Some(0), "-j {jobs}: {}", stderr(&out));
        assert_eq!(stdout(&out), "a\nb\n", "-j {jobs}");
    }
    for (args, message) in [
        (
            &["-j", "5x"][..],
            "\"5x\" is not a number of jobs: write N (e.g. -j 4), +N or -N",
        ),
        (&["-j", "--1"][..], "is not a number of jobs"),
        (
            &["--timeout", "-5"][..],
            "a timeout must be more than zero (e.g. --timeout 30s)",
        ),
        (&["--retries", "-1"][..], "\"-1\" is not a number of runs"),
        (&["--halt", "-3"][..], "\"-3\" is not a halt rule"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut full = args.to_vec();
        full.extend(["touch", ":::", "a"]);
        let out = run_in(dir.path(), &full);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("tip:"), "{args:?}: {err}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{args:?} ran"
        );
    }
    refused(
        &["--semaphore", "touch", ":::", "a"],
        "brake: unknown option --semaphore (GNU parallel's --semaphore; not supported yet); \
         see brake --help",
    );
    refused(
        &["--sem", "touch", ":::", "a"],
        "GNU parallel's --semaphore",
    );
    refused(&["--grop", "touch", ":::", "a"], "(did you mean --group?)");
}

#[test]
fn joblog_dash_goes_to_stdout_whole_lines_between_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    for mode in ["--group", "--line-buffer"] {
        let mut args = vec![
            mode,
            "-j",
            "4",
            "--joblog",
            "-",
            "printf 'part-{} '; sleep 0.0{}; echo end-{}",
            ":::",
        ];
        args.extend(values.iter().map(String::as_str).take(9));
        let out = run_in(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            support::JOBLOG_HEADER,
            "{mode}: header first: {text}"
        );
        let (logged, output): (Vec<&str>, Vec<&str>) =
            lines[1..].iter().partition(|line| line.contains('\t'));
        assert_eq!(logged.len(), 9, "{mode}: {text}");
        for line in &logged {
            let columns: Vec<&str> = line.split('\t').collect();
            assert_eq!(columns.len(), 9, "{mode}: a whole joblog line: {line:?}");
            assert!(columns[8].starts_with("printf 'part-"), "{mode}: {line:?}");
        }
        assert_eq!(output.len(), 9, "{mode}: {text}");
        for line in &output {
            let n = line
                .strip_prefix("part-")
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            assert_eq!(*line, format!("part-{n} end-{n}"), "{mode}: {text}");
        }
    }
    assert!(!dir.path().join("-").exists(), "no file named -");
    refused(
        &["--joblog", "-", "--resume", "touch", ":::", "a"],
        "--joblog - writes the joblog to stdout, where a resume cannot read it back",
    );
}

#[test]
fn a_halted_run_is_resumed_with_resume_failed_and_never_called_done() {
    let dir = tempfile::tempdir().unwrap();
    let job = "[ -e fixed ] || [ {} != 2 ]";
    let args = |flag: Option<&'static str>| {
        let mut args: Vec<&str> = flag.into_iter().collect();
        args.extend(["--joblog", "run.log", "-j", "1", "--halt", "now,fail=1"]);
        args.extend([job, ":::", "1", "2", "3"]);
        args
    };
    let first = run_in(dir.path(), args(None));
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(err.contains(" — resume with: "), "{err}");
    assert!(err.contains("--resume-failed --joblog run.log"), "{err}");
    assert!(!err.contains("--resume --joblog"), "{err}");

    // --resume skips job 2 too: it failed before, and the run says so and fails.
    let resumed = run_in(dir.path(), args(Some("--resume")));
    let err = stderr(&resumed);
    assert_eq!(resumed.status.code(), Some(1), "{err}");
    assert!(
        err.contains("brake: 1 done, 1 skipped (done in an earlier run), 1 failed in an earlier run, not run again"),
        "{err}"
    );
    assert!(
        err.contains("resume with: ") && err.contains("--resume-failed"),
        "{err}"
    );

    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let fixed = run_in(dir.path(), args(Some("--resume-failed")));
    assert_eq!(fixed.status.code(), Some(0), "{}", stderr(&fixed));
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    assert_eq!(log.jobs.len(), 4, "{log:?}");
}

#[test]
fn the_resume_hint_pastes_as_it_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_in(
        dir.path(),
        [
            "--joblog",
            "run.log",
            "[ -e fixed ] || [ {} != 'b c' ]",
            ":::",
            "a",
            "b c",
        ],
    );
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let err = stderr(&first);
    let hint = err
        .lines()
        .find_map(|line| line.split_once(" — resume with: ").map(|(_, hint)| hint))
        .unwrap_or_else(|| panic!("no hint: {err}"));
    // The program as invoked, not a `brake` that may not be on PATH.
    assert!(
        hint.starts_with(&format!("{} --resume-failed ", support::BRAKE)),
        "{hint}"
    );
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let pasted = std::process::Command::new("/bin/sh")
        .args(["-c", hint])
        .current_dir(dir.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(pasted.status.code(), Some(0), "{hint}: {}", stderr(&pasted));
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    assert_eq!(log.jobs.len(), 3, "{log:?}");
}

#[test]
fn a_stop_names_the_jobs_it_interrupted_and_says_when_nothing_can_resume() {
    let out = run([
        "-j",
        "6",
        "--halt",
        "now,fail=1",
        "if [ {} = 0 ]; then sleep 0.5; exit 1; fi; sleep {}",
        ":::",
        "0",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let listed = lines[lines.len() - 2];
    assert!(listed.starts_with("brake: interrupted: job "), "{err}");
    assert_eq!(
        listed.matches("`if [ 3").count(),
        3,
        "the first three: {err}"
    );
    assert!(listed.ends_with(" and 2 more"), "{err}");
    let summary = lines[lines.len() - 1];
    assert_eq!(
        summary,
        "brake: 0 done, 1 failed, 5 interrupted, 1 not started; stopped by halt rule — nothing \
         can be resumed: there was no --joblog",
        "{err}"
    );
}

#[test]
fn input_that_cannot_become_a_command_is_bad_input_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nul.txt"), b"a\nb\0c\nd\n").unwrap();
    let out = run_in(
        dir.path(),
        ["--joblog", "run.log", "echo", "::::", "nul.txt"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(
        err.contains("brake: input line 2 contains a NUL byte"),
        "{err}"
    );
    assert!(!err.contains("nul byte found"), "std's words: {err}");
    assert!(
        err.contains("brake: 2 done, 1 not run (bad input)"),
        "{err}"
    );
    assert!(
        !err.contains("--resume"),
        "nothing to resume or retry: {err}"
    );
    // Jobs 1 and 3 run at once: either may print first.
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["a", "d"]);
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    assert_eq!(
        log.seqs().unwrap().into_iter().collect::<Vec<_>>(),
        [1, 3],
        "{log:?}"
    );

    // One argument over the kernel's 128 KiB, and a command line over ARG_MAX in pieces that
    // are each allowed (by a program executed directly: the shell's printf builtin would take
    // the whole line as one argument).
    std::fs::write(dir.path().join("big.txt"), "x".repeat(1 << 20) + "\n").unwrap();
    let piece = "y".repeat(120_000) + "\n";
    let mut many = vec!["--joblog", "big.log", "-q", "env", "printf", "%s", "::::"];
    let names: Vec<String> = (1..=20).map(|i| format!("piece{i}")).collect();
    for name in &names {
        std::fs::write(dir.path().join(name), &piece).unwrap();
    }
    many.extend(names.iter().map(String::as_str));
    for (args, message) in [
        (
            &["--joblog", "big.log", "echo", "::::", "big.txt"][..],
            "brake: job 1: an argument over 128 KiB: pass big data on stdin",
        ),
        (
            &many[..],
            "brake: job 1: its command line is over the system's ARG_MAX: pass big data on stdin",
        ),
    ] {
        let out = run_in(dir.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(255), "{err}");
        assert!(err.contains(message), "{err}");
        assert!(
            err.contains("brake: 0 done, 1 not run (bad input)"),
            "{err}"
        );
        assert!(!err.contains("could not start"), "{err}");
        let log = read_joblog(&dir.path().join("big.log")).unwrap().unwrap();
        assert!(log.jobs.is_empty(), "no joblog line for bad input");
    }
}

#[test]
fn a_timeout_runs_the_termination_sequence_and_counts_its_signals() {
    let started = std::time::Instant::now();
    let out = run([
        "--timeout",
        "300ms",
        "--termseq",
        "INT,300,TERM,300,KILL",
        "trap '' INT TERM; sleep 30; : {}",
        ":::",
        "a",
    ]);
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "brake: job 1 timed out after 300ms, killed by SIGKILL, the 3rd signal of the \
             termination sequence: "
        ),
        "{err}"
    );
    // INT and TERM are ignored: the KILL comes 600 ms after the timeout.
    assert!(took >= std::time::Duration::from_millis(900), "{took:?}");
}

#[test]
fn options_in_parallel_are_not_read_and_the_run_says_so() {
    let out = support::command(["echo", ":::", "a"])
        .env("PARALLEL", "-k --tag")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a\n", "no --tag from $PARALLEL");
    assert!(
        stderr(&out).contains("brake: $PARALLEL is set, but brake does not read options from it"),
        "{}",
        stderr(&out)
    );
}
