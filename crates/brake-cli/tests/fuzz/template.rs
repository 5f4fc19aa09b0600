//! Fuzzing the command template: parsing and rendering hostile and random words, and what
//! `sh` makes of a rendering, against the shell's quoting rules written out again here.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;

use brake_cli::template::Template;
use brake_testkit::torture::fuzz_cases;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::{fuzz, one_line};

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
            // last `{}` word keeps the value from being appended. A word holding `{=` is left
            // out: as in GNU parallel, it opens a Perl expression that may span the words after
            // it, so it is not one argument of its own.
            let template_words: Vec<OsString> = [OsString::from("sh"), script.clone()]
                .into_iter()
                .chain(q_words.iter().cloned().map(OsString::from_vec))
                .chain([OsString::from("{}")])
                .collect();
            let opens_perl = q_words
                .iter()
                .any(|w| w.windows(2).any(|pair| pair == b"{="));
            let parsed = Template::parse(&template_words, 1, true)
                .ok()
                .filter(|_| !opens_perl);
            if let Some(template) = parsed {
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
