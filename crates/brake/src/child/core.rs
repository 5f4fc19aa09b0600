//! [`Child`]: one child process under supervision: how it is spawned (its own process group,
//! a parent-death signal, reset signal dispositions), signalled, observed and reaped, and how it
//! ended ([`Exit`]). Running its termination sequence is `sequence.rs`'s work; the invariants
//! it keeps are numbered in the module docs of `child`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::cgroup::{self, CgroupJoin};
use super::program::Program;
use super::spawn::{self, NotStarted};
use super::sys::{self, Seen};
use crate::signals::is_ignored;
use crate::signame::signal_name;
use crate::termseq::{continue_after, TermSeq, TermStep};

/// How [`Child::spawn`] starts a child: a plain struct, every field public, defaults safe.
///
/// The options are applied to the [`Command`] itself (`process_group`, `pre_exec`), so a command
/// spawned again keeps them. Dropping the struct does nothing; a stop does nothing to it.
#[derive(Clone, Debug)]
pub struct ChildOptions {
    /// Start the child as the leader of a new process group (`process_group(0)`), which the
    /// termination sequence then signals as a whole. Default `true`. With `false`, signals go
    /// to the child alone, and its own children are not brake's concern.
    pub own_group: bool,
    /// The signal the child gets when the thread that spawned it exits (`PR_SET_PDEATHSIG`), so
    /// that a SIGKILLed brake leaves no orphans. Default `Some(SIGKILL)`; `None` to let the child
    /// outlive its parent.
    pub parent_death_signal: Option<i32>,
    /// In the child, before `exec`: every standard signal (1 to 31) back to its default action,
    /// and an empty signal mask. Default `true`. Without it a child inherits the signals its
    /// parent ignores; a program started with `&` by a non-interactive shell ignores SIGINT, and
    /// so would every job it starts, making the sequence's graceful first step useless.
    pub reset_signals: bool,
    /// How [`Child::terminate`] ends the child. Default `INT,2000,TERM,1000,KILL`.
    pub termseq: TermSeq,
    /// A run cgroup the child joins before `exec` ([`RunCgroup::join`](super::RunCgroup::join)), so that ending the
    /// cgroup ends it and every descendant, escaped or not. Default `None`: the child stays in
    /// this process's cgroup. Like the other pre-exec options it makes std fork rather than
    /// `posix_spawn`; [`RunCgroup::move_self_in`](super::RunCgroup::move_self_in) avoids that where the caller can move.
    pub cgroup: Option<CgroupJoin>,
    /// Let [`Child::start`] use `clone3` (see `spawn.rs`): the child is born in its cgroup and
    /// the parent is suspended only until the child execs, whatever the other options ask.
    /// Default `true`; `false` takes the `std::process` path, as [`Child::spawn`] does. The
    /// environment variable [`NO_CLONE3_VAR`](super::NO_CLONE3_VAR) turns it off for the
    /// whole process.
    pub clone3: bool,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions {
            own_group: true,
            parent_death_signal: Some(libc::SIGKILL),
            reset_signals: true,
            termseq: TermSeq::default(),
            cgroup: None,
            clone3: true,
        }
    }
}

/// The signals this process ignores that a child would inherit through `exec` (SIGPIPE aside,
/// which std resets). When it is empty, exec alone gives a child default signal actions, and
/// [`ChildOptions::reset_signals`] can be `false`; with no parent-death signal either, std then
/// spawns with `posix_spawn` (a vfork) instead of fork, which is markedly cheaper per child.
pub fn ignored_signals() -> Vec<i32> {
    (1..32)
        .filter(|&signal| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGPIPE].contains(&signal))
        .filter(|&signal| is_ignored(signal).unwrap_or(false))
        .collect()
}

/// The last signal of the termination sequence that brake sent before a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndedBy {
    /// Its index in [`TermSeq::steps`] (0 for the first step).
    pub step: usize,
    /// The signal number.
    pub signal: i32,
}

/// How a child ended, and whether brake's termination sequence had a hand in it.
///
/// Displays as `exit 3`, `killed by SIGSEGV (core dumped)`,
/// `killed by SIGKILL (sent by brake, step 5 of the sequence)` or
/// `exit 130 (after SIGINT sent by brake, step 1 of the sequence)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The status the child was reaped with.
    pub status: ExitStatus,
    /// The last signal of the sequence brake sent before the child ended; `None` if it ended
    /// by itself (signals sent with [`Child::signal`] do not count).
    pub ended_by: Option<EndedBy>,
}

impl Exit {
    /// The exit code, if the child exited (rather than being killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that killed the child, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code(), self.signal()) {
            (Some(code), _) => write!(f, "exit {code}")?,
            (None, Some(signal)) => {
                write!(f, "killed by {}", signal_name(signal))?;
                if self.status.core_dumped() {
                    f.write_str(" (core dumped)")?;
                }
            }
            (None, None) => write!(f, "{}", self.status)?,
        }
        if let Some(by) = self.ended_by {
            let step = by.step + 1;
            if self.signal() == Some(by.signal) {
                write!(f, " (sent by brake, step {step} of the sequence)")?;
            } else {
                let signal = signal_name(by.signal);
                write!(
                    f,
                    " (after {signal} sent by brake, step {step} of the sequence)"
                )?;
            }
        }
        Ok(())
    }
}

/// A running (or ended) child process under brake's supervision: a [`std::process::Child`] and a
/// pidfd on it.
///
/// **Dropping** a `Child` that has not been reaped ends it at once: SIGKILL to its process group
/// (and to the leader through its pidfd), then it is reaped, waiting at most 5 s for a process
/// stuck in the kernel. A `Child` never outlives its value: to let a process run on, use
/// `std::process` directly.
///
/// **A stop** does nothing to a `Child` by itself: it is [`Child::supervise`] (or a pool built on
/// it) that watches the [`Stop`](crate::Stop) and runs the termination sequence.
#[derive(Debug)]
pub struct Child {
    process: Process,
    pub(super) pidfd: OwnedFd,
    own_group: bool,
    pub(super) termseq: TermSeq,
    /// The last sequence signal sent, for [`Exit::ended_by`].
    pub(super) ended_by: Option<EndedBy>,
    /// Set when reaped; from then on nothing is signalled (invariant 2).
    reaped: Option<Exit>,
}

impl Child {
    /// Starts `command` with `options`.
    ///
    /// The caller configures stdin, stdout, stderr, environment and directory on `command`; a
    /// job in its own process group that reads the terminal is stopped by SIGTTIN, so give it
    /// `Stdio::null()` (or a pipe) unless it must be interactive.
    ///
    /// **Call it from a long-lived thread.** Linux delivers the parent-death signal when the
    /// thread that spawned the child exits, not when the process does: a child spawned from a
    /// short-lived thread (a scoped thread, tokio's blocking pool, whose idle threads retire)
    /// is killed when that thread ends. Spawn from the thread that waits for the children, or
    /// from one dedicated spawner thread, or set `parent_death_signal: None`.
    ///
    /// With `parent_death_signal` or `reset_signals`, std forks instead of using `posix_spawn`
    /// (the options run in the child before `exec`), which costs a little per spawn.
    ///
    /// Fails like [`Command::spawn`], and with `InvalidInput` for a parent-death signal that is
    /// not a signal number. If the pidfd cannot be opened (a kernel without pidfds, or a seccomp
    /// filter that forbids them), the child is killed and reaped, and the error returned.
    pub fn spawn(command: &mut Command, options: &ChildOptions) -> io::Result<Child> {
        Child::spawn_std(command, options)
    }

    /// Starts `program` with `options`, as [`spawn`](Child::spawn) does a [`Command`], but
    /// with `clone3` where it can (see [`ChildOptions::clone3`]): the child is started in the
    /// cgroup of [`ChildOptions::cgroup`] directly, its pidfd comes with it, and the parent
    /// does not fork even with a parent-death signal or reset signals. Where `clone3` is
    /// refused, the program is spawned through [`Program::to_command`] and `spawn`.
    ///
    /// The same thread rule holds as for [`spawn`](Child::spawn). Pipes asked for with
    /// [`Io::Piped`](super::Io::Piped) are taken with [`take_stdin`](Child::take_stdin) and
    /// the others.
    pub fn start(program: &Program, options: &ChildOptions) -> io::Result<Child> {
        if let Some(signal) = options.parent_death_signal {
            sys::check_signal(signal)?;
        }
        let direct = options.clone3
            && spawn::clone3_enabled()
            && (options.cgroup.is_none() || spawn::into_cgroup_enabled());
        if direct {
            let setup = spawn::Setup {
                own_group: options.own_group,
                death_signal: options.parent_death_signal,
                reset_signals: options.reset_signals,
                cgroup: options.cgroup.as_ref().map(CgroupJoin::dir_fd),
            };
            match spawn::start(program, &setup) {
                Ok(started) => {
                    let [stdin, stdout, stderr] = started.pipes;
                    return Ok(Child {
                        process: Process::Raw(RawProcess {
                            pid: started.pid,
                            stdin: stdin.map(ChildStdin::from),
                            stdout: stdout.map(ChildStdout::from),
                            stderr: stderr.map(ChildStderr::from),
                            status: None,
                        }),
                        pidfd: started.pidfd,
                        own_group: options.own_group,
                        termseq: options.termseq.clone(),
                        ended_by: None,
                        reaped: None,
                    });
                }
                Err(NotStarted::Failed(err)) => return Err(err),
                Err(NotStarted::Refused) => {}
            }
        }
        Child::spawn_std(&mut program.to_command()?, options)
    }

    fn spawn_std(command: &mut Command, options: &ChildOptions) -> io::Result<Child> {
        if let Some(signal) = options.parent_death_signal {
            sys::check_signal(signal)?;
        }
        if options.own_group {
            command.process_group(0);
        }
        if let Some(join) = &options.cgroup {
            // The closure owns the descriptor: a command spawned again still has it open.
            let procs = join.keep();
            let fd = join.raw_fd();
            // SAFETY: runs in the forked child before `exec`: `join_in_child` is one `write(2)`
            // of a static byte to a descriptor the closure keeps open; nothing allocates.
            unsafe {
                command.pre_exec(move || {
                    let _open = &procs;
                    cgroup::join_in_child(fd)
                });
            }
        }
        if options.reset_signals || options.parent_death_signal.is_some() {
            let reset = options.reset_signals;
            let death = options.parent_death_signal;
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: the closure runs in the forked child before `exec`, where only
            // async-signal-safe functions may be called. `sys::in_child` calls only
            // `sigaction`, `sigemptyset`, `sigprocmask`, `prctl`, `getppid`, `getpid`, `kill`
            // and `_exit` (raw system calls through libc), on values copied into the closure
            // and stack locals; it allocates nothing and takes no lock.
            unsafe {
                command.pre_exec(move || sys::in_child(reset, death, parent));
            }
        }
        let mut std = command.spawn()?;
        let pidfd = match sys::pidfd_open(std.id()) {
            Ok(pidfd) => pidfd,
            Err(err) => {
                if options.own_group {
                    let _ = sys::kill_group(std.id(), libc::SIGKILL);
                }
                let _ = std.kill();
                let _ = std.wait();
                return Err(err);
            }
        };
        Ok(Child {
            process: Process::Std(std),
            pidfd,
            own_group: options.own_group,
            termseq: options.termseq.clone(),
            ended_by: None,
            reaped: None,
        })
    }

    /// The child's process id (and, with `own_group`, its process group id).
    pub fn id(&self) -> u32 {
        match &self.process {
            Process::Std(std) => std.id(),
            Process::Raw(raw) => raw.pid,
        }
    }

    /// The underlying std child of one started through `std::process` ([`spawn`](Child::spawn),
    /// or [`start`](Child::start) where `clone3` is not used); `None` for one `clone3` started.
    ///
    /// Do not wait on it or kill it through this: a child reaped behind brake's back can no
    /// longer have its process group signalled (brake notices, and from then on does nothing).
    pub fn std_mut(&mut self) -> Option<&mut std::process::Child> {
        match &mut self.process {
            Process::Std(std) => Some(std),
            Process::Raw(_) => None,
        }
    }

    /// The parent's end of the child's stdin pipe, if it has one and it was not taken yet.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        match &mut self.process {
            Process::Std(std) => std.stdin.take(),
            Process::Raw(raw) => raw.stdin.take(),
        }
    }

    /// The parent's end of the child's stdout pipe, if it has one and it was not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        match &mut self.process {
            Process::Std(std) => std.stdout.take(),
            Process::Raw(raw) => raw.stdout.take(),
        }
    }

    /// The parent's end of the child's stderr pipe, if it has one and it was not taken yet.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        match &mut self.process {
            Process::Std(std) => std.stderr.take(),
            Process::Raw(raw) => raw.stderr.take(),
        }
    }

    /// The child's pidfd: readable once the child has ended. For callers that poll many
    /// children in one thread; brake keeps ownership.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The termination sequence this child was spawned with.
    pub fn termseq(&self) -> &TermSeq {
        &self.termseq
    }

    /// The child's end, reaping it, if it has ended; `None` while it runs. Never blocks.
    ///
    /// What is left of its process group is not touched: a job that ended by itself may leave
    /// background processes, which [`terminate`](Child::terminate) (called instead) or
    /// [`sweep_escaped`](super::sweep_escaped) would end. Once reaped, the same `Exit` is returned again.
    pub fn try_wait(&mut self) -> io::Result<Option<Exit>> {
        if let Some(exit) = self.reaped {
            return Ok(Some(exit));
        }
        match sys::look(self.pidfd.as_fd())? {
            Seen::Running => Ok(None),
            Seen::Exited | Seen::Reaped => self.reap().map(Some),
        }
    }

    /// Waits up to `timeout` for the child to end, reaping it if it does (as
    /// [`try_wait`](Child::try_wait)). Sleeps in `poll` on the pidfd: no busy loop.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<Exit>> {
        let until = Instant::now().checked_add(timeout);
        loop {
            if let Some(exit) = self.try_wait()? {
                return Ok(Some(exit));
            }
            if until.is_some_and(|until| Instant::now() >= until) {
                return Ok(None);
            }
            sys::wait_readable(&[self.pidfd.as_fd()], until)?;
        }
    }

    /// Sends `signal` to the child's process group (with `own_group`) or to the child alone.
    ///
    /// Once the child has been reaped this returns `Ok(())` and does nothing: its pid may belong
    /// to another process by now. Until then the pid is pinned, so the group is safe to signal;
    /// a leader that moved to another group or session gets the signal through its pidfd too.
    /// An ended group is not an error. Does not count towards [`Exit::ended_by`].
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        sys::check_signal(signal)?;
        self.send(&[signal])
    }

    /// Sends `signals` in turn as [`signal`](Child::signal) does each, looking at the child
    /// once: nothing reaps it between the sends (reaping is this value's work, invariant 1).
    fn send(&self, signals: &[i32]) -> io::Result<()> {
        if self.reaped.is_some() || sys::look(self.pidfd.as_fd())? == Seen::Reaped {
            return Ok(());
        }
        self.send_unreaped(signals)
    }

    /// [`send`](Child::send) to a child just seen unreaped by this value, which alone reaps
    /// it: its pid is still pinned, and looking again would only cost a system call.
    fn send_unreaped(&self, signals: &[i32]) -> io::Result<()> {
        if self.own_group {
            let pgid = self.id();
            for &signal in signals {
                sys::kill_group(pgid, signal)?;
            }
            if sys::group_of(pgid).is_some_and(|group| group != pgid) {
                for &signal in signals {
                    sys::pidfd_signal(self.pidfd.as_fd(), signal)?;
                }
            }
            Ok(())
        } else {
            for &signal in signals {
                sys::pidfd_signal(self.pidfd.as_fd(), signal)?;
            }
            Ok(())
        }
    }

    /// What the child is doing, as seen without reaping it.
    pub(super) fn look(&self) -> io::Result<Seen> {
        if self.reaped.is_some() {
            return Ok(Seen::Reaped);
        }
        sys::look(self.pidfd.as_fd())
    }

    /// The signal that begins the termination sequence, if it begins with one.
    pub(crate) fn first_signal(&self) -> Option<i32> {
        match self.termseq.steps().first() {
            Some(&TermStep::Signal(signal)) => Some(signal),
            _ => None,
        }
    }

    /// Sends step `step` of the sequence (signal `signal`) to the child, which the caller has
    /// just seen running, and records it for `ended_by`.
    pub(super) fn send_step(&mut self, step: usize, signal: i32) -> io::Result<()> {
        sys::check_signal(signal)?;
        if continue_after(signal) {
            self.send_unreaped(&[signal, libc::SIGCONT])?;
        } else {
            self.send_unreaped(&[signal])?;
        }
        self.ended_by = Some(EndedBy { step, signal });
        Ok(())
    }

    /// The end of a terminated child whose leader has ended: SIGKILL to what is left of its
    /// group, while the ended leader still pins the group id, then reap.
    ///
    /// `seen` is how the caller has just found it: [`Seen::Exited`] (still a zombie, so its
    /// group id is pinned) or [`Seen::Reaped`].
    pub(super) fn finish_terminated(&mut self, seen: Seen) -> io::Result<Exit> {
        if let Some(exit) = self.reaped {
            return Ok(exit);
        }
        if self.own_group && seen == Seen::Exited {
            sys::kill_group(self.id(), libc::SIGKILL)?;
        }
        self.reap()
    }

    /// Reaps the ended child (invariant 1: the last thing done to it).
    fn reap(&mut self) -> io::Result<Exit> {
        // std waits by pid, which is still ours: the child has ended but is unreaped (or std
        // reaped it already and kept the status).
        let status = match &mut self.process {
            Process::Std(std) => match std.try_wait()? {
                Some(status) => status,
                None => std.wait()?,
            },
            Process::Raw(raw) => match raw.status {
                Some(status) => status,
                None => {
                    let status = ExitStatus::from_raw(spawn::reap(raw.pid)?);
                    raw.status = Some(status);
                    status
                }
            },
        };
        let exit = Exit {
            status,
            ended_by: self.ended_by,
        };
        self.reaped = Some(exit);
        Ok(exit)
    }
}

/// The process behind a [`Child`]: one std started, or one `clone3` started.
#[derive(Debug)]
enum Process {
    Std(std::process::Child),
    Raw(RawProcess),
}

/// A child `clone3` started: its pid (pinned while unreaped), its pipes, its status once reaped.
#[derive(Debug)]
struct RawProcess {
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    status: Option<ExitStatus>,
}

impl Drop for Child {
    fn drop(&mut self) {
        if !matches!(self.look(), Ok(Seen::Running) | Ok(Seen::Exited)) {
            return;
        }
        let _ = self.signal(libc::SIGKILL);
        let _ = sys::pidfd_signal(self.pidfd.as_fd(), libc::SIGKILL);
        let _ = self.wait_timeout(Duration::from_secs(5));
    }
}
