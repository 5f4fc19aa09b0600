//! Input sources and the jobs they make: `:::` values, `::::` files and stdin lines, combined
//! as GNU parallel does (every combination, the first source varying slowest).
//!
//! The first source is streamed, so ten million lines on stdin never sit in memory; the others
//! are read whole at the start, since each of their values is used once per value of the first.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

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
    reader: Box<dyn BufRead + Send>,
    name: String,
    buffer: Vec<u8>,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, InputError> {
        let (reader, name): (Box<dyn Read + Send>, String) = if path.as_os_str() == "-" {
            (Box::new(io::stdin()), "stdin".into())
        } else {
            let file = File::open(path).map_err(|err| {
                InputError(format!(
                    "cannot read the input file {}: {err}",
                    path.display()
                ))
            })?;
            (Box::new(file), path.display().to_string())
        };
        Ok(Lines {
            reader: Box::new(BufReader::with_capacity(64 * 1024, reader)),
            name,
            buffer: Vec::with_capacity(256),
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
                Some(Ok(OsString::from_vec(self.buffer.clone())))
            }
            Err(err) => Some(Err(InputError(format!("reading {}: {err}", self.name)))),
        }
    }
}

/// The first source, streamed.
enum First {
    Values(std::vec::IntoIter<OsString>),
    Lines(Lines),
}

/// The jobs' values, one `Vec` per job (one value per source), in GNU parallel's order.
pub struct Inputs {
    first: First,
    /// Sources after the first, read whole.
    rest: Vec<Vec<OsString>>,
    /// Known number of jobs, when the first source is a list of values.
    total: Option<u64>,
    /// The first source's value being combined with the rest, and where the combination is.
    current: Option<OsString>,
    odometer: Vec<usize>,
    done: bool,
}

impl Inputs {
    /// Opens every source: files are opened now (a missing one is an error naming it) and
    /// every source but the first is read whole. Stdin may be one source only.
    pub fn open(sources: Vec<Source>) -> Result<Inputs, InputError> {
        let stdin_uses = sources
            .iter()
            .filter(|s| {
                matches!(s, Source::Stdin) || matches!(s, Source::File(p) if p.as_os_str() == "-")
            })
            .count();
        if stdin_uses > 1 {
            return Err(InputError(
                "stdin (-) can be read as one input source only".into(),
            ));
        }
        let mut sources = sources.into_iter();
        let first = match sources.next() {
            None => First::Values(Vec::new().into_iter()),
            Some(Source::Args(values)) => First::Values(values.into_iter()),
            Some(Source::File(path)) => First::Lines(Lines::open(&path)?),
            Some(Source::Stdin) => First::Lines(Lines::open(Path::new("-"))?),
        };
        let mut rest = Vec::new();
        for source in sources {
            let values = match source {
                Source::Args(values) => values,
                Source::File(path) => read_all(&path)?,
                Source::Stdin => read_all(Path::new("-"))?,
            };
            rest.push(values);
        }
        let combinations = rest
            .iter()
            .try_fold(1u64, |n, values| n.checked_mul(values.len() as u64));
        let total = match &first {
            First::Values(values) => combinations.and_then(|c| c.checked_mul(values.len() as u64)),
            First::Lines(_) => None,
        };
        let empty_rest = rest.iter().any(Vec::is_empty);
        Ok(Inputs {
            first,
            odometer: vec![0; rest.len()],
            rest,
            total: if empty_rest { Some(0) } else { total },
            current: None,
            done: empty_rest,
        })
    }

    /// The number of jobs, when known without reading further: `None` while the first source
    /// is a file or stdin.
    pub fn total(&self) -> Option<u64> {
        self.total
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
        if self.current.is_none() {
            match self.next_first() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(err));
                }
                Some(Ok(value)) => {
                    self.current = Some(value);
                    self.odometer.fill(0);
                }
            }
        }
        let mut job = Vec::with_capacity(self.rest.len() + 1);
        job.push(self.current.clone().expect("set above"));
        for (values, &at) in self.rest.iter().zip(&self.odometer) {
            job.push(values[at].clone());
        }
        // Advance the odometer, last source fastest; when it wraps, the next first value.
        let mut wrapped = true;
        for (at, values) in self.odometer.iter_mut().zip(&self.rest).rev() {
            *at += 1;
            if *at < values.len() {
                wrapped = false;
                break;
            }
            *at = 0;
        }
        if wrapped {
            self.current = None;
        }
        Some(Ok(job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;

    fn args(values: &[&str]) -> Source {
        Source::Args(values.iter().map(OsString::from).collect())
    }

    fn all(inputs: Inputs) -> Vec<Vec<String>> {
        inputs
            .map(|job| {
                job.unwrap()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_first_source_varies_slowest() {
        let inputs = Inputs::open(vec![args(&["a", "b"]), args(&["1", "2", "3"])]).unwrap();
        assert_eq!(inputs.total(), Some(6));
        let jobs = all(inputs);
        let flat: Vec<String> = jobs.iter().map(|j| j.join("")).collect();
        assert_eq!(flat, ["a1", "a2", "a3", "b1", "b2", "b3"]);
    }

    #[test]
    fn three_sources() {
        let inputs = Inputs::open(vec![
            args(&["a", "b"]),
            args(&["1", "2"]),
            args(&["x", "y"]),
        ])
        .unwrap();
        let flat: Vec<String> = all(inputs).iter().map(|j| j.join("")).collect();
        assert_eq!(
            flat,
            ["a1x", "a1y", "a2x", "a2y", "b1x", "b1y", "b2x", "b2y"]
        );
    }

    #[test]
    fn empty_sources_give_no_jobs() {
        assert!(all(Inputs::open(vec![args(&[])]).unwrap()).is_empty());
        let inputs = Inputs::open(vec![args(&["a"]), args(&[])]).unwrap();
        assert_eq!(inputs.total(), Some(0));
        assert!(all(inputs).is_empty());
    }

    #[test]
    fn file_lines_keep_cr_empty_lines_and_a_last_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let mut raw = b"one\r\n\nthr\xffee".to_vec();
        raw.extend_from_slice(b"\nlast");
        fs_write(&path, &raw);
        let inputs = Inputs::open(vec![Source::File(path)]).unwrap();
        assert_eq!(inputs.total(), None);
        let values: Vec<Vec<u8>> = inputs
            .map(|job| job.unwrap()[0].as_bytes().to_vec())
            .collect();
        assert_eq!(
            values,
            [
                b"one\r".to_vec(),
                b"".to_vec(),
                b"thr\xffee".to_vec(),
                b"last".to_vec()
            ]
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Inputs::open(vec![Source::File("/no/such/inputs.txt".into())])
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("/no/such/inputs.txt"), "{text}");
        assert!(text.contains("No such file"), "{text}");
    }

    #[test]
    fn stdin_is_one_source_at_most() {
        let err = Inputs::open(vec![Source::Stdin, Source::File("-".into())])
            .err()
            .unwrap();
        assert!(err.to_string().contains("one input source"));
    }

    #[test]
    fn the_first_source_streams() {
        // A file is read lazily: the first job comes before the rest is even written.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            let mut fifo = File::options().write(true).open(writer_path).unwrap();
            fifo.write_all(b"first\n").unwrap();
            fifo.flush().unwrap();
            // Stays open until the reader has seen the first line.
            std::thread::sleep(std::time::Duration::from_millis(200));
            for i in 0..100_000 {
                writeln!(fifo, "{i}").unwrap();
            }
        });
        let mut inputs = Inputs::open(vec![Source::File(path)]).unwrap();
        let first = inputs.next().unwrap().unwrap();
        assert_eq!(first[0], "first");
        assert!(
            !writer.is_finished(),
            "the first job came before the input ended"
        );
        assert_eq!(inputs.count(), 100_000);
        writer.join().unwrap();
    }

    fn fs_write(path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
    }
}
