//! What a run did, counted: the one-line summary on stderr, the `--json` file, and the exit
//! status (see the table in `brake --help`).

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::quote::quote;

/// A run's counts. They add up: done + failed + interrupted + not started + skipped + failed
/// before + bad input = all jobs (when the input was read to its end).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    /// Jobs that ran and exited 0.
    pub done: u64,
    /// Jobs that ran and failed (non-zero exit, killed, timed out, could not start).
    pub failed: u64,
    /// Jobs that were running when the run stopped, and were ended by brake.
    pub interrupted: u64,
    /// The first [`LISTED`] of them, in the order they ended.
    pub interrupted_jobs: Vec<Interrupted>,
    /// Jobs that never started because the run stopped.
    pub not_started: u64,
    /// False when the run stopped before reading all its input: more jobs than `not_started`
    /// never started.
    pub input_complete: bool,
    /// Jobs not run because the joblog shows them done (`--resume`).
    pub skipped: u64,
    /// Jobs not run because the joblog shows them failed (`--resume`): still failures, counted
    /// in the exit status; `--resume-failed` runs them.
    pub failed_before: u64,
    /// Jobs never started because their input cannot become a command (a NUL byte, an
    /// argument over 128 KiB, a command line over `ARG_MAX`): no joblog line, status 255.
    pub bad_input: u64,
    /// What stopped the run early, if anything: `SIGINT`, `SIGTERM`, `halt rule`, ….
    pub stopped_by: Option<String>,
    /// brake's exit status.
    pub exit_code: u8,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    /// The joblog, if there was one.
    pub joblog: Option<PathBuf>,
    /// The command to resume the run, when there is something to resume.
    pub resume_with: Option<String>,
}

/// How many interrupted jobs the summary names.
pub const LISTED: usize = 3;

/// An interrupted job, as the summary names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupted {
    /// Its number.
    pub seq: u64,
    /// Its command, escaped and cut to one line.
    pub command: String,
}

/// Exit status for usage and internal errors.
pub const INTERNAL_ERROR: u8 = 255;

/// The exit status: 128 + the signal that stopped the run, else the number of failed jobs (101
/// for more than 100), else 0.
pub fn exit_code(stopped_by_signal: Option<i32>, failed: u64) -> u8 {
    match stopped_by_signal {
        Some(code) => u8::try_from(code).unwrap_or(INTERNAL_ERROR),
        None => u8::try_from(failed.min(101)).expect("at most 101"),
    }
}

/// The command that resumes a run whose command line was `argv`: the program as it was
/// invoked (`target/release/brake` pastes where `brake` may not be found), then brake's own
/// arguments with `--resume-failed` put first when a job failed (it also runs what never
/// finished), else `--resume`.
pub fn resume_hint(argv: &[OsString], failures: bool) -> String {
    let flag = if failures {
        "--resume-failed"
    } else {
        "--resume"
    };
    let program = argv.first().map_or_else(
        || "brake".into(),
        |arg0| quote(arg0).to_string_lossy().into_owned(),
    );
    let mut hint = format!("{program} {flag}");
    for arg in argv.iter().skip(1) {
        if arg == "--resume" || arg == "--resume-failed" {
            continue;
        }
        hint.push(' ');
        hint.push_str(&quote(arg).to_string_lossy());
    }
    // A control character cannot be shown raw (it would act on the terminal) nor escaped (the
    // pasted command would differ): the hint then only names the flag.
    if hint.chars().count() > 200 || hint.chars().any(char::is_control) {
        return format!("the same brake command with {flag}");
    }
    hint
}

impl Summary {
    /// Whether the run left jobs to run again with `--resume`.
    pub fn incomplete(&self) -> bool {
        self.interrupted > 0 || self.not_started > 0 || !self.input_complete
    }

    /// Writes the summary as JSON to `path`, through a temporary file renamed into place, so
    /// the file is either the old one or the whole new one.
    ///
    /// The temporary file gets an unpredictable name and is created exclusively (`O_EXCL`): in a
    /// directory other users can write to, nobody can plant a link under its name beforehand to
    /// make brake write into a file of theirs choosing. The rename replaces whatever `path`
    /// was, a link included, and never writes through it.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut prefix = OsString::from(".");
        prefix.push(path.file_name().unwrap_or_default());
        prefix.push(".");
        // Readable as a file made by `File::create` would be (the umask applies).
        let mut file = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        serde_json::to_writer_pretty(&mut file, self)?;
        file.write_all(b"\n")?;
        file.as_file().sync_all()?;
        // On error the temporary file is removed when dropped.
        file.persist(path).map(drop).map_err(|err| err.error)
    }
}

impl fmt::Display for Summary {
    /// `brake: 37 done, 2 failed, 8 interrupted, 953 not started — resume with: brake …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "brake: {} done", self.done)?;
        if self.failed > 0 {
            write!(f, ", {} failed", self.failed)?;
        }
        if self.bad_input > 0 {
            write!(f, ", {} not run (bad input)", self.bad_input)?;
        }
        if self.interrupted > 0 {
            write!(f, ", {} interrupted", self.interrupted)?;
        }
        if self.not_started > 0 || !self.input_complete {
            write!(f, ", {} not started", self.not_started)?;
            if !self.input_complete {
                f.write_str(" (and the unread rest of the input)")?;
            }
        }
        if self.skipped > 0 {
            write!(f, ", {} skipped (done in an earlier run)", self.skipped)?;
        }
        if self.failed_before > 0 {
            write!(
                f,
                ", {} failed in an earlier run, not run again",
                self.failed_before
            )?;
            if self.resume_with.is_none() {
                f.write_str(": use --resume-failed")?;
            }
        }
        if let Some(by) = &self.stopped_by {
            write!(f, "; stopped by {by}")?;
        }
        match (&self.resume_with, &self.joblog) {
            (Some(resume), _) => write!(f, " — resume with: {resume}")?,
            (None, None) if self.incomplete() => {
                f.write_str(" — nothing can be resumed: there was no --joblog")?;
            }
            (None, Some(_)) if self.incomplete() => {
                f.write_str(" — to resume, give --joblog the file its stdout was saved to")?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Summary {
    /// `brake: interrupted: job 9 `…`, job 10 `…`, job 11 `…` and 5 more`: which jobs the
    /// stop interrupted, for the line before the summary; `None` when it interrupted none.
    pub fn interrupted_line(&self) -> Option<String> {
        let (first, rest) = self.interrupted_jobs.split_first()?;
        let mut line = format!("brake: interrupted: job {} `{}`", first.seq, first.command);
        for job in rest {
            line.push_str(&format!(", job {} `{}`", job.seq, job.command));
        }
        let more = self
            .interrupted
            .saturating_sub(self.interrupted_jobs.len() as u64);
        if more > 0 {
            line.push_str(&format!(" and {more} more"));
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_table() {
        assert_eq!(exit_code(None, 0), 0);
        assert_eq!(exit_code(None, 3), 3);
        assert_eq!(exit_code(None, 100), 100);
        assert_eq!(exit_code(None, 101), 101);
        assert_eq!(exit_code(None, 5000), 101);
        assert_eq!(exit_code(Some(130), 7), 130);
    }

    #[test]
    fn the_line_names_only_what_happened() {
        let mut summary = Summary {
            done: 37,
            input_complete: true,
            ..Summary::default()
        };
        assert_eq!(summary.to_string(), "brake: 37 done");
        summary.failed = 2;
        summary.interrupted = 8;
        summary.not_started = 953;
        summary.stopped_by = Some("SIGINT (Ctrl-C)".into());
        assert!(summary.incomplete());
        assert_eq!(
            summary.to_string(),
            "brake: 37 done, 2 failed, 8 interrupted, 953 not started; stopped by SIGINT \
             (Ctrl-C) — nothing can be resumed: there was no --joblog"
        );
        summary.resume_with = Some("brake --resume --joblog run.log sleep ::: 1".into());
        summary.interrupted_jobs = (38..=40)
            .map(|seq| Interrupted {
                seq,
                command: format!("sleep {seq}"),
            })
            .collect();
        assert_eq!(
            summary.to_string(),
            "brake: 37 done, 2 failed, 8 interrupted, 953 not started; stopped by SIGINT \
             (Ctrl-C) — resume with: brake --resume --joblog run.log sleep ::: 1"
        );
        assert_eq!(
            summary.interrupted_line().unwrap(),
            "brake: interrupted: job 38 `sleep 38`, job 39 `sleep 39`, job 40 `sleep 40` and 5 \
             more"
        );
    }

    #[test]
    fn bad_input_is_its_own_count() {
        let summary = Summary {
            done: 2,
            bad_input: 1,
            input_complete: true,
            ..Summary::default()
        };
        assert_eq!(summary.to_string(), "brake: 2 done, 1 not run (bad input)");
        assert!(!summary.incomplete());
    }

    #[test]
    fn earlier_failures_are_not_called_done() {
        let mut summary = Summary {
            done: 1,
            skipped: 1,
            failed_before: 1,
            input_complete: true,
            ..Summary::default()
        };
        assert_eq!(
            summary.to_string(),
            "brake: 1 done, 1 skipped (done in an earlier run), 1 failed in an earlier run, not \
             run again: use --resume-failed"
        );
        summary.resume_with = Some("brake --resume-failed --joblog r true".into());
        assert!(summary
            .to_string()
            .ends_with("not run again — resume with: brake --resume-failed --joblog r true"));
    }

    #[test]
    fn resume_hints_put_the_flag_first() {
        let argv: Vec<OsString> = ["brake", "--joblog", "run.log", "echo", "a b", ":::", "x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            resume_hint(&argv, false),
            "brake --resume --joblog run.log echo 'a b' ::: x"
        );
        let again: Vec<OsString> = ["brake", "--resume", "--joblog", "r", "true"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            resume_hint(&again, true),
            "brake --resume-failed --joblog r true"
        );
        let title: Vec<OsString> = ["brake", "--joblog", "r", "touch", ":::", "\u{1b}]2;x\u{7}"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            resume_hint(&title, false),
            "the same brake command with --resume"
        );
    }

    #[test]
    fn resume_hints_name_the_program_as_invoked() {
        let argv: Vec<OsString> = ["target/release/brake", "--joblog", "r", "true"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            resume_hint(&argv, false),
            "target/release/brake --resume --joblog r true"
        );
        let spaced: Vec<OsString> = ["/opt/my tools/brake", "true"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            resume_hint(&spaced, true),
            "'/opt/my tools/brake' --resume-failed true"
        );
    }

    #[test]
    fn json_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let summary = Summary {
            done: 3,
            input_complete: true,
            ..Summary::default()
        };
        summary.write_json(&path).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["done"], 3);
        assert_eq!(value["exit_code"], 0);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }
}
