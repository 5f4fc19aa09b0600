//! The framed pipe format between a pool and its workers, both directions.
//!
//! Every frame is a little-endian `u32` body length, then the body.
//!
//! * Pool to worker: the body is items back to back, each a `u32` length and that many bytes.
//!   The first frame a worker reads holds one item, its start-up payload; every later item is
//!   one task: a `u32` length and the pickled function, then the pickled `(args, kwargs)`
//!   ([`task`]). The function travels apart so that the pool pickles a plain function once
//!   and a worker unpickles it once, however many tasks call it.
//! * Worker to pool: the body is one [`Reply`] byte, then its payload (a pickle, or nothing).
//!   A worker runs its tasks in the order they came and answers each, in that order, before it
//!   starts the next: the pool needs no task ids on the wire, and when a worker dies its first
//!   unanswered task is the one it was running.

/// What a worker's frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reply {
    /// Start-up is over (initializer run): tasks may come.
    Ready = 1,
    /// The task returned; the payload is its pickled value.
    Done = 2,
    /// The task raised; the payload is the pickled exception and its traceback text.
    Failed = 3,
    /// The task was running when the worker got the stop signal (`KeyboardInterrupt`).
    Interrupted = 4,
    /// The stop signal came before the task began: it never ran.
    NotStarted = 5,
    /// The initializer raised (payload: the pickled traceback text); the pool is broken.
    InitFailed = 6,
}

impl Reply {
    /// The reply a byte stands for.
    pub fn from_byte(byte: u8) -> Option<Reply> {
        Some(match byte {
            1 => Reply::Ready,
            2 => Reply::Done,
            3 => Reply::Failed,
            4 => Reply::Interrupted,
            5 => Reply::NotStarted,
            6 => Reply::InitFailed,
            _ => return None,
        })
    }
}

/// Frames larger than this are refused (a corrupt length, not a real pickle).
pub const MAX_FRAME: usize = 1 << 31;

/// One task item: the pickled function's length, the pickled function, the pickled call.
pub fn task(function: &[u8], call: &[u8]) -> Vec<u8> {
    let mut item = Vec::with_capacity(4 + function.len() + call.len());
    item.extend_from_slice(&(function.len() as u32).to_le_bytes());
    item.extend_from_slice(function);
    item.extend_from_slice(call);
    item
}

/// Appends a pool-to-worker frame holding `items` to `out`.
pub fn put_items<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a [u8]> + Clone) {
    let body: usize = items.clone().map(|item| 4 + item.len()).sum();
    out.extend_from_slice(&(body as u32).to_le_bytes());
    for item in items {
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        out.extend_from_slice(item);
    }
}

/// Splits a pool-to-worker frame body into its items; `None` if it is malformed.
pub fn split_items(mut body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut items = Vec::new();
    while !body.is_empty() {
        let (len, rest) = take_len(body)?;
        if rest.len() < len {
            return None;
        }
        items.push(&rest[..len]);
        body = &rest[len..];
    }
    Some(items)
}

/// Appends a worker-to-pool frame to `out`.
pub fn put_reply(out: &mut Vec<u8>, reply: Reply, payload: &[u8]) {
    out.extend_from_slice(&((payload.len() + 1) as u32).to_le_bytes());
    out.push(reply as u8);
    out.extend_from_slice(payload);
}

/// The length prefix at the start of `bytes`, and what follows it.
pub fn take_len(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some((u32::from_le_bytes(head) as usize, &bytes[4..]))
}

/// The first whole frame in `buffer`: its body's range, and where the next frame begins.
/// `Ok(None)` when the frame is not complete yet; `Err` for a length past [`MAX_FRAME`].
pub fn next_frame(buffer: &[u8]) -> Result<Option<(std::ops::Range<usize>, usize)>, usize> {
    let Some((len, _)) = take_len(buffer) else {
        return Ok(None);
    };
    if len > MAX_FRAME {
        return Err(len);
    }
    if buffer.len() < 4 + len {
        return Ok(None);
    }
    Ok(Some((4..4 + len, 4 + len)))
}
