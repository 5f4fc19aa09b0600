//! The shell jobs run in, chosen as GNU parallel chooses it: `--shell`, else
//! `$PARALLEL_SHELL`, else the shell brake was started from (the nearest ancestor process
//! that is a shell), else `$SHELL`, else `/bin/sh`. Running in the user's own shell is what
//! makes `export -f` functions and bash syntax work in jobs.
//!
//! It also decides when a job may skip the shell and be executed directly: only when the
//! shell would have run the same program with the same arguments and the same result. A bash
//! function exported under the program's name, a startup file bash reads (`$BASH_ENV`), or a
//! builtin that behaves unlike the program of the same name keeps the job in the shell.
//!
//! The template's quoting (see `template.rs`) is written and fuzzed for POSIX `sh` (dash) and
//! bash only, so only those run jobs: a shell named by `--shell` or `$PARALLEL_SHELL` that is
//! neither is refused, and one found by the rest of the rule gives way to `/bin/sh`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The shell of last resort, and the one used in place of a shell brake cannot quote for.
const DEFAULT: &str = "/bin/sh";

/// Shell names a process may carry as its `argv[0]`, as GNU parallel recognises them.
const SHELL_NAMES: &[&str] = &[
    "ash",
    "bash",
    "bsd-csh",
    "csh",
    "dash",
    "fdsh",
    "fish",
    "fizsh",
    "ksh",
    "ksh93",
    "lksh",
    "mksh",
    "pdksh",
    "posh",
    "rbash",
    "rc",
    "rush",
    "rzsh",
    "sash",
    "sh",
    "static-sh",
    "tcsh",
    "yash",
    "zsh",
];

/// Builtins of bash and dash that share a name with a program but not its behaviour in every
/// case (options, `--help`, `$PWD`, job specs, formats): a job naming one goes through the
/// shell. `echo`, `true` and `false` are judged per job (see [`Shell::runs_directly`]).
const UNLIKE_PROGRAMS: &[&str] = &[
    "[",
    "bind",
    "builtin",
    "caller",
    "compgen",
    "complete",
    "compopt",
    "dirs",
    "disown",
    "enable",
    "fc",
    "help",
    "history",
    "kill",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "readarray",
    "shopt",
    "suspend",
    "test",
];

/// The family of a shell, for its quoting and its builtins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// bash (also as `sh` where `/bin/sh` is bash): reads exported functions and `$BASH_ENV`.
    Bash,
    /// dash and other POSIX `sh`: its `echo` reads backslash escapes.
    Posix,
}

/// Where the shell came from, for `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--shell`.
    Option,
    /// `$PARALLEL_SHELL`.
    ParallelShell,
    /// The shell brake was started from, process `pid`.
    Parent(u32),
    /// `$SHELL`.
    ShellVar,
    /// No shell found: `/bin/sh`.
    Default,
    /// Found, but brake does not quote for it: `/bin/sh` instead.
    InsteadOf(PathBuf),
}

/// The shell jobs run in.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The program run as `SHELL -c COMMAND`.
    pub path: PathBuf,
    /// Its family.
    pub kind: Kind,
    /// Where the choice came from.
    pub origin: Origin,
    /// Names of the bash functions exported in brake's environment (`export -f`).
    functions: Vec<OsString>,
    /// bash reads a startup file (`$BASH_ENV`) or takes options from the environment, which
    /// a job executed directly would miss, or is restricted (rbash refuses what a job
    /// executed directly would run): every job goes through the shell.
    startup: bool,
}

impl Shell {
    /// The shell for this run: `option` is `--shell`; the rest comes from the environment and
    /// the processes above brake. Refuses a shell that does not exist or that brake does not
    /// quote for, when the user named it.
    pub fn choose(option: Option<&OsStr>) -> Result<Shell, String> {
        let named = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        let (wanted, origin) = if let Some(shell) = option {
            (shell.to_owned(), Origin::Option)
        } else if let Some(shell) = named("PARALLEL_SHELL") {
            (shell, Origin::ParallelShell)
        } else if let Some((shell, pid)) = parent_shell() {
            (shell.into_os_string(), Origin::Parent(pid))
        } else if let Some(shell) = named("SHELL") {
            (shell, Origin::ShellVar)
        } else {
            (DEFAULT.into(), Origin::Default)
        };
        let what = match origin {
            Origin::Option => "--shell",
            Origin::ParallelShell => "$PARALLEL_SHELL",
            _ => "the shell",
        };
        let Some(path) = locate(&wanted) else {
            return Err(format!(
                "{what} {}: no such program (name a shell such as bash or /bin/sh)",
                Path::new(&wanted).display()
            ));
        };
        match kind_of(&path) {
            Some(kind) => Ok(Shell::new(path, kind, origin)),
            None if matches!(origin, Origin::Option | Origin::ParallelShell) => Err(format!(
                "{what} {}: brake quotes values for bash and POSIX sh (dash) only; run jobs in \
                 one of them (--shell bash or --shell /bin/sh)",
                path.display()
            )),
            None => Ok(Shell::new(
                DEFAULT.into(),
                Kind::Posix,
                Origin::InsteadOf(path),
            )),
        }
    }

    fn new(path: PathBuf, kind: Kind, origin: Origin) -> Shell {
        let mut functions = Vec::new();
        let mut startup = false;
        if kind == Kind::Bash {
            for (name, _) in std::env::vars_os() {
                let name = name.as_bytes();
                if let Some(function) = name
                    .strip_prefix(b"BASH_FUNC_")
                    .and_then(|rest| rest.strip_suffix(b"%%"))
                {
                    functions.push(OsStr::from_bytes(function).to_owned());
                }
            }
            let restricted = path.file_name().is_some_and(|name| name == "rbash");
            startup = restricted
                || ["BASH_ENV", "BASHOPTS", "SHELLOPTS"]
                    .iter()
                    .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
        }
        Shell {
            path,
            kind,
            origin,
            functions,
            startup,
        }
    }

    /// Whether a job whose words the shell would only split into `argv` gives the same result
    /// executed directly: no function or startup file of the shell's stands in the way, and
    /// the program is no builtin that would behave otherwise with these arguments.
    pub fn runs_directly(&self, argv: &[OsString]) -> bool {
        let Some(program) = argv.first() else {
            return false;
        };
        if self.startup || self.functions.iter().any(|f| f == program) {
            return false;
        }
        let args = &argv[1..];
        let only_help =
            |args: &[OsString]| matches!(args, [one] if one == "--help" || one == "--version");
        match program.to_str() {
            Some(name) if UNLIKE_PROGRAMS.contains(&name) => false,
            Some("true" | "false") => !only_help(args),
            Some("echo") => {
                if only_help(args) || std::env::var_os("POSIXLY_CORRECT").is_some() {
                    return false;
                }
                match self.kind {
                    // bash's echo takes the options the program takes.
                    Kind::Bash => true,
                    // dash's echo takes only a first -n, and reads backslash escapes.
                    Kind::Posix => {
                        let options = args.iter().take_while(|a| is_echo_option(a)).count();
                        let dash_reads_the_same = options == 0 || (options == 1 && args[0] == "-n");
                        dash_reads_the_same && !args.iter().any(|a| a.as_bytes().contains(&b'\\'))
                    }
                }
            }
            _ => true,
        }
    }
}

impl fmt::Display for Shell {
    /// How `--explain` names the choice: `/usr/bin/bash (the shell brake was started from)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.origin {
            Origin::Option => write!(f, "{path} (--shell)"),
            Origin::ParallelShell => write!(f, "{path} ($PARALLEL_SHELL)"),
            Origin::Parent(pid) => {
                write!(
                    f,
                    "{path} (the shell brake was started from, process {pid})"
                )
            }
            Origin::ShellVar => write!(f, "{path} ($SHELL)"),
            Origin::Default => write!(f, "{path} (no shell found above brake, no $SHELL)"),
            Origin::InsteadOf(found) => write!(
                f,
                "{path} (in place of {}, whose quoting brake does not know)",
                found.display()
            ),
        }
    }
}

/// Whether `arg` is an option to coreutils' (and bash's) `echo`: `-` and only `n`, `e`, `E`.
fn is_echo_option(arg: &OsStr) -> bool {
    match arg.as_bytes().strip_prefix(b"-") {
        Some(letters) => !letters.is_empty() && letters.iter().all(|b| b"neE".contains(b)),
        None => false,
    }
}

/// The family of the shell at `path`, judged by the name of the program it is (`/bin/sh` is
/// whatever it links to); `None` for a shell brake does not quote for.
fn kind_of(path: &Path) -> Option<Kind> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name(&real).as_deref() {
        Some("bash" | "rbash") => Some(Kind::Bash),
        Some("dash" | "ash" | "sh") => Some(Kind::Posix),
        // A multi-call binary (busybox) named sh: a POSIX sh as far as its name says.
        _ if name(path).as_deref() == Some("sh") => Some(Kind::Posix),
        _ => None,
    }
}

/// `shell` as a runnable path: as given when it holds a `/`, else found in `$PATH`.
fn locate(shell: &OsStr) -> Option<PathBuf> {
    if shell.as_bytes().contains(&b'/') {
        let path = PathBuf::from(shell);
        return is_executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(shell))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The nearest process above brake whose `argv[0]` names a shell, as a path found in
/// `$PATH` by that name (a login shell's `-sh`, which may be any shell, by its executable),
/// with its process id.
fn parent_shell() -> Option<(PathBuf, u32)> {
    let mut pid = std::os::unix::process::parent_id();
    // A cycle in a broken /proc must not hang the run.
    for _ in 0..4096 {
        if pid == 0 {
            return None;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        if let Some((name, login)) = shell_name(argv0) {
            if name == "sh" && login {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                if let Some(exe) = exe.filter(|e| shell_name(e.as_os_str().as_bytes()).is_some()) {
                    return Some((exe, pid));
                }
            }
            return locate(OsStr::new(name)).map(|path| (path, pid));
        }
        pid = parent_of(pid)?;
    }
    None
}

/// The parent of process `pid`, from `/proc/PID/stat` (the field after the command's
/// closing parenthesis and the state).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The shell named by a process's `argv[0]`, with whether it is a login shell's `-NAME`:
/// `bash`, `/bin/bash`, `-bash`, `[bash]`, `busybox sh`, but not `bash.sh` or `sshd`.
/// FreeBSD's login `sh` shows as `-sh (sh)`.
fn shell_name(argv0: &[u8]) -> Option<(&'static str, bool)> {
    if argv0 == b"-sh (sh)" {
        return Some(("sh", true));
    }
    let word = if let Some(inner) = argv0.strip_prefix(b"[") {
        let end = inner.iter().position(|&b| b == b']')?;
        &inner[..end]
    } else {
        let text = argv0.strip_prefix(b"busybox ").unwrap_or(argv0);
        let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let rest = &text[end..];
        // After the name: nothing, spaces, or an argument that is not a `(`.
        let trailing_ok = rest.iter().all(|&b| b == b' ')
            || (rest.len() > 1 && rest[0] == b' ' && rest[1] != b'(');
        if !trailing_ok {
            return None;
        }
        let word = &text[..end];
        match word.iter().rposition(|&b| b == b'/') {
            Some(slash) => &word[slash + 1..],
            None => word,
        }
    };
    let (name, login) = match word.strip_prefix(b"-") {
        Some(name) => (name, true),
        None => (word, false),
    };
    SHELL_NAMES
        .iter()
        .find(|known| known.as_bytes() == name)
        .map(|known| (*known, login))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<OsString> {
        text.split(' ').map(OsString::from).collect()
    }

    fn shell(kind: Kind) -> Shell {
        Shell {
            path: DEFAULT.into(),
            kind,
            origin: Origin::Default,
            functions: vec![OsString::from("ls")],
            startup: false,
        }
    }

    #[test]
    fn process_names_that_are_shells() {
        assert_eq!(shell_name(b"bash"), Some(("bash", false)));
        assert_eq!(shell_name(b"/usr/bin/zsh"), Some(("zsh", false)));
        assert_eq!(shell_name(b"-bash"), Some(("bash", true)));
        assert_eq!(shell_name(b"[dash]"), Some(("dash", false)));
        assert_eq!(shell_name(b"busybox sh"), Some(("sh", false)));
        assert_eq!(shell_name(b"-sh (sh)"), Some(("sh", true)));
        assert_eq!(shell_name(b"bash -c"), Some(("bash", false)));
        for not in [
            &b"sshd"[..],
            b"bash.sh",
            b"crash",
            b"sh (x)",
            b"",
            b"/usr/bin/perl",
        ] {
            assert_eq!(shell_name(not), None, "{}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn shells_are_judged_by_the_program_they_are() {
        assert_eq!(kind_of(Path::new("/no/where/bash")), Some(Kind::Bash));
        assert_eq!(kind_of(Path::new("/no/where/dash")), Some(Kind::Posix));
        assert_eq!(kind_of(Path::new("/no/where/sh")), Some(Kind::Posix));
        assert_eq!(kind_of(Path::new("/no/where/zsh")), None);
        assert_eq!(kind_of(Path::new("/no/where/fish")), None);
    }

    #[test]
    fn builtins_unlike_their_programs_keep_jobs_in_the_shell() {
        let bash = shell(Kind::Bash);
        assert!(bash.runs_directly(&words("cat a")));
        assert!(bash.runs_directly(&words("echo -n a\\nb")));
        assert!(!bash.runs_directly(&words("echo --help")));
        assert!(bash.runs_directly(&words("echo --help x")));
        assert!(!bash.runs_directly(&words("printf %s a")));
        assert!(!bash.runs_directly(&words("pwd")));
        assert!(!bash.runs_directly(&words("true --version")));
        assert!(bash.runs_directly(&words("true x")));
        let dash = shell(Kind::Posix);
        assert!(dash.runs_directly(&words("echo a b")));
        assert!(dash.runs_directly(&words("echo -n a")));
        assert!(!dash.runs_directly(&words("echo a\\nb")));
        assert!(!dash.runs_directly(&words("echo -e a")));
        assert!(!dash.runs_directly(&words("echo -n -e a")));
        assert!(dash.runs_directly(&words("echo a -e")));
    }

    #[test]
    fn an_exported_function_wins_over_the_program_in_bash() {
        assert!(!shell(Kind::Bash).runs_directly(&words("ls -l")));
        let mut bash = shell(Kind::Bash);
        bash.functions.clear();
        assert!(bash.runs_directly(&words("ls -l")));
        bash.startup = true;
        assert!(!bash.runs_directly(&words("ls -l")));
    }
}
