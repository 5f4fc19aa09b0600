//! The corpus file, `corpus.txt`: one entry a line, `ID | FLAGS | VERDICT | COMMAND LINE`.
//!
//! - ID: a name unique in the file (letters, digits, `-`, `_`, `.`).
//! - FLAGS: `-`, or `ordered` when the order of stdout's lines is part of the result (`-k`, or
//!   one job at a time); otherwise both sides' stdout lines are compared sorted.
//! - VERDICT: what brake does with the line today: `same`; `differs: REASON`; `refused` or
//!   `refused: REASON` (brake exits 255 with a usage error).
//! - COMMAND LINE: the rest of the line, given to `bash -c` as it is (it may hold ` | `). A
//!   line creates what it reads itself (`printf 'a\nb\n' > in.txt; parallel … :::: in.txt`).
//!
//! Blank lines and lines starting with `#` are comments.

use std::collections::BTreeSet;
use std::fmt;

/// The separator between fields.
pub const SEP: &str = " | ";

/// What brake does with a line, as recorded or as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// stdout, exit status and files agree with GNU parallel.
    Same,
    /// brake runs the line but something differs; the reason says what it needs.
    Differs(String),
    /// brake exits 255 with a usage error; the reason, if any, says what it needs.
    Refused(String),
}

impl Verdict {
    /// `same`, `differs` or `refused`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Differs(_) => "differs",
            Verdict::Refused(_) => "refused",
        }
    }

    /// The recorded reason, empty for `same` or a bare `refused`.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Same => "",
            Verdict::Differs(reason) | Verdict::Refused(reason) => reason,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            "" => f.write_str(self.kind()),
            reason => write!(f, "{}: {reason}", self.kind()),
        }
    }
}

/// One line of the corpus.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its name.
    pub id: String,
    /// The flags as written (`-` or a comma-separated list).
    pub flags: String,
    /// Whether stdout is compared in order.
    pub ordered: bool,
    /// What brake is expected to do.
    pub expect: Verdict,
    /// The command line for `bash -c`.
    pub line: String,
}

impl Entry {
    /// The entry as a corpus line, the verdict padded to `width`.
    pub fn render(&self, verdict: &Verdict, id_width: usize, width: usize) -> String {
        let verdict = verdict.to_string();
        format!(
            "{:id_width$}{SEP}{:7}{SEP}{verdict:width$}{SEP}{}",
            self.id, self.flags, self.line
        )
    }
}

/// Parses the corpus; an error names the line at fault.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut ids = BTreeSet::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}: {raw}", n + 1);
        let mut fields = raw.splitn(4, SEP);
        let (Some(id), Some(flags), Some(verdict), Some(line)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("expected ID | FLAGS | VERDICT | COMMAND LINE"));
        };
        let id = id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad("a bad id"));
        }
        if !ids.insert(id.to_owned()) {
            return Err(bad("a second entry with this id"));
        }
        let flags = flags.trim();
        let mut ordered = false;
        for flag in flags.split(',').map(str::trim) {
            match flag {
                "-" => {}
                "ordered" => ordered = true,
                _ => return Err(bad(&format!("unknown flag {flag:?}"))),
            }
        }
        let verdict = verdict.trim();
        let (kind, reason) = match verdict.split_once(':') {
            Some((kind, reason)) => (kind.trim(), reason.trim().to_owned()),
            None => (verdict, String::new()),
        };
        let expect = match kind {
            "same" if reason.is_empty() => Verdict::Same,
            "differs" if !reason.is_empty() => Verdict::Differs(reason),
            "refused" => Verdict::Refused(reason),
            _ => {
                return Err(bad(
                    "the verdict must be same, differs: REASON, refused or refused: REASON",
                ))
            }
        };
        let line = line.trim();
        if line.is_empty() {
            return Err(bad("no command line"));
        }
        entries.push(Entry {
            id: id.to_owned(),
            flags: flags.to_owned(),
            ordered,
            expect,
            line: line.to_owned(),
        });
    }
    Ok(entries)
}

#[test]
fn corpus_lines_parse() {
    let text = "# comment\n\
                a-1 | ordered | same | seq 3 | parallel echo\n\
                b   | -       | differs: no --pipe yet | seq 3 | parallel --pipe wc -l\n\
                c   | -       | refused | parallel -X echo ::: a\n";
    let entries = parse(text).unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries[0].ordered);
    assert_eq!(entries[0].line, "seq 3 | parallel echo");
    assert_eq!(entries[1].expect, Verdict::Differs("no --pipe yet".into()));
    assert_eq!(entries[2].expect, Verdict::Refused(String::new()));
    assert!(
        parse("a | - | differs | true").is_err(),
        "differs needs a reason"
    );
    assert!(parse("a | - | same | true\na | - | same | true").is_err());
    assert!(parse("a | sorted | same | true").is_err());
}
