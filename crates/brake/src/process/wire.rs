//! The pool ↔ worker protocol: length-prefixed postcard frames over two pipes.
//!
//! postcard is compact (a `u64` argument is a byte or a few, not eight plus framing), fast, and
//! serde-based, so any `Serialize` type travels; it is well kept and has a stable 1.x format.
//! Each frame is a little-endian `u32` length and that many bytes. A frame longer than
//! [`MAX_FRAME`] is refused before anything is allocated, and a length within it is only a
//! claim: the body's buffer grows as its bytes arrive ([`READ_STEP`] at a time, then doubling),
//! so a corrupt or hostile length costs memory in proportion to the bytes really sent, never
//! to the number announced.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The largest frame either side accepts: 256 MiB.
pub(crate) const MAX_FRAME: u32 = 256 << 20;

/// The first slice of a frame's body allocated before its bytes are read; each later slice is
/// as large as what has arrived so far. Most frames fit in the first.
const READ_STEP: usize = 64 << 10;

/// From the pool to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// First frame: proves the worker was started by a pool, not by an inherited variable.
    Hello { token: String },
    /// Run one task on each argument, in order; the items' ids are `first`, `first + 1`, ….
    /// The arguments are serialized back to back in `args`; `ends` has each one's end offset.
    Run {
        first: u64,
        task: String,
        args: Vec<u8>,
        ends: Vec<u32>,
    },
}

/// From a worker to the pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The handshake succeeded; the worker waits for tasks.
    Ready { pid: u32 },
    /// Items that ended, in the order they ran, each with its id.
    Results(Vec<(u64, ItemResult)>),
}

/// How one item ended in a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ItemResult {
    /// The task returned a value (serialized).
    Done(Vec<u8>),
    /// The task returned an error, or its argument or value could not be (de)serialized.
    Failed(String),
    /// The task returned `Err(Stopped)`.
    Interrupted,
    /// The task panicked.
    Panicked(String),
    /// The worker was stopping when the item's turn came; it never ran.
    Cancelled,
}

/// Writes one frame and flushes it.
pub(crate) fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    write_frame_unflushed(out, message)?;
    out.flush()
}

/// Writes one frame into `out`'s buffer, for several frames to leave in one write.
pub(crate) fn write_frame_unflushed<T: Serialize>(
    out: &mut impl Write,
    message: &T,
) -> io::Result<()> {
    let body = postcard::to_allocvec(message)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "frame too large"))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)
}

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames). A stream that ends
/// inside a frame, its length included, is an error.
pub(crate) fn read_frame<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {MAX_FRAME}"),
        ));
    }
    let body = read_body(input, len as usize)?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

/// Reads exactly `len` bytes, allocating only a step ahead of what has arrived: the length
/// came from the other side and may be a lie.
fn read_body(input: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    while body.len() < len {
        let start = body.len();
        let step = (len - start).min(start.max(READ_STEP));
        body.resize(start + step, 0);
        input.read_exact(&mut body[start..])?;
    }
    Ok(body)
}

/// Serializes a task's argument or value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(value)
}

/// Serializes `value` at the end of `buffer`.
pub(crate) fn encode_into<T: Serialize>(
    value: &T,
    buffer: Vec<u8>,
) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_extend(value, buffer)
}

/// Deserializes a task's argument or value.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use brake_testkit::torture::{fuzz_cases, Tally};
    use proptest::prelude::*;
    use proptest::strategy::LazyJust;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    /// The system allocator, noting the largest single request each thread makes, so a test
    /// can see what reading a frame asked for rather than what it happened to touch.
    struct Largest;

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    fn note(size: usize) {
        // `try_with`: allocations also happen while a thread's locals are torn down.
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
    }

    // SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s
    // guarantees hold; the bookkeeping only touches a const-initialised thread-local `Cell`,
    // which never allocates.
    unsafe impl GlobalAlloc for Largest {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: the caller's contract for `alloc` is passed on unchanged.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System` through this allocator, with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            // SAFETY: the caller's contract for `realloc` is passed on unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Largest = Largest;

    /// The largest single allocation `f` made on this thread.
    fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
        LARGEST.with(|largest| largest.set(0));
        let result = f();
        (result, LARGEST.with(Cell::get))
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buffer = Vec::new();
        write_frame(
            &mut buffer,
            &Request::Run {
                first: 7,
                task: "square".into(),
                args: vec![3],
                ends: vec![1],
            },
        )
        .unwrap();
        write_frame(
            &mut buffer,
            &Reply::Results(vec![(7, ItemResult::Interrupted)]),
        )
        .unwrap();
        let mut input = &buffer[..];
        match read_frame::<Request>(&mut input).unwrap() {
            Some(Request::Run {
                first,
                task,
                args,
                ends,
            }) => assert_eq!(
                (first, task.as_str(), args, ends),
                (7, "square", vec![3], vec![1])
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            read_frame::<Reply>(&mut input).unwrap(),
            Some(Reply::Results(items)) if matches!(items[..], [(7, ItemResult::Interrupted)])
        ));
        assert!(read_frame::<Reply>(&mut input).unwrap().is_none());
    }

    #[test]
    fn an_oversized_length_is_refused_without_allocating() {
        let mut input = &(MAX_FRAME + 1).to_le_bytes()[..];
        let err = read_frame::<Reply>(&mut input).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_torn_frame_is_an_error_not_an_end() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &Reply::Ready { pid: 1 }).unwrap();
        buffer.pop();
        assert!(read_frame::<Reply>(&mut &buffer[..]).is_err());
    }

    /// A length prefix is a claim, not a budget: 200 MiB announced and 3 bytes sent must not
    /// reserve 200 MiB (the reader used to allocate the whole body before reading it).
    #[test]
    fn a_lying_length_costs_only_what_arrives() {
        let mut input = (200u32 << 20).to_le_bytes().to_vec();
        input.extend_from_slice(&[1, 2, 3]);
        let (result, largest) = largest_allocation(|| read_frame::<Request>(&mut &input[..]));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            largest <= 2 * READ_STEP,
            "reading 7 bytes allocated {largest} bytes"
        );
    }

    /// A large frame that does arrive is read whole, with memory in proportion to it.
    #[test]
    fn a_large_honest_frame_is_read_in_bounded_steps() {
        let args = vec![7u8; 3 * READ_STEP + 5];
        let mut buffer = Vec::new();
        write_frame(
            &mut buffer,
            &Request::Run {
                first: 1,
                task: "t".into(),
                args: args.clone(),
                ends: vec![args.len() as u32],
            },
        )
        .unwrap();
        let (read, largest) = largest_allocation(|| read_frame::<Request>(&mut &buffer[..]));
        match read.unwrap() {
            Some(Request::Run { args: got, .. }) => assert_eq!(got, args),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            largest <= 4 * buffer.len(),
            "{largest} bytes for a {} byte frame",
            buffer.len()
        );
    }

    #[test]
    fn a_torn_length_is_an_error_not_an_end() {
        for cut in 1..4 {
            let err = read_frame::<Reply>(&mut &[5u8, 0, 0][..cut]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    fn item_result() -> impl Strategy<Value = ItemResult> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40).prop_map(ItemResult::Done),
            ".{0,20}".prop_map(ItemResult::Failed),
            LazyJust::new(|| ItemResult::Interrupted),
            ".{0,20}".prop_map(ItemResult::Panicked),
            LazyJust::new(|| ItemResult::Cancelled),
        ]
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            ".{0,40}".prop_map(|token| Request::Hello { token }),
            (
                any::<u64>(),
                ".{0,12}",
                prop::collection::vec(any::<u8>(), 0..40),
                prop::collection::vec(any::<u32>(), 0..6),
            )
                .prop_map(|(first, task, args, ends)| Request::Run {
                    first,
                    task,
                    args,
                    ends
                }),
        ]
    }

    fn reply() -> impl Strategy<Value = Reply> {
        prop_oneof![
            any::<u32>().prop_map(|pid| Reply::Ready { pid }),
            prop::collection::vec((any::<u64>(), item_result()), 0..6).prop_map(Reply::Results),
        ]
    }

    /// A stream to read frames from: valid frames of every message type, mutated, cut, and
    /// mixed with lying lengths and random bytes.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let frame = prop_oneof![
            request().prop_map(|r| {
                let mut out = Vec::new();
                write_frame(&mut out, &r).unwrap();
                out
            }),
            reply().prop_map(|r| {
                let mut out = Vec::new();
                write_frame(&mut out, &r).unwrap();
                out
            }),
            // A length that claims more than follows (up to the limit and past it).
            (
                prop_oneof![0..64u32, MAX_FRAME - 8..=MAX_FRAME + 8, any::<u32>()],
                prop::collection::vec(any::<u8>(), 0..16)
            )
                .prop_map(|(len, tail)| {
                    let mut out = len.to_le_bytes().to_vec();
                    out.extend(tail);
                    out
                }),
            prop::collection::vec(any::<u8>(), 0..32),
            // An honest frame around a message whose sequence or string length is a lie.
            (
                0..3u8,
                any::<u64>(),
                prop::collection::vec(any::<u8>(), 0..8)
            )
                .prop_map(|(variant, claim, tail)| {
                    let mut body = vec![variant];
                    body.extend(postcard::to_allocvec(&claim).unwrap());
                    body.extend(tail);
                    let mut out = (body.len() as u32).to_le_bytes().to_vec();
                    out.extend(body);
                    out
                }),
        ];
        (
            prop::collection::vec(frame, 0..5),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            any::<Option<prop::sample::Index>>(),
        )
            .prop_map(|(frames, flips, cut)| {
                let mut bytes = frames.concat();
                if !bytes.is_empty() {
                    for (at, byte) in flips {
                        let at = at.index(bytes.len());
                        bytes[at] ^= byte;
                    }
                    if let Some(cut) = cut {
                        bytes.truncate(cut.index(bytes.len()));
                    }
                }
                bytes
            })
    }

    /// Reads `bytes` as frames of `T` until the end or an error; checks that nothing reads
    /// past the input or ends cleanly inside a frame, and that no read allocates more than a
    /// step beyond what the input holds.
    fn read_all<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<(), TestCaseError> {
        let mut input = bytes;
        loop {
            let before = input.len();
            let (read, largest) = largest_allocation(|| read_frame::<T>(&mut input));
            prop_assert!(
                largest <= 2 * READ_STEP + 8 * before,
                "{largest} bytes allocated for {before} bytes of input"
            );
            match read {
                Ok(Some(_)) => prop_assert!(input.len() + 4 <= before),
                Ok(None) => {
                    prop_assert_eq!(before, 0, "a clean end with bytes left");
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        }
    }

    /// Every message type the pool and its workers exchange, from hostile streams: no panic,
    /// no hang, no allocation beyond the bytes sent; and valid frames come back as they went.
    #[test]
    fn torture_fuzz_wire() {
        let cases = fuzz_cases(512);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let ran = Cell::new(0usize);
        let panics = Cell::new(0usize);
        let strategy = (stream(), request(), reply());
        let result = runner.run(&strategy, |(bytes, request, reply)| {
            ran.set(ran.get() + 1);
            let outcome = std::panic::catch_unwind(|| -> Result<(), TestCaseError> {
                read_all::<Request>(&bytes)?;
                read_all::<Reply>(&bytes)?;
                read_all::<ItemResult>(&bytes)?;
                let mut out = Vec::new();
                write_frame(&mut out, &request).unwrap();
                write_frame(&mut out, &reply).unwrap();
                let mut input = &out[..];
                let back = read_frame::<Request>(&mut input).unwrap().unwrap();
                prop_assert_eq!(format!("{back:?}"), format!("{request:?}"));
                let back = read_frame::<Reply>(&mut input).unwrap().unwrap();
                prop_assert_eq!(format!("{back:?}"), format!("{reply:?}"));
                prop_assert!(read_frame::<Reply>(&mut input).unwrap().is_none());
                Ok(())
            });
            outcome.unwrap_or_else(|_| {
                panics.set(panics.get() + 1);
                Err(TestCaseError::fail("panicked"))
            })
        });
        let mut tally = Tally::new("fuzz-wire");
        tally.trials = ran.get();
        tally.bad_inputs = ran.get();
        tally.panics = panics.get();
        if let Err(err) = result {
            println!("{tally}");
            panic!("fuzz-wire: {err}");
        }
        tally.finish();
    }
}
