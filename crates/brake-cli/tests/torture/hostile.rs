//! Hostile files around a run: a joblog planted by another user in a directory everyone can
//! write to (a symbolic link to one of your files, a dangling link, their own file, a hard
//! link, a FIFO), and `--json`'s temporary file pre-planted under every name it could take.
//!
//! brake refuses such a joblog before any job runs (exit 255, one line naming the path and
//! what to do, nothing written anywhere), follows a link you made in your own directory, and
//! never writes `--json` through a planted link. "Another user" is uid 65534 (nobody): files
//! are given to it with `chown`, which needs root; as another user those cases are skipped.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use brake_testkit::torture::Tally;

use crate::support::{read_joblog, run_in};

/// The other user.
const NOBODY: u32 = 65534;

/// What a victim's file holds before, and must hold after.
const PRECIOUS: &str = "precious\n";

/// A run's directories: `private` (0700, holds the victim's files), `shared` (0777),
/// `sticky` (1777, like /tmp) and `theirs` (0755, owned by the other user when possible).
struct Dirs {
    _root: tempfile::TempDir,
    private: PathBuf,
    shared: PathBuf,
    sticky: PathBuf,
    theirs: PathBuf,
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let make = |name: &str, mode: u32| {
        let dir = root.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        dir
    };
    let dirs = Dirs {
        private: make("private", 0o700),
        shared: make("shared", 0o777),
        sticky: make("sticky", 0o1777),
        theirs: make("theirs", 0o755),
        _root: root,
    };
    if is_root() {
        std::os::unix::fs::chown(&dirs.theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    dirs
}

/// A refusal: exit 255, one line on stderr naming the path, no job run.
fn check_refused(case: &str, out: &Output, path: &Path, ran: &Path) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if out.status.code() != Some(255) {
        return Some(format!(
            "{case}: exit {:?}, not 255; stderr {stderr:?}",
            out.status
        ));
    }
    if lines.len() != 1 || !lines[0].contains(&path.display().to_string()) {
        return Some(format!(
            "{case}: not one line naming {}: {stderr:?}",
            path.display()
        ));
    }
    if !lines[0].contains("directory of your own") && !lines[0].contains("give --joblog a file") {
        return Some(format!(
            "{case}: the message does not say what to do: {stderr:?}"
        ));
    }
    if ran.exists() {
        return Some(format!("{case}: a job ran although the joblog was refused"));
    }
    None
}

/// The victim's file, unchanged.
fn check_victim(case: &str, victim: &Path) -> Option<String> {
    match fs::read_to_string(victim) {
        Ok(text) if text == PRECIOUS => None,
        other => Some(format!("{case}: {} changed: {other:?}", victim.display())),
    }
}

/// A planted joblog, how to plant it, and whether it needs root.
struct Plant {
    name: &'static str,
    needs_root: bool,
    /// Plants, and returns the joblog's path.
    plant: fn(&Dirs, &Path) -> PathBuf,
}

fn lchown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

const PLANTS: &[Plant] = &[
    Plant {
        name: "a link to the victim's file in a world-writable directory",
        needs_root: false,
        plant: |dirs, victim| link(victim, dirs.shared.join("run.log"), false),
    },
    Plant {
        name: "another user's link to the victim's file in a sticky directory",
        needs_root: true,
        plant: |dirs, victim| link(victim, dirs.sticky.join("run.log"), true),
    },
    Plant {
        name: "a dangling link to a file the victim does not have yet",
        needs_root: false,
        plant: |dirs, _| {
            link(
                &dirs.private.join("new.txt"),
                dirs.shared.join("run.log"),
                false,
            )
        },
    },
    Plant {
        name: "another user's file in a world-writable directory",
        needs_root: true,
        plant: |dirs, _| theirs(dirs.shared.join("run.log")),
    },
    Plant {
        name: "another user's file in a sticky directory",
        needs_root: true,
        plant: |dirs, _| theirs(dirs.sticky.join("run.log")),
    },
    Plant {
        name: "another user's file in their own directory",
        needs_root: true,
        plant: |dirs, _| theirs(dirs.theirs.join("run.log")),
    },
    Plant {
        name: "a hard link to the victim's file in a world-writable directory",
        needs_root: false,
        plant: |dirs, victim| {
            let link = dirs.shared.join("run.log");
            fs::hard_link(victim, &link).unwrap();
            link
        },
    },
    Plant {
        name: "a FIFO in a world-writable directory",
        needs_root: false,
        plant: |dirs, _| mkfifo(dirs.shared.join("run.log")),
    },
    Plant {
        name: "a FIFO in the user's own directory",
        needs_root: false,
        plant: |dirs, _| mkfifo(dirs.private.join("run.log")),
    },
    Plant {
        name: "a link to the victim's directory in a world-writable directory",
        needs_root: false,
        plant: |dirs, _| link(&dirs.private, dirs.shared.join("work"), false).join("run.log"),
    },
    Plant {
        name: "another user's link to the victim's directory in a sticky directory",
        needs_root: true,
        plant: |dirs, _| {
            let link = link(&dirs.private, dirs.sticky.join("work"), true);
            link.join("..").join("sticky").join("work").join("run.log")
        },
    },
];

/// A symbolic link at `at` to `target`, the other user's if `theirs`.
fn link(target: &Path, at: PathBuf, theirs: bool) -> PathBuf {
    symlink(target, &at).unwrap();
    if theirs {
        lchown_nobody(&at);
    }
    at
}

/// A file of the other user's at `at`.
fn theirs(at: PathBuf) -> PathBuf {
    fs::write(&at, PRECIOUS).unwrap();
    lchown_nobody(&at);
    at
}

fn mkfifo(path: PathBuf) -> PathBuf {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &path,
        rustix::fs::Mode::from_raw_mode(0o666),
    )
    .unwrap();
    path
}

/// Planted joblogs, fresh and resumed: each is refused before any job runs, the victim's files
/// stay as they were (and a dangling link's target is not created), and the plant is left
/// alone. A link the user made in their own directory is followed, and a joblog brake creates
/// in a shared directory works, resume included.
#[test]
fn torture_hostile_joblog() {
    let mut tally = Tally::new("hostile-cli");
    let mut failures = Vec::new();
    for plant in PLANTS {
        if plant.needs_root && !is_root() {
            println!(
                "skipped (needs root to make another user's file): {}",
                plant.name
            );
            continue;
        }
        for mode in [None, Some("--resume"), Some("--resume-failed")] {
            let dirs = dirs();
            let victim = dirs.private.join("victim.txt");
            fs::write(&victim, PRECIOUS).unwrap();
            let log = (plant.plant)(&dirs, &victim);
            let state = |path: &Path| {
                path.symlink_metadata()
                    .ok()
                    .map(|m| (m.ino(), m.len(), m.uid()))
            };
            let before = state(&log);
            let ran = dirs.private.join("ran-a");
            let mut args = vec!["--joblog".to_owned(), log.display().to_string()];
            args.extend(mode.map(str::to_owned));
            args.extend([
                "touch".into(),
                format!("{}/ran-{{}}", dirs.private.display()),
            ]);
            args.extend([":::".into(), "a".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run_in(&dirs.private, &args);
            tally.trials += 1;
            tally.bad_inputs += 1;
            if String::from_utf8_lossy(&out.stderr).contains("panicked") {
                tally.panics += 1;
            }
            let case = format!("{} ({})", plant.name, mode.unwrap_or("fresh"));
            let after = state(&log);
            failures.extend(
                [
                    check_refused(&case, &out, &log, &ran),
                    check_victim(&case, &victim),
                    dirs.private
                        .join("new.txt")
                        .exists()
                        .then(|| format!("{case}: the dangling link's target was created")),
                    (after != before).then(|| format!("{case}: the planted file was changed")),
                    (dirs.private.join("run.log").exists()
                        && !plant.name.contains("own directory"))
                    .then(|| format!("{case}: a joblog was made in the victim's directory")),
                ]
                .into_iter()
                .flatten(),
            );
        }
    }

    // The user's own link, in the user's own directory: followed, as any program would.
    let dirs = dirs();
    let real = dirs.private.join("real.log");
    symlink(&real, dirs.private.join("link.log")).unwrap();
    for mode in [None, Some("--resume")] {
        let mut args = vec!["--joblog", "link.log"];
        args.extend(mode);
        args.extend(["true", ":::", "a"]);
        let out = run_in(&dirs.private, &args);
        tally.trials += 1;
        if !out.status.success() {
            failures.push(format!("own link ({mode:?}): {out:?}"));
        }
    }
    match read_joblog(&real) {
        Ok(Some(log)) if log.header && log.torn.is_none() && log.jobs.len() == 1 => {}
        other => failures.push(format!("own link: the target is not the joblog: {other:?}")),
    }

    // A joblog brake creates itself in a world-writable directory is its own: it works, and
    // so does resuming it.
    for (dir, name) in [(&dirs.shared, "shared"), (&dirs.sticky, "sticky")] {
        let log = dir.join("mine.log");
        for mode in [None, Some("--resume")] {
            let log = log.display().to_string();
            let mut args = vec!["--joblog", log.as_str()];
            args.extend(mode);
            args.extend(["true", ":::", "a", "b"]);
            let out = run_in(&dirs.private, &args);
            tally.trials += 1;
            if !out.status.success() {
                failures.push(format!(
                    "a fresh joblog in the {name} directory ({mode:?}): {out:?}"
                ));
            }
        }
        match read_joblog(&log) {
            Ok(Some(log)) if log.header && log.torn.is_none() && log.jobs.len() == 2 => {}
            other => failures.push(format!(
                "a fresh joblog in the {name} directory: {other:?}, not a header and 2 lines"
            )),
        }
    }

    tally.finish_with(&failures);
}

/// `--json` in a world-writable directory where every temporary name it might pick (and the
/// destination itself) is a planted link to the victim's file: the victim is untouched, the
/// destination becomes the summary, and no temporary file is left.
#[test]
fn torture_hostile_json() {
    let mut tally = Tally::new("hostile-cli");
    let mut failures = Vec::new();
    for round in 0..3 {
        let dirs = dirs();
        let victim = dirs.private.join("victim.txt");
        fs::write(&victim, PRECIOUS).unwrap();
        let dest = dirs.shared.join("summary.json");
        symlink(&victim, &dest).unwrap();
        // The pids the next processes will get: a name made from brake's pid is among them.
        let last: u32 = fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        for pid in last + 1..last + 400 {
            let _ = symlink(
                &victim,
                dirs.shared.join(format!(".summary.json.{pid}.tmp")),
            );
        }
        let planted = fs::read_dir(&dirs.shared).unwrap().count();
        let dest_text = dest.display().to_string();
        let out = run_in(&dirs.private, ["--json", &dest_text, "true", ":::", "a"]);
        tally.trials += 1;
        tally.bad_inputs += 1;
        if String::from_utf8_lossy(&out.stderr).contains("panicked") {
            tally.panics += 1;
        }
        let case = format!("--json round {round}");
        failures.extend(check_victim(&case, &victim));
        if !out.status.success() {
            failures.push(format!("{case}: {out:?}"));
        }
        match dest.symlink_metadata() {
            Ok(meta) if meta.file_type().is_file() => {
                let text = fs::read_to_string(&dest).unwrap();
                if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                    failures.push(format!("{case}: the summary is not JSON: {text:?}"));
                }
            }
            other => failures.push(format!("{case}: the destination is {other:?}")),
        }
        let now = fs::read_dir(&dirs.shared).unwrap().count();
        if now != planted {
            failures.push(format!("{case}: {planted} entries before, {now} after"));
        }
    }
    tally.finish_with(&failures);
}
