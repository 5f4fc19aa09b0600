use super::*;
use proptest::prelude::*;
use std::fs::OpenOptions;
use std::os::unix::ffi::OsStringExt;

fn entry(seq: u64, exitval: i32, command: &str) -> Entry {
    Entry {
        host: ":".to_owned(),
        seq,
        start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        runtime: Duration::from_millis(2_500),
        send: 0,
        receive: 6,
        exitval,
        signal: 0,
        command: OsString::from(command),
    }
}

fn write_log(path: &Path, entries: &[Entry]) {
    let (mut log, _) = Joblog::open(path, Mode::Fresh).unwrap();
    for entry in entries {
        log.record(entry).unwrap();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn lines_have_gnu_parallels_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let mut early = entry(2, -1, "sleep 9");
    early.start = UNIX_EPOCH + Duration::from_millis(5_250);
    early.runtime = Duration::from_micros(12_345_678);
    early.send = 12;
    early.signal = 15;
    write_log(&path, &[entry(1, 0, "echo a"), early]);
    assert_eq!(
        read(&path),
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n\
         1\t:\t1700000000.123\t     2.500\t0\t6\t0\t0\techo a\n\
         2\t:\t     5.250\t    12.346\t12\t6\t-1\t15\tsleep 9\n"
    );
}

#[test]
fn the_command_column_is_escaped_to_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let command = "printf 'x\ty\n' \\ a\rb";
    write_log(&path, &[entry(1, 0, command)]);
    let text = read(&path);
    let line = text.lines().nth(1).unwrap();
    assert!(line.ends_with("\tprintf 'x\\ty\\n' \\\\ a\\rb"), "{line}");
    assert_eq!(text.lines().count(), 2);
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.check(1, OsStr::new(command)).is_ok());
    assert!(previous
        .check(1, OsStr::new("printf 'x\\ty\\n' \\ a\rb"))
        .is_err());
}

#[test]
fn a_command_that_is_not_utf8_is_written_lossily_and_still_matches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let mut job = entry(1, 0, "");
    job.command = OsString::from_vec(b"echo \xff".to_vec());
    write_log(&path, std::slice::from_ref(&job));
    assert!(read(&path).ends_with("\techo \u{fffd}\n"));
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.check(1, &job.command).is_ok());
}

#[test]
fn resume_skips_logged_jobs_and_resume_failed_only_successes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let mut killed = entry(4, -1, "d");
    killed.signal = 9;
    write_log(&path, &[entry(3, 1, "c"), entry(1, 0, "a"), killed]);
    let (mut log, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.skip(1) && previous.skip(3) && previous.skip(4) && !previous.skip(2));
    assert!(previous.succeeded_before(1) && !previous.succeeded_before(3));
    assert!(!previous.succeeded_before(4) && !previous.succeeded_before(2));
    assert_eq!((previous.lines(), previous.succeeded()), (3, 1));
    assert_eq!(
        (previous.lowest_seq(), previous.max_seq()),
        (Some(1), Some(4))
    );
    assert!(previous.torn().is_none());
    log.record(&entry(2, 0, "b")).unwrap();
    drop(log);

    let (mut log, previous) = Joblog::open(&path, Mode::ResumeFailed).unwrap();
    assert!(previous.skip(1) && previous.skip(2));
    assert!(!previous.skip(3) && !previous.skip(4) && !previous.skip(5));
    // A retried job gets a second line; one success is enough, whatever came after.
    log.record(&entry(3, 0, "c")).unwrap();
    log.record(&entry(4, 2, "d")).unwrap();
    drop(log);
    let (_, previous) = Joblog::open(&path, Mode::ResumeFailed).unwrap();
    assert!(previous.skip(3) && !previous.skip(4));
    assert_eq!((previous.lines(), previous.succeeded()), (6, 3));
    let mut log_again = OpenOptions::new().append(true).open(&path).unwrap();
    log_again
        .write_all(b"3\t:\t1.000\t1.000\t0\t0\t1\t0\tc\n")
        .unwrap();
    let (_, previous) = Joblog::open(&path, Mode::ResumeFailed).unwrap();
    assert!(previous.skip(3), "a later failure does not undo a success");
    assert_eq!(previous.succeeded(), 3);

    let (_, fresh) = Joblog::open(&path, Mode::Fresh).unwrap();
    assert!(!fresh.skip(1));
    assert_eq!((fresh.lines(), fresh.max_seq()), (0, None));
    assert_eq!(read(&path), HEADER);
}

#[test]
fn check_compares_with_the_latest_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, &[entry(1, 1, "old"), entry(1, 0, "new")]);
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.check(1, OsStr::new("new")).is_ok());
    assert!(previous.check(1, OsStr::new("old")).is_err());
}

#[test]
fn a_missing_or_empty_log_is_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.log");
    let (mut log, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert_eq!((previous.lines(), previous.max_seq()), (0, None));
    assert!(!previous.skip(1));
    assert_eq!(read(&path), HEADER);
    log.record(&entry(1, 0, "a")).unwrap();
    assert_eq!(read(&path).lines().count(), 2);

    std::fs::write(&path, "").unwrap();
    let (_, previous) = Joblog::open(&path, Mode::ResumeFailed).unwrap();
    assert_eq!(previous.lines(), 0);
    assert_eq!(read(&path), HEADER);

    // A header cut short by a kill: nothing had been recorded.
    std::fs::write(&path, "Seq\tHost\tStart").unwrap();
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert_eq!(previous.lines(), 0);
    assert_eq!(read(&path), HEADER);
}

#[test]
fn a_torn_last_line_is_reported_and_cut_off_before_the_next_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, &[entry(1, 0, "a")]);
    let whole = read(&path);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"2\t:\t1700000000.1").unwrap();
    drop(file);

    let (mut log, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    let torn = previous.torn().unwrap();
    assert!(
        torn.contains("last line (3)") && torn.contains("incomplete"),
        "{torn}"
    );
    assert!(torn.contains(&path.display().to_string()), "{torn}");
    assert!(!previous.skip(2));
    assert_eq!(previous.lines(), 1);
    // Nothing is cut until the run writes.
    assert!(read(&path).ends_with("1700000000.1"));
    log.record(&entry(2, 0, "b")).unwrap();
    let text = read(&path);
    assert_eq!(
        text,
        format!("{whole}2\t:\t1700000000.123\t     2.500\t0\t6\t0\t0\tb\n")
    );
    drop(log);
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.torn().is_none());
    assert_eq!(previous.lines(), 2);
}

#[test]
fn a_complete_but_unparsable_last_line_counts_as_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, &[entry(1, 0, "a")]);
    let whole = read(&path);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"2\t:\tx\n").unwrap();
    drop(file);
    let (mut log, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.torn().is_some());
    log.sync().unwrap();
    assert_eq!(read(&path), whole);
}

#[test]
fn a_bad_line_in_the_middle_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let content = format!(
        "{HEADER}1\t:\t1.0\t1.0\t0\t0\t0\t0\ta\n2\t:\t1.0\tlong\t0\t0\t0\t0\tb\n\
         3\t:\t1.0\t1.0\t0\t0\t0\t0\tc\n"
    );
    std::fs::write(&path, &content).unwrap();
    let err = Joblog::open(&path, Mode::Resume).err().unwrap().to_string();
    assert!(err.starts_with("line 3 of the joblog "), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert_eq!(read(&path), content, "a refused log is left as it was");
}

#[test]
fn gnu_parallels_raw_bytes_in_a_command_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let mut content = HEADER.as_bytes().to_vec();
    content.extend_from_slice(b"1\t:\t1.0\t1.0\t0\t0\t0\t0\techo \xff\n");
    content.extend_from_slice(b"2\t:\t1.0\t1.0\t0\t0\t0\t0\techo b\n");
    std::fs::write(&path, &content).unwrap();
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert_eq!(previous.lines(), 2);
}

#[test]
fn other_files_are_not_joblogs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "my notes\n").unwrap();
    let err = Joblog::open(&path, Mode::Resume).err().unwrap();
    assert!(err.to_string().contains("is not a joblog"), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(read(&path), "my notes\n");
}

#[test]
fn an_unopenable_log_names_the_path_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-dir").join("run.log");
    let err = Joblog::open(&path, Mode::Resume).err().unwrap().to_string();
    assert!(err.contains("cannot open the joblog"), "{err}");
    assert!(
        err.contains("no-dir/run.log") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn a_different_command_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, &[entry(3, 0, "echo b")]);
    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
    assert!(previous.check(3, OsStr::new("echo b")).is_ok());
    assert!(previous.check(4, OsStr::new("anything")).is_ok());
    let err = previous
        .check(3, OsStr::new("echo c"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{} was written by a different command line: its job 3 ran `echo b`, this \
             run's job 3 is `echo c`; use another --joblog file, or delete it to start over",
            path.display()
        )
    );
}

/// A joblog line, valid or not, to build files the reader must survive.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<u16>(), -3i32..3, 0i32..3, "[ -~]{0,20}").prop_map(|(seq, exit, sig, cmd)| {
            format!(
                "{seq}\t:\t{:10.3}\t{:10.3}\t0\t0\t{exit}\t{sig}\t{cmd}\n",
                1.5, 0.25
            )
            .into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..60),
        prop::collection::vec(prop_oneof![Just(b'\t'), Just(b'\n'), Just(b'1')], 0..20),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_bytes_after_the_header_never_panic(
        lines in prop::collection::vec(line(), 0..8),
        tail in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let mut content = HEADER.as_bytes().to_vec();
        content.extend(lines.concat());
        content.extend_from_slice(&tail);
        std::fs::write(&path, &content).unwrap();
        if let Ok((mut log, previous)) = Joblog::open(&path, Mode::Resume) {
            // Whatever was accepted, a new line leaves a log that reads back cleanly.
            log.record(&entry(70_000, 0, "new")).unwrap();
            drop(log);
            let (_, again) = Joblog::open(&path, Mode::Resume).unwrap();
            prop_assert!(again.torn().is_none());
            prop_assert_eq!(again.lines(), previous.lines() + 1);
            prop_assert!(again.skip(70_000));
        }
    }
}
