//! One job: what it is (its inputs and number), starting it under brake's supervision, reading
//! what it writes without ever blocking, and deciding at its end whether it succeeded, failed
//! or was interrupted.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use brake::child::{Child, ChildOptions, Exit, Io, Program, Termination};
use brake::{TermSeq, TermStep};

use crate::joblog::Entry;
use crate::output::{JobOutput, Output, Stream};
use crate::remote::{RemoteJob, Target};
use crate::shell::Shell;
use crate::template::Rendered;

/// The environment variable every process of a run carries, for the final sweep of
/// descendants that escaped their job's process group.
pub const RUN_VAR: &str = "BRAKE_RUN";

/// A job waiting to start.
#[derive(Debug)]
pub struct Job {
    /// Its number, from 1, in input order (`{#}`, the joblog's Seq).
    pub seq: u64,
    /// One value per input source.
    pub args: Vec<OsString>,
    /// Which run this is, from 1 (`--retries`).
    pub attempt: u32,
    /// The hosts (of `-S`) it has failed on, which a retry avoids while another is free.
    pub failed_on: Vec<usize>,
    /// `--pipe`: its block of the input, given to it when it starts.
    pub block: Option<Box<crate::pipe::Block>>,
}

impl Job {
    /// The same job, to run once more (`--retries`); `host` is where it just failed, if remote.
    pub fn next_attempt(mut self, host: Option<usize>) -> Job {
        self.failed_on.extend(host);
        Job {
            attempt: self.attempt + 1,
            ..self
        }
    }
}

/// Why brake is ending a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The run is stopping (a signal, or `--halt now`).
    Stop,
    /// It ran past `--timeout`.
    Timeout,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exited 0 by itself.
    Done,
    /// Exited non-zero or was killed, by itself or by `--timeout`.
    Failed,
    /// brake ended it because the run stopped.
    Interrupted,
}

/// What the job runs with: its rendered command and how brake starts it.
pub struct Spawn<'a> {
    /// The rendered command.
    pub rendered: &'a Rendered,
    /// The program's path, for a direct command (see `Template::program`).
    pub program: Option<&'a std::path::Path>,
    /// Whether its stdout and stderr are captured.
    pub capture: bool,
    /// Supervision options (termination sequence, process group, parent-death signal, the
    /// run's cgroup to be born in).
    pub options: &'a ChildOptions,
    /// The run's marker value for [`RUN_VAR`].
    pub run_id: &'a str,
    /// Where it runs: here, or on a host of `-S`.
    pub target: Target<'a>,
    /// The shell that runs commands that need one, here.
    pub shell: &'a Shell,
    /// `-t`: its command goes to stderr as it starts.
    pub trace: bool,
    /// Its number and slot as the job sees them (`$PARALLEL_SEQ`, `$PARALLEL_JOBSLOT`): its
    /// own, except under `--onall` (see `remote::onall`).
    pub shown: (u64, usize),
}

/// A started job.
pub struct Running {
    /// The job.
    pub job: Job,
    /// Its slot, from 1 (`{%}`).
    pub slot: usize,
    /// Its command as one shell line (joblog, messages).
    pub command: OsString,
    /// The process.
    pub child: Child,
    /// Its stdout pipe, until it reaches end of file.
    pub stdout: Option<File>,
    /// Its stderr pipe, until it reaches end of file.
    pub stderr: Option<File>,
    /// What it wrote and is not printed yet.
    pub output: JobOutput,
    /// Bytes read from its stdout (the joblog's Receive).
    pub received: u64,
    /// When it started, for the joblog.
    pub started: SystemTime,
    /// When it started, for its runtime and timeout.
    pub started_at: Instant,
    /// When `--timeout` ends it.
    pub deadline: Option<Instant>,
    /// Its termination sequence and why brake runs it, once brake has begun ending it.
    pub termination: Option<(Termination, Cause)>,
    /// Its remote side, when it runs on another host.
    pub remote: Option<RemoteJob>,
    /// Pipes at end of file, open until the loop has taken them out of its epoll set: a
    /// descriptor closed while a child between clone and exec holds a copy would stay in the
    /// set, ready, under a slot another job may hold by then.
    spent: Vec<File>,
}

/// Why a job could not start.
pub struct StartError {
    /// The job, to try again or count.
    pub job: Job,
    /// The operating system's reason.
    pub error: io::Error,
    /// The joblog's Host column for it.
    pub host: String,
}

impl StartError {
    /// Whether trying again later may work: out of processes, descriptors or memory.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.error.raw_os_error(),
            Some(libc::EAGAIN | libc::EMFILE | libc::ENFILE | libc::ENOMEM)
        )
    }

    /// Its joblog line: a job that could not start is recorded as the shell would have
    /// failed it, with the status of [`start_failure_status`].
    pub fn entry(&self, command: &OsStr) -> Entry {
        Entry {
            seq: self.job.seq,
            host: self.host.clone(),
            start: SystemTime::now(),
            runtime: Duration::ZERO,
            send: 0,
            receive: 0,
            exitval: i32::from(start_failure_status(&self.error)),
            signal: 0,
            command: command.to_owned(),
        }
    }
}

/// The kernel's limit on one argument's length, `MAX_ARG_STRLEN` (32 pages of 4 KiB), its
/// terminating NUL included.
pub const MAX_ARG_BYTES: usize = 128 * 1024;

/// Why a job's input cannot become a command: the job is bad input, never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadInput {
    /// A value holds a NUL byte, which no argument can: `source` is its input source, from 1.
    Nul { source: usize },
    /// An argument (the whole shell line, for a job run through the shell) is longer than
    /// [`MAX_ARG_BYTES`].
    ArgumentTooLong,
    /// The command line as a whole is over the system's `ARG_MAX` (`E2BIG` from exec).
    CommandTooLong,
}

impl BadInput {
    /// What is wrong with `job`'s input, if its command `rendered` cannot be run (checked
    /// before the spawn: NUL bytes and argument length).
    pub fn of(job: &Job, rendered: &Rendered) -> Option<BadInput> {
        if let Some(at) = job.args.iter().position(|arg| arg.as_bytes().contains(&0)) {
            return Some(BadInput::Nul { source: at + 1 });
        }
        let longest = match &rendered.direct {
            Some(argv) => argv.iter().map(|arg| arg.len()).max().unwrap_or(0),
            None => rendered.text.len(),
        };
        (longest >= MAX_ARG_BYTES).then_some(BadInput::ArgumentTooLong)
    }

    /// The line that says so, for job `seq` whose values came from `sources` sources.
    pub fn message(self, seq: u64, sources: usize) -> String {
        match self {
            // One source (a file or stdin: `:::` values cannot hold a NUL) makes one job per
            // line, so the job's number is the line's.
            BadInput::Nul { .. } if sources == 1 => {
                format!("input line {seq} contains a NUL byte; job {seq} is not run")
            }
            BadInput::Nul { source } => format!(
                "job {seq}: its value from input source {source} contains a NUL byte; not run"
            ),
            BadInput::ArgumentTooLong => {
                format!("job {seq}: an argument over 128 KiB: pass big data on stdin (not run)")
            }
            BadInput::CommandTooLong => format!(
                "job {seq}: its command line is over the system's ARG_MAX: pass big data on \
                 stdin (not run)"
            ),
        }
    }
}

/// The status a shell gives a program it cannot start: 127 when it is not found, 126 when it
/// is not runnable (no permission, not an executable, …). The joblog records it for a job that
/// could not start, and `brake exec` exits with it.
pub fn start_failure_status(error: &io::Error) -> u8 {
    match error.kind() {
        io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}

/// Starts `job` in `slot`; `timeout` sets its deadline and `tag` its `--tag` prefix.
pub fn start(
    job: Job,
    slot: usize,
    spawn: &Spawn<'_>,
    timeout: Option<Duration>,
    tag: Option<Vec<u8>>,
) -> Result<Running, StartError> {
    let (started, remote) = match &spawn.target {
        Target::Local => {
            let mut program = local_program(spawn);
            program
                .env(RUN_VAR, spawn.run_id)
                .stdin(crate::pipe::stdin_io(job.block.as_deref()));
            set_parallel_vars(&mut program, spawn.shown.0, spawn.shown.1);
            if spawn.capture {
                program.stdout(Io::Piped).stderr(Io::Piped);
            }
            (Child::start(&program, spawn.options), None)
        }
        Target::Remote(remote) => {
            let marker = format!("{}.{}.{}", spawn.run_id, job.seq, job.attempt);
            let names = (&job.args[..], spawn.shown.0, spawn.shown.1);
            let (mut command, side) = match remote.command(&spawn.rendered.text, &marker, names) {
                Ok(made) => made,
                Err(error) => return Err(start_error(job, error, None)),
            };
            // The ssh client's stdin is the job's channel (see `remote::wrapper`), set by
            // `command`; it starts through std, as it needs that descriptor placed.
            command.env(RUN_VAR, spawn.run_id);
            if spawn.capture {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
            (Child::spawn(&mut command, spawn.options), Some(side))
        }
    };
    if spawn.trace {
        let mut line = spawn.rendered.text.as_bytes().to_vec();
        line.push(b'\n');
        let _ = io::Write::write_all(&mut io::stderr(), &line);
    }
    let mut child = match started {
        Ok(child) => child,
        Err(error) => return Err(start_error(job, error, remote.as_ref())),
    };
    if let Err(err) = crate::pipe::deliver(job.block.as_deref(), &mut child) {
        say!("brake: job {}: cannot give it its block: {err}", job.seq);
    }
    let stdout = child.take_stdout().map(nonblocking);
    let stderr = child.take_stderr().map(nonblocking);
    let started_at = Instant::now();
    Ok(Running {
        job,
        slot,
        command: spawn.rendered.text.clone(),
        child,
        stdout,
        stderr,
        output: JobOutput::new(tag),
        received: 0,
        started: SystemTime::now(),
        started_at,
        deadline: timeout.and_then(|t| started_at.checked_add(t)),
        termination: None,
        remote,
        spent: Vec::new(),
    })
}

fn start_error(job: Job, error: io::Error, remote: Option<&RemoteJob>) -> StartError {
    StartError {
        job,
        error,
        host: remote.map_or_else(|| ":".to_owned(), |r| r.host.clone()),
    }
}

/// The program of a job that runs on this machine.
fn local_program(spawn: &Spawn<'_>) -> Program {
    match &spawn.rendered.direct {
        Some(argv) => {
            let mut program =
                Program::new(spawn.program.map_or(argv[0].as_os_str(), |p| p.as_os_str()));
            program.arg0(&argv[0]).args(&argv[1..]);
            program
        }
        None => {
            let mut program = Program::new(&spawn.shell.path);
            program.arg("-c").arg(&spawn.rendered.text);
            program
        }
    }
}

/// The variables GNU parallel gives each job: its number, its slot, the runner's process id
/// (for a job to signal it), and the sshlogin it runs on (`:`, this machine).
fn set_parallel_vars(program: &mut Program, seq: u64, slot: usize) {
    program
        .env("PARALLEL_SEQ", seq.to_string())
        .env("PARALLEL_JOBSLOT", slot.to_string())
        .env("PARALLEL_PID", runner_pid())
        .env("PARALLEL_SSHLOGIN", ":")
        .env("PARALLEL_SSHHOST", ":");
}

/// This process's id, as text: brake never forks without an exec, so it never changes.
fn runner_pid() -> &'static str {
    static PID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PID.get_or_init(|| std::process::id().to_string())
}

/// A pipe's read end, set non-blocking so the run's one loop never waits on a single job.
fn nonblocking(pipe: impl Into<OwnedFd>) -> File {
    let fd: OwnedFd = pipe.into();
    // FIONBIO sets the one flag in one call, where fcntl takes two.
    let _ = rustix::io::ioctl_fionbio(&fd, true);
    File::from(fd)
}

/// The `--tag` prefix for a job: its values joined by spaces, then a tab.
pub fn tag_for(args: &[OsString]) -> Vec<u8> {
    let mut tag = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            tag.push(b' ');
        }
        tag.extend_from_slice(arg.as_bytes());
    }
    tag.push(b'\t');
    tag
}

impl Running {
    /// Reads what is waiting in its pipes, without blocking, into `output`. A pipe at end of
    /// file is closed. Returns an error only when printing failed (stdout closed).
    pub fn read_pipes(&mut self, output: &mut Output) -> io::Result<()> {
        if self.stdout.is_none() && self.stderr.is_none() {
            return Ok(());
        }
        let mut buffer = output.take_scratch();
        let read = self.read_pipes_into(&mut buffer, output);
        output.return_scratch(buffer);
        read
    }

    fn read_pipes_into(&mut self, buffer: &mut [u8], output: &mut Output) -> io::Result<()> {
        for stream in [Stream::Out, Stream::Err] {
            let pipe = match stream {
                Stream::Out => &mut self.stdout,
                Stream::Err => &mut self.stderr,
            };
            while let Some(file) = pipe {
                match file.read(buffer) {
                    Ok(0) => {
                        self.spent.extend(pipe.take());
                        if let (Stream::Err, Some(remote)) = (stream, &mut self.remote) {
                            output.chunk(&mut self.output, stream, &remote.stderr_end())?;
                        }
                    }
                    Ok(n) => {
                        if stream == Stream::Out {
                            self.received += n as u64;
                        }
                        match (stream, &mut self.remote) {
                            (Stream::Err, Some(remote)) => {
                                let own = remote.stderr(&buffer[..n]);
                                output.chunk(&mut self.output, stream, &own)?;
                            }
                            _ => output.chunk(&mut self.output, stream, &buffer[..n])?,
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // WouldBlock: nothing more for now. Anything else: the pipe is unusable.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => self.spent.extend(pipe.take()),
                }
            }
        }
        Ok(())
    }

    /// Starts its termination sequence for `cause`, unless it has begun already.
    pub fn begin_termination(&mut self, cause: Cause) {
        if let Some(remote) = &mut self.remote {
            remote.hang_up();
        }
        if self.termination.is_none() {
            self.termination = Some((Termination::new(), cause));
        }
    }

    /// When it next needs brake: its termination sequence's next step, or its `--timeout`.
    pub fn next_due(&self) -> Option<Instant> {
        match &self.termination {
            Some((termination, _)) => termination.next_due(),
            None => self.deadline,
        }
    }

    /// Moves it on at `now`: past its deadline, brake begins ending it; a termination sequence
    /// takes its next step when due (all of them at once when `forcing`). Returns its exit if
    /// it has ended, reaped.
    pub fn advance(&mut self, forcing: bool, now: Instant) -> io::Result<Option<Exit>> {
        if self.deadline.is_some_and(|d| d <= now) {
            self.begin_termination(Cause::Timeout);
        }
        match &mut self.termination {
            Some((termination, _)) => termination.advance(&mut self.child, forcing, now),
            None => self.child.try_wait(),
        }
    }

    /// How it ended where it ran, once its pipes are read to the end: its own exit here; on
    /// another host the status its wrapper reported (255 when none came).
    pub fn settle(&self, exit: &Exit) -> Exit {
        match &self.remote {
            Some(remote) => remote.exit(exit),
            None => *exit,
        }
    }

    /// The host it ran on, if it was lost with its connection there: its end never came back
    /// though brake was not ending it.
    pub fn lost_on(&self) -> Option<&str> {
        let remote = self.remote.as_ref()?;
        (remote.lost() && self.termination.is_none()).then_some(remote.host.as_str())
    }

    /// Whether `--timeout` ended it.
    pub fn timed_out(&self) -> bool {
        matches!(self.termination, Some((_, Cause::Timeout)))
    }

    /// Its joblog line, given how it ended.
    pub fn entry(self, exit: &Exit) -> Entry {
        let (exitval, signal) = joblog_status(exit);
        Entry {
            seq: self.job.seq,
            host: self
                .remote
                .as_ref()
                .map_or_else(|| ":".to_owned(), |r| r.host.clone()),
            start: self.started,
            runtime: self.started_at.elapsed(),
            send: self.job.block.as_deref().map_or(0, crate::pipe::Block::len),
            receive: self.received,
            exitval,
            signal,
            command: self.command,
        }
    }

    /// The descriptors the loop waits on: the pidfd, then the open pipes.
    pub fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        std::iter::once(self.child.pidfd())
            .chain(self.stdout.as_ref().map(AsFd::as_fd))
            .chain(self.stderr.as_ref().map(AsFd::as_fd))
    }

    /// Its pipes that reached end of file (or failed) since the last call, still open: closed
    /// when dropped, once the loop has stopped watching them.
    pub fn take_spent(&mut self) -> Vec<File> {
        std::mem::take(&mut self.spent)
    }

    /// How the job ended, given its exit and whether the run is stopping.
    pub fn ending(&self, exit: &Exit, stopping: bool) -> Ending {
        classify(
            self.termination.as_ref().map(|(_, cause)| *cause),
            exit,
            stopping,
        )
    }

    /// Its command, for messages: lossy, and cut short when long.
    pub fn describe(&self) -> String {
        describe_command(&self.command)
    }
}

/// A command for a one-line message: escaped as in the joblog, at most 80 chars.
pub fn describe_command(command: &OsStr) -> String {
    crate::escape::shorten(command, 80)
}

/// How a job the termination sequence ended ended, counting the sequence's signals (its waits
/// are not steps a user counts): `killed by SIGKILL, the 3rd signal of the termination
/// sequence`, or `exit 130 after SIGINT, the 1st signal of the termination sequence`.
pub fn sequence_end(exit: &Exit, termseq: &TermSeq) -> String {
    let Some(by) = exit.ended_by else {
        return exit.to_string();
    };
    let nth = termseq
        .steps()
        .iter()
        .take(by.step + 1)
        .filter(|step| matches!(step, TermStep::Signal(_)))
        .count();
    let suffix = match (nth % 10, nth % 100) {
        (1, n) if n != 11 => "st",
        (2, n) if n != 12 => "nd",
        (3, n) if n != 13 => "rd",
        _ => "th",
    };
    let signal = brake::signal_name(by.signal);
    let which = format!("{nth}{suffix} signal of the termination sequence");
    match (exit.code(), exit.signal()) {
        (_, Some(killer)) if killer == by.signal => format!("killed by {signal}, the {which}"),
        (Some(code), _) => format!("exit {code} after {signal}, the {which}"),
        (None, Some(killer)) => format!(
            "killed by {} after {signal}, the {which}",
            brake::signal_name(killer)
        ),
        (None, None) => format!("{} after {signal}, the {which}", exit.status),
    }
}

/// The joblog's Exitval and Signal for an exit: the exit code (or -1 when a signal ended it)
/// and the signal number (0 when none).
fn joblog_status(exit: &Exit) -> (i32, i32) {
    match (exit.code(), exit.signal()) {
        (Some(code), _) => (code, 0),
        (None, Some(signal)) => (-1, signal),
        (None, None) => (-1, 0),
    }
}

/// How a job ended: `cause` is why brake began ending it, if it did.
fn classify(cause: Option<Cause>, exit: &Exit, stopping: bool) -> Ending {
    match cause {
        Some(Cause::Stop) if exit.ended_by.is_some() => Ending::Interrupted,
        Some(Cause::Timeout) => Ending::Failed,
        // A job started a moment before a Ctrl-C (or a hangup) is still in brake's process
        // group, between its start and its move to a group of its own, and gets the
        // terminal's signal itself: its end is the stop's doing, and `--resume` must run it
        // again.
        _ if stopping && matches!(exit.signal(), Some(libc::SIGINT | libc::SIGHUP)) => {
            Ending::Interrupted
        }
        _ if exit.status.success() => Ending::Done,
        _ => Ending::Failed,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn exit(raw: i32, ended_by: Option<i32>) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit {
            status: std::process::ExitStatus::from_raw(raw),
            ended_by: ended_by.map(|signal| brake::child::EndedBy { step: 0, signal }),
        }
    }

    #[test]
    fn a_stop_signal_from_the_terminal_during_a_stop_is_an_interruption() {
        let int = exit(libc::SIGINT, None);
        assert_eq!(classify(None, &int, true), Ending::Interrupted);
        assert_eq!(classify(Some(Cause::Stop), &int, true), Ending::Interrupted);
        assert_eq!(
            classify(None, &exit(libc::SIGHUP, None), true),
            Ending::Interrupted
        );
        // Not stopping: the job's own business, a failure.
        assert_eq!(classify(None, &int, false), Ending::Failed);
        // A crash during a stop is still a crash.
        assert_eq!(
            classify(None, &exit(libc::SIGSEGV, None), true),
            Ending::Failed
        );
        assert_eq!(classify(Some(Cause::Timeout), &int, true), Ending::Failed);
        assert_eq!(classify(None, &exit(0, None), true), Ending::Done);
        assert_eq!(
            classify(
                Some(Cause::Stop),
                &exit(libc::SIGTERM, Some(libc::SIGTERM)),
                true
            ),
            Ending::Interrupted
        );
    }

    #[test]
    fn inputs_that_cannot_become_commands_are_named() {
        let job = |args: &[&[u8]]| Job {
            seq: 7,
            args: args
                .iter()
                .map(|a| OsString::from_vec(a.to_vec()))
                .collect(),
            attempt: 1,
            failed_on: Vec::new(),
            block: None,
        };
        let shell = |text: &[u8]| Rendered {
            text: OsString::from_vec(text.to_vec()),
            direct: None,
        };
        let nul = job(&[b"a\0b"]);
        assert_eq!(
            BadInput::of(&nul, &shell(b"echo")),
            Some(BadInput::Nul { source: 1 })
        );
        assert_eq!(
            BadInput::Nul { source: 1 }.message(7, 1),
            "input line 7 contains a NUL byte; job 7 is not run"
        );
        assert_eq!(
            BadInput::of(&job(&[b"a", b"\0"]), &shell(b"echo")),
            Some(BadInput::Nul { source: 2 })
        );
        let big = vec![b'x'; MAX_ARG_BYTES];
        assert_eq!(
            BadInput::of(&job(&[b"a"]), &shell(&big)),
            Some(BadInput::ArgumentTooLong)
        );
        assert_eq!(BadInput::of(&job(&[b"a"]), &shell(&big[1..])), None);
        let direct = Rendered {
            text: OsString::from("x"),
            direct: Some(vec![
                OsString::from("echo"),
                OsString::from_vec(big.clone()),
            ]),
        };
        assert_eq!(
            BadInput::of(&job(&[b"a"]), &direct),
            Some(BadInput::ArgumentTooLong)
        );
        assert!(BadInput::ArgumentTooLong
            .message(7, 1)
            .contains("job 7: an argument over 128 KiB: pass big data on stdin"));
    }

    #[test]
    fn a_sequence_end_counts_signals_not_steps() {
        let termseq = TermSeq::default();
        let kill_step = termseq.steps().len() - 1;
        let by = |step, signal| Some(brake::child::EndedBy { step, signal });
        let killed = Exit {
            ended_by: by(kill_step, libc::SIGKILL),
            ..exit(libc::SIGKILL, None)
        };
        assert_eq!(
            sequence_end(&killed, &termseq),
            "killed by SIGKILL, the 3rd signal of the termination sequence"
        );
        let exited = Exit {
            ended_by: by(0, libc::SIGINT),
            ..exit(130 << 8, None)
        };
        assert_eq!(
            sequence_end(&exited, &termseq),
            "exit 130 after SIGINT, the 1st signal of the termination sequence"
        );
        assert_eq!(sequence_end(&exit(3 << 8, None), &termseq), "exit 3");
    }

    #[test]
    fn tags_join_values() {
        let args = vec![OsString::from("a b"), OsString::from("c")];
        assert_eq!(tag_for(&args), b"a b c\t");
    }

    #[test]
    fn long_commands_are_cut_for_messages() {
        let long = OsString::from("x".repeat(200));
        assert_eq!(describe_command(&long).chars().count(), 81);
        assert_eq!(describe_command(OsStr::new("a\nb")), "a\\nb");
        assert_eq!(
            describe_command(OsStr::new("a\u{1b}]2;t\u{7}")),
            "a\\x1b]2;t\\x07"
        );
    }
}
