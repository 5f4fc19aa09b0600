//! Stop latency of a process pool under a real terminal: from the Ctrl-C press (byte 0x03
//! written to the pty master) to the program's exit being seen, for brake's `process_pool`
//! example and for Python's `multiprocessing.Pool` running the seed's working scheme
//! (`bench/seed_pool.py`), in one run, side by side.
//!
//! Contenders, 16 worker processes and 1000 tasks each:
//! * `brake cooperative`: tasks that check the stop between small steps (goal: median ≤ 10 ms);
//! * `brake busy, grace 0`: tasks that never check, ended by the termination sequence jumping
//!   to SIGKILL at once (goal: median ≤ 20 ms);
//! * `python Pool (seed)`: busy-loop tasks that catch KeyboardInterrupt; the main process
//!   `terminate()`s and `join()`s the pool on KeyboardInterrupt.
//! * `brake sleep (diagnostic)`: tasks asleep in `stop.sleep`, so no CPU is busy: brake's own
//!   stop path, without 16 CPU-bound processes competing for the cores. No goal; it tells how
//!   much of the other rows is the library and how much is waiting for a core.
//!
//! Each trial starts the program in a fresh pty (`brake-testkit`), waits for 16 `worker started`
//! lines, lets it settle for 200 ms, presses Ctrl-C once (again only if it still runs 2 s
//! later), and waits for the end, which the kit sees the moment it comes (`poll` on a pidfd).
//! Every trial also checks presses needed (1), exit status (130), `main exit` printed last,
//! and that no process carrying the session's marker outlived the program. Trials are
//! interleaved (A, B, C, A, B, C, ...) after one untimed warm-up round.
//!
//! Run: `cargo bench -p brake --bench process_stop [-- TRIALS]` (default 10), or
//! `bench/process_pool.sh`. It builds the example itself first
//! (`cargo build --release --example process_pool -p brake`, into `target/release/examples/`,
//! next to this bench's own binary) and needs `python3` for the third contender.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::thread;
use std::time::Duration;

use brake_testkit::stats::{ms, stats, tail};
use brake_testkit::{example_path, Command, Session, Status};

const WORKERS: usize = 16;
const TASKS: usize = 1000;
const DEFAULT_TRIALS: usize = 10;
/// Between the last `worker started` and the press: workers deep in their loops, the terminal
/// quiet.
const SETTLE: Duration = Duration::from_millis(200);
/// How long a press is given before the next one; a stop slower than this needed more presses.
const PRESS_INTERVAL: Duration = Duration::from_secs(2);
const MAX_PRESSES: u32 = 3;
const START_LIMIT: Duration = Duration::from_secs(60);
const END_LIMIT: Duration = Duration::from_secs(30);

struct Contender {
    name: &'static str,
    goal_ms: Option<f64>,
    command: Command,
    /// Stop latencies of the trials that passed every check.
    times: Vec<Duration>,
    presses_max: u32,
    failures: Vec<String>,
}

impl Contender {
    fn new(name: &'static str, goal_ms: Option<f64>, command: Command) -> Contender {
        Contender {
            name,
            goal_ms,
            command,
            times: Vec::new(),
            presses_max: 0,
            failures: Vec::new(),
        }
    }
}

fn main() {
    let trials: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_TRIALS)
        .max(1);
    let root = workspace_root();
    build_example(&root);
    let example = example_path("process_pool");
    let seed = root.join("bench").join("seed_pool.py");

    let brake = |task: &str| {
        Command::new(&example).cwd(&root).args([
            "--workers",
            &WORKERS.to_string(),
            "--tasks",
            &TASKS.to_string(),
            "--task",
            task,
        ])
    };
    let mut contenders = vec![
        Contender::new("brake cooperative", Some(10.0), brake("cooperative")),
        Contender::new(
            "brake busy, grace 0",
            Some(20.0),
            brake("busy").args(["--grace", "0"]),
        ),
    ];
    if python_runs() {
        contenders.push(Contender::new(
            "python Pool (seed)",
            None,
            Command::new("python3")
                .cwd(&root)
                // Python's default for a terminal (line-buffered stdout), whatever the caller's
                // environment says: an empty value turns `PYTHONUNBUFFERED` off.
                .env("PYTHONUNBUFFERED", "")
                .args([
                    seed.as_os_str().to_owned(),
                    "--workers".into(),
                    WORKERS.to_string().into(),
                    "--tasks".into(),
                    TASKS.to_string().into(),
                ]),
        ));
    } else {
        eprintln!("process_stop: python3 not found; timing brake alone");
    }
    contenders.push(Contender::new(
        "brake sleep (diagnostic)",
        None,
        brake("sleep"),
    ));

    eprintln!(
        "process_stop: {} contenders × {trials} trials (+1 warm-up round), {WORKERS} workers, \
         {TASKS} tasks, on {} cores",
        contenders.len(),
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    for round in 0..=trials {
        let warm_up = round == 0;
        let mut line = Vec::new();
        for contender in &mut contenders {
            let result = trial(&contender.command);
            if warm_up {
                if let Err(why) = result {
                    eprintln!("  warm-up, {}: {why}", contender.name);
                }
                continue;
            }
            match result {
                Ok((time, presses)) => {
                    line.push(format!("{} {:.1} ms", contender.name, ms(time)));
                    contender.times.push(time);
                    contender.presses_max = contender.presses_max.max(presses);
                }
                Err(why) => {
                    eprintln!("  trial {round}, {}: {why}", contender.name);
                    line.push(format!("{} failed", contender.name));
                    contender.failures.push(why);
                }
            }
        }
        if !warm_up {
            eprintln!("  trial {round:>2}: {}", line.join(", "));
        }
    }
    report(&contenders, trials);
}

/// One start, press and end; the stop latency and the presses it took, or why it failed a check.
fn trial(command: &Command) -> Result<(Duration, u32), String> {
    let session = Session::spawn(command.clone()).map_err(|e| format!("spawn: {e}"))?;
    session
        .wait_for("worker started", WORKERS, START_LIMIT)
        .map_err(|e| e.to_string())?;
    thread::sleep(SETTLE);
    let finished = session
        .press_until_exit(PRESS_INTERVAL, MAX_PRESSES, END_LIMIT)
        .map_err(|e| e.to_string())?;
    let time = finished.since_first_stop.ok_or("no stop was recorded")?;
    let mut wrong = Vec::new();
    if finished.status != Status::Exited(130) {
        wrong.push(format!("{} (expected exit 130)", finished.status));
    }
    if finished.presses != 1 {
        wrong.push(format!("{} presses needed", finished.presses));
    }
    if !finished.survivors.is_empty() {
        wrong.push(format!("left running: {:?}", finished.survivors));
    }
    // The last thing printed, though not always on a line of its own: a worker killed between
    // writing its text and its newline leaves the line open.
    if !finished.output.trim_end().ends_with("main exit") {
        let last = finished.output.lines().rev().find(|l| !l.trim().is_empty());
        wrong.push(format!("last line {last:?}, not \"main exit\""));
    }
    if wrong.is_empty() {
        Ok((time, finished.presses))
    } else {
        Err(format!(
            "{} after {:.1} ms\n--- output ---\n{}",
            wrong.join("; "),
            ms(time),
            tail(&finished.output, 15)
        ))
    }
}

fn report(contenders: &[Contender], trials: usize) {
    let python = contenders
        .iter()
        .find(|c| c.name.starts_with("python"))
        .and_then(|c| stats(&c.times))
        .map(|s| s.median);
    println!();
    println!(
        "Stop latency, Ctrl-C press to exit seen, {WORKERS} worker processes, {TASKS} tasks, \
         {trials} interleaved trials each (ms; ratio = median / python's median):"
    );
    println!(
        "{:<26} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}  goal",
        "contender", "ok", "median", "p90", "min", "max", "ratio", "presses"
    );
    for c in contenders {
        let ok = format!("{}/{}", c.times.len(), c.times.len() + c.failures.len());
        let Some(s) = stats(&c.times) else {
            println!("{:<26} {ok:>5}  (no successful trial)", c.name);
            continue;
        };
        let ratio = python.map_or("—".to_string(), |p| format!("{:.2}×", s.median / p));
        let goal = match c.goal_ms {
            Some(goal) => {
                let met = s.median <= goal && c.failures.is_empty();
                format!("≤ {goal:.0} ms: {}", if met { "met" } else { "NOT met" })
            }
            None => "—".to_string(),
        };
        println!(
            "{:<26} {ok:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>7}  {goal}",
            c.name, s.median, s.p90, s.min, s.max, ratio, c.presses_max
        );
    }
    println!(
        "(median of an even count: mean of the two middle trials; p90: nearest rank; presses: the \
         most any trial needed; ok: trials that passed every check — exit 130, one press, \
         \"main exit\" printed last, no marked process left)"
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/brake lives two levels below the workspace root")
        .to_owned()
}

/// Builds the example in the release profile, whose output directory (`target/release`) is
/// also the bench profile's, where [`example_path`] looks.
fn build_example(root: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = StdCommand::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--quiet",
            "--example",
            "process_pool",
            "-p",
            "brake",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the process_pool example failed");
}

fn python_runs() -> bool {
    StdCommand::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}
