//! The decisions behind GNU parallel's scheduling and output options (`cli/options.rs`):
//! the wait between starts, the random order, the niceness jobs run at, the `--tagstring`
//! prefix, and where `--files` and `--results` save output. Made once, before a job starts.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::options::Options;
use crate::template::PlainText;

/// What the scheduling and output options decided.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// `--delay`: the least time between two starts.
    pub delay: Option<Duration>,
    /// `--shuf`: jobs in a random order.
    pub shuf: bool,
    /// `--nice`: the program that sets a niceness, and the niceness.
    pub nice: Option<(PathBuf, i32)>,
    /// `--tagstring`: each output line's prefix (a tab follows it).
    pub tagstring: Option<PlainText>,
    /// `--files`: the directory of the output files.
    pub files: Option<PathBuf>,
    /// `--results`: where each job's output is saved.
    pub results: Option<PlainText>,
    /// `--load`: jobs start only while fewer processes than this run on the machine.
    pub load: Option<f64>,
    /// `--memfree`: jobs start only while this many bytes are available.
    pub memfree: Option<u64>,
}

impl Extras {
    /// Checks the options against the run: `sources` values per job, `remote` with `-S`.
    pub fn new(options: &Options, sources: usize, remote: bool) -> Result<Extras, String> {
        let nice =
            match options.nice {
                None => None,
                Some(_) if remote => return Err(
                    "--nice cannot be used with -S yet: brake sets the niceness of local jobs only"
                        .into(),
                ),
                Some(level) => Some((find_nice()?, level)),
            };
        let tagstring = options
            .tagstring
            .as_deref()
            .map(|text| PlainText::parse(text, sources))
            .transpose()
            .map_err(|err| format!("--tagstring: {err}"))?;
        let files = options.files.then(|| {
            options
                .tmpdir
                .clone()
                .or_else(|| {
                    std::env::var_os("TMPDIR")
                        .filter(|d| !d.is_empty())
                        .map(PathBuf::from)
                })
                .unwrap_or_else(|| PathBuf::from("/tmp"))
        });
        let results = match options.results.as_deref() {
            None => None,
            Some(name) => Some(results_name(name, sources)?),
        };
        let load = options.load.map(|max| match max.count(options.cpus()) {
            Some(count) => count as f64,
            // GNU's 0: 0.01, which only an idle machine is under.
            None => 0.01,
        });
        Ok(Extras {
            load,
            memfree: options.memfree,
            delay: options.delay.filter(|d| !d.is_zero()),
            shuf: options.shuf,
            nice,
            tagstring,
            files,
            results,
        })
    }
}

/// `--results NAME`: a directory tree, or a file name per job when it holds replacement
/// strings. GNU's tables (`.csv`, `.tsv`, `.json`) are not written yet.
fn results_name(name: &OsStr, sources: usize) -> Result<PlainText, String> {
    let text = name.to_string_lossy();
    if [".csv", ".tsv", ".json"]
        .iter()
        .any(|ext| text.ends_with(ext))
    {
        return Err(format!(
            "--results {text}: brake does not write GNU parallel's .csv/.tsv/.json tables yet; \
             give a directory (--results DIR) and use --joblog for the table"
        ));
    }
    if name.is_empty() {
        return Err("--results needs a name: a directory (--results outdir)".into());
    }
    PlainText::parse(name, sources).map_err(|err| format!("--results: {err}"))
}

/// `nice` on `PATH`.
fn find_nice() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join("nice"))
        .find(|candidate| is_program(candidate))
        .ok_or_else(|| "--nice needs the nice program, which is not on PATH".to_owned())
}

fn is_program(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
