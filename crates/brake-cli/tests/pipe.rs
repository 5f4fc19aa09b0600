//! `--pipe` and `--pipepart` through the binary: where blocks end (records never split, with
//! `--recend` / `--recstart`, empty input, a last line without its newline), what a job gets
//! (`--cat`, `--fifo`, `{#}`), the joblog, refusals, and a Ctrl-C that stops an endless input.

use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use brake_testkit::Session;

mod support;
use support::{command, finish, read_joblog, run_in, RUN_LIMIT};

/// `brake ARGS` in `dir` with `input` on its stdin.
fn piped(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut command = command(args);
    command.current_dir(dir);
    let input = input.to_vec();
    let feed: support::Feed = Box::new(move |mut stdin| {
        let _ = stdin.write_all(&input);
    });
    finish(&mut command, &token(), Some(feed), RUN_LIMIT).0
}

/// A marker of its own for each run: `finish` ends what is left with the run's marker.
fn token() -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    format!("brake-pipe-test-{}-{n}", std::process::id())
}

fn pipe(args: &[&str], input: &[u8]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    piped(dir.path(), args, input)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The blocks each job saw, in job order: every job prints `[`, its stdin, then `]`.
fn blocks(args: &[&str], input: &[u8]) -> Vec<String> {
    let mut all = vec!["--pipe", "-k"];
    all.extend_from_slice(args);
    all.push("printf [; cat; printf ]");
    let out = pipe(&all, input);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .map(|t| t.split("][").map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn blocks_hold_whole_lines_up_to_the_block_size() {
    let input: String = (1..=12).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        blocks(&["--block", "5"], input.as_bytes()),
        ["1\n2\n", "3\n4\n", "5\n6\n", "7\n8\n", "9\n10\n", "11\n", "12\n"]
    );
    // Any block size: lines are never split, and all of the input arrives once, in order.
    let input: String = (1..=3000).map(|i| format!("line {i}\n")).collect();
    for size in ["1", "7", "100", "1k", "1M"] {
        let got = blocks(&["--block", size], input.as_bytes());
        assert!(got.iter().all(|b| b.ends_with('\n')), "--block {size}");
        assert_eq!(got.concat(), input, "--block {size}");
    }
}

#[test]
fn a_record_longer_than_the_block_grows_it_with_a_warning() {
    let out = pipe(
        &["--pipe", "-k", "--block", "5", "printf [; cat; printf ]"],
        b"a\nbbbbbbbbbbbb\nc\nd\ne\nf\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "[a\n][bbbbbbbbbbbb\nc\nd\n][e\nf\n]");
    assert!(
        stderr(&out).contains("a record was longer than 5 bytes; --block is now 8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_last_line_may_lack_its_newline_and_empty_input_runs_nothing() {
    assert_eq!(blocks(&[], b"a\nb"), ["a\nb"]);
    assert_eq!(blocks(&["--block", "2"], b"a\nb"), ["a\n", "b"]);
    let out = pipe(&["--pipe", "echo", "ran"], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn record_start_and_end_choose_the_split() {
    let fasta = b">a\nAC\nGT\n>b\nTT\n>c\nGG\n";
    assert_eq!(
        blocks(&["--block", "12", "--recstart", ">"], fasta),
        [">a\nAC\nGT\n", ">b\nTT\n", ">c\nGG\n"]
    );
    assert_eq!(
        blocks(
            &["--block", "4", "--recend", "X", "--recstart", "Y"],
            b"aXYbXYc"
        ),
        ["aX", "YbX", "Yc"]
    );
    assert_eq!(
        blocks(&["--block", "4", "--recend", ";"], b"a;b;c;d;e;"),
        ["a;b;", "c;d;", "e;"]
    );
    assert_eq!(
        blocks(&["--block", "3", "--recend", "\\t"], b"a\tb\tc\t"),
        ["a\t", "b\t", "c\t"]
    );
    assert_eq!(
        blocks(
            &[
                "--block",
                "4",
                "--regexp",
                "--recend",
                "\\n",
                "--recstart",
                "[0-9]"
            ],
            b"x1\ny\n2z\n3w\n"
        ),
        // The block grew to 7 for the first record; the rest is shorter than that.
        ["x1\ny\n", "2z\n3w\n"]
    );
}

#[test]
fn jobs_are_numbered_and_braces_name_nothing() {
    let out = pipe(
        &[
            "--pipe",
            "-k",
            "-j1",
            "--block",
            "2",
            "echo {#} {%} X{}X; cat",
        ],
        b"a\nb\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "1 1 XX\na\n2 1 XX\nb\n");
    // Without {}, nothing is appended.
    let out = pipe(&["--pipe", "--block", "2", "-k", "echo", "x"], b"a\nb\n");
    assert_eq!(stdout(&out), "x\nx\n");
}

#[test]
fn cat_and_fifo_name_the_block_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for (option, check) in [("--cat", "test -f {}"), ("--fifo", "test -p {}")] {
        let mut command = command([
            "--pipe",
            option,
            "-k",
            "--block",
            "2",
            &format!("{check} && cat {{}} && wc -c"),
        ]);
        command.current_dir(dir.path()).env("TMPDIR", &tmp);
        let feed: support::Feed = Box::new(|mut stdin| {
            let _ = stdin.write_all(b"a\nb\n");
        });
        let (out, _) = finish(&mut command, &token(), Some(feed), RUN_LIMIT);
        assert!(out.status.success(), "{option}: {out:?}");
        // The block comes in the file; stdin is empty.
        assert_eq!(stdout(&out), "a\n0\nb\n0\n", "{option}");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{option} left {left:?}");
    }
}

#[test]
fn a_retried_fifo_job_reads_its_block_once() {
    // The first run fails without opening the named pipe; the retry reads it.
    let out = pipe(
        &[
            "--pipe",
            "--fifo",
            "--retries",
            "2",
            "test -e tried || { touch tried; exit 1; }; cat {}",
        ],
        b"a\nb\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "a\nb\n");
}

#[test]
fn pipepart_splits_files_by_seeking() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (1..=12).map(|i| format!("{i}\n")).collect();
    std::fs::write(dir.path().join("f"), &lines).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--pipepart", "-k"];
        args.extend_from_slice(extra);
        args.extend(["printf [; cat; printf ]", "::::", "f"]);
        let out = run_in(dir.path(), &args);
        assert!(out.status.success(), "{out:?}");
        stdout(&out)
    };
    assert_eq!(
        run(&["--block", "5"]),
        "[1\n2\n3\n][4\n5\n6\n][7\n8\n9\n][10\n11\n][12\n]"
    );
    assert_eq!(
        run(&["--block", "-2", "-j", "2"]),
        "[1\n2\n3\n4\n][5\n6\n7\n8\n][9\n10\n11\n][12\n]"
    );
    // --cat copies the part into its file.
    let out = run_in(
        dir.path(),
        [
            "--pipepart",
            "--cat",
            "--block",
            "100",
            "wc",
            "-l",
            "::::",
            "f",
        ],
    );
    assert_eq!(
        stdout(&out).split_whitespace().next(),
        Some("12"),
        "{out:?}"
    );
}

#[test]
fn round_robin_starts_one_job_per_slot_and_deals_every_block() {
    let input: String = (1..=2000).map(|i| format!("{i}\n")).collect();
    let out = pipe(
        &[
            "--pipe",
            "--round-robin",
            "-j",
            "3",
            "--block",
            "100",
            "wc -l",
        ],
        input.as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    let counts: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 2000, "{counts:?}");
    // Fewer blocks than slots: one job per block.
    let out = pipe(&["--pipe", "--rr", "-j", "4", "-k", "cat"], b"a\n");
    assert_eq!(stdout(&out), "a\n");
}

#[test]
fn the_joblog_has_a_line_per_block_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = piped(
        dir.path(),
        &["--pipe", "--block", "4", "--joblog", "j", "cat"],
        b"1\n2\n3\n4\n5\n",
    );
    assert!(out.status.success(), "{out:?}");
    let log = read_joblog(&dir.path().join("j")).unwrap().unwrap();
    let send = |line: &str| -> u64 { line.split('\t').nth(4).unwrap().parse().unwrap() };
    let mut sizes: Vec<(u64, u64)> = log.jobs.iter().map(|j| (j.seq, send(&j.text))).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [(1, 4), (2, 4), (3, 2)]);
}

#[test]
fn failures_count_as_failed_jobs() {
    // Blocks 1\n2\n, 3\n4\n and 5\n6\n: two have no 3.
    let out = pipe(
        &["--pipe", "--block", "4", "grep -q 3"],
        b"1\n2\n3\n4\n5\n6\n",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn bad_combinations_are_refused_before_anything_runs() {
    for (args, says) in [
        (&["--pipe", "--block", "0", "cat"][..], "at least one byte"),
        (&["--pipe", "--block", "1x", "cat"], "is not a block size"),
        (&["--pipe", "--block", "-1", "cat"], "is for --pipepart"),
        (&["--pipe", "cat", ":::", "a"], "takes no ::: or ::::"),
        (&["--pipepart", "cat"], "needs a file"),
        (
            &["--pipepart", "cat", "::::", "/no/such/file"],
            "/no/such/file",
        ),
        (
            &["--pipe", "--joblog", "j", "--resume", "cat"],
            "--resume cannot",
        ),
        (&["--cat", "cat", ":::", "a"], "add one of them"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = piped(dir.path(), args, b"a\n");
        assert_eq!(out.status.code(), Some(255), "{args:?}: {out:?}");
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(says), "{args:?}: {err}");
        assert!(!dir.path().join("j").exists(), "{args:?}: a joblog");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

/// One Ctrl-C with an endless stdin: no new block starts, running jobs end, finished blocks'
/// output is kept, brake exits 130 and stops reading, and nothing is left running.
#[test]
fn one_ctrl_c_stops_an_endless_pipe() {
    endless_pipe_stopped(&[], 4);
}

/// The same with `--round-robin`, where the jobs' stdin stays open for more blocks.
#[test]
fn one_ctrl_c_stops_an_endless_round_robin() {
    endless_pipe_stopped(&["--round-robin"], 2);
}

/// Four jobs at a time, each given one line; jobs 1 and 2 end at once, the others sleep until
/// `sleepers` of them do; then one Ctrl-C.
fn endless_pipe_stopped(extra: &[&str], sleepers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("input");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Blocks of one line each: jobs 1 and 2 end at once, the others sleep.
    let job = "read n; echo begin $n; case $n in 1|2) ;; *) sleep 30;; esac; echo end $n; \
               echo $n >> ran.txt";
    let script = format!(
        "exec \"$0\" --pipe {} --block 3 -j 4 --joblog run.log '{job}' < input",
        extra.join(" ")
    );
    let session = Session::spawn(
        brake_testkit::Command::new("sh")
            .args(["-c", &script, support::BRAKE])
            .cwd(dir.path()),
    )
    .expect("start brake");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut input = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let mut written = 0u64;
            for n in 1u64.. {
                if input.write_all(format!("{n}\n").as_bytes()).is_err() {
                    break;
                }
                written = n;
            }
            written
        })
    };
    support::wait_for_sleeps(&session, sleepers, Duration::from_secs(120));
    let finished = support::one_press_stops(session, Duration::from_secs(120));
    let output = &finished.output;
    for n in [1, 2] {
        assert!(
            output.contains(&format!("begin {n}\nend {n}\n")),
            "{output}"
        );
    }
    assert!(!output.contains("end 3"), "{output}");
    // The writer sees brake go: it stopped reading the endless input.
    let written = writer.join().unwrap();
    assert!(written > 6, "{written}");
    let ran = std::fs::read_to_string(dir.path().join("ran.txt")).unwrap();
    let mut ran: Vec<&str> = ran.lines().collect();
    ran.sort_unstable();
    assert_eq!(ran, ["1", "2"]);
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    let mut logged: Vec<u64> = log.jobs.iter().map(|j| j.seq).collect();
    logged.sort_unstable();
    assert_eq!(logged, [1, 2], "interrupted blocks have no joblog line");
}
