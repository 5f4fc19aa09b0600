//! One run of one command line: a fresh folder at a fixed path, a scrubbed environment that
//! names no one but the sandbox, `bash -c LINE` in a process group of its own, killed at the
//! time limit, and what the run leaves: stdout, stderr, its status and the folder's files.
//!
//! The same sandbox serves both runs of a line, one after the other, so that both see the same
//! paths (`pwd`, `$HOME`, `$TMPDIR`) and only the program behind `parallel` changes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brake_testkit::{marked_processes, MARKER_VAR};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `bash` exited with this status.
    Exited(i32),
    /// A signal ended `bash`.
    Signalled(i32),
    /// Still running at the time limit: its process group was killed.
    TimedOut,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit {code}"),
            Status::Signalled(signal) => write!(f, "signal {signal}"),
            Status::TimedOut => f.write_str("timed out"),
        }
    }
}

/// One entry of the folder a run leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file and its contents (a joblog's clock columns blanked, see [`normalise`]).
    File(Vec<u8>),
    /// A directory.
    Dir,
    /// A symbolic link and its target.
    Link(PathBuf),
    /// A fifo, socket or device.
    Special,
}

/// What one run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Status,
    /// The run's folder afterwards, by path relative to it.
    pub files: BTreeMap<String, Node>,
    pub elapsed: Duration,
}

/// A run's fixed place: `ROOT/work` (the current directory), `ROOT/home` (`$HOME`, with
/// `.parallel/will-cite`), `ROOT/tmp` (`$TMPDIR`) and `ROOT/bin` (first on `$PATH`, holding
/// `parallel`).
pub struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    pub fn new(root: PathBuf) -> Sandbox {
        Sandbox { root }
    }

    /// Runs `line` with `parallel` meaning `program`; `token` marks the run's processes so that
    /// any left running afterwards can be found and killed.
    pub fn run(&self, program: &Path, line: &str, token: &str, limit: Duration) -> Outcome {
        self.reset(program);
        let work = self.root.join("work");
        let mut command = Command::new("/bin/bash");
        command
            .arg("-c")
            .arg(line)
            .current_dir(&work)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    self.root.join("bin").display()
                ),
            )
            .env("HOME", self.root.join("home"))
            .env("TMPDIR", self.root.join("tmp"))
            .env("SHELL", "/bin/bash")
            .env("LC_ALL", "C")
            .env("USER", "differential")
            .env("LOGNAME", "differential")
            .env(MARKER_VAR, token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let mut child = command.spawn().expect("start bash");
        let group = child.id() as libc::pid_t;
        let stdout = reader(child.stdout.take().unwrap());
        let stderr = reader(child.stderr.take().unwrap());
        let timed_out = loop {
            if exited(group) {
                break false;
            }
            if started.elapsed() > limit {
                break true;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = started.elapsed();
        // bash is a zombie or still running, so its process group's id is not reused yet: what
        // the line left running in the background, or all of it at the time limit, is ended
        // here. Jobs that left the group carry the marker and are swept after.
        kill_group(group);
        let ended = child.wait().unwrap();
        let status = match (timed_out, ended.code(), ended.signal()) {
            (true, _, _) => Status::TimedOut,
            (false, Some(code), _) => Status::Exited(code),
            (false, None, Some(signal)) => Status::Signalled(signal),
            (false, None, None) => unreachable!("a process ends by exit or signal"),
        };
        for survivor in marked_processes(token) {
            // SAFETY: kill(2) takes plain integers; the pid was alive and marked a moment ago.
            unsafe {
                libc::kill(survivor.pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let stdout = collect(stdout);
        let stderr = collect(stderr);
        Outcome {
            stdout,
            stderr,
            status,
            files: snapshot(&work),
            elapsed,
        }
    }

    /// Empties the root and lays it out again for a run of `program`.
    fn reset(&self, program: &Path) {
        if self.root.exists() && fs::remove_dir_all(&self.root).is_err() {
            // A line may leave a folder without write permission.
            let _ = Command::new("chmod")
                .arg("-R")
                .arg("u+rwx")
                .arg(&self.root)
                .status();
            fs::remove_dir_all(&self.root).expect("empty the sandbox");
        }
        for dir in ["work", "home/.parallel", "tmp", "bin"] {
            fs::create_dir_all(self.root.join(dir)).unwrap();
        }
        fs::write(self.root.join("home/.parallel/will-cite"), "").unwrap();
        symlink(program, self.root.join("bin/parallel")).unwrap();
    }
}

/// Whether process `pid`, a child of ours, has ended, without reaping it.
fn exited(pid: libc::pid_t) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid(2) to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid(2) with WNOWAIT only reads the child's state; `info` outlives the call.
    let result = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid(2) has filled `info` in (si_pid stays 0 while the child runs).
    result == 0 && unsafe { info.si_pid() } != 0
}

/// SIGKILLs process group `group`; it may be gone already.
fn kill_group(group: libc::pid_t) {
    // SAFETY: kill(2) takes plain integers; a negative pid names a process group.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Reads a pipe to its end on a thread of its own.
fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = send.send(bytes);
    });
    receive
}

/// A pipe's bytes, or a note if something that escaped every sweep still holds it open.
fn collect(pipe: mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    pipe.recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| b"<the pipe stayed open after the run>\n".to_vec())
}

/// The folder's entries, recursively, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<String, Node> {
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

fn walk(base: &Path, dir: &Path, files: &mut BTreeMap<String, Node>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .strip_prefix(base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let node = if meta.is_symlink() {
            Node::Link(fs::read_link(&path).unwrap_or_default())
        } else if meta.is_dir() {
            walk(base, &path, files);
            Node::Dir
        } else if meta.is_file() {
            Node::File(normalise(fs::read(&path).unwrap_or_default()))
        } else {
            Node::Special
        };
        files.insert(name, node);
    }
}

/// A joblog's first line.
const JOBLOG_HEADER: &[u8] =
    b"Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// A file's contents for comparison. In a joblog, the start time and run time of each job
/// (columns 3 and 4) become `-`, since no two runs share them, and the job lines are sorted,
/// since they are written in the order jobs end.
fn normalise(bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.starts_with(JOBLOG_HEADER) {
        return bytes;
    }
    let mut jobs: Vec<Vec<u8>> = bytes[JOBLOG_HEADER.len()..]
        .split_inclusive(|&b| b == b'\n')
        .map(|line| {
            let mut out = Vec::with_capacity(line.len());
            for (column, field) in line.splitn(5, |&b| b == b'\t').enumerate() {
                if column > 0 {
                    out.push(b'\t');
                }
                out.extend_from_slice(if column == 2 || column == 3 {
                    b"-"
                } else {
                    field
                });
            }
            out
        })
        .collect();
    jobs.sort();
    let mut out = JOBLOG_HEADER.to_vec();
    out.extend(jobs.concat());
    out
}

#[test]
fn joblog_clock_columns_are_blanked() {
    let mut log = JOBLOG_HEADER.to_vec();
    log.extend_from_slice(b"2\t:\t1700000000.456\t0.010\t0\t2\t0\t0\techo b\n");
    log.extend_from_slice(b"1\t:\t1700000000.123\t0.005\t0\t2\t0\t0\techo a\n");
    let mut expected = JOBLOG_HEADER.to_vec();
    expected.extend_from_slice(b"1\t:\t-\t-\t0\t2\t0\t0\techo a\n");
    expected.extend_from_slice(b"2\t:\t-\t-\t0\t2\t0\t0\techo b\n");
    assert_eq!(normalise(log), expected);
    assert_eq!(normalise(b"a\tb\tc\td\n".to_vec()), b"a\tb\tc\td\n");
}
