//! The wire protocol's tests: frames round-trip, and corrupt or hostile input is refused
//! without allocating what it announces.

use super::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use brake_testkit::torture::{fuzz_cases, Tally};
use proptest::prelude::*;
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
    let mut results = Results::default();
    results.push(7, ItemEnd::Interrupted, &[]);
    results.push(8, ItemEnd::Done, &[9, 9]);
    results.push(3, ItemEnd::Failed, b"no");
    write_frame(&mut buffer, &Reply::Results(results)).unwrap();
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
    let Some(Reply::Results(results)) = read_frame::<Reply>(&mut input).unwrap() else {
        panic!("results expected");
    };
    assert_eq!(results.check(), Ok(()));
    let runs: Vec<_> = results.runs().collect();
    assert_eq!(runs, [(7, 0..2), (3, 2..3)]);
    let items: Vec<_> = (0..results.len())
        .map(|i| (results.ended(i), results.bytes(i)))
        .collect();
    assert_eq!(
        items,
        [
            (ItemEnd::Interrupted, &[][..]),
            (ItemEnd::Done, &[9, 9][..]),
            (ItemEnd::Failed, &b"no"[..])
        ]
    );
    assert!(read_frame::<Reply>(&mut input).unwrap().is_none());
}

#[test]
fn a_block_whose_parts_disagree_is_refused() {
    let whole = || {
        let mut results = Results::default();
        results.push(1, ItemEnd::Done, &[1, 2]);
        results.push(2, ItemEnd::Failed, b"x");
        results
    };
    assert_eq!(whole().check(), Ok(()));
    let mut more_ids = whole();
    more_ids.runs[0].1 += 1;
    let mut fewer_ends = whole();
    fewer_ends.ends.pop();
    let mut past_data = whole();
    past_data.ends[1] = 9;
    let mut backwards = whole();
    backwards.ends = vec![2, 1];
    let mut huge = whole();
    huge.runs = vec![(0, u32::MAX), (0, u32::MAX), (0, 4)];
    for bad in [more_ids, fewer_ends, past_data, backwards, huge] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
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
/// reserve 200 MiB.
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

fn item_end() -> impl Strategy<Value = ItemEnd> {
    prop_oneof![
        Just(ItemEnd::Done),
        Just(ItemEnd::Failed),
        Just(ItemEnd::Interrupted),
        Just(ItemEnd::Panicked),
        Just(ItemEnd::Cancelled),
    ]
}

fn results() -> impl Strategy<Value = Results> {
    prop::collection::vec(
        (
            0..4u64,
            item_end(),
            prop::collection::vec(any::<u8>(), 0..12),
        ),
        0..8,
    )
    .prop_map(|items| {
        let mut results = Results::default();
        let mut id = 0;
        for (gap, ended, bytes) in items {
            id += gap;
            results.push(id, ended, &bytes);
        }
        results
    })
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
        results().prop_map(Reply::Results),
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
/// Each message read is handed to `visit`.
fn read_all<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    visit: impl Fn(&T),
) -> Result<(), TestCaseError> {
    let mut input = bytes;
    loop {
        let before = input.len();
        let (read, largest) = largest_allocation(|| read_frame::<T>(&mut input));
        prop_assert!(
            largest <= 2 * READ_STEP + 8 * before,
            "{largest} bytes allocated for {before} bytes of input"
        );
        match read {
            Ok(Some(message)) => {
                prop_assert!(input.len() + 4 <= before);
                visit(&message);
            }
            Ok(None) => {
                prop_assert_eq!(before, 0, "a clean end with bytes left");
                return Ok(());
            }
            Err(_) => return Ok(()),
        }
    }
}

/// What the pool does with a block of results: check it, and only if whole, read every item.
fn walk(results: &Results) {
    if results.check().is_ok() {
        for (_, items) in results.runs() {
            for item in items {
                let _ = (results.ended(item), results.bytes(item));
            }
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
            read_all::<Request>(&bytes, |_| {})?;
            read_all::<Reply>(&bytes, |reply| {
                if let Reply::Results(results) = reply {
                    walk(results);
                }
            })?;
            read_all::<Results>(&bytes, walk)?;
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
