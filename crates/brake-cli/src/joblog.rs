//! The joblog: one line per finished job in GNU parallel's column format (so its tools, and
//! people used to them, read ours), appended as each job ends, and read back to resume.
//!
//! The columns, tab-separated, after a header line naming them: `Seq`, `Host` (`:`, the local
//! machine), `Starttime` (Unix seconds, `%10.3f`), `JobRuntime` (seconds, `%10.3f`), `Send`,
//! `Receive`, `Exitval`, `Signal`, `Command`.
//!
//! Each line goes out in one `write(2)` on a file opened `O_APPEND`, with no buffer in
//! between: a runner killed at any moment leaves every earlier line whole, and at worst one
//! torn last line, which the next `--resume` reports and cuts off before appending.
//!
//! # Where a joblog may be
//!
//! In a directory only you (and root) can write to, the path is opened as any program would,
//! a symbolic link you made included. In a directory other users can write into (world-writable,
//! like `/tmp`, sticky or not, or owned by another user), brake refuses a joblog that is a
//! symbolic link, belongs to another user, or has other hard links, and follows no symbolic
//! link on the way to it: another user could have planted one there before the run, to make
//! brake append to (or, with a fresh log, truncate) a file of yours, or read theirs as your
//! log. A missing file is created there as usual. The checks are made on what was opened (the
//! path walked one directory at a time with `O_NOFOLLOW` where others can write, then `fstat`
//! of the open descriptor), so nothing can be swapped in between a check and its use.
//! Anywhere, a joblog must be a regular file: a FIFO would hang the resume's read. The one
//! exception is `-`, stdout, as in GNU parallel: each line goes out whole in one write, and a
//! resume from it is refused.
//!
//! The Command column is kept to one line and free of control characters, escaped as every
//! message about an input is (`escape.rs`): `\` is written `\\`, tab, newline and carriage
//! return `\t`, `\n` and `\r`, other controls `\xHH`. A command that is not UTF-8 is written
//! lossily (U+FFFD for the bad bytes); commands are compared in that escaped, lossy form, so a
//! resume still matches.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode as Permissions, OFlags};
use rustix::io::Errno;

use crate::escape::{cut, escape, escape_into};

/// The header line, as GNU parallel writes it.
const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// One finished job.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its number (`{#}`).
    pub seq: u64,
    /// Where it ran: `:` for this machine, else its sshlogin (`-S`).
    pub host: String,
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
    pub command: OsString,
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
    /// `None` for `--joblog -`: the lines go to stdout.
    file: Option<File>,
    path: PathBuf,
    /// Reused for every line, so recording allocates nothing once it has grown.
    line: String,
    /// A torn last line to cut off before the first new line: not at open, so a run refused
    /// after reading the log (a different command line, say) leaves the file as it was.
    cut_to: Option<u64>,
}

/// What one job's lines in an earlier run recorded.
#[derive(Debug)]
struct Logged {
    /// The command of its latest line, as written (escaped).
    command: String,
    /// Whether any of its lines succeeded.
    succeeded: bool,
}

/// What an earlier run recorded.
#[derive(Debug)]
pub struct Previous {
    path: PathBuf,
    mode: Mode,
    jobs: HashMap<u64, Logged>,
    lines: usize,
    succeeded: usize,
    lowest: Option<u64>,
    highest: Option<u64>,
    torn: Option<String>,
}

impl Joblog {
    /// Opens the log at `path` in `mode` (`-` is stdout, for a fresh log only). `Fresh`
    /// creates or truncates it and writes the header; the resume modes read it (a missing or empty file is a new log), tolerate a
    /// torn last line (reported by [`Previous::torn`] and cut off before the first new line),
    /// and refuse a file that is not a joblog or has a bad line before its last.
    pub fn open(path: &Path, mode: Mode) -> Result<(Joblog, Previous), JoblogError> {
        if path.as_os_str() == "-" {
            return Joblog::to_stdout(mode);
        }
        let io_error = |what: &str, err: io::Error| {
            JoblogError(format!(
                "cannot {what} the joblog {}: {err}",
                path.display()
            ))
        };
        let mut file = open_file(path)?;
        let mut previous = Previous::empty(path.to_owned(), mode);
        let keep = match mode {
            Mode::Fresh => 0,
            Mode::Resume | Mode::ResumeFailed => previous.read(&file)?,
        };
        let mut cut_to = None;
        if keep == 0 {
            file.set_len(0).map_err(|err| io_error("truncate", err))?;
            file.write_all(HEADER.as_bytes())
                .map_err(|err| io_error("write", err))?;
        } else {
            let length = file.metadata().map_err(|err| io_error("read", err))?.len();
            cut_to = (keep < length).then_some(keep);
        }
        Ok((
            Joblog {
                file: Some(file),
                path: path.to_owned(),
                line: String::with_capacity(256),
                cut_to,
            },
            previous,
        ))
    }

    /// `--joblog -`: the header, then each line, on stdout, as GNU parallel does. Nothing can
    /// be read back from there, so a resume is refused.
    fn to_stdout(mode: Mode) -> Result<(Joblog, Previous), JoblogError> {
        if mode != Mode::Fresh {
            return Err(JoblogError(
                "--joblog - writes the joblog to stdout, where a resume cannot read it back; \
                 give --joblog the file it was saved to"
                    .into(),
            ));
        }
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(HEADER.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|err| JoblogError(format!("cannot write the joblog to stdout: {err}")))?;
        let path = PathBuf::from("-");
        let previous = Previous::empty(path.clone(), mode);
        let joblog = Joblog {
            file: None,
            path,
            line: String::with_capacity(256),
            cut_to: None,
        };
        Ok((joblog, previous))
    }

    /// Whether the lines go to stdout (`--joblog -`).
    pub fn is_stdout(&self) -> bool {
        self.file.is_none()
    }

    /// Appends `entry` as one complete line, in one write.
    pub fn record(&mut self, entry: &Entry) -> io::Result<()> {
        self.cut_torn()?;
        self.line.clear();
        let start = entry
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // Writing to a String cannot fail.
        let _ = write!(
            self.line,
            "{}\t{}\t{:10.3}\t{:10.3}\t{}\t{}\t{}\t{}\t",
            entry.seq,
            entry.host.replace(['\t', '\n', '\r'], " "),
            start,
            entry.runtime.as_secs_f64(),
            entry.send,
            entry.receive,
            entry.exitval,
            entry.signal
        );
        escape_into(&mut self.line, &entry.command.to_string_lossy());
        self.line.push('\n');
        let Some(file) = &mut self.file else {
            // One call with the whole line: it is never split by a job's output.
            let mut stdout = io::stdout().lock();
            stdout.write_all(self.line.as_bytes())?;
            return stdout.flush();
        };
        let mut written = 0;
        while written < self.line.len() {
            match file.write(&self.line.as_bytes()[written..]) {
                Ok(0) => {
                    return self.unwrite(written, io::ErrorKind::WriteZero.into());
                }
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.unwrite(written, err),
            }
        }
        Ok(())
    }

    /// After a line failed part-way (a full disk or a file-size limit lets the first write
    /// through short, and the next fails), cuts off the `written` bytes that went out so the
    /// log ends with a whole line; returns `err`. The file's end is this line's end: brake is
    /// the log's only writer.
    fn unwrite(&mut self, written: usize, err: io::Error) -> io::Result<()> {
        if let Some(file) = self.file.as_ref().filter(|_| written > 0) {
            let cut = file
                .metadata()
                .and_then(|m| file.set_len(m.len().saturating_sub(written as u64)));
            if let Err(cut) = cut {
                return Err(io::Error::new(
                    err.kind(),
                    format!("{err}, and its last line is incomplete ({cut})"),
                ));
            }
        }
        Err(err)
    }

    /// Flushes the log to disk (at a stop and at the end of a run).
    pub fn sync(&mut self) -> io::Result<()> {
        self.cut_torn()?;
        match &self.file {
            Some(file) => file.sync_all(),
            None => io::stdout().flush(),
        }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cut_torn(&mut self) -> io::Result<()> {
        if let (Some(length), Some(file)) = (self.cut_to, &self.file) {
            file.set_len(length)?;
            self.cut_to = None;
        }
        Ok(())
    }
}

/// How the joblog's directory is opened: only to look at it and open a name in it.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIRECTORY: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIRECTORY: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// Opens, creating it if needed, the joblog at `path` for reading and appending, under the
/// rules of "Where a joblog may be" (module docs). Every decision is taken on what was opened.
fn open_file(path: &Path) -> Result<File, JoblogError> {
    let shown = path.display();
    let refuse = |why: String| JoblogError(format!("refusing the joblog {shown}: {why}"));
    let cannot = |err: Errno| {
        JoblogError(format!(
            "cannot open the joblog {shown}: {}",
            io::Error::from(err)
        ))
    };
    let Some(name) = path.file_name() else {
        return Err(refuse("it names a directory; give --joblog a file".into()));
    };
    let dir_path = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let me = rustix::process::geteuid().as_raw();
    let elsewhere = "give --joblog a path in a directory of your own";
    let (dir, shared) = open_dir(dir_path, me).map_err(|err| match err {
        DirError::Io(err) => cannot(err),
        DirError::Link(link, dir) => refuse(format!(
            "{} is a symbolic link in {}, a directory other users can write to, where brake \
             follows none (another user could have planted it to make brake write to a file \
             of yours); remove it, or {elsewhere}",
            link.display(),
            dir.display()
        )),
    })?;
    let where_ = format!(
        "it is in {}, a directory other users can write to",
        dir_path.display()
    );
    let mut flags = OFlags::RDWR | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC;
    // Opening a FIFO or a device must not block before it can be refused.
    flags |= OFlags::NONBLOCK;
    if shared {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = match rustix::fs::openat(&dir, name, flags, Permissions::from_raw_mode(0o666)) {
        Ok(fd) => fd,
        Err(Errno::LOOP) if shared => {
            return Err(refuse(format!(
                "it is a symbolic link and {where_}, where brake follows none (another user \
                 could have planted it to make brake write to a file of yours); remove it, or \
                 {elsewhere}"
            )))
        }
        // The kernel may refuse another user's file there itself (`protected_regular`); say
        // why in brake's words. The lookup only explains: the refusal is already made.
        Err(err) if shared => {
            return Err(
                match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) if stat.st_uid != me => refuse(format!(
                        "it belongs to another user (uid {}) and {where_}; remove it, or \
                         {elsewhere}",
                        stat.st_uid
                    )),
                    _ => cannot(err),
                },
            )
        }
        Err(err) => return Err(cannot(err)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(cannot)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(refuse(format!(
            "it is not a regular file but {}; give --joblog a file",
            match kind {
                FileType::Fifo => "a FIFO",
                FileType::Directory => "a directory",
                FileType::CharacterDevice | FileType::BlockDevice => "a device",
                FileType::Socket => "a socket",
                _ => "something else",
            }
        )));
    }
    if shared && stat.st_uid != me {
        return Err(refuse(format!(
            "it belongs to another user (uid {}) and {where_}; remove it, or {elsewhere}",
            stat.st_uid
        )));
    }
    if shared && stat.st_nlink > 1 {
        return Err(refuse(format!(
            "it has {} hard links and {where_} (another user could have linked a file of \
             yours there); remove it, or {elsewhere}",
            stat.st_nlink
        )));
    }
    Ok(File::from(fd))
}

/// Why the joblog's directory could not be opened.
enum DirError {
    Io(Errno),
    /// This component is a symbolic link in that directory, which is shared.
    Link(PathBuf, PathBuf),
}

/// Opens `dir_path` one component at a time, so that no symbolic link is followed out of a
/// directory other users can write to (a planted `/tmp/run` → `~/.config` would otherwise
/// take the joblog into a directory of yours); whether the directory reached is itself such a
/// directory comes with it. Links in directories only you can write to are followed.
fn open_dir(dir_path: &Path, me: u32) -> Result<(OwnedFd, bool), DirError> {
    let start = if dir_path.is_absolute() { "/" } else { "." };
    let mut dir = rustix::fs::open(start, DIRECTORY, Permissions::empty()).map_err(DirError::Io)?;
    let mut shared = is_shared(&dir, me)?;
    let mut walked = PathBuf::from(start);
    for component in dir_path.components() {
        let name = match component {
            Component::Normal(name) => name,
            Component::ParentDir => OsStr::new(".."),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
        };
        let flags = if shared {
            DIRECTORY | OFlags::NOFOLLOW
        } else {
            DIRECTORY
        };
        let next = match rustix::fs::openat(&dir, name, flags, Permissions::empty()) {
            Ok(next) => next,
            Err(err) => {
                let link = shared
                    && rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(
                        |stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink,
                    );
                return Err(if link {
                    DirError::Link(walked.join(name), walked)
                } else {
                    DirError::Io(err)
                });
            }
        };
        walked.push(name);
        // O_PATH with O_NOFOLLOW opens a link itself rather than failing: refuse it too.
        let stat = rustix::fs::fstat(&next).map_err(DirError::Io)?;
        if shared && FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            let dir_walked = walked.parent().map(Path::to_path_buf).unwrap_or_default();
            return Err(DirError::Link(walked, dir_walked));
        }
        shared = is_shared(&next, me)?;
        dir = next;
    }
    Ok((dir, shared))
}

/// Whether other users can write into `dir`: it is world-writable, or another user's (root
/// excepted). A group-writable directory is trusted like its group.
fn is_shared(dir: &OwnedFd, me: u32) -> Result<bool, DirError> {
    let stat = rustix::fs::fstat(dir).map_err(DirError::Io)?;
    Ok(stat.st_mode & 0o002 != 0 || (stat.st_uid != me && stat.st_uid != 0))
}

impl Previous {
    /// What a log holds before it is read: nothing.
    fn empty(path: PathBuf, mode: Mode) -> Previous {
        Previous {
            path,
            mode,
            jobs: HashMap::new(),
            lines: 0,
            succeeded: 0,
            lowest: None,
            highest: None,
            torn: None,
        }
    }

    /// Reads the log; returns how many bytes of it to keep (0: write a new header).
    fn read(&mut self, file: &File) -> Result<u64, JoblogError> {
        let name = self.path.display().to_string();
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut line = Vec::new();
        let mut kept: u64 = 0;
        let mut number = 0usize;
        // A bad line is an error unless it turns out to be the last.
        let mut bad: Option<usize> = None;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|err| JoblogError(format!("cannot read the joblog {name}: {err}")))?;
            if n == 0 {
                break;
            }
            number += 1;
            if let Some(bad) = bad {
                return Err(JoblogError(format!(
                    "line {bad} of the joblog {name} is not a job line (nine tab-separated \
                     columns, Seq to Command); fix or remove that line, or delete the file to \
                     start over"
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
                    "{name} is not a joblog (its first line is not the \
                     Seq/Host/Starttime/… header); give --joblog another file"
                )));
            }
            match line.strip_suffix(b"\n").and_then(parse) {
                Some((seq, succeeded, command)) => {
                    self.add(seq, succeeded, command);
                    kept += n as u64;
                }
                None => bad = Some(number),
            }
        }
        if let Some(bad) = bad {
            self.torn = Some(format!(
                "the last line ({bad}) of the joblog {name} was incomplete (the previous run was \
                 killed while writing it) and is removed; its job will run again"
            ));
        }
        Ok(kept)
    }

    fn add(&mut self, seq: u64, succeeded: bool, command: String) {
        self.lines += 1;
        self.lowest = Some(self.lowest.map_or(seq, |lowest| lowest.min(seq)));
        self.highest = Some(self.highest.map_or(seq, |highest| highest.max(seq)));
        let job = self.jobs.entry(seq).or_insert(Logged {
            command: String::new(),
            succeeded: false,
        });
        job.command = command;
        if succeeded && !job.succeeded {
            job.succeeded = true;
            self.succeeded += 1;
        }
    }

    /// Whether job `seq` is skipped: with `--resume` when it has a line, with
    /// `--resume-failed` when one of its lines succeeded (Exitval 0 and Signal 0); never in a
    /// fresh log.
    pub fn skip(&self, seq: u64) -> bool {
        match (self.mode, self.jobs.get(&seq)) {
            (Mode::Resume, Some(_)) => true,
            (Mode::ResumeFailed, Some(job)) => job.succeeded,
            _ => false,
        }
    }

    /// Whether job `seq` has a line that succeeded: a job `--resume` skips without one failed
    /// in an earlier run, and is not done.
    pub fn succeeded_before(&self, seq: u64) -> bool {
        self.jobs.get(&seq).is_some_and(|job| job.succeeded)
    }

    /// Checks that job `seq` runs the command the log recorded for it (its latest line),
    /// comparing escaped forms. Ok when the job has no line.
    pub fn check(&self, seq: u64, command: &OsStr) -> Result<(), JoblogError> {
        let Some(job) = self.jobs.get(&seq) else {
            return Ok(());
        };
        let ours = escape(command);
        if job.command == ours {
            return Ok(());
        }
        Err(JoblogError(format!(
            "{} was written by a different command line: its job {seq} ran `{}`, this run's \
             job {seq} is `{}`; use another --joblog file, or delete it to start over",
            self.path.display(),
            cut(&job.command, 60),
            cut(&ours, 60)
        )))
    }

    /// The highest job number with a line (commands can be checked up to it before starting).
    #[cfg(test)]
    pub fn max_seq(&self) -> Option<u64> {
        self.highest
    }

    /// The lowest job number with a line.
    pub fn lowest_seq(&self) -> Option<u64> {
        self.lowest
    }

    /// Job lines read (a torn last line is not counted).
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Jobs with a successful line (a job logged several times counts once).
    pub fn succeeded(&self) -> usize {
        self.succeeded
    }

    /// What was wrong with the last line, if it was torn (a warning for the user).
    pub fn torn(&self) -> Option<&str> {
        self.torn.as_deref()
    }
}

/// Parses a job line (without its `\n`): its number, whether it succeeded, and its command as
/// written. The numbers must parse; the command is taken lossily, since GNU parallel writes
/// commands as raw bytes.
fn parse(line: &[u8]) -> Option<(u64, bool, String)> {
    let mut columns = line.splitn(9, |&b| b == b'\t');
    let mut next = || columns.next();
    let seq: u64 = number(next()?)?;
    next()?; // Host
    let _start: f64 = number(next()?)?;
    let _runtime: f64 = number(next()?)?;
    let _send: u64 = number(next()?)?;
    let _receive: u64 = number(next()?)?;
    let exitval: i32 = number(next()?)?;
    let signal: i32 = number(next()?)?;
    let command = String::from_utf8_lossy(next()?).into_owned();
    Some((seq, exitval == 0 && signal == 0, command))
}

/// A number column, padding allowed (`%10.3f` pads with spaces).
fn number<T: std::str::FromStr>(column: &[u8]) -> Option<T> {
    std::str::from_utf8(column).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests;
