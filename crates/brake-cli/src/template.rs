//! The command template: the words before the first `:::`, their replacement strings (`{}`
//! `{.}` `{/}` `{//}` `{/.}` `{#}` `{%}` `{1}` …), and turning them into each job's command,
//! as one shell line and, where the shell would only split words, as a ready argv.
//!
//! As in GNU parallel, the words are joined by spaces into one shell command line: literal
//! text keeps its shell meaning (`brake 'gzip -c {} > {}.gz' ::: a`), and no value is ever
//! read as shell code. Each replacement string's place in the line is found by following the
//! shell's quoting (see `context.rs`), and the value is escaped for it (see `quote.rs`): bare,
//! inside the template's own `'…'`, `"…"` or `$'…'`, inside `$(…)`. Where pasting is not
//! safe (a here-document's body, `${…}`, `$((…))`, anywhere inside backquotes, which the shell
//! reads twice) or the reading cannot be
//! sure (see `context.rs` for what loses it), the line starts by setting a variable to the
//! value (`brake_v1='…'; `) and the place gets a reference to it (`"${brake_v1}"`), which
//! the shell expands without reading it as code in any context; in arithmetic, a value that
//! is a plain number is pasted all the same. A replacement string inside a
//! comment is left as written. A template where no quoting can hold a value is refused: a
//! replacement string right after a `$`, in a here-document's delimiter or in the body of one
//! with a quoted delimiter (`<<'EOF'`), and values appended inside a comment or an unclosed
//! quote.
//!
//! This covers what the line does with a value. A command that runs its arguments as code
//! does so with values too: `eval`, `sh -c`, `trap`, and bash's arithmetic, which runs the
//! `$(…)` in an array subscript of a value used as a number (`$((…))`, `((…))`, `let`,
//! `declare`, `[[ … -eq … ]]`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::quote::{is_safe_byte, push_in_context, push_quoted};

mod context;

pub use context::Quote;
use context::{Context, Reader, Refusal};

/// Which source a replacement string takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// `{}`: every source's value, in order, separated by spaces.
    All,
    /// `{n}`: source `n` (0-based here).
    Source(usize),
}

/// What a replacement string does to its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// The value as it is.
    Whole,
    /// `.`: without its extension.
    NoExtension,
    /// `/`: its last path component.
    Basename,
    /// `//`: everything before its last path component.
    Dirname,
    /// `/.`: its last path component without extension.
    BasenameNoExtension,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    Value(Value),
    /// `{#}`
    Seq,
    /// `{%}`
    Slot,
}

/// A replacement string that takes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Value {
    pick: Pick,
    edit: Edit,
    /// How the value goes into the shell line there.
    context: Context,
    /// The replacement string as written (it stays so in a comment).
    written: Box<[u8]>,
}

/// The shell variable the line sets to the `n`th (from 1) value it refers to by name (see
/// [`Context::Named`]).
const NAMED: &str = "brake_v";

/// A value the line may refer to by name: source `source`'s value edited by `edit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Named {
    source: usize,
    edit: Edit,
    /// Every place it goes is arithmetic: a job whose value is a plain number needs no
    /// variable at all (see [`is_number`]).
    arithmetic_only: bool,
}

/// A parsed command template.
#[derive(Debug, Clone)]
pub struct Template {
    words: Vec<Vec<Part>>,
    /// No replacement string anywhere: values are appended.
    append: bool,
    /// `-q`: each word is one shell word, its literal text quoted too.
    quote_words: bool,
    /// The program's path, when jobs run without a shell (see [`Template::is_direct`]).
    direct: Option<PathBuf>,
    /// The values the line refers to by name, in the order it sets them.
    named: Vec<Named>,
    /// Where appended values go.
    end: Context,
}

/// A template that cannot be used. Its message is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// One job's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The command as one shell command line: run with `sh -c`, shown by `--dry-run`, written
    /// to the joblog.
    pub text: OsString,
    /// `Some(argv)` (`argv[0]` the program) when the job can be executed without a shell, with
    /// exactly the arguments the shell would have given it.
    pub direct: Option<Vec<OsString>>,
}

/// Words the shell treats specially in command position: keywords, and builtins with no
/// program of the same effect. With one of these first, jobs go through the shell.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "!", "{", "}", "[[", "]]", "alias", "bg", "break", "case", "cd", "command",
    "continue", "coproc", "declare", "do", "done", "elif", "else", "esac", "eval", "exec", "exit",
    "export", "fg", "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "let", "local",
    "read", "readonly", "return", "select", "set", "shift", "source", "then", "time", "times",
    "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
];

impl Template {
    /// Parses the command `words` for jobs with `sources` values each. With `quote_words`
    /// (`-q`), each word stays one argument, its own text quoted as well as the values put in
    /// (GNU parallel's `-q`): `brake -q sh -c 'echo $0' {}` runs `sh -c 'echo $0' VALUE`.
    pub fn parse(
        words: &[OsString],
        sources: usize,
        quote_words: bool,
    ) -> Result<Template, TemplateError> {
        if words.is_empty() {
            return Err(TemplateError(
                "a command is needed (e.g. brake echo ::: a b)".into(),
            ));
        }
        let mut words: Vec<Vec<Part>> = words
            .iter()
            .map(|word| parse_word(word.as_bytes(), sources))
            .collect::<Result<_, _>>()?;
        // Counted before comments turn theirs back into text: a template that mentions a
        // replacement string anywhere gets no values appended.
        let append = !words
            .iter()
            .flatten()
            .any(|part| !matches!(part, Part::Literal(_)));
        let (named, end) = if quote_words {
            (Vec::new(), Context::BARE)
        } else {
            set_contexts(&mut words, sources, append)?
        };
        let direct = if named.is_empty() {
            direct_capable(&words, sources, quote_words)
        } else {
            None
        };
        Ok(Template {
            words,
            append,
            quote_words,
            direct,
            named,
            end,
        })
    }

    /// Whether jobs run without a shell: every literal is made of characters the shell leaves
    /// alone, and the program is a fixed, existing executable that is not a shell word.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Whether the command refers to the values (`{}`, `{1}`, …) rather than having them
    /// appended.
    pub fn names_values(&self) -> bool {
        !self.append
    }

    /// Whether the command holds `{%}`: the same job renders differently in another slot.
    pub fn uses_slot(&self) -> bool {
        self.words.iter().flatten().any(|part| *part == Part::Slot)
    }

    /// Where the program was found, when jobs run without a shell: exec it by this path (with
    /// the argv's first word as its `argv[0]`) instead of searching `$PATH` for every job.
    pub fn program(&self) -> Option<&Path> {
        self.direct.as_deref()
    }

    /// The command for the job with `args` (one value per source), number `seq` and slot
    /// `slot`.
    pub fn render(&self, args: &[OsString], seq: u64, slot: usize) -> Rendered {
        let mut text = Vec::with_capacity(64);
        for (i, named) in self.named.iter().enumerate() {
            let value = args.get(named.source).map_or(&[][..], |a| a.as_bytes());
            let value = apply(named.edit, value);
            if named.arithmetic_only && is_number(value) {
                continue;
            }
            let _ = write!(text, "{NAMED}{}=", i + 1);
            push_quoted(&mut text, value);
            text.extend_from_slice(b"; ");
        }
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                text.push(b' ');
            }
            if self.quote_words {
                let mut raw = Vec::new();
                for part in word {
                    self.render_part(&mut raw, part, args, seq, slot, false);
                }
                push_quoted(&mut text, &raw);
                continue;
            }
            for part in word {
                self.render_part(&mut text, part, args, seq, slot, true);
            }
        }
        if self.append {
            for (i, arg) in args.iter().enumerate() {
                text.push(b' ');
                self.put(&mut text, arg.as_bytes(), i, Edit::Whole, self.end);
            }
        }
        let direct = self.direct.is_some().then(|| {
            let mut argv: Vec<OsString> = self
                .words
                .iter()
                .map(|word| {
                    let mut bytes = Vec::new();
                    for part in word {
                        self.render_part(&mut bytes, part, args, seq, slot, false);
                    }
                    OsString::from_vec(bytes)
                })
                .collect();
            if self.append {
                argv.extend(args.iter().cloned());
            }
            argv
        });
        Rendered {
            text: OsString::from_vec(text),
            direct,
        }
    }
}

impl Template {
    /// Appends one part of a word; `quoted`: escaped for its place in the shell line (else
    /// as it is, for an argv).
    fn render_part(
        &self,
        out: &mut Vec<u8>,
        part: &Part,
        args: &[OsString],
        seq: u64,
        slot: usize,
        quoted: bool,
    ) {
        match part {
            Part::Literal(bytes) => out.extend_from_slice(bytes),
            // Written straight into `out`: no String per number per job.
            Part::Seq => {
                let _ = write!(out, "{seq}");
            }
            Part::Slot => {
                let _ = write!(out, "{slot}");
            }
            Part::Value(value) if !quoted => {
                for (i, arg) in picked(value.pick, args) {
                    if i > 0 && value.pick == Pick::All {
                        out.push(b' ');
                    }
                    out.extend_from_slice(apply(value.edit, arg));
                }
            }
            Part::Value(Value {
                context: Context::Comment,
                written,
                ..
            }) => out.extend_from_slice(written),
            Part::Value(value) => {
                for (i, arg) in picked(value.pick, args) {
                    if i > 0 && value.pick == Pick::All {
                        out.push(b' ');
                    }
                    self.put(out, arg, i, value.edit, value.context);
                }
            }
        }
    }

    /// Appends source `source`'s value `arg`, edited by `edit`, as `context` says.
    fn put(&self, out: &mut Vec<u8>, arg: &[u8], source: usize, edit: Edit, context: Context) {
        match context {
            Context::Paste { quote, backquotes } => {
                push_in_context(out, apply(edit, arg), quote, backquotes);
            }
            Context::Named {
                arithmetic: true, ..
            } if is_number(apply(edit, arg)) => out.extend_from_slice(apply(edit, arg)),
            Context::Named { quoted, within, .. } => {
                let n = self
                    .named
                    .iter()
                    .position(|named| (named.source, named.edit) == (source, edit))
                    .map_or(0, |i| i + 1);
                let (close, reopen): (&[u8], &[u8]) = match within {
                    Quote::Single => (b"'", b"'"),
                    Quote::AnsiC => (b"'", b"$'"),
                    Quote::Bare | Quote::Double => (b"", b""),
                };
                let quote: &[u8] = if quoted { b"\"" } else { b"" };
                out.extend_from_slice(close);
                out.extend_from_slice(quote);
                let _ = write!(out, "${{{NAMED}{n}}}");
                out.extend_from_slice(quote);
                out.extend_from_slice(reopen);
            }
            // Comments keep the replacement string as written (see `render_part`).
            Context::Comment => {}
        }
    }
}

/// A plain decimal number (`42`, `-7`): in arithmetic it is read as that number and nothing
/// else, so it goes into the line as it is, as GNU parallel would put it.
fn is_number(value: &[u8]) -> bool {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// The values a replacement string takes, with their sources' numbers (from 0).
fn picked(pick: Pick, args: &[OsString]) -> impl Iterator<Item = (usize, &[u8])> {
    args.iter()
        .map(|arg| arg.as_bytes())
        .enumerate()
        .filter(move |&(i, _)| pick == Pick::All || pick == Pick::Source(i))
}

/// Records, for each replacement string, how its value goes into the shell line (see
/// [`Context`]), and for appended values (`append`) how they go at its end. The words are one
/// shell line joined by spaces, so quotes carry from word to word. Returns the values the line
/// refers to by name, as (source, edit), and the appended values' context.
fn set_contexts(
    words: &mut [Vec<Part>],
    sources: usize,
    append: bool,
) -> Result<(Vec<Named>, Context), TemplateError> {
    let mut reader = Reader::new();
    let mut named: Vec<Named> = Vec::new();
    let mut name = |pick: Pick, edit: Edit, arithmetic: bool| {
        for source in (0..sources).filter(|&s| pick == Pick::All || pick == Pick::Source(s)) {
            match named
                .iter_mut()
                .find(|n| (n.source, n.edit) == (source, edit))
            {
                Some(known) => known.arithmetic_only &= arithmetic,
                None => named.push(Named {
                    source,
                    edit,
                    arithmetic_only: arithmetic,
                }),
            }
        }
    };
    for (i, word) in words.iter_mut().enumerate() {
        if i > 0 {
            reader.read(b' ');
        }
        for part in word.iter_mut() {
            match part {
                Part::Literal(bytes) => {
                    for &byte in bytes.iter() {
                        reader.read(byte);
                    }
                }
                Part::Value(value) => {
                    value.context = reader
                        .context()
                        .map_err(|refusal| refused(refusal, &value.written))?;
                    match value.context {
                        Context::Named { arithmetic, .. } => {
                            name(value.pick, value.edit, arithmetic);
                        }
                        Context::Comment => *part = Part::Literal(value.written.to_vec()),
                        Context::Paste { .. } => {}
                    }
                    reader.value(false);
                }
                Part::Seq | Part::Slot => {
                    let written: &[u8] = if *part == Part::Seq { b"{#}" } else { b"{%}" };
                    match reader.context() {
                        Ok(Context::Comment) => *part = Part::Literal(written.to_vec()),
                        // Digits: literal in every context but a delimiter.
                        Err(Refusal::Delimiter) => {
                            return Err(refused(Refusal::Delimiter, written));
                        }
                        _ => {}
                    }
                    reader.value(true);
                }
            }
        }
    }
    let end = if append {
        let end = reader
            .end()
            .map_err(|refusal| refused(refusal, b"the values"))?;
        if let Context::Named { arithmetic, .. } = end {
            name(Pick::All, Edit::Whole, arithmetic);
        }
        end
    } else {
        Context::BARE
    };
    Ok((named, end))
}

/// The one-line message for a template no quoting can make safe; `what` is the replacement
/// string.
fn refused(refusal: Refusal, what: &[u8]) -> TemplateError {
    let what = String::from_utf8_lossy(what);
    TemplateError(match refusal {
        Refusal::AfterDollar => format!(
            "{what} right after a `$` would be read as part of an expansion: write `\\${what}` \
             or `'$'{what}` for a literal `$`"
        ),
        Refusal::Delimiter => {
            format!("{what} in a here-document's delimiter (<<): the delimiter must be written out")
        }
        Refusal::LiteralHeredoc => format!(
            "{what} in the body of a here-document with a quoted delimiter (<<'EOF'), where \
             nothing can keep a value from ending it: use an unquoted delimiter (<<EOF)"
        ),
        Refusal::EndsInComment => "the command ends inside a comment (#), where the values \
             would be appended: put {} where they belong"
            .to_string(),
        Refusal::Unclosed => "the command's quoting is not closed at its end (a ', \", $'…', \
             $(…), ${…} or `…` is open), where the values would be appended"
            .to_string(),
    })
}

/// Splits one word into literal text and replacement strings.
fn parse_word(word: &[u8], sources: usize) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while i < word.len() {
        // `\{}` is the shell's escaped brace, not a replacement string.
        let escaped = word[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1;
        if word[i] == b'{' && !escaped {
            if let Some((part, len)) = replacement(&word[i..], sources)? {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(part);
                i += len;
                continue;
            }
        }
        literal.push(word[i]);
        i += 1;
    }
    if !literal.is_empty() || parts.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

/// The replacement string at the start of `text` (which starts with `{`) and its length, or
/// `None` when it is literal text.
fn replacement(text: &[u8], sources: usize) -> Result<Option<(Part, usize)>, TemplateError> {
    let Some(close) = text.iter().position(|&b| b == b'}') else {
        return Ok(None);
    };
    let inner = &text[1..close];
    let len = close + 1;
    match inner {
        b"#" => return Ok(Some((Part::Seq, len))),
        b"%" => return Ok(Some((Part::Slot, len))),
        _ => {}
    }
    let digits = inner.iter().take_while(|b| b.is_ascii_digit()).count();
    let edit = match &inner[digits..] {
        b"" => Edit::Whole,
        b"." => Edit::NoExtension,
        b"/" => Edit::Basename,
        b"//" => Edit::Dirname,
        b"/." => Edit::BasenameNoExtension,
        _ => return Ok(None),
    };
    if digits == 0 {
        return Ok(Some((value(Pick::All, edit, &text[..len]), len)));
    }
    let shown = String::from_utf8_lossy(&text[..len]);
    let n: usize = std::str::from_utf8(&inner[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    if n == 0 {
        return Err(TemplateError(format!(
            "{shown} in the command: sources are numbered from 1 ({{1}} is the first ::: or ::::)"
        )));
    }
    if n > sources {
        let have = match sources {
            1 => "is only 1 input source".to_string(),
            n => format!("are only {n} input sources"),
        };
        return Err(TemplateError(format!(
            "{shown} in the command, but there {have} (::: or ::::)"
        )));
    }
    Ok(Some((value(Pick::Source(n - 1), edit, &text[..len]), len)))
}

/// A replacement string's part, before its context is known.
fn value(pick: Pick, edit: Edit, written: &[u8]) -> Part {
    Part::Value(Value {
        pick,
        edit,
        context: Context::BARE,
        written: written.into(),
    })
}

/// Applies a replacement string's edit to a value.
fn apply(edit: Edit, value: &[u8]) -> &[u8] {
    match edit {
        Edit::Whole => value,
        Edit::NoExtension => strip_extension(value),
        Edit::Basename => basename(value),
        Edit::Dirname => dirname(value),
        Edit::BasenameNoExtension => strip_extension(basename(value)),
    }
}

/// The part after the last `/` (all of it when there is none). Plain text rules, not path
/// normalisation: `a/b/` gives an empty basename.
fn basename(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| b == b'/') {
        Some(slash) => &value[slash + 1..],
        None => value,
    }
}

/// The part before the last `/`: `.` when there is none, `/` for a file in the root. Plain text
/// rules: `a/b/` gives `a/b` (as its basename is empty), `a//b` gives `a/`.
fn dirname(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| b == b'/') {
        Some(0) => b"/",
        Some(slash) => &value[..slash],
        None => b".",
    }
}

/// The value without the extension of its last component: `x.tar.gz` → `x.tar`; a dot in a
/// directory name, or a leading dot (`.bashrc`), is not an extension.
fn strip_extension(value: &[u8]) -> &[u8] {
    let start = value.iter().rposition(|&b| b == b'/').map_or(0, |s| s + 1);
    match value[start..].iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => &value[..start + dot],
        _ => value,
    }
}

/// Whether the shell would do nothing for these words but split them (see
/// [`Template::is_direct`]).
fn direct_capable(words: &[Vec<Part>], sources: usize, quote_words: bool) -> Option<PathBuf> {
    // Quoted words are single arguments whatever they hold.
    let literals_safe = quote_words
        || words.iter().enumerate().all(|(i, word)| {
            word.iter().all(|part| match part {
                // `=` is only special in words before the program (assignments); the program
                // word itself must not hold one, or sh would assign instead of running it.
                Part::Literal(bytes) => bytes
                    .iter()
                    .all(|&b| is_safe_byte(b) || (b == b'=' && i > 0)),
                // Several values in one `{}` are several shell words: leave that to the shell.
                Part::Value(Value {
                    pick: Pick::All, ..
                }) => sources <= 1,
                _ => true,
            })
        });
    if !literals_safe {
        return None;
    }
    // An empty word vanishes in the shell's split.
    if !quote_words
        && words
            .iter()
            .any(|word| matches!(word.as_slice(), [Part::Literal(bytes)] if bytes.is_empty()))
    {
        return None;
    }
    let program = match words[0].as_slice() {
        [Part::Literal(bytes)] => bytes,
        _ => return None,
    };
    let name = OsStr::from_bytes(program);
    if name.to_str().is_some_and(|n| SHELL_WORDS.contains(&n)) {
        return None;
    }
    if program.contains(&b'/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    // Found once here rather than by every job's exec walking `$PATH`.
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
