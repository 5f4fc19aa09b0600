//! Input sources and the jobs they make: `:::` values, `::::` files and stdin lines, combined
//! as GNU parallel does (every combination, the first source varying slowest).
//!
//! The first source is streamed, so ten million lines on stdin never sit in memory; the others
//! are read whole at the start, since each of their values is used once per value of the first.
//! Put the long source first.
//!
//! A line is everything up to a `\n`, which is removed; a `\r` stays (it is the value's, as in
//! GNU parallel), a last line without `\n` still counts, and an empty line is an empty value.
//! Values are bytes: invalid UTF-8 passes through untouched.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::escape::escape;

/// How much of a file or stdin is read at once: big reads keep `--dry-run` over millions of
/// lines from being a stream of small syscalls.
const READ_BUFFER: usize = 64 * 1024;

/// Where a source's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `::: a b c`.
    Args(Vec<OsString>),
    /// `:::: FILE`: one value per line (`-` is stdin).
    File(PathBuf),
    /// stdin's lines (when no source is given).
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

/// Lines read from a file or stdin, one value each, without their `\n`.
struct Lines {
    reader: BufReader<Box<dyn Read + Send>>,
    /// For messages: the file's path, or "stdin".
    name: String,
    /// Reused for every line, so a line costs one allocation: its value's.
    buffer: Vec<u8>,
    /// Lines read so far, to say where a read failed.
    read: u64,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, InputError> {
        let (reader, name): (Box<dyn Read + Send>, String) = if path.as_os_str() == "-" {
            (Box::new(io::stdin()), "stdin".into())
        } else {
            let file = File::open(path).map_err(|err| {
                InputError(format!(
                    "cannot read the input file {}: {err}; check the path given after ::::",
                    escape(path.as_os_str())
                ))
            })?;
            (Box::new(file), escape(path.as_os_str()))
        };
        Ok(Lines {
            reader: BufReader::with_capacity(READ_BUFFER, reader),
            name,
            buffer: Vec::with_capacity(256),
            read: 0,
        })
    }

    fn next_line(&mut self) -> Option<Result<OsString, InputError>> {
        self.buffer.clear();
        match self.reader.read_until(b'\n', &mut self.buffer) {
            Ok(0) => None,
            Ok(_) => {
                if self.buffer.last() == Some(&b'\n') {
                    self.buffer.pop();
                }
                self.read += 1;
                // A copy sized to the value, not a swap of the buffer: the buffer keeps its
                // capacity for the next line, and the value carries no slack.
                Some(Ok(OsString::from_vec(self.buffer.as_slice().to_vec())))
            }
            Err(err) => Some(Err(InputError(format!(
                "cannot read {} after its line {}: {err}",
                self.name, self.read
            )))),
        }
    }
}

/// The first source, streamed.
enum First {
    Values(std::vec::IntoIter<OsString>),
    Lines(Lines),
}

/// The jobs' values, one `Vec` per job (one value per source), in GNU parallel's order.
///
/// Only the first source is streamed; every other source is held in memory for the whole run.
/// A read error is yielded as an item, and then the iteration ends.
pub struct Inputs {
    first: First,
    /// Sources after the first, read whole: each value is used once per value of the first.
    rest: Vec<Vec<OsString>>,
    /// Number of sources given.
    sources: usize,
    /// Known number of jobs: when the first source is a list of values, or another is empty.
    total: Option<u64>,
    /// The first source's value being combined with the rest, and where the combination is
    /// (one index per source in `rest`, the last moving fastest).
    current: Option<OsString>,
    odometer: Vec<usize>,
    done: bool,
}

impl Inputs {
    /// Opens every source: files are opened now (a missing or unreadable one is an error naming
    /// it and the OS reason) and every source but the first is read whole. Stdin may be one
    /// source only.
    pub fn open(sources: Vec<Source>) -> Result<Inputs, InputError> {
        if sources.iter().filter(|s| s.is_stdin()).count() > 1 {
            return Err(InputError(
                "stdin (-) can be read as one input source only; save it to a file and give \
                 that file to the other ::::"
                    .into(),
            ));
        }
        let count = sources.len();
        let mut sources = sources.into_iter();
        let first = match sources.next() {
            None => First::Values(Vec::new().into_iter()),
            Some(Source::Args(values)) => First::Values(values.into_iter()),
            Some(Source::File(path)) => First::Lines(Lines::open(&path)?),
            Some(Source::Stdin) => First::Lines(Lines::open(Path::new("-"))?),
        };
        let mut rest = Vec::with_capacity(count.saturating_sub(1));
        for source in sources {
            let values = match source {
                Source::Args(values) => values,
                Source::File(path) => read_all(&path)?,
                Source::Stdin => read_all(Path::new("-"))?,
            };
            rest.push(values);
        }
        let empty_rest = rest.iter().any(Vec::is_empty);
        let total = if empty_rest {
            Some(0)
        } else {
            match &first {
                First::Values(values) => rest
                    .iter()
                    .try_fold(values.len() as u64, |n, v| n.checked_mul(v.len() as u64)),
                First::Lines(_) => None,
            }
        };
        Ok(Inputs {
            first,
            odometer: vec![0; rest.len()],
            rest,
            sources: count,
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

    /// Number of sources: the number of values in each job.
    pub fn sources(&self) -> usize {
        self.sources
    }

    fn next_first(&mut self) -> Option<Result<OsString, InputError>> {
        match &mut self.first {
            First::Values(values) => values.next().map(Ok),
            First::Lines(lines) => lines.next_line(),
        }
    }
}

fn read_all(path: &Path) -> Result<Vec<OsString>, InputError> {
    let mut lines = Lines::open(path)?;
    let mut values = Vec::new();
    while let Some(line) = lines.next_line() {
        values.push(line?);
    }
    Ok(values)
}

impl Iterator for Inputs {
    type Item = Result<Vec<OsString>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let current = match self.current.take() {
            Some(value) => value,
            None => match self.next_first() {
                Some(Ok(value)) => value,
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
        // The last combination with this value moves it into the job instead of copying it:
        // with one source (the common case) no value is ever copied.
        let last = self
            .odometer
            .iter()
            .zip(&self.rest)
            .all(|(&at, values)| at + 1 == values.len());
        let mut job = Vec::with_capacity(self.rest.len() + 1);
        if last {
            job.push(current);
        } else {
            job.push(current.clone());
            self.current = Some(current);
        }
        job.extend(
            self.rest
                .iter()
                .zip(&self.odometer)
                .map(|(values, &at)| values[at].clone()),
        );
        if last {
            // With one source the odometer is empty, yet `fill` would still call memset once
            // per job, a cost that shows in `--dry-run` over millions of lines.
            if !self.odometer.is_empty() {
                self.odometer.fill(0);
            }
        } else {
            for (at, values) in self.odometer.iter_mut().zip(&self.rest).rev() {
                *at += 1;
                if *at < values.len() {
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
