//! What to run: a small builder that becomes a portable-pty `CommandBuilder`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use portable_pty::CommandBuilder;

use crate::MARKER_VAR;

/// A program to start in a pseudo-terminal with [`Session::spawn`](crate::Session::spawn).
///
/// The program inherits the test's environment, plus what [`env`](Command::env) adds, plus
/// [`MARKER_VAR`]. It starts in the test's current directory unless [`cwd`](Command::cwd) says
/// otherwise.
///
/// A relative program path that contains a slash (`target/debug/x`) is taken relative to the
/// test's current directory, never to `cwd`; a bare name (`sh`) is looked up in `PATH`.
#[derive(Debug, Clone)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

impl Command {
    /// A command that runs `program` with no arguments.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets one environment variable for the program (and so for its children).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Command {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets the program's working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The portable-pty command, marked with `token`.
    ///
    /// portable-pty would start in `$HOME` when no directory is given, and silently fall back to
    /// `$HOME` when the directory does not exist; both would make a test run somewhere else
    /// than it believes, so the directory is always given and checked here.
    pub(crate) fn to_builder(&self, token: &str) -> io::Result<CommandBuilder> {
        let here = std::env::current_dir()?;
        let cwd = match &self.cwd {
            Some(dir) => here.join(dir),
            None => here.clone(),
        };
        if !cwd.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("working directory {} is not a directory", cwd.display()),
            ));
        }
        // portable-pty searches `PATH` for any relative program, `a/b` included.
        let program = Path::new(&self.program);
        let program = if program.is_relative() && program.components().count() > 1 {
            here.join(program).into_os_string()
        } else {
            self.program.clone()
        };

        let mut builder = CommandBuilder::new(program);
        builder.args(&self.args);
        for (key, value) in &self.env {
            builder.env(key, value);
        }
        builder.env(MARKER_VAR, token);
        builder.cwd(cwd);
        Ok(builder)
    }
}
