//! [`Program`]: what [`Child::start`](super::Child::start) runs, every part of it readable so
//! that the `clone3` path (`spawn.rs`) can prepare it all before the child exists; the same
//! program as a [`Command`] for the `std::process` path; and the placing of descriptors, which
//! both paths share.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// What to do with one of the child's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Io {
    /// The parent's own.
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe, whose other end the [`Child`](super::Child) holds (`take_stdin`, …).
    Piped,
}

/// A program to start with [`Child::start`](super::Child::start): path, arguments, environment,
/// directory and descriptors, like a [`Command`] whose every part can be read back (which the
/// `clone3` path needs: it prepares everything before the child exists).
///
/// Dropping it closes the descriptors given with [`fd`](Program::fd); a stop does nothing to it.
/// A program can be started any number of times.
#[derive(Debug)]
pub struct Program {
    pub(super) program: OsString,
    pub(super) argv: Vec<OsString>,
    pub(super) env: Vec<(OsString, Option<OsString>)>,
    pub(super) env_clear: bool,
    pub(super) cwd: Option<PathBuf>,
    pub(super) stdio: [Io; 3],
    pub(super) fds: Vec<(OwnedFd, RawFd)>,
}

impl Program {
    /// Runs `program`: a path, or a name looked up in `PATH` as `execvp` does (the child's
    /// `PATH` if [`env`](Program::env) sets one). `argv[0]` is `program` until
    /// [`arg0`](Program::arg0) changes it. Standard streams are inherited.
    pub fn new(program: impl AsRef<OsStr>) -> Program {
        let program = program.as_ref().to_owned();
        Program {
            argv: vec![program.clone()],
            program,
            env: Vec::new(),
            env_clear: false,
            cwd: None,
            stdio: [Io::Inherit; 3],
            fds: Vec::new(),
        }
    }

    /// Sets `argv[0]`.
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Program {
        self.argv[0] = arg0.as_ref().to_owned();
        self
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Program {
        self.argv.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Program
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Program {
        self.set_env(key.as_ref(), Some(value.as_ref().to_owned()));
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Program {
        self.set_env(key.as_ref(), None);
        self
    }

    /// Starts the child's environment empty rather than from this process's.
    pub fn env_clear(&mut self) -> &mut Program {
        self.env_clear = true;
        self.env.clear();
        self
    }

    fn set_env(&mut self, key: &OsStr, value: Option<OsString>) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.env.push((key.to_owned(), value)),
        }
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Program {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's stdin.
    pub fn stdin(&mut self, io: Io) -> &mut Program {
        self.stdio[0] = io;
        self
    }

    /// The child's stdout.
    pub fn stdout(&mut self, io: Io) -> &mut Program {
        self.stdio[1] = io;
        self
    }

    /// The child's stderr.
    pub fn stderr(&mut self, io: Io) -> &mut Program {
        self.stdio[2] = io;
        self
    }

    /// Gives the child `fd` as descriptor number `target` (3 or more; 0 to 2 are set with
    /// [`stdin`](Program::stdin) and the others). The program keeps `fd` open until dropped.
    pub fn fd(&mut self, fd: OwnedFd, target: RawFd) -> &mut Program {
        self.fds.push((fd, target));
        self
    }

    /// The program, as given to [`new`](Program::new).
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The same program as a [`Command`], for the `std::process` path. Descriptors given with
    /// [`fd`](Program::fd) are placed by a pre-exec step (so std forks); the command keeps
    /// copies of them open as long as it lives.
    pub fn to_command(&self) -> io::Result<Command> {
        let mut command = Command::new(&self.program);
        command.arg0(&self.argv[0]).args(&self.argv[1..]);
        if self.env_clear {
            command.env_clear();
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        let stdio = |io: Io| match io {
            Io::Inherit => Stdio::inherit(),
            Io::Null => Stdio::null(),
            Io::Piped => Stdio::piped(),
        };
        command
            .stdin(stdio(self.stdio[0]))
            .stdout(stdio(self.stdio[1]))
            .stderr(stdio(self.stdio[2]));
        if !self.fds.is_empty() {
            let moves = Arc::new(high_copies(&self.fds, 3)?);
            let pairs: Vec<(RawFd, RawFd)> =
                moves.iter().map(|(fd, t)| (fd.as_raw_fd(), *t)).collect();
            // SAFETY: runs in the forked child before exec: `place` only calls `dup2` on
            // descriptors the closure keeps open (`moves`), reading a vector allocated before
            // the fork; it allocates nothing and takes no lock.
            unsafe {
                command.pre_exec(move || {
                    let _open = &moves;
                    match place(&pairs) {
                        0 => Ok(()),
                        errno => Err(io::Error::from_raw_os_error(errno)),
                    }
                });
            }
        }
        Ok(command)
    }
}

/// Copies of `fds`' descriptors, close-on-exec, numbered above every target and above
/// `at_least - 1`, paired with their targets: placing them with `dup2` in any order cannot
/// close one not placed yet.
pub(super) fn high_copies(
    fds: &[(OwnedFd, RawFd)],
    at_least: RawFd,
) -> io::Result<Vec<(OwnedFd, RawFd)>> {
    let floor = fds
        .iter()
        .map(|(_, target)| target + 1)
        .max()
        .unwrap_or(0)
        .max(at_least);
    fds.iter()
        .map(|(fd, target)| {
            if *target < 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{target} is not a descriptor number"),
                ));
            }
            let copy = rustix::io::fcntl_dupfd_cloexec(fd, floor)?;
            Ok((copy, *target))
        })
        .collect()
}

/// Places each `(source, target)` with `dup2`; the sources are all above every target. Returns
/// 0, or the errno of the failed call. Async-signal-safe: it runs in the child before exec.
pub(super) fn place(pairs: &[(RawFd, RawFd)]) -> i32 {
    for &(source, target) in pairs {
        // SAFETY: dup2(2) on plain integers; async-signal-safe. The copy made on `target` has
        // FD_CLOEXEC clear, so it survives exec; `source` stays close-on-exec.
        if unsafe { libc::dup2(source, target) } < 0 {
            return errno();
        }
    }
    0
}

/// The calling thread's errno. Async-signal-safe (a read of thread-local memory).
pub(super) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
