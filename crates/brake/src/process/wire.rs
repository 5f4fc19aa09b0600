//! The pool ↔ worker protocol: length-prefixed postcard frames over two pipes.
//!
//! postcard is compact (a `u64` argument is a byte or a few, not eight plus framing), fast, and
//! serde-based, so any `Serialize` type travels; it is well kept and has a stable 1.x format.
//! Each frame is a little-endian `u32` length and that many bytes. A frame longer than
//! [`MAX_FRAME`] is refused before anything is allocated, and a length within it is only a
//! claim: the body's buffer grows as its bytes arrive ([`READ_STEP`] at a time, then doubling),
//! so a corrupt or hostile length costs memory in proportion to the bytes really sent, never
//! to the number announced.
//!
//! Arguments travel a chunk at a time and results a block at a time ([`Results`]): bytes back
//! to back with their end offsets, so that thousands of tiny tasks cost a few allocations and
//! copies per frame rather than a few per task.

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
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
        ends: Vec<u32>,
    },
}

/// From a worker to the pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The handshake succeeded; the worker waits for tasks.
    Ready { pid: u32 },
    /// Items that ended, in the order they ran.
    Results(Results),
}

/// How one item ended in a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ItemEnd {
    /// The task returned a value; its bytes are the serialized value.
    Done,
    /// The task returned an error, or its argument or value could not be (de)serialized; its
    /// bytes are the message.
    Failed,
    /// The task returned `Err(Stopped)`.
    Interrupted,
    /// The task panicked; its bytes are the panic's message.
    Panicked,
    /// The worker was stopping when the item's turn came; it never ran.
    Cancelled,
}

/// A run of items that ended, as one block: a whole chunk of tiny tasks costs a few
/// allocations, not a few per item, on both sides of the pipe.
///
/// Item `i` (counting through `runs`) ended as `ended[i]`, with bytes `data[ends[i - 1]..ends[i]]`.
/// What arrives from a pipe is only trusted after [`Results::check`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Results {
    /// The items' ids as runs of consecutive ids: each run's first id and length.
    runs: Vec<(u64, u32)>,
    ended: Vec<ItemEnd>,
    ends: Vec<u32>,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

impl Results {
    /// Adds item `id`, which ended as `ended` with `bytes`.
    pub(crate) fn push(&mut self, id: u64, ended: ItemEnd, bytes: &[u8]) {
        match self.runs.last_mut() {
            Some((first, len)) if first.wrapping_add(u64::from(*len)) == id && *len < u32::MAX => {
                *len += 1
            }
            _ => self.runs.push((id, 1)),
        }
        append(&mut self.data, bytes);
        self.ended.push(ended);
        self.ends.push(self.data.len() as u32);
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.ended.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ended.is_empty()
    }

    /// Bytes of data held, to bound a frame.
    pub(crate) fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Empties the block, keeping its memory for the next one.
    pub(crate) fn clear(&mut self) {
        self.runs.clear();
        self.ended.clear();
        self.ends.clear();
        self.data.clear();
    }

    /// The runs of consecutive ids, each as its first id and the range of item indices it covers.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (u64, std::ops::Range<usize>)> + '_ {
        self.runs.iter().scan(0usize, |start, &(first, len)| {
            let range = *start..*start + len as usize;
            *start = range.end;
            Some((first, range))
        })
    }

    /// How item `index` ended.
    pub(crate) fn ended(&self, index: usize) -> ItemEnd {
        self.ended[index]
    }

    /// Item `index`'s bytes: its value, or its message.
    pub(crate) fn bytes(&self, index: usize) -> &[u8] {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.data[start as usize..self.ends[index] as usize]
    }

    /// Checks that a block read from a pipe is whole: as many ids as items, and every item's
    /// bytes inside the data, in order. The accessors above may then index freely.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let ids = self
            .runs
            .iter()
            .try_fold(0u64, |sum, &(_, len)| sum.checked_add(u64::from(len)));
        if ids != Some(self.ended.len() as u64) || self.ends.len() != self.ended.len() {
            return Err("a block of results whose counts disagree");
        }
        let mut start = 0;
        for &end in &self.ends {
            if end < start || end as usize > self.data.len() {
                return Err("a block of results whose offsets run outside its data");
            }
            start = end;
        }
        Ok(())
    }
}

/// Writes one frame and flushes it.
pub(crate) fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let mut frame = Vec::new();
    append_frame(&mut frame, message)?;
    out.write_all(&frame)?;
    out.flush()
}

/// Appends one frame to `frames`, for several frames to leave in one write and for one buffer
/// to serve frame after frame. On an error, `frames` is left as it was.
pub(crate) fn append_frame<T: Serialize>(frames: &mut Vec<u8>, message: &T) -> io::Result<()> {
    let start = frames.len();
    // The body is serialized after room for its length, which is filled in once known.
    frames.extend_from_slice(&[0; 4]);
    let body = encode_into(message, frames)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
        .and_then(|()| {
            let len = frames.len() - start - 4;
            u32::try_from(len)
                .ok()
                .filter(|len| *len <= MAX_FRAME)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a message of {len} bytes exceeds the limit of {MAX_FRAME}"),
                    )
                })
        });
    match body {
        Ok(len) => {
            frames[start..start + 4].copy_from_slice(&len.to_le_bytes());
            Ok(())
        }
        Err(err) => {
            frames.truncate(start);
            Err(err)
        }
    }
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

/// Serializes `value` at the end of `buffer`; on an error, `buffer` is left as it was.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    buffer: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    let start = buffer.len();
    postcard::serialize_with_flavor(value, Append(buffer)).inspect_err(|_| buffer.truncate(start))
}

/// A postcard output appending to a borrowed buffer: a chunk's thousands of arguments, or a
/// worker's thousands of values, go into one buffer that keeps its memory from one to the next.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        append(self.0, bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends `bytes` to `buffer`. Most pieces are a varint or a tiny value of a few bytes, for
/// which a call to `memcpy` costs more than the copy: those are copied byte by byte.
#[inline]
fn append(buffer: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() <= 16 {
        buffer.reserve(bytes.len());
        for &byte in bytes {
            buffer.push(byte);
        }
    } else {
        buffer.extend_from_slice(bytes);
    }
}

/// Deserializes a task's argument or value.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests;
