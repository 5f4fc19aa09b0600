//! GNU parallel's input options: more sources (`-a`), how records end (`-d`, `-0`, `-E`), which
//! are skipped (`-r`, `--skip-first-line`), how sources pair (`--link`), columns (`--colsep`,
//! `--header`, `--trim`) and other spellings of `:::` and `::::`. Checked here, before any
//! input is read; the reading itself is `inputs`' [`Reading`].

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use regex::bytes::Regex;

use crate::inputs::{unescape_delimiter, Reading, Source, Trim};

/// The input options.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// Read values from FILE, one per line (- for stdin), as `:::: FILE` does; repeat for more
    /// sources, which come before those after the command
    #[arg(short = 'a', long = "arg-file", value_name = "FILE")]
    pub arg_file: Vec<PathBuf>,

    /// Records end with NUL, not newline (-d '\0'; a -d given too wins)
    #[arg(short = '0', long = "null")]
    pub null: bool,

    /// Records end with DELIM, not newline: any text, with \n \t \r \0 and \NNN (octal) for
    /// those bytes; it also splits the values after :::
    #[arg(
        short = 'd',
        long = "delimiter",
        value_name = "DELIM",
        allow_hyphen_values = true
    )]
    pub delimiter: Option<OsString>,

    /// A value equal to STR ends its source: it and what follows are not read
    #[arg(
        short = 'E',
        long = "eof",
        value_name = "STR",
        allow_hyphen_values = true
    )]
    pub eof: Option<OsString>,

    /// Skip values that are empty or only whitespace
    #[arg(short = 'r', long = "no-run-if-empty")]
    pub no_run_if_empty: bool,

    /// Drop the first value of the first source (a header line)
    #[arg(long)]
    pub skip_first_line: bool,

    /// Pair the sources value by value instead of combining them; shorter ones wrap around
    /// (`:::+ VALUES` and `::::+ FILES` link one source to the one before, cut to the shorter)
    #[arg(long, visible_alias = "xapply")]
    pub link: bool,

    /// Split each value into columns where REGEX matches: {1} {2} … are the columns of all
    /// sources in order (a missing column is empty); implies --trim lr
    #[arg(
        short = 'C',
        long = "colsep",
        value_name = "REGEX",
        allow_hyphen_values = true
    )]
    pub colsep: Option<String>,

    /// Remove whitespace from values (each column with --colsep): n (none), l (left), r
    /// (right) or lr (both)
    #[arg(long, value_name = "SIDES")]
    pub trim: Option<String>,

    /// Each source's first value names its columns, for {name}: --header : (any value does
    /// the same); without --colsep, columns are split at tabs
    #[arg(long, value_name = "REGEX", allow_hyphen_values = true)]
    pub header: Option<String>,

    /// Another spelling of ::: (e.g. --arg-sep ,, then ,, a b c)
    #[arg(long, value_name = "SEP", allow_hyphen_values = true)]
    pub arg_sep: Option<OsString>,

    /// Another spelling of :::: (e.g. --arg-file-sep // then // FILE)
    #[arg(long, value_name = "SEP", allow_hyphen_values = true)]
    pub arg_file_sep: Option<OsString>,
}

impl InputArgs {
    /// The markers that begin a source of values and one of files.
    pub fn markers(&self) -> (OsString, OsString) {
        (
            self.arg_sep.clone().unwrap_or_else(|| ":::".into()),
            self.arg_file_sep.clone().unwrap_or_else(|| "::::".into()),
        )
    }

    /// The sources (`-a` files first, then `command_sources`) and how to read them, given
    /// which of the command's sources are linked to the one before.
    pub fn reading(
        &self,
        command_sources: Vec<Source>,
        linked: Vec<bool>,
    ) -> Result<(Vec<Source>, Reading), String> {
        let mut sources: Vec<Source> = self.arg_file.iter().cloned().map(Source::File).collect();
        sources.extend(command_sources);
        let delimiter = match (&self.delimiter, self.null) {
            // As in GNU parallel, -d wins over -0 wherever each stands.
            (Some(text), _) => {
                let bytes = unescape_delimiter(text.as_bytes());
                if bytes.is_empty() {
                    return Err(
                        "-d needs a delimiter (e.g. -d , or -d '\\0'); an empty one ends no \
                         record"
                            .into(),
                    );
                }
                Some(bytes)
            }
            (None, true) => Some(vec![0]),
            (None, false) => None,
        };
        let colsep = match (&self.colsep, &self.header) {
            (Some(pattern), _) => Some(regex(pattern)?),
            (None, Some(_)) => Some(regex("\t")?),
            (None, None) => None,
        };
        let trim = match &self.trim {
            Some(text) => Trim::parse(text)?,
            None if self.colsep.is_some() => Trim::Both,
            None => Trim::None,
        };
        Ok((
            sources,
            Reading {
                delimiter,
                eof: self.eof.as_ref().map(|eof| eof.as_bytes().to_vec()),
                skip_blank: self.no_run_if_empty,
                skip_first_line: self.skip_first_line,
                header: self.header.is_some(),
                linked,
                link_all: self.link,
                colsep,
                trim,
            },
        ))
    }
}

fn regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|err| {
        let reason = err.to_string();
        let reason = reason.lines().last().unwrap_or("").trim();
        format!(
            "--colsep {}: not a regex ({reason}); escape a literal character with \\ (e.g. \
             --colsep '\\[')",
            crate::escape::shorten(std::ffi::OsStr::new(pattern), 40)
        )
    })
}

/// The highest `{N}` (or `{N.}`, `{N/}`, …) in `words`: with `--colsep` every job has at least
/// that many values.
pub fn highest_position(words: &[OsString]) -> usize {
    let mut highest = 0;
    for word in words {
        let bytes = word.as_bytes();
        for (at, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b'{') {
            let rest = &bytes[at + 1..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let Some(close) = rest.iter().position(|&b| b == b'}') else {
                continue;
            };
            if digits == 0 || !matches!(&rest[digits..close], b"" | b"." | b"/" | b"//" | b"/.") {
                continue;
            }
            if let Some(n) = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
            {
                highest = highest.max(n);
            }
        }
    }
    highest
}
