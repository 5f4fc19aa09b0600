//! Run cgroups (cgroup v2): one cgroup per run that every job starts in, so that a single
//! `cgroup.kill` ends the whole run — including descendants that left their process group
//! *and* dropped the run's environment marker (`setsid env -i daemon &`), which neither a
//! process-group kill nor [`sweep_escaped`](super::sweep_escaped) can find.
//!
//! # Where a run cgroup lives
//!
//! It is a child of the cgroup this process is in: the `0::` line of `/proc/self/cgroup`,
//! under the cgroup2 mount found in `/proc/self/mountinfo` (`/sys/fs/cgroup` on a pure-v2
//! machine, `/sys/fs/cgroup/unified` on a hybrid one). No controller is enabled and nothing
//! outside the new directory is written, so it fits inside a delegated systemd scope as well as
//! under root. Creating it needs write access there; where there is none (a v1-only machine, an
//! unprivileged user without delegation, a read-only mount) [`RunCgroup::create`] fails with
//! the reason, and callers fall back to process groups, the subreaper and the marker.
//!
//! # Joining
//!
//! Three ways, at different costs (the `brake` command's README compares them):
//!
//! - [`ChildOptions::cgroup`](super::ChildOptions::cgroup) with
//!   [`Child::start`](super::Child::start), where [`RunCgroup::starts_children_inside`]: the
//!   child is created inside with `clone3(CLONE_INTO_CGROUP)` (Linux 5.7), nothing migrates,
//!   and the parent does not fork. [`RunCgroup::create`] tries it once.
//! - [`ChildOptions::cgroup`](super::ChildOptions::cgroup) otherwise: the child writes `0` to
//!   the run's `cgroup.procs`, opened beforehand by the parent, between fork and exec. A
//!   `write` is async-signal-safe, but any pre-exec step makes std fork instead of using
//!   `posix_spawn` (a vfork), which costs per spawn, and each child migrates.
//! - [`RunCgroup::move_self_in`]: this process moves in, so every child it spawns from then on
//!   starts there, whatever way std spawns it. Such a process must not be killed with its
//!   jobs: [`RunCgroup::end`] moves it back out before anything is killed.
//!
//! # Names and stale cgroups
//!
//! [`run_name`] names a run cgroup `<stem>-<pid>-<start time>`, the start time being the one
//! `/proc/<pid>/stat` gives (clock ticks since boot). [`stale`] lists the cgroups of a stem
//! whose creator is gone, which a recycled pid cannot fake: its start time differs.
//!
//! # Ending
//!
//! [`RunCgroup::end`] (or [`end_at`] for a cgroup found on disk) lists what is inside, writes
//! `1` to `cgroup.kill` (kernels from 5.14; before that each process is SIGKILLed through a
//! pidfd, and the list read again until it is empty), waits until `cgroup.events` says
//! `populated 0`, reaps the ended processes that are this process's children, and removes the
//! directory and any cgroups jobs created below it. Dropping a [`RunCgroup`] does the same.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::sweep::Swept;
use super::sys;

/// How long ending a cgroup may wait for it to empty before it reports the failure.
const END_LIMIT: Duration = Duration::from_secs(5);

/// How often a wait for an empty cgroup looks again when no change notification comes.
const EMPTY_POLL: Duration = Duration::from_millis(20);

/// The cgroup v2 directory this process is in, if a cgroup2 file system is mounted and shows it.
///
/// Says nothing about write access: [`RunCgroup::create`] finds that out.
pub fn own_dir() -> io::Result<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let own = fs::read_to_string("/proc/self/cgroup")?;
    let path = own
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| {
            unavailable("this process has no cgroup v2 path (no 0:: line in /proc/self/cgroup)")
        })?;
    if path.ends_with(" (deleted)") {
        return Err(unavailable("this process's cgroup v2 was removed"));
    }
    let mut mounted = false;
    for (root, point) in mountinfo.lines().filter_map(cgroup2_mount) {
        mounted = true;
        let relative = if root == "/" {
            Some(path.trim_start_matches('/'))
        } else {
            path.strip_prefix(root.as_str())
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .map(|rest| rest.trim_start_matches('/'))
        };
        if let Some(relative) = relative {
            return Ok(point.join(relative));
        }
    }
    Err(unavailable(if mounted {
        "this process's cgroup v2 lies outside every cgroup2 mount"
    } else {
        "no cgroup2 file system is mounted"
    }))
}

/// The root and mount point of a mountinfo line if it is a cgroup2 mount.
fn cgroup2_mount(line: &str) -> Option<(String, PathBuf)> {
    let (left, right) = line.split_once(" - ")?;
    if right.split_whitespace().next()? != "cgroup2" {
        return None;
    }
    let mut fields = left.split_whitespace().skip(3);
    let root = unescape(fields.next()?);
    let point = unescape(fields.next()?);
    Some((root, PathBuf::from(point)))
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unavailable(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, why.to_owned())
}

/// `err` with what was being done in front, keeping its kind.
fn context(err: io::Error, doing: impl fmt::Display) -> io::Error {
    io::Error::new(err.kind(), format!("{doing}: {err}"))
}

/// A name for a run cgroup of this process: `<stem>-<pid>-<start time>` (see [`stale`]).
pub fn run_name(stem: &str) -> String {
    let pid = std::process::id();
    format!("{stem}-{pid}-{}", start_time(pid).unwrap_or(0))
}

/// The run cgroups named `<stem>-<pid>-<start time>` next to where this process would create
/// its own, whose creating process is gone: no process `pid` runs, or one with another start
/// time does (the pid was recycled). Empty when there is no cgroup v2 to look in.
pub fn stale(stem: &str) -> Vec<PathBuf> {
    let Ok(parent) = own_dir() else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(&parent) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|entry| {
            let name = entry.file_name();
            let Some((name_stem, pid, start)) = name.to_str().and_then(split_name) else {
                return false;
            };
            name_stem == stem && !alive(pid, start)
        })
        .map(|entry| entry.path())
        .collect()
}

/// `<stem>-<pid>-<start>` split into its three parts.
fn split_name(name: &str) -> Option<(&str, u32, u64)> {
    let mut parts = name.rsplitn(3, '-');
    let start = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    Some((parts.next()?, pid, start))
}

/// Whether the process that named a cgroup (`pid`, started at `start`) still runs. A zombie
/// does not: it can end nothing any more. A start of 0 (unknown when the name was made)
/// trusts the pid alone, erring on the side of "alive".
fn alive(pid: u32, start: u64) -> bool {
    let Some((state, now)) = state_and_start(pid) else {
        return false;
    };
    !matches!(state, 'Z' | 'X') && (start == 0 || now == start)
}

/// Fields 3 and 22 of `/proc/<pid>/stat`: the state, and when the process started (clock ticks
/// since boot).
fn state_and_start(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may itself hold ") ") start at field 3.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

fn start_time(pid: u32) -> Option<u64> {
    state_and_start(pid).map(|(_, start)| start)
}

/// A handle that makes children join a run cgroup (see [`ChildOptions::cgroup`]): the run
/// cgroup's `cgroup.procs`, open for writing. Cheap to clone; dropping it closes nothing the
/// [`RunCgroup`] still holds. A stop does nothing to it. Once its cgroup has been ended, a
/// child spawned with it fails to start (the kernel refuses to move it into a removed cgroup)
/// rather than run where nothing would end it.
///
/// [`ChildOptions::cgroup`]: super::ChildOptions::cgroup
#[derive(Clone)]
pub struct CgroupJoin {
    procs: Arc<OwnedFd>,
    /// The directory itself, for `CLONE_INTO_CGROUP`.
    dir_fd: Arc<OwnedFd>,
    dir: Arc<PathBuf>,
}

impl CgroupJoin {
    /// The cgroup's directory, open, which `clone3` starts a child in.
    pub(super) fn dir_fd(&self) -> RawFd {
        self.dir_fd.as_raw_fd()
    }

    /// The descriptor a child writes `0` to before exec.
    pub(super) fn raw_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// Keeps the descriptor open as long as a command holding the pre-exec step lives.
    pub(super) fn keep(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.procs)
    }
}

impl fmt::Debug for CgroupJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CgroupJoin").field(&self.dir).finish()
    }
}

/// Writes `0` to an open `cgroup.procs`, which moves the writing process into that cgroup.
///
/// Runs between fork and exec: one `write(2)` on a descriptor the parent opened, nothing
/// allocated. An `io::Error` from a raw OS error is a plain integer.
pub(super) fn join_in_child(procs: RawFd) -> io::Result<()> {
    // SAFETY: write(2) is async-signal-safe; the buffer is a static one-byte string and the
    // descriptor stays open in the child (close-on-exec closes it only at exec).
    let written = unsafe { libc::write(procs, b"0".as_ptr().cast(), 1) };
    if written == 1 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A cgroup of one run's own, created by [`create`](RunCgroup::create).
///
/// **Dropping** it ends it: this process moves back out if it had moved in, everything inside
/// is killed, and the directory is removed (see [`end`](RunCgroup::end), which also says what
/// it killed). **A stop** does nothing to it by itself: the caller ends it once its termination
/// sequences are over, so that they keep their grace periods.
#[derive(Debug)]
pub struct RunCgroup {
    dir: PathBuf,
    join: CgroupJoin,
    /// The cgroup this process left for the run one (`move_self_in`), to go back to.
    home: Option<PathBuf>,
    /// Whether `clone3` starts children inside (see [`RunCgroup::starts_children_inside`]).
    direct: bool,
    ended: bool,
}

impl RunCgroup {
    /// Creates the cgroup `name` (see [`run_name`]) below this process's own, and checks that
    /// a process can be started inside it (`clone3`) or join it (a short-lived forked child
    /// does, and exits).
    ///
    /// Fails with the reason when there is no cgroup v2, no write access, or joining is
    /// refused (a threaded cgroup, delegation rules); nothing is left behind then.
    pub fn create(name: &str) -> io::Result<RunCgroup> {
        if name.is_empty()
            || name.contains('/')
            || name.starts_with('.')
            || name.starts_with("cgroup.")
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a name for a cgroup of its own"),
            ));
        }
        let dir = own_dir()?.join(name);
        fs::create_dir(&dir)
            .map_err(|err| context(err, format!("cannot create {}", dir.display())))?;
        let opened = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join("cgroup.procs"));
        let procs = match opened {
            Ok(file) => OwnedFd::from(file),
            Err(err) => {
                let _ = fs::remove_dir(&dir);
                return Err(context(
                    err,
                    format!("cannot open {}/cgroup.procs", dir.display()),
                ));
            }
        };
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
            .open(&dir);
        let dir_fd = match opened {
            Ok(file) => OwnedFd::from(file),
            Err(err) => {
                let _ = fs::remove_dir(&dir);
                return Err(context(err, format!("cannot open {}", dir.display())));
            }
        };
        let mut cgroup = RunCgroup {
            join: CgroupJoin {
                procs: Arc::new(procs),
                dir_fd: Arc::new(dir_fd),
                dir: Arc::new(dir.clone()),
            },
            dir,
            home: None,
            direct: false,
            ended: false,
        };
        cgroup.direct = super::spawn::probe_into(cgroup.join.dir_fd()).is_ok();
        if cgroup.direct {
            return Ok(cgroup);
        }
        if let Err(err) = probe_join(cgroup.join.raw_fd()) {
            let path = cgroup.dir.display().to_string();
            drop(cgroup); // empty: removed at once
            return Err(context(err, format!("cannot move a process into {path}")));
        }
        Ok(cgroup)
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// What [`ChildOptions::cgroup`](super::ChildOptions::cgroup) takes to start children in
    /// this cgroup.
    pub fn join(&self) -> CgroupJoin {
        self.join.clone()
    }

    /// Whether [`Child::start`](super::Child::start), given [`join`](RunCgroup::join) in
    /// [`ChildOptions::cgroup`](super::ChildOptions::cgroup), starts children directly inside
    /// with `clone3(CLONE_INTO_CGROUP)` (Linux 5.7 or later, no filter refusing it, not turned
    /// off with [`NO_CLONE3_VAR`](super::NO_CLONE3_VAR)): then neither this process nor a
    /// child migrates. Otherwise children join before `exec` (a fork each), or this process
    /// moves in ([`move_self_in`](RunCgroup::move_self_in)).
    pub fn starts_children_inside(&self) -> bool {
        self.direct && super::spawn::into_cgroup_enabled()
    }

    /// Moves this whole process (every thread) into the cgroup: children spawned from now on
    /// start in it, however they are spawned. [`end`](RunCgroup::end) moves it back out
    /// before killing anything. Children spawned earlier stay where they are.
    pub fn move_self_in(&mut self) -> io::Result<()> {
        if self.home.is_some() {
            return Ok(());
        }
        let home = own_dir()?;
        rustix::io::write(&*self.join.procs, b"0").map_err(|err| {
            context(
                err.into(),
                format!("cannot move into {}", self.dir.display()),
            )
        })?;
        self.home = Some(home);
        Ok(())
    }

    /// Moves this process back to the cgroup it left in [`move_self_in`](RunCgroup::move_self_in);
    /// nothing to do if it never moved in.
    pub fn move_self_out(&mut self) -> io::Result<()> {
        let Some(home) = &self.home else {
            return Ok(());
        };
        let procs = home.join("cgroup.procs");
        OpenOptions::new()
            .write(true)
            .open(&procs)
            .and_then(|mut file| file.write_all(b"0"))
            .map_err(|err| context(err, format!("cannot move back to {}", home.display())))?;
        self.home = None;
        Ok(())
    }

    /// Whether a live process is in the cgroup or below it (`populated 1` in `cgroup.events`).
    pub fn is_populated(&self) -> bool {
        populated(&self.dir).unwrap_or(false)
    }

    /// Ends the cgroup: moves this process out if it is in, kills everything inside, waits
    /// until it is empty, reaps those of the ended that are this process's children, and
    /// removes the directory (and cgroups created below it). Returns what was killed.
    ///
    /// Fails when this process cannot move out (nothing is killed then, not to kill itself),
    /// or the cgroup is still populated after 5 s, or the directory cannot be removed.
    pub fn end(mut self) -> io::Result<Vec<Swept>> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<Vec<Swept>> {
        if self.ended {
            return Ok(Vec::new());
        }
        self.move_self_out()?;
        self.ended = true;
        end_at(&self.dir)
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Starts a child that joins through `procs` before it execs `true`, to learn whether joining
/// works before any real child depends on it; returns the join's error if it could not.
///
/// Through std's `pre_exec`, the one place this crate forks a threaded process: the hook only
/// makes a `write(2)`. Where no `true` program exists (a minimal container), there is nothing
/// to probe with, and joining is left to fail, clearly, at the first real start.
fn probe_join(procs: RawFd) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    let Some(program) = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|path| Path::new(path).is_file())
    else {
        return Ok(());
    };
    let mut command = Command::new(program);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the hook runs in the forked child before exec and only calls `join_in_child`,
    // one async-signal-safe `write(2)`; it allocates nothing and takes no lock. Its error is
    // what `spawn` returns.
    unsafe {
        command.pre_exec(move || join_in_child(procs));
    }
    let mut child = command.spawn()?;
    // The join is done once `spawn` returned; what `true` does after is of no interest, but
    // it is reaped rather than left a zombie.
    let _ = child.wait();
    Ok(())
}

/// `populated` from a cgroup's `cgroup.events`: whether a live process is in it or below.
fn populated(dir: &Path) -> io::Result<bool> {
    let events = fs::read_to_string(dir.join("cgroup.events"))?;
    Ok(events
        .lines()
        .any(|line| line.split_whitespace().eq(["populated", "1"])))
}

/// The processes in the cgroup at `dir` and every cgroup below it.
fn members(dir: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect();
    for child in subdirs(dir) {
        pids.extend(members(&child));
    }
    pids
}

/// The cgroups directly below `dir`.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether process `pid` is now in the cgroup whose `/proc` path is `mount_relative`, or below it, by `/proc/<pid>/cgroup`.
fn is_inside(pid: u32, mount_relative: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|text| {
        text.lines()
            .filter_map(|l| l.strip_prefix("0::"))
            .any(|path| {
                path == mount_relative
                    || path
                        .strip_prefix(mount_relative)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    })
}

/// The cgroup path `/proc/<pid>/cgroup` would show for `dir`, relative to the cgroup2
/// namespace: `dir` with our own cgroup's directory replaced by our own cgroup's path.
fn proc_path_of(dir: &Path) -> Option<String> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own_path = own
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?
        .to_owned();
    let own_dir = own_dir().ok()?;
    // `dir` may be this process's own run cgroup, which it may be inside right now: then
    // `own_dir` is `dir` itself.
    let mut base = own_dir.clone();
    let mut base_path = own_path;
    while !dir.starts_with(&base) {
        base = base.parent()?.to_path_buf();
        base_path = match base_path.rfind('/') {
            Some(0) | None => "/".to_owned(),
            Some(cut) => base_path[..cut].to_owned(),
        };
    }
    let rest = dir.strip_prefix(&base).ok()?.to_str()?;
    Some(if rest.is_empty() {
        base_path
    } else if base_path == "/" {
        format!("/{rest}")
    } else {
        format!("{base_path}/{rest}")
    })
}

/// Ends the cgroup at `dir`, wherever it came from (this process's [`RunCgroup`], or one a
/// killed run left, found by [`stale`]): kills everything in it and below it, waits until it is
/// empty, reaps those of the ended that are this process's children, and removes it and the
/// cgroups below it. Returns what was killed (read just before the kill).
///
/// This process must not be inside: it would be killed too. If it is, it is spared and the
/// others are killed one by one, and the directory stays (it cannot be removed while
/// populated), which is reported as an error.
pub fn end_at(dir: &Path) -> io::Result<Vec<Swept>> {
    // The common end: every process that was inside is gone. An unpopulated cgroup stays
    // empty (only a process inside could add one), so there is nothing to kill or wait for;
    // with cgroups below it the removal fails, and the full end below handles them.
    if matches!(populated(dir), Ok(false)) && fs::remove_dir(dir).is_ok() {
        return Ok(Vec::new());
    }
    let me = std::process::id();
    let relative = proc_path_of(dir);
    let mut ended: Vec<(Swept, Option<OwnedFd>)> = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    let limit = Instant::now() + END_LIMIT;
    let kill_file = dir.join("cgroup.kill");
    loop {
        let pids = members(dir);
        let inside_me = pids.contains(&me);
        let fresh: Vec<u32> = pids
            .into_iter()
            .filter(|pid| *pid != me && !seen.contains(pid))
            .collect();
        for &pid in &fresh {
            seen.push(pid);
            // Opened before the kill, so the process is pinned: its pid cannot be reused while
            // we hold the pidfd, and a child of ours can be reaped through it afterwards.
            let pidfd = sys::pidfd_open(pid).ok();
            ended.push((
                Swept {
                    pid,
                    cmdline: super::sweep::cmdline(pid),
                },
                pidfd,
            ));
        }
        let killed_by_file = !inside_me
            && OpenOptions::new()
                .write(true)
                .open(&kill_file)
                .and_then(|mut file| file.write_all(b"1"))
                .is_ok();
        if !killed_by_file {
            // Before cgroup.kill (Linux 5.14), or with this process inside: one by one,
            // through the pinned pidfds, each checked to be still inside.
            for (one, pidfd) in &ended {
                let Some(pidfd) = pidfd else { continue };
                let inside = relative
                    .as_deref()
                    .is_some_and(|rel| is_inside(one.pid, rel));
                if inside {
                    let _ = sys::pidfd_signal(pidfd.as_fd(), libc::SIGKILL);
                }
            }
        }
        let empty = wait_empty(dir, (Instant::now() + EMPTY_POLL).min(limit), me)?;
        if empty || Instant::now() >= limit {
            break;
        }
    }
    for (_, pidfd) in &ended {
        if let Some(pidfd) = pidfd {
            let _ = sys::wait_readable(&[pidfd.as_fd()], Some(limit));
            let _ = sys::reap_pidfd(pidfd.as_fd());
        }
    }
    let swept: Vec<Swept> = ended.into_iter().map(|(one, _)| one).collect();
    let mut left = members(dir);
    if left.contains(&me) {
        return Err(io::Error::other(format!(
            "this process is inside {}: the others were ended, the cgroup stays",
            dir.display()
        )));
    }
    left.retain(|pid| *pid != me);
    if !left.is_empty() {
        return Err(io::Error::other(format!(
            "{} still holds {} process(es) after {END_LIMIT:?}",
            dir.display(),
            left.len()
        )));
    }
    remove_tree(dir)?;
    Ok(swept)
}

/// Waits until the cgroup at `dir` holds no live process other than `me`, or `until` passes;
/// returns whether it is empty. Sleeps in `poll` on `cgroup.events`, which the kernel marks
/// with POLLPRI when `populated` changes.
fn wait_empty(dir: &Path, until: Instant, me: u32) -> io::Result<bool> {
    // Another process may end the same cgroup at the same time (a resumed run and a killed
    // run's guard): one that is already gone is empty.
    let gone = |err: &io::Error| err.kind() == io::ErrorKind::NotFound;
    let events = match fs::File::open(dir.join("cgroup.events")) {
        Ok(events) => events,
        Err(err) if gone(&err) => return Ok(true),
        Err(err) => {
            return Err(context(
                err,
                format!("cannot read {}/cgroup.events", dir.display()),
            ))
        }
    };
    loop {
        let populated = match populated(dir) {
            Ok(populated) => populated,
            Err(err) if gone(&err) => return Ok(true),
            Err(err) => return Err(err),
        };
        // A process whose threads have all exited leaves `cgroup.procs` a moment before it
        // leaves the cgroup, and the cgroup cannot be removed until it has: `populated` is
        // what counts. With this process inside, `populated` never drops, and the list is all
        // there is (the cgroup stays anyway).
        let members = members(dir);
        let empty = if members.contains(&me) {
            members.iter().all(|pid| *pid == me)
        } else {
            !populated
        };
        if empty {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        let left = until - now;
        let timeout = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&events, PollFlags::PRI)];
        let _ = poll(&mut fds, Some(&timeout));
    }
}

/// Removes the cgroup at `dir` and the (empty) cgroups below it, deepest first.
fn remove_tree(dir: &Path) -> io::Result<()> {
    for child in subdirs(dir) {
        remove_tree(&child)?;
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(context(err, format!("cannot remove {}", dir.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup2_mounts_are_recognised_and_unescaped() {
        let hybrid = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(("/".into(), PathBuf::from("/sys/fs/cgroup/unified")))
        );
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";
        assert_eq!(cgroup2_mount(v1), None);
        let spaced = "50 1 0:40 /a\\040b /mnt/c\\040g rw shared:5 - cgroup2 none rw";
        assert_eq!(
            cgroup2_mount(spaced),
            Some(("/a b".into(), PathBuf::from("/mnt/c g")))
        );
    }

    #[test]
    fn proc_paths_of_cgroup_directories_follow_our_own() {
        let (Ok(dir), Ok(own)) = (own_dir(), fs::read_to_string("/proc/self/cgroup")) else {
            return; // no cgroup v2 here
        };
        let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        assert_eq!(proc_path_of(&dir).as_deref(), Some(own));
        let below = if own == "/" {
            "/run-x".to_owned()
        } else {
            format!("{own}/run-x")
        };
        assert_eq!(proc_path_of(&dir.join("run-x")), Some(below));
    }

    #[test]
    fn run_names_split_back_into_stem_pid_and_start() {
        assert_eq!(
            split_name("brake-ab12-77-9000"),
            Some(("brake-ab12", 77, 9000))
        );
        assert_eq!(split_name("brake-77-9000"), Some(("brake", 77, 9000)));
        assert_eq!(split_name("brake-x-9000"), None);
        let name = run_name("stem");
        let (stem, pid, start) = split_name(&name).unwrap();
        assert_eq!((stem, pid), ("stem", std::process::id()));
        assert!(alive(pid, start), "this process is alive");
        assert!(
            !alive(pid, start + 1),
            "another start time is another process"
        );
    }
}
