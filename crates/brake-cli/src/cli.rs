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
pub mod pipe;

pub use self::gnu::{unknown_option, unsupported_replacement};

/// Options of `brake [OPTIONS] COMMAND [ARGS...] [::: VALUES...] [:::: FILES...]`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "brake",
    version,
    about = "Run jobs in parallel; one Ctrl-C stops them all, loses nothing, and a run can resume",
    long_about = None,
    override_usage = "brake [OPTIONS] COMMAND [ARGS...] [::: VALUES...] [:::: FILES...]\n       \
                      brake [OPTIONS] COMMAND [ARGS...] < LINES\n       \
                      brake exec [--termseq SEQ] -- PROGRAM [ARGS...]",
    after_help = AFTER_HELP,
)]
pub struct RunArgs {
    /// Jobs to run at once [default: the number of CPUs]: N, +N or -N (CPUs plus or minus N),
    /// N% (of the CPUs), or 0 (as many as the open-file and process limits allow)
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = parse_jobs, allow_hyphen_values = true)]
    pub jobs: Option<Jobs>,

    /// Keep each command word one argument, quoting its own text too (e.g. brake -q sh -c
    /// 'echo $0' ::: a); without it, the words are joined into one shell command line
    #[arg(short = 'q', long)]
    pub quote: bool,

    /// Print each job's output when it ends, stdout and stderr whole (the default)
    #[arg(long, overrides_with_all = ["line_buffer", "ungroup"])]
    pub group: bool,

    /// Print output line by line as jobs write it; lines of different jobs never mix
    #[arg(long, overrides_with_all = ["group", "ungroup"])]
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
    #[arg(long, value_name = "FILE")]
    pub joblog: Option<PathBuf>,

    /// Run only the jobs that have no line in --joblog (what an earlier run did not finish)
    #[arg(long, requires = "joblog", conflicts_with = "resume_failed")]
    pub resume: bool,

    /// Like --resume, and also run again the jobs that failed
    #[arg(long, requires = "joblog")]
    pub resume_failed: bool,

    /// When to stop early: never, or now|soon,fail|success|done=N or =P% (e.g. now,fail=1)
    #[arg(long, value_name = "WHEN", value_parser = parse_halt, default_value = "never", allow_hyphen_values = true)]
    pub halt: Halt,

    /// Start a failing job again, up to N runs in all
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_retries, allow_hyphen_values = true)]
    pub retries: u32,

    /// End a job that runs longer than this with the termination sequence (--termseq); 30,
    /// 30s, 500ms, 5m, 2h
    ///
    /// The timeout starts the sequence: with the default INT,2000,TERM,1000,KILL, a job that
    /// ignores INT and TERM is killed up to 3 s after its timeout. The message counts the
    /// sequence's signals: "killed by SIGKILL, the 3rd signal of the termination sequence".
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,

    /// Signals and waits (ms) that end a job on a stop or timeout: SIG,MS,SIG,MS,…,KILL
    #[arg(long, value_name = "SEQ", default_value = "INT,2000,TERM,1000,KILL", value_parser = parse_termseq)]
    pub termseq: TermSeq,

    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,

    /// Show a progress bar with an ETA on stderr (only when stderr is a terminal): of this
    /// run's jobs (not those a resume skips), cleared when the run stops
    #[arg(long)]
    pub bar: bool,

    /// Say more on stderr: how jobs are run, what a resumed joblog held
    #[arg(short = 'v', long)]
    pub verbose: bool,

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

    /// Leave out hosts that cannot be reached (brake always does, with a message for each)
    #[arg(long)]
    pub filter_hosts: bool,

    /// On remote hosts, run jobs in DIR (relative to the remote home; created if missing);
    /// ... for a new temporary directory per job, removed when the job ends
    #[arg(long, visible_alias = "wd", value_name = "DIR")]
    pub workdir: Option<String>,

    /// Give remote jobs this variable of brake's environment (repeat for more)
    #[arg(long, value_name = "VAR")]
    pub env: Vec<String>,

    /// `--pipe`, `--pipepart` and the shape of their blocks.
    #[command(flatten)]
    pub pipe: pipe::PipeArgs,

    /// GNU parallel's options for files and environments on remote hosts, which brake does
    /// not have: each is refused with a message rather than ignored.
    #[command(flatten)]
    pub unsupported: Unsupported,

    /// The command, its arguments, then the input sources
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

const AFTER_HELP: &str = "\
Inputs: `::: a b c` gives values, `:::: FILE` one value per line (`-` is stdin); several sources \
give every combination, the first varying slowest. With no source, stdin's lines are the inputs.

Replacement strings: {} the input, {.} without extension, {/} basename, {//} dirname, {/.} \
basename without extension, {#} job number, {%} job slot, {1} {2} … one source's value (also \
{1.} {1/} {1//} {1/.}). Without any, the values are appended. As in GNU parallel, the command's \
words are joined by spaces into one shell command line (`brake 'gzip -c {} > {}.gz' ::: a`); \
-q keeps each word one argument instead. Values are always quoted for where they stand (bare, in \
the command's own quotes, in $(…)), or passed in a variable the line sets first (here-documents, \
${…}, $((…))): input is never run as shell code. {} in a comment stays as written; a command where no \
quoting can hold a value ({} right after $, in a <<'EOF' body) is refused. Commands that need no \
shell are executed directly. GNU parallel's other forms \
({-1}, {= … =}, {+/}, {..}, {##}, … and the linked sources :::+ ::::+) are refused (exit 255), \
never run as literal text.

Stopping: the first Ctrl-C (or SIGTERM, SIGHUP) starts no new job and sends running jobs the \
--termseq; a second Ctrl-C kills them at once. Finished jobs' output is all printed; with \
--joblog, `--resume` later runs just what is missing.

Cgroups: where a writable cgroup v2 exists (root, or a delegated systemd scope), a run's jobs \
start in a cgroup of the run's own, and the run ends with cgroup.kill, which also ends \
descendants that left their process group and cleared their environment (setsid env -i …). \
`--resume` first ends what a SIGKILLed run left in its cgroup. Elsewhere (or --cgroup off) jobs \
are ended by process group and brake's subreaper sweep, which finds escaped descendants by an \
environment variable. -v says which a run uses.

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

/// GNU parallel's remote options that brake refuses (hidden from `--help`).
#[derive(clap::Args, Debug, Default)]
pub struct Unsupported {
    #[arg(
        long = "transferfile",
        visible_alias = "tf",
        hide = true,
        value_name = "FILE"
    )]
    transferfile: Vec<String>,
    #[arg(long, hide = true)]
    transfer: bool,
    #[arg(long = "return", hide = true, value_name = "FILE")]
    return_file: Vec<String>,
    #[arg(long, hide = true)]
    cleanup: bool,
    #[arg(long, hide = true, value_name = "FILE")]
    trc: Vec<String>,
    #[arg(long, visible_alias = "bf", hide = true, value_name = "FILE")]
    basefile: Vec<String>,
    #[arg(long, hide = true)]
    nonall: bool,
    #[arg(long, hide = true)]
    onall: bool,
}

impl Unsupported {
    /// The first of them given, as its option name.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("--transferfile", !self.transferfile.is_empty()),
            ("--transfer", self.transfer),
            ("--return", !self.return_file.is_empty()),
            ("--cleanup", self.cleanup),
            ("--trc", !self.trc.is_empty()),
            ("--basefile", !self.basefile.is_empty()),
            ("--nonall", self.nonall),
            ("--onall", self.onall),
        ]
        .into_iter()
        .find_map(|(name, given)| given.then_some(name))
    }
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

/// `-j`: `N`, `+N`, `-N`, `N%` or `0`.
fn parse_jobs(text: &str) -> Result<Jobs, String> {
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
        _ => {}
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
}

/// Splits `COMMAND ARGS ::: values :::: files` at the source markers. A `:::` begins a source
/// of the values that follow; after `::::` each word names a file (or `-`, stdin) that is a
/// source of its own, as in GNU parallel. GNU's linked sources (`:::+`, `::::+`) are refused
/// wherever they stand, as GNU parallel would take them as markers there too.
pub fn split_sources(all: &[OsString]) -> Result<Split, String> {
    if let Some(refusal) = all.iter().find_map(gnu::unsupported_marker) {
        return Err(refusal);
    }
    let marker = |word: &OsStr| word == ":::" || word == "::::";
    let start = all.iter().position(|w| marker(w)).unwrap_or(all.len());
    let words = all[..start].to_vec();
    if words.is_empty() {
        return Err("a command is needed before ::: or :::: (e.g. brake echo ::: a b)".into());
    }
    let mut sources = Vec::new();
    let mut rest = &all[start..];
    while let Some((kind, after)) = rest.split_first() {
        let end = after.iter().position(|w| marker(w)).unwrap_or(after.len());
        let (items, next) = after.split_at(end);
        if kind == ":::" {
            sources.push(Source::Args(items.to_vec()));
        } else {
            if items.is_empty() {
                return Err(":::: needs at least one file name (or - for stdin)".into());
            }
            sources.extend(items.iter().map(|file| Source::File(PathBuf::from(file))));
        }
        rest = next;
    }
    Ok(Split { words, sources })
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
        assert!(split_sources(&words("::: a"))
            .unwrap_err()
            .contains("command"));
        assert!(split_sources(&words("cat ::::"))
            .unwrap_err()
            .contains("file"));
        for linked in ["echo ::: a b :::+ 1 2", "cat :::: a ::::+ b", "echo :::+ x"] {
            assert!(
                split_sources(&words(linked))
                    .unwrap_err()
                    .contains("GNU parallel's source linked"),
                "{linked}"
            );
        }
    }
}
