//! A run's plan: the parsed command line turned, once, into the decisions the runner acts on —
//! the template and its inputs, how many jobs run at once, how output is printed, how jobs are
//! started and ended, the joblog, and what the run asks of containment. Nothing here starts a
//! job; the runner reads no option of its own.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use brake::child::ChildOptions;
use brake::TermSeq;

use crate::cli::{split_sources_with, Halt, Jobs, RemoteFiles, RunArgs};
use crate::containment::Wishes;
use crate::extras::Extras;
use crate::inputs::group::Grouped;
use crate::inputs::{Inputs, Source};
use crate::joblog::{Joblog, Mode as LogMode, Previous};
use crate::output::Mode;
use crate::remote::onall::Onall;
use crate::remote::ssh::Ssh;
use crate::remote::sshlogin::{self, SshLogin};
use crate::remote::transfer::{PathTemplate, Transfers};
use crate::remote::wrapper::{RemoteSetting, Workdir};
use crate::shell::Shell;
use crate::template::Template;

/// A run that could not begin: bad arguments or inputs, an unusable joblog. Nothing ran.
#[derive(Debug)]
pub struct RunError(pub String);

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A refusal whose message is `err`'s.
pub fn refuse(err: impl fmt::Display) -> RunError {
    RunError(err.to_string())
}

/// What a run does, decided before it begins.
pub struct Plan {
    /// The command each job runs, values put in.
    pub template: Template,
    /// The inputs, opened: one job per combination of values, or per group of them (`-N`,
    /// `-X`, …).
    pub inputs: Grouped,
    /// `--pipe` / `--pipepart`: the blocks, one job each, in place of `inputs`.
    pub blocks: Option<crate::pipe::Feed>,
    /// How many jobs run at once: `-j` (or the number of CPUs) fitted to the process limits.
    pub jobs: usize,
    /// How jobs' output is printed.
    pub output: OutputPlan,
    /// When a job is ended or run again, and when the run stops early.
    pub rules: Rules,
    /// The termination sequence that ends a job on a stop or a timeout.
    pub termseq: TermSeq,
    /// The joblog, if any, and how it is opened.
    pub joblog: Option<JoblogPlan>,
    /// What the run asks of containment.
    pub containment: Wishes,
    /// `--dry-run`: print the commands, run nothing.
    pub dry_run: bool,
    /// `--bar`: a progress bar on stderr.
    pub bar: bool,
    /// The shell jobs run in.
    pub shell: Shell,
    /// `-t`/`--verbose`: each command on stderr as its job starts.
    pub trace: bool,
    /// `-v`: each command on stdout, with its job's output.
    pub verbose: bool,
    /// `--explain`: say on stderr how jobs are run.
    pub explain: bool,
    /// `--json`: where the summary goes as JSON.
    pub json: Option<PathBuf>,
    /// `-S`/`--slf`: the hosts jobs run on, when not only this machine.
    pub remote: Option<RemotePlan>,
    /// `--onall`, `--nonall`: every job on every host.
    pub onall: Option<Onall>,
    /// GNU parallel's scheduling and output options (`--delay`, `--shuf`, `--nice`,
    /// `--tagstring`, `--files`, `--results`).
    pub extras: Extras,
    /// Lines for stderr before the run begins: `-j` lowered to the limits, inputs read from
    /// the terminal, and with `--explain` how jobs are run.
    pub notes: Vec<String>,
}

/// Where jobs run with `-S`: the hosts, each with the jobs at once that `-j` gives for its
/// CPUs unless its sshlogin says `N/`, and the ssh command that reaches them.
pub struct RemotePlan {
    /// The sshlogins, each once.
    pub logins: Vec<SshLogin>,
    /// `-j`, counted per host (see `Cluster::connect`).
    pub jobs: Option<Jobs>,
    /// `--ssh`, `PARALLEL_SSH` or `ssh`.
    pub ssh: Ssh,
    /// `--workdir` and `--env`: where and with what remote jobs run.
    pub setting: RemoteSetting,
}

/// How jobs' output is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputPlan {
    /// `--group` (the default), `--line-buffer` or `--ungroup`.
    pub mode: Mode,
    /// `-k`: in input order.
    pub keep_order: bool,
    /// `--tag`: each line after the job's values.
    pub tag: bool,
}

/// When a job is ended or run again, and when the run stops early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// `--halt`.
    pub halt: Halt,
    /// `--timeout`: how long a job may run.
    pub timeout: Option<Duration>,
    /// `--timeout N%`: how long a job may run, in percent of the median run time of the jobs
    /// that succeeded so far.
    pub timeout_percent: Option<f64>,
    /// `--retries`: how many runs a failing job gets in all.
    pub retries: u32,
}

/// The joblog: where, and whether an earlier run's lines are read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoblogPlan {
    /// `--joblog`.
    pub path: PathBuf,
    /// Fresh, or `--resume` / `--resume-failed`.
    pub mode: LogMode,
}

impl Plan {
    /// Decides the run `args` describe; opens its inputs and fits `-j` to the limits (raising
    /// the soft limit on open files if that helps). Refuses a bad template or input.
    pub fn new(args: &RunArgs) -> Result<Plan, RunError> {
        let onall = args.onall.any();
        if onall && (args.resume || args.resume_failed) {
            return Err(RunError(
                "--resume with --onall or --nonall is not supported: the joblog numbers each \
                 host's jobs from 1, so it cannot tell which host ran which job (run again \
                 without --resume)"
                    .into(),
            ));
        }
        if onall && args.halt.on != crate::cli::HaltOn::Never {
            return Err(RunError(
                "--halt with --onall or --nonall is not supported: GNU parallel counts failed \
                 hosts there, and brake would count jobs (run without --halt)"
                    .into(),
            ));
        }
        if onall && args.pipe.any() {
            return Err(RunError(
                "--pipe with --onall or --nonall is not supported: a block goes to one job".into(),
            ));
        }
        let mut remote = remote_plan(args)?;
        if remote.is_some() && args.ungroup {
            return Err(RunError(
                "-u/--ungroup cannot be used with -S: brake reads a remote job's stderr for the \
                 status its host sends back (use --line-buffer to see output as it comes)"
                    .into(),
            ));
        }
        let (values, files) = args.input.markers();
        let command = args.pack.command(&args.command);
        let split = split_sources_with(&command, &values, &files).map_err(RunError)?;
        let replacements = args.template.replacements().map_err(RunError)?;
        let resume = args.resume || args.resume_failed;
        let pipe = crate::pipe::plan(
            &args.pipe,
            &split.sources,
            remote.is_some(),
            resume,
            args.retries,
        )
        .map_err(RunError)?;
        let (sources, reading) = args
            .input
            .reading(split.sources, split.linked)
            .map_err(RunError)?;
        let no_values = args.onall.nonall && sources.is_empty();
        let (sources, reads_stdin) = match &pipe {
            // The blocks stand for the one value `{}` names.
            Some(pipe) => (Vec::new(), pipe.source == crate::pipe::PipeSource::Stdin),
            // --nonall without sources: one job with no values, stdin left alone.
            None if no_values => (vec![Source::Args(vec![OsString::new()])], false),
            None => {
                let sources = sources_or_stdin(sources);
                let reads_stdin = sources.iter().any(Source::is_stdin);
                (sources, reads_stdin)
            }
        };
        let values_per_job = sources.len().max(1);
        if let Some(remote) = &mut remote {
            remote.setting.files = transfers(&args.files, values_per_job)?;
        }
        let packing = args.pack.packing();
        if args.options.results.is_some() && args.input.header.is_some() {
            return Err(RunError(
                "--results with --header (directories named after the columns) is not supported \
                 yet: drop --header and use {1} {2} … in the command"
                    .into(),
            ));
        }
        if pipe.is_some() {
            if packing.style != crate::cli::pack::Style::One || packing.per_job != Some(1) {
                return Err(RunError(
                    "--pipe with -N, -n, -L, -X, -m, --xargs or -s (records per block) is not \
                     supported yet: size the blocks with --block"
                        .into(),
                ));
            }
            if args.input.no_run_if_empty {
                return Err(RunError(
                    "--pipe with -r (skip blank blocks) is not supported yet: drop -r, or filter \
                     blank lines out of stdin first"
                        .into(),
                ));
            }
        }
        let extras =
            Extras::new(&args.options, values_per_job, remote.is_some()).map_err(RunError)?;
        let mut inputs = Inputs::open_with(sources, reading).map_err(refuse)?;
        let mut template = match &pipe {
            Some(_) => {
                Template::parse_with(&split.words, 1, args.quote, &replacements).map_err(refuse)?
            }
            None => inputs
                .template(&split.words, args.quote, &replacements, &packing)
                .map_err(RunError)?,
        };
        if no_values {
            template.append_nothing();
        }
        if template.needs_total() || onall {
            inputs.read_whole().map_err(refuse)?;
        }
        let shell = Shell::choose(args.shell.shell.as_deref()).map_err(RunError)?;
        let (inputs, mut notes) =
            crate::inputs::group::PackedInputs::new(inputs, packing, args.pack.show_limits);
        let (jobs, lowered) = match &remote {
            // -j hosts at once (see `remote::onall`).
            _ if onall => jobs_at_once(args.jobs, None, args.options.cpus()),
            // The hosts' slots are known once they have been asked for their CPUs; the
            // cluster fits them to the limits then. Until then, as if each had this
            // machine's.
            Some(remote) => {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                let each = remote
                    .jobs
                    .and_then(|jobs| jobs.count(cpus))
                    .unwrap_or(cpus);
                let slots = remote.logins.iter().map(|l| l.slots.unwrap_or(each));
                (slots.sum(), None)
            }
            None if pipe.is_some() => jobs_at_once(args.jobs, None, args.options.cpus()),
            None => jobs_at_once(args.jobs, inputs.total(), args.options.cpus()),
        };
        notes.extend(lowered.map(|why| format!("brake: {why}")));
        let inputs = inputs.group(&template, jobs);
        let blocks = match &pipe {
            Some(pipe) => {
                Some(crate::pipe::Feed::open(pipe, jobs, template.names_values()).map_err(refuse)?)
            }
            None => None,
        };
        if reads_stdin && io::stdin().is_terminal() {
            notes.push(
                "brake: reading inputs from the terminal, one per line (end with Ctrl-D)".into(),
            );
        }
        if std::env::var_os("PARALLEL").is_some_and(|options| !options.is_empty()) {
            // GNU parallel reads default options from it; running as if it did would be a
            // different run than the user asked for, without a word.
            notes.push(
                "brake: $PARALLEL is set, but brake does not read options from it: give them on \
                 the command line"
                    .into(),
            );
        }
        if args.shell.explain {
            notes.push(how_jobs_run(
                jobs,
                inputs.sources(),
                template.is_direct(),
                &shell,
            ));
        }
        let onall = onall.then(|| {
            let names = match &remote {
                Some(remote) => remote.logins.iter().map(ToString::to_string).collect(),
                None => vec![":".to_owned()],
            };
            Onall::new(
                names,
                inputs.total().unwrap_or(0),
                args.keep_order,
                args.filter_hosts,
                jobs,
            )
        });
        template.set_run(inputs.total(), jobs);
        Ok(Plan {
            template,
            inputs,
            blocks,
            jobs,
            output: OutputPlan {
                // Each host's output comes whole, in the order `remote::onall` says.
                keep_order: args.keep_order && onall.is_none(),
                ..output_plan(args)
            },
            onall,
            rules: Rules {
                halt: args.halt,
                timeout: args.timeout.and_then(|t| t.fixed()),
                timeout_percent: args.timeout.and_then(|t| t.percent()),
                // GNU parallel's 0: as many runs as it takes.
                retries: if args.retries == 0 {
                    u32::MAX
                } else {
                    args.retries
                },
            },
            termseq: args.termseq.clone(),
            joblog: joblog_plan(args),
            containment: wishes(args),
            dry_run: args.dry_run,
            // GNU's --progress and --eta show what the bar shows: counts and the time left.
            bar: args.bar || args.options.progress || args.options.eta,
            shell,
            trace: args.shell.trace,
            verbose: args.shell.verbose > 0 && !args.shell.silent,
            explain: args.shell.explain,
            json: args.json.clone(),
            remote,
            extras,
            notes,
        })
    }
}

/// How jobs are spawned. With a guard to end what a SIGKILLed brake leaves (see
/// `containment.rs`), jobs need no parent-death signal; and when brake ignores no signal a job
/// would inherit, exec alone gives it default signal actions. With neither pre-exec step, std
/// spawns by vfork rather than fork.
pub fn child_options(termseq: &TermSeq, guarded: bool, ignores_signals: bool) -> ChildOptions {
    ChildOptions {
        termseq: termseq.clone(),
        parent_death_signal: (!guarded).then_some(libc::SIGKILL),
        reset_signals: !guarded || ignores_signals,
        ..ChildOptions::default()
    }
}

impl JoblogPlan {
    /// Opens the joblog and reads back what an earlier run recorded; says what a torn last
    /// line was and, with `explain`, what a resumed log holds.
    pub fn open(&self, explain: bool) -> Result<(Joblog, Previous), RunError> {
        let (log, previous) = Joblog::open(&self.path, self.mode).map_err(refuse)?;
        if let Some(torn) = previous.torn() {
            say!("brake: {torn}");
        }
        if explain && self.mode != LogMode::Fresh {
            say!(
                "brake: {} holds {} job line(s), {} job(s) succeeded",
                self.path.display(),
                previous.lines(),
                previous.succeeded()
            );
        }
        Ok((log, previous))
    }
}

/// The most jobs `-j 0` runs at once, however high the limits.
pub const MOST_AT_ONCE: usize = 32_768;

/// How many jobs run at once: `-j` (the number of CPUs by default) fitted to the limits, with
/// the warning when it was lowered. `-j 0` asks for as many as the limits allow (and no more
/// than there are jobs, when that is known), and is lowered without a warning.
fn jobs_at_once(wanted: Option<Jobs>, total: Option<u64>, cpus: usize) -> (usize, Option<String>) {
    match wanted.unwrap_or(Jobs::Count(cpus)).count(cpus) {
        Some(count) => crate::limits::fit_jobs(count),
        None => {
            let jobs = total.map_or(MOST_AT_ONCE, |total| {
                usize::try_from(total).map_or(MOST_AT_ONCE, |t| t.clamp(1, MOST_AT_ONCE))
            });
            (crate::limits::fit_jobs(jobs).0, None)
        }
    }
}

/// The hosts of `-S` and `--slf`, unless there are none or only `:` (this machine).
fn remote_plan(args: &RunArgs) -> Result<Option<RemotePlan>, RunError> {
    let mut logins = sshlogin::parse_all(&args.sshlogin, &args.sshloginfile).map_err(RunError)?;
    if args.onall.any() {
        // Each host runs its share one job at a time.
        for login in &mut logins {
            login.slots = None;
        }
    }
    if logins.iter().all(SshLogin::is_local) && logins.iter().all(|l| l.slots.is_none()) {
        return Ok(None);
    }
    let workdir = match args.workdir.as_deref() {
        None => Workdir::Home,
        Some("...") => Workdir::Temporary,
        Some(dir) => Workdir::Dir(dir.into()),
    };
    let mut env = Vec::new();
    for name in &args.env {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(RunError(format!(
                "--env {name:?}: not a variable name (brake sends named variables only)"
            )));
        }
        let value = std::env::var_os(name).unwrap_or_default();
        env.push((name.clone(), value));
    }
    Ok(Some(RemotePlan {
        logins,
        jobs: if args.onall.any() {
            Some(Jobs::Count(1))
        } else {
            args.jobs
        },
        ssh: Ssh::new(args.ssh.as_deref()).map_err(RunError)?,
        setting: RemoteSetting {
            workdir,
            env,
            files: Transfers::default(),
        },
    }))
}

/// `--transferfile`, `--transfer`, `--return`, `--cleanup`, `--trc` and `--basefile`, their
/// file names parsed for jobs with `sources` values each.
fn transfers(files: &RemoteFiles, sources: usize) -> Result<Transfers, RunError> {
    let parse = |written: &OsString| {
        PathTemplate::parse(written, sources).map_err(|err| RunError(format!("file name {err}")))
    };
    let braces = OsString::from("{}");
    let mut send: Vec<&OsString> = files.transferfile.iter().collect();
    if files.transfer || !files.trc.is_empty() {
        send.push(&braces);
    }
    let back = files.return_file.iter().chain(&files.trc);
    let mut transfers = Transfers {
        send: send.into_iter().map(parse).collect::<Result<_, _>>()?,
        back: back.map(parse).collect::<Result<_, _>>()?,
        cleanup: files.cleanup || !files.trc.is_empty(),
        basefiles: files.basefile.clone(),
    };
    transfers.send.dedup();
    Ok(transfers)
}

/// The sources given, or stdin's lines when there are none.
fn sources_or_stdin(sources: Vec<Source>) -> Vec<Source> {
    if sources.is_empty() {
        vec![Source::Stdin]
    } else {
        sources
    }
}

/// The `--explain` line saying how jobs are run.
fn how_jobs_run(jobs: usize, sources: usize, direct: bool, shell: &Shell) -> String {
    let how = if direct {
        "directly where the shell would only run the program"
    } else {
        "through the shell"
    };
    format!(
        "brake: {jobs} job(s) at once, {sources} value(s) per job, each run {how}; the shell \
         is {shell}"
    )
}

fn output_plan(args: &RunArgs) -> OutputPlan {
    // clap keeps only the last of the three flags. Output saved to files is captured whole.
    let saved = args.options.files || args.options.results.is_some();
    let mode = if saved {
        Mode::Group
    } else if args.ungroup {
        Mode::Ungroup
    } else if args.line_buffer {
        Mode::LineBuffer
    } else {
        Mode::Group
    };
    OutputPlan {
        mode,
        keep_order: args.keep_order,
        tag: args.tag,
    }
}

fn joblog_plan(args: &RunArgs) -> Option<JoblogPlan> {
    let mode = if args.resume_failed {
        LogMode::ResumeFailed
    } else if args.resume {
        LogMode::Resume
    } else {
        LogMode::Fresh
    };
    Some(JoblogPlan {
        path: args.joblog.clone()?,
        mode,
    })
}

fn wishes(args: &RunArgs) -> Wishes {
    Wishes {
        cgroup: args.cgroup,
        joblog: args.joblog.clone(),
        end_stale: args.resume || args.resume_failed,
        verbose: args.shell.explain,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::Parser;

    use super::*;
    use crate::cli::{CgroupMode, HaltOn};
    use crate::limits::fit_jobs;

    fn plan(line: &str) -> Plan {
        let argv = std::iter::once("brake").chain(line.split(' '));
        Plan::new(&RunArgs::try_parse_from(argv).unwrap()).unwrap()
    }

    #[test]
    fn the_last_output_flag_wins() {
        assert_eq!(plan("echo ::: a").output.mode, Mode::Group);
        assert_eq!(plan("-u echo ::: a").output.mode, Mode::Ungroup);
        assert_eq!(
            plan("--line-buffer echo ::: a").output.mode,
            Mode::LineBuffer
        );
        assert_eq!(plan("-u --group echo ::: a").output.mode, Mode::Group);
        let tagged = plan("-k --tag echo ::: a").output;
        assert!(tagged.keep_order && tagged.tag);
    }

    #[test]
    fn the_joblog_mode_follows_the_resume_flags() {
        assert_eq!(plan("echo ::: a").joblog, None);
        let mode = |line: &str| plan(line).joblog.unwrap().mode;
        assert_eq!(mode("--joblog j echo ::: a"), LogMode::Fresh);
        assert_eq!(mode("--joblog j --resume echo ::: a"), LogMode::Resume);
        assert_eq!(
            mode("--joblog j --resume-failed echo ::: a"),
            LogMode::ResumeFailed
        );
    }

    #[test]
    fn a_resume_ends_stale_cgroups() {
        let fresh = plan("--joblog j echo ::: a").containment;
        assert_eq!(fresh.joblog, Some(PathBuf::from("j")));
        assert!(!fresh.end_stale);
        assert_eq!(fresh.cgroup, CgroupMode::Auto);
        assert!(
            plan("--joblog j --resume-failed echo ::: a")
                .containment
                .end_stale
        );
        let off = plan("--cgroup off --explain echo ::: a").containment;
        assert_eq!(off.cgroup, CgroupMode::Off);
        assert!(off.verbose);
    }

    #[test]
    fn jobs_and_rules_come_from_their_flags() {
        let plan = plan("-j 3 --retries 2 --timeout 5 --halt now,fail=1 echo ::: a b");
        assert_eq!(plan.jobs, 3);
        assert_eq!(plan.inputs.total(), Some(2));
        assert_eq!(plan.rules.retries, 2);
        assert_eq!(plan.rules.timeout, Some(Duration::from_secs(5)));
        assert!(plan.rules.halt.now && plan.rules.halt.on == HaltOn::Fail);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(super::tests::plan("echo ::: a").jobs, fit_jobs(cpus).0);
        assert_eq!(
            super::tests::plan("-j +2 echo ::: a").jobs,
            fit_jobs(cpus + 2).0
        );
        assert_eq!(
            super::tests::plan("-j -1 echo ::: a").jobs,
            (cpus - 1).max(1)
        );
        assert_eq!(
            super::tests::plan("-j 200% echo ::: a").jobs,
            fit_jobs(2 * cpus).0
        );
        assert_eq!(super::tests::plan("-j 0 echo ::: a b c").jobs, 3);
        let (unknown, warning) = jobs_at_once(Some(Jobs::AsManyAsAllowed), None, 4);
        assert_eq!(warning, None);
        assert!((1..=MOST_AT_ONCE).contains(&unknown));
    }

    #[test]
    fn explain_says_how_jobs_run() {
        let notes = plan("--explain -j 2 --shell /bin/sh echo ::: a ::: b").notes;
        assert_eq!(
            notes,
            [
                "brake: 2 job(s) at once, 2 value(s) per job, each run directly where the shell \
              would only run the program; the shell is /bin/sh (--shell)"
            ]
        );
        assert!(plan("-j 2 echo ::: a").notes.is_empty());
        let plan = plan("-v -t --shell /bin/sh echo ::: a");
        assert!(plan.verbose && plan.trace && !plan.explain);
        assert!(how_jobs_run(1, 1, false, &plan.shell)
            .ends_with("each run through the shell; the shell is /bin/sh (--shell)"));
    }

    #[test]
    fn without_a_command_the_values_are_commands() {
        let plan = plan("-k ::: echo ::: a;b");
        assert!(!plan.template.is_direct());
        let args = [OsString::from("echo"), OsString::from("a;b")];
        assert_eq!(plan.template.render(&args, 1, 1).text, "echo a;b");
        let quoted = super::tests::plan("-q ::: echo");
        let args = [OsString::from("echo a")];
        assert_eq!(quoted.template.render(&args, 1, 1).text, "'echo a'");
    }

    #[test]
    fn no_source_means_stdin() {
        assert_eq!(sources_or_stdin(Vec::new()), [Source::Stdin]);
        let given = vec![Source::Args(vec![OsString::from("a")])];
        assert_eq!(sources_or_stdin(given.clone()), given);
    }

    #[test]
    fn a_guard_spares_jobs_the_parent_death_signal_and_the_reset() {
        let termseq = TermSeq::default();
        let guarded = child_options(&termseq, true, false);
        assert_eq!(guarded.parent_death_signal, None);
        assert!(!guarded.reset_signals);
        assert!(guarded.own_group);
        assert!(child_options(&termseq, true, true).reset_signals);
        let alone = child_options(&termseq, false, false);
        assert_eq!(alone.parent_death_signal, Some(libc::SIGKILL));
        assert!(alone.reset_signals);
    }

    #[test]
    fn bad_templates_and_inputs_are_refused() {
        let refused = |line: &str| {
            let argv = std::iter::once("brake").chain(line.split(' '));
            Plan::new(&RunArgs::try_parse_from(argv).unwrap())
                .err()
                .unwrap()
                .0
        };
        assert!(refused("--shell /no/such/sh echo ::: a").contains("no such program"));
        assert!(refused("cat :::: /no/such/file").contains("/no/such/file"));
        assert!(refused("mv {} {-2} ::: a").contains("only 1 input source"));
    }
}
