//! The run cgroup against descendants that escape everything else: a job starts
//! `setsid env -i sleep …` (out of its process group and session, without the run's marker),
//! and the run must still end it — at a normal end, at a Ctrl-C stop, and, when brake and its
//! guard were both SIGKILLed, at the `--resume` that follows, before any job runs. With the
//! cgroup switched off, `--explain` must say so, a marked escaped descendant must still be ended, and
//! the `env -i` one outlives the run: the tests assert that too, since it is the one thing the
//! process-group path cannot promise.
//!
//! Even trials start jobs with `clone3` inside the cgroup where the kernel allows it, odd ones
//! through the fallback (`BRAKE_NO_CLONE3`: brake moves itself into the cgroup and out before
//! the kill), so that both keep these guarantees.
//!
//! The escaped process carries no marker, so it is found by a unique argument in its command
//! line (`sleep 300.<pid><n>`). Where no writable cgroup v2 exists, the cgroup tests say why
//! and return.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brake::child::cgroup::run_name;
use brake::child::{RunCgroup, NO_CLONE3_VAR};
use brake_testkit::torture::{trials, Tally};
use brake_testkit::{marked_processes, Finished, Session, Status};

use crate::support::{brake, command};

const LIMIT: Duration = Duration::from_secs(60);

/// The value of `BRAKE_NO_CLONE3` for `trial`: even trials use `clone3`, odd ones the fallback.
fn spawn_path(trial: usize) -> &'static str {
    if trial.is_multiple_of(2) {
        "0"
    } else {
        "1"
    }
}

/// Why there is no writable cgroup v2 here, or `None` when there is one.
fn no_cgroup() -> Option<String> {
    // Tests run on threads of one process, so the name the pid and start time make is shared:
    // each probe numbers its own, or two at once would collide (EEXIST) and see no cgroup.
    static PROBE: AtomicUsize = AtomicUsize::new(0);
    let stem = format!(
        "brake-torture-probe{}",
        PROBE.fetch_add(1, Ordering::SeqCst)
    );
    match RunCgroup::create(&run_name(&stem)) {
        Ok(_) => None,
        Err(err) => Some(err.to_string()),
    }
}

/// A `sleep` argument no other process has: `300.<pid><n>`.
fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "300.{}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Live processes whose command line ends in `sleep <arg>`.
fn sleeping(arg: &str) -> Vec<u32> {
    processes(arg, |cmdline, wanted| cmdline.ends_with(wanted))
}

/// Processes that already are `sleep ARG`: readiness, where [`sleeping`] would also count one
/// still on its way there (`setsid env -i sleep ARG` before its exec).
fn asleep(arg: &str) -> Vec<u32> {
    processes(arg, |cmdline, wanted| cmdline == wanted)
}

fn processes(arg: &str, matches: fn(&[u8], &[u8]) -> bool) -> Vec<u32> {
    let wanted = format!("sleep\0{arg}\0").into_bytes();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| matches(&c, &wanted)))
        .filter(|&pid| live(pid))
        .collect()
}

fn live(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].trim_start().chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    })
}

/// SIGKILLs `pid` through a pidfd, so a recycled pid is never hit.
fn kill(pid: u32) -> bool {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` is the pidfd just opened: the kernel signals only the process it pins. It
    // is closed once, here.
    unsafe {
        let sent = libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
        libc::close(fd as i32);
        sent == 0
    }
}

/// Kills whatever still sleeps with these arguments when dropped, so a failing test leaks
/// nothing.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for arg in &self.0 {
            for pid in sleeping(arg) {
                kill(pid);
            }
        }
    }
}

/// Waits up to 5 s for `condition`.
fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// The cgroup an `--explain` run named in `output`.
fn named_cgroup(output: &str) -> Option<PathBuf> {
    let rest = output.split("brake: jobs run in the cgroup ").nth(1)?;
    Some(PathBuf::from(rest.split(", ended with").next()?))
}

/// A job that leaves `sleep <arg>` behind, out of its group and session and without the
/// marker, then says `started {}` and runs for `seconds`.
fn escaping_job(arg: &str, seconds: &str) -> String {
    // The job goes on only once its escapee runs `sleep` itself: until `env -i` has cleared
    // it, the escapee still carries the run's marker, and a sweep would rightly end it.
    format!(
        "setsid env -i sleep {arg} >/dev/null 2>&1 & p=$!; \
         until [ \"$(tr '\\0' ' ' < /proc/$p/cmdline)\" = 'sleep {arg} ' ]; do sleep 0.01; done; \
         echo started {{}}; sleep {seconds}"
    )
}

/// How one run ended, against what it should have: problems found, counted in `tally`.
fn check_end(
    what: &str,
    finished: &Finished,
    expected: Status,
    escaped: &str,
    cgroup: Option<&Path>,
    tally: &mut Tally,
) -> Vec<String> {
    let mut problems = Vec::new();
    if finished.status != expected {
        problems.push(format!(
            "{what}: ended {:?}, not {expected:?}",
            finished.status
        ));
    }
    if finished.output.contains("panicked") {
        tally.panics += 1;
    }
    tally.left_behind += finished.survivors.len();
    if !finished.survivors.is_empty() {
        problems.push(format!("{what}: marked survivors {:?}", finished.survivors));
    }
    let left = sleeping(escaped);
    tally.left_behind += left.len();
    if !left.is_empty() {
        problems.push(format!(
            "{what}: the setsid env -i sleep outlived the run: {left:?}"
        ));
    }
    match cgroup {
        Some(dir) if dir.exists() => {
            tally.left_behind += 1;
            problems.push(format!("{what}: {} was left behind", dir.display()));
        }
        Some(_) => {}
        None => problems.push(format!("{what}: --explain named no cgroup")),
    }
    if !problems.is_empty() {
        problems.push(format!(
            "output:\n{}",
            brake_testkit::stats::tail(&finished.output, 12)
        ));
    }
    problems
}

#[test]
fn torture_cgroup_escaped_descendants_end_with_the_run() {
    if let Some(why) = no_cgroup() {
        println!("no writable cgroup v2, skipping: {why}");
        return;
    }
    let mut tally = Tally::new("cgroup");
    let mut failures = Vec::new();
    for trial in 0..trials(2) {
        // A normal end: every job finishes by itself, leaving its escaped sleep.
        let escaped = unique();
        let _cleanup = Cleanup(vec![escaped.clone()]);
        let session = Session::spawn(
            brake([
                "--explain",
                "-j2",
                &escaping_job(&escaped, "0"),
                ":::",
                "1",
                "2",
                "3",
            ])
            .cwd(std::env::temp_dir())
            .env(NO_CLONE3_VAR, spawn_path(trial)),
        )
        .unwrap();
        tally.trials += 1;
        match session.wait_exit(LIMIT) {
            Ok(finished) => {
                let cgroup = named_cgroup(&finished.output);
                failures.extend(check_end(
                    &format!("trial {trial}, normal end"),
                    &finished,
                    Status::Exited(0),
                    &escaped,
                    cgroup.as_deref(),
                    &mut tally,
                ));
            }
            Err(e) => failures.push(format!("trial {trial}, normal end: {e}")),
        }

        // A Ctrl-C stop while the jobs run.
        let escaped = unique();
        let _cleanup = Cleanup(vec![escaped.clone()]);
        let mut session = Session::spawn(
            brake([
                "--explain",
                "-j2",
                &escaping_job(&escaped, "30"),
                ":::",
                "1",
                "2",
                "3",
            ])
            .cwd(std::env::temp_dir())
            .env(NO_CLONE3_VAR, spawn_path(trial)),
        )
        .unwrap();
        tally.trials += 1;
        let ready = eventually(|| asleep(&escaped).len() == 2);
        if !ready {
            failures.push(format!(
                "trial {trial}, Ctrl-C: the escaped sleeps did not start"
            ));
        }
        if session.press_ctrl_c().is_ok() {
            tally.faults += 1;
        }
        match session.wait_exit(LIMIT) {
            Ok(finished) => {
                let cgroup = named_cgroup(&finished.output);
                failures.extend(check_end(
                    &format!("trial {trial}, Ctrl-C"),
                    &finished,
                    Status::Exited(130),
                    &escaped,
                    cgroup.as_deref(),
                    &mut tally,
                ));
            }
            Err(e) => failures.push(format!("trial {trial}, Ctrl-C: {e}")),
        }
    }
    tally.finish_with(&failures);
}

#[test]
fn torture_cgroup_fallback_ends_marked_escapees_and_not_env_i() {
    let mut tally = Tally::new("cgroup-fallback");
    let mut failures = Vec::new();
    let mut outlived = 0;
    for trial in 0..trials(2) {
        for ctrl_c in [false, true] {
            let what = format!(
                "trial {trial}, {}",
                if ctrl_c { "Ctrl-C" } else { "normal end" }
            );
            // One escapee keeps the run's marker (the subreaper sweep finds it), one clears
            // its environment (nothing but a cgroup could).
            let marked = unique();
            let unmarked = unique();
            let _cleanup = Cleanup(vec![marked.clone(), unmarked.clone()]);
            let seconds = if ctrl_c { "30" } else { "0" };
            let job = format!(
                "setsid sleep {marked} >/dev/null 2>&1 & {}",
                escaping_job(&unmarked, seconds)
            );
            let mut session = Session::spawn(
                brake(["--explain", "--cgroup", "off", "-j2", &job, ":::", "1", "2"])
                    .cwd(std::env::temp_dir()),
            )
            .unwrap();
            tally.trials += 1;
            if ctrl_c {
                if !eventually(|| asleep(&unmarked).len() == 2) {
                    failures.push(format!("{what}: the escaped sleeps did not start"));
                }
                if session.press_ctrl_c().is_ok() {
                    tally.faults += 1;
                }
            }
            let finished = match session.wait_exit(LIMIT) {
                Ok(finished) => finished,
                Err(e) => {
                    failures.push(format!("{what}: {e}"));
                    continue;
                }
            };
            let expected = if ctrl_c {
                Status::Exited(130)
            } else {
                Status::Exited(0)
            };
            if finished.status != expected {
                failures.push(format!("{what}: ended {:?}", finished.status));
            }
            let says = finished
                .output
                .contains("no cgroup for this run (--cgroup off)")
                && finished.output.contains("setsid env -i")
                && finished.output.contains("can outlive the run");
            if !says {
                failures.push(format!(
                    "{what}: --explain did not name the process-group path"
                ));
            }
            if named_cgroup(&finished.output).is_some() {
                failures.push(format!(
                    "{what}: --explain named a cgroup with --cgroup off"
                ));
            }
            tally.left_behind += finished.survivors.len() + sleeping(&marked).len();
            if !sleeping(&marked).is_empty() {
                failures.push(format!("{what}: the marked escapee outlived the run"));
            }
            // The truth of the fallback: the `env -i` escapee lives on (re-parented away from
            // brake, without the marker). Counted apart, and killed here.
            let unmarked_left = sleeping(&unmarked);
            if unmarked_left.len() != 2 {
                failures.push(format!(
                    "{what}: expected both env -i escapees to outlive a run without a cgroup, \
                     found {unmarked_left:?}"
                ));
            }
            outlived += unmarked_left.len();
        }
    }
    println!(
        "cgroup-fallback: env -i escapees that outlived their run, as --explain warns: {outlived}"
    );
    tally.finish_with(&failures);
}

/// The guard of the run whose processes carry `token`: brake started again with
/// `BRAKE_GUARD_FOR` in its environment.
fn guard_of(token: &str) -> Option<u32> {
    let marker = format!("{}={token}", brake_testkit::MARKER_VAR).into_bytes();
    fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let vars: Vec<&[u8]> = env.split(|&b| b == 0).collect();
                vars.contains(&marker.as_slice())
                    && vars.iter().any(|v| v.starts_with(b"BRAKE_GUARD_FOR="))
            }) && live(pid)
        })
}

#[test]
fn torture_cgroup_killed_runner_and_guard_then_resume() {
    if let Some(why) = no_cgroup() {
        println!("no writable cgroup v2, skipping: {why}");
        return;
    }
    let mut tally = Tally::new("cgroup");
    let mut failures = Vec::new();
    for trial in 0..trials(2) {
        let dir = tempfile::tempdir().unwrap();
        let escaped = unique();
        let job_sleep = unique().replacen("300.", "60.", 1);
        let _cleanup = Cleanup(vec![escaped.clone(), job_sleep.clone()]);
        // Job 1 leaves an escapee and ends; job 2 runs (until the resume, which finds the
        // survivor's pid written down and skips the sleep); every job notes whether the
        // survivor was still alive when it started.
        let template = format!(
            "case {{}} in 1) setsid env -i sleep {escaped} >/dev/null 2>&1 & ;; \
             2) [ -f survivor.pid ] || sleep {job_sleep} ;; esac; \
             if [ -f survivor.pid ] && grep -qs '^State:[[:space:]]*[RSD]' \
             /proc/$(cat survivor.pid)/status; then echo {{}} >> alive-at-start.txt; fi; \
             echo {{}} >> done.txt"
        );
        let args = |resume: bool| {
            let mut args: Vec<String> =
                vec!["--explain".into(), "-j1".into(), "--joblog=run.log".into()];
            if resume {
                args.push("--resume".into());
            }
            args.extend([template.clone(), ":::".into()]);
            args.extend(["1", "2", "3", "4"].map(String::from));
            args
        };
        let mut first = Session::spawn(
            brake(args(false))
                .cwd(dir.path())
                .env(NO_CLONE3_VAR, spawn_path(trial)),
        )
        .unwrap();
        tally.trials += 1;
        if !eventually(|| asleep(&job_sleep).len() == 1 && asleep(&escaped).len() == 1) {
            failures.push(format!("trial {trial}: job 2 or the escapee did not start"));
            continue;
        }
        let old_cgroup = named_cgroup(&first.output());
        // The guard first: with brake gone and the guard alive, the guard would end the run.
        match guard_of(first.marker()) {
            Some(guard) if kill(guard) => tally.faults += 1,
            _ => failures.push(format!("trial {trial}: no guard found to kill")),
        }
        if first.send_signal(libc::SIGKILL).is_ok() {
            tally.faults += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
        let survivors = sleeping(&job_sleep);
        if survivors.len() != 1 || sleeping(&escaped).len() != 1 {
            failures.push(format!(
                "trial {trial}: expected the job and the escapee to outlive brake and its \
                 guard, found job {survivors:?}, escapee {:?}",
                sleeping(&escaped)
            ));
            continue;
        }
        fs::write(dir.path().join("survivor.pid"), survivors[0].to_string()).unwrap();
        match &old_cgroup {
            Some(old) if old.exists() => {}
            other => failures.push(format!("trial {trial}: the killed run's cgroup: {other:?}")),
        }

        // `first` is kept, unreaped only as long as needed: a zombie runner counts as gone.
        let resumed = Session::spawn(
            brake(args(true))
                .cwd(dir.path())
                .env(NO_CLONE3_VAR, spawn_path(trial)),
        )
        .unwrap();
        let finished = match resumed.wait_exit(LIMIT) {
            Ok(finished) => finished,
            Err(e) => {
                failures.push(format!("trial {trial}: the resume: {e}"));
                continue;
            }
        };
        drop(first);
        let mut problems = check_end(
            &format!("trial {trial}, resume"),
            &finished,
            Status::Exited(0),
            &escaped,
            named_cgroup(&finished.output).as_deref(),
            &mut tally,
        );
        let left = sleeping(&job_sleep);
        tally.left_behind += left.len();
        if !left.is_empty() {
            problems.push(format!(
                "the job that survived the kill still runs: {left:?}"
            ));
        }
        if let Some(old) = &old_cgroup {
            if !finished.output.contains(&format!(
                "an earlier run of this joblog left in {}",
                old.display()
            )) {
                problems.push("the resume did not say it ended the old cgroup".into());
            }
            if old.exists() {
                tally.left_behind += 1;
                problems.push(format!("{} was not removed", old.display()));
            }
        }
        let seen_alive =
            fs::read_to_string(dir.path().join("alive-at-start.txt")).unwrap_or_default();
        if !seen_alive.is_empty() {
            problems.push(format!(
                "jobs started while the survivor lived: {seen_alive:?}"
            ));
        }
        let done = fs::read_to_string(dir.path().join("done.txt")).unwrap_or_default();
        let mut done: Vec<&str> = done.lines().collect();
        done.sort_unstable();
        if done != ["1", "2", "3", "4"] {
            tally.lost += 1;
            problems.push(format!("jobs done: {done:?}"));
        }
        if !problems.is_empty() {
            problems.insert(0, format!("trial {trial}:"));
            problems.push(brake_testkit::stats::tail(&finished.output, 12));
        }
        failures.extend(problems);
    }
    tally.finish_with(&failures);
}

#[test]
fn torture_cgroup_verbose_names_the_path_in_both_modes() {
    let mut tally = Tally::new("cgroup");
    let mut failures = Vec::new();
    let have = no_cgroup();
    for mode in ["auto", "off"] {
        let out = command(["--explain", "--cgroup", mode, "true", ":::", "1"])
            .output()
            .unwrap();
        tally.trials += 1;
        let text = String::from_utf8_lossy(&out.stderr);
        let cgroup = named_cgroup(&text);
        let fallback = text.contains("no cgroup for this run (")
            && text.contains("jobs are ended by process group");
        let right = match (mode, &have) {
            ("auto", None) => cgroup.as_ref().is_some_and(|c| !c.exists()) && !fallback,
            ("auto", Some(_)) => cgroup.is_none() && fallback,
            _ => cgroup.is_none() && text.contains("no cgroup for this run (--cgroup off)"),
        };
        if !right || !out.status.success() {
            failures.push(format!("--cgroup {mode}: {:?}\n{text}", out.status));
        }
    }
    // Where none can be made (here: as an unprivileged user, if this test runs as root), `auto`
    // says why it goes without and `on` refuses the run with one line, status 255.
    // SAFETY: geteuid only returns a number.
    if have.is_none() && unsafe { libc::geteuid() } == 0 {
        for (mode, code) in [("auto", 0), ("on", 255)] {
            let mut as_nobody = command(["--explain", "--cgroup", mode, "true", ":::", "1"]);
            as_nobody.current_dir("/");
            // SAFETY: setgroups, setgid and setuid are async-signal-safe system calls on plain
            // integers and a null list; nothing is allocated between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut as_nobody, || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(65534) != 0
                        || libc::setuid(65534) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let out = as_nobody.output().unwrap();
            tally.trials += 1;
            tally.bad_inputs += usize::from(mode == "on");
            let text = String::from_utf8_lossy(&out.stderr);
            let right = match mode {
                "auto" => text.contains("no cgroup for this run (cannot create "),
                _ => {
                    text.contains("--cgroup on: this run cannot have a cgroup: cannot create ")
                        && text
                            .lines()
                            .filter(|l| !l.contains(" job(s) at once"))
                            .count()
                            == 1
                }
            };
            if !right || out.status.code() != Some(code) {
                failures.push(format!(
                    "as nobody, --cgroup {mode}: {:?}\n{text}",
                    out.status
                ));
            }
        }
    }
    // `on` where there is none is refused before anything runs.
    if let Some(why) = have {
        let out = command(["--cgroup", "on", "true", ":::", "1"])
            .output()
            .unwrap();
        tally.trials += 1;
        tally.bad_inputs += 1;
        if out.status.code() != Some(255) {
            failures.push(format!(
                "--cgroup on without a cgroup ({why}): {:?}",
                out.status
            ));
        }
    }
    tally.finish_with(&failures);
}

#[test]
fn torture_cgroup_guard_ends_the_cgroup_of_a_killed_runner() {
    if let Some(why) = no_cgroup() {
        println!("no writable cgroup v2, skipping: {why}");
        return;
    }
    let mut tally = Tally::new("cgroup");
    let mut failures = Vec::new();
    for trial in 0..trials(2) {
        let escaped = unique();
        let _cleanup = Cleanup(vec![escaped.clone()]);
        let mut session = Session::spawn(
            brake([
                "--explain",
                "-j2",
                &escaping_job(&escaped, "30"),
                ":::",
                "1",
                "2",
            ])
            .cwd(std::env::temp_dir())
            .env(NO_CLONE3_VAR, spawn_path(trial)),
        )
        .unwrap();
        tally.trials += 1;
        if !eventually(|| asleep(&escaped).len() == 2) {
            failures.push(format!("trial {trial}: the escaped sleeps did not start"));
        }
        let cgroup = named_cgroup(&session.output());
        let token = session.marker().to_owned();
        // brake alone: its guard sees the pipe close, ends the run's cgroup, removes it and
        // exits. Everything the session started must be gone then, the guard too.
        if session.send_signal(libc::SIGKILL).is_ok() {
            tally.faults += 1;
        }
        let gone = eventually(|| {
            sleeping(&escaped).is_empty()
                && cgroup.as_ref().is_some_and(|c| !c.exists())
                && marked_processes(&token).is_empty()
        });
        if !gone {
            let left = sleeping(&escaped);
            let marked = marked_processes(&token);
            tally.left_behind += left.len().max(marked.len());
            failures.push(format!(
                "trial {trial}: 5 s after brake was killed: escapees {left:?}, still marked \
                 {marked:?}, cgroup {cgroup:?} exists: {}",
                cgroup.as_ref().is_some_and(|c| c.exists())
            ));
        }
        match session.wait_exit(LIMIT) {
            Ok(finished) => {
                tally.left_behind += finished.survivors.len();
                if !finished.survivors.is_empty() {
                    failures.push(format!("trial {trial}: left {:?}", finished.survivors));
                }
                if finished.status != Status::Signaled(libc::SIGKILL) {
                    failures.push(format!("trial {trial}: ended {:?}", finished.status));
                }
            }
            Err(e) => failures.push(format!("trial {trial}: {e}")),
        }
    }
    tally.finish_with(&failures);
}
