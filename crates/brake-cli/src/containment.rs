//! Containment: what a run does so that no process it started outlives it — the run's marker,
//! brake as a child subreaper, the run's cgroup and the guard process — and the order those
//! steps happen in.
//!
//! # Theory of operation
//!
//! Each job runs in a process group of its own, which its termination sequence signals
//! (`job.rs`, `brake::child`). Containment catches what leaves that group, and what is left
//! running when brake itself dies:
//!
//! - **The marker.** Every job inherits [`RUN_VAR`] set to the run's id, and brake is a child
//!   subreaper, so a descendant that leaves its job's group comes back to brake when orphaned,
//!   and the final sweep ends every process that carries the marker.
//! - **The run's cgroup** (`--cgroup`, where a writable cgroup v2 exists). Every job starts in
//!   it, and `cgroup.kill` ends everything inside, descendants that also cleared their
//!   environment (`setsid env -i …`) included. Where the kernel allows it (Linux 5.7 and
//!   `clone3`), each job is born inside (`CLONE_INTO_CGROUP`, see
//!   [`job_cgroup`](Containment::job_cgroup)) and brake never enters the cgroup; elsewhere
//!   brake moves itself in, so that jobs start there by inheritance, and back out before the
//!   kill. A move is slow (a multi-threaded process's
//!   migration waits for an RCU grace period), which is why it is only the fallback.
//! - **The guard** (`watchdog.rs`), a small process that holds a pipe from brake. When brake
//!   ends in any way, SIGKILL included, the pipe closes; unless brake said all is clear, the
//!   guard ends the cgroup (`cgroup.kill`, then removes it) and every marked process. With a
//!   guard, jobs need no parent-death signal.
//!
//! The ordering rules:
//!
//! 1. [`start`](Containment::start), before any job: brake becomes a subreaper; under
//!    `--resume` or `--resume-failed`, the cgroups that earlier runs of the same joblog left
//!    behind are ended (their brake is gone, and so is their guard, or it would have ended
//!    them); the run's cgroup is made; **the guard starts before brake could move into the
//!    cgroup**, so it stays outside what it kills; **then jobs are pointed at the cgroup**:
//!    born inside it by `clone3`, or, where that is refused, by brake moving in, so that std
//!    keeps spawning by vfork (joining in the child before exec would force a fork).
//! 2. [`end`](Containment::end), once every job is reaped and every termination sequence is
//!    over: the cgroup goes first, jobs no longer pointed at it, **brake moving back out (if it
//!    moved in) before `cgroup.kill`** so that it is never killed with its jobs, and the marker
//!    sweep then finds only what ran outside it; **then the guard is told all is clear** and
//!    exits without a sweep of its own.
//! 3. [`wait`](Containment::wait), last: brake waits for the guard to exit, so the guard never
//!    outlives it. A run refused before any job ran goes straight here: its cgroup is ended,
//!    brake moving out if it is in, **before the guard's pipe closes**, since a guard that saw
//!    its pipe close while brake was still inside would end brake with the cgroup.
//!
//! Dropping a [`Containment`] keeps rule 3: the cgroup is ended first, then the guard's pipe
//! closes, and the guard sweeps on its own.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use brake::child::{become_subreaper, cgroup, sweep_escaped, CgroupJoin, RunCgroup, Swept};

use crate::cli::CgroupMode;
use crate::escape::escape;
use crate::job::RUN_VAR;
use crate::watchdog::Guard;

/// What a run asks of containment, from its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wishes {
    /// `--cgroup`: whether the run's jobs go in a cgroup of its own.
    pub cgroup: CgroupMode,
    /// The joblog, whose path names the run's cgroup (see `cgroup_stem`).
    pub joblog: Option<PathBuf>,
    /// `--resume` or `--resume-failed`: end what killed runs of the same joblog left behind.
    pub end_stale: bool,
    /// `--explain`: say which way jobs are ended, and every process swept.
    pub verbose: bool,
}

/// A run's containment, from [`start`](Containment::start) to [`wait`](Containment::wait).
pub struct Containment {
    /// The marker's value: brake's pid and the start time, unique on this machine.
    run_id: String,
    verbose: bool,
    /// Declared before `guard`, so that a drop ends it before the guard's pipe closes (rule 3).
    cgroup: Option<RunCgroup>,
    guard: Option<Guard>,
}

impl Containment {
    /// Rule 1: readies containment before the first job starts. Returns the message refusing
    /// the run when `--cgroup on` cannot be met; with `--explain`, says why a run goes without a
    /// cgroup, or which one it uses.
    pub fn start(wishes: &Wishes) -> Result<Containment, String> {
        // Escaped descendants come back to brake when orphaned, for the sweep at the end.
        let _ = become_subreaper();
        let run_id = format!("{}-{}", std::process::id(), now_nanos());
        let cgroup = run_cgroup(wishes)?;
        // With a guard to end what a SIGKILLed brake leaves, jobs need no parent-death signal.
        let guard = match Guard::start(&run_id, cgroup.as_ref().map(RunCgroup::path)) {
            Ok(guard) => Some(guard),
            Err(err) => {
                say!("brake: cannot start the run's guard process ({err}); jobs get a parent-death signal instead");
                None
            }
        };
        let cgroup = enter(wishes, cgroup, guard.is_some())?;
        Ok(Containment {
            run_id,
            verbose: wishes.verbose,
            cgroup,
            guard,
        })
    }

    /// The cgroup jobs are to be born in (see [`ChildOptions::cgroup`]): the run's, where
    /// `clone3` starts children inside it; `None` without a cgroup, or when brake moved in
    /// instead and jobs start there by inheritance.
    ///
    /// [`ChildOptions::cgroup`]: brake::child::ChildOptions::cgroup
    pub fn job_cgroup(&self) -> Option<CgroupJoin> {
        self.cgroup
            .as_ref()
            .filter(|cgroup| cgroup.starts_children_inside())
            .map(RunCgroup::join)
    }

    /// The value of [`RUN_VAR`] that every job of the run carries.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether a guard ends the jobs if brake is killed (else they need a parent-death signal).
    pub fn guarded(&self) -> bool {
        self.guard.is_some()
    }

    /// Rule 2: ends what jobs left behind, once every job is reaped, and says what that was.
    pub fn end(&mut self) {
        let mut swept: Vec<Swept> = Vec::new();
        if let Some(cgroup) = self.cgroup.take() {
            match cgroup.end() {
                Ok(ended) => swept = ended,
                Err(err) => say!("brake: cannot end the run's cgroup: {err}"),
            }
        }
        let keep: Vec<u32> = self.guard.iter().map(Guard::id).collect();
        swept.extend(sweep_escaped(RUN_VAR, &self.run_id, &keep));
        if let Some(guard) = &mut self.guard {
            guard.all_clear();
        }
        if !swept.is_empty() {
            say!(
                "brake: ended {} process(es) that jobs had left running",
                swept.len()
            );
            if self.verbose {
                for one in &swept {
                    say!("brake: ended {}", ended_process(one));
                }
            }
        }
    }

    /// Rule 3: the cgroup ended if [`end`](Containment::end) did not, then the guard's exit.
    pub fn wait(mut self) {
        drop(self.cgroup.take());
        if let Some(guard) = self.guard.take() {
            guard.wait();
        }
    }
}

/// The run's cgroup, if `--cgroup` wants one and one can be made, after ending the stale ones
/// of earlier runs under `--resume`. Refuses the run when `--cgroup on` cannot be met.
fn run_cgroup(wishes: &Wishes) -> Result<Option<RunCgroup>, String> {
    if wishes.cgroup == CgroupMode::Off {
        if wishes.verbose {
            say!("{}", without_cgroup("--cgroup off"));
        }
        return Ok(None);
    }
    let stem = cgroup_stem(wishes.joblog.as_deref());
    if wishes.end_stale {
        end_stale(&stem, wishes.verbose);
    }
    match RunCgroup::create(&cgroup::run_name(&stem)) {
        Ok(cgroup) => Ok(Some(cgroup)),
        Err(err) if wishes.cgroup == CgroupMode::On => {
            Err(format!("--cgroup on: this run cannot have a cgroup: {err}"))
        }
        Err(err) => {
            if wishes.verbose {
                say!("{}", without_cgroup(&err.to_string()));
            }
            Ok(None)
        }
    }
}

/// Ends the cgroups of `stem` whose brake is gone: what SIGKILLed runs of the same joblog
/// left behind when their guard was killed too.
fn end_stale(stem: &str, verbose: bool) {
    for dir in cgroup::stale(stem) {
        match cgroup::end_at(&dir) {
            Ok(ended) => {
                if !ended.is_empty() || verbose {
                    say!(
                        "brake: ended {} process(es) an earlier run of this joblog left in {}",
                        ended.len(),
                        dir.display()
                    );
                }
                if verbose {
                    for one in &ended {
                        say!("brake: ended {}", ended_process(one));
                    }
                }
            }
            Err(err) => say!("brake: cannot end an earlier run's cgroup: {err}"),
        }
    }
}

/// Points jobs at the run's cgroup (rule 1): born inside it, or, where `clone3` cannot do that,
/// by moving brake in; if that fails too the run goes without one, or with `--cgroup on` is
/// refused. Says with `--explain` how the run ends its jobs.
fn enter(
    wishes: &Wishes,
    cgroup: Option<RunCgroup>,
    guarded: bool,
) -> Result<Option<RunCgroup>, String> {
    let Some(mut cgroup) = cgroup else {
        return Ok(None);
    };
    // Jobs born inside are pointed at it by `job_cgroup`; otherwise they start there because
    // brake is in it.
    if !cgroup.starts_children_inside() {
        if let Err(err) = cgroup.move_self_in() {
            drop(cgroup);
            if wishes.cgroup == CgroupMode::On {
                return Err(format!("--cgroup on: {err}"));
            }
            if wishes.verbose {
                say!("{}", without_cgroup(&err.to_string()));
            }
            return Ok(None);
        }
    }
    if wishes.verbose {
        let guard = if guarded {
            " (and by the guard if brake is killed)"
        } else {
            ""
        };
        say!(
            "brake: jobs run in the cgroup {}, ended with cgroup.kill at the end of the run{guard}: \
             descendants that left their process group are ended too",
            cgroup.path().display()
        );
    }
    Ok(Some(cgroup))
}

/// The `--explain` line for a run without a cgroup, saying what it cannot promise.
fn without_cgroup(why: &str) -> String {
    format!(
        "brake: no cgroup for this run ({why}); jobs are ended by process group, and \
         descendants that leave it by the {RUN_VAR} variable they inherit (found as brake's \
         orphans): one that also clears its environment (setsid env -i …) can outlive the run"
    )
}

/// The stem of the run's cgroup name: `brake-` and a hash of the joblog's canonical path, so a
/// resumed run finds the cgroups of earlier runs of the same log; `brake` without a joblog.
/// FNV-1a rather than std's hasher, whose output may change between Rust releases. The path is
/// made canonical once the joblog exists, so that a fresh log and its resume agree.
fn cgroup_stem(joblog: Option<&Path>) -> String {
    let Some(path) = joblog else {
        return "brake".to_owned();
    };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let hash = path
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("brake-{hash:016x}")
}

/// A process brake ended, for `--explain`: its command line holds a job's inputs, so it is escaped.
fn ended_process(one: &Swept) -> String {
    format!("{} (pid {})", escape(OsStr::new(&one.cmdline)), one.pid)
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_stems_name_the_joblog_file_not_its_spelling() {
        assert_eq!(cgroup_stem(None), "brake");
        let dir = std::env::temp_dir();
        let log = dir.join(format!("brake-stem-{}.log", std::process::id()));
        std::fs::write(&log, "").unwrap();
        let plain = cgroup_stem(Some(&log));
        let dotted = cgroup_stem(Some(&dir.join(".").join(log.file_name().unwrap())));
        std::fs::remove_file(&log).unwrap();
        assert_eq!(plain, dotted);
        assert!(
            plain.starts_with("brake-") && plain.len() == "brake-".len() + 16,
            "{plain}"
        );
        // FNV-1a is fixed: a resume by another build of brake finds the same cgroups.
        assert_eq!(
            cgroup_stem(Some(Path::new("/no/such/run.log"))),
            "brake-27801d35cd1be903"
        );
    }
}
