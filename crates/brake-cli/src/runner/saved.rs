//! Output saved to files, as GNU parallel's `--files` and `--results` save it. A file is
//! written whole under a temporary name and then renamed (`--results`), or written whole
//! before its name is printed (`--files`): a name brake shows or a result file in place is
//! always complete. A job the stop interrupts gets no result files, so that `--resume` runs it
//! again and nothing half-done looks finished.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::template::PlainText;

/// A job's stdout written to a new file in `dir` (`par….par`, as GNU names them); returns the
/// file's name.
pub(super) fn to_temp_file(dir: &Path, stdout: &[u8]) -> io::Result<PathBuf> {
    let mut file = tempfile::Builder::new()
        .prefix("par")
        .suffix(".par")
        .tempfile_in(dir)?;
    file.write_all(stdout)?;
    file.flush()?;
    let (_, path) = file.keep().map_err(|err| err.error)?;
    Ok(path)
}

/// Where `--results` puts one job's files.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// `NAME/stdout`, `NAME/stderr`, `NAME/seq` in this directory.
    Dir(PathBuf),
    /// `NAME`, `NAME.err`, `NAME.seq`: a name made from replacement strings.
    Files(PathBuf),
}

/// The place of job `seq` with values `args` in slot `slot`. Without replacement strings,
/// `NAME/1/VALUE1/2/VALUE2…/`, each value with `\` as `\\` and `/` as `\_` so that it stays
/// one directory; with them, the rendered name, a directory when it ends in `/`.
pub(super) fn place(name: &PlainText, args: &[OsString], seq: u64, slot: usize) -> Place {
    let rendered = name.render(args, seq, slot);
    if name.has_replacements() {
        let ends_in_slash = rendered.ends_with(b"/");
        let path = PathBuf::from(OsString::from_vec(rendered));
        return if ends_in_slash {
            Place::Dir(path)
        } else {
            Place::Files(path)
        };
    }
    let mut dir = PathBuf::from(OsString::from_vec(rendered));
    for (i, arg) in args.iter().enumerate() {
        dir.push((i + 1).to_string());
        dir.push(OsString::from_vec(escape(arg.as_bytes())));
    }
    Place::Dir(dir)
}

/// A value as one path component: `\` doubled, `/` as `\_`.
fn escape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &byte in value {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\_"),
            _ => out.push(byte),
        }
    }
    out
}

/// Writes job `seq`'s stdout, stderr and number at `place`.
pub(super) fn write_results(
    place: &Place,
    seq: u64,
    stdout: &[u8],
    stderr: &[u8],
) -> io::Result<()> {
    let seq = seq.to_string();
    let files: [(PathBuf, &[u8]); 3] = match place {
        Place::Dir(dir) => {
            std::fs::create_dir_all(dir)?;
            [
                (dir.join("stdout"), stdout),
                (dir.join("stderr"), stderr),
                (dir.join("seq"), seq.as_bytes()),
            ]
        }
        Place::Files(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let with = |suffix: &str| {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                PathBuf::from(name)
            };
            [
                (path.clone(), stdout),
                (with(".err"), stderr),
                (with(".seq"), seq.as_bytes()),
            ]
        }
    };
    for (path, data) in files {
        write_whole(&path, data)?;
    }
    Ok(())
}

/// Writes `data` to `path` through a temporary file beside it, renamed over it when whole.
fn write_whole(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".brake-result")
        .tempfile_in(dir)?;
    file.write_all(data)?;
    file.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// The message for a file that could not be written.
pub(super) fn failure(what: &str, path: &Path, err: &io::Error) -> String {
    format!(
        "cannot write {what} {}: {err}; stopping the run",
        String::from_utf8_lossy(path.as_os_str().as_bytes())
    )
}

impl super::Runner {
    /// `--files` and `--results` for a job that ended: its output saved, and with `--files`
    /// the file's name printed in place of its stdout. A file that cannot be written stops
    /// the run with status 255, as a joblog that cannot be written does.
    pub(super) fn save_output(
        &mut self,
        job: &crate::job::Job,
        slot: usize,
        output: &mut crate::output::JobOutput,
        interrupted: bool,
    ) {
        if let Some(name) = &self.settings.extras.results {
            // Saved, not printed; with --files, the stdout file's name is printed.
            let place = place(name, &job.args, job.seq, slot);
            if !interrupted {
                let (stdout, stderr) = output.written();
                if let Err(err) = write_results(&place, job.seq, stdout, stderr) {
                    let path = match &place {
                        Place::Dir(dir) | Place::Files(dir) => dir.clone(),
                    };
                    self.fatal_error(failure("the --results of", &path, &err));
                    self.stop.request(brake::Reason::Requested);
                }
            }
            output.clear();
            if self.settings.extras.files.is_some() && !interrupted {
                let path = match place {
                    Place::Dir(dir) => dir.join("stdout"),
                    Place::Files(path) => path,
                };
                let mut line = path.into_os_string().into_vec();
                line.push(b'\n');
                output.swap_stdout(line);
            }
            return;
        }
        if let Some(dir) = &self.settings.extras.files {
            let stdout = output.swap_stdout(Vec::new());
            if interrupted {
                // A list of complete files' names: a cut-off stdout is neither.
                return;
            }
            match to_temp_file(dir, &stdout) {
                Ok(path) => {
                    let mut line = path.into_os_string().into_vec();
                    line.push(b'\n');
                    output.swap_stdout(line);
                }
                Err(err) => {
                    self.fatal_error(failure("a --files file in", dir, &err));
                    self.stop.request(brake::Reason::Requested);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn values(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn values_become_one_directory_each() {
        let name = PlainText::parse(OsStr::new("out"), 2).unwrap();
        assert_eq!(
            place(&name, &values(&["a/b", "c\\d"]), 1, 1),
            Place::Dir(PathBuf::from("out/1/a\\_b/2/c\\\\d"))
        );
        let named = PlainText::parse(OsStr::new("my_{}"), 1).unwrap();
        assert_eq!(
            place(&named, &values(&["foo"]), 1, 1),
            Place::Files(PathBuf::from("my_foo"))
        );
        let dir = PlainText::parse(OsStr::new("r_{#}/"), 1).unwrap();
        assert_eq!(
            place(&dir, &values(&["foo"]), 7, 1),
            Place::Dir(PathBuf::from("r_7/"))
        );
    }

    #[test]
    fn results_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let at = Place::Dir(dir.path().join("x/1/a"));
        write_results(&at, 3, b"out\n", b"").unwrap();
        let read = |name: &str| std::fs::read(dir.path().join("x/1/a").join(name)).unwrap();
        assert_eq!(read("stdout"), b"out\n");
        assert_eq!(read("stderr"), b"");
        assert_eq!(read("seq"), b"3");
        let files = Place::Files(dir.path().join("my_a"));
        write_results(&files, 1, b"o", b"e").unwrap();
        assert_eq!(std::fs::read(dir.path().join("my_a.err")).unwrap(), b"e");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".brake"))
            .collect();
        assert!(left.is_empty(), "no temporary file is left");
    }
}
