//! The joblog: one line per finished job in GNU parallel's column format (so its tools, and
//! people used to them, read ours), appended as each job ends, and read back to resume.
//!
//! Each line goes out in one `write(2)` on a file opened `O_APPEND`, with no buffer in
//! between: a runner killed at any moment leaves every earlier line whole, and at worst one
//! torn last line, which the next `--resume` reports and cuts off before appending.
//!
//! The Command column is kept to one line: `\` is written `\\`, and tab, newline and carriage
//! return `\t`, `\n` and `\r`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The header line, as GNU parallel writes it.
const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// One finished job.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its number (`{#}`).
    pub seq: u64,
    /// When it started.
    pub start: SystemTime,
    /// How long it ran.
    pub runtime: Duration,
    /// Bytes sent to its stdin.
    pub send: u64,
    /// Bytes read from its stdout.
    pub receive: u64,
    /// Its exit code (-1 when a signal ended it).
    pub exitval: i32,
    /// The signal that ended it (0 when none).
    pub signal: i32,
    /// Its command line.
    pub command: std::ffi::OsString,
}

/// How a joblog is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Start a new log (an old one is replaced).
    Fresh,
    /// Keep the log; jobs with a line are skipped.
    Resume,
    /// Keep the log; jobs with a successful line are skipped.
    ResumeFailed,
}

/// A joblog that cannot be used. Its message is one line naming the file.
#[derive(Debug)]
pub struct JoblogError(String);

impl fmt::Display for JoblogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JoblogError {}

/// An open joblog, appending.
pub struct Joblog {
    file: File,
    path: PathBuf,
    line: String,
    /// A torn last line to cut off before the first new line: not at open, so a run refused
    /// after reading the log leaves the file as it was.
    cut_to: Option<u64>,
}

/// What an earlier run recorded.
#[derive(Debug, Default)]
pub struct Previous {
    path: PathBuf,
    mode: Option<Mode>,
    /// Per job: its latest command (escaped) and whether any of its lines succeeded.
    jobs: HashMap<u64, (String, bool)>,
    lines: usize,
    torn: Option<String>,
}

impl Joblog {
    /// Opens the log at `path` in `mode`. `Fresh` truncates it and writes the header; the
    /// resume modes read it (a missing or empty file is a new log), tolerate a torn last line
    /// (reported by [`Previous::torn`] and cut off), and refuse a file that is not a joblog or
    /// has a bad line before its last.
    pub fn open(path: &Path, mode: Mode) -> Result<(Joblog, Previous), JoblogError> {
        let io_error = |what: &str, err: io::Error| {
            JoblogError(format!(
                "cannot {what} the joblog {}: {err}",
                path.display()
            ))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|err| io_error("open", err))?;
        let mut previous = Previous {
            path: path.to_owned(),
            mode: Some(mode),
            ..Previous::default()
        };
        let keep = match mode {
            Mode::Fresh => 0,
            Mode::Resume | Mode::ResumeFailed => previous.read(&file)?,
        };
        let length = file.metadata().map_err(|err| io_error("read", err))?.len();
        let mut cut_to = (keep < length).then_some(keep);
        if keep == 0 {
            file.set_len(0).map_err(|err| io_error("truncate", err))?;
            file.write_all(HEADER.as_bytes())
                .map_err(|err| io_error("write", err))?;
            cut_to = None;
        }
        Ok((
            Joblog {
                file,
                path: path.to_owned(),
                line: String::with_capacity(256),
                cut_to,
            },
            previous,
        ))
    }

    /// Appends `entry` as one complete line, in one write.
    pub fn record(&mut self, entry: &Entry) -> io::Result<()> {
        if let Some(length) = self.cut_to {
            self.file.set_len(length)?;
            self.cut_to = None;
        }
        self.line.clear();
        let start = entry
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let _ = write!(
            self.line,
            "{}\t:\t{:10.3}\t{:10.3}\t{}\t{}\t{}\t{}\t",
            entry.seq,
            start,
            entry.runtime.as_secs_f64(),
            entry.send,
            entry.receive,
            entry.exitval,
            entry.signal
        );
        escape_into(&mut self.line, &entry.command.to_string_lossy());
        self.line.push('\n');
        self.file.write_all(self.line.as_bytes())
    }

    /// Flushes the log to disk (at a stop and at the end of a run).
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(length) = self.cut_to.take() {
            self.file.set_len(length)?;
        }
        self.file.sync_all()
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Previous {
    /// Reads the log; returns how many bytes of it to keep (0: write a new header).
    fn read(&mut self, file: &File) -> Result<u64, JoblogError> {
        let name = self.path.display().to_string();
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut kept: u64 = 0;
        let mut number = 0usize;
        // A bad line is an error unless it turns out to be the last.
        let mut pending_bad: Option<(usize, u64)> = None;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|err| JoblogError(format!("cannot read the joblog {name}: {err}")))?;
            if n == 0 {
                break;
            }
            number += 1;
            if let Some((bad, _)) = pending_bad {
                return Err(JoblogError(format!(
                    "the joblog {name} has a bad line {bad}; fix or delete the file"
                )));
            }
            let complete = line.last() == Some(&b'\n');
            if number == 1 {
                if complete && line == HEADER.as_bytes() {
                    kept = n as u64;
                    continue;
                }
                if !complete && HEADER.as_bytes().starts_with(&line) {
                    return Ok(0); // a header torn by a kill: nothing was recorded
                }
                return Err(JoblogError(format!(
                    "{name} is not a joblog (its first line is not the Seq/Host/Starttime/… \
                     header); give --joblog another file"
                )));
            }
            match complete.then(|| parse(&line)).flatten() {
                Some((seq, succeeded, command)) => {
                    let entry = self.jobs.entry(seq).or_insert((String::new(), false));
                    entry.0 = command;
                    entry.1 |= succeeded;
                    self.lines += 1;
                    kept += n as u64;
                }
                None => pending_bad = Some((number, kept)),
            }
        }
        if let Some((bad, _)) = pending_bad {
            self.torn = Some(format!(
                "the last line ({bad}) of the joblog {name} was incomplete (an earlier run was \
                 killed while writing it); it is dropped, and its job will run again"
            ));
        }
        Ok(kept)
    }

    /// Whether job `seq` is skipped: with `--resume` when it has a line, with
    /// `--resume-failed` when one of its lines succeeded.
    pub fn skip(&self, seq: u64) -> bool {
        match (self.mode, self.jobs.get(&seq)) {
            (Some(Mode::Resume), Some(_)) => true,
            (Some(Mode::ResumeFailed), Some((_, succeeded))) => *succeeded,
            _ => false,
        }
    }

    /// Checks that job `seq` runs the command the log recorded for it (its latest line).
    pub fn check(&self, seq: u64, command: &OsStr) -> Result<(), JoblogError> {
        let Some((logged, _)) = self.jobs.get(&seq) else {
            return Ok(());
        };
        let mut ours = String::new();
        escape_into(&mut ours, &command.to_string_lossy());
        if *logged == ours {
            return Ok(());
        }
        Err(JoblogError(format!(
            "{} was written by a different command line: its job {seq} ran `{}`, this run's \
             job {seq} is `{}`; use another --joblog file, or delete it to start over",
            self.path.display(),
            shorten(logged),
            shorten(&ours)
        )))
    }

    /// The lowest job number with a line.
    pub fn lowest_seq(&self) -> Option<u64> {
        self.jobs.keys().min().copied()
    }

    /// Job lines read.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Jobs with a successful line.
    pub fn succeeded(&self) -> usize {
        self.jobs.values().filter(|(_, ok)| *ok).count()
    }

    /// What was wrong with the last line, if it was torn (a warning for the user).
    pub fn torn(&self) -> Option<&str> {
        self.torn.as_deref()
    }
}

/// Parses a job line: its number, whether it succeeded, and its command (as written).
fn parse(line: &[u8]) -> Option<(u64, bool, String)> {
    let text = std::str::from_utf8(line).ok()?.strip_suffix('\n')?;
    let columns: Vec<&str> = text.splitn(9, '\t').collect();
    let [seq, _host, start, runtime, _send, _receive, exitval, signal, command] = columns[..]
    else {
        return None;
    };
    let seq: u64 = seq.parse().ok()?;
    start.trim().parse::<f64>().ok()?;
    runtime.trim().parse::<f64>().ok()?;
    let exitval: i32 = exitval.parse().ok()?;
    let signal: i32 = signal.parse().ok()?;
    Some((seq, exitval == 0 && signal == 0, command.to_owned()))
}

fn escape_into(out: &mut String, command: &str) {
    for c in command.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::ffi::OsString;

    fn entry(seq: u64, exitval: i32, command: &str) -> Entry {
        Entry {
            seq,
            start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            runtime: Duration::from_millis(2_500),
            send: 0,
            receive: 6,
            exitval,
            signal: 0,
            command: OsString::from(command),
        }
    }

    #[test]
    fn lines_have_gnu_parallels_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let (mut log, _) = Joblog::open(&path, Mode::Fresh).unwrap();
        log.record(&entry(1, 0, "echo a")).unwrap();
        log.record(&entry(2, 3, "printf 'x\ty\n'\\")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}1\t:\t1700000000.123\t     2.500\t0\t6\t0\t0\techo a\n\
                 2\t:\t1700000000.123\t     2.500\t0\t6\t3\t0\tprintf 'x\\ty\\n'\\\\\n"
            )
        );
    }

    #[test]
    fn resume_skips_logged_jobs_and_resume_failed_only_successes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let (mut log, _) = Joblog::open(&path, Mode::Fresh).unwrap();
        log.record(&entry(1, 0, "a")).unwrap();
        log.record(&entry(3, 1, "c")).unwrap();
        drop(log);
        let (mut log, previous) = Joblog::open(&path, Mode::Resume).unwrap();
        assert!(previous.skip(1) && previous.skip(3) && !previous.skip(2));
        assert_eq!((previous.lines(), previous.succeeded()), (2, 1));
        assert_eq!(previous.lowest_seq(), Some(1));
        log.record(&entry(2, 0, "b")).unwrap();
        drop(log);
        let (_, previous) = Joblog::open(&path, Mode::ResumeFailed).unwrap();
        assert!(previous.skip(1) && previous.skip(2) && !previous.skip(3));
        let (_, fresh) = Joblog::open(&path, Mode::Fresh).unwrap();
        assert!(!fresh.skip(1));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn a_missing_log_is_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.log");
        let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
        assert_eq!(previous.lines(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), HEADER);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let (mut log, _) = Joblog::open(&path, Mode::Fresh).unwrap();
        log.record(&entry(1, 0, "a")).unwrap();
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2\t:\t1700000000.1").unwrap();
        drop(file);
        let (mut log, previous) = Joblog::open(&path, Mode::Resume).unwrap();
        assert!(previous.torn().unwrap().contains("incomplete"));
        assert!(!previous.skip(2));
        log.record(&entry(2, 0, "b")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with("\tb\n"));
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        std::fs::write(
            &path,
            format!("{HEADER}garbage\n1\t:\t1.0\t1.0\t0\t0\t0\t0\ta\n"),
        )
        .unwrap();
        let err = Joblog::open(&path, Mode::Resume).err().unwrap();
        assert!(err.to_string().contains("bad line 2"), "{err}");
    }

    #[test]
    fn other_files_are_not_joblogs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "my notes\n").unwrap();
        let err = Joblog::open(&path, Mode::Resume).err().unwrap();
        assert!(err.to_string().contains("is not a joblog"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes\n");
    }

    #[test]
    fn a_different_command_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let (mut log, _) = Joblog::open(&path, Mode::Fresh).unwrap();
        log.record(&entry(3, 0, "echo b")).unwrap();
        drop(log);
        let (_, previous) = Joblog::open(&path, Mode::Resume).unwrap();
        assert!(previous.check(3, OsStr::new("echo b")).is_ok());
        assert!(previous.check(4, OsStr::new("anything")).is_ok());
        let err = previous
            .check(3, OsStr::new("echo c"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("different command line"), "{err}");
        assert!(
            err.contains("`echo b`") && err.contains("`echo c`"),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_bytes_after_the_header_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("run.log");
            let mut content = HEADER.as_bytes().to_vec();
            content.extend_from_slice(&bytes);
            std::fs::write(&path, &content).unwrap();
            let _ = Joblog::open(&path, Mode::Resume);
        }
    }
}
