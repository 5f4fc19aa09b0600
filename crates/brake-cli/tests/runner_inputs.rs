//! GNU parallel's input options through the real binary: a bad one is refused in one line
//! before anything runs or a joblog is written, and a run reading columns from an `-a` file
//! still stops on one Ctrl-C with nothing left behind.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use brake_testkit::marked_processes;

mod support;
use support::{run_in, start_in};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `args`, then `--joblog log touch ran`, in `dir`, and checks it was refused with
/// status 255 and one line holding `message`, with nothing run and no joblog.
fn refused_in(dir: &Path, args: &[&str], message: &str) {
    let mut full = args.to_vec();
    full.extend(["--joblog", "log", "touch", "ran"]);
    let before: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = run_in(dir, &full);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(stdout(&out), "", "{args:?}");
    let after: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after, "{args:?} ran something or wrote a joblog");
}

#[test]
fn bad_input_options_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    std::fs::write(dir.path().join("values"), "a\nb\n").unwrap();
    refused_in(
        dir.path(),
        &["-a", "missing.txt"],
        "brake: cannot read the input file missing.txt: No such file",
    );
    refused_in(
        dir.path(),
        &["-a", "adir"],
        "brake: cannot read the input file adir: it is a directory",
    );
    refused_in(
        dir.path(),
        &["-a", "values", "-a", "-", "--arg-file", "-"],
        "stdin (-) can be read as one input source only",
    );
    refused_in(
        dir.path(),
        &["--colsep", "[", "-a", "values"],
        "brake: --colsep [: not a regex (",
    );
    refused_in(
        dir.path(),
        &["-C", "a{2", "-a", "values"],
        "brake: --colsep a{2: not a regex (",
    );
    refused_in(
        dir.path(),
        &["--trim", "both", "-a", "values"],
        "brake: --trim both: write n (no trim), l (left), r (right) or lr (both ends)",
    );
    refused_in(
        dir.path(),
        &["-d", "", "-a", "values"],
        "brake: -d needs a delimiter",
    );
}

#[test]
fn an_arg_file_with_columns_and_a_header_runs_as_gnu_parallel_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("table.csv"), "name,size\n a ,1\nb,\n").unwrap();
    let out = run_in(
        dir.path(),
        [
            "-k",
            "--header",
            ":",
            "--colsep",
            ",",
            "-a",
            "table.csv",
            "printf '%s|' {name} {size} {2}; echo",
            ":::+",
            "x",
            "y",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Each source's first value is its header, the `:::+` one's too (it names no column
    // used); as in GNU parallel, `:::+` after an -a file links nothing to it.
    assert_eq!(stdout(&out), "a|1|1|\nb|||\n");
}

#[test]
fn one_press_stops_a_run_reading_columns_from_an_arg_file() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (1..=20).map(|i| format!("{i}\tsleep\n")).collect();
    std::fs::write(dir.path().join("rows.tsv"), rows).unwrap();
    let session = start_in(
        dir.path(),
        [
            "-j",
            "3",
            "--colsep",
            "\t",
            "-a",
            "rows.tsv",
            "echo begin {1}; case {1} in 1) ;; *) {2} 30;; esac; echo end {1}",
        ],
    );
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while marked_processes(session.marker())
        .iter()
        .filter(|p| p.cmdline == "sleep 30")
        .count()
        < 3
    {
        assert!(std::time::Instant::now() < until, "{}", session.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = support::one_press_stops(session, Duration::from_secs(120));
    let output = &finished.output;
    // The finished job's output whole; no interrupted job's end, no job started after.
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    assert!(
        lines.contains(&"begin 1") && lines.contains(&"end 1"),
        "{output}"
    );
    for line in ["end 2", "end 3", "end 4", "begin 5"] {
        assert!(!lines.contains(&line), "{line}: {output}");
    }
}
