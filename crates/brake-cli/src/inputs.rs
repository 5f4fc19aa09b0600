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
    fn is_stdin(&self) -> bool {
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
                    path.display()
                ))
            })?;
            (Box::new(file), path.display().to_string())
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
            // With one source the odometer is empty, yet `fill` still calls memset: that call
            // alone was half the time of `--dry-run` over ten million lines.
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
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn args(values: &[&str]) -> Source {
        Source::Args(values.iter().map(OsString::from).collect())
    }

    fn joined(inputs: Inputs) -> Vec<String> {
        inputs
            .map(|job| {
                job.unwrap()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn file_with(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn the_first_source_varies_slowest() {
        let inputs = Inputs::open(vec![args(&["a", "b"]), args(&["1", "2", "3"])]).unwrap();
        assert_eq!(inputs.total(), Some(6));
        assert_eq!(inputs.sources(), 2);
        assert_eq!(joined(inputs), ["a 1", "a 2", "a 3", "b 1", "b 2", "b 3"]);
    }

    #[test]
    fn three_sources_with_a_file_among_them() {
        let dir = tempfile::tempdir().unwrap();
        let numbers = file_with(&dir, "numbers", b"1\n2\n");
        let inputs = Inputs::open(vec![
            args(&["a", "b"]),
            Source::File(numbers),
            args(&["x", "y"]),
        ])
        .unwrap();
        // The file is buffered, so the count is known.
        assert_eq!(inputs.total(), Some(8));
        assert_eq!(inputs.sources(), 3);
        assert_eq!(
            joined(inputs),
            ["a 1 x", "a 1 y", "a 2 x", "a 2 y", "b 1 x", "b 1 y", "b 2 x", "b 2 y"]
        );
    }

    #[test]
    fn a_streamed_first_source_combines_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let letters = file_with(&dir, "letters", b"a\nb\n");
        let inputs = Inputs::open(vec![Source::File(letters), args(&["1", "2"])]).unwrap();
        assert_eq!(inputs.total(), None);
        assert_eq!(joined(inputs), ["a 1", "a 2", "b 1", "b 2"]);
    }

    #[test]
    fn empty_sources_give_no_jobs() {
        let inputs = Inputs::open(vec![args(&[])]).unwrap();
        assert_eq!(inputs.total(), Some(0));
        assert!(joined(inputs).is_empty());

        let inputs = Inputs::open(vec![args(&["a"]), args(&[])]).unwrap();
        assert_eq!(inputs.total(), Some(0));
        assert!(joined(inputs).is_empty());

        let dir = tempfile::tempdir().unwrap();
        let empty = file_with(&dir, "empty", b"");
        let inputs = Inputs::open(vec![Source::File(empty.clone())]).unwrap();
        assert!(joined(inputs).is_empty());
        let inputs = Inputs::open(vec![args(&["a", "b"]), Source::File(empty)]).unwrap();
        assert_eq!(inputs.total(), Some(0));
        assert!(joined(inputs).is_empty());

        let inputs = Inputs::open(Vec::new()).unwrap();
        assert_eq!((inputs.total(), inputs.sources()), (Some(0), 0));
        assert!(joined(inputs).is_empty());
    }

    #[test]
    fn file_lines_keep_cr_empty_lines_invalid_utf8_and_a_last_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(&dir, "in.txt", b"one\r\n\nthr\xffee\n\xc3\nlast");
        let inputs = Inputs::open(vec![Source::File(path)]).unwrap();
        assert_eq!(inputs.total(), None);
        let values: Vec<Vec<u8>> = inputs
            .map(|job| job.unwrap()[0].as_bytes().to_vec())
            .collect();
        let expected: [&[u8]; 5] = [b"one\r", b"", b"thr\xffee", b"\xc3", b"last"];
        assert_eq!(values, expected);
    }

    #[test]
    fn a_file_ending_in_newline_has_no_extra_empty_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(&dir, "in.txt", b"a\n\n");
        let inputs = Inputs::open(vec![Source::File(path)]).unwrap();
        assert_eq!(joined(inputs), ["a", ""]);
    }

    #[test]
    fn a_missing_file_is_named_with_the_reason() {
        let err = Inputs::open(vec![Source::File("/no/such/inputs.txt".into())])
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read the input file /no/such/inputs.txt: No such file"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");

        // Also as a buffered (second) source.
        let err = Inputs::open(vec![args(&["a"]), Source::File("/no/such/b.txt".into())])
            .err()
            .unwrap();
        assert!(err.to_string().contains("/no/such/b.txt"), "{err}");
    }

    #[test]
    fn a_read_error_is_an_item_and_ends_the_jobs() {
        // A directory opens but cannot be read.
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = Inputs::open(vec![Source::File(dir.path().to_owned())]).unwrap();
        let err = inputs.next().unwrap().unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("after its line 0"), "{err}");
        assert!(inputs.next().is_none());
    }

    #[test]
    fn stdin_is_one_source_at_most() {
        let err = Inputs::open(vec![Source::Stdin, Source::File("-".into())])
            .err()
            .unwrap();
        assert!(err.to_string().contains("one input source"), "{err}");
        let err = Inputs::open(vec![
            args(&["a"]),
            Source::File("-".into()),
            Source::File("-".into()),
        ])
        .err()
        .unwrap();
        assert!(err.to_string().contains("one input source"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any shape of sources gives the plain cartesian product, first source slowest.
        #[test]
        fn jobs_are_the_cartesian_product(sizes in proptest::collection::vec(0usize..4, 1..5)) {
            let sources: Vec<Vec<String>> = sizes
                .iter()
                .enumerate()
                .map(|(s, &n)| (0..n).map(|v| format!("{s}.{v}")).collect())
                .collect();
            let mut expected = vec![String::new()];
            for values in &sources {
                expected = expected
                    .iter()
                    .flat_map(|prefix| values.iter().map(move |v| format!("{prefix} {v}")))
                    .collect();
            }
            let expected: Vec<String> = expected.iter().map(|j| j[1..].to_owned()).collect();
            let inputs = Inputs::open(
                sources
                    .iter()
                    .map(|values| Source::Args(values.iter().map(OsString::from).collect()))
                    .collect(),
            )
            .unwrap();
            proptest::prop_assert_eq!(inputs.total(), Some(expected.len() as u64));
            proptest::prop_assert_eq!(joined(inputs), expected);
        }
    }

    #[test]
    fn the_first_source_streams() {
        // A writer pushes a million lines into a pipe, counting what the pipe has taken. A
        // streaming reader has the first job while the writer is still blocked on a full pipe;
        // one that read everything first could not return before the writer finished.
        const LINES: u64 = 1_000_000;
        const CHUNK: u64 = 1_000;
        let (read_end, write_end) = rustix::pipe::pipe().unwrap();
        let path = PathBuf::from(format!("/proc/self/fd/{}", read_end.as_raw_fd()));
        let written = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&written);
        let writer = std::thread::spawn(move || {
            let mut pipe = File::from(write_end);
            let mut chunk = String::new();
            for start in (0..LINES).step_by(CHUNK as usize) {
                chunk.clear();
                for i in start..start + CHUNK {
                    chunk.push_str(&i.to_string());
                    chunk.push('\n');
                }
                pipe.write_all(chunk.as_bytes()).unwrap();
                counter.fetch_add(CHUNK, Ordering::SeqCst);
            }
        });
        let mut inputs = Inputs::open(vec![Source::File(path)]).unwrap();
        drop(read_end);
        assert_eq!(inputs.total(), None);
        assert_eq!(inputs.next().unwrap().unwrap(), ["0"]);
        // Time for a writer that could go on to do so.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let so_far = written.load(Ordering::SeqCst);
        assert!(
            so_far < LINES / 10,
            "{so_far} lines were taken before the second job was read"
        );
        let mut count = 1u64;
        let mut last = OsString::new();
        for job in inputs {
            last = job.unwrap().pop().unwrap();
            count += 1;
        }
        assert_eq!(count, LINES);
        assert_eq!(last, (LINES - 1).to_string().as_str());
        writer.join().unwrap();
    }
}
