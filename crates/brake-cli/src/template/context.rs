//! The shell's reading of a template's literal text, as far as it decides how a value put in
//! it must be written: where each replacement string stands (bare, in single, double or `$'…'`
//! quotes, in backquotes, in a comment, in a here-document), and where the reading cannot be
//! sure.
//!
//! It follows the POSIX shell's grammar for what changes quoting: quotes and backslashes,
//! `$(…)`, `` `…` `` and `${…}` (each a new level, where quoting starts afresh), comments,
//! here-documents, and `$'…'` (bash, ksh, zsh and POSIX.1-2024; dash reads it as `$` and a
//! single-quoted string, which ends at the same quote unless it holds `\'`). Where a shell could
//! read the text in more than one way, or where the reader does not follow it, the reading is
//! *lost* from there on, and every later value goes in by a variable reference (see
//! [`Context::Named`]), whose text is data in any context. The reader is lost after:
//!
//! - a `$'…'` holding `\'` (dash and bash disagree about where it ends);
//! - a backquote nested inside backquotes (`` \` ``);
//! - `case` in command position inside `$(…)` (a pattern's lone `)` would seem to close it);
//! - inside `$((…))` or `((…))`, a quote, a backslash, a backquote or a `#` starting a word
//!   (arithmetic is read as if in double quotes, where `'` is no quote and `#` no comment,
//!   but to some shells `$((` can also open a subshell in a command substitution); and `$[`
//!   (bash's older arithmetic);
//! - `<<` inside parentheses (a shift in arithmetic, or a here-document in a subshell);
//! - a here-document whose body would start in another level than its `<<`, a delimiter with
//!   `$` or `` ` `` in it, a body line with `{#}` or `{%}` when the delimiter has digits, or,
//!   inside `$(…)`, a body line that starts with the delimiter (bash ends the body at
//!   `EOF)`);
//! - `$(`, `${` or `` ` `` in the body of a here-document with an unquoted delimiter (dash
//!   parses the substitution, which can span lines and hold here-documents of its own, so
//!   dash and bash can see the body end at different lines);
//! - a `'` inside `${…}` within double quotes, or a `{` inside `${…}` (shells disagree there);
//! - `alias` in command position (an alias's text is read where it is used).

/// How a value goes into the shell line where its replacement string stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Pasted in, escaped for the quoting around it and for the backquoted command
    /// substitutions holding it, so that it stays one literal piece of data: `'{}'`, `"{}"`,
    /// `$'{}'`, `"$(cmd {})"` and `` "`cmd {}`" `` are as safe as a bare `{}`.
    Paste {
        /// The quoting around it.
        quote: Quote,
        /// Backquote levels around it: the shell removes one level of backslashes (before
        /// `\`, `` ` `` and `$`) from their text before running it, so each level needs one
        /// more.
        backquotes: u8,
    },
    /// A reference to a shell variable that the line sets to the value before the template's
    /// text: where pasting is not safe (a here-document's body, where a value could hold the
    /// delimiter line; inside `${…}`; in arithmetic, where `'` is no quote) or the reading is
    /// lost. The reference is `${name}` or
    /// `"${name}"` (`quoted`): no backslash, backquote or single quote, so whatever the real
    /// context is, the shell never reads the value as code; in the contexts the reading expects
    /// it is the value itself.
    Named {
        /// Wrapped in double quotes (where the reading finds none open).
        quoted: bool,
        /// In arithmetic (`$((…))`, `((…))`) the reading is sure of: a value that is a plain
        /// number is no code there, and is pasted as it is.
        arithmetic: bool,
        /// Inside backquotes, the quotes the inner command has open there: a `'…'` or `$'…'`
        /// is closed around the reference and opened again. `Bare` elsewhere.
        within: Quote,
    },
    /// In a comment: not code, so the replacement string stays as written.
    Comment,
}

impl Context {
    /// A bare word outside any quotes.
    pub const BARE: Context = Context::Paste {
        quote: Quote::Bare,
        backquotes: 0,
    };
}

/// The quoting around a place in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// No quotes.
    Bare,
    /// `'…'`
    Single,
    /// `"…"`
    Double,
    /// `$'…'`
    AnsiC,
}

/// Why a value cannot go where a replacement string stands, or at the end of the template
/// (where values are appended). The template is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Right after an unquoted `$`: the value would be read as part of an expansion.
    AfterDollar,
    /// In a here-document's delimiter.
    Delimiter,
    /// In the body of a here-document with a quoted delimiter, where nothing is expanded and
    /// no escaping can keep a value from holding the delimiter line.
    LiteralHeredoc,
    /// Appended inside a comment, where the values would be lost.
    EndsInComment,
    /// Appended where the template's own quoting is still open.
    Unclosed,
}

/// One command level of the line: the line itself, a `$(…)`, a `` `…` ``, or a `${…}`.
struct Level {
    kind: LevelKind,
    quote: Quote,
    /// Open parentheses of subshells and arithmetic, so that only its own `)` ends a `$(`.
    parens: usize,
    /// Inside `((…))` or `$((…))` while `parens` is at least this: a value there is a number,
    /// and its reference goes without double quotes.
    arith: Option<usize>,
    /// Inside a comment, up to the next newline.
    comment: bool,
    /// The next byte starts a word (a `#` there starts a comment).
    word_start: bool,
    /// The word being read stands where a command name can, so it can be a reserved word.
    command: bool,
    /// The word being read, while it is made of plain bytes only (no quote, escape or value).
    word: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LevelKind {
    Line,
    Dollar,
    /// A backquoted command; `in_double`: opened inside double quotes, where `\"` is one of
    /// the escapes its text loses.
    Backquote {
        in_double: bool,
    },
    /// A parameter expansion's `${…}`; `in_double`: opened inside double quotes.
    Brace {
        in_double: bool,
    },
}

impl Level {
    fn new(kind: LevelKind) -> Level {
        let command = !matches!(kind, LevelKind::Brace { .. });
        Level {
            kind,
            quote: Quote::Bare,
            parens: 0,
            arith: None,
            comment: false,
            word_start: command,
            command,
            word: None,
        }
    }

    /// A byte that is part of a word but not a plain one.
    fn unplain(&mut self) {
        self.word_start = false;
        self.word = None;
    }
}

/// A here-document announced by `<<`: its body starts after the next newline.
#[derive(Debug, Clone)]
struct Heredoc {
    delimiter: Vec<u8>,
    /// Any part of the delimiter was quoted: the body is literal.
    quoted: bool,
    /// `<<-`: leading tabs are removed from the body's lines and the delimiter line.
    strip_tabs: bool,
    /// How many levels were open at its `<<`.
    depth: usize,
}

/// A here-document's delimiter word being read.
struct Delimiter {
    word: Vec<u8>,
    quoted: bool,
    strip_tabs: bool,
    /// A byte of the word has been read (blanks before it are skipped).
    started: bool,
    quote: Quote,
    escaped: bool,
}

/// A here-document's body being read, line by line.
struct Body {
    doc: Heredoc,
    line: Vec<u8>,
    /// The line holds `{#}` or `{%}`, whose digits are not known yet.
    digits: bool,
}

/// Reserved words after which the next word again stands where a command name can.
const BEFORE_COMMAND: &[&[u8]] = &[
    b"!", b"{", b"}", b"coproc", b"do", b"done", b"elif", b"else", b"esac", b"fi", b"if", b"then",
    b"time", b"until", b"while",
];

/// The shell's reading of a template's literal text, fed byte by byte, with a replacement
/// string's place asked for in between (see [`Reader::value`]).
pub struct Reader {
    levels: Vec<Level>,
    /// The last byte was a backslash that escapes this one.
    escaped: bool,
    /// The last byte was an unescaped `$` (a `(` now opens a command substitution).
    dollar: bool,
    /// Inside backquotes, the last byte was a backslash: the pair may lose it before parsing.
    backquote_escape: bool,
    /// Unquoted `<` just read: `<<` announces a here-document.
    less: u8,
    /// The last byte was an unquoted `(`: another makes `((` or `$((`.
    paren: bool,
    /// `dollar`, `less` and `paren` before a backslash: a backslash and a newline vanish, so
    /// what came before them goes on with what comes after.
    held: (bool, u8, bool),
    delimiter: Option<Delimiter>,
    /// Here-documents announced and not started, in order.
    pending: Vec<Heredoc>,
    body: Option<Body>,
    /// The reading cannot be sure from here on.
    lost: bool,
}

impl Reader {
    pub fn new() -> Reader {
        Reader {
            levels: vec![Level::new(LevelKind::Line)],
            escaped: false,
            dollar: false,
            backquote_escape: false,
            less: 0,
            paren: false,
            held: (false, 0, false),
            delimiter: None,
            pending: Vec::new(),
            body: None,
            lost: false,
        }
    }

    fn top(&self) -> &Level {
        self.levels.last().expect("the line's level is never left")
    }

    fn top_mut(&mut self) -> &mut Level {
        self.levels
            .last_mut()
            .expect("the line's level is never left")
    }

    /// Where a value would go now: how to write it, or why it cannot go there.
    pub fn context(&self) -> Result<Context, Refusal> {
        let top = self.top();
        // Inside backquotes the shell reads the text twice, removing a level of backslashes
        // first, and nesting (here-documents, `$(…)`, quotes) changes what that first reading
        // does: no pasting is trusted there, a reference is (see `Context::Named`).
        let in_backquotes = self
            .levels
            .iter()
            .any(|level| matches!(level.kind, LevelKind::Backquote { .. }));
        if in_backquotes && !self.lost && matches!(top.quote, Quote::Single | Quote::AnsiC) {
            return Ok(Context::Named {
                quoted: true,
                arithmetic: false,
                within: top.quote,
            });
        }
        if self.lost || in_backquotes {
            let open_double = match &self.body {
                Some(body) => !body.doc.quoted,
                None => {
                    top.quote == Quote::Double
                        || top.arith.is_some()
                        || matches!(top.kind, LevelKind::Brace { in_double: true })
                }
            };
            return Ok(Context::Named {
                quoted: !open_double,
                arithmetic: false,
                within: Quote::Bare,
            });
        }
        if self.less >= 2 || self.delimiter.is_some() {
            return Err(Refusal::Delimiter);
        }
        if let Some(body) = &self.body {
            if body.doc.quoted {
                return Err(Refusal::LiteralHeredoc);
            }
            let backslashes = |line: &[u8]| line.iter().rev().take_while(|&&b| b == b'\\').count();
            if let Some((b'$', before)) = body.line.split_last() {
                if backslashes(before) % 2 == 0 {
                    return Err(Refusal::AfterDollar);
                }
            }
            return Ok(Context::Named {
                quoted: false,
                arithmetic: false,
                within: Quote::Bare,
            });
        }
        if top.comment {
            return Ok(Context::Comment);
        }
        if self.dollar {
            return Err(Refusal::AfterDollar);
        }
        if let LevelKind::Brace { in_double } = top.kind {
            return Ok(Context::Named {
                quoted: !in_double && top.quote == Quote::Bare,
                arithmetic: false,
                within: Quote::Bare,
            });
        }
        if top.arith.is_some() {
            // Expanded, not pasted, where `'` would be no quote; a plain number is pasted.
            return Ok(Context::Named {
                quoted: false,
                arithmetic: true,
                within: Quote::Bare,
            });
        }
        let backquotes = self
            .levels
            .iter()
            .filter(|level| matches!(level.kind, LevelKind::Backquote { .. }))
            .count();
        Ok(Context::Paste {
            quote: top.quote,
            backquotes: u8::try_from(backquotes).unwrap_or(u8::MAX),
        })
    }

    /// Whether the next byte is read at the line's own level (a subshell's parentheses
    /// included), outside quotes, escapes, comments, arithmetic and here-documents, with the
    /// reading sure: a blank or an operator read there ends a word of the line.
    pub fn at_line_level(&self) -> bool {
        let top = self.top();
        self.levels.len() == 1
            && top.quote == Quote::Bare
            && top.arith.is_none()
            && !top.comment
            && !self.escaped
            && !self.dollar
            && self.less == 0
            && self.delimiter.is_none()
            && self.pending.is_empty()
            && self.body.is_none()
            && !self.lost
    }

    /// Where values appended after the template's text would go, the joining space read.
    pub fn end(&mut self) -> Result<Context, Refusal> {
        self.read(b' ');
        let context = self.context()?;
        if self.lost || self.body.is_some() {
            return Ok(context);
        }
        if context == Context::Comment {
            return Err(Refusal::EndsInComment);
        }
        if self.levels.len() > 1 || self.top().quote != Quote::Bare {
            return Err(Refusal::Unclosed);
        }
        Ok(context)
    }

    /// A replacement string stood here; `digits`: it is `{#}` or `{%}`, whose text is a
    /// number (else a value, in by its escaping or a reference).
    pub fn value(&mut self, digits: bool) {
        self.escaped = false;
        self.dollar = false;
        self.backquote_escape = false;
        self.less = 0;
        if let Some(body) = &mut self.body {
            if digits {
                body.digits = true;
            } else {
                // A reference's text: `$` and a brace, which no delimiter holds.
                body.line.extend_from_slice(b"${}");
            }
            return;
        }
        self.top_mut().unplain();
    }

    /// Something the reading cannot follow: every later value goes in by reference.
    fn lose(&mut self) {
        self.lost = true;
    }

    /// One byte of literal text. Inside backquotes the shell first finds the closing
    /// backquote (the first unescaped one, quotes or not) and removes the backslash of `\\`,
    /// `` \` `` and `\$` (and of `\"` within double quotes); the rest is read afresh.
    pub fn read(&mut self, byte: u8) {
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
                // A nested backquote: not followed.
                b'`' => self.lose(),
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
                if self.body.is_some()
                    || self.delimiter.is_some()
                    || self.pending.iter().any(|doc| doc.depth > innermost)
                {
                    self.lose();
                    self.body = None;
                    self.delimiter = None;
                    self.pending.retain(|doc| doc.depth <= innermost);
                }
                self.levels.truncate(innermost);
                self.escaped = false;
                self.dollar = false;
                self.less = 0;
                self.top_mut().unplain();
            }
            _ => self.parse(byte),
        }
    }

    /// One byte as the shell parses a command: quotes, escapes, comments, substitutions
    /// opening and closing, here-documents.
    fn parse(&mut self, byte: u8) {
        if self.body.is_some() {
            return self.body_byte(byte);
        }
        if self.delimiter.is_some() {
            return self.delimiter_byte(byte);
        }
        let after_dollar = std::mem::take(&mut self.dollar);
        let less = std::mem::take(&mut self.less);
        let after_paren = std::mem::take(&mut self.paren);
        let escaped = std::mem::take(&mut self.escaped);
        let top = self.top_mut();
        match top.quote {
            Quote::Single => {
                if byte == b'\'' {
                    top.quote = Quote::Bare;
                }
                return;
            }
            Quote::AnsiC => {
                if escaped {
                    // `\'`: bash reads an escaped quote, dash the end of the quotes.
                    if byte == b'\'' {
                        self.lose();
                    }
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'\'' {
                    top.quote = Quote::Bare;
                }
                return;
            }
            Quote::Bare | Quote::Double => {}
        }
        if top.comment {
            if byte == b'\n' {
                top.comment = false;
                self.separator(b'\n');
            }
            return;
        }
        if escaped {
            if byte == b'\n' {
                // A backslash and a newline vanish: the word, an operator or a `$` goes on as
                // if they were not there.
                (self.dollar, self.less, self.paren) = self.held;
            } else {
                top.unplain();
            }
            return;
        }
        if less == 2 && top.quote == Quote::Bare {
            return self.heredoc_operator(byte);
        }
        let kind = top.kind;
        if let LevelKind::Brace { in_double } = kind {
            if in_double && byte == b'\'' {
                return self.lose();
            }
        }
        if top.quote == Quote::Double {
            match byte {
                b'\\' => {
                    self.escaped = true;
                    self.held = (after_dollar, less, after_paren);
                }
                b'$' => self.dollar = !after_dollar,
                b'`' => self
                    .levels
                    .push(Level::new(LevelKind::Backquote { in_double: true })),
                b'(' if after_dollar => {
                    self.levels.push(Level::new(LevelKind::Dollar));
                    self.paren = true;
                }
                // `$[…]`: bash's arithmetic, read as if in double quotes.
                b'[' if after_dollar => self.lose(),
                b'{' if after_dollar => {
                    self.levels
                        .push(Level::new(LevelKind::Brace { in_double: true }));
                }
                b'"' => top.quote = Quote::Bare,
                _ => {}
            }
            return;
        }
        // Bare. Inside arithmetic, what a subshell's reading would take otherwise.
        if top.arith.is_some()
            && (matches!(byte, b'\'' | b'"' | b'\\' | b'`') || (byte == b'#' && top.word_start))
        {
            self.lose();
        }
        let top = self.top_mut();
        match byte {
            b'\\' => {
                // What it escapes decides (a newline leaves the word as it was).
                self.escaped = true;
                self.held = (after_dollar, less, after_paren);
            }
            b'$' => {
                top.unplain();
                self.dollar = !after_dollar;
            }
            b'\'' => {
                top.unplain();
                top.quote = if after_dollar {
                    Quote::AnsiC
                } else {
                    Quote::Single
                };
            }
            b'"' => {
                top.unplain();
                top.quote = Quote::Double;
            }
            b'`' => {
                top.unplain();
                self.levels
                    .push(Level::new(LevelKind::Backquote { in_double: false }));
            }
            b'(' if after_dollar => {
                top.unplain();
                self.levels.push(Level::new(LevelKind::Dollar));
                self.paren = true;
            }
            b'[' if after_dollar => self.lose(),
            b'{' if after_dollar => {
                top.unplain();
                self.levels
                    .push(Level::new(LevelKind::Brace { in_double: false }));
            }
            _ if matches!(kind, LevelKind::Brace { .. }) => match byte {
                b'}' => {
                    self.levels.pop();
                    self.top_mut().unplain();
                }
                // Nested braces: shells count them differently.
                b'{' => self.lose(),
                _ => {}
            },
            b'#' if top.word_start => top.comment = true,
            b' ' | b'\t' => {
                self.end_word();
            }
            b'\n' | b';' | b'&' | b'|' => self.separator(byte),
            b'(' => {
                top.parens += 1;
                // `$((…))` and `((…))` (bash): arithmetic, read as if in double quotes (a
                // `'` is no quote there) — or, to some shells, a subshell in a subshell.
                if after_paren {
                    top.arith = top.arith.or(Some(top.parens));
                }
                self.separator(byte);
                self.paren = true;
            }
            b')' if top.parens > 0 => {
                top.parens -= 1;
                if top.arith.is_some_and(|from| top.parens < from) {
                    top.arith = None;
                }
                self.separator(byte);
            }
            b')' if kind == LevelKind::Dollar => {
                self.end_word();
                self.levels.pop();
                if self.pending.iter().any(|doc| doc.depth > self.levels.len()) {
                    self.lose();
                    self.pending.clear();
                }
                self.top_mut().unplain();
            }
            b')' => self.separator(byte),
            b'<' | b'>' => {
                self.end_word();
                if byte == b'<' {
                    self.less = less + 1;
                }
            }
            _ => {
                if top.word_start {
                    top.word_start = false;
                    top.word = Some(Vec::new());
                }
                if let Some(word) = &mut top.word {
                    word.push(byte);
                }
            }
        }
    }

    /// The end of a word (at a blank or an operator): `case` in command position inside
    /// `$(…)` loses the reading, and the next word stands where a command name can only
    /// after a reserved word that leads to a command (or an assignment).
    fn end_word(&mut self) {
        let top = self.top_mut();
        if top.word_start {
            return;
        }
        let word = top.word.take();
        top.word_start = true;
        let Some(word) = word else {
            top.command = false;
            return;
        };
        if top.command && word == b"case" && top.kind == LevelKind::Dollar {
            return self.lose();
        }
        // An alias's text is read where it is used, with quotes the reading never sees.
        if top.command && word == b"alias" {
            return self.lose();
        }
        let assignment = word
            .iter()
            .position(|&b| b == b'=')
            .is_some_and(|eq| eq > 0 && !word[0].is_ascii_digit());
        if !BEFORE_COMMAND.contains(&word.as_slice()) && !assignment {
            top.command = false;
        }
    }

    /// An operator after which a command name can stand: `;`, `&`, `|`, `(`, `)`, newline.
    /// A newline starts the bodies of the here-documents announced before it.
    fn separator(&mut self, byte: u8) {
        self.end_word();
        let top = self.top_mut();
        top.command = true;
        top.word_start = true;
        if byte != b'\n' || self.pending.is_empty() {
            return;
        }
        let depth = self.levels.len();
        if self.pending.iter().any(|doc| doc.depth != depth) {
            self.pending.clear();
            return self.lose();
        }
        let doc = self.pending.remove(0);
        self.body = Some(Body {
            doc,
            line: Vec::new(),
            digits: false,
        });
    }

    /// The byte after an unquoted `<<`: `<` makes a here-string (`<<<`), `-` strips tabs,
    /// anything else starts the delimiter word.
    fn heredoc_operator(&mut self, byte: u8) {
        if byte == b'<' {
            return self.top_mut().unplain();
        }
        if self.top().parens > 0 {
            return self.lose();
        }
        self.delimiter = Some(Delimiter {
            word: Vec::new(),
            quoted: false,
            strip_tabs: byte == b'-',
            started: false,
            quote: Quote::Bare,
            escaped: false,
        });
        if byte != b'-' {
            self.delimiter_byte(byte);
        }
    }

    /// One byte of a here-document's delimiter word: quote removal, no expansion.
    fn delimiter_byte(&mut self, byte: u8) {
        let Some(delimiter) = &mut self.delimiter else {
            return;
        };
        if std::mem::take(&mut delimiter.escaped) {
            if delimiter.quote == Quote::Double && !matches!(byte, b'$' | b'`' | b'"' | b'\\') {
                delimiter.word.push(b'\\');
            }
            delimiter.word.push(byte);
            delimiter.quoted = true;
            delimiter.started = true;
            if byte == b'\n' {
                self.delimiter = None;
                self.lose();
            }
            return;
        }
        match (delimiter.quote, byte) {
            (Quote::Single, b'\'') | (Quote::Double, b'"') => delimiter.quote = Quote::Bare,
            (Quote::Single, _) => delimiter.word.push(byte),
            (_, b'\\') => delimiter.escaped = true,
            (_, b'$' | b'`') => {
                self.delimiter = None;
                self.lose();
            }
            (Quote::Double, _) => delimiter.word.push(byte),
            (_, b'\'' | b'"') => {
                delimiter.quote = if byte == b'"' {
                    Quote::Double
                } else {
                    Quote::Single
                };
                delimiter.quoted = true;
                delimiter.started = true;
            }
            (_, b' ' | b'\t') if !delimiter.started => {}
            (_, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')') => {
                let Some(delimiter) = self.delimiter.take() else {
                    return;
                };
                if !delimiter.started {
                    // `<<` with no word: a syntax error.
                    return self.lose();
                }
                self.pending.push(Heredoc {
                    delimiter: delimiter.word,
                    quoted: delimiter.quoted,
                    strip_tabs: delimiter.strip_tabs,
                    depth: self.levels.len(),
                });
                let top = self.top_mut();
                top.word_start = true;
                top.word = None;
                self.parse(byte);
            }
            _ => {
                delimiter.word.push(byte);
                delimiter.started = true;
            }
        }
    }

    /// One byte of a here-document's body: a line equal to the delimiter ends it (and starts
    /// the next one announced, if any).
    fn body_byte(&mut self, byte: u8) {
        let Some(body) = &mut self.body else {
            return;
        };
        if byte != b'\n' {
            // dash parses a substitution in the body of an unquoted here-document as code,
            // lines and here-documents of its own included, where bash reads text up to the
            // delimiter line: the two can end the body at different lines.
            let substitution = !body.doc.quoted
                && (byte == b'`'
                    || (matches!(byte, b'(' | b'{') && body.line.last() == Some(&b'$')));
            body.line.push(byte);
            if substitution {
                self.lose();
            }
            return;
        }
        if !body.doc.quoted {
            let backslashes = body.line.iter().rev().take_while(|&&b| b == b'\\').count();
            if backslashes % 2 == 1 {
                // A line continuation: the delimiter is looked for in the joined line.
                body.line.pop();
                return;
            }
        }
        let mut line = body.line.as_slice();
        if body.doc.strip_tabs {
            let tabs = line.iter().take_while(|&&b| b == b'\t').count();
            line = &line[tabs..];
        }
        // Inside `$(…)`, bash also ends the body at the delimiter followed by the `)`.
        let unsure = (body.digits && body.doc.delimiter.iter().any(u8::is_ascii_digit))
            || (body.doc.depth > 1
                && line != body.doc.delimiter
                && line.starts_with(&body.doc.delimiter));
        let ends = line == body.doc.delimiter.as_slice();
        body.line.clear();
        body.digits = false;
        if unsure {
            self.lose();
        }
        if !ends {
            return;
        }
        self.body = None;
        if !self.pending.is_empty() {
            // The next here-document of the same line starts at once.
            let doc = self.pending.remove(0);
            self.body = Some(Body {
                doc,
                line: Vec::new(),
                digits: false,
            });
        }
    }
}
