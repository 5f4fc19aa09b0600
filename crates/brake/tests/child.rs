//! Child supervision against real processes: `/bin/sh` scripts as children, and this test binary
//! started again (chosen by `CHILD_VAR`) where a test needs process-wide state of its own (a
//! subreaper, an ignored SIGINT) or a parent to kill.
//!
//! Every wait is bounded: a test body runs under [`bounded`], and readiness, exits and the
//! disappearance of processes are awaited with limits, so a hang fails a test instead of
//! blocking it. Processes are told apart by the testkit's marker variable, set to a token unique
//! to each test, which keeps the checks right even if a pid is reused.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use brake::child::{
    become_subreaper, end_marked, sweep_escaped, terminate_all, Child, ChildOptions, EndedBy, Exit,
    Termination,
};
use brake::{Notice, Reason, Stop, TermSeq, TermStep};
use brake_testkit::{marked_processes, Session, Status, MARKER_VAR};

/// The most any one test may take before it fails as hung.
const LIMIT: Duration = Duration::from_secs(60);
/// The mode of this test binary when it runs as a helper program for a test.
const CHILD_VAR: &str = "BRAKE_CHILD_TEST_MODE";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs `body` on its own thread and fails the test if it takes longer than [`LIMIT`].
///
/// Children are spawned inside `body`, so they die with its thread (their parent-death signal)
/// even if the test hangs and is abandoned.
fn bounded<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the body ended without sending its value"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test still running after {LIMIT:?}"),
    }
}

/// A token unique to this test in this run, for the marker variable.
fn token(test: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("child-{test}-{}-{n}", std::process::id())
}

/// `sh -c script`, marked with `token`, stdin from /dev/null, stdout piped, stderr dropped (the
/// shell reports its jobs' signal deaths there, such as `Terminated`).
fn sh(script: &str, token: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .env(MARKER_VAR, token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

fn options(termseq: &str) -> ChildOptions {
    ChildOptions {
        termseq: termseq.parse().unwrap(),
        ..ChildOptions::default()
    }
}

/// The lines a child writes to its stdout pipe, read on a thread of their own.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Lines {
        let stdout = child.take_stdout().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    fn next(&self) -> String {
        self.0
            .recv_timeout(LIMIT)
            .expect("the child wrote no line in time")
    }

    /// Waits for the line `ready`.
    fn ready(&self) {
        assert_eq!(self.next(), "ready");
    }
}

/// Waits until `condition` holds, for at most `limit`; says whether it did.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that no live process carries `token`, allowing a few seconds for SIGKILLs to land.
fn assert_all_gone(token: &str) {
    let mut left = Vec::new();
    let gone = eventually(Duration::from_secs(10), || {
        left = marked_processes(token);
        left.is_empty()
    });
    assert!(gone, "still running: {left:?}");
}

/// The state letter of `pid` in /proc (R, S, T, Z, …).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn quiet_stop() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop.set_grace(Duration::MAX);
    stop
}

/// The mode of this process, when it runs as a helper program.
fn mode() -> Option<String> {
    std::env::var(CHILD_VAR).ok()
}

/// Starts this test binary, running only `test`, in a pty session, as helper program `mode`.
fn helper(test: &str, mode: &str) -> Session {
    let exe = std::env::current_exe().unwrap();
    let command = brake_testkit::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, mode);
    Session::spawn(command).unwrap()
}

const ENDED_BY_KILL_OF_DEFAULT: EndedBy = EndedBy {
    step: 4,
    signal: libc::SIGKILL,
};

// ---------------------------------------------------------------------------------------------
// The termination sequence's syntax

#[test]
fn termseq_default_is_int_term_kill() {
    let seq = TermSeq::default();
    assert_eq!(seq.to_string(), "INT,2000,TERM,1000,KILL");
    assert_eq!(
        seq.steps(),
        [
            TermStep::Signal(libc::SIGINT),
            TermStep::Wait(Duration::from_millis(2000)),
            TermStep::Signal(libc::SIGTERM),
            TermStep::Wait(Duration::from_millis(1000)),
            TermStep::Signal(libc::SIGKILL),
        ]
    );
    assert_eq!(seq.total_wait(), Duration::from_millis(3000));
    assert_eq!(ChildOptions::default().termseq, seq);
}

#[test]
fn termseq_display_round_trips() {
    for text in [
        "INT,2000,TERM,1000,KILL",
        "TERM,200,TERM,100,TERM,50,KILL,25",
        "HUP,KILL",
        "USR1,0,TERM,CONT,10,KILL",
        "40,10,KILL",
    ] {
        let seq: TermSeq = text.parse().unwrap();
        assert_eq!(seq.to_string(), text);
        assert_eq!(seq.to_string().parse::<TermSeq>().unwrap(), seq);
    }
}

#[test]
fn termseq_accepts_any_spelling_and_numbers() {
    let parse = |text: &str| text.parse::<TermSeq>().unwrap().to_string();
    assert_eq!(
        parse("sigint,500,Term,100,SIGKILL"),
        "INT,500,TERM,100,KILL"
    );
    assert_eq!(parse(" INT , 5 , KILL "), "INT,5,KILL");
    assert_eq!(parse("2,100,15,100,9"), "INT,100,TERM,100,KILL");
}

#[test]
fn termseq_without_a_final_kill_gets_one() {
    let parse = |text: &str| text.parse::<TermSeq>().unwrap().to_string();
    assert_eq!(parse("INT"), "INT,KILL");
    assert_eq!(parse("INT,2000"), "INT,2000,KILL");
    assert_eq!(parse("TERM,100,TERM"), "TERM,100,TERM,KILL");
    assert_eq!(parse("KILL,100,TERM"), "KILL,100,TERM,KILL");
    assert_eq!(parse("TERM,100,KILL,25"), "TERM,100,KILL,25");
}

#[test]
fn termseq_errors_name_the_bad_part() {
    let error = |text: &str| text.parse::<TermSeq>().unwrap_err().to_string();
    let expected = "(expected e.g. INT,2000,TERM,1000,KILL)";
    let cases = [
        (
            "INT,abc",
            r#"invalid --termseq "INT,abc": "abc" is not a signal name or a number of milliseconds"#,
        ),
        ("", r#"invalid --termseq "": it is empty"#),
        (
            "INT,,KILL",
            r#"invalid --termseq "INT,,KILL": item 2 is empty"#,
        ),
        (
            "INT,100,SIGFOO",
            r#"invalid --termseq "INT,100,SIGFOO": "SIGFOO" is not a signal name or a number of milliseconds"#,
        ),
        (
            "INT,-5,KILL",
            r#"invalid --termseq "INT,-5,KILL": "-5" is negative; waits are milliseconds, 0 or more"#,
        ),
        (
            "INT,99999999999999999999,KILL",
            r#"invalid --termseq "INT,99999999999999999999,KILL": "99999999999999999999" milliseconds is too large"#,
        ),
        (
            "INT,100,200,KILL",
            r#"invalid --termseq "INT,100,200,KILL": "200" follows the wait "100": two waits in a row"#,
        ),
        (
            "2000,INT",
            r#"invalid --termseq "2000,INT": it starts with the wait "2000"; the first item must be a signal"#,
        ),
    ];
    for (text, message) in cases {
        let got = error(text);
        assert_eq!(got, format!("{message} {expected}"), "for {text:?}");
        assert!(!got.contains('\n'), "one line: {got}");
    }
}

// ---------------------------------------------------------------------------------------------
// One child and its sequence

#[test]
fn a_child_that_traps_int_exits_at_the_first_step() {
    bounded(|| {
        let token = token("trap");
        let script = r#"trap "exit 7" INT; echo ready; while :; do sleep 0.05; done"#;
        let mut child = Child::spawn(&mut sh(script, &token), &ChildOptions::default()).unwrap();
        Lines::of(&mut child).ready();
        let exit = child.terminate(None).unwrap();
        assert_eq!(exit.code(), Some(7), "{exit}");
        assert_eq!(
            exit.ended_by,
            Some(EndedBy {
                step: 0,
                signal: libc::SIGINT
            })
        );
        assert_eq!(
            exit.to_string(),
            "exit 7 (after SIGINT sent by brake, step 1 of the sequence)"
        );
        assert_all_gone(&token);
    });
}

#[test]
fn a_child_that_ignores_int_and_term_is_killed_at_the_last_step() {
    bounded(|| {
        let token = token("ignore");
        let script = r#"trap "" INT TERM; echo ready; while :; do sleep 0.05; done"#;
        let seq = "INT,200,TERM,200,KILL";
        let mut child = Child::spawn(&mut sh(script, &token), &options(seq)).unwrap();
        Lines::of(&mut child).ready();
        let exit = child.terminate(None).unwrap();
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit}");
        assert_eq!(exit.ended_by, Some(ENDED_BY_KILL_OF_DEFAULT));
        assert_eq!(
            exit.to_string(),
            "killed by SIGKILL (sent by brake, step 5 of the sequence)"
        );
        assert_all_gone(&token);
    });
}

#[test]
fn a_termination_driven_from_a_callers_loop_escalates_and_finishes() {
    bounded(|| {
        let token = token("driven");
        let script = r#"trap "" INT; echo ready; while :; do sleep 0.05; done"#;
        let mut child = Child::spawn(&mut sh(script, &token), &options("INT,200,KILL")).unwrap();
        Lines::of(&mut child).ready();
        let started = Instant::now();
        let mut termination = Termination::new();
        let mut rounds = 0;
        let exit = loop {
            if let Some(exit) = termination
                .advance(&mut child, false, Instant::now())
                .unwrap()
            {
                break exit;
            }
            rounds += 1;
            thread::sleep(Duration::from_millis(10));
        };
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "INT was ignored"
        );
        assert!(rounds > 1, "the caller's loop came back between steps");
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit}");
        assert_eq!(
            exit.ended_by,
            Some(EndedBy {
                step: 2,
                signal: libc::SIGKILL
            })
        );
        assert_all_gone(&token);
    });
}

#[test]
fn a_termination_forced_jumps_to_kill() {
    bounded(|| {
        let token = token("forced");
        let script = r#"trap "" INT TERM; echo ready; while :; do sleep 0.05; done"#;
        let mut child = Child::spawn(&mut sh(script, &token), &options("INT,60000,KILL")).unwrap();
        Lines::of(&mut child).ready();
        let mut termination = Termination::new();
        assert!(termination
            .advance(&mut child, false, Instant::now())
            .unwrap()
            .is_none());
        let exit = loop {
            if let Some(exit) = termination
                .advance(&mut child, true, Instant::now())
                .unwrap()
            {
                break exit;
            }
            thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit}");
        assert_all_gone(&token);
    });
}

#[test]
fn end_marked_ends_marked_processes_anywhere_in_the_tree() {
    bounded(|| {
        let token = token("end-marked");
        // A grandchild in a session of its own: not this process's child.
        let mut command = sh("setsid sleep 300 & echo ready; wait", &token);
        command.env("BRAKE_TEST_RUN", &token);
        let mut child = Child::spawn(&mut command, &options("KILL")).unwrap();
        Lines::of(&mut child).ready();
        // `setsid` execs `sleep` only after it has started: wait for the sleep itself.
        assert!(eventually(LIMIT, || marked_processes(&token)
            .iter()
            .any(|p| p.cmdline == "sleep 300")));
        let ended = end_marked("BRAKE_TEST_RUN", &token, &[]);
        assert!(ended.iter().any(|p| p.cmdline == "sleep 300"), "{ended:?}");
        assert_all_gone(&token);
        let _ = child.terminate(None);
    });
}

/// While a process execs, `/proc/PID/environ` can read short (a read in pieces that straddles
/// the exec) or empty (the new environment not laid out yet), as if the marker were not there:
/// a sweep that catches it then must look again, not pass it by. A shell that execs itself
/// without end is caught there so often that a sweep missing either case failed this test
/// within a few of its 60 rounds, every time.
#[test]
fn a_sweep_finds_a_marked_child_caught_in_the_middle_of_an_exec() {
    bounded(|| {
        // `$0` is the script itself: each shell replaces itself with the next.
        let script = r#"exec /bin/sh -c "$0" "$0""#;
        for round in 0..60 {
            let token = token("mid-exec");
            // The sweep reaps it; on failure, the kill below.
            #[allow(clippy::zombie_processes)]
            let mut looping = Command::new("/bin/sh")
                .args(["-c", script, script])
                .env(MARKER_VAR, &token)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            thread::sleep(Duration::from_millis(3));
            let swept: Vec<u32> = sweep_escaped(MARKER_VAR, &token, &[])
                .into_iter()
                .map(|s| s.pid)
                .collect();
            if swept != [looping.id()] {
                let _ = looping.kill();
                let _ = looping.wait();
                panic!(
                    "round {round}: swept {swept:?}, not the child {}",
                    looping.id()
                );
            }
        }
    });
}

#[test]
fn a_stopped_child_is_continued_so_it_sees_term() {
    bounded(|| {
        let token = token("stopped");
        // INT is ignored and TERM caught: only a continued shell can run its TERM trap. Without
        // SIGCONT it would stay stopped until the final KILL.
        let script = r#"trap "exit 5" TERM; trap "" INT; echo ready; kill -STOP $$; while :; do sleep 0.05; done"#;
        let mut child =
            Child::spawn(&mut sh(script, &token), &options("INT,100,TERM,5000,KILL")).unwrap();
        Lines::of(&mut child).ready();
        let pid = child.id();
        assert!(
            eventually(LIMIT, || state_of(pid) == Some('T')),
            "the child never stopped itself"
        );
        let exit = child.terminate(None).unwrap();
        assert_eq!(exit.code(), Some(5), "{exit}");
        assert_eq!(
            exit.ended_by,
            Some(EndedBy {
                step: 2,
                signal: libc::SIGTERM
            })
        );
        assert_all_gone(&token);
    });
}

#[test]
fn the_leaders_group_dies_with_it() {
    bounded(|| {
        let token = token("group");
        // A background job of a non-interactive shell ignores SIGINT: it outlives the shell's
        // own death by INT, and only the group KILL that follows can end it.
        let script = r#"sleep 30 & echo ready; wait"#;
        let mut child = Child::spawn(&mut sh(script, &token), &ChildOptions::default()).unwrap();
        Lines::of(&mut child).ready();
        assert!(
            eventually(LIMIT, || marked_processes(&token)
                .iter()
                .any(|p| p.cmdline == "sleep 30")),
            "the grandchild never started"
        );
        let exit = child.terminate(None).unwrap();
        assert_eq!(exit.signal(), Some(libc::SIGINT), "{exit}");
        assert_all_gone(&token);
    });
}

#[test]
fn without_its_own_group_the_child_alone_is_signalled() {
    bounded(|| {
        let token = token("nogroup");
        let script = r#"trap "exit 7" INT; echo ready; while :; do sleep 0.05; done"#;
        let options = ChildOptions {
            own_group: false,
            ..ChildOptions::default()
        };
        let mut child = Child::spawn(&mut sh(script, &token), &options).unwrap();
        Lines::of(&mut child).ready();
        let exit = child.terminate(None).unwrap();
        assert_eq!(exit.code(), Some(7), "{exit}");
        assert_all_gone(&token);
    });
}

#[test]
fn signal_after_reaping_does_nothing() {
    bounded(|| {
        let token = token("reaped");
        let mut child = Child::spawn(&mut sh("exit 3", &token), &ChildOptions::default()).unwrap();
        let exit = child
            .wait_timeout(LIMIT)
            .unwrap()
            .expect("exit 3 ends at once");
        assert_eq!(exit.code(), Some(3));
        assert_eq!(exit.ended_by, None);
        assert_eq!(exit.to_string(), "exit 3");
        child.signal(libc::SIGKILL).unwrap();
        child.signal(libc::SIGTERM).unwrap();
        assert_eq!(child.try_wait().unwrap(), Some(exit));
        assert_eq!(child.terminate(None).unwrap(), exit);
        assert!(child.signal(0).is_err(), "0 is not a signal");
    });
}

#[test]
fn wait_timeout_returns_none_while_the_child_runs() {
    bounded(|| {
        let token = token("running");
        let mut child =
            Child::spawn(&mut sh("sleep 30", &token), &ChildOptions::default()).unwrap();
        assert_eq!(child.wait_timeout(Duration::from_millis(50)).unwrap(), None);
        assert_eq!(child.try_wait().unwrap(), None);
        drop(child);
        assert_all_gone(&token);
    });
}

#[test]
fn dropping_a_child_kills_its_group() {
    bounded(|| {
        let token = token("drop");
        let mut child = Child::spawn(
            &mut sh("sleep 30 & echo ready; wait", &token),
            &ChildOptions::default(),
        )
        .unwrap();
        Lines::of(&mut child).ready();
        assert!(eventually(LIMIT, || marked_processes(&token).len() == 2));
        drop(child);
        assert_all_gone(&token);
    });
}

// ---------------------------------------------------------------------------------------------
// Supervision under a stop

#[test]
fn supervise_returns_a_natural_exit() {
    bounded(|| {
        let token = token("natural");
        let stop = quiet_stop();
        let mut child = Child::spawn(&mut sh("exit 4", &token), &ChildOptions::default()).unwrap();
        let exit = child.supervise(&stop).unwrap();
        assert_eq!(exit.code(), Some(4));
        assert_eq!(exit.ended_by, None);
    });
}

#[test]
fn supervise_runs_the_sequence_when_stopping() {
    bounded(|| {
        let token = token("stopping");
        let stop = quiet_stop();
        let script = r#"trap "exit 7" INT; echo ready; while :; do sleep 0.05; done"#;
        let mut child = Child::spawn(&mut sh(script, &token), &ChildOptions::default()).unwrap();
        Lines::of(&mut child).ready();
        let requester = {
            let stop = stop.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                stop.request(Reason::Requested);
            })
        };
        let exit = child.supervise(&stop).unwrap();
        requester.join().unwrap();
        assert_eq!(exit.code(), Some(7), "{exit}");
        assert_eq!(exit.ended_by.map(|by| by.signal), Some(libc::SIGINT));
    });
}

#[test]
fn forcing_jumps_to_kill() {
    bounded(|| {
        let token = token("forcing");
        let stop = quiet_stop();
        // Ignores INT; TERM (step 3, after 2 s) would end it, so ended_by KILL proves the jump.
        let script = r#"trap "" INT; echo ready; while :; do sleep 0.05; done"#;
        let mut child = Child::spawn(&mut sh(script, &token), &ChildOptions::default()).unwrap();
        Lines::of(&mut child).ready();
        let stopper = {
            let stop = stop.clone();
            thread::spawn(move || {
                stop.request(Reason::Requested);
                thread::sleep(Duration::from_millis(200));
                stop.force();
            })
        };
        let exit = child.supervise(&stop).unwrap();
        stopper.join().unwrap();
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit}");
        assert_eq!(exit.ended_by, Some(ENDED_BY_KILL_OF_DEFAULT));
        assert_all_gone(&token);
    });
}

#[test]
fn supervise_when_already_forcing_kills_at_once() {
    bounded(|| {
        let token = token("forced");
        let stop = quiet_stop();
        stop.force();
        let mut child =
            Child::spawn(&mut sh("sleep 30", &token), &ChildOptions::default()).unwrap();
        let exit = child.supervise(&stop).unwrap();
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit}");
        assert_eq!(exit.ended_by, Some(ENDED_BY_KILL_OF_DEFAULT));
    });
}

#[test]
fn terminate_all_shares_the_waits() {
    bounded(|| {
        let token = token("all");
        let script = r#"trap "" INT; echo ready; while :; do sleep 0.05; done"#;
        let mut children: Vec<Child> = (0..8)
            .map(|_| Child::spawn(&mut sh(script, &token), &options("INT,300,KILL")).unwrap())
            .collect();
        for child in &mut children {
            Lines::of(child).ready();
        }
        let started = Instant::now();
        let exits: Vec<Exit> = {
            let mut refs: Vec<&mut Child> = children.iter_mut().collect();
            terminate_all(&mut refs, None)
                .into_iter()
                .map(Result::unwrap)
                .collect()
        };
        let elapsed = started.elapsed();
        for exit in &exits {
            assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit}");
            assert_eq!(
                exit.ended_by,
                Some(EndedBy {
                    step: 2,
                    signal: libc::SIGKILL
                })
            );
        }
        // One 300 ms wait shared by all, not eight in a row (generous for a slow machine).
        assert!(elapsed < Duration::from_millis(5 * 300), "took {elapsed:?}");
        assert_all_gone(&token);
    });
}

#[test]
fn terminate_all_finishes_each_child_as_it_ends() {
    bounded(|| {
        let token = token("mixed");
        let polite = r#"trap "exit 7" INT; echo ready; while :; do sleep 0.05; done"#;
        let stubborn = r#"trap "" INT; echo ready; while :; do sleep 0.05; done"#;
        let mut a = Child::spawn(&mut sh(polite, &token), &options("INT,300,KILL")).unwrap();
        let mut b = Child::spawn(&mut sh(stubborn, &token), &options("INT,300,KILL")).unwrap();
        let mut c = Child::spawn(&mut sh("exit 2", &token), &options("INT,300,KILL")).unwrap();
        Lines::of(&mut a).ready();
        Lines::of(&mut b).ready();
        let exits = terminate_all(&mut [&mut a, &mut b, &mut c], None);
        let exits: Vec<Exit> = exits.into_iter().map(Result::unwrap).collect();
        assert_eq!(exits[0].code(), Some(7));
        assert_eq!(exits[1].signal(), Some(libc::SIGKILL));
        // c may have ended before the first step or been hit by it; either way it is reaped.
        assert!(exits[2].code() == Some(2) || exits[2].signal().is_some());
        assert_all_gone(&token);
    });
}

// ---------------------------------------------------------------------------------------------
// Process-wide matters, each in a copy of this test binary

#[test]
fn escaped_descendants_are_swept_by_the_subreaper() {
    if mode().is_some() {
        become_subreaper().unwrap();
        let token = std::env::var(MARKER_VAR).unwrap();
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", "setsid sleep 30 & wait"])
            .stdin(Stdio::null());
        let mut child = Child::spawn(&mut command, &options("INT,100,KILL")).unwrap();
        let escaped = eventually(LIMIT, || {
            marked_processes(&token)
                .iter()
                .any(|p| p.cmdline == "sleep 30" && session_of(p.pid) == p.pid)
        });
        println!("escaped: {escaped}");
        let exit = child.terminate(None).unwrap();
        println!("leader: {exit}");
        let left: Vec<String> = marked_processes(&token)
            .into_iter()
            .map(|p| p.cmdline)
            .collect();
        println!("after group kill: {}", left.join(", "));
        let swept = sweep_escaped(MARKER_VAR, &token, &[]);
        let swept: Vec<String> = swept.into_iter().map(|s| s.cmdline).collect();
        println!("swept: {}", swept.join(", "));
        println!("after sweep: {} marked", marked_processes(&token).len());
        std::process::exit(0);
    }
    let session = helper("escaped_descendants_are_swept_by_the_subreaper", "escaped");
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(0), "{output}");
    assert!(output.contains("escaped: true"), "{output}");
    assert!(output.contains("after group kill: sleep 30\n"), "{output}");
    assert!(output.contains("swept: sleep 30\n"), "{output}");
    assert!(output.contains("after sweep: 0 marked"), "{output}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
}

/// The session id of `pid` (field 6 of /proc/PID/stat).
fn session_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(end) = stat.rfind(')') else { return 0 };
    stat[end + 1..]
        .split_whitespace()
        .nth(3)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_child_dies_with_its_killed_parent() {
    if mode().is_some() {
        let mut command = Command::new("sleep");
        command.arg("30").stdin(Stdio::null());
        let child = Child::spawn(&mut command, &ChildOptions::default()).unwrap();
        println!("sleep is {}", child.id());
        println!("ready");
        thread::sleep(LIMIT);
        std::process::exit(1);
    }
    let mut session = helper("a_child_dies_with_its_killed_parent", "parent");
    session.wait_for("ready", 1, LIMIT).unwrap();
    let token = session.marker().to_owned();
    assert!(
        eventually(LIMIT, || marked_processes(&token)
            .iter()
            .any(|p| p.cmdline == "sleep 30")),
        "the sleep never started"
    );
    session.send_signal(libc::SIGKILL).unwrap();
    assert_all_gone(&token);
    let finished = session.wait_exit(LIMIT).unwrap();
    assert_eq!(finished.status, Status::Signaled(libc::SIGKILL));
}

#[test]
fn reset_signals_undoes_an_inherited_ignore() {
    if mode().is_some() {
        // SAFETY: setting SIGINT's disposition to SIG_IGN in this helper process, before it
        // starts any thread of its own: what a non-interactive shell does for `cmd &`.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        for reset in [true, false] {
            let token = std::env::var(MARKER_VAR).unwrap();
            let options = ChildOptions {
                reset_signals: reset,
                ..options("INT,100,KILL")
            };
            // `echo ready` proves the child is past its pre-exec setup before INT is sent.
            let mut child =
                Child::spawn(&mut sh("echo ready; exec sleep 30", &token), &options).unwrap();
            Lines::of(&mut child).ready();
            child.signal(libc::SIGINT).unwrap();
            let limit = if reset {
                LIMIT
            } else {
                Duration::from_millis(300)
            };
            match child.wait_timeout(limit).unwrap() {
                Some(exit) => println!("reset {reset}: {exit}"),
                None => {
                    println!("reset {reset}: still running");
                    child.terminate(None).unwrap();
                }
            }
        }
        std::process::exit(0);
    }
    let session = helper("reset_signals_undoes_an_inherited_ignore", "ignoring");
    let finished = session.wait_exit(LIMIT).unwrap();
    let output = &finished.output;
    assert_eq!(finished.status, Status::Exited(0), "{output}");
    assert!(
        output.contains("reset true: killed by SIGINT\n"),
        "{output}"
    );
    assert!(output.contains("reset false: still running\n"), "{output}");
    assert!(finished.survivors.is_empty(), "{:?}", finished.survivors);
}
