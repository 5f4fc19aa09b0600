//! The shell jobs run in and what jobs see of the run: the shell chosen by GNU parallel's
//! rule, a job executed directly only where the shell would give the same result, the
//! commands shown by `-t` and `-v`, and the `$PARALLEL_*` variables.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

mod support;
use support::{command, finish, RUN_LIMIT};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `brake ARGS` with `env` added to its environment, in a directory of its own.
fn run_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    run_in_with(dir.path(), env, args)
}

/// `brake ARGS` with `env` added to its environment, in `dir`.
fn run_in_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let mut command = command(args);
    command.current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let token = format!(
        "brake-cli-shell-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    finish(&mut command, &token, None, RUN_LIMIT).0
}

#[test]
fn parallel_shell_names_the_shell_and_shell_overrides_it() {
    let probe = "case \"$BASH_VERSION\" in '') echo sh {};; *) echo bash {};; esac";
    let out = run_with(&[("PARALLEL_SHELL", "bash")], &[probe, ":::", "x"]);
    assert_eq!(stdout(&out), "bash x\n", "{}", stderr(&out));
    let out = run_with(&[("PARALLEL_SHELL", "/bin/sh")], &[probe, ":::", "x"]);
    assert_eq!(stdout(&out), "sh x\n", "{}", stderr(&out));
    let out = run_with(
        &[("PARALLEL_SHELL", "/bin/sh")],
        &["--shell", "bash", probe, ":::", "x"],
    );
    assert_eq!(stdout(&out), "bash x\n", "{}", stderr(&out));
    let out = run_with(
        &[("PARALLEL_SHELL", "/bin/cat")],
        &["touch ran; echo", ":::", "x"],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out)
            .contains("$PARALLEL_SHELL /bin/cat: brake quotes values for bash and POSIX sh"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_exported_bash_function_wins_over_the_program() {
    let function = [
        ("PARALLEL_SHELL", "bash"),
        ("BASH_FUNC_ls%%", "() {  echo function ls \"$@\"\n}"),
    ];
    let out = run_with(&function, &["ls", ":::", "a", "b c"]);
    let mut lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["function ls a", "function ls b c"],
        "{}",
        stderr(&out)
    );
    // dash does not read functions from the environment: the program runs.
    let out = run_with(
        &[function[1]],
        &["--shell", "/bin/sh", "ls", "-d", ":::", "."],
    );
    assert_eq!(stdout(&out), ".\n", "{}", stderr(&out));
}

/// Whatever the value, a job that may be executed directly prints what the same command
/// prints through the shell (`;` keeps a command in the shell).
#[test]
fn executed_directly_or_by_the_shell_the_output_is_the_same() {
    let values = [
        "a\\nb",
        "c\\td",
        "\\\\",
        "-e",
        "-n",
        "-E",
        "--help",
        "--version",
        "-n\\c",
        "-neE",
        "x y",
    ];
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "/bin/sh"] {
        for program in ["echo", "true", "printf", "pwd"] {
            for value in values {
                let direct =
                    run_in_with(dir.path(), &[], &["--shell", shell, program, ":::", value]);
                let template = format!("{program} {{}};");
                let shelled = run_in_with(
                    dir.path(),
                    &[],
                    &["--shell", shell, &template, ":::", value],
                );
                assert_eq!(
                    (stdout(&direct), direct.status.code()),
                    (stdout(&shelled), shelled.status.code()),
                    "{shell}: {program} {value:?}: {}",
                    stderr(&direct)
                );
            }
        }
    }
}

#[test]
fn t_prints_commands_on_stderr_and_v_on_stdout() {
    let out = run_with(&[], &["-k", "-t", "echo", ":::", "a", "b c"]);
    assert_eq!(stdout(&out), "a\nb c\n");
    assert_eq!(stderr(&out), "echo a\necho 'b c'\n");
    let out = run_with(&[], &["-k", "-v", "echo", ":::", "a", "b c"]);
    assert_eq!(stdout(&out), "echo a\na\necho 'b c'\nb c\n");
    assert_eq!(stderr(&out), "");
    let out = run_with(&[], &["-k", "-v", "--tag", "echo", ":::", "a"]);
    assert_eq!(stdout(&out), "a\techo a\na\ta\n");
    let out = run_with(&[], &["-v", "-u", "echo", ":::", "a"]);
    assert_eq!(stdout(&out), "echo a\na\n");
    let out = run_with(&[], &["--verbose", "--dry-run", "echo", ":::", "a"]);
    assert_eq!(
        (stdout(&out), stderr(&out)),
        ("echo a\n".into(), "echo a\n".into())
    );
}

#[test]
fn jobs_get_gnu_parallels_variables() {
    let out = run_with(
        &[],
        &[
            "-j1",
            "-k",
            "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT $PARALLEL_SSHLOGIN {}; \
             test \"$PARALLEL_PID\" = \"$PPID\" && echo pid",
            ":::",
            "a",
            "b",
        ],
    );
    assert_eq!(
        stdout(&out),
        "1 1 : a\npid\n2 1 : b\npid\n",
        "{}",
        stderr(&out)
    );
}

/// With no command the input lines are the jobs' commands, and the stop contract holds: one
/// Ctrl-C starts nothing new, ends the running jobs, keeps the finished ones' output, exits
/// 130 and leaves no process; `--resume` then runs exactly the rest.
#[test]
fn commands_as_input_stop_on_one_press_and_resume() {
    use brake_testkit::marked_processes;
    use std::time::{Duration, Instant};

    let limit = Duration::from_secs(120);
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for n in 1..=8 {
        let wait = if n <= 2 {
            ""
        } else {
            "if [ ! -e fast ]; then sleep 30; fi; "
        };
        lines.push_str(&format!(
            "echo begin {n}; {wait}echo end {n}; echo {n} >> ran.txt\n"
        ));
    }
    std::fs::write(dir.path().join("cmds"), lines).unwrap();
    let args = ["-j", "3", "--joblog", "run.log", "::::", "cmds"];
    let session = support::start_in(dir.path(), args);
    let until = Instant::now() + limit;
    while marked_processes(session.marker())
        .iter()
        .filter(|p| p.cmdline == "sleep 30")
        .count()
        < 3
    {
        assert!(Instant::now() < until, "{}", session.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = support::one_press_stops(session, limit);
    let output = &finished.output;
    for n in [1, 2] {
        assert!(
            output.contains(&format!("begin {n}\nend {n}\n")),
            "{output}"
        );
    }
    assert!(
        output.contains("2 done, 3 interrupted, 3 not started"),
        "{output}"
    );
    let ran = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("ran.txt")).unwrap_or_default();
        let mut ran: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
        ran.sort_unstable();
        ran
    };
    assert_eq!(ran(dir.path()), [1, 2]);
    std::fs::write(dir.path().join("fast"), "").unwrap();
    let mut resume = vec!["--resume"];
    resume.extend(args);
    let out = run_in_with(dir.path(), &[], &resume);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ran(dir.path()),
        (1..=8).collect::<Vec<u32>>(),
        "each job once"
    );
}
