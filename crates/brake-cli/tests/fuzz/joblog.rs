//! Fuzzing the joblog reader: valid logs cut, flipped, given near-valid lines, CRLF line ends
//! or a very long command, then read back and appended to.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use brake_cli::joblog::{Entry, Joblog, Mode};
use brake_testkit::torture::fuzz_cases;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::{fuzz, one_line};

fn entry() -> impl Strategy<Value = Entry> {
    (
        prop_oneof![0..50u64, Just(u64::MAX), any::<u64>()],
        prop_oneof![
            Just(0u64),
            any::<u32>().prop_map(u64::from),
            Just(u64::MAX / 1000)
        ],
        prop_oneof![Just(0u64), any::<u64>()],
        any::<i32>(),
        prop_oneof![Just(0i32), any::<i32>()],
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(b"\t\n\r\\ abc\xff\x00\x1b".to_vec()),
                1 => any::<u8>(),
            ],
            0..24,
        ),
    )
        .prop_map(|(seq, start_ms, receive, exitval, signal, command)| Entry {
            seq,
            host: ":".to_owned(),
            start: UNIX_EPOCH + Duration::from_millis(start_ms),
            runtime: Duration::from_micros(receive % 10_000_000_000),
            send: 0,
            receive,
            exitval,
            signal,
            command: OsString::from_vec(command),
        })
}

/// How a valid log is bent before it is read back.
#[derive(Debug, Clone)]
enum Bend {
    /// Kept as written.
    Keep,
    /// Cut at a byte (a runner killed mid-write, or a file cut short).
    Cut(prop::sample::Index),
    /// One byte of a line flipped.
    Flip(prop::sample::Index, u8),
    /// One job line replaced by a near-valid one.
    Replace(prop::sample::Index, Vec<u8>),
    /// `\r\n` line ends, as an editor might leave them.
    Crlf,
    /// A very long command line added.
    Long(usize),
}

/// A job line that is almost right: huge or odd numbers, missing or extra columns, NUL and
/// bytes that are not UTF-8, a carriage return.
fn near_valid_line() -> impl Strategy<Value = Vec<u8>> {
    let number = prop::sample::select(vec![
        "1",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999",
        "-1",
        "2147483648",
        "-2147483649",
        "1e400",
        "inf",
        "NaN",
        "-0",
        " 1.5 ",
        "",
        "0x10",
        "1\u{0}",
        "\u{ff}",
    ]);
    (
        prop::collection::vec(number, 8),
        0..10usize,
        prop_oneof![Just(None), Just(Some("\textra")), Just(Some("\r"))],
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(numbers, columns, end, command)| {
            let mut line: Vec<u8> = Vec::new();
            for (i, number) in numbers.iter().take(columns.min(8)).enumerate() {
                if i > 0 {
                    line.push(b'\t');
                }
                line.extend_from_slice(if i == 1 { b":" } else { number.as_bytes() });
            }
            if columns > 8 {
                line.push(b'\t');
                line.extend(command);
            }
            if let Some(end) = end {
                line.extend_from_slice(end.as_bytes());
            }
            line.push(b'\n');
            line
        })
}

fn bend() -> impl Strategy<Value = Bend> {
    prop_oneof![
        2 => Just(Bend::Keep),
        4 => any::<prop::sample::Index>().prop_map(Bend::Cut),
        2 => (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(at, x)| Bend::Flip(at, x)),
        3 => (any::<prop::sample::Index>(), near_valid_line())
            .prop_map(|(at, line)| Bend::Replace(at, line)),
        1 => Just(Bend::Crlf),
        1 => (100_000..300_000usize).prop_map(Bend::Long),
    ]
}

/// Checks what a log read back must satisfy, whatever it held: refusals are one clean line and
/// leave the file as it was; an accepted log takes a new line and then reads back cleanly with
/// that line; a command compared with another is refused in one clean line.
fn read_back(path: &Path, before: &[u8], mode: Mode) -> Result<Option<usize>, TestCaseError> {
    let (mut log, previous) = match Joblog::open(path, mode) {
        Ok(opened) => opened,
        Err(err) => {
            one_line(&err.to_string())?;
            prop_assert!(err.to_string().contains(&path.display().to_string()));
            prop_assert_eq!(
                std::fs::read(path).unwrap(),
                before,
                "a refused log was changed"
            );
            return Ok(None);
        }
    };
    if let Some(torn) = previous.torn() {
        one_line(torn)?;
    }
    let lines = previous.lines();
    if let Some(seq) = previous.lowest_seq() {
        if let Err(err) = previous.check(seq, "a command no log holds \u{1}".as_ref()) {
            one_line(&err.to_string())?;
        }
    }
    log.record(&Entry {
        seq: 7_777_777,
        host: ":".to_owned(),
        start: UNIX_EPOCH,
        runtime: Duration::ZERO,
        send: 0,
        receive: 0,
        exitval: 0,
        signal: 0,
        command: OsString::from("new"),
    })
    .unwrap();
    drop(log);
    let (_, again) = Joblog::open(path, Mode::Resume)
        .map_err(|err| TestCaseError::fail(format!("an accepted log, appended to: {err}")))?;
    prop_assert!(again.torn().is_none());
    prop_assert_eq!(again.lines(), lines + 1);
    prop_assert!(again.skip(7_777_777));
    Ok(Some(lines))
}

/// The joblog reader, from valid logs (any numbers, commands with tabs, newlines, NUL, bytes
/// that are not UTF-8) cut, flipped, given near-valid lines, CRLF line ends or a very long
/// command: no panic, refusals and warnings on one clean line, a refused log untouched; a log
/// kept whole resumes every job with its own command; a log cut at any byte keeps exactly its
/// complete lines and reports a torn last one.
#[test]
fn torture_fuzz_joblog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let header = {
        Joblog::open(&path, Mode::Fresh).unwrap();
        std::fs::read(&path).unwrap()
    };
    fuzz(
        "fuzz-joblog",
        fuzz_cases(256),
        (
            prop::collection::vec(entry(), 0..8),
            bend(),
            prop::sample::select(vec![Mode::Resume, Mode::ResumeFailed]),
        ),
        |(mut entries, bend, mode)| {
            if let Bend::Long(len) = bend {
                let mut long = entries.first().cloned().unwrap_or(Entry {
                    seq: 1,
                    host: ":".to_owned(),
                    start: UNIX_EPOCH,
                    runtime: Duration::ZERO,
                    send: 0,
                    receive: 0,
                    exitval: 0,
                    signal: 0,
                    command: OsString::new(),
                });
                long.seq = 123_456;
                long.command = OsString::from_vec(b"x\t\\".repeat(len / 3));
                entries.push(long);
            }
            {
                let (mut log, _) = Joblog::open(&path, Mode::Fresh).unwrap();
                for entry in &entries {
                    log.record(entry).unwrap();
                }
            }
            let written = std::fs::read(&path).unwrap();
            let mut bytes = written.clone();
            // Where each job line ends, and where each starts.
            let ends: Vec<usize> = written
                .iter()
                .enumerate()
                .skip(header.len())
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1)
                .collect();
            let starts: Vec<usize> = std::iter::once(header.len())
                .chain(ends.iter().copied())
                .filter(|&i| i < written.len())
                .collect();
            match &bend {
                Bend::Keep | Bend::Long(_) => {}
                Bend::Cut(at) => bytes.truncate(at.index(written.len() + 1)),
                Bend::Flip(at, x) => {
                    let at = at.index(bytes.len());
                    bytes[at] ^= x;
                }
                Bend::Replace(at, line) => {
                    if !starts.is_empty() {
                        let i = at.index(starts.len());
                        let end = starts.get(i + 1).copied().unwrap_or(written.len());
                        bytes.splice(starts[i]..end, line.iter().copied());
                    }
                }
                Bend::Crlf => {
                    bytes = bytes
                        .split_inclusive(|&b| b == b'\n')
                        .flat_map(|line| match line.strip_suffix(b"\n") {
                            Some(body) => [body, b"\r\n"].concat(),
                            None => line.to_vec(),
                        })
                        .collect();
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            let read = read_back(&path, &bytes, mode)?;

            match bend {
                // Every job resumes with its own command, however it was escaped.
                Bend::Keep | Bend::Long(_) => {
                    prop_assert_eq!(read, Some(entries.len()));
                    let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
                    let latest: HashMap<u64, &OsString> =
                        entries.iter().map(|e| (e.seq, &e.command)).collect();
                    for (seq, command) in latest {
                        prop_assert!(previous.skip(seq));
                        prop_assert!(
                            previous.check(seq, command).is_ok(),
                            "job {} no longer matches {:?}",
                            seq,
                            command
                        );
                    }
                }
                // A cut log keeps exactly its complete job lines.
                Bend::Cut(_) => {
                    let cut = bytes.len();
                    let complete = ends.iter().filter(|&&end| end <= cut).count();
                    prop_assert_eq!(read, Some(complete), "cut at {} of {}", cut, written.len());
                }
                Bend::Crlf => prop_assert_eq!(read, None, "a log with CRLF line ends was taken"),
                _ => {}
            }
            Ok(())
        },
    );
}
