//! Stop latency of the `brake` runner against GNU parallel and `xargs -P` under a real
//! terminal: from the Ctrl-C press (byte 0x03 written to the pty master) to the runner's exit
//! being seen, with 3 and with 64 running jobs, all in one run, side by side.
//!
//! Contenders, each given 100 jobs of `sleep 30` and `-j 3` or `-j 64`:
//! * `brake`: `brake -j N sleep ::: 30 …` (default --termseq `INT,2000,TERM,1000,KILL`);
//! * `GNU parallel`: `parallel --will-cite -j N sleep ::: 30 …` (default --termseq
//!   `TERM,200,TERM,100,TERM,50,KILL,25`);
//! * `xargs -P`: `xargs -P N -n 1 -a FILE sleep`, FILE holding 100 lines `30` (xargs has no
//!   stop logic: the terminal's SIGINT reaches it and its children directly, as they share
//!   the foreground process group, and xargs dies of it without waiting for them);
//! * `brake` and `GNU parallel` again, both given GNU parallel's own default sequence
//!   `--termseq TERM,200,TERM,100,TERM,50,KILL,25`, so that both send the same signals;
//! * `floor`: this bench program itself, started with `--floor N`: it starts N `sleep 30`, each
//!   in a process group of its own, and on SIGINT sends SIGINT to each group, waits for each
//!   job and exits 130. No output, no joblog, no sequence: what stopping costs the kernel, the
//!   least any runner that waits for its jobs can take.
//!
//! `sleep` dies at once of SIGINT as of SIGTERM, so every sequence ends it at its first step:
//! the rows time each runner's own stop path, not the jobs' grace.
//!
//! Each trial starts the command in a fresh pty (`brake-testkit`) and waits until N processes
//! whose command line is `sleep 30` carry the session's marker: the kit's marker variable is
//! inherited by every descendant, so the same check works for all three tools whatever their
//! process groups, and whether they exec the job directly (brake, xargs) or through a shell
//! that execs it (GNU parallel). It then lets the terminal settle for 200 ms, presses Ctrl-C
//! once (again every 5 s while the command still runs, up to 3 presses), and waits for the end,
//! which the kit sees the moment it comes (`poll` on a pidfd). Trials are interleaved (every
//! contender once per round, both job counts) after one untimed warm-up round.
//!
//! Recorded per trial: the latency, the presses needed, the exit status, and the marked
//! processes still alive the instant the command's end was seen ("left"; the kit SIGKILLs them
//! afterwards). For xargs these are its jobs, which got the same SIGINT but whose deaths race
//! with xargs' own. brake's trials must also pass brake's contract (exit 130, one press,
//! nothing left); a brake trial that does not is reported and left out of its times. Rivals'
//! trials are only recorded, whatever their status.
//!
//! Goal: brake's median no slower than GNU parallel's, with either sequence. The ratio column is
//! the contender's median over brake's (same job count; with GNU parallel's sequence, over
//! brake's with that sequence): how many times faster brake stops.
//!
//! Run: `cargo bench -p brake-cli --bench stop_latency [-- TRIALS] [--json FILE] [--jobs 3,64]
//! [--cgroup on,off]` (20 trials by default; FILE gets the medians as JSON, for `bench/cli.sh`;
//! `--jobs` the job counts, each run given at least 100 more inputs than it runs at once;
//! `--cgroup` one brake contender per mode, given `--cgroup MODE`, instead of one with
//! brake's default). Contenders whose tool is not
//! installed (`parallel`, `xargs`) are left out with a note.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::thread;
use std::time::{Duration, Instant};

use brake_testkit::stats::{ms, stats, tail};
use brake_testkit::{marked_processes, Command, Session, Status};

const DEFAULT_TRIALS: usize = 20;
const JOB_COUNTS: [usize; 2] = [3, 64];
/// Jobs given to each run, at the least: more than the most that run at once, so jobs are
/// still waiting (see `inputs_for`).
const INPUTS: usize = 100;
const GNU_TERMSEQ: &str = "TERM,200,TERM,100,TERM,50,KILL,25";
/// The command line of a running job, as `/proc/PID/cmdline` shows it (arguments joined).
const JOB_CMDLINE: &str = "sleep 30";
/// Between the last job seen running and the press: the runner idle, the terminal quiet.
const SETTLE: Duration = Duration::from_millis(200);
/// How long a press is given before the next one; a stop slower than this needed more presses.
const PRESS_INTERVAL: Duration = Duration::from_secs(5);
const MAX_PRESSES: u32 = 3;
const START_LIMIT: Duration = Duration::from_secs(60);
const END_LIMIT: Duration = Duration::from_secs(30);
const SCAN_PERIOD: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Brake,
    Parallel,
    Xargs,
    Floor,
}

struct Contender {
    name: &'static str,
    tool: Tool,
    jobs: usize,
    /// brake's `--cgroup` mode, if the contender is given one.
    cgroup: Option<&'static str>,
    /// The sequence given with `--termseq`, if any.
    termseq: Option<&'static str>,
    command: Command,
    /// Latencies of the trials that counted (for brake: that passed its checks).
    times: Vec<Duration>,
    presses_max: u32,
    /// Exit status (short form) → trials.
    statuses: BTreeMap<String, usize>,
    /// The most marked processes alive at the end of one trial, and in how many trials any.
    left_max: usize,
    left_trials: usize,
    failures: Vec<String>,
}

impl Contender {
    fn new(
        name: &'static str,
        tool: Tool,
        jobs: usize,
        termseq: Option<&'static str>,
        command: Command,
    ) -> Contender {
        Contender {
            name,
            tool,
            jobs,
            cgroup: None,
            termseq,
            command,
            times: Vec::new(),
            presses_max: 0,
            statuses: BTreeMap::new(),
            left_max: 0,
            left_trials: 0,
            failures: Vec::new(),
        }
    }

    fn trials(&self) -> usize {
        self.times.len() + self.failures.len()
    }
}

/// What one trial saw.
struct Trial {
    time: Duration,
    presses: u32,
    status: Status,
    left: usize,
    output: String,
}

fn main() {
    let mut own = std::env::args().skip(1);
    if own.next().as_deref() == Some("--floor") {
        let jobs = own.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        floor(jobs);
    }
    let mut trials = DEFAULT_TRIALS;
    let mut json: Option<PathBuf> = None;
    let mut job_counts: Vec<usize> = JOB_COUNTS.to_vec();
    let mut cgroup_modes: Vec<&'static str> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--json" {
            json = args.next().map(PathBuf::from);
        } else if arg == "--jobs" {
            job_counts = args
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|n| n.parse().expect("--jobs takes numbers, comma-separated"))
                .collect();
        } else if arg == "--cgroup" {
            cgroup_modes = args
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|mode| &*Box::leak(mode.to_owned().into_boxed_str()))
                .collect();
        } else if let Ok(n) = arg.parse::<usize>() {
            trials = n.max(1);
        }
        // Anything else (cargo passes `--bench`) is ignored.
    }

    let brake = env!("CARGO_BIN_EXE_brake");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let have_parallel = runs("parallel", &["--will-cite", "--version"]);
    let have_xargs = runs("xargs", &["--version"]);
    if !have_parallel {
        eprintln!("stop_latency: GNU parallel not found (apt-get install parallel); left out");
    }
    if !have_xargs {
        eprintln!("stop_latency: xargs not found; left out");
    }

    let mut contenders = Vec::new();
    for &jobs in &job_counts {
        let j = jobs.to_string();
        let values = vec!["30"; inputs_for(jobs)];
        let xargs_input = dir.path().join(format!("inputs-{jobs}"));
        std::fs::write(&xargs_input, "30\n".repeat(inputs_for(jobs)))
            .expect("writing xargs' input file");
        let brake_cmd = |termseq: Option<&str>, cgroup: Option<&str>| {
            let mut c = Command::new(brake).cwd(dir.path()).args(["-j", &j]);
            if let Some(mode) = cgroup {
                c = c.args(["--cgroup", mode]);
            }
            if let Some(seq) = termseq {
                c = c.args(["--termseq", seq]);
            }
            c.args(["sleep", ":::"]).args(&values)
        };
        let parallel_cmd = |termseq: Option<&str>| {
            let mut c = Command::new("parallel")
                .cwd(dir.path())
                .args(["--will-cite", "-j", &j]);
            if let Some(seq) = termseq {
                c = c.args(["--termseq", seq]);
            }
            c.args(["sleep", ":::"]).args(&values)
        };
        let modes: Vec<Option<&'static str>> = if cgroup_modes.is_empty() {
            vec![None]
        } else {
            cgroup_modes.iter().copied().map(Some).collect()
        };
        let brakes = |termseq: Option<&'static str>| -> Vec<Contender> {
            modes
                .iter()
                .map(|&mode| {
                    let name: &'static str = match (mode, termseq) {
                        (None, None) => "brake",
                        (None, Some(_)) => "brake, GNU's termseq",
                        (Some(mode), None) => Box::leak(format!("brake --cgroup {mode}").into()),
                        (Some(mode), Some(_)) => {
                            Box::leak(format!("brake --cgroup {mode}, GNU's termseq").into())
                        }
                    };
                    let mut c =
                        Contender::new(name, Tool::Brake, jobs, termseq, brake_cmd(termseq, mode));
                    c.cgroup = mode;
                    c
                })
                .collect()
        };
        contenders.extend(brakes(None));
        if have_parallel {
            contenders.push(Contender::new(
                "GNU parallel",
                Tool::Parallel,
                jobs,
                None,
                parallel_cmd(None),
            ));
        }
        if have_xargs {
            contenders.push(Contender::new(
                "xargs -P",
                Tool::Xargs,
                jobs,
                None,
                Command::new("xargs")
                    .cwd(dir.path())
                    .args(["-P", &j, "-n", "1", "-a"])
                    .arg(&xargs_input)
                    .arg("sleep"),
            ));
        }
        let floor = std::env::current_exe().expect("the bench program's own path");
        contenders.push(Contender::new(
            "floor",
            Tool::Floor,
            jobs,
            None,
            Command::new(floor).cwd(dir.path()).args(["--floor", &j]),
        ));
        contenders.extend(brakes(Some(GNU_TERMSEQ)));
        if have_parallel {
            contenders.push(Contender::new(
                "GNU parallel, GNU's termseq",
                Tool::Parallel,
                jobs,
                Some(GNU_TERMSEQ),
                parallel_cmd(Some(GNU_TERMSEQ)),
            ));
        }
    }

    eprintln!(
        "stop_latency: {} contenders × {trials} trials (+1 warm-up round), at least {INPUTS} \
         jobs of `sleep 30` each, on {} cores; brake: {brake}",
        contenders.len(),
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    for round in 0..=trials {
        let warm_up = round == 0;
        let mut line = Vec::new();
        for c in &mut contenders {
            let result = trial(&c.command, c.jobs);
            let label = format!("{} N={}", c.name, c.jobs);
            if warm_up {
                if let Err(why) = result {
                    eprintln!("  warm-up, {label}: {why}");
                }
                continue;
            }
            match result.map(|t| check(c.tool, t)) {
                Ok(Ok(t)) => {
                    line.push(format!("{label} {:.1}", ms(t.time)));
                    record(c, &t);
                    c.times.push(t.time);
                }
                Ok(Err((t, why))) => {
                    record(c, &t);
                    eprintln!("  trial {round}, {label}: {why}");
                    line.push(format!("{label} failed"));
                    c.failures.push(why);
                }
                Err(why) => {
                    eprintln!("  trial {round}, {label}: {why}");
                    line.push(format!("{label} failed"));
                    c.failures.push(why);
                }
            }
        }
        if !warm_up {
            eprintln!("  trial {round:>2} (ms): {}", line.join(", "));
        }
    }
    report(&contenders, trials, &job_counts);
    if let Some(path) = json {
        std::fs::write(&path, to_json(&contenders, trials))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// The `floor` contender (see the module docs): never returns.
fn floor(jobs: usize) -> ! {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGINT]).expect("a handler for SIGINT");
    let mut children: Vec<std::process::Child> = (0..jobs)
        .map(|_| {
            StdCommand::new("sleep")
                .arg("30")
                .process_group(0)
                .stdin(Stdio::null())
                .spawn()
                .expect("starting sleep")
        })
        .collect();
    let _ = signals.forever().next();
    for child in &children {
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::INT);
        }
    }
    for child in &mut children {
        let _ = child.wait();
    }
    std::process::exit(130)
}

fn record(c: &mut Contender, t: &Trial) {
    c.presses_max = c.presses_max.max(t.presses);
    *c.statuses.entry(short(t.status)).or_default() += 1;
    c.left_max = c.left_max.max(t.left);
    if t.left > 0 {
        c.left_trials += 1;
    }
}

/// One start, press and end.
fn trial(command: &Command, jobs: usize) -> Result<Trial, String> {
    let session = Session::spawn(command.clone()).map_err(|e| format!("spawn: {e}"))?;
    wait_for_jobs(&session, jobs)?;
    thread::sleep(SETTLE);
    let finished = session
        .press_until_exit(PRESS_INTERVAL, MAX_PRESSES, END_LIMIT)
        .map_err(|e| e.to_string())?;
    let time = finished.since_first_stop.ok_or("no stop was recorded")?;
    Ok(Trial {
        time,
        presses: finished.presses,
        status: finished.status,
        left: finished.survivors.len(),
        output: finished.output,
    })
}

/// brake's contract: one press, exit 130, nothing left running. Rivals are only recorded.
fn check(tool: Tool, t: Trial) -> Result<Trial, (Trial, String)> {
    if tool != Tool::Brake {
        return Ok(t);
    }
    let mut wrong = Vec::new();
    if t.status != Status::Exited(130) {
        wrong.push(format!("{} (expected exit 130)", t.status));
    }
    if t.presses != 1 {
        wrong.push(format!("{} presses needed", t.presses));
    }
    if t.left != 0 {
        wrong.push(format!("{} processes left running", t.left));
    }
    if wrong.is_empty() {
        return Ok(t);
    }
    let why = format!(
        "{} after {:.1} ms\n--- output ---\n{}",
        wrong.join("; "),
        ms(t.time),
        tail(&t.output, 10)
    );
    Err((t, why))
}

/// Waits until `count` marked processes run the job's command line, failing if the program
/// ends first or the time runs out (dropping the session then kills everything it started).
fn wait_for_jobs(session: &Session, count: usize) -> Result<(), String> {
    let until = Instant::now() + START_LIMIT;
    loop {
        let running = marked_processes(session.marker())
            .iter()
            .filter(|p| p.cmdline == JOB_CMDLINE)
            .count();
        if running >= count {
            return Ok(());
        }
        if ended(session.pid()) {
            return Err(format!(
                "ended before {count} jobs ran\n--- output ---\n{}",
                tail(&session.output(), 10)
            ));
        }
        if Instant::now() >= until {
            return Err(format!(
                "only {running} of {count} jobs running after {START_LIMIT:?}\n--- output ---\n{}",
                tail(&session.output(), 10)
            ));
        }
        thread::sleep(SCAN_PERIOD);
    }
}

/// True once `pid`, our unreaped child, is a zombie (or gone).
fn ended(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next());
    matches!(state, Some('Z' | 'X') | None)
}

/// The median of the brake row a contender is compared with: same job count, same `--termseq`.
fn baseline(contenders: &[Contender], c: &Contender) -> Option<f64> {
    contenders
        .iter()
        .find(|b| b.tool == Tool::Brake && b.jobs == c.jobs && b.termseq == c.termseq)
        .and_then(|b| stats(&b.times))
        .map(|s| s.median)
}

/// How many jobs a run with `jobs` at once is given: some always wait.
fn inputs_for(jobs: usize) -> usize {
    if jobs < INPUTS {
        INPUTS
    } else {
        jobs + INPUTS
    }
}

fn report(contenders: &[Contender], trials: usize, job_counts: &[usize]) {
    println!();
    println!(
        "Stop latency, Ctrl-C press to exit seen, {INPUTS} jobs of `sleep 30` (N + {INPUTS} from N = \
         {INPUTS}) with N running, \
         {trials} interleaved trials each (ms; ratio = median / brake's median with the same N \
         and --termseq: how many times faster brake stops):"
    );
    println!(
        "{:<34} {:>4} {:>5} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}  {:<12} left",
        "contender", "N", "ok", "median", "p90", "min", "max", "ratio", "presses", "exit"
    );
    for c in contenders {
        let ok = format!("{}/{}", c.times.len(), c.trials());
        let Some(s) = stats(&c.times) else {
            println!(
                "{:<34} {:>4} {ok:>5}  (no successful trial)",
                c.name, c.jobs
            );
            continue;
        };
        let ratio = match baseline(contenders, c) {
            Some(b) if c.tool != Tool::Brake && b > 0.0 => format!("{:.2}×", s.median / b),
            _ => "—".to_string(),
        };
        let exits: Vec<String> = c
            .statuses
            .iter()
            .map(|(status, &n)| {
                if n == c.trials() {
                    status.clone()
                } else {
                    format!("{status} ×{n}")
                }
            })
            .collect();
        let left = if c.left_trials == 0 {
            "0".to_string()
        } else {
            format!(
                "up to {} (in {}/{} trials)",
                c.left_max,
                c.left_trials,
                c.trials()
            )
        };
        println!(
            "{:<34} {:>4} {ok:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7}  {:<12} {left}",
            c.name,
            c.jobs,
            s.median,
            s.p90,
            s.min,
            s.max,
            ratio,
            c.presses_max,
            exits.join(", ")
        );
    }
    println!(
        "(median of an even count: mean of the two middle trials; p90: nearest rank; presses: the \
         most any trial needed; left: marked processes alive the instant the command's end was \
         seen; ok: trials counted — brake's must exit 130 after one press with nothing left)"
    );
    for &jobs in job_counts {
        for termseq in [None, Some(GNU_TERMSEQ)] {
            let same = |c: &&Contender| c.jobs == jobs && c.termseq == termseq;
            let Some(p) = contenders
                .iter()
                .filter(same)
                .find(|c| c.tool == Tool::Parallel)
            else {
                continue;
            };
            let Some(ps) = stats(&p.times) else {
                continue;
            };
            for b in contenders
                .iter()
                .filter(same)
                .filter(|c| c.tool == Tool::Brake)
            {
                let Some(bs) = stats(&b.times) else {
                    continue;
                };
                let met = bs.median <= ps.median && b.failures.is_empty();
                println!(
                    "goal, N = {jobs}{}: {}'s median {:.2} ms ≤ GNU parallel's {:.2} ms: {}",
                    termseq.map_or(String::new(), |s| format!(", --termseq {s}")),
                    b.name.split(',').next().unwrap_or(b.name),
                    bs.median,
                    ps.median,
                    if met { "met" } else { "NOT met" }
                );
            }
        }
    }
}

/// The medians and what each contender needed, for `bench/cli.sh`'s final table.
fn to_json(contenders: &[Contender], trials: usize) -> String {
    let results: Vec<serde_json::Value> = contenders
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "jobs": c.jobs,
                "cgroup": c.cgroup,
                "termseq": c.termseq,
                "median_ms": stats(&c.times).map(|s| s.median),
                "ok": c.times.len(),
                "failed": c.failures.len(),
                "presses_max": c.presses_max,
                "statuses": c.statuses,
                "left_max": c.left_max,
                "left_trials": c.left_trials,
            })
        })
        .collect();
    let mut out = serde_json::json!({ "trials": trials, "results": results }).to_string();
    out.push('\n');
    out
}

fn short(status: Status) -> String {
    match status {
        Status::Exited(code) => format!("exit {code}"),
        Status::Signaled(libc::SIGINT) => "SIGINT".to_string(),
        Status::Signaled(libc::SIGTERM) => "SIGTERM".to_string(),
        Status::Signaled(libc::SIGKILL) => "SIGKILL".to_string(),
        Status::Signaled(sig) => format!("signal {sig}"),
    }
}

fn runs(program: &str, args: &[&str]) -> bool {
    StdCommand::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success())
}
