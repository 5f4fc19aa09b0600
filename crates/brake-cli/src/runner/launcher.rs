//! Starting local jobs from two threads of their own. A start holds its thread until the child
//! has exec'd (`CLONE_VFORK`); with the loop's one thread doing every start, a core often sat
//! idle while the next child waited for the other core. The loop hands each start over and goes
//! on reading and reaping; results come back through a channel, each with a byte on the loop's
//! wake-up socket.
//!
//! A start handed over is held back, not made, once the run stops or `close` was called: the
//! job goes back to the queue, as one that never left it. A start already under way when the
//! stop comes ends like any job running at that moment.
//!
//! The threads live as long as the runner: a child's parent-death signal is armed against the
//! thread that started it, so a thread must not end while its jobs may run.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use brake::child::ChildOptions;
use brake::Stop;

use crate::job::{self, Job, Running, Spawn, StartError};
use crate::remote::Target;
use crate::shell::Shell;
use crate::template::Rendered;

/// How many threads start jobs.
const THREADS: usize = 2;

/// A job to start, everything about it decided by the loop.
pub(super) struct Request {
    pub job: Job,
    pub slot: usize,
    pub rendered: Rendered,
    /// Whether `rendered` runs through `nice` (`--nice`).
    pub niced: bool,
    pub timeout: Option<Duration>,
    pub tag: Option<Vec<u8>>,
    /// Its number and slot as the job sees them.
    pub shown: (u64, usize),
}

/// What became of a request.
pub(super) enum Launched {
    Started(Box<Running>),
    /// The start failed; `command` is the job's shell line, for messages and the joblog.
    Failed {
        error: StartError,
        command: OsString,
        slot: usize,
    },
    /// Not started: the run stopped, or starts were closed, first.
    Held {
        job: Job,
        slot: usize,
    },
    /// The thread panicked while starting job `seq`: a bug, reported as such.
    Lost {
        seq: u64,
        slot: usize,
    },
}

/// What every start shares, fixed for the run.
pub(super) struct Context {
    pub child: ChildOptions,
    pub shell: Shell,
    pub run_id: String,
    pub capture: bool,
    pub trace: bool,
    /// The program of a direct command (see `Template::program`).
    pub program: Option<PathBuf>,
    /// `nice`'s path, under `--nice`.
    pub nice: Option<PathBuf>,
}

pub(super) struct Launcher {
    requests: Option<crossbeam_channel::Sender<Request>>,
    results: mpsc::Receiver<Launched>,
    closed: Arc<AtomicBool>,
    /// Requests sent whose result has not been taken.
    in_flight: usize,
    threads: Vec<JoinHandle<()>>,
}

impl Launcher {
    /// Starts the threads; `ring` is the loop's wake-up socket's writing end.
    pub(super) fn new(context: Context, stop: &Stop, ring: &UnixStream) -> std::io::Result<Self> {
        let context = Arc::new(context);
        let closed = Arc::new(AtomicBool::new(false));
        let (requests, taken) = crossbeam_channel::unbounded::<Request>();
        let (done, results) = mpsc::channel();
        let mut threads = Vec::with_capacity(THREADS);
        for _ in 0..THREADS {
            let worker = Worker {
                context: Arc::clone(&context),
                stop: stop.clone(),
                closed: Arc::clone(&closed),
                ring: ring.try_clone()?,
            };
            let taken = taken.clone();
            let done = done.clone();
            let thread = std::thread::Builder::new()
                .name("brake-start".into())
                .spawn(move || worker.serve(&taken, &done))?;
            threads.push(thread);
        }
        Ok(Launcher {
            requests: Some(requests),
            results,
            closed,
            in_flight: 0,
            threads,
        })
    }

    pub(super) fn send(&mut self, request: Request) {
        let requests = self.requests.as_ref().expect("open until dropped");
        // The threads end only when this sender is dropped, so the send cannot fail.
        let _ = requests.send(request);
        self.in_flight += 1;
    }

    /// Whether a start may be under way: a child between clone and exec, holding copies of
    /// every descriptor of this process.
    pub(super) fn busy(&self) -> bool {
        self.in_flight > 0
    }

    /// No request starts from now on; those not begun come back held.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// A result, if one is ready.
    pub(super) fn try_take(&mut self) -> Option<Launched> {
        if self.in_flight == 0 {
            return None;
        }
        let launched = self.results.try_recv().ok()?;
        self.in_flight -= 1;
        Some(launched)
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.close();
        self.requests = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One starting thread's share of the launcher.
struct Worker {
    context: Arc<Context>,
    stop: Stop,
    closed: Arc<AtomicBool>,
    ring: UnixStream,
}

impl Worker {
    fn serve(&self, taken: &crossbeam_channel::Receiver<Request>, done: &mpsc::Sender<Launched>) {
        for request in taken {
            let launched = if self.closed.load(Ordering::Acquire) || self.stop.is_stopping() {
                Launched::Held {
                    job: request.job,
                    slot: request.slot,
                }
            } else {
                let (seq, slot) = (request.job.seq, request.slot);
                std::panic::catch_unwind(AssertUnwindSafe(|| self.start(request)))
                    .unwrap_or(Launched::Lost { seq, slot })
            };
            if done.send(launched).is_err() {
                return;
            }
            // Full only if the loop has many bytes unread, and then it wakes anyway.
            let _ = (&self.ring).write(&[1]);
        }
    }

    fn start(&self, request: Request) -> Launched {
        let context = &*self.context;
        let program = if request.niced {
            context.nice.as_deref()
        } else {
            context.program.as_deref()
        };
        let spawn = Spawn {
            rendered: &request.rendered,
            program,
            capture: context.capture,
            options: &context.child,
            run_id: &context.run_id,
            target: Target::Local,
            shell: &context.shell,
            trace: context.trace,
            shown: request.shown,
        };
        match job::start(
            request.job,
            request.slot,
            &spawn,
            request.timeout,
            request.tag,
        ) {
            Ok(running) => Launched::Started(Box::new(running)),
            Err(error) => Launched::Failed {
                error,
                command: request.rendered.text,
                slot: request.slot,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::time::{Duration, Instant};

    use brake::Reason;

    use super::*;

    fn launcher(stop: &Stop) -> (Launcher, UnixStream) {
        let (socket, ring) = UnixStream::pair().unwrap();
        let context = Context {
            child: ChildOptions::default(),
            shell: Shell::choose(None).unwrap(),
            run_id: "launcher-test".into(),
            capture: true,
            trace: false,
            program: None,
            nice: None,
        };
        (Launcher::new(context, stop, &ring).unwrap(), socket)
    }

    fn request(seq: u64) -> Request {
        Request {
            job: Job {
                seq,
                args: vec![OsString::from(seq.to_string())],
                attempt: 1,
                failed_on: Vec::new(),
                block: None,
            },
            slot: seq as usize,
            rendered: Rendered {
                text: "true".into(),
                direct: Some(vec!["true".into()]),
            },
            niced: false,
            timeout: None,
            tag: None,
            shown: (seq, seq as usize),
        }
    }

    /// The next result, waited for as the loop would: a byte on the socket comes with each.
    fn next(launcher: &mut Launcher, socket: &UnixStream) -> Launched {
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(launched) = launcher.try_take() {
                return launched;
            }
            assert!(Instant::now() < until, "no result within 20 s");
            let mut byte = [0u8];
            let _ = std::io::Read::read(&mut &*socket, &mut byte);
        }
    }

    #[test]
    fn a_start_handed_over_comes_back_started_with_a_byte_on_the_socket() {
        let stop = Stop::new();
        let (mut launcher, socket) = launcher(&stop);
        launcher.send(request(1));
        match next(&mut launcher, &socket) {
            Launched::Started(mut running) => {
                assert_eq!(running.job.seq, 1);
                let exit = running.child.wait_timeout(Duration::from_secs(20)).unwrap();
                assert!(exit.is_some_and(|exit| exit.status.success()));
            }
            _ => panic!("job 1 did not start"),
        }
        assert!(launcher.try_take().is_none());
    }

    #[test]
    fn after_close_or_a_stop_starts_come_back_held() {
        for stopped in [false, true] {
            let stop = Stop::new();
            let (mut launcher, socket) = launcher(&stop);
            if stopped {
                stop.request(Reason::Requested);
            } else {
                launcher.close();
            }
            for seq in 1..=3 {
                launcher.send(request(seq));
            }
            let mut held = Vec::new();
            for _ in 1..=3 {
                match next(&mut launcher, &socket) {
                    Launched::Held { job, slot } => {
                        assert_eq!(slot, job.seq as usize);
                        held.push(job.seq);
                    }
                    _ => panic!(
                        "a start was made after {}",
                        if stopped { "a stop" } else { "close" }
                    ),
                }
            }
            held.sort_unstable();
            assert_eq!(held, [1, 2, 3]);
        }
    }
}
