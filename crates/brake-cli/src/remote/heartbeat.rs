//! The local half of the heartbeat: a thread that writes one byte to every remote job's
//! channel each [`HEARTBEAT`](super::wrapper::HEARTBEAT), so that the wrapper on the other side
//! can tell a quiet connection from a cut one (see `wrapper.rs`).
//!
//! Each channel is the write end of a pipe that is the job's ssh client's stdin. The job holds
//! the only strong reference: dropping it (the job ends, or brake begins ending it) closes the
//! pipe, and the remote wrapper reads end of file. The thread holds weak references only, so
//! it never keeps a channel open; a brake that dies closes them all.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, Weak};

use rustix::fs::OFlags;
use rustix::pipe::{pipe_with, PipeFlags};

use super::wrapper::HEARTBEAT;

/// The channels the thread keeps alive.
#[derive(Clone, Default)]
pub struct Heartbeat {
    channels: Arc<Mutex<Vec<Weak<File>>>>,
}

impl Heartbeat {
    /// Starts the thread; it runs as long as brake.
    pub fn start() -> io::Result<Heartbeat> {
        let heartbeat = Heartbeat::default();
        let channels = Arc::clone(&heartbeat.channels);
        std::thread::Builder::new()
            .name("brake-heartbeat".into())
            .spawn(move || loop {
                std::thread::sleep(HEARTBEAT);
                beat(&channels);
            })?;
        Ok(heartbeat)
    }

    /// A new channel: the read end, for the ssh client's stdin, and the write end, kept by the
    /// job. The write end does not block: a channel the network holds up only misses beats.
    pub fn channel(&self) -> io::Result<(OwnedFd, Arc<File>)> {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
        let flags = rustix::fs::fcntl_getfl(&write)?;
        rustix::fs::fcntl_setfl(&write, flags | OFlags::NONBLOCK)?;
        let write = Arc::new(File::from(write));
        if let Ok(mut channels) = self.channels.lock() {
            channels.push(Arc::downgrade(&write));
        }
        Ok((read, write))
    }
}

/// One beat on every open channel; closed ones are forgotten.
fn beat(channels: &Mutex<Vec<Weak<File>>>) {
    let Ok(mut channels) = channels.lock() else {
        return;
    };
    channels.retain(|weak| match weak.upgrade() {
        Some(file) => {
            let _ = (&*file).write(b".");
            true
        }
        None => false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn channels_beat_until_dropped() {
        let heartbeat = Heartbeat::default();
        let (read, write) = heartbeat.channel().unwrap();
        beat(&heartbeat.channels);
        beat(&heartbeat.channels);
        drop(write);
        beat(&heartbeat.channels);
        assert!(heartbeat.channels.lock().unwrap().is_empty());
        let mut bytes = Vec::new();
        File::from(read).read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"..");
    }
}
