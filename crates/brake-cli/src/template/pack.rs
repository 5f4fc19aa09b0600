//! Templates for jobs with many values (`-X`, `-m`, `-N`, `-n`, `-L`, `--xargs`): where each
//! value goes, and the check that every one stays data.
//!
//! A job's values are its records' values one after the other; `{n}` is the `n`th of them.
//! With `-m` (and `-n`, `--xargs`), `{}` stands for all of them, separated by spaces, each
//! quoted for the place `{}` holds, as `{}` does with several sources. With `-X` (and `-N`,
//! `-L`), the word holding `{}` is repeated for each value (`pict{}.jpg` → `pict1.jpg
//! pict2.jpg`). That word is read as the shell reads the line: it ends at a blank or an
//! operator (`;` `&` `|` `<` `>` `(` `)`) at the line's own level, so `"a {}"` and `$(cat {})`
//! are repeated whole, and a copy is the same text around another value. A word with `{}`
//! must start and end at the line's level; and since a reference names one value, `{}` there
//! cannot stand where values go by reference (a here-document, `${…}`, `$((…))`, backquotes),
//! nor, with no bound on the values, can `{}` with `-m` or appended values.

use std::ffi::OsString;

use super::context::{Context, Reader};
use super::{parse_word, Part, Pick, Replacements, Template, TemplateError, Value};
use crate::cli::pack::{Packing, Style};
use crate::quote::push_quoted;

/// The line of a `-X` template, cut into pieces that are repeated per value or written once.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
struct Piece {
    parts: Vec<Part>,
    /// Holds `{}`: written once for each value (once, with nothing for `{}`, when there is
    /// none).
    repeat: bool,
    /// `-q`: the piece is one of the command's words, quoted whole.
    quoted_word: bool,
}

/// Bytes that end a word of the shell line at its own level.
fn ends_word(byte: u8) -> bool {
    matches!(
        byte,
        b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')'
    )
}

impl Template {
    /// Parses `words` for jobs whose values are gathered as `packing` says from `sources`
    /// sources (see [`Template::parse`]).
    pub fn parse_packed(
        words: &[OsString],
        sources: usize,
        quote_words: bool,
        packing: &Packing,
        table: &Replacements,
    ) -> Result<Template, TemplateError> {
        if packing.style == Style::One {
            return Template::parse_with(words, sources, quote_words, table);
        }
        let bounded = match packing.per_job {
            Some(0) | None => None,
            Some(n) => Some(n.saturating_mul(sources.max(1))),
        };
        // `{n}` past a job's last value is empty, as in GNU parallel.
        let highest = highest_position(words, table).unwrap_or(0);
        let count = bounded.unwrap_or(sources).max(highest).max(1);
        let mut template = Template::parse_with(words, count, quote_words, table)?;
        if template.perl.is_some() {
            return Err(TemplateError(
                "Perl expressions ({= … =}, --rpl) cannot be used with many values per command \
                 (-X, -m, -N, -n, -L, --xargs): edit the values in the shell instead"
                    .into(),
            ));
        }
        let all = template
            .words
            .iter()
            .flatten()
            .any(|part| matches!(part, Part::Value(value) if value.pick == Pick::All));
        if all || packing.per_job == Some(0) {
            // `{}` takes any number of values, each its own shell word.
            template.direct = None;
        }
        if bounded.is_none() {
            let by_reference = template.words.iter().flatten().any(|part| {
                matches!(
                    part,
                    Part::Value(Value {
                        pick: Pick::All,
                        context: Context::Named { .. },
                        ..
                    })
                )
            }) || (template.append
                && matches!(template.end, Context::Named { .. }));
            if by_reference {
                return Err(by_reference_refusal());
            }
        }
        if packing.style == Style::Context && all {
            template.pack = Some(layout(&template)?);
        }
        Ok(template)
    }

    /// The command of a `-X` job: see [`Template::render`].
    pub(super) fn render_layout(
        &self,
        layout: &Layout,
        args: &[OsString],
        seq: u64,
        slot: usize,
    ) -> OsString {
        use std::os::unix::ffi::OsStringExt;
        let mut text = Vec::with_capacity(64);
        self.push_names(&mut text, args);
        for piece in &layout.pieces {
            let copies = if piece.repeat { args.len().max(1) } else { 1 };
            for copy in 0..copies {
                if copy > 0 {
                    text.push(b' ');
                }
                let value = piece.repeat.then(|| args.get(copy)).flatten();
                if piece.quoted_word {
                    let mut raw = Vec::new();
                    self.render_piece(&mut raw, &piece.parts, value, copy, args, seq, slot, false);
                    push_quoted(&mut text, &raw);
                } else {
                    self.render_piece(&mut text, &piece.parts, value, copy, args, seq, slot, true);
                }
            }
        }
        OsString::from_vec(text)
    }

    /// One copy of a piece, `value` (the job's `index`th) where `{}` stands.
    #[allow(clippy::too_many_arguments)]
    fn render_piece(
        &self,
        out: &mut Vec<u8>,
        parts: &[Part],
        value: Option<&OsString>,
        index: usize,
        args: &[OsString],
        seq: u64,
        slot: usize,
        quoted: bool,
    ) {
        use std::os::unix::ffi::OsStrExt;
        for part in parts {
            match part {
                Part::Value(one) if one.pick == Pick::All => {
                    let Some(value) = value else { continue };
                    if quoted {
                        self.put(out, value.as_bytes(), index, one.edit, one.context);
                    } else {
                        out.extend_from_slice(super::apply(one.edit, value.as_bytes()));
                    }
                }
                _ => self.render_part(out, part, args, seq, slot, quoted),
            }
        }
    }
}

/// The highest `{n}` in the command, if any.
///
/// The words are read as if there were `ANY` sources, so that every `{n}` is taken; a position
/// counted from the last (`{-1}`) then lands past `ANY / 2` and is left out, as it names one of
/// the job's values whatever their number.
fn highest_position(words: &[OsString], table: &Replacements) -> Option<usize> {
    use std::os::unix::ffi::OsStrExt;
    const ANY: usize = 1 << 40;
    words
        .iter()
        .filter_map(|word| parse_word(word.as_bytes(), ANY, table, &mut Vec::new()).ok())
        .flatten()
        .filter_map(|part| match part {
            Part::Value(Value {
                pick: Pick::Source(n),
                ..
            }) if n < ANY / 2 => Some(n + 1),
            _ => None,
        })
        .max()
}

fn by_reference_refusal() -> TemplateError {
    TemplateError(
        "{} inside a here-document, ${…}, $((…)) or backquotes cannot take many values (-X, \
         -m): there they go in by a variable, one per value; use -N with {1} {2} …, or -n N \
         for a fixed number, or move {} out of it"
            .into(),
    )
}

/// Cuts the line into the words holding `{}`, repeated per value, and the text between.
fn layout(template: &Template) -> Result<Layout, TemplateError> {
    if template.quote_words {
        let pieces = template
            .words
            .iter()
            .enumerate()
            .flat_map(|(i, word)| {
                let space = (i > 0).then(|| Piece {
                    parts: vec![Part::Literal(b" ".to_vec())],
                    repeat: false,
                    quoted_word: false,
                });
                let repeat = word.iter().any(is_all);
                space.into_iter().chain(std::iter::once(Piece {
                    parts: word.clone(),
                    repeat,
                    quoted_word: true,
                }))
            })
            .collect();
        return Ok(Layout { pieces });
    }
    let mut cutter = Cutter {
        reader: Reader::new(),
        pieces: Vec::new(),
        parts: Vec::new(),
        literal: Vec::new(),
        started_at_line_level: true,
    };
    for (i, word) in template.words.iter().enumerate() {
        if i > 0 {
            cutter.byte(b' ')?;
        }
        for part in word {
            match part {
                Part::Literal(bytes) => {
                    for &byte in bytes {
                        cutter.byte(byte)?;
                    }
                }
                Part::Value(value) => {
                    if value.pick == Pick::All && !matches!(value.context, Context::Paste { .. }) {
                        return Err(by_reference_refusal());
                    }
                    cutter.part(part.clone(), false);
                }
                Part::Seq | Part::Slot | Part::Count(_) => cutter.part(part.clone(), true),
            }
        }
    }
    let at_end = cutter.reader.at_line_level();
    cutter.end_piece(at_end)?;
    Ok(Layout {
        pieces: cutter.pieces,
    })
}

fn is_all(part: &Part) -> bool {
    matches!(part, Part::Value(value) if value.pick == Pick::All)
}

/// Reads the line as the shell does, cutting it where words end at its own level.
struct Cutter {
    reader: Reader,
    pieces: Vec<Piece>,
    /// The piece being read, and its literal text not yet in a part.
    parts: Vec<Part>,
    literal: Vec<u8>,
    started_at_line_level: bool,
}

impl Cutter {
    fn byte(&mut self, byte: u8) -> Result<(), TemplateError> {
        if ends_word(byte) && self.reader.at_line_level() {
            self.end_piece(true)?;
            self.pieces.push(Piece {
                parts: vec![Part::Literal(vec![byte])],
                repeat: false,
                quoted_word: false,
            });
            self.reader.read(byte);
            self.started_at_line_level = self.reader.at_line_level();
        } else {
            self.literal.push(byte);
            self.reader.read(byte);
        }
        Ok(())
    }

    fn part(&mut self, part: Part, digits: bool) {
        if !self.literal.is_empty() {
            self.parts
                .push(Part::Literal(std::mem::take(&mut self.literal)));
        }
        self.parts.push(part);
        self.reader.value(digits);
    }

    /// Ends the piece being read; `at_line_level`: the reading is at the line's level there.
    fn end_piece(&mut self, at_line_level: bool) -> Result<(), TemplateError> {
        if !self.literal.is_empty() {
            self.parts
                .push(Part::Literal(std::mem::take(&mut self.literal)));
        }
        if self.parts.is_empty() {
            return Ok(());
        }
        let parts = std::mem::take(&mut self.parts);
        let repeat = parts.iter().any(is_all);
        if repeat && !(self.started_at_line_level && at_line_level) {
            return Err(TemplateError(
                "the word holding {} (-X) starts or ends inside quotes, parentheses or a \
                 substitution, so it cannot be repeated for each value: keep quotes and \
                 $(…) within the word (e.g. \"pre-{}-post\")"
                    .into(),
            ));
        }
        self.pieces.push(Piece {
            parts,
            repeat,
            quoted_word: false,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packing(style: Style, per_job: Option<usize>) -> Packing {
        Packing {
            style,
            per_job,
            lines: false,
            max_chars: None,
            spread: false,
        }
    }

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    fn render(line: &str, style: Style, per_job: Option<usize>, values: &[&str]) -> String {
        let template = Template::parse_packed(
            &words(line),
            1,
            false,
            &packing(style, per_job),
            &Replacements::default(),
        )
        .unwrap();
        let values: Vec<OsString> = values.iter().map(OsString::from).collect();
        template
            .render(&values, 1, 1)
            .text
            .to_string_lossy()
            .into_owned()
    }

    fn refused(line: &str, style: Style, per_job: Option<usize>) -> String {
        Template::parse_packed(
            &words(line),
            1,
            false,
            &packing(style, per_job),
            &Replacements::default(),
        )
        .unwrap_err()
        .0
    }

    #[test]
    fn context_replace_repeats_the_word() {
        let x = |line: &str, values: &[&str]| render(line, Style::Context, None, values);
        assert_eq!(
            x("echo pre-{}-post", &["A", "B"]),
            "echo pre-A-post pre-B-post"
        );
        assert_eq!(x("rm pict{}.jpg", &["0", "1"]), "rm pict0.jpg pict1.jpg");
        assert_eq!(x("echo {} x", &["a b", "c"]), "echo 'a b' c x");
        assert_eq!(x("echo \"a {}\";", &["1", "2"]), "echo \"a 1\" \"a 2\";");
        assert_eq!(x("echo $(cat {})", &["a", "b"]), "echo $(cat a) $(cat b)");
        assert_eq!(x("(echo {})", &["a", "b"]), "(echo a b)");
        assert_eq!(x("echo {1}:{}", &["a", "b"]), "echo a:a a:b");
        assert_eq!(
            x("echo a{}b{.}c", &["1.gif", "2.gif"]),
            "echo a1.gifb1c a2.gifb2c"
        );
        // No value: the word once, `{}` giving nothing (GNU parallel's -N0).
        assert_eq!(x("echo x pre-{}-post {}", &[]), "echo x pre--post ");
        assert_eq!(x("echo {#}{}", &["a", "b"]), "echo 1a 1b");
    }

    #[test]
    fn join_puts_every_value_where_braces_stand() {
        let m = |line: &str, values: &[&str]| render(line, Style::Join, None, values);
        assert_eq!(m("echo pre-{}-post", &["A", "B"]), "echo pre-A B-post");
        assert_eq!(m("echo {3} {1}", &["A", "B", "C"]), "echo C A");
        assert_eq!(m("mv {} destdir", &["a b", "c"]), "mv 'a b' c destdir");
        assert_eq!(m("echo", &["a", "b c"]), "echo a 'b c'");
        assert_eq!(
            render("echo {1}+{2}", Style::Context, Some(2), &["a"]),
            "echo a+"
        );
    }

    #[test]
    fn words_that_cannot_be_repeated_are_refused() {
        for line in [
            "echo \"{} a",
            "echo ${x:-{}}",
            "echo `echo {}`",
            "echo $(({}+1))",
        ] {
            let message = refused(line, Style::Context, None);
            assert!(message.contains("{}"), "{line}: {message}");
        }
        assert!(refused("cat <<EOF\n{}\nEOF", Style::Join, None).contains("by a variable"));
        assert_eq!(
            render("echo {3}", Style::Context, Some(2), &["a", "b"]),
            "echo "
        );
        // A fixed number of values can go by reference.
        assert!(Template::parse_packed(
            &words("echo ${x:-{}}"),
            1,
            false,
            &packing(Style::Join, Some(2)),
            &Replacements::default(),
        )
        .is_ok());
    }

    #[test]
    fn many_values_are_never_run_directly() {
        let template = Template::parse_packed(
            &words("echo {}"),
            1,
            false,
            &packing(Style::Join, None),
            &Replacements::default(),
        )
        .unwrap();
        assert!(!template.is_direct());
    }
}
