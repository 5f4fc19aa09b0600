//! The worker side of a process pool: [`init`] turns a start of the program made by a pool
//! into a worker that runs tasks until the pool closes its pipe.
//!
//! A pool starts the current executable again with [`WORKER_VAR`] set to a fresh token and two
//! pipes on file descriptors [`REQUEST_FD`] and [`REPLY_FD`], the pool's hello already waiting
//! in the request pipe. The worker takes the variable out of its environment at once (so
//! nothing it starts inherits it), checks that the descriptors are a pipe's read and write
//! ends, and reads the hello: only a hello carrying the same token makes it a worker. Anything
//! else and `init` returns, and the program runs as if started by hand.
//!
//! A program can inherit the variable without being a worker (exported by a user, passed on
//! by a tool), with whatever happens to sit on fds 3 and 4: a make jobserver's pipes, a pipe
//! nobody writes to. So until the hello has proven the start, `init` only borrows the two
//! descriptors (they stay open, flags unchanged, for the program that owns them), reads at most
//! [`MAX_HELLO`] bytes, and waits at most [`HELLO_WAIT`] for them: since the pool writes its
//! hello before starting the worker, a real hello is never late.
//!
//! A worker has its own [`Stop`] with signal handling, so the pool's termination sequence
//! reaches the task: the first signal (SIGINT by default) makes `stop.is_stopping()` true inside
//! the task, and the second ends the worker at once.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::fd::{BorrowedFd, FromRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::task::{failed, with_message, Erased, Registry};
use super::wire::{
    append_frame, decode, read_frame, write_frame, ItemEnd, Reply, Request, Results, MAX_FRAME,
};
use crate::stop::{exit_code_for_signal, Notice, Phase, Reason, Stop};
use crate::sync::{lock, wait, wait_timeout};

/// The environment variable that marks a start of the program as a pool's worker.
pub const WORKER_VAR: &str = "BRAKE_PROCESS_WORKER";
/// The descriptor a worker reads requests from.
pub(crate) const REQUEST_FD: RawFd = 3;
/// The descriptor a worker writes replies to.
pub(crate) const REPLY_FD: RawFd = 4;
/// The largest hello frame's body read: a token is some tens of bytes, and anything longer is
/// not from a pool.
const MAX_HELLO: u32 = 4096;
/// How long a start with the variable and two pipes waits for the hello before it runs as the
/// normal program. Only a misuse ever waits: a pool's hello is in the pipe before the worker
/// starts.
const HELLO_WAIT: Duration = Duration::from_millis(500);
/// A block of results with this many items goes at once.
const FLUSH_ITEMS: usize = 4096;
/// A block of results with this much data goes at once.
const FLUSH_DATA: usize = 256 << 10;
/// The longest a finished result waits for more to share its frame.
const LINGER: Duration = Duration::from_millis(1);
/// The most data one block of results gathers before the task waits for the writer.
const BLOCK_DATA: usize = 64 << 20;
/// The most items one block of results holds.
const BLOCK_ITEMS: usize = 1 << 20;
/// The largest value or message one item may carry: a block of it alone, with its framing,
/// still fits a frame.
const MAX_VALUE: usize = MAX_FRAME as usize - (1 << 20);

/// Runs `program` with `registry`, after making this start of the program a pool's worker if a
/// pool started it: the entry point that keeps [`init`] first, so that a worker never runs the
/// program's own code (its side effects, its output) before it serves tasks.
///
/// ```no_run
/// use brake::process::{ProcessPool, Registry, Task};
/// use brake::{Report, Stop};
///
/// static SQUARE: Task<u64, u64> = Task::new("square", |_stop, n| Ok(n * n));
///
/// fn main() -> Result<Report, brake::Error> {
///     let mut registry = Registry::new();
///     registry.register(&SQUARE)?;
///     brake::process::main(&registry, |registry| {
///         let stop = Stop::new();
///         stop.install_signals()?;
///         let pool = ProcessPool::new(&stop, registry, 4)?;
///         for (index, outcome) in pool.map_unordered(0..100u64, &SQUARE) {
///             println!("{index}: {:?}", outcome.done());
///         }
///         Ok(pool.join())
///     })
/// }
/// ```
pub fn main<T>(registry: &Registry, program: impl FnOnce(&Registry) -> T) -> T {
    init(registry);
    program(registry)
}

/// Call first thing in `main` (before any thread starts), or use [`main`] which does. In a start of the program made by a
/// [`ProcessPool`](crate::process::ProcessPool), runs tasks from `registry` until the pool is
/// done and then exits the process; in any other start, returns at once.
///
/// ```no_run
/// use brake::process::{init, Registry, Task};
///
/// static SQUARE: Task<u64, u64> = Task::new("square", |_stop, n| Ok(n * n));
///
/// fn main() {
///     let mut registry = Registry::new();
///     registry.register(&SQUARE).expect("task names are unique");
///     init(&registry); // a worker never comes back from here
///     // ... the program proper: create a ProcessPool and submit SQUARE ...
/// }
/// ```
pub fn init(registry: &Registry) {
    let Some(token) = std::env::var_os(WORKER_VAR) else {
        return;
    };
    // Nothing the worker starts may believe it is a worker too. This runs before any thread of
    // the program exists, which is what makes changing the environment sound.
    std::env::remove_var(WORKER_VAR);
    if !(is_pipe(REQUEST_FD, libc::O_RDONLY) && is_pipe(REPLY_FD, libc::O_WRONLY)) {
        return;
    }
    match read_hello(Instant::now() + HELLO_WAIT) {
        Some(hello) if token.to_str() == Some(hello.as_str()) => {}
        _ => return,
    }
    // SAFETY: both descriptors are open pipes (checked above) that a pool placed there for this
    // process alone, as the hello with this start's token proves; nothing else owns them.
    let (requests, replies) =
        unsafe { (File::from_raw_fd(REQUEST_FD), File::from_raw_fd(REPLY_FD)) };
    for fd in [REQUEST_FD, REPLY_FD] {
        // SAFETY: setting FD_CLOEXEC on a descriptor we own; programs a task starts must not
        // hold the pool's pipes open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // `ps` shows the workers apart from the program (their command line says so too, see the
    // manager's `arg0`). PR_SET_NAME takes at most 15 bytes and a terminating zero.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string from a valid pointer and renames
    // this thread only; nothing else runs yet.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"brake-worker".as_ptr()) };
    let requests = BufReader::new(requests);
    let code = serve(registry, requests, replies);
    std::process::exit(code);
}

/// Whether `fd` is an open pipe end opened for `access` (`O_RDONLY` or `O_WRONLY`).
fn is_pipe(fd: RawFd, access: libc::c_int) -> bool {
    // SAFETY: an all-zero `stat` is a valid value for this plain C struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fstat` only writes into `stat`, a valid pointer; a closed `fd` gives an error.
    let rc = unsafe { libc::fstat(fd, &mut stat) };
    if rc != 0 || (stat.st_mode & libc::S_IFMT) != libc::S_IFIFO {
        return false;
    }
    // SAFETY: F_GETFL reads the descriptor's flags and changes nothing; `fd` is open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_ACCMODE == access
}

/// The token of the hello frame on [`REQUEST_FD`], read without taking the descriptor and
/// without reading past the frame (what follows is the pool's first request); `None` for
/// anything else, a frame too long to be a hello, or nothing complete by `deadline`.
fn read_hello(deadline: Instant) -> Option<String> {
    // SAFETY: REQUEST_FD is open (checked by `is_pipe` just before) and stays open for this
    // call: nothing else runs yet, and the borrow ends with the call.
    let fd = unsafe { BorrowedFd::borrow_raw(REQUEST_FD) };
    let mut len = [0u8; 4];
    read_before(fd, &mut len, deadline).ok()?;
    let len = u32::from_le_bytes(len);
    if len > MAX_HELLO {
        return None;
    }
    let mut body = vec![0u8; len as usize];
    read_before(fd, &mut body, deadline).ok()?;
    match decode::<Request>(&body) {
        Ok(Request::Hello { token }) => Some(token),
        _ => None,
    }
}

/// Fills `buf` from `fd`, waiting for data at most until `deadline`.
fn read_before(fd: BorrowedFd<'_>, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let timeout = Timespec::try_from(left).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(err) => return Err(err.into()),
        }
        match rustix::io::read(fd, &mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// The worker's loop; returns its exit status.
///
/// Results go to a writer thread ([`Outbox`]), which sends them a block at a time: tiny tasks
/// share frames, and a result is on its way to the pool within [`LINGER`] of its end, even
/// while the next task keeps this thread busy for ever.
fn serve(registry: &Registry, mut requests: BufReader<File>, replies: File) -> i32 {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop.set_grace(Duration::MAX);
    if crate::signals::install_early(&stop).is_err() {
        return 70;
    }
    let outbox = Arc::new(Outbox::default());
    // The second signal of the pool's sequence means "now": a task that ignored the first
    // (a busy loop) is not waited for; results already finished are, briefly.
    let _force = {
        let outbox = outbox.clone();
        stop.on_change(move |phase| {
            if phase == Phase::Forcing {
                outbox.wait_drained(Duration::from_millis(200));
                // SAFETY: `_exit` ends the process without running anything else; nothing
                // here needs unwinding, and every finished result has been written.
                unsafe { libc::_exit(exit_code_for_signal(libc::SIGTERM)) };
            }
        })
    };
    let writer = {
        let outbox = outbox.clone();
        std::thread::Builder::new()
            .name("brake-worker-replies".into())
            .spawn(move || write_replies(replies, &outbox))
    };
    let Ok(writer) = writer else {
        return 71;
    };
    let mut code = 0;
    // One buffer for every item's value or message: a million tiny tasks, no allocation each.
    let mut bytes = Vec::new();
    loop {
        let (first, task, args, ends) = match read_frame::<Request>(&mut requests) {
            Ok(Some(Request::Run {
                first,
                task,
                args,
                ends,
            })) => (first, task, args, ends),
            Ok(Some(Request::Hello { .. })) => continue,
            // The pool closed the pipe: no more work.
            Ok(None) => break,
            Err(_) => {
                code = 1;
                break;
            }
        };
        let run = registry.find(&task);
        let mut start = 0;
        for (id, &end) in (first..).zip(&ends) {
            let arg = args.get(start..end as usize);
            start = end as usize;
            bytes.clear();
            let ended = match (arg, run) {
                _ if stop.is_stopping() => ItemEnd::Cancelled,
                (Some(arg), Some(run)) => run_one(run, &stop, arg, &mut bytes),
                (None, _) => failed(&mut bytes, "malformed request from the pool"),
                (_, None) => failed(
                    &mut bytes,
                    &format!(
                        "task {task:?} is not registered in the worker (register it in the \
                         Registry given to brake::process::init)"
                    ),
                ),
            };
            let ended = if bytes.len() > MAX_VALUE {
                let message = too_large(&task, ended, bytes.len());
                failed(&mut bytes, &message)
            } else {
                ended
            };
            if !outbox.push(id, ended, &bytes) {
                return 1; // the writer has gone: the pool is not listening any more
            }
        }
        // Waiting for the next request may take long: what is done goes now. When the next
        // request is already here, the block goes on filling.
        if requests.buffer().is_empty() {
            outbox.flush();
        }
    }
    outbox.close();
    if writer.join().ok() != Some(true) {
        code = 1;
    }
    match stop.stopping().map(|t| t.reason) {
        Some(Reason::Signal(signal)) => exit_code_for_signal(signal),
        _ => code,
    }
}

fn run_one(run: &Erased, stop: &Stop, arg: &[u8], bytes: &mut Vec<u8>) -> ItemEnd {
    match panic::catch_unwind(AssertUnwindSafe(|| run(stop, arg, bytes))) {
        Ok(ended) => ended,
        Err(payload) => with_message(
            bytes,
            ItemEnd::Panicked,
            &crate::outcome::panic_message(payload.as_ref()),
        ),
    }
}

/// Why an item's value or message cannot travel.
fn too_large(task: &str, ended: ItemEnd, len: usize) -> String {
    let what = if ended == ItemEnd::Done {
        "value"
    } else {
        "message"
    };
    format!(
        "the {what} of task {task:?} is {len} bytes, more than a process pool carries \
         ({MAX_VALUE} bytes)"
    )
}

/// Results handed from the worker's main thread to its writer thread.
///
/// The main thread appends under an uncontended lock; the writer swaps the whole block for an
/// empty one and sends it as one frame. A block goes when it is big enough ([`FLUSH_ITEMS`],
/// [`FLUSH_DATA`]), when the main thread is about to wait for requests, or when its first
/// result has waited [`LINGER`]: so a million tiny results make a few hundred frames, and a
/// result finished before a task that runs for ever still reaches the pool within [`LINGER`].
/// A block is bounded ([`BLOCK_DATA`], [`BLOCK_ITEMS`]) so that it always fits one frame: a
/// task that outruns the pipe waits for the writer.
#[derive(Default)]
struct Outbox {
    state: Mutex<OutboxState>,
    ready: Condvar,
}

#[derive(Default)]
struct OutboxState {
    results: Results,
    /// When the block's first result was added.
    since: Option<Instant>,
    /// The block is to go now, whatever its size.
    flush: bool,
    /// The writer holds results it has taken and not yet written.
    writing: bool,
    closed: bool,
    writer_gone: bool,
}

impl OutboxState {
    fn full(&self) -> bool {
        self.results.len() >= FLUSH_ITEMS || self.results.data_len() >= FLUSH_DATA
    }
}

impl Outbox {
    /// Adds a result; false once the writer has given up.
    fn push(&self, id: u64, ended: ItemEnd, bytes: &[u8]) -> bool {
        let mut state = lock(&self.state);
        while !state.writer_gone
            && !state.results.is_empty()
            && (state.results.data_len() + bytes.len() > BLOCK_DATA
                || state.results.len() >= BLOCK_ITEMS)
        {
            state = wait(&self.ready, state);
        }
        if state.writer_gone {
            return false;
        }
        let first = state.results.is_empty();
        let was_full = state.full();
        state.results.push(id, ended, bytes);
        if first {
            state.since = Some(Instant::now());
        }
        // The writer hears of a new block (to time its wait) and of a full one, nothing between.
        let wake = first || (!was_full && state.full());
        drop(state);
        if wake {
            self.ready.notify_all();
        }
        true
    }

    /// Has the block go now.
    fn flush(&self) {
        let mut state = lock(&self.state);
        if !state.results.is_empty() && !state.flush {
            state.flush = true;
            drop(state);
            self.ready.notify_all();
        }
    }

    /// No more results will come.
    fn close(&self) {
        lock(&self.state).closed = true;
        self.ready.notify_all();
    }

    /// The block once it is to go, swapped for `empty` (the writer's last block, cleared, so
    /// that its memory serves again); `None` once closed and empty.
    fn take(&self, empty: Results) -> Option<Results> {
        let mut state = lock(&self.state);
        state.writing = false;
        self.ready.notify_all(); // for `wait_drained`, and a push waiting for room
        loop {
            if state.results.is_empty() {
                if state.closed {
                    return None;
                }
                state = wait(&self.ready, state);
                continue;
            }
            let waited = state.since.map_or(LINGER, |since| since.elapsed());
            if state.flush || state.closed || state.full() || waited >= LINGER {
                break;
            }
            state = wait_timeout(&self.ready, state, LINGER - waited).0;
        }
        state.writing = true;
        state.flush = false;
        state.since = None;
        Some(std::mem::replace(&mut state.results, empty))
    }

    /// Has everything pushed go now, and waits, at most `limit`, until it has been written.
    fn wait_drained(&self, limit: Duration) {
        self.flush();
        let deadline = Instant::now() + limit;
        let mut state = lock(&self.state);
        while (state.writing || !state.results.is_empty()) && !state.writer_gone {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = wait_timeout(&self.ready, state, left).0;
        }
    }

    fn writer_gone(&self) {
        lock(&self.state).writer_gone = true;
        self.ready.notify_all();
    }
}

/// The writer thread: sends what is ready as one frame at a time; true if every frame went out.
fn write_replies(mut replies: File, outbox: &Outbox) -> bool {
    let ready = Reply::Ready {
        pid: std::process::id(),
    };
    let mut sent = write_frame(&mut replies, &ready).is_ok();
    let mut empty = Results::default();
    // One frame buffer, reused: a block's frame is built in it and written straight to the pipe.
    let mut frame = Vec::new();
    while sent {
        let Some(block) = outbox.take(empty) else {
            break;
        };
        let reply = Reply::Results(block);
        frame.clear();
        sent = append_frame(&mut frame, &reply).is_ok() && replies.write_all(&frame).is_ok();
        let Reply::Results(mut block) = reply else {
            unreachable!("built above")
        };
        block.clear();
        empty = block;
    }
    if !sent {
        outbox.writer_gone();
    }
    sent
}
