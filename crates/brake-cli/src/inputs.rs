//! Input sources and the jobs they make: `:::` values, `::::` and `-a` files and stdin
//! records, read as GNU parallel's input options say ([`Reading`]: `-d`, `-0`, `-E`, `-r`,
//! `--trim`, `--colsep`, `--header`, `--skip-first-line`) and combined as it does: every
//! combination of the groups of sources, the first group varying slowest, where a group is a
//! source and those linked to it (`:::+`, `::::+`, `--link`), paired value by value.
//!
//! The first source is streamed when it is linked to none, so ten million lines on stdin never
//! sit in memory; the others are read whole at the start, since each of their values is used
//! once per value of the first. Put the long source first.
//!
//! A record is everything up to the delimiter (`\n` unless `-d` or `-0`), which is removed; a
//! `\r` stays (it is the value's, as in GNU parallel), a last record without a delimiter still
//! counts, and an empty record is an empty value. Values are bytes: invalid UTF-8 passes
//! through untouched.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::cli::highest_position;
use crate::cli::pack::Packing;
use crate::escape::escape;
use crate::template::{Replacements, Template};

mod reading;

pub use reading::{unescape_delimiter, Reading, Trim};

pub mod group;

/// How much of a file or stdin is read at once: big reads keep `--dry-run` over millions of
/// lines from being a stream of small syscalls.
const READ_BUFFER: usize = 64 * 1024;

/// Where a source's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `::: a b c`.
    Args(Vec<OsString>),
    /// `:::: FILE` or `-a FILE`: one value per record (`-` is stdin).
    File(PathBuf),
    /// stdin's records (when no source is given).
    Stdin,
}

impl Source {
    /// Whether the values come from stdin (no source given, or the file `-`).
    pub fn is_stdin(&self) -> bool {
        match self {
            Source::Stdin => true,
            Source::File(path) => path.as_os_str() == "-",
            Source::Args(_) => false,
        }
    }
}

/// Why the inputs could not be read. One line, naming the source.
#[derive(Debug)]
pub struct InputError(String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

impl InputError {
    /// An error that says `message`.
    pub fn new(message: String) -> InputError {
        InputError(message)
    }
}

/// Records read from a file or stdin, one value each, without their delimiter.
struct Lines {
    reader: BufReader<Box<dyn Read + Send>>,
    /// For messages: the file's path, or "stdin".
    name: String,
    /// What ends a record (never empty).
    delimiter: Vec<u8>,
    /// Reused for every record, so a record costs one allocation: its value's.
    buffer: Vec<u8>,
    /// Records read so far, to say where a read failed.
    read: u64,
}

impl Lines {
    fn open(path: &Path, delimiter: &[u8]) -> Result<Lines, InputError> {
        let (reader, name): (Box<dyn Read + Send>, String) = if path.as_os_str() == "-" {
            (Box::new(io::stdin()), "stdin".into())
        } else {
            let unreadable = |err: &dyn fmt::Display| {
                InputError(format!(
                    "cannot read the input file {}: {err}; check the path given after :::: or -a",
                    escape(path.as_os_str())
                ))
            };
            let file = File::open(path).map_err(|err| unreadable(&err))?;
            // A directory opens, and fails only at the first read, after the run has begun.
            if file.metadata().is_ok_and(|meta| meta.is_dir()) {
                return Err(unreadable(&"it is a directory"));
            }
            (Box::new(file), escape(path.as_os_str()))
        };
        Ok(Lines {
            reader: BufReader::with_capacity(READ_BUFFER, reader),
            name,
            delimiter: delimiter.to_vec(),
            buffer: Vec::with_capacity(256),
            read: 0,
        })
    }

    fn next_line(&mut self) -> Option<Result<OsString, InputError>> {
        self.buffer.clear();
        let last = *self.delimiter.last()?;
        loop {
            match self.reader.read_until(last, &mut self.buffer) {
                Ok(0) if self.buffer.is_empty() => return None,
                Ok(0) => break,
                Ok(_) => {
                    if self.buffer.ends_with(&self.delimiter) {
                        self.buffer
                            .truncate(self.buffer.len() - self.delimiter.len());
                        break;
                    }
                    // The delimiter's last byte alone, or the end of the input.
                    if self.buffer.last() != Some(&last) {
                        break;
                    }
                }
                Err(err) => {
                    let record = if self.delimiter == b"\n" {
                        "line"
                    } else {
                        "record"
                    };
                    return Some(Err(InputError(format!(
                        "cannot read {} after its {record} {}: {err}",
                        self.name, self.read
                    ))));
                }
            }
        }
        self.read += 1;
        // A copy sized to the value, not a swap of the buffer: the buffer keeps its capacity
        // for the next record, and the value carries no slack.
        Some(Ok(OsString::from_vec(self.buffer.as_slice().to_vec())))
    }
}

/// One source's values as `-E`, `-r` and `--skip-first-line` leave them.
struct Stream {
    raw: Raw,
    /// `-E`'s marker was read: the source ends there.
    ended: bool,
}

enum Raw {
    Values(std::vec::IntoIter<OsString>),
    Lines(Lines),
}

impl Stream {
    fn open(source: Source, reading: &Reading) -> Result<Stream, InputError> {
        let raw = match source {
            Source::Args(values) => Raw::Values(reading.split_args(values).into_iter()),
            Source::File(path) => Raw::Lines(Lines::open(&path, reading.delimiter())?),
            Source::Stdin => Raw::Lines(Lines::open(Path::new("-"), reading.delimiter())?),
        };
        Ok(Stream { raw, ended: false })
    }

    fn next_value(&mut self, reading: &Reading) -> Option<Result<OsString, InputError>> {
        loop {
            if self.ended {
                return None;
            }
            let value = match &mut self.raw {
                Raw::Values(values) => values.next()?,
                Raw::Lines(lines) => match lines.next_line()? {
                    Ok(value) => value,
                    Err(err) => {
                        self.ended = true;
                        return Some(Err(err));
                    }
                },
            };
            if reading.is_eof(value.as_bytes()) {
                self.ended = true;
                return None;
            }
            if reading.skips(value.as_bytes()) {
                continue;
            }
            return Some(Ok(value));
        }
    }

    fn read_all(&mut self, reading: &Reading) -> Result<Vec<OsString>, InputError> {
        let mut values = Vec::new();
        while let Some(value) = self.next_value(reading) {
            values.push(value?);
        }
        Ok(values)
    }
}

/// The first group of sources: one source streamed, or linked sources read whole.
enum First {
    Rows(std::vec::IntoIter<Vec<OsString>>),
    Stream(Stream),
}

/// The jobs' values, one `Vec` per job (one value per source, or per column with `--colsep`),
/// in GNU parallel's order.
///
/// Only the first source is streamed; every other source is held in memory for the whole run.
/// A read error is yielded as an item, and then the iteration ends.
pub struct Inputs {
    first: First,
    /// Groups after the first, read whole: each row is used once per row of the first.
    rest: Vec<Vec<Vec<OsString>>>,
    /// Number of sources given.
    sources: usize,
    /// How the values are read and split.
    reading: Reading,
    /// `--header`: each column's name, with its position among a job's values (from 0).
    names: Vec<(Vec<u8>, usize)>,
    /// Values in a job, as far as the sources say: one per source, or with `--colsep` the
    /// header's columns.
    width: usize,
    /// Known number of jobs: when the first group is read whole, or another group is empty.
    total: Option<u64>,
    /// The first group's row being combined with the rest, and where the combination is
    /// (one index per group in `rest`, the last moving fastest).
    current: Option<Vec<OsString>>,
    odometer: Vec<usize>,
    done: bool,
}

impl Inputs {
    /// Opens every source as GNU parallel reads them by default (see [`Inputs::open_with`]).
    #[cfg(test)]
    pub fn open(sources: Vec<Source>) -> Result<Inputs, InputError> {
        Inputs::open_with(sources, Reading::default())
    }

    /// Opens every source: files are opened now (a missing or unreadable one is an error naming
    /// it and the OS reason) and every source but a first one linked to none is read whole, as
    /// is each source's header. Stdin may be one source only.
    pub fn open_with(sources: Vec<Source>, reading: Reading) -> Result<Inputs, InputError> {
        if sources.iter().filter(|s| s.is_stdin()).count() > 1 {
            return Err(InputError(
                "stdin (-) can be read as one input source only; save it to a file and give \
                 that file to the other :::: or -a"
                    .into(),
            ));
        }
        let count = sources.len();
        let mut streams = sources
            .into_iter()
            .map(|source| Stream::open(source, &reading))
            .collect::<Result<Vec<_>, _>>()?;
        if reading.skip_first_line {
            if let Some(first) = streams.first_mut() {
                first.next_value(&reading).transpose()?;
            }
        }
        let mut names = Vec::new();
        if reading.header {
            let mut at = 0;
            for stream in &mut streams {
                let header = stream.next_value(&reading).transpose()?.unwrap_or_default();
                for name in reading.columns(header) {
                    names.push((name.into_vec(), at));
                    at += 1;
                }
            }
        }
        let groups = reading.groups(count);
        let mut streams = streams.into_iter();
        let mut rest = Vec::with_capacity(groups.len().saturating_sub(1));
        let mut first = None;
        for size in groups {
            let mut group: Vec<Stream> = streams.by_ref().take(size).collect();
            let streamed = matches!(
                group.as_slice(),
                [Stream {
                    raw: Raw::Lines(_),
                    ..
                }]
            );
            if first.is_none() && streamed {
                first = group.pop().map(First::Stream);
                continue;
            }
            let values = group
                .iter_mut()
                .map(|stream| stream.read_all(&reading))
                .collect::<Result<Vec<_>, _>>()?;
            let rows = reading.link(values);
            match first {
                None => first = Some(First::Rows(rows.into_iter())),
                Some(_) => rest.push(rows),
            }
        }
        let first = first.unwrap_or(First::Rows(Vec::new().into_iter()));
        let empty_rest = rest.iter().any(Vec::is_empty);
        let total = if empty_rest {
            Some(0)
        } else {
            match &first {
                First::Rows(rows) => rest
                    .iter()
                    .try_fold(rows.len() as u64, |n, v| n.checked_mul(v.len() as u64)),
                First::Stream(_) => None,
            }
        };
        let width = if reading.colsep.is_some() {
            names.len()
        } else {
            count
        };
        Ok(Inputs {
            first,
            odometer: vec![0; rest.len()],
            rest,
            sources: count,
            reading,
            names,
            width,
            total,
            current: None,
            done: empty_rest,
        })
    }

    /// The number of jobs, when known without reading further: `None` while the first source
    /// is a file or stdin (unless another source is empty, which makes it zero).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Number of sources given.
    pub fn sources(&self) -> usize {
        self.sources
    }

    /// The number of values in a job: one per source, or with `--colsep` the header's columns
    /// (none without a header: each line has as many as it splits into).
    #[cfg(test)]
    pub fn width(&self) -> usize {
        self.width
    }

    /// The most values a job has, reading the first source whole to know it (it is then
    /// no longer streamed).
    /// Reads the first source whole, so that [`Inputs::total`] is known before the first job
    /// starts (`{##}`, `total_jobs()`).
    pub fn read_whole(&mut self) -> Result<(), InputError> {
        self.widest().map(|_| ())
    }

    pub fn widest(&mut self) -> Result<usize, InputError> {
        if let First::Stream(stream) = &mut self.first {
            let mut rows = Vec::new();
            while let Some(value) = stream.next_value(&self.reading) {
                rows.push(self.reading.columns(value?));
            }
            self.total = Some(
                self.rest
                    .iter()
                    .try_fold(rows.len() as u64, |n, v| n.checked_mul(v.len() as u64))
                    .unwrap_or(u64::MAX),
            );
            self.first = First::Rows(rows.into_iter());
        }
        let longest = |rows: &[Vec<OsString>]| rows.iter().map(Vec::len).max().unwrap_or(0);
        let first = match &self.first {
            First::Rows(rows) => longest(rows.as_slice()),
            First::Stream(_) => 0,
        };
        Ok(first + self.rest.iter().map(|rows| longest(rows)).sum::<usize>())
    }

    /// The command template for these inputs: `words` with `--header`'s column names made
    /// positions, parsed for as many values as a job has. With `--colsep` any column may be
    /// named, one a line lacks being empty as in GNU parallel; and where the line passes
    /// values in variables, one per column, the widest line is found first.
    pub fn template(
        &mut self,
        words: &[OsString],
        quote: bool,
        table: &Replacements,
        packing: &Packing,
    ) -> Result<Template, String> {
        if words.is_empty() {
            return Ok(Template::commands(quote));
        }
        let words = self.name_columns(words);
        let parse = |width| {
            Template::parse_packed(&words, width, quote, packing, table).map_err(|e| e.to_string())
        };
        if self.reading.colsep.is_none() {
            return parse(self.width);
        }
        let width = self.width.max(highest_position(&words)).max(1);
        let mut template = parse(width)?;
        if template.uses_variables() {
            let widest = self.widest().map_err(|e| e.to_string())?;
            template = parse(width.max(widest))?;
        }
        template.through_shell();
        Ok(template)
    }

    /// `--header`: the command `words` with each `{name}` of a column (and `{name.}`,
    /// `{name/}`, `{name//}`, `{name/.}`) written as its position, `{3}`.
    pub fn name_columns(&self, words: &[OsString]) -> Vec<OsString> {
        reading::name_columns(words, &self.names)
    }

    fn next_first(&mut self) -> Option<Result<Vec<OsString>, InputError>> {
        match &mut self.first {
            First::Rows(rows) => rows.next().map(Ok),
            First::Stream(stream) => stream
                .next_value(&self.reading)
                .map(|value| value.map(|value| self.reading.columns(value))),
        }
    }
}

impl Iterator for Inputs {
    type Item = Result<Vec<OsString>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let current = match self.current.take() {
            Some(row) => row,
            None => match self.next_first() {
                Some(Ok(row)) => row,
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(err));
                }
                None => {
                    self.done = true;
                    return None;
                }
            },
        };
        // The last combination with this row moves it into the job instead of copying it:
        // with one source (the common case) no value is ever copied.
        let last = self
            .odometer
            .iter()
            .zip(&self.rest)
            .all(|(&at, rows)| at + 1 == rows.len());
        let mut job = if last {
            current
        } else {
            let job = current.clone();
            self.current = Some(current);
            job
        };
        for (rows, &at) in self.rest.iter().zip(&self.odometer) {
            job.extend(rows[at].iter().cloned());
        }
        if last {
            // With one source the odometer is empty, yet `fill` would still call memset once
            // per job, a cost that shows in `--dry-run` over millions of lines.
            if !self.odometer.is_empty() {
                self.odometer.fill(0);
            }
        } else {
            for (at, rows) in self.odometer.iter_mut().zip(&self.rest).rev() {
                *at += 1;
                if *at < rows.len() {
                    break;
                }
                *at = 0;
            }
        }
        Some(Ok(job))
    }
}

#[cfg(test)]
mod tests;
