//! `-S`: jobs on other machines over OpenSSH, against real `sshd` servers the tests start
//! themselves (`support/sshd.rs`), and the stop contract on every host.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brake_testkit::{marked_processes, Status, MARKER_VAR};
use proptest::prelude::*;

use support::sshd::{kill_all, processes_with, remote_processes_with, wait_gone, Farm, Server};
use support::{read_joblog, run_in, start_in};

const LIMIT: Duration = Duration::from_secs(120);

/// A `sleep` whose command line is unique to this test process and `tag`: how a test finds
/// the remote jobs it started (sshd gives them no marker of the test's).
fn sleeper(tag: u32) -> String {
    format!("600.{}{tag:02}", std::process::id())
}

/// Two servers of `farm`, on 127.0.0.2 and 127.0.0.3.
fn two(farm: &Farm) -> (Server, Server) {
    (farm.start("127.0.0.2"), farm.start("127.0.0.3"))
}

fn args(farm: &Farm, logins: &[&Server], rest: &[&str]) -> Vec<String> {
    let logins: Vec<String> = logins.iter().map(|s| s.login()).collect();
    let mut args = vec![
        "--ssh".to_owned(),
        farm.ssh_command(),
        "-S".to_owned(),
        logins.join(","),
    ];
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

/// Waits until `count` processes hold `needle` as `sleep NEEDLE`.
fn wait_for_sleeps(needle: &str, count: usize, output: impl Fn() -> String) {
    let until = Instant::now() + LIMIT;
    loop {
        let sleeping = sleeps(needle);
        if sleeping >= count {
            return;
        }
        assert!(
            Instant::now() < until,
            "only {sleeping} of {count} remote jobs started: {}",
            output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sleeps(needle: &str) -> usize {
    let wanted = format!("sleep\0{needle}");
    processes_with(needle)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(wanted.as_bytes()))
        })
        .count()
}

/// The names in `dir`.
fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

/// Job number → hosts of its joblog lines.
fn hosts(dir: &Path, log: &str) -> BTreeMap<u64, Vec<String>> {
    let log = read_joblog(&dir.join(log)).unwrap().expect("a joblog");
    assert!(log.header && log.torn.is_none(), "{log:?}");
    let mut hosts: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for job in log.jobs {
        hosts.entry(job.seq).or_default().push(job.host);
    }
    hosts
}

fn ran(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("ran.txt")).unwrap_or_default();
    let mut ran: Vec<u64> = text.lines().map(|l| l.parse().unwrap()).collect();
    ran.sort_unstable();
    ran
}

/// The harness itself: a server of the farm takes the farm's key and runs a command.
#[test]
fn the_farm_serves_ssh() {
    let Some(farm) = Farm::new("the_farm_serves_ssh") else {
        return;
    };
    let server = farm.start("127.0.0.2");
    let mut words = farm.ssh_command();
    words.push_str(&format!(" -p {} {} echo hi", server.port, server.address));
    let argv: Vec<&str> = words.split_whitespace().collect();
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hi\n");
}

/// The harness's partition: a server in a network namespace answers until the link is cut.
#[test]
fn the_isolated_server_serves_ssh_until_the_cut() {
    let Some(farm) = Farm::new("the_isolated_server_serves_ssh_until_the_cut") else {
        return;
    };
    let Some(isolated) = farm.isolated(1) else {
        return;
    };
    let ssh = |extra: &str| {
        let words = format!(
            "{} -o ConnectTimeout=2 -p {} {} echo {extra}",
            farm.ssh_command(),
            isolated.server.port,
            isolated.server.address
        );
        let argv: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        Command::new(&argv[0]).args(&argv[1..]).output().unwrap()
    };
    assert_eq!(ssh("before").stdout, b"before\n");
    isolated.cut();
    assert!(!ssh("after").status.success());
}

#[test]
fn bad_sshlogins_are_refused_by_name() {
    for bad in ["host:port", "0/host", "a,,b", "me@"] {
        let out = support::run(["-S", bad, "echo", ":::", "a"]);
        assert_eq!(out.status.code(), Some(255), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("-S"), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // --onall's joblog numbers each host's jobs from 1: a resume cannot tell them apart.
    let out = support::run(["--onall", "--resume", "--joblog", "x", "-S", "h", "echo"]);
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--resume with --onall"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = support::run(["--onall", "--pipe", "-S", "h", "cat"]);
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--pipe with --onall"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = support::run(["--nonall", "--halt", "now,fail=1", "-S", "h", "true"]);
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--halt with --onall"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // As in GNU parallel, files are moved only for jobs on other hosts.
    let out = support::run(["--transferfile", "{}", "--return", "x", "echo", ":::", "a"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Jobs go to every host; each keeps its stdout and stderr apart, and its exit status and
/// killing signal reach the joblog with its host.
#[test]
fn jobs_run_on_every_host_with_their_status_and_streams() {
    let Some(farm) = Farm::new("jobs_run_on_every_host_with_their_status_and_streams") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let job = "echo out {}; echo err {} >&2; case {} in 9) kill -TERM $$;; *) exit {};; esac";
    let mut rest = vec!["-j", "2", "--joblog", "run.log", job, ":::"];
    rest.extend(["0", "1", "2", "3", "4", "5", "9"]);
    let out = run_in(dir.path(), args(&farm, &[&a, &b], &rest));
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for n in ["0", "1", "2", "3", "4", "5", "9"] {
        assert!(stdout.contains(&format!("out {n}\n")), "{stdout}");
        assert!(stderr.contains(&format!("err {n}\n")), "{stderr}");
    }
    assert!(!stdout.contains("err") && !stderr.contains("out"));
    assert!(
        !stderr.contains('\x1e'),
        "the status line leaked: {stderr:?}"
    );
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    let mut used = std::collections::BTreeSet::new();
    for line in &log.jobs {
        assert!([a.login(), b.login()].contains(&line.host), "{line:?}");
        used.insert(line.host.clone());
        let expected = if line.seq == 7 {
            (-1, 15)
        } else {
            (line.seq as i32 - 1, 0)
        };
        assert_eq!((line.exitval, line.signal), expected, "{line:?}");
    }
    assert_eq!(used.len(), 2, "both hosts ran jobs: {log:?}");
}

/// Without `N/`, a host's slots come from its own number of CPUs, as `-j` counts them.
#[test]
fn a_host_gets_slots_for_its_cpus() {
    let Some(farm) = Farm::new("a_host_gets_slots_for_its_cpus") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let cpus = Command::new("getconf")
        .arg("_NPROCESSORS_ONLN")
        .output()
        .unwrap();
    let cpus: usize = String::from_utf8_lossy(&cpus.stdout)
        .trim()
        .parse()
        .unwrap();
    let values: Vec<String> = (1..=3 * (cpus + 1)).map(|n| n.to_string()).collect();
    let mut rest = vec!["-j", "+1", "sleep 0.2; echo {%}", ":::"];
    rest.extend(values.iter().map(String::as_str));
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), args(&farm, &[&a], &rest));
    assert!(out.status.success(), "{out:?}");
    let slots: BTreeSet<usize> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert_eq!(slots, (1..=cpus + 1).collect(), "{cpus} CPUs, -j +1");
}

/// A job that fails is run again on a host it has not failed on, while one is free.
#[test]
fn a_retry_goes_to_another_host() {
    let Some(farm) = Farm::new("a_retry_goes_to_another_host") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let once = dir.path().join("once");
    let job = format!(
        "[ -e {once} ] || {{ touch {once}; exit 1; }}; echo {{}}",
        once = once.display()
    );
    let rest = ["-j", "1", "--retries", "3", "--joblog", "run.log", &job];
    let mut rest = rest.to_vec();
    rest.extend([":::", "1"]);
    let out = run_in(dir.path(), args(&farm, &[&a, &b], &rest));
    assert!(out.status.success(), "{out:?}");
    let hosts = hosts(dir.path(), "run.log");
    assert_eq!(hosts[&1].last(), Some(&b.login()), "{hosts:?}");
}

/// Files go to the host before each job and come back after it; `--cleanup` leaves nothing of
/// them there; a basefile is there
/// for every job; a file that is missing fails its job, which then never runs.
#[test]
fn files_travel_with_remote_jobs_and_are_cleaned_up() {
    let Some(farm) = Farm::new("files_travel_with_remote_jobs_and_are_cleaned_up") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(here.path().join("in/sub")).unwrap();
    std::fs::write(here.path().join("in/x 1.txt"), "one\n").unwrap();
    std::fs::write(here.path().join("in/sub/z.txt"), "three\n").unwrap();
    std::fs::write(here.path().join("base.sh"), "echo base; cat \"$1\"\n").unwrap();
    let workdir = there.path().to_str().unwrap();
    let rest = [
        "--workdir",
        workdir,
        "--basefile",
        "base.sh",
        "--transfer",
        "--return",
        "{}.out",
        "--cleanup",
        "sh base.sh {} > {}.out",
        ":::",
        "in/x 1.txt",
        "in/sub/z.txt",
        "in/missing",
    ];
    let out = run_in(here.path(), args(&farm, &[&a], &rest));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("brake: cannot send ./in/missing: no such file"),
        "{stderr}"
    );
    let back = |path: &str| std::fs::read_to_string(here.path().join(path)).unwrap();
    assert_eq!(back("in/x 1.txt.out"), "base\none\n");
    assert_eq!(back("in/sub/z.txt.out"), "base\nthree\n");
    let left = entries(there.path());
    assert!(left.is_empty(), "left on the host: {left:?}");
}

/// `--trc` with `--workdir ...`: each job gets a directory of its own on the host, where its
/// file arrives and its result is taken from; the directory is gone after.
#[test]
fn trc_round_trips_through_a_temporary_workdir() {
    let Some(farm) = Farm::new("trc_round_trips_through_a_temporary_workdir") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let here = tempfile::tempdir().unwrap();
    std::fs::write(here.path().join("a.txt"), "alpha\n").unwrap();
    std::fs::write(here.path().join("b.txt"), "beta\n").unwrap();
    let rest = [
        "--wd",
        "...",
        "--trc",
        "{.}.up",
        "pwd > {.}.up; tr a-z A-Z < {} >> {.}.up",
        ":::",
        "a.txt",
        "b.txt",
    ];
    let out = run_in(here.path(), args(&farm, &[&a], &rest));
    assert!(out.status.success(), "{out:?}");
    for (name, text) in [("a", "ALPHA"), ("b", "BETA")] {
        let up = std::fs::read_to_string(here.path().join(format!("{name}.up"))).unwrap();
        let (dir, rest) = up.split_once('\n').unwrap();
        assert_eq!(rest, format!("{text}\n"));
        assert!(dir.contains("/.brake-wd/"), "{dir}");
        assert!(!Path::new(dir).exists(), "{dir} is still there");
    }
}

/// `--workdir` and `--env` reach the remote job; `...` is a directory of its own, removed after.
#[test]
fn workdirs_and_variables_reach_remote_jobs() {
    let Some(farm) = Farm::new("workdirs_and_variables_reach_remote_jobs") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    let job = "pwd; printf '%s\\n' \"$BRAKE_TEST_SENT\" {}";
    let rest = [
        "--env",
        "BRAKE_TEST_SENT",
        "--workdir",
        "...",
        job,
        ":::",
        "1",
    ];
    let mut command = support::command(args(&farm, &[&a], &rest));
    command
        .current_dir(dir.path())
        .env("BRAKE_TEST_SENT", "a 'b' $c");
    let (out, _) = support::finish(&mut command, "remote-wd", None, Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (pwd, value) = stdout.split_once('\n').unwrap();
    assert!(pwd.contains("brake-wd."), "{pwd}");
    assert!(!Path::new(pwd).exists(), "{pwd} was not removed");
    assert_eq!(value, "a 'b' $c\n1\n");
}

/// A remote job gets GNU parallel's variables as a local one does, agreeing with `{#}` and
/// `{%}`, next to the `--env` ones.
#[test]
fn parallel_variables_reach_remote_jobs() {
    let Some(farm) = Farm::new("parallel_variables_reach_remote_jobs") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let job = "echo {#}={%} $PARALLEL_SEQ=$PARALLEL_JOBSLOT $PARALLEL_PID \
               $PARALLEL_SSHLOGIN $PARALLEL_SSHHOST \"$BRAKE_TEST_SENT\"";
    let rest = [
        "-j",
        "2",
        "--env",
        "BRAKE_TEST_SENT",
        job,
        ":::",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ];
    let mut command = support::command(args(&farm, &[&a, &b], &rest));
    command
        .current_dir(dir.path())
        .env("BRAKE_TEST_SENT", "a 'b'")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let brake = child.id().to_string();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut seqs = Vec::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 7, "{line}");
        assert_eq!(
            words[0], words[1],
            "{{#}}={{%}} as the variables say: {line}"
        );
        assert_eq!(words[2], brake, "{line}");
        let (login, host) = (words[3], words[4]);
        assert!([a.login(), b.login()].iter().any(|l| l == login), "{line}");
        assert_eq!(login.split(':').next(), Some(host), "{line}");
        assert_eq!(&words[5..], ["a", "'b'"], "{line}");
        let (seq, slot) = words[0].split_once('=').unwrap();
        assert!((1..=4).contains(&slot.parse::<usize>().unwrap()), "{line}");
        seqs.push(seq.parse::<u64>().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "{stdout}");
}

/// A host nobody answers on is left out with one line, and its jobs run elsewhere.
#[test]
fn an_unreachable_host_is_left_out() {
    let Some(farm) = Farm::new("an_unreachable_host_is_left_out") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let mut all = args(
        &farm,
        &[&a],
        &["-j", "2", "echo", ":::", "1", "2", "3", "4"],
    );
    all[3].push_str(",127.0.0.9:1");
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &all);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("brake: cannot reach host 127.0.0.9:1:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 4);
}

/// `--onall` runs every job on every host, one at a time per host and in input order: each
/// host's output comes whole, `--tag` names the host, the joblog numbers each host's jobs from
/// 1 with its host, and the exit status counts the hosts where a job failed, as GNU parallel's.
#[test]
fn onall_runs_every_job_on_every_host() {
    let Some(farm) = Farm::new("onall_runs_every_job_on_every_host") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let job = "echo {} {#}:$PARALLEL_SEQ {%}:$PARALLEL_JOBSLOT; sleep 0.{}; exit {}";
    let rest = [
        "--onall", "--tag", "--joblog", "run.log", job, ":::", "0", "1", "2",
    ];
    let out = run_in(dir.path(), args(&farm, &[&a, &b], &rest));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    let mut tagged = Vec::new();
    for block in lines.chunks(3) {
        let host = block[0].split('\t').next().unwrap();
        let expected: Vec<String> = (0..3)
            .map(|n| format!("{host}\t{n} {seq}:{seq} 1:1", seq = n + 1))
            .collect();
        assert_eq!(block, expected, "each host's output whole: {stdout}");
        tagged.push(host.to_owned());
    }
    tagged.sort();
    let mut both = vec![a.login(), b.login()];
    both.sort();
    assert_eq!(tagged, both);
    let log = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
    let mut seen: BTreeSet<(String, u64)> = BTreeSet::new();
    for job in &log.jobs {
        assert!(seen.insert((job.host.clone(), job.seq)), "{log:?}");
    }
    let expected: BTreeSet<(String, u64)> = both
        .iter()
        .flat_map(|host| (1..=3).map(move |seq| (host.clone(), seq)))
        .collect();
    assert_eq!(seen, expected);
    // --nonall: the command once on every host, stdin not read.
    let mut nonall = support::command(args(&farm, &[&a, &b], &["--nonall", "--tag", "echo hi"]));
    nonall.current_dir(dir.path());
    let feed: support::Feed = Box::new(|mut stdin| {
        let _ = std::io::Write::write_all(&mut stdin, b"not a value\n");
    });
    let (out, _) = support::finish(&mut nonall, "nonall", Some(feed), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    let want: Vec<String> = both.iter().map(|host| format!("{host}\thi")).collect();
    assert_eq!(got, want);
    // Shuffled, every host still gets every input once.
    let rest = [
        "--onall", "--shuf", "--tag", "echo", ":::", "1", "2", "3", "4",
    ];
    let out = run_in(dir.path(), args(&farm, &[&a, &b], &rest));
    assert!(out.status.success(), "{out:?}");
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    let want: Vec<String> = both
        .iter()
        .flat_map(|host| (1..=4).map(move |n| format!("{host}\t{n}")))
        .collect();
    assert_eq!(got, want);
    // -k: the hosts' output in -S order, even when the first host ends last.
    let slow_first = format!(
        "case $PARALLEL_SSHLOGIN in {}) sleep 0.5;; esac; echo {{}} $PARALLEL_SSHLOGIN",
        a.login()
    );
    let rest = ["--onall", "-k", &slow_first, ":::", "1", "2"];
    let out = run_in(dir.path(), args(&farm, &[&a, &b], &rest));
    assert!(out.status.success(), "{out:?}");
    let want: String = [a.login(), b.login()]
        .iter()
        .flat_map(|host| (1..=2).map(move |n| format!("{n} {host}\n")))
        .collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

/// Under `--onall`, `-j` counts hosts: with `-j 1` one host runs all its jobs before the next
/// begins.
#[test]
fn onall_j_counts_hosts_at_once() {
    let Some(farm) = Farm::new("onall_j_counts_hosts_at_once") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let order = dir.path().join("order");
    let job = format!(
        "echo begin $PARALLEL_SSHLOGIN >> {o}; sleep 0.{{}}; echo end $PARALLEL_SSHLOGIN >> {o}",
        o = order.display()
    );
    let rest = ["--onall", "-j", "1", &job, ":::", "1", "2"];
    let out = run_in(dir.path(), args(&farm, &[&a, &b], &rest));
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<String> = std::fs::read_to_string(&order)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 8, "{lines:?}");
    let host = |line: &str| line.split(' ').nth(1).unwrap().to_owned();
    let first = host(&lines[0]);
    let second = host(&lines[4]);
    assert_ne!(first, second, "{lines:?}");
    let expected: Vec<String> = [&first, &second]
        .into_iter()
        .flat_map(|h| ["begin", "end", "begin", "end"].map(|w| format!("{w} {h}")))
        .collect();
    assert_eq!(lines, expected);
}

/// One Ctrl-C under `--onall` with two hosts: exit 130, nothing left on either host, the
/// finished jobs' output and joblog lines kept.
#[test]
fn one_ctrl_c_stops_onall_on_every_host() {
    let Some(farm) = Farm::new("one_ctrl_c_stops_onall_on_every_host") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let sleep = sleeper(7);
    let job = format!("echo done {{}}; case {{}} in 1) ;; *) sleep {sleep};; esac");
    let rest = ["--onall", "--joblog", "run.log", &job, ":::", "1", "2", "3"];
    let all = args(&farm, &[&a, &b], &rest);
    let mut session = start_in(dir.path(), &all);
    wait_for_sleeps(&sleep, 2, || session.output());
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let left = processes_with(&sleep);
    kill_all(processes_with(&sleep));
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(left.is_empty(), "left on the hosts: {left:?}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert_eq!(
        finished.output.matches("done 1").count(),
        2,
        "{}",
        finished.output
    );
    assert_eq!(
        finished.output.matches("done 3").count(),
        0,
        "{}",
        finished.output
    );
    let logged = hosts(dir.path(), "run.log");
    assert_eq!(
        logged.keys().copied().collect::<Vec<_>>(),
        [1],
        "{logged:?}"
    );
    let mut on: Vec<String> = logged[&1].clone();
    on.sort();
    let mut both = vec![a.login(), b.login()];
    both.sort();
    assert_eq!(on, both);
}

/// Under `--onall`, as in GNU parallel, a host nobody answers on fails its jobs with 255 and
/// counts as a failed host; `--filter-hosts` leaves it out instead.
#[test]
fn onall_fails_an_unreachable_hosts_jobs_unless_filter_hosts() {
    let Some(farm) = Farm::new("onall_fails_an_unreachable_hosts_jobs_unless_filter_hosts") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    for filter in [false, true] {
        let mut rest = vec!["--onall", "--joblog", "run.log", "echo", ":::", "1", "2"];
        if filter {
            rest.insert(0, "--filter-hosts");
        }
        let mut all = args(&farm, &[&a], &rest);
        all[3].push_str(",127.0.0.9:1");
        let out = run_in(dir.path(), &all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout, "1\n2\n", "{out:?}");
        let logged = read_joblog(&dir.path().join("run.log")).unwrap().unwrap();
        let mut lines: Vec<(String, u64, i32)> = logged
            .jobs
            .iter()
            .map(|job| (job.host.clone(), job.seq, job.exitval))
            .collect();
        lines.sort();
        let mut expected = vec![(a.login(), 1, 0), (a.login(), 2, 0)];
        if filter {
            assert_eq!(out.status.code(), Some(0), "{out:?}");
        } else {
            assert_eq!(out.status.code(), Some(1), "one host failed: {out:?}");
            expected.extend([
                ("127.0.0.9:1".to_owned(), 1, 255),
                ("127.0.0.9:1".to_owned(), 2, 255),
            ]);
        }
        expected.sort();
        assert_eq!(lines, expected, "{out:?}");
    }
}

/// Each job's script: `begin N`, then a remote sleep unless it is job 1 or 2 or `fast`
/// exists, then N appended to `ran.txt`.
fn stoppable_job(dir: &Path, sleep: &str) -> String {
    let dir = dir.display();
    format!(
        "echo begin {{}}; if [ ! -e {dir}/fast ]; then case {{}} in 1|2) ;; *) sleep {sleep};; \
         esac; fi; echo {{}} >> {dir}/ran.txt"
    )
}

/// One Ctrl-C with two hosts × 3 slots: exit 130, nothing left on either host, the joblog
/// holds the finished jobs with their hosts, and `--resume` runs exactly the rest.
#[test]
fn one_ctrl_c_stops_every_host_and_resume_runs_the_rest() {
    let Some(farm) = Farm::new("one_ctrl_c_stops_every_host_and_resume_runs_the_rest") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let sleep = sleeper(1);
    let job = stoppable_job(dir.path(), &sleep);
    let values: Vec<String> = (1..=20).map(|n| n.to_string()).collect();
    let mut rest = vec!["-j", "3", "--joblog", "run.log", &job, ":::"];
    rest.extend(values.iter().map(String::as_str));
    let all = args(&farm, &[&a, &b], &rest);
    let mut session = start_in(dir.path(), &all);
    wait_for_sleeps(&sleep, 6, || session.output());
    // Jobs 1 and 2 finished before the last slot filled.
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let left = processes_with(&sleep);
    kill_all(processes_with(&sleep));
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(left.is_empty(), "left on the hosts: {left:?}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    assert_eq!(ran(dir.path()), [1, 2]);
    let logged = hosts(dir.path(), "run.log");
    assert_eq!(
        logged.keys().copied().collect::<Vec<_>>(),
        [1, 2],
        "{logged:?}"
    );
    for host in logged.values().flatten() {
        assert!([a.login(), b.login()].contains(host), "{host}");
    }
    std::fs::write(dir.path().join("fast"), "").unwrap();
    let mut resume = all.clone();
    resume.insert(4, "--resume".to_owned());
    let out = run_in(dir.path(), &resume);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        ran(dir.path()),
        (1..=20).collect::<Vec<u64>>(),
        "each job once"
    );
    assert_eq!(hosts(dir.path(), "run.log").len(), 20);
}

/// One Ctrl-C with files travelling: exit 130, nothing left running on the host, the finished
/// job's result back here, and `--cleanup` still leaves nothing of the files there.
#[test]
fn one_ctrl_c_with_files_keeps_results_and_leaves_nothing() {
    let Some(farm) = Farm::new("one_ctrl_c_with_files_keeps_results_and_leaves_nothing") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    let sleep = sleeper(5);
    let mut rest = vec![
        "-j".to_owned(),
        "2".to_owned(),
        "--workdir".to_owned(),
        there.path().to_str().unwrap().to_owned(),
        "--transfer".to_owned(),
        "--return".to_owned(),
        "{}.out".to_owned(),
        "--cleanup".to_owned(),
        format!("cat {{}} > {{}}.out; [ {{}} = in.1 ] || sleep {sleep}"),
        ":::".to_owned(),
    ];
    for n in 1..=4 {
        let name = format!("in.{n}");
        std::fs::write(here.path().join(&name), format!("{n}\n")).unwrap();
        rest.push(name);
    }
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let mut session = start_in(here.path(), args(&farm, &[&a], &rest));
    wait_for_sleeps(&sleep, 2, || session.output());
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let left = processes_with(&sleep);
    kill_all(processes_with(&sleep));
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(left.is_empty(), "left on the host: {left:?}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
    let back = std::fs::read_to_string(here.path().join("in.1.out")).unwrap();
    assert_eq!(back, "1\n");
    assert!(
        !here.path().join("in.4.out").exists(),
        "job 4 never started"
    );
    let files = entries(there.path());
    assert!(files.is_empty(), "left on the host: {files:?}");
}

/// Remote jobs that ignore INT, TERM and HUP, and a `setsid` escapee, are ended by one Ctrl-C
/// before brake exits.
#[test]
fn stubborn_remote_jobs_and_escapees_are_ended() {
    let Some(farm) = Farm::new("stubborn_remote_jobs_and_escapees_are_ended") else {
        return;
    };
    let a = farm.start("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    let sleep = sleeper(2);
    let job = format!("trap '' INT TERM HUP; setsid sleep {sleep} & sleep {sleep}; echo {{}}");
    let rest = [
        "-j",
        "2",
        "--termseq",
        "INT,300,TERM,300,KILL",
        &job,
        ":::",
        "1",
        "2",
    ];
    let mut session = start_in(dir.path(), args(&farm, &[&a], &rest));
    wait_for_sleeps(&sleep, 4, || session.output());
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let left = processes_with(&sleep);
    kill_all(processes_with(&sleep));
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(left.is_empty(), "left on the host: {left:?}");
}

/// Where the host lets its user make a cgroup, a descendant that left the job's session and
/// cleared its environment (so neither the group nor the marker finds it) is ended with the
/// job, whether the job ends by itself or by a Ctrl-C.
#[test]
fn an_escapee_without_the_marker_is_ended_by_the_hosts_cgroup() {
    let Some(farm) = Farm::new("an_escapee_without_the_marker_is_ended_by_the_hosts_cgroup") else {
        return;
    };
    let probe = brake::child::cgroup::run_name("brake-test-remote-probe");
    if let Err(why) = brake::child::RunCgroup::create(&probe) {
        println!("no writable cgroup v2 on the host, skipping: {why}");
        return;
    }
    let a = farm.start("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    let sleep = sleeper(6);
    let escape = format!("setsid env -i sleep {sleep} </dev/null >/dev/null 2>&1 &");
    // The job ends only once the escapee runs, so that a check after it cannot pass early.
    let once = format!(
        "{escape} n=0; until grep -qzx {sleep} /proc/[0-9]*/cmdline 2>/dev/null; do \
         [ $n -lt 100 ] || exit 3; n=$((n + 1)); sleep 0.05; done; : {{}}"
    );
    let out = run_in(dir.path(), args(&farm, &[&a], &[&once, ":::", "1"]));
    assert!(out.status.success(), "{out:?}");
    let left = wait_gone(Duration::from_secs(2), || processes_with(&sleep));
    kill_all(processes_with(&sleep));
    assert!(left.is_empty(), "the escapee outlived its job: {left:?}");

    let job = format!("{escape} sleep {sleep}; : {{}}");
    let mut session = start_in(dir.path(), args(&farm, &[&a], &[&job, ":::", "1"]));
    wait_for_sleeps(&sleep, 2, || session.output());
    session.press_ctrl_c().unwrap();
    let finished = session.wait_exit(LIMIT).unwrap();
    let left = wait_gone(Duration::from_secs(2), || processes_with(&sleep));
    kill_all(processes_with(&sleep));
    assert_eq!(finished.status, Status::Exited(130), "{}", finished.output);
    assert!(left.is_empty(), "left on the host: {left:?}");
}

/// brake SIGKILLed: its guard ends the ssh clients and masters, and every remote job and local
/// process is gone within 2 s.
#[test]
fn a_killed_brake_leaves_nothing_on_any_host() {
    let Some(farm) = Farm::new("a_killed_brake_leaves_nothing_on_any_host") else {
        return;
    };
    let (a, b) = two(&farm);
    let dir = tempfile::tempdir().unwrap();
    let sleep = sleeper(3);
    let job = format!("sleep {sleep}");
    let rest = ["-j", "2", &job, ":::", "1", "2", "3", "4", "5"];
    let token = format!("remote-killed-{}", std::process::id());
    let mut child = support::command(args(&farm, &[&a, &b], &rest))
        .current_dir(dir.path())
        .env(MARKER_VAR, &token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_sleeps(&sleep, 4, String::new);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let left = wait_gone(Duration::from_secs(2), || processes_with(&sleep));
    kill_all(processes_with(&sleep));
    assert!(left.is_empty(), "remote jobs left 2 s after: {left:?}");
    // The guard ends the ssh clients, then itself: both within the same bound.
    let local = wait_gone(Duration::from_secs(2), || {
        marked_processes(&token).iter().map(|s| s.pid).collect()
    });
    assert!(local.is_empty(), "local processes left: {local:?}");
}

/// A cut link: the remote wrapper notices the silence and ends its job within the bound
/// (5 s of silence after the last heartbeat, plus the termination sequence), brake notices
/// the lost host, and the job runs again on the other host (`--retries`).
#[test]
fn a_cut_link_ends_remote_jobs_and_the_host_is_reported_lost() {
    let Some(farm) = Farm::new("a_cut_link_ends_remote_jobs_and_the_host_is_reported_lost") else {
        return;
    };
    let Some(isolated) = farm.isolated(2) else {
        return;
    };
    let b = farm.start("127.0.0.3");
    let dir = tempfile::tempdir().unwrap();
    let sleep = sleeper(4);
    let again = dir.path().join("again");
    let job = format!(
        "if [ {{}} = 1 ] && [ ! -e {again} ]; then touch {again}; sleep {sleep}; fi; echo done {{}}",
        again = again.display()
    );
    let rest = ["-j", "1", "--retries", "2", &job, ":::", "1", "2"];
    let mut command = support::command(args(&farm, &[&isolated.server, &b], &rest));
    command.current_dir(dir.path());
    let runner = std::thread::spawn(move || {
        support::finish(&mut command, "remote-cut", None, Duration::from_secs(60))
    });
    wait_for_sleeps(&sleep, 1, String::new);
    let remote = remote_processes_with(&sleep);
    assert!(remote.len() >= 2, "the wrapper and its job: {remote:?}");
    let cut = Instant::now();
    isolated.cut();
    let left = wait_gone(Duration::from_secs(12), || remote_processes_with(&sleep));
    let took = cut.elapsed();
    kill_all(remote_processes_with(&sleep));
    assert!(left.is_empty(), "the remote job outlived the cut: {left:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (out, left) = runner.join().unwrap();
    assert_eq!(left, 0, "local processes outlived brake");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr.contains(&format!("lost host {}", isolated.server.login())),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("done 1\n") && stdout.contains("done 2\n"),
        "{stdout}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    /// Values of any bytes reach the remote job as one literal argument each, through the
    /// extra shell layer of ssh.
    #[test]
    fn any_bytes_arrive_remotely_as_one_literal_argument(
        values in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![
                    1u8..=255,
                    prop::sample::select(b"'\"\\$`!*?[]{}()<>|&;#~= \t\n".to_vec()),
                ],
                1..16,
            ),
            1..12,
        )
    ) {
        let Some(farm) = Farm::new("any_bytes_arrive_remotely_as_one_literal_argument") else {
            return Ok(());
        };
        let a = farm.start("127.0.0.2");
        use std::os::unix::ffi::OsStringExt;
        let mut all: Vec<std::ffi::OsString> = args(&farm, &[&a], &["-q", "-k", "-j", "4", "printf", "%s\\0", ":::"])
            .into_iter()
            .map(Into::into)
            .collect();
        all.extend(values.iter().cloned().map(std::ffi::OsString::from_vec));
        let dir = tempfile::tempdir().unwrap();
        let out = run_in(dir.path(), &all);
        prop_assert!(out.status.success(), "{:?}", out);
        let mut expected = Vec::new();
        for value in &values {
            expected.extend_from_slice(value);
            expected.push(0);
        }
        prop_assert_eq!(out.stdout, expected);
    }
}
