//! What the run loop sleeps on: one epoll set holding the wake-up socket, the feed's doorbell
//! while the loop wants jobs, and every running job's pidfd and pipes.
//!
//! A job's descriptors are added once, when it starts, and leave when they are closed (a pipe
//! at end of file, the pidfd when the job has ended), taken out first while a start may be
//! under way on another thread: a wait costs what is ready, not what is running. That matters
//! in a stop with 1,000 running jobs, which wakes the loop once per batch of ended jobs:
//! handing the kernel 3,000 descriptors at each wake-up would cost more than ending the jobs.
//!
//! Descriptors are registered level-triggered, so a wait reports a job until the loop has read
//! its pipes and reaped it, as it does for every job it is told about.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::Timespec;

use crate::job::Running;

/// The data of the wake-up socket's and the doorbell's events; a job's is its slot.
const WAKER: u64 = 0;
const DOORBELL: u64 = u64::MAX;

/// How long a wait may last once the set has refused a descriptor.
const DEGRADED_WAIT: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 10_000_000,
};

/// The loop's epoll set.
pub(super) struct Readiness {
    epoll: OwnedFd,
    /// Whether the doorbell is in the set.
    doorbell: bool,
    /// Whether the set refused a descriptor: then no wait is longer than [`DEGRADED_WAIT`]
    /// and each marks every job, so that nothing the set misses waits for long.
    degraded: bool,
    events: Vec<Event>,
    /// Whether the last wait saw the wake-up socket, or the doorbell, ready: each is read
    /// empty only then.
    pub(super) waker_rang: bool,
    pub(super) doorbell_rang: bool,
}

impl Readiness {
    /// A set holding `waker`, the socket that a stop's phase change writes to.
    pub(super) fn new(waker: BorrowedFd<'_>) -> io::Result<Readiness> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        epoll::add(&epoll, waker, EventData::new_u64(WAKER), EventFlags::IN)?;
        Ok(Readiness {
            epoll,
            doorbell: false,
            degraded: false,
            events: Vec::with_capacity(64),
            waker_rang: true,
            doorbell_rang: true,
        })
    }

    /// Puts the doorbell in the set, or takes it out: it is watched only while the loop wants
    /// jobs (a rung doorbell stays readable until the loop takes the jobs it announces).
    pub(super) fn watch_doorbell(&mut self, doorbell: BorrowedFd<'_>, wanted: bool) {
        if wanted == self.doorbell {
            return;
        }
        let changed = if wanted {
            epoll::add(
                &self.epoll,
                doorbell,
                EventData::new_u64(DOORBELL),
                EventFlags::IN,
            )
        } else {
            epoll::delete(&self.epoll, doorbell)
        };
        match changed {
            Ok(()) => self.doorbell = wanted,
            Err(_) => self.degraded = true,
        }
    }

    /// Adds a job that has just started. Should the kernel refuse a descriptor (no memory, or
    /// the user's limit on watched descriptors), the loop looks at every job often instead.
    pub(super) fn watch_job(&mut self, running: &Running) {
        for fd in running.fds() {
            let added = epoll::add(
                &self.epoll,
                fd,
                EventData::new_u64(running.slot as u64),
                EventFlags::IN,
            );
            if added.is_err() {
                self.degraded = true;
            }
        }
    }

    /// Takes a job's descriptors out of the set: it has ended. `copies` says whether a child
    /// between clone and exec may hold copies of them (a start under way on another thread):
    /// only then is that needed, since the set holds an open file, not a number, and would go
    /// on reporting the file, ready, until that child execs; otherwise closing is enough.
    pub(super) fn forget_job(&mut self, running: &mut Running, copies: bool) {
        if copies {
            for fd in running.fds() {
                let _ = epoll::delete(&self.epoll, fd);
            }
        }
        self.forget_spent(running, copies);
    }

    /// Takes a job's pipes that reached end of file out of the set (see `forget_job`), and
    /// closes them.
    pub(super) fn forget_spent(&mut self, running: &mut Running, copies: bool) {
        for pipe in running.take_spent() {
            if copies {
                let _ = epoll::delete(&self.epoll, std::os::fd::AsFd::as_fd(&pipe));
            }
        }
    }

    /// Waits until something in the set is ready or `timeout` passes (`None`: no limit), and
    /// marks the slots of the jobs that are ready in `touched` (index `slot - 1`). A signal
    /// ends the wait with nothing marked.
    pub(super) fn wait(&mut self, timeout: Option<&Timespec>, touched: &mut [bool]) {
        self.events.clear();
        self.waker_rang = false;
        self.doorbell_rang = false;
        let timeout = match timeout {
            Some(timeout) if !self.degraded || *timeout < DEGRADED_WAIT => Some(timeout),
            _ if self.degraded => Some(&DEGRADED_WAIT),
            _ => None,
        };
        if self.degraded {
            touched.fill(true);
            self.waker_rang = true;
            self.doorbell_rang = true;
        }
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut self.events),
            timeout,
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return,
            // The set is unusable: look at every job and socket, as if each were ready.
            Err(_) => {
                touched.fill(true);
                self.waker_rang = true;
                self.doorbell_rang = true;
                return;
            }
        }
        for event in &self.events {
            let data = event.data.u64();
            if data == WAKER {
                self.waker_rang = true;
                continue;
            }
            if data == DOORBELL {
                self.doorbell_rang = true;
                continue;
            }
            // A descriptor of a job that ended may still report, once, for a slot now empty
            // or taken by another job: the loop then finds nothing to do there.
            if let Some(slot) = touched.get_mut(data as usize - 1) {
                *slot = true;
            }
        }
        // A full buffer may have left events out: they are reported again by the next wait,
        // being level-triggered, but a larger buffer spares that wait.
        if self.events.len() == self.events.capacity() {
            self.events.reserve(self.events.capacity());
        }
    }
}
