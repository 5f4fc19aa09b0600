//! Exhausted limits against the job runner: too few open files for the `-j` asked, process
//! starts refused with `EAGAIN`, and a joblog that hits a file-size limit or a full disk. In
//! each case the run says so in one line, no job is lost or run twice, the joblog holds whole
//! lines for exactly the jobs that finished, and `--resume` then runs just the rest.
//!
//! brake runs as a plain child here (no terminal is needed) with its limits set in `pre_exec`.
//! Every process of a run carries the kit's marker in its environment, so what outlives the
//! run is found in `/proc`.
//!
//! These tests run as root (here and in CI), which RLIMIT_NPROC does not hold back: refused
//! forks come from a pids cgroup of brake's own, and from RLIMIT_NPROC with brake run as
//! `nobody` (see [`Pinch`]). The full disk is a 64 KiB tmpfs mounted for the test. Where the
//! machine allows neither, the test prints why and returns. Giving up after 30 s of refusals
//! is `torture_limits_nproc_give_up`, left out of CI's slice (`--ignored` runs it).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brake_testkit::marked_processes;
use brake_testkit::torture::{trials, Tally};

use crate::support::{command, finish, read_joblog, Feed};

/// No run comes near this; one that does is killed and fails its trial.
const LIMIT: Duration = Duration::from_secs(60);

/// A job appends its number to `ran.txt` (one `O_APPEND` write: whole lines even in parallel)
/// and then becomes a short sleep: one process per job, which forks nothing itself.
const JOB: &str = "echo {} >> ran.txt; exec sleep 0.0$(({} % 4))";

/// How one run of brake ended.
struct Ran {
    status: ExitStatus,
    stderr: String,
    /// Marked processes still alive after brake exited (killed by now).
    left_behind: usize,
}

impl Ran {
    fn describe(&self) -> String {
        format!("{:?}, stderr: {:?}", self.status, self.stderr)
    }
}

/// The arguments of a run of `jobs` jobs at `-j parallel`, logging to `joblog`.
fn job_args(parallel: usize, jobs: usize, joblog: &str, resume: bool) -> Vec<String> {
    let mut args = vec![format!("-j{parallel}"), format!("--joblog={joblog}")];
    if resume {
        args.push("--resume".into());
    }
    args.extend([JOB.to_string(), ":::".into()]);
    args.extend((1..=jobs).map(|i| i.to_string()));
    args
}

/// A `pre_exec` closure: a limit set in brake's process before it starts.
type Limit = Box<dyn FnMut() -> io::Result<()> + Send + Sync>;

/// Runs brake in `dir` with `args`, its processes marked with `token`; `limit`, if given, runs
/// in the child before exec. See [`finish`].
fn run_limited(dir: &Path, args: &[String], token: &str, limit: Option<Limit>) -> Ran {
    run_fed(dir, args, token, limit, None)
}

/// [`run_limited`], with stdin given to `feed` (else `/dev/null`).
fn run_fed(
    dir: &Path,
    args: &[String],
    token: &str,
    limit: Option<Limit>,
    feed: Option<Feed>,
) -> Ran {
    let mut command = command(args);
    command.current_dir(dir);
    if let Some(limit) = limit {
        // SAFETY: every `limit` closure of this file calls only async-signal-safe functions
        // (setrlimit, open, write, close, setgroups, setgid, setuid) on data prepared before the
        // fork, and allocates nothing.
        unsafe {
            command.pre_exec(limit);
        }
    }
    let (out, left_behind) = finish(&mut command, token, feed, LIMIT);
    Ran {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        left_behind,
    }
}

fn token(model: &str, trial: usize) -> String {
    format!("{model}-{}-{trial}", std::process::id())
}

/// A `pre_exec` closure that sets `resource` to `value`, soft and hard.
fn rlimit(resource: libc::__rlimit_resource_t, value: u64) -> Limit {
    Box::new(move || {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: `limit` is a valid rlimit on this stack; setrlimit is async-signal-safe.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })
}

/// How often each job number appears in `ran.txt`, from byte `from` on.
fn ran(dir: &Path, from: usize) -> BTreeMap<usize, usize> {
    let text = fs::read_to_string(dir.join("ran.txt")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.get(from..).unwrap_or("").lines() {
        if let Ok(n) = line.trim().parse() {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

fn ran_len(dir: &Path) -> usize {
    fs::metadata(dir.join("ran.txt")).map_or(0, |m| m.len() as usize)
}

/// The job numbers with a line in the joblog at `path`, each line checked whole (the header
/// first, then nine columns with a number first, each ending in a newline), with how many
/// lines each has.
fn logged(path: &Path) -> Result<BTreeMap<usize, usize>, String> {
    let log = read_joblog(path)?.ok_or_else(|| format!("{}: no such file", path.display()))?;
    if let Some(torn) = &log.torn {
        return Err(format!(
            "the joblog does not end with a whole line: {torn:?}"
        ));
    }
    if !log.header {
        return Err("the joblog's first line is not the header".into());
    }
    let mut seqs = BTreeMap::new();
    for job in &log.jobs {
        *seqs.entry(job.seq as usize).or_insert(0) += 1;
    }
    Ok(seqs)
}

/// Problems with `counts` (job number → times seen) against "each of 1..=jobs exactly once",
/// and how many jobs they concern.
fn exactly_once(what: &str, counts: &BTreeMap<usize, usize>, jobs: usize) -> (usize, String) {
    let missing: Vec<usize> = (1..=jobs).filter(|n| !counts.contains_key(n)).collect();
    let twice: Vec<usize> = counts
        .iter()
        .filter(|&(&n, &c)| c > 1 || n == 0 || n > jobs)
        .map(|(&n, _)| n)
        .collect();
    let bad = missing.len() + twice.len();
    let text = if bad == 0 {
        String::new()
    } else {
        format!(
            "{what}: missing {:?}, more than once or unknown {:?}",
            first(&missing),
            first(&twice)
        )
    };
    (bad, text)
}

fn first(list: &[usize]) -> &[usize] {
    &list[..list.len().min(20)]
}

/// brake's own lines on stderr that start with `prefix`.
fn said<'a>(stderr: &'a str, prefix: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("brake: {prefix}")))
        .collect()
}

/// 64 open files, soft and hard, and -j 500: the run fits -j with a one-line warning and does
/// all 1,000 jobs, each once.
#[test]
fn torture_limits_nofile() {
    const JOBS: usize = 1000;
    let mut tally = Tally::new("limits-nofile");
    let mut failures = Vec::new();
    for trial in 0..trials(1) {
        tally.trials += 1;
        let dir = tempfile::tempdir().unwrap();
        let args = job_args(500, JOBS, "run.log", false);
        let token = token("limits-nofile", trial);
        let run = run_limited(
            dir.path(),
            &args,
            &token,
            Some(rlimit(libc::RLIMIT_NOFILE, 64)),
        );
        tally.left_behind += run.left_behind;
        let warned = said(&run.stderr, "-j 500 needs about");
        println!("{}", run.stderr.trim_end());
        tally.faults += warned.len();
        if run.status.code() != Some(0) {
            failures.push(format!("trial {trial}: {}", run.describe()));
        }
        if warned.len() != 1 || !warned[0].contains("the limit is 64") {
            failures.push(format!(
                "trial {trial}: expected one warning fitting -j to 64 files: {:?}",
                run.stderr
            ));
        }
        if run.stderr.lines().count() != warned.len() {
            failures.push(format!("trial {trial}: more on stderr: {:?}", run.stderr));
        }
        each_once(
            &mut tally,
            &mut failures,
            &format!("trial {trial}"),
            dir.path(),
            JOBS,
        );
    }
    tally.finish_with(&failures);
}

/// Where a small `pids.max` can be put on brake alone: a new child of the pids controller's
/// root, cgroup v1 or v2. Removed when dropped.
struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    fn create(name: &str) -> Result<PidsCgroup, String> {
        let root = [
            Path::new("/sys/fs/cgroup/pids"),
            Path::new("/sys/fs/cgroup"),
        ]
        .into_iter()
        .find(|root| {
            root.join("cgroup.procs").exists()
                && (root.ends_with("pids")
                    || fs::read_to_string(root.join("cgroup.subtree_control"))
                        .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids")))
        })
        .ok_or("no pids controller under /sys/fs/cgroup (v1 pids/, or v2 with pids enabled)")?;
        let dir = root.join(name);
        fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cgroup = PidsCgroup { dir };
        cgroup.set_max("max")?;
        Ok(cgroup)
    }

    fn set_max(&self, max: &str) -> Result<(), String> {
        let path = self.dir.join("pids.max");
        fs::write(&path, max).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// How often a fork was refused for `pids.max`.
    fn refusals(&self) -> usize {
        fs::read_to_string(self.dir.join("pids.events"))
            .ok()
            .and_then(|events| {
                events
                    .lines()
                    .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// A `pre_exec` closure that moves the child into this cgroup ("0" is the writer itself).
    fn enter(&self) -> Limit {
        let procs = CString::new(self.dir.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
        Box::new(move || {
            // SAFETY: open, write and close are async-signal-safe; `procs` is a valid C string
            // made before the fork, and the written byte is a static.
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = io::Error::last_os_error();
                libc::close(fd);
                if written != 1 {
                    return Err(err);
                }
            }
            Ok(())
        })
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Checks that each of jobs `1..=jobs` appears exactly once in `dir`'s `ran.txt` and in its
/// joblog `run.log`.
fn each_once(tally: &mut Tally, failures: &mut Vec<String>, trial: &str, dir: &Path, jobs: usize) {
    let (lost, text) = exactly_once("ran.txt", &ran(dir, 0), jobs);
    tally.lost += lost;
    if lost > 0 {
        failures.push(format!("{trial}: {text}"));
    }
    match logged(&dir.join("run.log")) {
        Ok(seqs) => {
            let (lost, text) = exactly_once("joblog", &seqs, jobs);
            tally.lost += lost;
            if lost > 0 {
                failures.push(format!("{trial}: {text}"));
            }
        }
        Err(e) => {
            tally.lost += jobs;
            failures.push(format!("{trial}: {e}"));
        }
    }
}

/// What refuses brake's forks with EAGAIN. Root is not held to RLIMIT_NPROC, so either a
/// small `pids.max` on a cgroup of brake's own, or brake run as an unprivileged user under
/// RLIMIT_NPROC.
enum Pinch {
    Cgroup(PidsCgroup),
    User(u32),
}

/// The unprivileged user brake runs as for RLIMIT_NPROC.
const NOBODY: u32 = 65534;

/// brake's RLIMIT_NPROC as that user, above what the user holds already: more than `-j 50`
/// needs (brake fits -j to the limit before a run), and filled up with sleeping processes.
const HEADROOM: usize = 70;

/// Sleeping processes that hold places under the limit; killed when dropped, so that a
/// failing trial leaves none to skew the next.
struct Hogs(Vec<std::process::Child>);

impl Hogs {
    /// Starts one, as `uid`, for `time` at most.
    fn start(&mut self, uid: u32, time: Duration) {
        let mut hog = Command::new("sleep");
        hog.arg(time.as_secs_f64().to_string()).stdin(Stdio::null());
        // SAFETY: see `as_user`.
        unsafe {
            hog.pre_exec(as_user(uid, None));
        }
        self.0.push(hog.spawn().expect("sleep starts"));
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for hog in &mut self.0 {
            let _ = hog.kill();
            let _ = hog.wait();
        }
    }
}

impl Pinch {
    fn name(&self) -> &'static str {
        match self {
            Pinch::Cgroup(_) => "pids cgroup",
            Pinch::User(_) => "RLIMIT_NPROC",
        }
    }

    /// The pinches this machine allows, or why there is none.
    fn available(name: &str) -> Result<Vec<Pinch>, String> {
        let mut pinches = Vec::new();
        let mut why = Vec::new();
        match PidsCgroup::create(name) {
            Ok(cgroup) => pinches.push(Pinch::Cgroup(cgroup)),
            Err(e) => why.push(e),
        }
        // SAFETY: geteuid only returns a number.
        if unsafe { libc::geteuid() } == 0 {
            pinches.push(Pinch::User(NOBODY));
        } else {
            why.push("not root, so brake cannot be run as another user".into());
        }
        if pinches.is_empty() {
            return Err(why.join("; "));
        }
        Ok(pinches)
    }

    /// Runs brake in `dir` on inputs `1..=jobs` from stdin, with room for `room` jobs next to
    /// its own processes and threads; after `lift`, if given, room for more.
    fn run(
        &self,
        dir: &Path,
        args: &[String],
        token: &str,
        (jobs, room, lift): (usize, usize, Option<Duration>),
    ) -> Ran {
        match self {
            Pinch::Cgroup(cgroup) => run_fed(
                dir,
                args,
                token,
                Some(cgroup.enter()),
                Some(squeeze(
                    token.to_owned(),
                    cgroup.dir.clone(),
                    room,
                    jobs,
                    lift,
                )),
            ),
            Pinch::User(uid) => {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
                // A limit can only be set before brake starts (lowering another user's limit
                // takes CAP_SYS_RESOURCE), so first: what does an idle brake hold?
                let own = Arc::new(AtomicUsize::new(0));
                let measured = Arc::clone(&own);
                let marker = token.to_owned();
                let idle = run_fed(
                    dir,
                    &["-j50".into(), "true".into()],
                    token,
                    Some(as_user(*uid, None)),
                    Some(Box::new(move |stdin| {
                        measured.store(steady(&marker, || tasks_of(NOBODY)), Ordering::SeqCst);
                        drop(stdin);
                    })),
                );
                assert_eq!(
                    idle.status.code(),
                    Some(0),
                    "idle brake: {}",
                    idle.describe()
                );
                let own = own.load(Ordering::SeqCst);
                // The limit is set high enough that brake does not fit -j to it before the
                // run (the room is what sleeping processes of the same user leave), and one of
                // them ends at `lift`.
                let nproc = own + HEADROOM;
                let mut hogs = Hogs(Vec::new());
                for _ in own + room + usize::from(lift.is_some())..nproc {
                    hogs.start(*uid, LIMIT);
                }
                if let Some(lift) = lift {
                    hogs.start(*uid, lift);
                }
                let run = run_fed(
                    dir,
                    args,
                    token,
                    Some(as_user(*uid, Some(nproc as u64))),
                    Some(Box::new(move |mut stdin| {
                        let lines: String = (1..=jobs).map(|i| format!("{i}\n")).collect();
                        let _ = stdin.write_all(lines.as_bytes());
                        let _ = stdin.flush();
                        // Closing stdin ends brake's input thread, which makes room.
                        if let Some(lift) = lift {
                            std::thread::sleep(lift);
                        }
                    })),
                );
                drop(hogs);
                run
            }
        }
    }

    /// Forks refused so far, where the kernel counts them.
    fn refusals(&self) -> Option<usize> {
        match self {
            Pinch::Cgroup(cgroup) => Some(cgroup.refusals()),
            Pinch::User(_) => None,
        }
    }
}

/// A `pre_exec` closure that runs the child as `uid` (group too), with RLIMIT_NPROC at
/// `nproc` if given (set first: root may).
fn as_user(uid: u32, nproc: Option<u64>) -> Limit {
    let mut limit = nproc.map(|n| rlimit(libc::RLIMIT_NPROC, n));
    Box::new(move || {
        if let Some(limit) = &mut limit {
            limit()?;
        }
        // SAFETY: setgroups, setgid and setuid are async-signal-safe system calls on plain
        // integers (and an empty list).
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    })
}

/// Tasks (processes and threads) whose real user is `uid`.
fn tasks_of(uid: u32) -> usize {
    let wanted = format!("Uid:\t{uid}\t");
    let Ok(procs) = fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .flatten()
        .filter(|p| {
            p.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .flat_map(|p| {
            fs::read_dir(p.path().join("task"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|task| {
            fs::read_to_string(task.path().join("status"))
                .is_ok_and(|status| status.lines().any(|l| l.starts_with(&wanted)))
        })
        .count()
}

/// `count()` once brake's guard is up (the last step of its start) and the count has stayed
/// the same for 150 ms: brake's threads and guard are started, and it is idle (reading stdin).
fn steady(token: &str, count: impl Fn() -> usize) -> usize {
    let began = Instant::now();
    while !guard_up(token) && began.elapsed() < LIMIT / 4 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut seen = count();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(150) && began.elapsed() < LIMIT / 4 {
        std::thread::sleep(Duration::from_millis(10));
        let now = count();
        if now != seen {
            seen = now;
            since = Instant::now();
        }
    }
    seen
}

/// Whether the guard of the run marked `token` has started.
fn guard_up(token: &str) -> bool {
    marked_processes(token).iter().any(|p| {
        fs::read(format!("/proc/{}/environ", p.pid)).is_ok_and(|env| {
            env.split(|&b| b == 0)
                .any(|var| var.starts_with(b"BRAKE_GUARD_FOR="))
        })
    })
}

/// A feed for brake's stdin that first waits until brake is up and idle and sets `pids.max`
/// to what it holds then plus `room`, then writes the job inputs `1..=jobs` and closes stdin,
/// lifting the limit first after `lift`, if given.
fn squeeze(
    token: String,
    cgroup: PathBuf,
    room: usize,
    jobs: usize,
    lift: Option<Duration>,
) -> Feed {
    Box::new(move |mut stdin| {
        let current = || {
            fs::read_to_string(cgroup.join("pids.current"))
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .unwrap_or(0)
        };
        let own = steady(&token, current);
        fs::write(cgroup.join("pids.max"), (own + room).to_string()).unwrap();
        let lines: String = (1..=jobs).map(|i| format!("{i}\n")).collect();
        let _ = stdin.write_all(lines.as_bytes());
        let _ = stdin.flush();
        if let Some(lift) = lift {
            std::thread::sleep(lift);
            fs::write(cgroup.join("pids.max"), "max").unwrap();
        }
    })
}

/// Process starts refused with EAGAIN, in two ways: room for three jobs next to brake while -j
/// asks for 50, and for a while room for none. brake lowers its -j with one warning and
/// retries (when a job ends; with none running, after a back-off); every job runs once, none
/// counted failed. Each way runs under every pinch the machine allows (see [`Pinch`]).
#[test]
fn torture_limits_nproc() {
    /// (jobs, room for jobs under the limit, when the limit is lifted)
    const SCENARIOS: [(usize, usize, Option<Duration>); 2] =
        [(200, 3, None), (30, 0, Some(Duration::from_millis(400)))];
    let mut tally = Tally::new("limits-nproc");
    let mut failures = Vec::new();
    for trial in 0..trials(1) {
        for (scenario, &(jobs, room, lift)) in SCENARIOS.iter().enumerate() {
            let name = format!("brake-torture-{}-{trial}-{scenario}", std::process::id());
            let pinches = match Pinch::available(&name) {
                Ok(pinches) => pinches,
                Err(why) => {
                    println!(
                        "torture_limits_nproc: not run: {why}; EAGAIN cannot be made real here"
                    );
                    return;
                }
            };
            for (n, pinch) in pinches.into_iter().enumerate() {
                tally.trials += 1;
                let label = format!("trial {trial}, {}, room for {room}", pinch.name());
                let dir = tempfile::tempdir().unwrap();
                let token = token("limits-nproc", trial * 100 + scenario * 10 + n);
                let args = ["-j50", "--joblog=run.log", JOB].map(String::from);
                let before = pinch.refusals();
                let run = pinch.run(dir.path(), &args, &token, (jobs, room, lift));
                tally.left_behind += run.left_behind;
                println!("{label}: {}", run.stderr.trim_end());
                let warned = said(&run.stderr, "cannot start more processes (");
                // Where the kernel does not count refusals, brake's warning is the evidence.
                let refused = match (before, pinch.refusals()) {
                    (Some(before), Some(after)) => after - before,
                    _ => warned.len(),
                };
                tally.faults += refused;
                // With no room, starts are retried (after a back-off) until the limit lifts.
                let expected = if room == 0 && before.is_some() { 2 } else { 1 };
                if refused < expected {
                    failures.push(format!("{label}: only {refused} fork(s) refused"));
                }
                if run.status.code() != Some(0) {
                    failures.push(format!("{label}: {}", run.describe()));
                }
                let most = format!("): running at most {} at a time", room.max(1));
                if warned.len() != 1
                    || (room == 0 && !warned[0].ends_with(&most))
                    || run.stderr.lines().count() != 1
                {
                    failures.push(format!(
                        "{label}: expected one warning and nothing else: {:?}",
                        run.stderr
                    ));
                }
                each_once(&mut tally, &mut failures, &label, dir.path(), jobs);
            }
        }
    }
    tally.finish_with(&failures);
}

/// Refusals that never end: brake gives up after 30 s with none running, with one line, status
/// 255 and no joblog line for the jobs not started; `--resume` then runs them all. Not in CI's
/// slice for the 30 s it takes by design: run it with `--ignored`.
#[test]
#[ignore = "takes the 30 s brake waits before giving up"]
fn torture_limits_nproc_give_up() {
    const JOBS: usize = 20;
    let mut tally = Tally::new("limits-nproc-give-up");
    let mut failures = Vec::new();
    let cgroup = match PidsCgroup::create(&format!("brake-torture-{}-give-up", std::process::id()))
    {
        Ok(cgroup) => cgroup,
        Err(why) => {
            println!("torture_limits_nproc_give_up: not run: {why}");
            return;
        }
    };
    tally.trials += 1;
    let dir = tempfile::tempdir().unwrap();
    let token = token("limits-nproc-give-up", 0);
    let args = ["-j4", "--joblog=run.log", JOB].map(String::from);
    let lines: String = (1..=JOBS).map(|i| format!("{i}\n")).collect();
    let pids = cgroup.dir.clone();
    let held = lines.clone();
    let marker = token.clone();
    let run = run_fed(
        dir.path(),
        &args,
        &token,
        Some(cgroup.enter()),
        Some(Box::new(move |mut stdin| {
            let current = || {
                fs::read_to_string(pids.join("pids.current"))
                    .ok()
                    .and_then(|t| t.trim().parse::<usize>().ok())
                    .unwrap_or(0)
            };
            let own = steady(&marker, current);
            fs::write(pids.join("pids.max"), own.to_string()).unwrap();
            let _ = stdin.write_all(held.as_bytes());
            let _ = stdin.flush();
            // stdin stays open (brake's input thread keeps its place) until brake is gone.
            let began = Instant::now();
            while current() > 0 && began.elapsed() < LIMIT {
                std::thread::sleep(Duration::from_millis(50));
            }
        })),
    );
    tally.left_behind += run.left_behind;
    tally.faults += cgroup.refusals();
    println!("{}", run.stderr.trim_end());
    let gave_up = said(
        &run.stderr,
        "could not start a job for 30 s, with none running (",
    );
    if run.status.code() != Some(255) || gave_up.len() != 1 {
        failures.push(format!(
            "expected status 255 and one line: {}",
            run.describe()
        ));
    }
    match logged(&dir.path().join("run.log")) {
        Ok(seqs) if seqs.is_empty() => {}
        Ok(seqs) => {
            tally.lost += seqs.len();
            failures.push(format!("jobs that never started were logged: {seqs:?}"));
        }
        Err(e) => failures.push(e),
    }
    if ran_len(dir.path()) > 0 {
        failures.push("a job ran although no process could start".into());
    }
    let mut resume = args.to_vec();
    resume.insert(0, "--resume".into());
    let resumed = run_fed(
        dir.path(),
        &resume,
        &token,
        None,
        Some(Box::new(move |mut stdin| {
            let _ = stdin.write_all(lines.as_bytes());
        })),
    );
    tally.left_behind += resumed.left_behind;
    if resumed.status.code() != Some(0) {
        failures.push(format!("--resume: {}", resumed.describe()));
    }
    each_once(
        &mut tally,
        &mut failures,
        "after --resume",
        dir.path(),
        JOBS,
    );
    tally.finish_with(&failures);
}

/// The joblog's first run fails to write a line part-way (`run` gives the limit); checks
/// what a failed run must leave, then resumes without the limit (after `unlimit`) and checks
/// that the resumed run did exactly the jobs with no line, and the log ends whole and
/// complete. Returns a description of each problem; counts into `tally`.
fn joblog_trial(
    tally: &mut Tally,
    dir: &Path,
    joblog: &str,
    token: &str,
    limit: Option<Limit>,
    unlimit: impl FnOnce(),
) -> Vec<String> {
    const JOBS: usize = 200;
    let mut failures = Vec::new();
    let log_path = dir.join(joblog);
    let run = run_limited(dir, &job_args(8, JOBS, joblog, false), token, limit);
    tally.left_behind += run.left_behind;
    if run.status.signal().is_some() || run.status.code() != Some(255) {
        failures.push(format!(
            "the first run should fail with 255: {}",
            run.describe()
        ));
    }
    let errors = said(&run.stderr, "cannot write the joblog ");
    println!("{}", run.stderr.trim_end());
    tally.faults += errors.len();
    if errors.len() != 1 || !errors[0].contains(joblog) || !errors[0].contains("--resume") {
        failures.push(format!(
            "expected one line naming the joblog: {:?}",
            run.stderr
        ));
    }
    let summary = said(&run.stderr, "").into_iter().last().unwrap_or_default();
    if !summary.contains("not started") || !summary.contains("--resume") {
        failures.push(format!("the summary should offer a resume: {summary:?}"));
    }
    let before = match logged(&log_path) {
        Ok(seqs) => seqs,
        Err(e) => {
            tally.lost += JOBS;
            return vec![format!("after the failed run: {e}")];
        }
    };
    let ran_before = ran(dir, 0);
    // A line is written only for a job that ran to its end, once.
    let unrun: Vec<usize> = before
        .iter()
        .filter(|&(n, &c)| c != 1 || !ran_before.contains_key(n))
        .map(|(&n, _)| n)
        .collect();
    tally.lost += unrun.len();
    if !unrun.is_empty() {
        failures.push(format!("logged but never run, or twice: {unrun:?}"));
    }
    if before.is_empty() || before.len() >= JOBS {
        failures.push(format!(
            "the limit should hit mid-run, but {} job(s) were logged",
            before.len()
        ));
    }

    unlimit();
    let from = ran_len(dir);
    let resumed = run_limited(dir, &job_args(8, JOBS, joblog, true), token, None);
    tally.left_behind += resumed.left_behind;
    if resumed.status.code() != Some(0) || !resumed.stderr.is_empty() {
        failures.push(format!("the resumed run: {}", resumed.describe()));
    }
    let again = ran(dir, from);
    let expected: BTreeSet<usize> = (1..=JOBS).filter(|n| !before.contains_key(n)).collect();
    let got: BTreeSet<usize> = again.keys().copied().collect();
    let wrong =
        expected.symmetric_difference(&got).count() + again.values().filter(|&&c| c > 1).count();
    tally.lost += wrong;
    if wrong > 0 {
        failures.push(format!(
            "--resume should run exactly the {} unlogged jobs; it ran {} (first differences: {:?})",
            expected.len(),
            again.len(),
            expected
                .symmetric_difference(&got)
                .take(20)
                .collect::<Vec<_>>()
        ));
    }
    match logged(&log_path) {
        Ok(seqs) => {
            let (lost, text) = exactly_once("joblog after --resume", &seqs, JOBS);
            tally.lost += lost;
            if lost > 0 {
                failures.push(text);
            }
        }
        Err(e) => {
            tally.lost += JOBS;
            failures.push(format!("after --resume: {e}"));
        }
    }
    failures
}

/// The joblog hits brake's RLIMIT_FSIZE: brake survives SIGXFSZ, reports EFBIG in one line,
/// stops with 255 leaving whole lines only, and --resume (no limit) does the rest.
#[test]
fn torture_limits_fsize() {
    /// Room for the header and about forty lines; the jobs' own `ran.txt` (they inherit the
    /// limit) stays well under it.
    const FSIZE: u64 = 3000;
    let mut tally = Tally::new("limits-fsize");
    let mut failures = Vec::new();
    for trial in 0..trials(1) {
        tally.trials += 1;
        let dir = tempfile::tempdir().unwrap();
        let token = token("limits-fsize", trial);
        let limit = rlimit(libc::RLIMIT_FSIZE, FSIZE);
        for problem in joblog_trial(
            &mut tally,
            dir.path(),
            "run.log",
            &token,
            Some(limit),
            || {},
        ) {
            failures.push(format!("trial {trial}: {problem}"));
        }
    }
    tally.finish_with(&failures);
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Result<Tmpfs, String> {
        fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// The joblog is on a full tmpfs: one line naming it and ENOSPC, status 255, whole lines
/// only; after the filler is removed, --resume does the rest.
#[test]
fn torture_limits_enospc() {
    let mut tally = Tally::new("limits-enospc");
    let mut failures = Vec::new();
    for trial in 0..trials(1) {
        let dir = tempfile::tempdir().unwrap();
        let small = match Tmpfs::mount(dir.path().join("small"), "64k") {
            Ok(small) => small,
            Err(why) => {
                println!("torture_limits_enospc: not run: {why}; a full disk cannot be made here");
                return;
            }
        };
        tally.trials += 1;
        // 15 of the 16 pages: the log has one page, about sixty lines.
        let filler = small.dir.join("filler");
        if let Err(e) = fs::write(&filler, vec![0u8; 60 * 1024]) {
            failures.push(format!("trial {trial}: cannot fill the tmpfs: {e}"));
            continue;
        }
        let token = token("limits-enospc", trial);
        let problems = joblog_trial(
            &mut tally,
            dir.path(),
            "small/run.log",
            &token,
            None,
            || fs::remove_file(&filler).unwrap(),
        );
        for problem in problems {
            failures.push(format!("trial {trial}: {problem}"));
        }
        drop(small);
    }
    tally.finish_with(&failures);
}
