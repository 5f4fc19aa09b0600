//! Hostile input and misuse against the library: a program that inherits the process pool's
//! worker marker without being started by a pool, and random `--termseq` texts.
//!
//! A marker inherited by accident (exported by a user, passed on by a tool) must not turn a
//! program into a worker: it runs as the normal program, promptly, leaves its stdin and its
//! fds 3 and 4 alone, and exits as it would have. Each case runs the `process_pool` example,
//! whose normal run starts a real pool of its own, so the real handshake is checked as well.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brake::{TermSeq, TermStep};
use brake_testkit::torture::{fuzz_cases, trials, Tally};
use brake_testkit::{example_path, marked_processes, MARKER_VAR};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The marker variable (`brake::process::WORKER_VAR`).
const WORKER_VAR: &str = brake::process::WORKER_VAR;

/// The normal run takes well under a second; a case that has not ended by then hangs.
const LIMIT: Duration = Duration::from_secs(15);

/// What the program finds on fds 3 and 4.
#[derive(Debug, Clone, Copy)]
enum Fds {
    /// Nothing: both closed.
    Closed,
    /// `/dev/null` on both.
    DevNull,
    /// Pipes whose other ends stay open and silent.
    Silent,
    /// Pipes carrying these bytes, other ends kept open.
    Sends(&'static str),
    /// A length prefix that promises more than ever comes.
    Partial,
    /// A well-formed hello frame with another token.
    ForgedHello { then_close: bool },
    /// A hello frame far longer than any token.
    HugeHello,
    /// The pipes the wrong way round: fd 3 a write end, fd 4 a read end.
    Swapped,
}

const FDS: &[Fds] = &[
    Fds::Closed,
    Fds::DevNull,
    Fds::Silent,
    Fds::Sends("garbage\n"),
    // A make jobserver: one-byte tokens on fds 3 and 4.
    Fds::Sends("++++++++"),
    Fds::Sends("\u{5}\0\0\0\0\u{7}abc"),
    Fds::Partial,
    Fds::ForgedHello { then_close: false },
    Fds::ForgedHello { then_close: true },
    Fds::HugeHello,
    Fds::Swapped,
];

/// A postcard-encoded `Request::Hello { token }` frame, built by hand as a forger would.
fn hello_frame(token: &str) -> Vec<u8> {
    let mut body = vec![0u8]; // the enum's first variant
    let mut len = token.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            body.push(byte);
            break;
        }
        body.push(byte | 0x80);
    }
    body.extend_from_slice(token.as_bytes());
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend(body);
    frame
}

/// The test's ends of the pipes a case sets up, kept open until the program has ended.
struct Ends {
    /// The descriptors the program gets on fds 3 and 4 (-1: closed there).
    child: [RawFd; 2],
    /// Everything to keep open meanwhile, the program's ends included until it has started.
    keep: Vec<OwnedFd>,
    /// Our end of the pipe on the program's fd 4, to see what it wrote there.
    reply_read: Option<File>,
    /// The inode of the pipe on the program's fd 3, to find it there while it runs.
    request_inode: Option<u64>,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let (read, write) = std::io::pipe().expect("a pipe");
    (read.into(), write.into())
}

fn set_up(fds: Fds, token: &str) -> Ends {
    match fds {
        Fds::Closed => Ends {
            child: [-1, -1],
            keep: Vec::new(),
            reply_read: None,
            request_inode: None,
        },
        Fds::DevNull => {
            let null: OwnedFd = File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .unwrap()
                .into();
            Ends {
                child: [null.as_raw_fd(), null.as_raw_fd()],
                keep: vec![null],
                reply_read: None,
                request_inode: None,
            }
        }
        Fds::Swapped => {
            let (a_read, a_write) = pipe();
            let (b_read, b_write) = pipe();
            Ends {
                child: [a_write.as_raw_fd(), b_read.as_raw_fd()],
                keep: vec![a_read, a_write, b_read, b_write],
                reply_read: None,
                request_inode: None,
            }
        }
        _ => {
            let (request_read, request_write) = pipe();
            let (reply_read, reply_write) = pipe();
            let payload = match fds {
                Fds::Sends(bytes) => bytes.as_bytes().to_vec(),
                Fds::Partial => {
                    let mut bytes = 10u32.to_le_bytes().to_vec();
                    bytes.extend_from_slice(&[0, 3, b'a']);
                    bytes
                }
                Fds::ForgedHello { .. } => hello_frame(&format!("{token}-forged")),
                Fds::HugeHello => hello_frame(&"x".repeat(60_000)),
                _ => Vec::new(),
            };
            let mut writer = File::from(request_write);
            // The pipe holds 64 KiB: every payload fits without a reader.
            writer.write_all(&payload).unwrap();
            let inode = File::from(request_read.try_clone().unwrap())
                .metadata()
                .unwrap()
                .ino();
            let mut keep = vec![request_read, reply_write];
            let reply_read = File::from(reply_read);
            let child = [keep[0].as_raw_fd(), keep[1].as_raw_fd()];
            if !matches!(fds, Fds::ForgedHello { then_close: true }) {
                keep.push(writer.into());
            }
            Ends {
                child,
                keep,
                reply_read: Some(reply_read),
                request_inode: Some(inode),
            }
        }
    }
}

/// Runs `process_pool` as a normal program with `WORKER_VAR=marker` and fds 3 and 4 set up as
/// `fds`; returns what went wrong, if anything.
fn run_case(marker: &str, fds: Fds, tally: &mut Tally) -> Option<String> {
    let token = format!(
        "hostile-worker-marker-{}-{}",
        std::process::id(),
        tally.trials
    );
    let mut ends = set_up(fds, marker);
    let stdin_text = "stdin is the program's own\n".repeat(100);
    let (stdin_read, stdin_write) = pipe();
    File::from(stdin_write)
        .write_all(stdin_text.as_bytes())
        .unwrap();
    let stdin_left = File::from(stdin_read.try_clone().unwrap());

    let mut command = Command::new(example_path("process_pool"));
    command
        .args(["--workers", "2", "--tasks", "2", "--task", "sleep"])
        .args(["--seconds", "0.3"])
        .env(WORKER_VAR, marker)
        .env(MARKER_VAR, &token)
        .stdin(Stdio::from(stdin_read))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child_fds = ends.child;
    // SAFETY: the hook runs in the forked child before exec and calls only `fcntl`, `dup2` and
    // `close`, which are async-signal-safe, on stack values; it allocates nothing. The
    // descriptors it copies stay open in this process (held by `ends`) until the spawn.
    unsafe {
        command.pre_exec(move || place(child_fds));
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("start the process_pool example");
    // The program's ends are the program's alone now: with ours closed, its end of a stream
    // is seen. The other ends, which a case keeps open on purpose, stay until it has ended.
    ends.keep.retain(|fd| !child_fds.contains(&fd.as_raw_fd()));

    // Lines come through a thread, so that a program that hangs is seen at the limit instead
    // of blocking this test on its stdout.
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut output = String::new();
    let mut fd_problem = None;
    let mut checked = false;
    let status = loop {
        match seen.recv_timeout(Duration::from_millis(10)) {
            Ok(line) => {
                // Its own pool's tasks have started: fd 3 must still be the pipe it was
                // given, not closed, and not reused for a pipe of the program's own pool.
                if line.contains("worker started") && !checked {
                    checked = true;
                    fd_problem = ends.request_inode.and_then(|inode| {
                        let link = std::fs::read_link(format!("/proc/{}/fd/3", child.id()));
                        let wanted = format!("pipe:[{inode}]");
                        match link {
                            Ok(link) if link.to_string_lossy() == wanted => None,
                            other => Some(format!(
                                "fd 3 of the running program is {other:?}, not its pipe {wanted}"
                            )),
                        }
                    });
                }
                output.push_str(&line);
                output.push('\n');
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            // The rest of its output, now that it has ended.
            while let Ok(line) = seen.recv_timeout(Duration::from_millis(200)) {
                output.push_str(&line);
                output.push('\n');
            }
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    if status.is_some() {
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    }
    drop(ends.keep);

    if stderr.contains("panicked") {
        tally.panics += 1;
    }
    let left = marked_processes(&token);
    tally.left_behind += left.len();

    let Some(status) = status else {
        return Some(format!(
            "no end within {LIMIT:?}: it hangs; output {output:?}"
        ));
    };
    if !status.success() {
        return Some(format!("{status}; stdout {output:?}; stderr {stderr:?}"));
    }
    let starts = output.matches("worker started").count();
    if starts != 2 || output.lines().last() != Some("main exit") {
        return Some(format!(
            "not the normal run (2 tasks started, `main exit` last): {output:?}"
        ));
    }
    if let Some(problem) = fd_problem {
        return Some(problem);
    }
    if let Some(mut reply_read) = ends.reply_read {
        let mut written = Vec::new();
        let _ = reply_read.read_to_end(&mut written);
        if !written.is_empty() {
            return Some(format!("it wrote {written:?} to fd 4"));
        }
    }
    let mut left_in_stdin = String::new();
    let _ = { stdin_left }.read_to_string(&mut left_in_stdin);
    if left_in_stdin != stdin_text {
        return Some(format!(
            "it read its stdin: {} of {} bytes left",
            left_in_stdin.len(),
            stdin_text.len()
        ));
    }
    if !left.is_empty() {
        return Some(format!("left running: {left:?}"));
    }
    // A normal run: half a second of sleeping tasks and a pool to start and join. A program
    // that waited for a hello that never comes would take much longer.
    if elapsed > Duration::from_secs(8) {
        return Some(format!("took {elapsed:?}"));
    }
    None
}

/// In the child before exec: puts `fds` on 3 and 4 (-1: closed there). Both are moved out of
/// the way first, so that placing one cannot close the other.
fn place(fds: [RawFd; 2]) -> std::io::Result<()> {
    let mut high = [-1; 2];
    for (slot, fd) in high.iter_mut().zip(fds) {
        if fd >= 0 {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor open in this process; async-signal-safe.
            *slot = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
            if *slot < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    for (fd, target) in high.into_iter().zip([3, 4]) {
        // SAFETY: `dup2` and `close` on descriptors of this process; both async-signal-safe.
        // The copy made by `dup2` has close-on-exec clear, so it reaches the program.
        let rc = unsafe {
            if fd < 0 {
                libc::close(target);
                0
            } else {
                libc::dup2(fd, target)
            }
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A program that inherits the worker marker is never a worker by accident: garbage or a
/// plausible token in the variable, with fds 3 and 4 closed, `/dev/null`, silent pipes, pipes
/// sending garbage, a torn frame, a forged hello with a wrong token, or a hello too long to be
/// one. Each time it runs as the normal program and exits 0.
#[test]
fn torture_hostile_worker_marker() {
    let plausible = format!(
        "{}-0x55d0c0ffee10-1-Instant {{ tv_sec: 1, tv_nsec: 2 }}",
        std::process::id()
    );
    let markers = ["garbage \u{1b}[31m;$(id)", plausible.as_str()];
    let mut tally = Tally::new("hostile-worker-marker");
    let mut failures = Vec::new();
    for _ in 0..trials(1) {
        for marker in markers {
            for &fds in FDS {
                tally.trials += 1;
                tally.bad_inputs += 1;
                if let Some(what) = run_case(marker, fds, &mut tally) {
                    failures.push(format!("{WORKER_VAR}={marker:?}, fds 3/4 {fds:?}: {what}"));
                }
            }
        }
    }
    tally.finish_with(&failures);
}

/// One comma-separated item of a `--termseq` text, valid or not.
fn termseq_item() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "INT", "TERM", "KILL", "HUP", "QUIT", "USR1", "CONT", "STOP", "IOT", "CLD", "POLL", "IO",
        "PWR", "STKFLT", "SIG", "SIGSIG", "KIL", "RTMIN",
    ]);
    prop_oneof![
        (names, any::<bool>(), any::<bool>()).prop_map(|(name, sig, lower)| {
            let text = if sig {
                format!("SIG{name}")
            } else {
                name.to_owned()
            };
            if lower {
                text.to_lowercase()
            } else {
                text
            }
        }),
        (0u64..70).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        (0u64..100).prop_map(|n| format!("+{n}")),
        (0u64..100).prop_map(|n| format!("-{n}")),
        (0u64..100).prop_map(|n| format!("00{n}")),
        Just(String::new()),
        Just(" ".to_owned()),
        (" {0,2}", "[A-Z0-9]{1,4}", "[ \t]{0,2}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        ".{0,6}",
    ]
}

/// A text of valid items in a valid order, and the steps it must parse to.
fn valid_termseq() -> impl Strategy<Value = (String, Vec<TermStep>)> {
    let named = prop::sample::select(vec![
        ("INT", libc::SIGINT),
        ("sigterm", libc::SIGTERM),
        ("Kill", libc::SIGKILL),
        ("HUP", libc::SIGHUP),
        ("CONT", libc::SIGCONT),
        ("SIGUSR2", libc::SIGUSR2),
        ("cld", libc::SIGCHLD),
    ]);
    let item = (
        named,
        1i32..=64,
        any::<bool>(),
        prop::option::of(0u64..100_000),
    );
    prop::collection::vec(item, 1..6).prop_map(|items| {
        let mut text = Vec::new();
        let mut steps = Vec::new();
        for ((name, number), raw, by_number, wait) in items {
            // A number is a signal only where no wait can stand: first, or after a wait.
            let after_signal = matches!(steps.last(), Some(TermStep::Signal(_)));
            if by_number && !after_signal {
                text.push(raw.to_string());
                steps.push(TermStep::Signal(raw));
            } else {
                text.push(name.to_owned());
                steps.push(TermStep::Signal(number));
            }
            if let Some(ms) = wait {
                text.push(ms.to_string());
                steps.push(TermStep::Wait(Duration::from_millis(ms)));
            }
        }
        let last_signal = steps.iter().rev().find_map(|step| match step {
            TermStep::Signal(signal) => Some(*signal),
            TermStep::Wait(_) => None,
        });
        if last_signal != Some(libc::SIGKILL) {
            steps.push(TermStep::Signal(libc::SIGKILL));
        }
        (text.join(","), steps)
    })
}

/// What every parsed sequence must be: a signal first, never two waits in a row, its last
/// signal `KILL`, and its text parsing back to itself.
fn check_parsed(text: &str, seq: &TermSeq) -> Result<(), TestCaseError> {
    let steps = seq.steps();
    prop_assert!(
        matches!(steps.first(), Some(TermStep::Signal(_))),
        "{text:?}"
    );
    prop_assert!(
        !steps
            .windows(2)
            .any(|w| matches!(w, [TermStep::Wait(_), TermStep::Wait(_)])),
        "{text:?} gave two waits in a row: {steps:?}"
    );
    let last_signal = steps.iter().rev().find_map(|step| match step {
        TermStep::Signal(signal) => Some(*signal),
        TermStep::Wait(_) => None,
    });
    prop_assert_eq!(last_signal, Some(libc::SIGKILL), "{:?}", text);
    let _ = seq.total_wait();
    let shown = seq.to_string();
    prop_assert!(!shown.contains(char::is_whitespace), "{shown:?}");
    let again: TermSeq = shown
        .parse()
        .map_err(|err| TestCaseError::fail(format!("{text:?} shown as {shown:?}: {err}")))?;
    prop_assert_eq!(&again, seq, "{:?} shown as {:?}", text, shown);
    prop_assert_eq!(again.to_string(), shown);
    Ok(())
}

/// `--termseq` from random items, random text and valid sequences: no panic; a refusal is one
/// line that quotes the text; an accepted sequence is well formed and round-trips through its
/// text; a valid sequence parses to exactly its steps.
#[test]
fn torture_fuzz_termseq() {
    let cases = fuzz_cases(1024);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0usize);
    let panics = std::cell::Cell::new(0usize);
    let text = prop_oneof![
        prop::collection::vec(termseq_item(), 0..8).prop_map(|items| items.join(",")),
        "\\PC{0,30}",
        prop::collection::vec(any::<u8>(), 0..30)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ];
    let result = runner.run(&(text, valid_termseq()), |(text, (valid, steps))| {
        ran.set(ran.get() + 1);
        let outcome = std::panic::catch_unwind(|| -> Result<(), TestCaseError> {
            match text.parse::<TermSeq>() {
                Ok(seq) => check_parsed(&text, &seq)?,
                Err(err) => {
                    let message = err.to_string();
                    prop_assert!(!message.contains(['\n', '\r']), "{message:?}");
                    prop_assert!(message.contains("expected e.g."), "{message:?}");
                    prop_assert_eq!(err.text(), text.as_str());
                }
            }
            let seq: TermSeq = valid
                .parse()
                .map_err(|err| TestCaseError::fail(format!("{valid:?} refused: {err}")))?;
            prop_assert_eq!(seq.steps(), &steps[..], "{:?}", valid);
            check_parsed(&valid, &seq)
        });
        outcome.unwrap_or_else(|_| {
            panics.set(panics.get() + 1);
            Err(TestCaseError::fail("panicked"))
        })
    });
    let mut tally = Tally::new("fuzz-termseq");
    tally.trials = ran.get();
    tally.bad_inputs = ran.get();
    tally.panics = panics.get();
    if let Err(err) = result {
        println!("{tally}");
        panic!("fuzz-termseq: {err}");
    }
    tally.finish();
}
