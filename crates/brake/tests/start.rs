//! `Child::start` on both of its paths: `clone3` (where the kernel allows it) and the
//! `std::process` one it falls back to (`ChildOptions::clone3: false`). Each test runs its
//! body once per path and expects the same child: arguments, `argv[0]`, environment, directory,
//! standard streams and extra descriptors, its own process group, default signal actions and
//! an empty signal mask, its pidfd, and the errors a shell would report.
//!
//! A helper run of this binary (chosen by `MODE_VAR`) covers what is process-wide: an
//! inherited ignored SIGINT, undone by `reset_signals`, and a handled SIGUSR1, never left to a
//! child.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::Duration;

use brake::child::{clone3_enabled, Child, ChildOptions, Io, Program};
use brake_testkit::{Session, Status, MARKER_VAR};

const LIMIT: Duration = Duration::from_secs(30);
const MODE_VAR: &str = "BRAKE_START_TEST_MODE";

/// The two paths: `clone3` first, then `std::process`.
const PATHS: [bool; 2] = [true, false];

fn options(clone3: bool) -> ChildOptions {
    ChildOptions {
        clone3,
        termseq: "INT,200,KILL".parse().unwrap(),
        ..ChildOptions::default()
    }
}

/// `sh -c script` with stdout piped and stdin from `/dev/null`.
fn sh(script: &str) -> Program {
    let mut program = Program::new("sh");
    program
        .arg("-c")
        .arg(script)
        .stdin(Io::Null)
        .stdout(Io::Piped);
    program
}

/// Runs `program` to its end; its stdout and exit code.
fn output(program: &Program, clone3: bool) -> (String, Option<i32>) {
    let mut child = Child::start(program, &options(clone3)).unwrap();
    assert_eq!(
        child.std_mut().is_none(),
        clone3 && clone3_enabled(),
        "which path started the child"
    );
    let mut text = String::new();
    child
        .take_stdout()
        .expect("stdout is piped")
        .read_to_string(&mut text)
        .unwrap();
    let exit = child.wait_timeout(LIMIT).unwrap().expect("the child ended");
    (text, exit.code())
}

#[test]
fn arguments_environment_and_directory_reach_the_child() {
    let dir = std::env::temp_dir().join(format!("brake-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for clone3 in PATHS {
        let mut program =
            sh("printf '%s|' \"$0\" \"$1\" \"$VAR\" \"$(pwd)\" \"${GONE-unset}\"; exit 3");
        program
            .arg("zero")
            .arg("one two")
            .env("VAR", "value")
            .env("GONE", "x")
            .env_remove("GONE")
            .current_dir(&dir);
        let (text, code) = output(&program, clone3);
        let pwd = dir.canonicalize().unwrap();
        assert_eq!(
            text,
            format!("zero|one two|value|{}|unset|", pwd.display()),
            "clone3: {clone3}"
        );
        assert_eq!(code, Some(3), "clone3: {clone3}");
    }
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn argv0_is_the_arg0_and_the_program_is_found_in_path() {
    for clone3 in PATHS {
        // The shell's own command line starts with argv[0]; the program came from PATH.
        let mut program = sh("tr '\\0' ' ' < /proc/$$/cmdline");
        program.arg0("named");
        assert_eq!(
            output(&program, clone3).0,
            "named -c tr '\\0' ' ' < /proc/$$/cmdline ",
            "clone3: {clone3}"
        );
        // A PATH of the child's own is searched, in order, past a directory without it.
        let mut program = sh("echo found");
        program.env("PATH", "/nonexistent:/usr/bin:/bin");
        assert_eq!(output(&program, clone3).0, "found\n", "clone3: {clone3}");
    }
}

#[test]
fn a_cleared_environment_holds_only_what_is_set() {
    for clone3 in PATHS {
        let mut program = Program::new("/usr/bin/env");
        program
            .env_clear()
            .env("ONLY", "this")
            .stdin(Io::Null)
            .stdout(Io::Piped);
        assert_eq!(
            output(&program, clone3).0,
            "ONLY=this\n",
            "clone3: {clone3}"
        );
    }
}

#[test]
fn start_errors_are_the_shells() {
    for clone3 in PATHS {
        let missing = Child::start(&Program::new("no-such-program-brake"), &options(clone3));
        let err = missing.expect_err("a missing program is an error");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "clone3: {clone3}");
        let data = std::env::temp_dir().join(format!("brake-start-data-{}", std::process::id()));
        std::fs::write(&data, "not a program\n").unwrap();
        let not_runnable = Child::start(&Program::new(&data), &options(clone3));
        std::fs::remove_file(&data).unwrap();
        let err = not_runnable.expect_err("a data file is not runnable");
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EACCES),
            "clone3: {clone3}: {err}"
        );
        let mut bad = Program::new("sh");
        bad.arg("a\0b");
        let err = Child::start(&bad, &options(clone3)).err().unwrap();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "clone3: {clone3}"
        );
    }
}

#[test]
fn standard_streams_and_extra_descriptors_are_placed() {
    for clone3 in PATHS {
        let (mut read, write) = std::io::pipe().unwrap();
        let mut program = sh("read line; echo \"got $line\"; echo err >&2; echo extra >&4");
        program
            .stdin(Io::Piped)
            .stderr(Io::Piped)
            .fd(OwnedFd::from(write), 4);
        let mut child = Child::start(&program, &options(clone3)).unwrap();
        drop(program); // the parent's copy of the write end: EOF once the child is done
        let mut stdin = child.take_stdin().unwrap();
        stdin.write_all(b"hello\n").unwrap();
        drop(stdin);
        let mut out = String::new();
        child
            .take_stdout()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .take_stderr()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let mut extra = String::new();
        read.read_to_string(&mut extra).unwrap();
        assert_eq!(
            (out.as_str(), err.as_str(), extra.as_str()),
            ("got hello\n", "err\n", "extra\n"),
            "clone3: {clone3}"
        );
        assert!(child.wait_timeout(LIMIT).unwrap().unwrap().status.success());
    }
}

/// Starts `sleep 30` and waits until the child runs `sleep` itself (past its exec).
fn sleeper(options: &ChildOptions) -> Child {
    let mut program = Program::new("sleep");
    program.arg("30").stdin(Io::Null);
    let child = Child::start(&program, options).unwrap();
    let comm = format!("/proc/{}/comm", child.id());
    let until = std::time::Instant::now() + LIMIT;
    while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
        assert!(std::time::Instant::now() < until, "sleep never ran");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// A signal set of `/proc/<pid>/status`, such as `SigBlk`, as its standard signals (1 to 31,
/// bit 0 for signal 1): the real-time ones may be ignored by whatever started the tests.
fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap()
        .trim();
    format!(
        "{:08x}",
        u64::from_str_radix(hex, 16).unwrap() & 0x7fff_ffff
    )
}

#[test]
fn the_child_leads_its_group_with_default_signals_and_ends_by_its_sequence() {
    for clone3 in PATHS {
        let mut child = sleeper(&options(clone3));
        let pid = child.id();
        // SAFETY: getpgid(2) on a live, unreaped child of ours.
        assert_eq!(unsafe { libc::getpgid(pid as i32) }, pid as i32);
        assert_eq!(status_field(pid, "SigBlk"), "00000000");
        assert_eq!(status_field(pid, "SigCgt"), "00000000");
        // No parent-death signal asked for: no signal is ignored either (reset_signals).
        assert_eq!(status_field(pid, "SigIgn"), "00000000");
        let exit = child.terminate(None).unwrap();
        assert_eq!(
            exit.signal(),
            Some(libc::SIGINT),
            "clone3: {clone3}: {exit}"
        );
        assert!(exit.ended_by.is_some());
    }
}

fn mode() -> Option<String> {
    std::env::var(MODE_VAR).ok()
}

/// Runs only `test` in a helper run of this binary, in a pty session of its own, and returns
/// what it printed once it exited 0.
fn helper(test: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let command = brake_testkit::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(MODE_VAR, "helper")
        .env(MARKER_VAR, format!("start-test-{test}"));
    let finished = Session::spawn(command).unwrap().wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Exited(0), "{}", finished.output);
    finished.output
}

#[test]
fn signals_the_parent_ignores_or_handles_do_not_reach_the_child_so() {
    if mode().is_some() {
        // SAFETY: in this helper process, before any thread of its own: SIGINT ignored (as a
        // background shell leaves it) and SIGUSR1 handled by a function that does nothing.
        unsafe {
            extern "C" fn nothing(_: libc::c_int) {}
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGUSR1, nothing as *const () as libc::sighandler_t);
        }
        for clone3 in PATHS {
            for reset in [true, false] {
                let options = ChildOptions {
                    reset_signals: reset,
                    parent_death_signal: None,
                    ..options(clone3)
                };
                let mut child = sleeper(&options);
                let ignored = status_field(child.id(), "SigIgn");
                let caught = status_field(child.id(), "SigCgt");
                println!("clone3 {clone3} reset {reset}: ignored {ignored} caught {caught}");
                child.terminate(None).unwrap();
            }
        }
        std::process::exit(0);
    }
    let output = &helper("signals_the_parent_ignores_or_handles_do_not_reach_the_child_so");
    for clone3 in PATHS {
        // SIGINT is bit 1 (value 2); nothing is ever caught in the child.
        assert!(
            output.contains(&format!(
                "clone3 {clone3} reset true: ignored 00000000 caught 00000000"
            )),
            "{output}"
        );
        assert!(
            output.contains(&format!(
                "clone3 {clone3} reset false: ignored 00000002 caught 00000000"
            )),
            "{output}"
        );
    }
}

/// A job that ends while its parent thread waits in the clone of the next start sends that
/// thread a SIGCHLD. Blocked there, the kernel would queue it for the process and wake another
/// thread to take it (then drop it: nothing handles SIGCHLD); deliverable, it is dropped at
/// once. So 300 starts in a row, each child ending on its own during the next start, must
/// not wake a thread that sleeps in a read meanwhile.
#[test]
fn a_job_ending_during_the_next_start_wakes_no_other_thread() {
    if mode().is_some() {
        if !clone3_enabled() {
            println!("no clone3 here");
            std::process::exit(0);
        }
        let (reader, _writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: gettid(2) takes no arguments.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = (&reader).read(&mut [0u8]);
        });
        let tid = tid_rx.recv().unwrap();
        let switches = || {
            let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        // The reader is asleep in its read once its count stops moving.
        let mut before = switches();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let now = switches();
            if now == before {
                break;
            }
            before = now;
        }
        let mut program = Program::new("true");
        program.stdin(Io::Null);
        let children: Vec<Child> = (0..300)
            .map(|_| Child::start(&program, &options(true)).unwrap())
            .collect();
        let woken = switches() - before;
        for mut child in children {
            child.wait_timeout(LIMIT).unwrap().expect("true ended");
        }
        println!("reader woken {woken} times");
        std::process::exit(0);
    }
    let output = helper("a_job_ending_during_the_next_start_wakes_no_other_thread");
    if output.contains("no clone3 here") {
        return;
    }
    assert!(
        output.contains("reader woken 0 times"),
        "a thread asleep in a read was woken by SIGCHLDs: {output}"
    );
}
