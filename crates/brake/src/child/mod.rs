//! Supervising child processes: their own process group, a parent-death signal, the termination
//! sequence, and reaping without ever signalling a recycled pid.
//!
//! # Theory of operation
//!
//! [`Child::spawn`] starts a command as the leader of a new process group (so a terminal's
//! Ctrl-C reaches brake alone, and brake decides what the job gets), armed with a parent-death
//! signal (so the job dies if brake is SIGKILLed), with its signal dispositions reset (an ignored
//! SIGINT inherited from a background shell would make the graceful first step useless), and
//! with a pidfd on it.
//!
//! [`Child::start`] does the same for a [`Program`] (a command whose every part can be read
//! back), with `clone3` where the kernel allows it: the child shares brake's memory until it
//! execs, as with vfork, so the options cost no fork, its pidfd comes with it, and with
//! [`ChildOptions::cgroup`] it is born inside the run cgroup, with no process migrated. Where
//! `clone3` is refused it takes the `std::process` path of [`Child::spawn`].
//!
//! Ending it is the [`TermSeq`](crate::TermSeq)'s work: [`Child::terminate`] sends each signal
//! to the whole group and waits between them, each wait ending the moment the leader exits;
//! when the leader is gone, whatever is left of its group gets SIGKILL. [`Child::supervise`]
//! waits for the child and runs that sequence once the [`Stop`](crate::Stop) is stopping,
//! jumping to SIGKILL when it is forced. [`terminate_all`] does the same for many children at
//! once, so the grace periods overlap instead of adding up.
//!
//! Descendants can leave the group (`setsid`, a daemon's double fork). A process that called
//! [`become_subreaper`] inherits them when their parent dies, and [`sweep_escaped`] finds them
//! by an environment marker and ends them. A child that also clears its environment
//! (`setsid env -i daemon &`) escapes both; a run cgroup ([`cgroup::RunCgroup`], cgroup v2)
//! holds every descendant whatever it does, and `cgroup.kill` ends them all.
//!
//! ```no_run
//! use brake::child::{Child, ChildOptions};
//! use brake::Stop;
//! use std::process::{Command, Stdio};
//!
//! let stop = Stop::new();
//! stop.install_signals()?;
//! let mut command = Command::new("make");
//! command.stdin(Stdio::null()); // a job in its own group must not read the terminal
//! let mut child = Child::spawn(&mut command, &ChildOptions::default())?;
//! let exit = child.supervise(&stop)?; // on Ctrl-C: INT, 2 s, TERM, 1 s, KILL to its group
//! println!("make: {exit}"); // "exit 0", or "exit 2 (after SIGINT sent by brake, …)"
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Invariants
//!
//! 1. brake signals a child's process group only while the leader is unreaped. The end of the
//!    leader is observed with `waitid(WNOWAIT)`, which leaves it a zombie: its pid, and so its
//!    group id, cannot be reused until it is reaped. Reaping is the last thing done to a child.
//! 2. Once a child is reaped (by brake, or by the caller through [`Child::std_mut`]), brake never
//!    signals it or its group again. The leader itself is only ever signalled through its pidfd,
//!    which cannot reach another process.
//! 3. Every wait polls pidfds and, when a [`Stop`](crate::Stop) is involved, an eventfd that its phase changes
//!    write to: nothing spins, and nothing sleeps past the moment that matters.
//!
//! # Threads and Linux
//!
//! Linux only (pidfds: Linux 5.4 or later). The parent-death signal fires when the *thread* that
//! spawned the child exits, not the process: spawn from a thread that lives as long as the
//! children (see [`Child::spawn`]).

#![cfg(target_os = "linux")]

pub mod cgroup;
mod core;
mod program;
mod sequence;
mod spawn;
mod sweep;
mod sys;

pub use self::core::{ignored_signals, Child, ChildOptions, EndedBy, Exit};
pub use cgroup::{CgroupJoin, RunCgroup};
pub use program::{Io, Program};
pub(crate) use sequence::terminate_all_from;
pub use sequence::{terminate_all, Termination};
pub use spawn::{clone3_enabled, NO_CLONE3_VAR};
pub use sweep::{become_subreaper, end_marked, has_marker, sweep_escaped, Swept};
