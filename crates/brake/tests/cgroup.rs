//! Run cgroups against real processes: a child joins through `ChildOptions::cgroup`, this test
//! binary started again moves itself in (process-wide, so never inside the shared test
//! process), stale cgroups are told from live ones, and ending a cgroup kills a descendant that
//! left its process group and cleared its environment (`setsid env -i`), then removes it.
//!
//! Where no writable cgroup v2 exists, each test says why and returns.

#![cfg(target_os = "linux")]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brake::child::cgroup::{end_at, own_dir, run_name, stale};
use brake::child::{Child, ChildOptions, RunCgroup};

/// Set when this binary runs as the helper of `moving_in_puts_later_children_in_the_cgroup`.
const SELF_MODE_VAR: &str = "BRAKE_CGROUP_TEST_SELF";

/// A unique `sleep` argument, so the process can be found by its command line alone (it has no
/// marker: `env -i` cleared it).
fn unique_sleep() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "300.{}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A run cgroup for `test`, or `None` (having said why) where none can be made.
fn run_cgroup(test: &str) -> Option<RunCgroup> {
    match RunCgroup::create(&run_name(&format!("brake-test-{test}"))) {
        Ok(cgroup) => Some(cgroup),
        Err(err) => {
            println!("no writable cgroup v2 here, skipping {test}: {err}");
            None
        }
    }
}

/// Live processes whose command line is `sleep <arg>`.
fn sleeping(arg: &str) -> Vec<u32> {
    let wanted = format!("sleep\0{arg}\0").into_bytes();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let state = stat
                    .rfind(')')
                    .and_then(|end| stat[end + 1..].trim_start().chars().next());
                !matches!(state, Some('Z' | 'X') | None)
            })
        })
        .collect()
}

/// Waits up to 5 s for `condition`.
fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

/// Kills what a failed test left (by its unique argument), so a failure does not leak.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in sleeping(&self.0) {
            // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
            if fd < 0 {
                continue;
            }
            // SAFETY: `fd` is the pidfd just opened; the kernel signals only its process, so a
            // recycled pid is never hit. Then it is closed, once.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd,
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
                libc::close(fd as i32);
            }
        }
    }
}

fn procs_of(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `sh -c script` that starts `setsid env -i sleep <arg>` in the background, prints `ready`
/// and sleeps.
fn escaping_job(arg: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(format!(
            "setsid env -i sleep {arg} >/dev/null 2>&1 & echo ready; exec sleep 30"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

fn read_ready(child: &mut Child) {
    let stdout = child.take_stdout().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
}

#[test]
fn a_child_joins_and_ending_the_cgroup_ends_its_escaped_descendant() {
    let Some(cgroup) = run_cgroup("join") else {
        return;
    };
    let dir = cgroup.path().to_owned();
    let arg = unique_sleep();
    let _cleanup = Cleanup(arg.clone());
    let options = ChildOptions {
        cgroup: Some(cgroup.join()),
        ..ChildOptions::default()
    };
    let mut child = Child::spawn(&mut escaping_job(&arg), &options).unwrap();
    read_ready(&mut child);
    assert!(
        eventually(|| sleeping(&arg).len() == 1),
        "the escaped sleep started"
    );
    let escaped = sleeping(&arg)[0];
    let inside = procs_of(&dir);
    assert!(
        inside.contains(&child.id()),
        "the child is in {}: {inside:?}",
        dir.display()
    );
    assert!(
        inside.contains(&escaped),
        "so is its escaped descendant: {inside:?}"
    );
    assert!(cgroup.is_populated());

    // The group's sequence ends the job but not the descendant that left its group.
    let exit = child.terminate(None).unwrap();
    assert!(exit.ended_by.is_some(), "{exit}");
    assert_eq!(
        sleeping(&arg),
        vec![escaped],
        "setsid took it out of the job's group"
    );

    let swept = cgroup.end().unwrap();
    assert!(
        swept.iter().any(|s| s.pid == escaped),
        "reported: {swept:?}"
    );
    assert!(sleeping(&arg).is_empty(), "cgroup.kill ended it");
    assert!(!dir.exists(), "{} was removed", dir.display());
}

#[test]
fn dropping_a_run_cgroup_ends_and_removes_it() {
    let Some(cgroup) = run_cgroup("drop") else {
        return;
    };
    let dir = cgroup.path().to_owned();
    let arg = unique_sleep();
    let _cleanup = Cleanup(arg.clone());
    let options = ChildOptions {
        cgroup: Some(cgroup.join()),
        ..ChildOptions::default()
    };
    let mut child = Child::spawn(&mut escaping_job(&arg), &options).unwrap();
    read_ready(&mut child);
    assert!(eventually(|| sleeping(&arg).len() == 1));
    drop(child);
    drop(cgroup);
    assert!(
        sleeping(&arg).is_empty(),
        "dropping the cgroup ended the escaped sleep"
    );
    assert!(!dir.exists());
    // The join handle outlives its cgroup: a child spawned with it fails to start instead of
    // running where nothing would end it.
    let late = Child::spawn(&mut escaping_job(&arg), &options);
    assert!(late.is_err(), "a start into a removed cgroup is refused");
    assert!(sleeping(&arg).is_empty());
}

#[test]
fn stale_cgroups_are_those_whose_creator_is_gone_and_end_at_clears_them() {
    let Some(live) = run_cgroup("stale") else {
        return;
    };
    let stem = format!("brake-test-stale-{}", std::process::id());
    // Same pid as this process, another start time: what a recycled pid looks like.
    let name = live
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let start: u64 = name.rsplit('-').next().unwrap().parse().unwrap();
    let ours = own_dir()
        .unwrap()
        .join(format!("{stem}-{}-{start}", std::process::id()));
    let gone = own_dir()
        .unwrap()
        .join(format!("{stem}-{}-{}", std::process::id(), start + 1));
    fs::create_dir(&ours).unwrap();
    fs::create_dir(&gone).unwrap();

    let arg = unique_sleep();
    let _cleanup = Cleanup(arg.clone());
    let mut sleeper = Command::new("sleep")
        .arg(&arg)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    fs::write(gone.join("cgroup.procs"), sleeper.id().to_string()).unwrap();

    assert_eq!(
        stale(&stem),
        vec![gone.clone()],
        "only the one whose creator is gone"
    );
    let swept = end_at(&gone).unwrap();
    assert_eq!(
        swept.iter().map(|s| s.pid).collect::<Vec<_>>(),
        vec![sleeper.id()]
    );
    assert!(sleeping(&arg).is_empty());
    let reaped = sleeper.try_wait();
    assert!(
        matches!(&reaped, Err(e) if e.raw_os_error() == Some(libc::ECHILD)),
        "end_at reaped it, a child of this process: {reaped:?}"
    );
    assert!(!gone.exists());
    assert!(stale(&stem).is_empty());
    end_at(&ours).unwrap();
    assert!(!ours.exists());
    drop(live);
}

#[test]
fn names_that_are_not_a_cgroup_of_our_own_are_refused() {
    for name in ["", "a/b", "cgroup.procs", ".hidden"] {
        let err = RunCgroup::create(name).unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "{name:?}: {err}"
        );
    }
}

#[test]
fn moving_in_puts_later_children_in_the_cgroup() {
    if std::env::var_os(SELF_MODE_VAR).is_some() {
        moved_in();
        return;
    }
    if run_cgroup("probe").is_none() {
        return;
    }
    // Moving in is process-wide: run it in a process of its own, or the other tests' children
    // would land in the cgroup and be killed with it.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "moving_in_puts_later_children_in_the_cgroup",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SELF_MODE_VAR, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("moved-in: ok"), "{text}");
}

/// The helper's side: move in, spawn with plain std (posix_spawn), check, end.
fn moved_in() {
    let home = fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut cgroup = RunCgroup::create(&run_name("brake-test-self")).unwrap();
    let dir = cgroup.path().to_owned();
    cgroup.move_self_in().unwrap();
    assert!(procs_of(&dir).contains(&std::process::id()));
    let arg = unique_sleep();
    let _cleanup = Cleanup(arg.clone());
    let mut job = escaping_job(&arg);
    let mut child = job.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(eventually(|| sleeping(&arg).len() == 1));
    let escaped = sleeping(&arg)[0];
    assert!(
        procs_of(&dir).contains(&escaped),
        "a child spawned after the move is inside"
    );
    let swept = cgroup.end().unwrap();
    assert_eq!(
        fs::read_to_string("/proc/self/cgroup").unwrap(),
        home,
        "moved back out"
    );
    assert!(swept.iter().any(|s| s.pid == escaped), "{swept:?}");
    assert!(swept.iter().any(|s| s.pid == child.id()), "{swept:?}");
    assert!(sleeping(&arg).is_empty());
    assert!(
        child.try_wait().is_err() || child.try_wait().unwrap().is_some(),
        "the job ended"
    );
    assert!(!dir.exists());

    // Ending it from inside spares this process: the others are killed one by one through
    // pidfds (the path kernels without cgroup.kill take too), and the directory stays, which
    // is reported.
    let mut cgroup = RunCgroup::create(&run_name("brake-test-self")).unwrap();
    let dir = cgroup.path().to_owned();
    cgroup.move_self_in().unwrap();
    let arg = unique_sleep();
    let _cleanup = Cleanup(arg.clone());
    let mut child = escaping_job(&arg).spawn().unwrap();
    assert!(eventually(|| sleeping(&arg).len() == 1));
    let err = end_at(&dir).unwrap_err();
    assert!(err.to_string().contains("this process is inside"), "{err}");
    assert!(
        sleeping(&arg).is_empty(),
        "the escapee was killed without cgroup.kill"
    );
    let reaped = child.try_wait();
    assert!(
        matches!(&reaped, Err(e) if e.raw_os_error() == Some(libc::ECHILD)),
        "end_at reaped the killed job, a child of this process: {reaped:?}"
    );
    assert_eq!(procs_of(&dir), vec![std::process::id()]);
    assert!(cgroup.end().unwrap().is_empty());
    assert!(!dir.exists());
    println!("moved-in: ok");
}

#[test]
fn ending_a_cgroup_another_process_already_ended_is_not_an_error() {
    let Some(cgroup) = run_cgroup("twice") else {
        return;
    };
    let dir = cgroup.path().to_owned();
    assert!(end_at(&dir).unwrap().is_empty());
    assert!(!dir.exists());
    // What the guard of a killed run and a resumed run may both do.
    assert!(end_at(&dir).unwrap().is_empty());
    assert!(cgroup.end().unwrap().is_empty());
}

#[test]
fn a_started_child_is_born_in_the_cgroup_on_both_paths_and_this_process_stays_out() {
    use brake::child::{clone3_enabled, Io, Program};
    let Some(cgroup) = run_cgroup("start") else {
        return;
    };
    if clone3_enabled() {
        assert!(
            cgroup.starts_children_inside(),
            "clone3 is enabled here, so CLONE_INTO_CGROUP is (Linux 5.7 or later)"
        );
    }
    let dir = cgroup.path().to_owned();
    let home = own_dir().unwrap();
    let mut cleanups = Vec::new();
    for clone3 in [true, false] {
        let arg = unique_sleep();
        cleanups.push(Cleanup(arg.clone()));
        let options = ChildOptions {
            cgroup: Some(cgroup.join()),
            clone3,
            ..ChildOptions::default()
        };
        let mut program = Program::new("/bin/sh");
        program
            .arg("-c")
            .arg(format!(
                "setsid env -i sleep {arg} >/dev/null 2>&1 & echo ready; exec sleep 30"
            ))
            .stdin(Io::Null)
            .stdout(Io::Piped);
        let mut child = Child::start(&program, &options).unwrap();
        read_ready(&mut child);
        assert!(eventually(|| sleeping(&arg).len() == 1), "clone3 {clone3}");
        let inside = procs_of(&dir);
        assert!(inside.contains(&child.id()), "clone3 {clone3}: {inside:?}");
        assert!(inside.contains(&sleeping(&arg)[0]), "clone3 {clone3}");
        assert!(!inside.contains(&std::process::id()), "clone3 {clone3}");
        assert_eq!(own_dir().unwrap(), home, "this process never moved");
        child.terminate(None).unwrap();
    }
    let swept = cgroup.end().unwrap();
    assert_eq!(swept.len(), 2, "both escaped sleeps: {swept:?}");
    assert!(!dir.exists());
}
