//! The command template: the words before the first `:::`, their replacement strings (`{}`
//! `{.}` `{/}` `{//}` `{/.}` `{#}` `{%}` `{1}` …), and turning them into each job's command,
//! as one shell line and, where the shell would only split words, as a ready argv.
//!
//! As in GNU parallel, the words are joined by spaces into one shell command line: literal
//! text keeps its shell meaning (`brake 'gzip -c {} > {}.gz' ::: a`), and every value put in
//! is quoted (see `quote.rs`), so no input can inject shell code.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::quote::{is_safe_byte, push_quoted};

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
    /// A value, and the shell quoting the template puts around it (see [`Context`]).
    Value(Pick, Edit, Context),
    /// `{#}`
    Seq,
    /// `{%}`
    Slot,
}

/// Where a replacement string stands in the shell line the template makes: its quoting (bare,
/// or inside the template's own single or double quotes) and how many backquoted command
/// substitutions hold it. Each needs its own escaping for a value to stay one literal piece of
/// data: `'{}'`, `"{}"`, `"$(cmd {})"` and `` "`cmd {}`" `` are as safe as a bare `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Context {
    quote: Quote,
    /// Backquote levels around it: the shell removes one level of backslashes (before `\`,
    /// `` ` `` and `$`) from their text before running it, so each level needs one more.
    backquotes: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Bare,
    Single,
    Double,
}

impl Context {
    const BARE: Context = Context {
        quote: Quote::Bare,
        backquotes: 0,
    };
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
        if !quote_words {
            set_contexts(&mut words);
        }
        let append = !words
            .iter()
            .flatten()
            .any(|part| !matches!(part, Part::Literal(_)));
        let direct = direct_capable(&words, sources, quote_words);
        Ok(Template {
            words,
            append,
            quote_words,
            direct,
        })
    }

    /// Whether jobs run without a shell: every literal is made of characters the shell leaves
    /// alone, and the program is a fixed, existing executable that is not a shell word.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
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
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                text.push(b' ');
            }
            if self.quote_words {
                let mut raw = Vec::new();
                for part in word {
                    render_part(&mut raw, part, args, seq, slot, false);
                }
                push_quoted(&mut text, &raw);
                continue;
            }
            for part in word {
                render_part(&mut text, part, args, seq, slot, true);
            }
        }
        if self.append {
            for arg in args {
                text.push(b' ');
                push_quoted(&mut text, arg.as_bytes());
            }
        }
        let direct = self.direct.is_some().then(|| {
            let mut argv: Vec<OsString> = self
                .words
                .iter()
                .map(|word| {
                    let mut bytes = Vec::new();
                    for part in word {
                        render_part(&mut bytes, part, args, seq, slot, false);
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

fn render_part(
    out: &mut Vec<u8>,
    part: &Part,
    args: &[OsString],
    seq: u64,
    slot: usize,
    quoted: bool,
) {
    let put = |out: &mut Vec<u8>, value: &[u8], context: Context| {
        if quoted {
            push_in_context(out, value, context);
        } else {
            out.extend_from_slice(value);
        }
    };
    match part {
        Part::Literal(bytes) => out.extend_from_slice(bytes),
        // Written straight into `out`: no String per number per job.
        Part::Seq => {
            let _ = write!(out, "{seq}");
        }
        Part::Slot => {
            let _ = write!(out, "{slot}");
        }
        Part::Value(Pick::Source(n), edit, context) => {
            let value = args.get(*n).map_or(&[][..], |a| a.as_bytes());
            put(out, apply(*edit, value), *context);
        }
        Part::Value(Pick::All, edit, context) => {
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                put(out, apply(*edit, arg.as_bytes()), *context);
            }
        }
    }
}

/// One command level of the shell line: the line itself, a `$(…)`, or a `` `…` ``.
struct Level {
    kind: LevelKind,
    quote: Quote,
    /// Open parentheses of subshells and arithmetic, so that only its own `)` ends a `$(`.
    parens: usize,
}

#[derive(PartialEq, Eq)]
enum LevelKind {
    Line,
    Dollar,
    /// A backquoted command; `in_double`: opened inside double quotes, where `\"` is one of
    /// the escapes its text loses.
    Backquote {
        in_double: bool,
    },
}

/// The shell's reading of the template's literal text, as far as it decides how a value must
/// be escaped (see [`set_contexts`]).
struct Reader {
    levels: Vec<Level>,
    /// The last byte was a backslash that escapes this one.
    escaped: bool,
    /// The last byte was an unescaped `$` (a `(` now opens a command substitution).
    dollar: bool,
    /// Inside backquotes, the last byte was a backslash: the pair may lose it before parsing.
    backquote_escape: bool,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            levels: vec![Level {
                kind: LevelKind::Line,
                quote: Quote::Bare,
                parens: 0,
            }],
            escaped: false,
            dollar: false,
            backquote_escape: false,
        }
    }

    fn backquotes(&self) -> usize {
        self.levels
            .iter()
            .filter(|level| matches!(level.kind, LevelKind::Backquote { .. }))
            .count()
    }

    fn context(&self) -> Context {
        Context {
            quote: self.top().quote,
            backquotes: u8::try_from(self.backquotes()).unwrap_or(u8::MAX),
        }
    }

    fn top(&self) -> &Level {
        self.levels.last().expect("the line's level is never left")
    }

    /// Something other than literal text came: a replacement string, or the space joining
    /// two words (which a word's trailing backslash escapes, and which no `$(` spans).
    fn interrupt(&mut self) {
        self.escaped = false;
        self.dollar = false;
        self.backquote_escape = false;
    }

    /// One byte of literal text. Inside backquotes the shell first finds the closing
    /// backquote (the first unescaped one, quotes or not) and removes the backslash of `\\`,
    /// `` \` `` and `\$` (and of `\"` within double quotes); the rest is read afresh.
    fn read(&mut self, byte: u8) {
        let innermost = self
            .levels
            .iter()
            .rposition(|level| matches!(level.kind, LevelKind::Backquote { .. }));
        let Some(innermost) = innermost else {
            return self.parse(byte);
        };
        if std::mem::take(&mut self.backquote_escape) {
            let in_double = matches!(
                self.levels[innermost].kind,
                LevelKind::Backquote { in_double: true }
            );
            match byte {
                // A nested backquote: not followed; its text counts as this level's.
                b'`' => {}
                b'\\' | b'$' => self.parse(byte),
                b'"' if in_double => self.parse(byte),
                _ => {
                    self.parse(b'\\');
                    self.parse(byte);
                }
            }
            return;
        }
        match byte {
            b'\\' => self.backquote_escape = true,
            b'`' => {
                self.levels.truncate(innermost);
                self.escaped = false;
                self.dollar = false;
            }
            _ => self.parse(byte),
        }
    }

    /// One byte as the shell parses a command: quotes, escapes, substitutions opening and
    /// closing.
    fn parse(&mut self, byte: u8) {
        let after_dollar = std::mem::take(&mut self.dollar);
        if std::mem::take(&mut self.escaped) {
            return;
        }
        let top = self
            .levels
            .last_mut()
            .expect("the line's level is never left");
        if top.quote == Quote::Single {
            if byte == b'\'' {
                top.quote = Quote::Bare;
            }
            return;
        }
        let bare = top.quote == Quote::Bare;
        match byte {
            b'\\' => self.escaped = true,
            b'$' => self.dollar = true,
            b'`' => {
                let in_double = !bare;
                self.levels.push(Level {
                    kind: LevelKind::Backquote { in_double },
                    quote: Quote::Bare,
                    parens: 0,
                });
            }
            b'(' if after_dollar => self.levels.push(Level {
                kind: LevelKind::Dollar,
                quote: Quote::Bare,
                parens: 0,
            }),
            b'(' if bare => top.parens += 1,
            b')' if bare && top.parens > 0 => top.parens -= 1,
            b')' if bare && top.kind == LevelKind::Dollar => {
                self.levels.pop();
            }
            b'\'' if bare => top.quote = Quote::Single,
            b'"' if bare => top.quote = Quote::Double,
            b'"' => top.quote = Quote::Bare,
            _ => {}
        }
    }
}

/// Records, for each replacement string, the shell quoting the template's own text puts around
/// it. The words are one shell line joined by spaces, so quotes carry from word to word.
///
/// It follows the POSIX shell's rules as far as they decide how a value must be escaped:
/// quotes, backslashes, and command substitutions, inside which quoting starts afresh (`"$(`
/// and `` "` `` open a new command inside double quotes). Not followed, and best kept away from
/// replacement strings: nested backquotes (`` \` `` inside `` `…` ``), a `case` pattern's lone
/// `)` inside `$(…)`, and here-documents.
fn set_contexts(words: &mut [Vec<Part>]) {
    let mut reader = Reader::new();
    for (i, word) in words.iter_mut().enumerate() {
        if i > 0 {
            reader.interrupt();
        }
        for part in word {
            match part {
                Part::Literal(bytes) => {
                    for &byte in bytes.iter() {
                        reader.read(byte);
                    }
                }
                Part::Value(_, _, at) => {
                    *at = reader.context();
                    reader.interrupt();
                }
                Part::Seq | Part::Slot => reader.interrupt(),
            }
        }
    }
}

/// `value`, escaped for where it stands (see [`Context`]).
fn push_in_context(out: &mut Vec<u8>, value: &[u8], context: Context) {
    let push = |out: &mut Vec<u8>, value: &[u8]| match context.quote {
        Quote::Bare => push_quoted(out, value),
        Quote::Single => push_in_single_quotes(out, value),
        Quote::Double => push_in_double_quotes(out, value),
    };
    if context.backquotes == 0 {
        return push(out, value);
    }
    let mut text = Vec::with_capacity(value.len() + 2);
    push(&mut text, value);
    for _ in 0..context.backquotes {
        let mut outer = Vec::with_capacity(text.len() + 4);
        for &byte in &text {
            if matches!(byte, b'\\' | b'`' | b'$') {
                outer.push(b'\\');
            }
            outer.push(byte);
        }
        text = outer;
    }
    out.extend_from_slice(&text);
}

/// `value` inside the template's single quotes: each `'` closes them, is escaped, and reopens
/// them; nothing else is special there.
fn push_in_single_quotes(out: &mut Vec<u8>, value: &[u8]) {
    for &byte in value {
        if byte == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(byte);
        }
    }
}

/// `value` inside the template's double quotes: `$`, `` ` ``, `"` and `\` get a backslash, the
/// only characters the shell acts on there.
fn push_in_double_quotes(out: &mut Vec<u8>, value: &[u8]) {
    for &byte in value {
        if matches!(byte, b'$' | b'`' | b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
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
        return Ok(Some((Part::Value(Pick::All, edit, Context::BARE), len)));
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
    Ok(Some((
        Part::Value(Pick::Source(n - 1), edit, Context::BARE),
        len,
    )))
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
                Part::Value(Pick::All, _, _) => sources <= 1,
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
