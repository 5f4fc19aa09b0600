//! How values are read from the sources and shaped before they reach a job: GNU parallel's
//! record delimiter (`-d`, `-0`), end-of-input marker (`-E`), blank records skipped (`-r`),
//! `--trim`, columns (`--colsep`, `--header`) and which sources are linked (`:::+`, `::::+`,
//! `--link`).
//!
//! `--colsep` takes a regex of the `regex` crate, not a Perl one: no look-around or
//! backreferences. Its split follows Perl's `split` with GNU parallel's limit of -1: a match
//! that is empty at the start of the value makes no empty first column, a capture group's text
//! is a column of its own, and trailing empty columns stay.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use regex::bytes::Regex;

/// `--trim`: which ends of each value (each column, with `--colsep`) lose their whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trim {
    /// `n`: none.
    #[default]
    None,
    /// `l`: the left end.
    Left,
    /// `r`: the right end.
    Right,
    /// `lr` or `rl`: both.
    Both,
}

impl Trim {
    /// GNU parallel's spellings: `n`, `l`, `r`, `lr`, `rl`.
    pub fn parse(text: &str) -> Result<Trim, String> {
        match text {
            "n" => Ok(Trim::None),
            "l" => Ok(Trim::Left),
            "r" => Ok(Trim::Right),
            "lr" | "rl" => Ok(Trim::Both),
            _ => Err(format!(
                "--trim {}: write n (no trim), l (left), r (right) or lr (both ends)",
                crate::escape::shorten(std::ffi::OsStr::new(text), 40)
            )),
        }
    }

    fn apply(self, value: &[u8]) -> &[u8] {
        let value = match self {
            Trim::Left | Trim::Both => value.trim_ascii_start(),
            _ => value,
        };
        match self {
            Trim::Right | Trim::Both => value.trim_ascii_end(),
            _ => value,
        }
    }
}

/// How the sources are read and their values shaped; the default reads records ended by `\n`
/// and keeps every value as it is.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// `-d`/`-0`: what ends a record. Given, it also splits `:::` values, as in GNU parallel.
    pub delimiter: Option<Vec<u8>>,
    /// `-E`: the value that ends its source (an empty marker is none).
    pub eof: Option<Vec<u8>>,
    /// `-r`: records of nothing but whitespace are skipped.
    pub skip_blank: bool,
    /// `--skip-first-line`: the first source's first value is dropped.
    pub skip_first_line: bool,
    /// `--header`: each source's first value names its columns.
    pub header: bool,
    /// For each source, whether it is linked to the one before (`:::+`, `::::+`); as in GNU
    /// parallel, the flags of the sources after the command count from the first source, so
    /// `-a` files take the flags of the first command-line sources.
    pub linked: Vec<bool>,
    /// `--link`: every source is linked; shorter ones wrap around instead of cutting the
    /// group to the shortest.
    pub link_all: bool,
    /// `--colsep`: where each value splits into columns.
    pub colsep: Option<Regex>,
    /// `--trim`.
    pub trim: Trim,
}

impl Reading {
    /// What ends a record.
    pub fn delimiter(&self) -> &[u8] {
        self.delimiter.as_deref().unwrap_or(b"\n")
    }

    /// `:::` values, split at a delimiter given with `-d` or `-0`.
    pub(super) fn split_args(&self, values: Vec<OsString>) -> Vec<OsString> {
        let Some(delimiter) = self.delimiter.as_deref() else {
            return values;
        };
        let mut split = Vec::with_capacity(values.len());
        for value in values {
            let bytes = value.as_bytes();
            if find(bytes, delimiter).is_none() {
                split.push(value);
                continue;
            }
            let mut rest = bytes;
            while let Some(at) = find(rest, delimiter) {
                split.push(OsString::from_vec(rest[..at].to_vec()));
                rest = &rest[at + delimiter.len()..];
            }
            split.push(OsString::from_vec(rest.to_vec()));
        }
        split
    }

    /// Whether `value` is `-E`'s end-of-input marker.
    pub(super) fn is_eof(&self, value: &[u8]) -> bool {
        self.eof
            .as_deref()
            .is_some_and(|eof| !eof.is_empty() && eof == value)
    }

    /// Whether `-r` skips `value`.
    pub(super) fn skips(&self, value: &[u8]) -> bool {
        self.skip_blank && value.iter().all(u8::is_ascii_whitespace)
    }

    /// A value as a job's values: its columns with `--colsep`, else itself; trimmed.
    pub(super) fn columns(&self, value: OsString) -> Vec<OsString> {
        match &self.colsep {
            Some(colsep) => perl_split(colsep, value.as_bytes())
                .into_iter()
                .map(|column| OsString::from_vec(self.trim.apply(column).to_vec()))
                .collect(),
            None if self.trim == Trim::None => vec![value],
            None => vec![OsString::from_vec(
                self.trim.apply(value.as_bytes()).to_vec(),
            )],
        }
    }

    /// The sizes of the groups of linked sources, in order, for `sources` sources.
    pub(super) fn groups(&self, sources: usize) -> Vec<usize> {
        let mut groups: Vec<usize> = Vec::new();
        for source in 0..sources {
            let linked = self.link_all || self.linked.get(source).copied().unwrap_or(false);
            match groups.last_mut() {
                Some(size) if linked => *size += 1,
                _ => groups.push(1),
            }
        }
        groups
    }

    /// A group's rows: its sources' values paired position by position, each row the
    /// concatenation of their columns. With `--link` the group is as long as its longest
    /// source and shorter ones start again from their first value; with `:::+` alone it is
    /// as long as its shortest.
    pub(super) fn link(&self, sources: Vec<Vec<OsString>>) -> Vec<Vec<OsString>> {
        let shortest = sources.iter().map(Vec::len).min().unwrap_or(0);
        let len = if shortest == 0 {
            0
        } else if self.link_all {
            sources.iter().map(Vec::len).max().unwrap_or(0)
        } else {
            shortest
        };
        (0..len)
            .map(|row| {
                sources
                    .iter()
                    .flat_map(|values| self.columns(values[row % values.len()].clone()))
                    .collect()
            })
            .collect()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Perl's `split /colsep/, value, -1`.
fn perl_split<'a>(colsep: &Regex, value: &'a [u8]) -> Vec<&'a [u8]> {
    let mut columns = Vec::new();
    let mut from = 0;
    for captures in colsep.captures_iter(value) {
        let whole = captures.get(0).expect("group 0 is the match");
        if whole.start() == 0 && whole.end() == 0 {
            continue;
        }
        columns.push(&value[from..whole.start()]);
        columns.extend(
            captures
                .iter()
                .skip(1)
                .map(|group| group.map_or(&[][..], |g| g.as_bytes())),
        );
        from = whole.end();
    }
    columns.push(&value[from..]);
    columns
}

/// GNU parallel's escapes in `-d`: `\n`, `\t`, `\r`, `\0` and three octal digits (`\012`);
/// any other backslash is itself.
pub fn unescape_delimiter(text: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let octal = rest.len() >= 4 && rest[1..4].iter().all(|b| (b'0'..=b'7').contains(b));
        match rest {
            [b'\\', ..] if octal => {
                let value = rest[1..4]
                    .iter()
                    .fold(0u32, |n, digit| n * 8 + u32::from(digit - b'0'));
                bytes.push(value as u8);
                i += 4;
            }
            [b'\\', b'n', ..] | [b'\\', b't', ..] | [b'\\', b'r', ..] | [b'\\', b'0', ..] => {
                bytes.push(match rest[1] {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    _ => 0,
                });
                i += 2;
            }
            _ => {
                bytes.push(rest[0]);
                i += 1;
            }
        }
    }
    bytes
}

/// The command `words` with `{name…}` of each column in `names` written as its position.
pub(super) fn name_columns(words: &[OsString], names: &[(Vec<u8>, usize)]) -> Vec<OsString> {
    if names.is_empty() {
        return words.to_vec();
    }
    words
        .iter()
        .map(|word| {
            let bytes = word.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'{' => match named(&bytes[i + 1..], names) {
                        Some((position, edit, len)) => {
                            out.push(b'{');
                            out.extend_from_slice((position + 1).to_string().as_bytes());
                            out.extend_from_slice(edit);
                            out.push(b'}');
                            i += 1 + len;
                        }
                        None => {
                            out.push(b'{');
                            i += 1;
                        }
                    },
                    byte => {
                        out.push(byte);
                        i += 1;
                    }
                }
            }
            OsString::from_vec(out)
        })
        .collect()
}

/// After a `{`: a column's name, an edit (`.`, `/`, `//`, `/.` or none) and `}`, as the
/// column's position, the edit and the length read (the `}` included).
fn named<'a>(after: &'a [u8], names: &[(Vec<u8>, usize)]) -> Option<(usize, &'a [u8], usize)> {
    let close = after.iter().position(|&b| b == b'}')?;
    let inner = &after[..close];
    for edit in [&b""[..], b"/.", b"//", b"/", b"."] {
        let Some(name) = inner.strip_suffix(edit).filter(|name| !name.is_empty()) else {
            continue;
        };
        if let Some((_, position)) = names.iter().find(|(n, _)| n.as_slice() == name) {
            return Some((*position, &inner[name.len()..], close + 1));
        }
    }
    None
}
