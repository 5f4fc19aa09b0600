//! A started job's block: written into its stdin, or into the named pipe of `--fifo`, by a
//! thread of its own, so that the run's loop never waits on a job that reads slowly. The
//! thread ends when the block is written or the job's end closes the pipe (brake ignores
//! SIGPIPE: the write fails with EPIPE). A part of a file goes by `splice`, from the page
//! cache to the pipe without passing through brake.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use brake::child::{Child, Io};
use rustix::pipe::{splice, SpliceFlags};

use super::{Block, Part};

/// The job's stdin: a pipe when its block comes that way, else /dev/null.
pub fn stdin_io(block: Option<&Block>) -> Io {
    match block {
        Some(Block::Bytes(_) | Block::Part(_) | Block::Stream(_)) => Io::Piped,
        _ => Io::Null,
    }
}

/// Starts writing the block of a job just started as `child`. Returns an error only when no
/// thread could be started; the job then sees its input end at once.
pub fn deliver(block: Option<&Block>, child: &mut Child) -> io::Result<()> {
    let Some(block) = block else {
        return Ok(());
    };
    let job = match block {
        Block::Bytes(bytes) => {
            let Some(stdin) = child.take_stdin() else {
                return Ok(());
            };
            let bytes = Arc::clone(bytes);
            Writer::Bytes(File::from(std::os::fd::OwnedFd::from(stdin)), bytes)
        }
        Block::Part(part) => {
            let Some(stdin) = child.take_stdin() else {
                return Ok(());
            };
            Writer::Part(File::from(std::os::fd::OwnedFd::from(stdin)), part.clone())
        }
        Block::Stream(stream) => {
            let (Some(stdin), Some((blocks, sent))) = (child.take_stdin(), stream.take()) else {
                return Ok(());
            };
            Writer::Stream(File::from(std::os::fd::OwnedFd::from(stdin)), blocks, sent)
        }
        Block::File(..) => return Ok(()),
        Block::Fifo(fifo) => {
            let attempt = fifo.attempts.fetch_add(1, Ordering::SeqCst) + 1;
            Writer::Fifo(
                fifo.path.clone(),
                fifo.data.clone(),
                Arc::clone(&fifo.attempts),
                attempt,
            )
        }
    };
    std::thread::Builder::new()
        .name("brake-block".into())
        .spawn(move || job.write())
        .map(drop)
}

/// What a block's thread writes, and where.
enum Writer {
    Bytes(File, Arc<Vec<u8>>),
    Part(File, Part),
    /// The path, the block, the job's attempts so far and the one this writer serves.
    Fifo(PathBuf, FifoData, Arc<AtomicU64>, u64),
    Stream(
        File,
        std::sync::mpsc::Receiver<Arc<Vec<u8>>>,
        Arc<AtomicU64>,
    ),
}

impl Writer {
    fn write(self) {
        // A job that does not read its whole block ends the write with EPIPE: its business,
        // as with any program reading a pipe.
        let _ = match self {
            Writer::Bytes(mut pipe, bytes) => pipe.write_all(&bytes),
            Writer::Part(pipe, part) => copy_part(&part, &pipe),
            Writer::Fifo(path, data, attempts, attempt) => {
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|mut fifo| {
                        // The writer of an attempt whose job never opened the pipe is still
                        // waiting when a retry opens it: it closes its end unwritten, so the
                        // retry reads the block once.
                        if attempts.load(Ordering::SeqCst) != attempt {
                            return Ok(());
                        }
                        match data {
                            FifoData::Bytes(bytes) => fifo.write_all(&bytes),
                            FifoData::Part(part) => copy_part(&part, &fifo),
                        }
                    })
            }
            Writer::Stream(mut pipe, blocks, sent) => blocks.iter().try_for_each(|block| {
                pipe.write_all(&block)?;
                sent.fetch_add(block.len() as u64, Ordering::Relaxed);
                Ok(())
            }),
        };
    }
}

/// Copies a part of a file to `out`: by `splice` when `out` is a pipe, else read and write.
pub fn copy_part(part: &Part, out: &File) -> io::Result<()> {
    let mut offset = part.offset;
    let end = part.offset + part.len;
    while offset < end {
        let left = usize::try_from(end - offset).unwrap_or(usize::MAX);
        match splice(
            &*part.file,
            Some(&mut offset),
            out.as_fd(),
            None,
            left,
            SpliceFlags::MOVE,
        ) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            // Not a pipe (a temporary file for --cat): through a buffer.
            Err(rustix::io::Errno::INVAL) => return copy_by_reading(part, offset, out),
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

fn copy_by_reading(part: &Part, mut offset: u64, mut out: &File) -> io::Result<()> {
    let end = part.offset + part.len;
    let mut buffer = vec![0; 256 * 1024];
    while offset < end {
        let want = buffer
            .len()
            .min(usize::try_from(end - offset).unwrap_or(usize::MAX));
        let n = part.file.read_at(&mut buffer[..want], offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.write_all(&buffer[..n])?;
        offset += n as u64;
    }
    Ok(())
}

/// The named pipe's name in its directory.
const FIFO_NAME: &str = "block";

/// What goes through a `--fifo`.
#[derive(Debug, Clone)]
enum FifoData {
    Bytes(Arc<Vec<u8>>),
    Part(Part),
}

/// `--fifo`: a named pipe in a new private directory, and the block to write into it.
///
/// Dropped (the job ended for good), it first opens the pipe for reading, without waiting,
/// so that a thread still waiting for the job to open it goes on and ends; then the
/// directory is removed.
#[derive(Debug)]
pub struct Fifo {
    dir: tempfile::TempDir,
    path: PathBuf,
    data: FifoData,
    /// How many times the job has started (`--retries`): only the latest start's writer
    /// writes.
    attempts: Arc<AtomicU64>,
}

impl Fifo {
    /// A new named pipe for `block`.
    pub fn new(block: Block) -> io::Result<Fifo> {
        let data = match block {
            Block::Bytes(bytes) => FifoData::Bytes(bytes),
            Block::Part(part) => FifoData::Part(part),
            Block::File(..) | Block::Fifo(_) | Block::Stream(_) => {
                unreachable!("a block is put in a fifo once")
            }
        };
        let dir = tempfile::Builder::new().prefix("brake-fifo.").tempdir()?;
        let path = dir.path().join(FIFO_NAME);
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )?;
        Ok(Fifo {
            dir,
            path,
            data,
            attempts: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The named pipe's path (`{}`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The block's size.
    pub fn len(&self) -> u64 {
        match &self.data {
            FifoData::Bytes(bytes) => bytes.len() as u64,
            FifoData::Part(part) => part.len,
        }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.dir.path().join(FIFO_NAME));
    }
}
