//! What the `brake` command's tests share: starting the binary under test, in a pseudo-terminal
//! or without one, and reading a joblog. Each test target says `mod support;` (the torture
//! suite through `#[path]`).
//!
//! The joblog reader here is the tests' own, written from the format (GNU parallel's columns)
//! and not from the crate's parser: a run checked with the code that wrote its log could not
//! catch that code's mistakes.
#![allow(dead_code)] // each test target uses its own subset

pub mod sshd;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brake_testkit::{marked_processes, Session, MARKER_VAR};

/// Presses Ctrl-C in `session` (again, up to three times, only if the run is still going 30 s
/// later) and checks what one press must do: the run ends after exactly that press, with 130,
/// and leaves no process. Returns how it ended, for the test's own checks.
pub fn one_press_stops(session: Session, limit: Duration) -> brake_testkit::Finished {
    let finished = session
        .press_until_exit(Duration::from_secs(30), 3, limit)
        .unwrap();
    let output = &finished.output;
    assert_eq!(finished.presses, 1, "{output}");
    assert_eq!(
        finished.status,
        brake_testkit::Status::Exited(130),
        "{output}"
    );
    assert!(
        finished.survivors.is_empty(),
        "left: {:?}",
        finished.survivors
    );
    finished
}

/// Waits until `count` of the session's processes are `sleep 30`; fails the test, with the
/// session's output, if they are not after `limit`.
pub fn wait_for_sleeps(session: &Session, count: usize, limit: Duration) {
    let until = Instant::now() + limit;
    loop {
        let sleeping = marked_processes(session.marker())
            .iter()
            .filter(|p| p.cmdline == "sleep 30")
            .count();
        if sleeping >= count {
            return;
        }
        assert!(
            Instant::now() < until,
            "only {sleeping} of {count} jobs started: {}",
            session.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The binary under test.
pub const BRAKE: &str = env!("CARGO_BIN_EXE_brake");

/// How long [`run`] lets a run without a terminal take: none comes near it, and a hang then
/// fails its test instead of blocking the suite.
pub const RUN_LIMIT: Duration = Duration::from_secs(20);

/// `brake ARGS`, for a pseudo-terminal (`Session::spawn`).
pub fn brake<I, S>(args: I) -> brake_testkit::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    brake_testkit::Command::new(BRAKE).args(args)
}

/// `brake ARGS` started in a pseudo-terminal, in the test's own directory.
pub fn start<I, S>(args: I) -> Session
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Session::spawn(brake(args)).expect("start brake")
}

/// `brake ARGS` started in a pseudo-terminal, in `dir`.
pub fn start_in<I, S>(dir: &Path, args: I) -> Session
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Session::spawn(brake(args).cwd(dir)).expect("start brake")
}

/// `brake ARGS` as a process without a terminal, for a test to add to (a directory, stdin, a
/// limit set before exec) and run itself or give to [`finish`].
pub fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(BRAKE);
    command.args(args);
    command
}

/// Runs `brake ARGS` to its end in a temporary directory of its own; see [`run_in`].
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args)
}

/// Runs `brake ARGS` to its end in `dir`, without a terminal: stdin is `/dev/null`, stdout and
/// stderr are collected, and a run still going after [`RUN_LIMIT`] is killed.
pub fn run_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let token = format!(
        "brake-cli-run-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    let mut command = command(args);
    command.current_dir(dir);
    finish(&mut command, &token, None, RUN_LIMIT).0
}

/// What feeds a run's stdin, on a thread of its own, while it runs.
pub type Feed = Box<dyn FnOnce(ChildStdin) + Send>;

/// Runs `command` to its end, its processes marked with `token` (see `MARKER_VAR`), and
/// returns its output and how many of its processes outlived it.
///
/// stdin is given to `feed`, or else is `/dev/null`; stdout and stderr are read on threads of
/// their own, so that a full pipe never stalls the run. A run still going after `limit` is
/// SIGKILLed. Marked processes still alive once it has ended are SIGKILLed before its output
/// is read to the end, since they may hold its pipes open.
pub fn finish(
    command: &mut Command,
    token: &str,
    feed: Option<Feed>,
    limit: Duration,
) -> (Output, usize) {
    command
        .env(MARKER_VAR, token)
        .stdin(if feed.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start brake");
    let feeder = feed.map(|feed| {
        let stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || feed(stdin))
    });
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(feeder) = feeder {
        feeder.join().unwrap();
    }
    let left = marked_processes(token);
    for survivor in &left {
        // SAFETY: kill(2) takes plain integers; the pid was alive and marked a moment ago.
        unsafe {
            libc::kill(survivor.pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (output, left.len())
}

fn reader(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// A joblog's first line.
pub const JOBLOG_HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// One whole job line of a joblog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLine {
    /// Column 1, the job's number.
    pub seq: u64,
    /// Column 2, `:` for this machine.
    pub host: String,
    /// Column 7, the exit status (-1 when a signal ended the job).
    pub exitval: i32,
    /// Column 8, the signal that ended the job, or 0.
    pub signal: i32,
    /// The line as written, without its newline.
    pub text: String,
}

/// A joblog as a run left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joblog {
    /// Whether the file holds a whole first line (which is then the header).
    pub header: bool,
    /// The whole lines after the header, in order.
    pub jobs: Vec<JobLine>,
    /// What follows the last newline, if anything: a line cut short.
    pub torn: Option<String>,
}

impl Joblog {
    /// The job numbers, each once: a job with two lines is an error.
    pub fn seqs(&self) -> Result<BTreeSet<u64>, String> {
        let mut seqs = BTreeSet::new();
        for job in &self.jobs {
            if !seqs.insert(job.seq) {
                return Err(format!("job {} has two joblog lines", job.seq));
            }
        }
        Ok(seqs)
    }
}

/// Reads the joblog at `path`, `None` when there is no such file. A whole first line must be
/// the header, and every whole line after it nine tab-separated columns: a job number, the
/// host, four more, the exit status and the signal as plain integers (`0`, not `00` or `+0`),
/// and the command. Anything else is an error naming the line.
pub fn read_joblog(path: &Path) -> Result<Option<Joblog>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let text = String::from_utf8(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let (whole, torn) = match text.rfind('\n') {
        Some(end) => text.split_at(end + 1),
        None => ("", text.as_str()),
    };
    let mut log = Joblog {
        torn: (!torn.is_empty()).then(|| torn.to_owned()),
        ..Joblog::default()
    };
    for (i, line) in whole.split_terminator('\n').enumerate() {
        if i == 0 {
            if line != JOBLOG_HEADER {
                return Err(format!("joblog header: {line:?}"));
            }
            log.header = true;
            continue;
        }
        let bad = || format!("joblog line {}: {line:?}", i + 1);
        let columns: Vec<&str> = line.split('\t').collect();
        if columns.len() != 9 {
            return Err(bad());
        }
        log.jobs.push(JobLine {
            seq: integer(columns[0]).ok_or_else(bad)?,
            host: columns[1].to_owned(),
            exitval: integer(columns[6]).ok_or_else(bad)?,
            signal: integer(columns[7]).ok_or_else(bad)?,
            text: line.to_owned(),
        });
    }
    Ok(Some(log))
}

/// An integer written the plain way: what it parses to prints back as the same text.
fn integer<T: std::str::FromStr + ToString>(text: &str) -> Option<T> {
    text.parse::<T>().ok().filter(|n| n.to_string() == text)
}
