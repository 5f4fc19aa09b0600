//! The pool ↔ worker protocol: length-prefixed postcard frames over two pipes.
//!
//! postcard is compact (a `u64` argument is a byte or a few, not eight plus framing), fast, and
//! serde-based, so any `Serialize` type travels; it is well kept and has a stable 1.x format.
//! Each frame is a little-endian `u32` length and that many bytes. A frame longer than
//! [`MAX_FRAME`] is refused before anything is allocated: a corrupt or hostile length can never
//! make a reader allocate gigabytes.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The largest frame either side accepts: 256 MiB.
pub(crate) const MAX_FRAME: u32 = 256 << 20;

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

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames).
pub(crate) fn read_frame<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {MAX_FRAME}"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    input.read_exact(&mut body)?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
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
}
