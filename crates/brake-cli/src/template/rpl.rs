//! The table of replacement strings a run recognises: GNU parallel's defaults (`{}` `{.}`
//! `{/}` `{//}` `{/.}` `{#}` `{%}`), the `--plus` ones, strings renamed by `-I` and its
//! kin, those `--rpl` defines, and the delimiters of a Perl expression (`{= =}`, `--parens`).
//! It finds them in the command's text, with their positional forms (`{2.}`, `{-1/}`), and
//! says what each means: an edit brake makes itself, or Perl code for `perl.rs` to run.
//!
//! What a string computes is never pasted as shell text: it is a value like any input, quoted
//! for its place by `template.rs`.

use regex::bytes::Regex;

use super::Edit;

/// A number that depends on the run rather than on one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// `{##}`: the number of jobs.
    Total,
    /// `{0#}`: the job number, padded with zeros to the width of the number of jobs.
    PaddedSeq,
    /// `{0%}`: the job slot, padded with zeros to the width of the number of slots.
    PaddedSlot,
}

/// What a replacement string stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Meaning {
    /// A value edited by brake.
    Edit(Edit),
    /// The job number.
    Seq,
    /// The job slot.
    Slot,
    /// A number of the run.
    Count(Count),
    /// Perl code that edits `$_`.
    Perl(String),
    /// A GNU string brake does not have; the text says why.
    Refused(&'static str),
}

/// One replacement string: its tag (GNU's spelling: a prefix, an optional `(…)` regular
/// expression whose groups the code reads as `$$1` …, a postfix) and what it means.
#[derive(Debug, Clone)]
struct Entry {
    tag: String,
    meaning: Meaning,
    /// Matches the tag at the start of a text.
    plain: Regex,
    /// Matches its positional form (`{N…}`, `{-N…}`), for tags that start with `{`.
    positional: Option<Regex>,
}

/// The replacement strings of a run.
#[derive(Debug, Clone)]
pub struct Replacements {
    /// Longest tag first: a short tag may be part of a longer one (`{/}` of `{/.}`).
    entries: Vec<Entry>,
    /// What opens and closes a Perl expression.
    open: String,
    close: String,
}

/// A replacement string found in the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// `Some(n)` for a positional form: source `n` counted from 1, or from the last when
    /// negative.
    pub position: Option<i64>,
    pub meaning: Meaning,
    /// Its length in the text.
    pub len: usize,
}

const DEFAULTS: &[(&str, Meaning)] = &[
    ("{}", Meaning::Edit(Edit::Whole)),
    ("{.}", Meaning::Edit(Edit::NoExtension)),
    ("{/}", Meaning::Edit(Edit::Basename)),
    ("{//}", Meaning::Edit(Edit::Dirname)),
    ("{/.}", Meaning::Edit(Edit::BasenameNoExtension)),
    ("{#}", Meaning::Seq),
    ("{%}", Meaning::Slot),
];

const REMOTE: &str = "names a remote host, which brake does not pass to jobs";

/// `--plus`: the shell-like strings are Perl, as in GNU parallel, so that their patterns are
/// Perl's regular expressions.
fn plus() -> Vec<(&'static str, Meaning)> {
    let perl = |code: &str| Meaning::Perl(code.to_owned());
    vec![
        ("{+/}", Meaning::Edit(Edit::DirectoryPart)),
        ("{+.}", Meaning::Edit(Edit::Extensions(1))),
        ("{+..}", Meaning::Edit(Edit::Extensions(2))),
        ("{+...}", Meaning::Edit(Edit::Extensions(3))),
        ("{..}", Meaning::Edit(Edit::NoExtensions(2))),
        ("{...}", Meaning::Edit(Edit::NoExtensions(3))),
        ("{/..}", Meaning::Edit(Edit::BasenameNoExtensions(2))),
        ("{/...}", Meaning::Edit(Edit::BasenameNoExtensions(3))),
        ("{##}", Meaning::Count(Count::Total)),
        ("{0#}", Meaning::Count(Count::PaddedSeq)),
        ("{0%}", Meaning::Count(Count::PaddedSlot)),
        ("{slot}", Meaning::Slot),
        ("{host}", Meaning::Refused(REMOTE)),
        ("{sshlogin}", Meaning::Refused(REMOTE)),
        ("{hgrp}", Meaning::Refused(REMOTE)),
        ("{agrp}", Meaning::Refused(REMOTE)),
        (
            "{choose_k}",
            perl("for $t (2..$#arg) { if($arg[$t-1] ge $arg[$t]) { skip() } }"),
        ),
        (
            "{uniq}",
            perl("my %s; if(grep { $s{$_}++ } @arg[1..$#arg]) { skip() }"),
        ),
        ("{:-([^}]+?)}", perl("$_ ||= $$1")),
        ("{:(\\d+?)}", perl("substr($_,0,$$1) = \"\"")),
        ("{:(\\d+?):(\\d+?)}", perl("$_ = substr($_,$$1,$$2);")),
        (
            "{#([^#}][^}]*?)}",
            perl("$nongreedy=brake_ungreedy($$1);s/^$nongreedy(.*)/$1/;"),
        ),
        ("{##([^#}][^}]*?)}", perl("s/^$$1//;")),
        (
            "{%([^}]+?)}",
            perl("$nongreedy=brake_ungreedy($$1);s/(.*)$nongreedy$/$1/;"),
        ),
        ("{%%([^}]+?)}", perl("s/$$1$//;")),
        ("{/([^#%}/]+?)/([^}]*?)}", perl("s/$$1/$$2/;")),
        ("{/#([^}]+?)/([^}]*?)}", perl("s/^$$1/$$2/g;")),
        ("{/%([^}]+?)/([^}]*?)}", perl("s/$$1$/$$2/g;")),
        ("{//([^}]+?)/([^}]*?)}", perl("s/$$1/$$2/g;")),
        ("{^([^}]+?)}", perl("s/^($$1)/uc($1)/e;")),
        ("{^^([^}]+?)}", perl("s/($$1)/uc($1)/eg;")),
        ("{,([^}]+?)}", perl("s/^($$1)/lc($1)/e;")),
        ("{,,([^}]+?)}", perl("s/($$1)/lc($1)/eg;")),
    ]
}

impl Default for Replacements {
    fn default() -> Replacements {
        Replacements::new(false)
    }
}

impl Replacements {
    /// GNU parallel's default strings, and with `plus` its `--plus` ones.
    pub fn new(plus: bool) -> Replacements {
        let mut table = Replacements {
            entries: Vec::new(),
            open: "{=".into(),
            close: "=}".into(),
        };
        let extra = if plus { self::plus() } else { Vec::new() };
        for (tag, meaning) in DEFAULTS.iter().cloned().chain(extra) {
            table
                .set(tag, meaning)
                .expect("the built-in tags are valid regular expressions");
        }
        table
    }

    /// Makes `new` mean what `old` meant, and `old` plain text (`-I`, `--basenamereplace` …).
    pub fn rename(&mut self, old: &str, new: &str) {
        if old == new {
            return;
        }
        if let Some(at) = self.entries.iter().position(|e| e.tag == old) {
            let entry = self.entries.remove(at);
            // A literal new tag cannot fail to compile: it is escaped whole.
            let _ = self.set(new, entry.meaning);
        }
    }

    /// `--rpl 'TAG PERL'`.
    pub fn define(&mut self, rpl: &str) -> Result<(), String> {
        let (tag, code) = rpl.split_once(char::is_whitespace).unwrap_or((rpl, ""));
        if tag.is_empty() {
            return Err(format!(
                "--rpl {rpl:?}: expected a tag, a space and Perl code (e.g. --rpl '{{..}} \
                 s:\\.[^.]+$::;s:\\.[^.]+$::;')"
            ));
        }
        self.set(tag, Meaning::Perl(code.to_owned()))
            .map_err(|err| format!("--rpl {tag:?}: {err}"))
    }

    /// `--parens`: the first half of `parens` opens a Perl expression, the second closes it.
    pub fn set_parens(&mut self, parens: &str) -> Result<(), String> {
        let chars: Vec<char> = parens.chars().collect();
        if chars.len() < 2 || !chars.len().is_multiple_of(2) {
            return Err(format!(
                "--parens {parens:?}: expected an even number of characters, the first half \
                 opening a Perl expression and the second closing it (e.g. --parens ,,,,)"
            ));
        }
        let (open, close) = chars.split_at(chars.len() / 2);
        self.open = open.iter().collect();
        self.close = close.iter().collect();
        Ok(())
    }

    fn set(&mut self, tag: &str, meaning: Meaning) -> Result<(), String> {
        let (prefix, group, postfix) = split_tag(tag);
        let compile = |pattern: String| {
            Regex::new(&pattern).map_err(|err| {
                // The regex crate's message draws the pattern over lines; its last says why.
                let text = err.to_string();
                let why = text.lines().last().unwrap_or_default().trim().to_owned();
                format!("its pattern is not a regular expression brake reads ({why})")
            })
        };
        let body = format!("{}{group}{}", regex::escape(prefix), regex::escape(postfix));
        let plain = compile(format!("^(?s:{body})"))?;
        let positional = match prefix.strip_prefix('{') {
            Some(rest) => Some(compile(format!(
                "^(?s:\\{{(-?[0-9]+)\\s*{}{group}{})",
                regex::escape(rest),
                regex::escape(postfix)
            ))?),
            None => None,
        };
        self.entries.retain(|e| e.tag != tag);
        let entry = Entry {
            tag: tag.to_owned(),
            meaning,
            plain,
            positional,
        };
        let at = self
            .entries
            .iter()
            .position(|e| e.tag.len() < tag.len())
            .unwrap_or(self.entries.len());
        self.entries.insert(at, entry);
        Ok(())
    }

    /// The replacement string at the start of `text`, if one is.
    pub(super) fn find(&self, text: &[u8]) -> Option<Found> {
        if let Some(found) = self.expression(text) {
            return Some(found);
        }
        for entry in &self.entries {
            if let Some(caps) = entry.plain.captures(text) {
                let groups: Vec<&[u8]> = caps
                    .iter()
                    .skip(1)
                    .flatten()
                    .map(|m| m.as_bytes())
                    .collect();
                return Some(Found {
                    position: None,
                    meaning: with_groups(&entry.meaning, &groups),
                    len: caps[0].len(),
                });
            }
            if let Some(caps) = entry.positional.as_ref().and_then(|re| re.captures(text)) {
                let groups: Vec<&[u8]> = caps
                    .iter()
                    .skip(2)
                    .flatten()
                    .map(|m| m.as_bytes())
                    .collect();
                let position = std::str::from_utf8(&caps[1])
                    .ok()
                    .and_then(|digits| digits.parse().ok())
                    .unwrap_or(i64::MAX);
                return Some(Found {
                    position: Some(position),
                    meaning: with_groups(&entry.meaning, &groups),
                    len: caps[0].len(),
                });
            }
        }
        None
    }

    /// `{= code =}` (or `--parens`' delimiters) at the start of `text`: the code runs to the
    /// first close, and an open met first starts the expression instead.
    fn expression(&self, text: &[u8]) -> Option<Found> {
        let (open, close) = (self.open.as_bytes(), self.close.as_bytes());
        let body = text.strip_prefix(open)?;
        let end = find(body, close)?;
        if find(&body[..end], open).is_some() {
            return None;
        }
        let code = &body[..end];
        let digits = code
            .iter()
            .enumerate()
            .take_while(|&(i, &b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
            .count();
        let (position, code) = match std::str::from_utf8(&code[..digits])
            .ok()
            .and_then(|d| d.parse::<i64>().ok())
        {
            Some(position) if position != 0 => {
                let rest = &code[digits..];
                let spaces = rest.iter().take_while(|&&b| b == b' ').count();
                (Some(position), &rest[spaces..])
            }
            _ => (None, code),
        };
        Some(Found {
            position,
            meaning: Meaning::Perl(String::from_utf8_lossy(code).into_owned()),
            len: open.len() + end + close.len(),
        })
    }

    /// Whether `text` opens a Perl expression that it does not close (a word that continues
    /// in the next one, as `{= '$_=total_jobs()' =}` does).
    pub(super) fn opens_expression(&self, text: &[u8]) -> bool {
        let (open, close) = (self.open.as_bytes(), self.close.as_bytes());
        let mut rest = text;
        while let Some(at) = find(rest, open) {
            let after = &rest[at + open.len()..];
            match find(after, close) {
                Some(end) => rest = &after[end + close.len()..],
                None => return true,
            }
        }
        false
    }
}

/// GNU's reading of a tag: a prefix without `(`, an optional `(…)` group, a postfix without
/// `)`. A tag that does not fit is all prefix.
fn split_tag(tag: &str) -> (&str, &str, &str) {
    if let (Some(open), Some(close)) = (tag.find('('), tag.rfind(')')) {
        if open < close && !tag[close + 1..].contains(')') {
            return (&tag[..open], &tag[open..=close], &tag[close + 1..]);
        }
    }
    (tag, "", "")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The meaning with the tag's captured groups given to its code: `$$N` reads group N, a Perl
/// string literal set before the code runs.
fn with_groups(meaning: &Meaning, groups: &[&[u8]]) -> Meaning {
    let Meaning::Perl(code) = meaning else {
        return meaning.clone();
    };
    if groups.is_empty() {
        return meaning.clone();
    }
    let mut out = String::new();
    for (i, group) in groups.iter().enumerate() {
        out.push_str(&format!("$brake_group{} = \"", i + 1));
        for &b in group.iter() {
            match b {
                b'\\' | b'"' | b'$' | b'@' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\x{{{b:02x}}}")),
            }
        }
        out.push_str("\";");
    }
    let mut code = code.as_str();
    while let Some(at) = code.find("$$") {
        let digits = code[at + 2..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        out.push_str(&code[..at]);
        if digits > 0 {
            out.push_str("$brake_group");
            out.push_str(&code[at + 2..at + 2 + digits]);
        } else {
            out.push_str("$$");
        }
        code = &code[at + 2 + digits..];
    }
    out.push_str(code);
    Meaning::Perl(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(table: &Replacements, text: &str) -> Option<(Option<i64>, Meaning, usize)> {
        table
            .find(text.as_bytes())
            .map(|f| (f.position, f.meaning, f.len))
    }

    #[test]
    fn defaults_and_positions() {
        let table = Replacements::default();
        assert_eq!(
            found(&table, "{/.}x"),
            Some((None, Meaning::Edit(Edit::BasenameNoExtension), 4))
        );
        assert_eq!(
            found(&table, "{-2/}"),
            Some((Some(-2), Meaning::Edit(Edit::Basename), 5))
        );
        assert_eq!(found(&table, "{..}"), None);
        assert_eq!(found(&table, "{x}"), None);
    }

    #[test]
    fn plus_strings_and_groups() {
        let table = Replacements::new(true);
        assert_eq!(
            found(&table, "{2..}"),
            Some((Some(2), Meaning::Edit(Edit::NoExtensions(2)), 5))
        );
        assert_eq!(
            found(&table, "{%.tar.gz}.zip"),
            Some((
                None,
                Meaning::Perl(
                    "$brake_group1 = \".tar.gz\";$nongreedy=brake_ungreedy($brake_group1);\
                     s/(.*)$nongreedy$/$1/;"
                        .into()
                ),
                10
            ))
        );
        assert_eq!(
            found(&table, "{/a$b/}").map(|f| f.1),
            Some(Meaning::Perl(
                "$brake_group1 = \"a\\$b\";$brake_group2 = \"\";s/$brake_group1/$brake_group2/;"
                    .into()
            ))
        );
    }

    #[test]
    fn renames_and_rpl() {
        let mut table = Replacements::default();
        table.rename("{}", ",,");
        assert_eq!(found(&table, "{}"), None);
        assert_eq!(found(&table, "{1}"), None);
        assert_eq!(
            found(&table, ",,"),
            Some((None, Meaning::Edit(Edit::Whole), 2))
        );
        table.define("{..} s/a//").unwrap();
        assert_eq!(
            found(&table, "{2..}"),
            Some((Some(2), Meaning::Perl("s/a//".into()), 5))
        );
        assert!(table.define("{(} x").is_ok());
        assert!(Replacements::default().define("{a(x[)} y").is_err());
    }

    #[test]
    fn perl_expressions() {
        let mut table = Replacements::default();
        assert_eq!(
            found(&table, "{= s/a/b/ =}"),
            Some((None, Meaning::Perl(" s/a/b/ ".into()), 12))
        );
        assert_eq!(
            found(&table, "{=2 s/a/b/ =}").map(|f| (f.0, f.1)),
            Some((Some(2), Meaning::Perl("s/a/b/ ".into())))
        );
        assert_eq!(found(&table, "{= x {= y =}"), None);
        assert!(table.opens_expression(b"{="));
        assert!(!table.opens_expression(b"{= x =}"));
        table.set_parens(",,,,").unwrap();
        assert_eq!(
            found(&table, ",, s/x// ,,"),
            Some((None, Meaning::Perl(" s/x// ".into()), 11))
        );
        assert!(table.set_parens("abc").is_err());
    }
}
