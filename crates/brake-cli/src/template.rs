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
use std::sync::Arc;

use crate::quote::{is_safe_byte, push_in_context, push_quoted};

mod context;
mod pack;
mod perl;
mod rpl;

pub use context::Quote;
use context::{Context, Reader, Refusal};
pub use rpl::Replacements;
use rpl::{Count, Meaning};

/// Which source a replacement string takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// `{}`: every source's value, in order, separated by spaces.
    All,
    /// `{n}`: source `n` (0-based here).
    Source(usize),
    /// A Perl expression's value for each source in turn: the values from this index on, one
    /// per source (see [`Template::evaluated`]).
    Each(usize),
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
    /// `+/`: everything before its last `/` (nothing when there is none).
    DirectoryPart,
    /// `+.`, `+..`, `+...`: its last one, two or three extensions.
    Extensions(u8),
    /// `..`, `...`: without its last two or three extensions.
    NoExtensions(u8),
    /// `/..`, `/...`: its last path component without its last two or three extensions.
    BasenameNoExtensions(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    Value(Value),
    /// `{#}`
    Seq,
    /// `{%}`
    Slot,
    /// `{##}`, `{0#}`, `{0%}`
    Count(Count),
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
    /// No command was given: each job's values are its command (see [`Template::commands`]).
    commands: bool,
    /// Number of input sources.
    sources: usize,
    /// The Perl expressions, each once, and the process that runs them.
    perl: Option<Arc<perl::Perl>>,
    /// The evaluations a job needs, as (expression, source), in the order the command uses
    /// them.
    wanted: Vec<(usize, usize)>,
    /// Whether a Perl expression calls `total_jobs()`.
    perl_counts_jobs: bool,
    /// The number of jobs (`{##}`), once known.
    total: u64,
    /// The number of job slots (`{0%}`).
    slots: usize,
    /// `-X`: the words holding `{}`, repeated per value.
    pack: Option<pack::Layout>,
}

/// Why a job has no command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrendered {
    /// A Perl expression called `skip()`.
    Skipped,
    /// The Perl process failed; the text says how.
    Failed(String),
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
        Template::parse_with(words, sources, quote_words, &Replacements::default())
    }

    /// [`Template::parse`] with the replacement strings of `table` (`--plus`, `-I`, `--rpl`
    /// …). A template with Perl expressions starts `perl` here (see `perl.rs`).
    pub fn parse_with(
        words: &[OsString],
        sources: usize,
        quote_words: bool,
        table: &Replacements,
    ) -> Result<Template, TemplateError> {
        if words.is_empty() {
            return Err(TemplateError(
                "a command is needed (e.g. brake echo ::: a b)".into(),
            ));
        }
        let mut expressions = Vec::new();
        let mut words: Vec<Vec<Part>> = merge_expressions(words, table)
            .iter()
            .map(|word| parse_word(word, sources, table, &mut expressions))
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
        let wanted = perl_wanted(&words, sources);
        let perl_counts_jobs = expressions.iter().any(|code| code.contains("total_jobs"));
        let perl = if expressions.is_empty() {
            None
        } else {
            Some(Arc::new(perl::Perl::start(&expressions)?))
        };
        Ok(Template {
            words,
            append,
            quote_words,
            direct,
            named,
            end,
            commands: false,
            sources,
            perl,
            wanted,
            perl_counts_jobs,
            total: 0,
            slots: 1,
            pack: None,
        })
    }

    /// Whether a job's command needs the number of jobs (`{##}`, `{0#}`, `total_jobs()`):
    /// then every input is read before the first job starts, as GNU parallel does; other
    /// templates keep streaming their first source.
    pub fn needs_total(&self) -> bool {
        self.perl_counts_jobs
            || self
                .words
                .iter()
                .flatten()
                .any(|part| matches!(part, Part::Count(Count::Total | Count::PaddedSeq)))
    }

    /// Tells the template the number of jobs and of job slots.
    pub fn set_run(&mut self, total: Option<u64>, slots: usize) {
        self.total = total.unwrap_or(0);
        self.slots = slots;
    }

    /// The template of a run given no command: each job's values, joined by spaces, are its
    /// command line, run by the shell as written (GNU parallel's commands as input). The
    /// values are shell code here by the user's choice; with `quote_words` (`-q`) each is
    /// one quoted word instead, as in GNU parallel.
    pub fn commands(quote_words: bool) -> Template {
        Template {
            words: Vec::new(),
            append: true,
            quote_words,
            direct: None,
            named: Vec::new(),
            end: Context::BARE,
            commands: true,
            sources: 0,
            perl: None,
            perl_counts_jobs: false,
            wanted: Vec::new(),
            total: 0,
            slots: 1,
            pack: None,
        }
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
        // Perl code may read `slot()`, or count its own calls.
        self.perl.is_some()
            || self
                .words
                .iter()
                .flatten()
                .any(|part| matches!(part, Part::Slot | Part::Count(Count::PaddedSlot)))
    }

    /// Whether the line sets variables to values (see [`Context::Named`]): one per source,
    /// fixed when the template is parsed, so a job may not have more values than that.
    pub fn uses_variables(&self) -> bool {
        !self.named.is_empty()
    }

    /// Makes every job run through the shell. With `--colsep` a line may lack a column its
    /// command names: the missing value is no text at all, so a word of nothing else vanishes
    /// from the shell line, where an argv would keep it as an empty argument.
    pub fn through_shell(&mut self) {
        self.direct = None;
    }

    /// Where the program was found, when jobs run without a shell: exec it by this path (with
    /// the argv's first word as its `argv[0]`) instead of searching `$PATH` for every job.
    pub fn program(&self) -> Option<&Path> {
        self.direct.as_deref()
    }

    /// The command for the job with `args` (one value per source), number `seq` and slot
    /// `slot`, shown as it would run even when a Perl expression skips the job (as
    /// `--dry-run` shows it). A job whose Perl expressions fail gets an empty command: the
    /// runner asks [`Template::render_job`].
    pub fn render(&self, args: &[OsString], seq: u64, slot: usize) -> Rendered {
        match self.evaluated(args, seq, slot) {
            Ok((Some(all), _)) => self.render_values(args, &all, seq, slot),
            Ok((None, _)) => self.render_values(args, args, seq, slot),
            Err(_) => Rendered {
                text: OsString::new(),
                direct: None,
            },
        }
    }

    /// The command for the job with `args`, or why it has none (see [`Unrendered`]).
    pub fn render_job(
        &self,
        args: &[OsString],
        seq: u64,
        slot: usize,
    ) -> Result<Rendered, Unrendered> {
        match self
            .evaluated(args, seq, slot)
            .map_err(Unrendered::Failed)?
        {
            (_, true) => Err(Unrendered::Skipped),
            (Some(all), false) => Ok(self.render_values(args, &all, seq, slot)),
            (None, false) => Ok(self.render_values(args, args, seq, slot)),
        }
    }

    /// The job's values followed by what its Perl expressions make of them (expression `e` on
    /// source `s` at index `sources + e * sources + s`; `None` without Perl expressions), and
    /// whether one called `skip()`.
    fn evaluated(
        &self,
        args: &[OsString],
        seq: u64,
        slot: usize,
    ) -> Result<(Option<Vec<OsString>>, bool), String> {
        let Some(perl) = &self.perl else {
            return Ok((None, false));
        };
        let job = perl::JobInfo {
            args,
            seq,
            slot,
            total: self.total,
        };
        let answers = perl.evaluate(&job, &self.wanted)?;
        let count = self.wanted.iter().map(|&(e, _)| e + 1).max().unwrap_or(0);
        let mut all = args.to_vec();
        all.resize(self.sources * (count + 1), OsString::new());
        for (&(e, s), value) in self.wanted.iter().zip(answers.values) {
            all[self.sources + e * self.sources + s] = OsString::from_vec(value);
        }
        Ok((Some(all), answers.skip))
    }

    /// The command, `all` being the job's values `args` and then its Perl values.
    fn render_values(
        &self,
        args: &[OsString],
        all: &[OsString],
        seq: u64,
        slot: usize,
    ) -> Rendered {
        let mut text = Vec::with_capacity(64);
        if self.commands {
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    text.push(b' ');
                }
                match self.quote_words {
                    true => push_quoted(&mut text, arg.as_bytes()),
                    false => text.extend_from_slice(arg.as_bytes()),
                }
            }
            return Rendered {
                text: OsString::from_vec(text),
                direct: None,
            };
        }
        if let Some(layout) = &self.pack {
            let text = self.render_layout(layout, args, seq, slot);
            return Rendered { text, direct: None };
        }
        self.push_names(&mut text, all);
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                text.push(b' ');
            }
            if self.quote_words {
                // As in GNU parallel, the values of several sources in one `{}` stay
                // separate arguments.
                let mut raw = Vec::new();
                for part in word {
                    match part {
                        Part::Value(value) if matches!(value.pick, Pick::All | Pick::Each(_)) => {
                            for (n, (_, arg)) in
                                picked(value.pick, all, self.width(all)).enumerate()
                            {
                                if n > 0 {
                                    push_quoted(&mut text, &raw);
                                    text.push(b' ');
                                    raw.clear();
                                }
                                raw.extend_from_slice(apply(value.edit, arg));
                            }
                        }
                        _ => self.render_part(&mut raw, part, all, seq, slot, false),
                    }
                }
                push_quoted(&mut text, &raw);
                continue;
            }
            for part in word {
                self.render_part(&mut text, part, all, seq, slot, true);
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
                        self.render_part(&mut bytes, part, all, seq, slot, false);
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
    /// No values are appended (`--nonall`: its one job has none).
    pub fn append_nothing(&mut self) {
        self.append = false;
    }

    /// The words with each replacement string replaced by its value as it is, joined by
    /// spaces; nothing quoted, nothing appended: a file name (`--transferfile {}`), not a
    /// command line.
    pub fn render_plain(&self, args: &[OsString], seq: u64, slot: usize) -> OsString {
        let mut text = Vec::new();
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                text.push(b' ');
            }
            for part in word {
                self.render_part(&mut text, part, args, seq, slot, false);
            }
        }
        OsString::from_vec(text)
    }

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
            Part::Count(count) => {
                let _ = match count {
                    Count::Total => write!(out, "{}", self.total),
                    Count::PaddedSeq => write!(out, "{seq:0width$}", width = width(self.total)),
                    Count::PaddedSlot => {
                        write!(out, "{slot:0width$}", width = width(self.slots as u64))
                    }
                };
            }
            Part::Value(value) if !quoted => {
                for (n, (_, arg)) in picked(value.pick, args, self.width(args)).enumerate() {
                    if n > 0 {
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
                for (n, (i, arg)) in picked(value.pick, args, self.width(args)).enumerate() {
                    if n > 0 {
                        out.push(b' ');
                    }
                    self.put(out, arg, i, value.edit, value.context);
                }
            }
        }
    }

    /// How many of a job's values `{}` spans: its own values, when no Perl values follow them
    /// (a job of `-m` or `-X` has as many as it gathered).
    fn width(&self, all: &[OsString]) -> usize {
        match self.perl {
            Some(_) => self.sources,
            None => all.len(),
        }
    }

    /// Appends the assignments of the values the line refers to by name.
    fn push_names(&self, text: &mut Vec<u8>, args: &[OsString]) {
        for (i, named) in self.named.iter().enumerate() {
            let value = args.get(named.source).map_or(&[][..], |a| a.as_bytes());
            let value = apply(named.edit, value);
            if named.arithmetic_only && is_number(value) {
                continue;
            }
            let _ = write!(text, "{NAMED}{}=", i + 1);
            push_quoted(text, value);
            text.extend_from_slice(b"; ");
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

/// The width GNU parallel pads `{0#}` and `{0%}` to for numbers up to `most`: its own
/// formula, floating point and all (1000 jobs are padded to 3 digits, as there).
fn width(most: u64) -> usize {
    let digits = ((most.max(1) as f64).ln() / 10f64.ln()) as usize;
    1 + digits
}

/// The indexes (into the job's values and Perl values) a replacement string takes, of
/// `sources` input sources.
fn indexes(pick: Pick, sources: usize) -> std::ops::Range<usize> {
    match pick {
        Pick::All => 0..sources,
        Pick::Source(i) => i..i + 1,
        Pick::Each(start) => start..start + sources,
    }
}

/// The values a replacement string takes, with their indexes (see [`indexes`]).
fn picked(pick: Pick, args: &[OsString], sources: usize) -> impl Iterator<Item = (usize, &[u8])> {
    indexes(pick, sources).filter_map(move |i| Some((i, args.get(i)?.as_bytes())))
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
        for source in indexes(pick, sources) {
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
                Part::Seq | Part::Slot | Part::Count(_) => {
                    let written: &[u8] = match part {
                        Part::Seq => b"{#}",
                        Part::Slot => b"{%}",
                        Part::Count(Count::Total) => b"{##}",
                        Part::Count(Count::PaddedSeq) => b"{0#}",
                        _ => b"{0%}",
                    };
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
    let what = shown(what);
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

/// The words with each Perl expression that spans several (`{=`, `'$_=total_jobs()'`,
/// `=}`) joined into one by spaces, as GNU parallel joins them.
fn merge_expressions(words: &[OsString], table: &Replacements) -> Vec<Vec<u8>> {
    let mut merged: Vec<Vec<u8>> = Vec::with_capacity(words.len());
    let mut open = false;
    for word in words {
        match merged.last_mut() {
            Some(last) if open => {
                last.push(b' ');
                last.extend_from_slice(word.as_bytes());
            }
            _ => merged.push(word.as_bytes().to_vec()),
        }
        open = table.opens_expression(merged.last().map_or(&[][..], Vec::as_slice));
    }
    merged
}

/// Splits one word into literal text and replacement strings; each new Perl expression is
/// added to `expressions`.
fn parse_word(
    word: &[u8],
    sources: usize,
    table: &Replacements,
    expressions: &mut Vec<String>,
) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while i < word.len() {
        // `\{}` is the shell's escaped brace, not a replacement string.
        let escaped =
            word[i] == b'{' && word[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1;
        if !escaped {
            if let Some(found) = table.find(&word[i..]) {
                let written = &word[i..i + found.len];
                let part =
                    replacement(found.meaning, found.position, written, sources, expressions)?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(part);
                i += found.len;
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

/// The part for a replacement string `written` that means `meaning`, at `position` (from 1,
/// or from the last source when negative) when positional.
fn replacement(
    meaning: Meaning,
    position: Option<i64>,
    written: &[u8],
    sources: usize,
    expressions: &mut Vec<String>,
) -> Result<Part, TemplateError> {
    let shown = shown(written);
    let source = match position {
        None => None,
        Some(n) => Some(source_index(n, sources, &shown)?),
    };
    let pick = |source: Option<usize>| source.map_or(Pick::All, Pick::Source);
    Ok(match meaning {
        Meaning::Edit(edit) => value(pick(source), edit, written),
        Meaning::Seq => Part::Seq,
        Meaning::Slot => Part::Slot,
        Meaning::Count(count) => Part::Count(count),
        Meaning::Refused(why) => {
            return Err(TemplateError(format!("{shown} {why}")));
        }
        Meaning::Perl(code) => {
            if code
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "uq")
            {
                return Err(TemplateError(format!(
                    "{shown} calls uq(), which would put a value into the shell line \
                     unquoted; brake always quotes values: write the shell text in the \
                     command itself"
                )));
            }
            let e = match expressions.iter().position(|known| *known == code) {
                Some(e) => e,
                None => {
                    expressions.push(code);
                    expressions.len() - 1
                }
            };
            let first = sources + e * sources;
            let pick = match source {
                None => Pick::Each(first),
                Some(s) => Pick::Source(first + s),
            };
            value(pick, Edit::Whole, written)
        }
    })
}

/// A replacement string as a message shows it: escaped, since it may hold a tab or a
/// terminal's control sequence.
fn shown(written: &[u8]) -> String {
    crate::escape::escape(std::ffi::OsStr::from_bytes(written))
}

/// The index (from 0) of source `n` as a replacement string numbers it: from 1, or counted
/// from the last when negative.
fn source_index(n: i64, sources: usize, shown: &str) -> Result<usize, TemplateError> {
    if n == 0 {
        return Err(TemplateError(format!(
            "{shown} in the command: sources are numbered from 1 ({{1}} is the first ::: or \
             ::::), or from -1 for the last"
        )));
    }
    let count = i64::try_from(sources).unwrap_or(i64::MAX);
    if n.abs() > count {
        let have = match sources {
            1 => "is only 1 input source".to_string(),
            n => format!("are only {n} input sources"),
        };
        return Err(TemplateError(format!(
            "{shown} in the command, but there {have} (::: or ::::)"
        )));
    }
    let index = if n > 0 { n - 1 } else { count + n };
    Ok(usize::try_from(index).unwrap_or(0))
}

/// The Perl evaluations the words use, as (expression, source), each once, in order.
fn perl_wanted(words: &[Vec<Part>], sources: usize) -> Vec<(usize, usize)> {
    let mut wanted = Vec::new();
    for part in words.iter().flatten() {
        let Part::Value(value) = part else { continue };
        for index in indexes(value.pick, sources).filter(|&i| i >= sources) {
            let evaluation = ((index - sources) / sources, (index - sources) % sources);
            if !wanted.contains(&evaluation) {
                wanted.push(evaluation);
            }
        }
    }
    wanted
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
        Edit::DirectoryPart => match value.iter().rposition(|&b| b == b'/') {
            Some(slash) => &value[..slash],
            None => b"",
        },
        Edit::Extensions(n) => extensions(value, n).map_or(b"", |dot| &value[dot + 1..]),
        Edit::NoExtensions(n) => extensions(value, n).map_or(value, |dot| &value[..dot]),
        Edit::BasenameNoExtensions(n) => {
            let base = basename(value);
            extensions(base, n).map_or(base, |dot| &base[..dot])
        }
    }
}

/// Where the last `n` extensions of `value` begin (the dot before them), as GNU parallel's
/// `--plus` strings count them: `n` dots in the last path component, a leading one included.
/// One extension (`{+.}`) is everything after the last dot, even one in a directory name.
fn extensions(value: &[u8], n: u8) -> Option<usize> {
    if n == 1 {
        return value.iter().rposition(|&b| b == b'.');
    }
    let start = value.iter().rposition(|&b| b == b'/').map_or(0, |s| s + 1);
    value[start..]
        .iter()
        .enumerate()
        .rev()
        .filter(|&(_, &b)| b == b'.')
        .nth(usize::from(n) - 1)
        .map(|(dot, _)| start + dot)
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
    // Several sources' values in one `{}` are several arguments, even with `-q`.
    let splits = sources > 1
        && words.iter().flatten().any(|part| {
            matches!(
                part,
                Part::Value(Value {
                    pick: Pick::All | Pick::Each(_),
                    ..
                })
            )
        });
    if quote_words && splits {
        return None;
    }
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
                    pick: Pick::All | Pick::Each(_),
                    ..
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

/// Text with replacement strings whose values go in as they are, not quoted for a shell:
/// `--tagstring` and `--results` names.
#[derive(Debug, Clone)]
pub struct PlainText(Vec<Part>);

impl PlainText {
    /// Parses `text` for jobs with `sources` values each.
    pub fn parse(text: &OsStr, sources: usize) -> Result<PlainText, TemplateError> {
        let mut expressions = Vec::new();
        let parts = parse_word(
            text.as_bytes(),
            sources,
            &Replacements::default(),
            &mut expressions,
        )?;
        let computed = parts.iter().any(|part| match part {
            Part::Count(_) => true,
            Part::Value(value) => matches!(value.pick, Pick::Each(_)),
            _ => false,
        });
        if computed || !expressions.is_empty() {
            return Err(TemplateError(format!(
                "{}: --tagstring and --results names take {{}} {{.}} {{/}} {{//}} {{/.}} {{#}} {{%}} \
                 and {{1}} {{2}} …, not Perl expressions or job counts",
                text.to_string_lossy()
            )));
        }
        Ok(PlainText(parts))
    }

    /// Whether it holds a replacement string.
    pub fn has_replacements(&self) -> bool {
        self.0.iter().any(|part| !matches!(part, Part::Literal(_)))
    }

    /// The text for the job with these values, number and slot.
    pub fn render(&self, args: &[OsString], seq: u64, slot: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.0 {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::Seq => {
                    let _ = write!(out, "{seq}");
                }
                Part::Slot => {
                    let _ = write!(out, "{slot}");
                }
                Part::Value(value) => {
                    for (i, arg) in picked(value.pick, args, args.len()) {
                        if i > 0 && value.pick == Pick::All {
                            out.push(b' ');
                        }
                        out.extend_from_slice(apply(value.edit, arg));
                    }
                }
                // Refused by `parse`.
                Part::Count(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
