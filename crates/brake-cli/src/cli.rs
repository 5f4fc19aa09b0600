//! The job runner's command line: clap's options, then the `:::` / `::::` input sources split off
//! the command words, and the small value types (`--halt`, `--timeout`, `-j`) parsed into what
//! the runner uses. Everything here is checked before a job starts or a joblog is opened.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use brake::TermSeq;

use crate::inputs::Source;

mod gnu;
mod inputs;
pub mod onall;
pub mod options;
pub mod pack;
pub mod pipe;
mod shell;
mod template;

pub use self::gnu::unknown_option;
pub use self::inputs::{highest_position, InputArgs};
pub use self::shell::ShellArgs;
pub use self::template::TemplateArgs;

/// Options of `brake [OPTIONS] COMMAND [ARGS...] [::: VALUES...] [:::: FILES...]`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "brake",
    version,
    about = "Run jobs in parallel; one Ctrl-C stops them all, loses nothing, and a run can resume",
    long_about = None,
    override_usage = "brake [OPTIONS] COMMAND [ARGS...] [::: VALUES...] [:::: FILES...]\n       \
                      brake [OPTIONS] COMMAND [ARGS...] < LINES\n       \
                      brake [OPTIONS] [::: COMMANDS...] [:::: FILES...]   (or < LINES: commands)\n       \
                      brake exec [--termseq SEQ] -- PROGRAM [ARGS...]",
    after_help = AFTER_HELP,
)]
pub struct RunArgs {
    /// Jobs to run at once [default: the number of CPUs]: N, +N or -N (CPUs plus or minus N),
    /// N% (of the CPUs), or 0 (as many as the open-file and process limits allow)
    #[arg(short = 'j', long = "jobs", short_alias = 'P', aliases = ["max-procs", "procs"], value_name = "N", value_parser = parse_jobs, allow_hyphen_values = true)]
    pub jobs: Option<Jobs>,

    /// Keep each command word one argument, quoting its own text too (e.g. brake -q sh -c
    /// 'echo $0' ::: a); without it, the words are joined into one shell command line
    #[arg(short = 'q', long)]
    pub quote: bool,

    /// Print each job's output when it ends, stdout and stderr whole (the default)
    #[arg(long, overrides_with_all = ["line_buffer", "ungroup"])]
    pub group: bool,

    /// Print output line by line as jobs write it; lines of different jobs never mix
    #[arg(long, aliases = ["linebuffer", "lb"], overrides_with_all = ["group", "ungroup"])]
    pub line_buffer: bool,

    /// Jobs write straight to brake's stdout and stderr, unbuffered (output may interleave)
    #[arg(short = 'u', long, overrides_with_all = ["group", "line_buffer"])]
    pub ungroup: bool,

    /// Print the outputs in the order of the inputs, not in the order jobs end
    #[arg(short = 'k', long)]
    pub keep_order: bool,

    /// Prefix each output line with the job's input values and a tab
    #[arg(long)]
    pub tag: bool,

    /// Record each finished job in FILE, in GNU parallel's joblog format (- for stdout)
    ///
    /// With -, the header and each job's line go to stdout, each line whole between jobs'
    /// output; nothing can be resumed from there.
    ///
    /// FILE must be a regular file. In a directory other users can write to (/tmp), brake
    /// refuses a FILE that is a symbolic link, another user's file or a hard link, or that is
    /// reached through a symbolic link there (exit 255, nothing run): someone could have
    /// planted it to make brake write to a file of yours.
    #[arg(long, alias = "jl", value_name = "FILE")]
    pub joblog: Option<PathBuf>,

    /// Run only the jobs that have no line in --joblog (what an earlier run did not finish)
    #[arg(long, requires = "joblog", conflicts_with = "resume_failed")]
    pub resume: bool,

    /// Like --resume, and also run again the jobs that failed
    #[arg(long, requires = "joblog")]
    pub resume_failed: bool,

    /// When to stop early: never, or now|soon,fail|success|done=N or =P% (e.g. now,fail=1)
    #[arg(long, alias = "halt-on-error", value_name = "WHEN", value_parser = parse_halt, default_value = "never", allow_hyphen_values = true)]
    pub halt: Halt,

    /// Start a failing job again, up to N runs in all (0: until it succeeds)
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_retries, allow_hyphen_values = true)]
    pub retries: u32,

    /// End a job that runs longer than this with the termination sequence (--termseq); 30,
    /// 30s, 500ms, 5m, 2h
    ///
    /// The timeout starts the sequence: with the default INT,2000,TERM,1000,KILL, a job that
    /// ignores INT and TERM is killed up to 3 s after its timeout. The message counts the
    /// sequence's signals: "killed by SIGKILL, the 3rd signal of the termination sequence".
    ///
    /// N% (GNU parallel's form): N percent of the median run time of the jobs that succeeded so
    /// far; no timeout until one has.
    #[arg(long, value_name = "DURATION", value_parser = options::parse_timeout, allow_hyphen_values = true)]
    pub timeout: Option<options::Timeout>,

    /// Signals and waits (ms) that end a job on a stop or timeout: SIG,MS,SIG,MS,…,KILL
    #[arg(long, value_name = "SEQ", default_value = "INT,2000,TERM,1000,KILL", value_parser = parse_termseq)]
    pub termseq: TermSeq,

    /// Print the commands instead of running them
    #[arg(long, alias = "dryrun")]
    pub dry_run: bool,

    /// Show a progress bar with an ETA on stderr (only when stderr is a terminal): of this
    /// run's jobs (not those a resume skips), cleared when the run stops
    #[arg(long)]
    pub bar: bool,

    /// Write the summary as JSON to FILE at the end
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Put the run's jobs in a cgroup of its own and end it with cgroup.kill (Linux, cgroup
    /// v2): auto where one is writable, on to require it, off for process groups only
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = CgroupMode::Auto)]
    pub cgroup: CgroupMode,

    /// Run jobs on other machines over ssh: host, user@host, host:port, N/host (N jobs at once
    /// there, else -j), or : for this machine; a comma-separated list, or repeat the option
    #[arg(short = 'S', long = "sshlogin", value_name = "LOGINS")]
    pub sshlogin: Vec<String>,

    /// Read sshlogins from FILE, one (or a comma-separated list) per line; # starts a comment
    #[arg(long = "slf", visible_alias = "sshloginfile", value_name = "FILE")]
    pub sshloginfile: Vec<PathBuf>,

    /// The ssh command for -S, split at spaces [default: $PARALLEL_SSH, else ssh]
    #[arg(long, value_name = "CMD")]
    pub ssh: Option<String>,

    /// With --onall, leave out hosts that cannot be reached rather than fail their jobs (255);
    /// without --onall brake always leaves them out, with a message for each
    #[arg(long)]
    pub filter_hosts: bool,

    /// On remote hosts, run jobs in DIR (relative to the remote home; created if missing);
    /// ... for a new temporary directory per job, removed when the job ends
    #[arg(long, visible_alias = "wd", value_name = "DIR")]
    pub workdir: Option<String>,

    /// Give remote jobs this variable of brake's environment (repeat for more)
    #[arg(long, value_name = "VAR")]
    pub env: Vec<String>,

    /// Files that travel with remote jobs.
    #[command(flatten)]
    pub files: RemoteFiles,

    /// `--pipe`, `--pipepart` and the shape of their blocks.
    #[command(flatten)]
    pub pipe: pipe::PipeArgs,

    /// `--onall`, `--nonall`.
    #[command(flatten)]
    pub onall: onall::OnallArgs,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub pack: pack::PackArgs,

    #[command(flatten)]
    pub options: options::Options,

    /// The command, its arguments, then the input sources
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,

    #[command(flatten)]
    pub shell: ShellArgs,

    #[command(flatten)]
    pub template: TemplateArgs,
}

const AFTER_HELP: &str = "\
Inputs: `::: a b c` gives values, `:::: FILE` one value per line (`-` is stdin); several sources \
give every combination, the first varying slowest; `:::+ VALUES` and `::::+ FILES` pair a source \
with the one before, value by value (see --link). With no source, stdin's lines are the inputs. \
With no command, each job's values (joined by spaces) are its command line, run by the shell as \
written: `brake -j8 < cmds.txt`, `brake ::: 'ls' 'echo foo'`.

Shell: jobs run in $PARALLEL_SHELL, else the shell brake was started from, else $SHELL, else \
/bin/sh (--shell overrides all), so exported bash functions (export -f) work in jobs. brake \
quotes for bash and POSIX sh (dash) only: another shell named is refused, another found is \
replaced by /bin/sh. Jobs get $PARALLEL_SEQ ({#}), $PARALLEL_JOBSLOT ({%}), $PARALLEL_PID \
(brake's) and $PARALLEL_SSHLOGIN.

Replacement strings: {} the input, {.} without extension, {/} basename, {//} dirname, {/.} \
basename without extension, {#} job number, {%} job slot, {1} {2} … one source's value and {-1} \
{-2} … counted from the last (also {1.} {-1/} …). With --plus also {..} {...} {/..} {/...} (two \
or three extensions off), {+/} {+.} {+..} {+...} (the parts those leave out), {##} the number \
of jobs, {0#} {0%} zero-padded, and the shell-like {:-DEFAULT} {:N} {:N:LEN} {#PRE} {##PRE} \
{%SUF} {%%SUF} {/RE/NEW} {//RE/NEW} {^X} {^^X} {,X} {,,X}. -I STR (or --replace=STR, \
--extensionreplace, --basenamereplace, --dirnamereplace, --basenameextensionreplace, \
--seqreplace, --slotreplace) renames one. GNU parallel's Perl expressions {= s/a/b/ =} (also \
{=2 … =}, --rpl 'TAG PERL', --parens) run in one perl process per run, with $_, @arg, \
$job->seq(), seq(), slot(), total_jobs(), skip() and Q(). Without any replacement string, the \
values are appended. As in GNU parallel, the command's \
words are joined by spaces into one shell command line (`brake 'gzip -c {} > {}.gz' ::: a`); \
-q keeps each word one argument instead. Every value, computed ones too, is quoted for where it \
stands (bare, in the command's own quotes, in $(…)), or passed in a variable the line sets first \
(here-documents, ${…}, $((…))): input is never run as shell code (a Perl expression calling \
uq() is refused). {} in a comment stays as written; a command where no \
quoting can hold a value ({} right after $, in a <<'EOF' body) is refused. Where the shell would \
only run a program (no function, builtin or startup file of the shell's in the way), the job \
executes it directly.

Stopping: the first Ctrl-C (or SIGTERM, SIGHUP) starts no new job and sends running jobs the \
--termseq; a second Ctrl-C kills them at once. Finished jobs' output is all printed; with \
--joblog, `--resume` later runs just what is missing.

Cgroups: where a writable cgroup v2 exists (root, or a delegated systemd scope), a run's jobs \
start in a cgroup of the run's own, and the run ends with cgroup.kill, which also ends \
descendants that left their process group and cleared their environment (setsid env -i …). \
`--resume` first ends what a SIGKILLed run left in its cgroup. Elsewhere (or --cgroup off) jobs \
are ended by process group and brake's subreaper sweep, which finds escaped descendants by an \
environment variable. --explain says which a run uses.

Summary: one `brake:` line on stderr at the end, when stderr is a terminal or when not every job \
succeeded; after a stop, a line before it names the first jobs the stop interrupted, and \
without --joblog the summary says that nothing can be resumed.

Exit status: 0 all jobs succeeded; 1-100 the number of failed jobs; 101 more than 100 failed \
(after --resume, jobs the joblog shows failed count too: the status is that of the whole job \
list); \
128+N stopped by signal N (130 after Ctrl-C, 143 after SIGTERM, 129 when the terminal \
closed); 141 stdout was closed; 255 usage or internal error, or input that cannot become a \
command (a NUL byte, an argument over 128 KiB, a command line over ARG_MAX: those jobs are not \
run, not logged and not counted as failed) unless a signal stopped the run. (GNU parallel also counts \
failures, but exits 255 after a signal.)

`brake exec -- PROGRAM ARGS` runs one program and its whole process tree under the same \
contract; see `brake exec --help`.";

/// Files that travel with remote jobs, as GNU parallel names them (ignored without -S).
#[derive(clap::Args, Debug, Default)]
pub struct RemoteFiles {
    /// With -S, send FILE (with replacement strings, e.g. {}) to the host before each job:
    /// relative paths land in --workdir, absolute ones at the same path, and in a/./b only b
    /// is kept, relative to --workdir
    #[arg(long = "transferfile", visible_alias = "tf", value_name = "FILE")]
    pub transferfile: Vec<OsString>,
    /// Short for --transferfile {}
    #[arg(long)]
    pub transfer: bool,
    /// With -S, bring FILE (with replacement strings) back from the host after each job, to
    /// the path it names here
    #[arg(long = "return", value_name = "FILE")]
    pub return_file: Vec<OsString>,
    /// With -S, remove the files sent and brought back from the host after each job (and the
    /// basefiles after the run)
    #[arg(long)]
    pub cleanup: bool,
    /// Short for --transfer --return FILE --cleanup
    #[arg(long, value_name = "FILE")]
    pub trc: Vec<OsString>,
    /// With -S, send FILE to each host once, before its first job
    #[arg(long, visible_alias = "bf", value_name = "FILE")]
    pub basefile: Vec<OsString>,
}

/// `--cgroup`: whether a run's jobs go in a cgroup of its own.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Where a writable cgroup v2 exists; process groups elsewhere.
    Auto,
    /// Always; a run that cannot have one does not start.
    On,
    /// Never: process groups, the subreaper and the marker only.
    Off,
}

/// `-j`: how many jobs run at once, as GNU parallel writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jobs {
    /// `N`.
    Count(usize),
    /// `+N`: the number of CPUs plus N.
    Plus(usize),
    /// `-N`: the number of CPUs minus N, at least 1.
    Minus(usize),
    /// `N%`: N percent of the CPUs, at least 1.
    Percent(usize),
    /// `0`: as many as the limits allow.
    AsManyAsAllowed,
}

impl Jobs {
    /// The count for a machine with `cpus` CPUs; `None` for [`Jobs::AsManyAsAllowed`].
    pub fn count(self, cpus: usize) -> Option<usize> {
        match self {
            Jobs::Count(n) => Some(n),
            Jobs::Plus(n) => Some(cpus.saturating_add(n)),
            Jobs::Minus(n) => Some(cpus.saturating_sub(n).max(1)),
            Jobs::Percent(p) => Some((cpus.saturating_mul(p) / 100).max(1)),
            Jobs::AsManyAsAllowed => None,
        }
    }
}

/// `-j`: `N`, `+N`, `-N`, `N%` or `0`, or (as GNU parallel reads it) a file holding one of
/// them. The file is read once, as the run begins.
pub(crate) fn parse_jobs(text: &str) -> Result<Jobs, String> {
    let err = match parse_job_count(text) {
        Ok(jobs) => return Ok(jobs),
        Err(err) => err,
    };
    let path = std::path::Path::new(text);
    if !path.is_file() {
        return Err(err);
    }
    let contents = std::fs::read_to_string(path)
        .map_err(|read| format!("-j {text:?}: cannot read the file: {read}"))?;
    parse_job_count(contents.trim()).map_err(|_| {
        format!(
            "-j {text:?}: the file holds {:?}, not a number of jobs (N, +N, -N, N% or 0)",
            crate::escape::shorten(std::ffi::OsStr::new(contents.trim()), 40)
        )
    })
}

/// `N`, `+N`, `-N`, `N%` or `0`.
fn parse_job_count(text: &str) -> Result<Jobs, String> {
    let bad = || {
        format!(
            "{text:?} is not a number of jobs: write N (e.g. -j 4), +N or -N (the number of \
             CPUs plus or minus N), N% (of the CPUs) or 0 (as many as the limits allow)"
        )
    };
    let number = |digits: &str| -> Result<usize, String> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map_err(|_| bad())
    };
    if let Some(n) = text.strip_prefix('+') {
        return number(n).map(Jobs::Plus);
    }
    if let Some(n) = text.strip_prefix('-') {
        return number(n).map(Jobs::Minus);
    }
    if let Some(p) = text.strip_suffix('%') {
        return match number(p)? {
            0 => Err(format!(
                "{text:?}: a share of the CPUs must be more than 0%"
            )),
            p => Ok(Jobs::Percent(p)),
        };
    }
    match number(text)? {
        0 => Ok(Jobs::AsManyAsAllowed),
        n => Ok(Jobs::Count(n)),
    }
}

/// `--retries`: how many runs a failing job gets in all.
fn parse_retries(text: &str) -> Result<u32, String> {
    text.parse::<u32>().map_err(|_| {
        format!(
            "{text:?} is not a number of runs: --retries N runs a failing job up to N times in \
             all (a whole number such as 3)"
        )
    })
}

/// `--termseq`: GNU parallel's `SIG,MS,SIG,MS,…` (for the runner and `brake exec` alike).
pub fn parse_termseq(text: &str) -> Result<TermSeq, String> {
    text.parse::<TermSeq>().map_err(|err| err.to_string())
}

/// `--timeout`: a number of seconds, or a number with a unit (ms, s, m, h, d).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{text:?} is not a duration (expected seconds such as 30 or 2.5, or 500ms, 30s, 5m, 2h, 1d)")
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if trimmed.starts_with('-') {
        return Err(format!(
            "{text:?}: a timeout must be more than zero (e.g. --timeout 30s)"
        ));
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(bad()),
    };
    let seconds = value * scale;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{text:?}: a timeout must be more than zero"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// `--halt`: when a run stops early by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Halt {
    /// `soon` (no new jobs, running ones finish) or `now` (running ones are ended too).
    pub now: bool,
    /// What is counted.
    pub on: HaltOn,
    /// How many.
    pub threshold: Threshold,
}

/// What `--halt` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltOn {
    /// Never halt.
    Never,
    /// Failed jobs.
    Fail,
    /// Succeeded jobs.
    Success,
    /// Finished jobs, either way.
    Done,
}

/// A `--halt` threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// This many jobs.
    Count(u64),
    /// This share of the jobs (of all jobs when their number is known, else of those finished,
    /// once at least three have).
    Percent(f64),
}

impl Halt {
    /// Whether the rule fires, given the counts so far and the number of jobs when known.
    pub fn fires(&self, failed: u64, succeeded: u64, total: Option<u64>) -> bool {
        let count = match self.on {
            HaltOn::Never => return false,
            HaltOn::Fail => failed,
            HaltOn::Success => succeeded,
            HaltOn::Done => failed + succeeded,
        };
        match self.threshold {
            Threshold::Count(n) => count >= n,
            Threshold::Percent(p) => {
                let base = match total {
                    Some(total) => total,
                    None if failed + succeeded >= 3 => failed + succeeded,
                    None => return false,
                };
                base > 0 && count as f64 * 100.0 >= p * base as f64
            }
        }
    }
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = match self.on {
            HaltOn::Never => return f.write_str("never"),
            HaltOn::Fail => "fail",
            HaltOn::Success => "success",
            HaltOn::Done => "done",
        };
        let when = if self.now { "now" } else { "soon" };
        match self.threshold {
            Threshold::Count(n) => write!(f, "{when},{on}={n}"),
            Threshold::Percent(p) => write!(f, "{when},{on}={p}%"),
        }
    }
}

/// `--halt`: `never`, `now|soon,fail|success|done=N|P%`, or GNU parallel's short forms `0`
/// (never), `1` (soon,fail=1) and `2` (now,fail=1).
pub fn parse_halt(text: &str) -> Result<Halt, String> {
    let bad = || {
        format!(
            "{text:?} is not a halt rule (expected never, or now|soon,fail|success|done=N or =P%, \
             e.g. now,fail=1 or soon,fail=10%)"
        )
    };
    let never = Halt {
        now: false,
        on: HaltOn::Never,
        threshold: Threshold::Count(0),
    };
    let short = |now| Halt {
        now,
        on: HaltOn::Fail,
        threshold: Threshold::Count(1),
    };
    match text {
        "never" | "0" => return Ok(never),
        "1" => return Ok(short(false)),
        "2" => return Ok(short(true)),
        "-1" | "-2" => {
            return Ok(Halt {
                on: HaltOn::Success,
                ..short(text == "-2")
            })
        }
        _ => {}
    }
    // GNU's older `P%`: soon,fail=P%.
    if let Some(percent) = text.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) {
        if percent > 0.0 && percent < 100.0 {
            return Ok(Halt {
                threshold: Threshold::Percent(percent),
                ..short(false)
            });
        }
    }
    let (when, rule) = text.split_once(',').ok_or_else(bad)?;
    let now = match when {
        "now" => true,
        "soon" => false,
        _ => return Err(bad()),
    };
    let (on, amount) = rule.split_once('=').ok_or_else(bad)?;
    let on = match on {
        "fail" => HaltOn::Fail,
        "success" => HaltOn::Success,
        "done" => HaltOn::Done,
        _ => return Err(bad()),
    };
    let threshold = match amount.strip_suffix('%') {
        Some(percent) => match percent.parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Threshold::Percent(p),
            _ => return Err(bad()),
        },
        None => match amount.parse::<u64>() {
            Ok(n) if n > 0 => Threshold::Count(n),
            _ => return Err(bad()),
        },
    };
    Ok(Halt { now, on, threshold })
}

/// The command words split from their input sources.
#[derive(Debug)]
pub struct Split {
    /// The command and its arguments (the template).
    pub words: Vec<OsString>,
    /// The sources in order; empty when the inputs come from stdin.
    pub sources: Vec<Source>,
    /// For each source, whether it is linked to the one before (`:::+`, `::::+`).
    pub linked: Vec<bool>,
}

/// Splits `COMMAND ARGS ::: values :::: files` at the source markers (see
/// [`split_sources_with`]).
pub fn split_sources(all: &[OsString]) -> Result<Split, String> {
    split_sources_with(all, OsStr::new(":::"), OsStr::new("::::"))
}

/// Splits `COMMAND ARGS ::: values :::: files` at the source markers, `values` and `files`
/// being their spellings (`--arg-sep`, `--arg-file-sep`). A `:::` begins a source of the values
/// that follow; after `::::` each word names a file (or `-`, stdin) that is a source of its
/// own, as in GNU parallel. The same markers with a `+` (`:::+`, `::::+`) link their sources
/// to the one before, value by value.
pub fn split_sources_with(
    all: &[OsString],
    values: &OsStr,
    files: &OsStr,
) -> Result<Split, String> {
    let plus = |marker: &OsStr| {
        let mut linked = marker.to_os_string();
        linked.push("+");
        linked
    };
    let (values_plus, files_plus) = (plus(values), plus(files));
    // (is a file marker, is linked)
    let marker = |word: &OsStr| match word {
        w if w == values => Some((false, false)),
        w if w == values_plus => Some((false, true)),
        w if w == files => Some((true, false)),
        w if w == files_plus => Some((true, true)),
        _ => None,
    };
    let start = all
        .iter()
        .position(|w| marker(w).is_some())
        .unwrap_or(all.len());
    let words = all[..start].to_vec();
    let mut sources = Vec::new();
    let mut linked = Vec::new();
    let mut rest = &all[start..];
    while let Some((kind, after)) = rest.split_first() {
        let (is_file, is_linked) = marker(kind).unwrap_or((false, false));
        let end = after
            .iter()
            .position(|w| marker(w).is_some())
            .unwrap_or(after.len());
        let (items, next) = after.split_at(end);
        if !is_file {
            sources.push(Source::Args(items.to_vec()));
            linked.push(is_linked);
        } else {
            if items.is_empty() {
                return Err(format!(
                    "{} needs at least one file name (or - for stdin)",
                    kind.to_string_lossy()
                ));
            }
            sources.extend(items.iter().map(|file| Source::File(PathBuf::from(file))));
            linked.extend(items.iter().map(|_| is_linked));
        }
        rest = next;
    }
    Ok(Split {
        words,
        sources,
        linked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<OsString> {
        text.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn jobs_take_gnu_forms() {
        assert_eq!(parse_jobs("8"), Ok(Jobs::Count(8)));
        assert_eq!(parse_jobs("+1"), Ok(Jobs::Plus(1)));
        assert_eq!(parse_jobs("-1"), Ok(Jobs::Minus(1)));
        assert_eq!(parse_jobs("50%"), Ok(Jobs::Percent(50)));
        assert_eq!(parse_jobs("0"), Ok(Jobs::AsManyAsAllowed));
        for bad in ["abc", "", "+", "-", "%", "1.5", "+-1", "--1", "4x", "-j"] {
            assert!(
                parse_jobs(bad)
                    .unwrap_err()
                    .contains("is not a number of jobs: write N"),
                "{bad}"
            );
        }
        assert!(parse_jobs("0%").unwrap_err().contains("more than 0%"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jobs");
        std::fs::write(&file, "3\n").unwrap();
        assert_eq!(parse_jobs(file.to_str().unwrap()), Ok(Jobs::Count(3)));
        std::fs::write(&file, "x\n").unwrap();
        assert!(parse_jobs(file.to_str().unwrap())
            .unwrap_err()
            .contains("the file holds \"x\""));
        assert_eq!(Jobs::Plus(1).count(4), Some(5));
        assert_eq!(Jobs::Minus(1).count(4), Some(3));
        assert_eq!(Jobs::Minus(9).count(4), Some(1));
        assert_eq!(Jobs::Percent(50).count(4), Some(2));
        assert_eq!(Jobs::Percent(10).count(4), Some(1));
        assert_eq!(Jobs::Percent(300).count(4), Some(12));
        assert_eq!(Jobs::AsManyAsAllowed.count(4), None);
    }

    #[test]
    fn retries_and_timeouts_refuse_negatives_in_words() {
        assert_eq!(parse_retries("3"), Ok(3));
        assert!(parse_retries("-1")
            .unwrap_err()
            .contains("not a number of runs"));
        assert!(parse_duration("-5")
            .unwrap_err()
            .contains("a timeout must be more than zero"));
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("0").unwrap_err().contains("more than zero"));
        assert!(parse_duration("10x")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1e400").is_err());
    }

    #[test]
    fn halt_rules_parse_and_fire() {
        let rule = parse_halt("now,fail=2").unwrap();
        assert!(rule.now);
        assert!(!rule.fires(1, 10, None));
        assert!(rule.fires(2, 0, None));
        assert_eq!(rule.to_string(), "now,fail=2");
        let short = parse_halt("1").unwrap();
        assert_eq!(short.to_string(), "soon,fail=1");
        assert_eq!(parse_halt("-1").unwrap().to_string(), "soon,success=1");
        assert_eq!(parse_halt("-2").unwrap().to_string(), "now,success=1");
        assert_eq!(parse_halt("20%").unwrap().to_string(), "soon,fail=20%");
        let pct = parse_halt("soon,fail=10%").unwrap();
        assert!(!pct.fires(9, 0, Some(100)));
        assert!(pct.fires(10, 0, Some(100)));
        assert!(!pct.fires(1, 0, None), "needs three finished jobs");
        assert!(pct.fires(1, 2, None));
        assert!(!parse_halt("never").unwrap().fires(100, 0, None));
        for bad in [
            "later,fail=1",
            "now,fail",
            "now,fail=0",
            "now,oops=1",
            "now,fail=150%",
        ] {
            assert!(
                parse_halt(bad).unwrap_err().contains("not a halt rule"),
                "{bad}"
            );
        }
    }

    #[test]
    fn sources_split_at_markers() {
        let split = split_sources(&words("echo {1} {2} ::: a b ::: 1 2 3")).unwrap();
        assert_eq!(split.words, words("echo {1} {2}"));
        assert_eq!(split.sources.len(), 2);
        let split = split_sources(&words("wc -l :::: x.txt - ::: a")).unwrap();
        assert_eq!(split.sources.len(), 3);
        assert!(matches!(&split.sources[1], Source::File(p) if p.as_os_str() == "-"));
        let split = split_sources(&words("echo hi")).unwrap();
        assert!(split.sources.is_empty());
        let split = split_sources(&words("echo :::")).unwrap();
        assert!(matches!(&split.sources[0], Source::Args(v) if v.is_empty()));
        let split = split_sources(&words("::: a")).unwrap();
        assert!(split.words.is_empty());
        assert!(split_sources(&words("cat ::::"))
            .unwrap_err()
            .contains("file"));
        let split = split_sources(&words("echo ::: a b :::+ 1 2 :::: f ::::+ g h")).unwrap();
        assert_eq!(split.linked, [false, true, false, true, true]);
        assert_eq!(split.sources.len(), 5);
    }

    #[test]
    fn sources_split_at_other_spellings() {
        let split = split_sources_with(
            &words("echo ,, a ::: b // f ,,+ c"),
            ",,".as_ref(),
            "//".as_ref(),
        )
        .unwrap();
        assert_eq!(split.words, words("echo"));
        assert_eq!(
            split.sources,
            [
                Source::Args(words("a ::: b")),
                Source::File("f".into()),
                Source::Args(words("c"))
            ]
        );
        assert_eq!(split.linked, [false, false, true]);
    }
}
