//! Torture by fuzzing, for the parts of the command only its own tests can reach: the command
//! template (parsing, rendering, and what `sh` makes of a rendering) and the joblog reader
//! (valid logs cut, mutated and bent out of shape).
//!
//! Each target runs `fuzz_cases` cases (`BRAKE_TORTURE_FUZZ_CASES` for a long run) and prints
//! a `torture-tally` line. Properties are checked against independent expectations: what a
//! template's literal text and values must come to after the shell's quote removal, and what a
//! cut log must still hold.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use brake_testkit::torture::{fuzz_cases, Tally};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::joblog::{Entry, Joblog, Mode};
use crate::template::Template;

/// Runs `cases` cases of `test` on values of `strategy`, counting them and the panics in a
/// `model` tally; fails with the smallest failing input.
fn fuzz<S: Strategy>(
    model: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = Cell::new(0usize);
    let panics = Cell::new(0usize);
    let result = runner.run(&strategy, |value| {
        ran.set(ran.get() + 1);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(value))).unwrap_or_else(
            |_| {
                panics.set(panics.get() + 1);
                Err(TestCaseError::fail("panicked"))
            },
        )
    });
    let mut tally = Tally::new(model);
    tally.trials = ran.get();
    tally.bad_inputs = ran.get();
    tally.panics = panics.get();
    if let Err(err) = result {
        println!("{tally}");
        panic!("{model}: {err}");
    }
    tally.finish();
}

/// A message meant for one terminal line: no line breaks, no control characters that could
/// move the cursor or recolour the terminal.
fn one_line(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.is_empty());
    prop_assert!(
        !message.chars().any(char::is_control),
        "not one clean line: {message:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The template

/// A value as the edits of `{}` `{.}` `{/}` `{//}` `{/.}` see it, written here once more from
/// their documented rules, as an independent expectation.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Whole,
    NoExtension,
    Basename,
    Dirname,
    BasenameNoExtension,
}

impl Edit {
    fn spelled(self, positional: bool) -> &'static str {
        match (self, positional) {
            (Edit::Whole, false) => "{}",
            (Edit::NoExtension, false) => "{.}",
            (Edit::Basename, false) => "{/}",
            (Edit::Dirname, false) => "{//}",
            (Edit::BasenameNoExtension, false) => "{/.}",
            (Edit::Whole, true) => "{1}",
            (Edit::NoExtension, true) => "{1.}",
            (Edit::Basename, true) => "{1/}",
            (Edit::Dirname, true) => "{1//}",
            (Edit::BasenameNoExtension, true) => "{1/.}",
        }
    }

    fn apply(self, value: &[u8]) -> Vec<u8> {
        let last_slash = value.iter().rposition(|&b| b == b'/');
        let base = &value[last_slash.map_or(0, |s| s + 1)..];
        let without_extension =
            |whole: &[u8], last: &[u8]| match last.iter().rposition(|&b| b == b'.') {
                Some(dot) if dot > 0 => whole[..whole.len() - (last.len() - dot)].to_vec(),
                _ => whole.to_vec(),
            };
        match self {
            Edit::Whole => value.to_vec(),
            Edit::Basename => base.to_vec(),
            Edit::Dirname => match last_slash {
                Some(0) => b"/".to_vec(),
                Some(slash) => value[..slash].to_vec(),
                None => b".".to_vec(),
            },
            Edit::NoExtension => without_extension(value, base),
            Edit::BasenameNoExtension => without_extension(base, base),
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        Just(Edit::Whole),
        Just(Edit::NoExtension),
        Just(Edit::Basename),
        Just(Edit::Dirname),
        Just(Edit::BasenameNoExtension),
    ]
}

/// A piece of shell text in a template, with what the shell must make of it.
#[derive(Debug, Clone)]
enum Piece {
    /// Text the shell leaves alone.
    Plain(String),
    /// A backslash-escaped character outside quotes.
    Escaped(char),
    /// The end of a template word outside quotes: the words are joined by a space, so this
    /// ends an argument too.
    Split,
    /// A template word ending in a backslash: the space that joins the next word is escaped.
    EscapedSplit,
    /// The end of a template word inside quotes: the joining space is part of the argument.
    QuotedSplit,
    /// A replacement string, `{#}` or `{%}`.
    Value(Edit, bool),
    Seq,
    Slot,
    /// `'…'` around text (no `'`) and replacement strings.
    Single(Vec<Piece>),
    /// `"…"` around text, escapes and replacement strings, and command substitutions.
    Double(Vec<Piece>),
    /// `$(printf %s …)` inside double quotes: a new command, bare quoting again.
    Subst(Vec<Piece>),
    /// `` `printf %s …` `` inside double quotes.
    Backticks(Vec<Piece>),
}

const SEQ: u64 = 42;
const SLOT: usize = 3;

impl Piece {
    /// Whether the piece holds a replacement string (without one, values are appended).
    fn replaces(&self) -> bool {
        match self {
            Piece::Plain(_)
            | Piece::Escaped(_)
            | Piece::Split
            | Piece::EscapedSplit
            | Piece::QuotedSplit => false,
            Piece::Value(..) | Piece::Seq | Piece::Slot => true,
            Piece::Single(inner)
            | Piece::Double(inner)
            | Piece::Subst(inner)
            | Piece::Backticks(inner) => inner.iter().any(Piece::replaces),
        }
    }

    /// Appends the template text to `text` and what the shell makes of it to `out`. A NUL
    /// (which neither can hold otherwise) ends a template word in `text` and an argument in
    /// `out`.
    fn write(&self, value: &[u8], text: &mut Vec<u8>, out: &mut Vec<u8>) {
        match self {
            Piece::Split => {
                text.push(0);
                out.push(0);
            }
            Piece::EscapedSplit => {
                text.extend_from_slice(b"\\\0");
                out.push(b' ');
            }
            Piece::QuotedSplit => {
                text.push(0);
                out.push(b' ');
            }
            Piece::Plain(plain) => {
                text.extend_from_slice(plain.as_bytes());
                out.extend_from_slice(plain.as_bytes());
            }
            Piece::Escaped(c) => {
                text.push(b'\\');
                let mut buf = [0; 4];
                text.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Piece::Value(edit, positional) => {
                text.extend_from_slice(edit.spelled(*positional).as_bytes());
                out.extend(edit.apply(value));
            }
            Piece::Seq => {
                text.extend_from_slice(b"{#}");
                out.extend_from_slice(SEQ.to_string().as_bytes());
            }
            Piece::Slot => {
                text.extend_from_slice(b"{%}");
                out.extend_from_slice(SLOT.to_string().as_bytes());
            }
            Piece::Single(inner) => {
                text.push(b'\'');
                for piece in inner {
                    piece.write(value, text, out);
                }
                text.push(b'\'');
            }
            Piece::Double(inner) => {
                text.push(b'"');
                for piece in inner {
                    piece.write(value, text, out);
                }
                text.push(b'"');
            }
            Piece::Subst(inner) | Piece::Backticks(inner) => {
                let backticks = matches!(self, Piece::Backticks(_));
                text.extend_from_slice(if backticks { b"`" } else { b"$(" });
                text.extend_from_slice(b"printf %s ");
                let mut inner_out = Vec::new();
                for piece in inner {
                    piece.write(value, text, &mut inner_out);
                }
                // An empty word would vanish, and printf would print nothing: the same.
                text.extend_from_slice(if backticks { b"`" } else { b")" });
                // printf prints its arguments back to back; a command substitution drops the
                // output's trailing newlines.
                inner_out.retain(|&b| b != 0);
                while inner_out.last() == Some(&b'\n') {
                    inner_out.pop();
                }
                out.extend(inner_out);
            }
        }
    }
}

/// Pieces of a bare word (outside quotes).
fn bare(depth: u32) -> BoxedStrategy<Piece> {
    let leaf = prop_oneof![
        "[A-Za-z0-9_.,:@%+/=-]{1,4}".prop_map(Piece::Plain),
        prop::sample::select(
            &[
                '$', '\'', '"', '\\', ';', '&', '|', '<', '>', '(', ')', ' ', '*', '?', '[', '#',
                '~', '`', '!'
            ][..]
        )
        .prop_map(Piece::Escaped),
        (edit(), any::<bool>()).prop_map(|(e, p)| Piece::Value(e, p)),
        Just(Piece::Seq),
        Just(Piece::Slot),
        Just(Piece::Split),
        Just(Piece::EscapedSplit),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        4 => leaf,
        1 => prop::collection::vec(single_inner(), 0..4).prop_map(Piece::Single),
        2 => prop::collection::vec(double_inner(depth - 1), 0..4).prop_map(Piece::Double),
    ]
    .boxed()
}

/// Pieces inside single quotes: anything but `'` is literal there.
fn single_inner() -> impl Strategy<Value = Piece> {
    prop_oneof![
        // No `{` (a replacement string), and never a backslash last: `\{}` is an escaped
        // brace to the template, quotes or not.
        "[^'\\x00{]{0,3}[^'\\x00{\\\\]".prop_map(Piece::Plain),
        "[$`\"\\\\;| ]{0,2}[$`\";| ]".prop_map(Piece::Plain),
        (edit(), any::<bool>()).prop_map(|(e, p)| Piece::Value(e, p)),
        Just(Piece::Seq),
        Just(Piece::QuotedSplit),
    ]
}

/// Pieces inside double quotes, command substitutions included.
fn double_inner(depth: u32) -> BoxedStrategy<Piece> {
    let leaf = prop_oneof![
        "[A-Za-z0-9 ';|&<>()*?#~}]{1,4}".prop_map(Piece::Plain),
        prop::sample::select(&['$', '`', '"', '\\'][..]).prop_map(Piece::Escaped),
        (edit(), any::<bool>()).prop_map(|(e, p)| Piece::Value(e, p)),
        Just(Piece::Slot),
        Just(Piece::QuotedSplit),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        4 => leaf,
        1 => prop::collection::vec(bare(depth - 1), 1..4).prop_map(Piece::Subst),
        1 => prop::collection::vec(backquoted(), 1..4).prop_map(Piece::Backticks),
    ]
    .boxed()
}

/// Pieces inside backquotes, whose text loses a level of backslashes before it is read: only
/// what reads the same either way.
fn backquoted() -> impl Strategy<Value = Piece> {
    let quoted = prop_oneof![
        "[A-Za-z0-9 ;|&()\"]{1,4}".prop_map(Piece::Plain),
        (edit(), any::<bool>()).prop_map(|(e, p)| Piece::Value(e, p)),
    ];
    prop_oneof![
        "[A-Za-z0-9_.,:@%+/=-]{1,4}".prop_map(Piece::Plain),
        (edit(), any::<bool>()).prop_map(|(e, p)| Piece::Value(e, p)),
        Just(Piece::Seq),
        prop::collection::vec(quoted, 0..3).prop_map(Piece::Single),
    ]
}

/// A value full of what shells act on, and arbitrary bytes (no NUL: it could not be an
/// argument).
fn hostile_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(b"'\"\\$`!*?[]{}()<>|&;#~=./ \t\n-".to_vec()),
            1 => 1u8..=255,
            1 => prop::sample::select(b"abc.d/".to_vec()),
        ],
        0..12,
    )
}

/// A word made of random template bytes: braces, digits, edits, quotes, anything but NUL.
fn raw_word() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"{}#%./0123456789\\'\" $`()".to_vec()),
            // No NUL: a word is an argument of brake's.
            1 => 1u8..=255,
        ],
        0..16,
    )
}

/// Prints its arguments, each ended by a NUL, for `sh` to run.
fn show_script(dir: &Path) -> OsString {
    let script = dir.join("show");
    std::fs::write(&script, "printf '%s\\0' \"$@\"\n").unwrap();
    script.into_os_string()
}

/// The arguments a rendered command line gave the script, through `sh -c`.
fn shell_args(text: &OsString) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(text)
        .output()
        .unwrap();
    prop_assert!(
        out.status.success(),
        "sh -c {text:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args: Vec<Vec<u8>> = out.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    prop_assert_eq!(
        args.pop(),
        Some(Vec::new()),
        "output not NUL-ended: {:?}",
        out.stdout
    );
    Ok(args)
}

/// The template, from hostile and random input: parsing and rendering never panic and refuse
/// with one clean line; a value inside any quoting the template's own text puts around it —
/// bare, `'…'`, `"…"`, a `$(…)` or `` `…` `` inside double quotes — reaches the program as one
/// literal piece of the argument the template's text says; and with `-q` every word is one
/// argument, exactly as written.
#[test]
fn torture_fuzz_template() {
    let dir = tempfile::tempdir().unwrap();
    let script = show_script(dir.path());
    let raw = (
        prop::collection::vec(raw_word(), 0..4),
        1usize..4,
        any::<bool>(),
        prop::collection::vec(hostile_value(), 0..4),
    );
    // An empty word outside quotes vanishes in the shell's split: no leading, trailing or
    // doubled word ends there.
    let pieces = prop::collection::vec(bare(2), 1..8).prop_map(|pieces| {
        let mut kept: Vec<Piece> = Vec::new();
        for piece in pieces {
            let split = matches!(piece, Piece::Split);
            if split && kept.last().is_none_or(|last| matches!(last, Piece::Split)) {
                continue;
            }
            kept.push(piece);
        }
        if matches!(kept.last(), Some(Piece::Split)) {
            kept.pop();
        }
        if kept.is_empty() {
            kept.push(Piece::Plain("x".into()));
        }
        kept
    });
    let shell = (pieces, hostile_value());
    let quoted = (prop::collection::vec(raw_word(), 1..4), hostile_value());
    fuzz(
        "fuzz-template",
        fuzz_cases(256),
        (raw, shell, quoted),
        |((words, sources, quote_words, args), (pieces, value), (q_words, q_value))| {
            // Random words: no panic, errors on one line.
            let words: Vec<OsString> = words.into_iter().map(OsString::from_vec).collect();
            let args: Vec<OsString> = args.into_iter().map(OsString::from_vec).collect();
            match Template::parse(&words, sources, quote_words) {
                Ok(template) => {
                    let rendered = template.render(&args, SEQ, SLOT);
                    prop_assert_eq!(rendered.direct.is_some(), template.is_direct());
                    if let Some(argv) = &rendered.direct {
                        prop_assert!(!argv.is_empty());
                    }
                }
                Err(err) => one_line(&err.to_string())?,
            }

            // Shell text around the values: sh gives the script exactly one argument, the
            // text with its quotes removed and the values put in verbatim.
            let mut text = Vec::new();
            let mut expected = Vec::new();
            for piece in &pieces {
                piece.write(&value, &mut text, &mut expected);
            }
            let words: Vec<OsString> = [OsString::from("sh"), script.clone()]
                .into_iter()
                .chain(
                    text.split(|&b| b == 0)
                        .map(|w| OsString::from_vec(w.to_vec())),
                )
                .collect();
            let template = Template::parse(&words, 1, false)
                .map_err(|err| TestCaseError::fail(format!("{text:?} refused: {err}")))?;
            let rendered = template.render(&[OsString::from_vec(value.clone())], SEQ, SLOT);
            let got = shell_args(&rendered.text)?;
            let mut expected: Vec<Vec<u8>> =
                expected.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            if !pieces.iter().any(Piece::replaces) {
                expected.push(value.clone());
            }
            prop_assert_eq!(
                &got,
                &expected,
                "template {:?} rendered {:?}",
                String::from_utf8_lossy(&text),
                rendered.text
            );
            if let Some(argv) = &rendered.direct {
                let direct: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.clone().into_vec()).collect();
                prop_assert_eq!(direct, got, "direct argv differs from sh's");
            }

            // `-q`: each word one argument, its own text as written, the values put in. A
            // last `{}` word keeps the value from being appended.
            let template_words: Vec<OsString> = [OsString::from("sh"), script.clone()]
                .into_iter()
                .chain(q_words.iter().cloned().map(OsString::from_vec))
                .chain([OsString::from("{}")])
                .collect();
            if let Ok(template) = Template::parse(&template_words, 1, true) {
                let value = OsString::from_vec(q_value.clone());
                let rendered = template.render(std::slice::from_ref(&value), SEQ, SLOT);
                let got = shell_args(&rendered.text)?;
                prop_assert_eq!(got.len(), q_words.len() + 1, "{:?}", rendered.text);
                prop_assert_eq!(got.last(), Some(&q_value));
                for (word, arg) in q_words.iter().zip(&got) {
                    if !word.contains(&b'{') {
                        prop_assert_eq!(word, arg, "-q changed a word: {:?}", rendered.text);
                    }
                }
                if let Some(argv) = &rendered.direct {
                    let direct: Vec<Vec<u8>> =
                        argv[2..].iter().map(|a| a.clone().into_vec()).collect();
                    prop_assert_eq!(direct, got, "-q: direct argv differs from sh's");
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The joblog

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
