//! Files that travel with remote jobs: `--transferfile` (`--transfer` is `--transferfile {}`)
//! before a job, `--return` after it, `--cleanup` of both on the host, `--trc` for all three,
//! and `--basefile`, sent to each host once before its first job.
//!
//! Paths follow GNU parallel's rules (those of `rsync -R`): a relative path lands relative to
//! the remote working directory, an absolute one at the same absolute path, and in a path with
//! `/./` only the part after it is kept, relative to the working directory
//! (`/tmp/./a/b` → `WORKDIR/a/b`). A returned file comes back to the path it was named by.
//!
//! Nothing is installed on the hosts: files move as `tar` streams over the run's control
//! master, one more channel each. A job with files runs as a small local `sh` script instead of
//! a bare ssh client: send, run the job's client (which keeps the job's channel as stdin, so
//! the wrapper's contract is unchanged), bring back, clean up, and exit with the job's status.
//! A file that cannot be sent fails the job with 255 and a line naming it; the job never runs
//! without its input.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use crate::quote::push_quoted;
use crate::template::Template;

use super::wrapper::STATUS_MAGIC;

/// A file name with replacement strings (`--transferfile {}`, `--return {.}.out`).
#[derive(Debug, Clone)]
pub struct PathTemplate {
    written: OsString,
    template: Template,
}

impl PartialEq for PathTemplate {
    fn eq(&self, other: &PathTemplate) -> bool {
        self.written == other.written
    }
}

impl Eq for PathTemplate {}

impl PathTemplate {
    /// Parses `written` for jobs with `sources` values each.
    pub fn parse(written: &OsStr, sources: usize) -> Result<PathTemplate, String> {
        let template = Template::parse(&[written.to_owned()], sources, true)
            .map_err(|err| format!("{}: {err}", written.to_string_lossy()))?;
        Ok(PathTemplate {
            written: written.to_owned(),
            template,
        })
    }

    fn render(&self, args: &[OsString], seq: u64, slot: usize) -> OsString {
        self.template.render_plain(args, seq, slot)
    }
}

/// The files of a run's remote jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfers {
    /// `--transferfile`: sent before each job.
    pub send: Vec<PathTemplate>,
    /// `--return`: brought back after each job.
    pub back: Vec<PathTemplate>,
    /// `--cleanup`: both removed from the host after the job (basefiles after the run).
    pub cleanup: bool,
    /// `--basefile`: sent to each host before its first job.
    pub basefiles: Vec<OsString>,
}

impl Transfers {
    /// Whether jobs move files (basefiles aside): they then run as a script.
    pub fn per_job(&self) -> bool {
        !self.send.is_empty() || !self.back.is_empty()
    }

    /// The job's own files: the templates rendered for its values; empty names are dropped.
    pub fn for_job(&self, args: &[OsString], seq: u64, slot: usize) -> JobFiles {
        let spots = |templates: &[PathTemplate]| -> Vec<Spot> {
            templates
                .iter()
                .filter_map(|t| Spot::of(t.render(args, seq, slot).as_bytes()))
                .collect()
        };
        JobFiles {
            send: spots(&self.send),
            back: spots(&self.back),
            cleanup: self.cleanup,
        }
    }

    /// The basefiles, as a job's files to send (and to remove with `--cleanup` at the end).
    pub fn base(&self) -> JobFiles {
        JobFiles {
            send: self
                .basefiles
                .iter()
                .filter_map(|f| Spot::of(f.as_bytes()))
                .collect(),
            back: Vec::new(),
            cleanup: self.cleanup,
        }
    }
}

/// The files of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFiles {
    send: Vec<Spot>,
    back: Vec<Spot>,
    cleanup: bool,
}

/// Where a file is on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spot {
    /// The local directory `relative` is taken from (`.` for the current one, `/`).
    local_dir: Vec<u8>,
    /// The path below it, which is also the path below the remote directory.
    relative: Vec<u8>,
    /// Below `/` on the host, rather than below the working directory.
    remote_root: bool,
}

impl Spot {
    /// GNU parallel's reading of `path`; `None` for an empty name.
    fn of(path: &[u8]) -> Option<Spot> {
        if let Some(at) = find(path, b"/./") {
            let dir = &path[..at];
            return Some(Spot {
                local_dir: if dir.is_empty() {
                    b"/".to_vec()
                } else {
                    dir.to_vec()
                },
                relative: trim_slashes(&path[at + 3..]).to_vec(),
                remote_root: false,
            })
            .filter(|s| !s.relative.is_empty());
        }
        let absolute = path.first() == Some(&b'/');
        let relative = trim_slashes(path).to_vec();
        if relative.is_empty() {
            return None;
        }
        Some(Spot {
            local_dir: if absolute {
                b"/".to_vec()
            } else {
                b".".to_vec()
            },
            relative,
            remote_root: absolute,
        })
    }

    /// The path as the local shell names it.
    fn local(&self) -> Vec<u8> {
        let mut path = self.local_dir.clone();
        if !path.ends_with(b"/") {
            path.push(b'/');
        }
        path.extend_from_slice(&self.relative);
        path
    }

    /// The `cd` on the host that `relative` is below: `/`, or the working directory, made
    /// if missing (empty `workdir`: the home, where ssh starts).
    fn remote_cd(&self, workdir: &[u8], make: bool) -> Vec<u8> {
        let mut cd = Vec::new();
        if self.remote_root {
            cd.extend_from_slice(b"cd / && ");
        } else if !workdir.is_empty() {
            if make {
                cd.extend_from_slice(b"mkdir -p -- ");
                push_quoted(&mut cd, workdir);
                cd.extend_from_slice(b" && ");
            }
            cd.extend_from_slice(b"cd -- ");
            push_quoted(&mut cd, workdir);
            cd.extend_from_slice(b" && ");
        }
        cd
    }
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let path = &path[start..];
    let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    &path[..end]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The local script of a job with files: `ssh` is the job client's command without its remote
/// line, `job` that line (`None`: only send, for basefiles), `workdir` the remote working
/// directory (empty for the home) and `temporary` whether the script removes it at the end.
pub fn script(
    ssh: &Command,
    files: &JobFiles,
    job: Option<&[u8]>,
    workdir: &[u8],
    temporary: bool,
) -> Vec<u8> {
    let mut s = b"s() { ".to_vec();
    for word in std::iter::once(ssh.get_program()).chain(ssh.get_args()) {
        push_quoted(&mut s, word.as_bytes());
        s.push(b' ');
    }
    s.extend_from_slice(b"\"$@\"; }\nfail() { printf 'brake: %s\\n' \"$1\" >&2; printf '");
    for &b in STATUS_MAGIC {
        s.extend_from_slice(format!("\\{b:03o}").as_bytes());
    }
    s.extend_from_slice(b"255\\n' >&2; exit 255; }\n");
    for spot in &files.send {
        let local = spot.local();
        s.extend_from_slice(b"[ -e ");
        push_quoted(&mut s, &local);
        s.extend_from_slice(b" ] || fail ");
        push_quoted(&mut s, &message(b"cannot send ", &local, b": no such file"));
        s.extend_from_slice(b"\n(cd -- ");
        push_quoted(&mut s, &spot.local_dir);
        s.extend_from_slice(b" && exec tar -cf - -- ");
        push_quoted(&mut s, &spot.relative);
        s.extend_from_slice(b") | s ");
        let mut remote = spot.remote_cd(workdir, true);
        remote.extend_from_slice(b"tar -xf -");
        push_quoted(&mut s, &remote);
        s.extend_from_slice(b" || fail ");
        push_quoted(&mut s, &message(b"cannot send ", &local, b" to its host"));
        s.push(b'\n');
    }
    let Some(job) = job else {
        return s;
    };
    s.extend_from_slice(b"s ");
    push_quoted(&mut s, job);
    s.extend_from_slice(b"\nst=$?\n");
    for spot in &files.back {
        let mut remote = spot.remote_cd(workdir, false);
        remote.extend_from_slice(b"exec tar -cf - -- ");
        push_quoted(&mut remote, &spot.relative);
        s.extend_from_slice(b"s ");
        push_quoted(&mut s, &remote);
        s.extend_from_slice(b" </dev/null | { mkdir -p -- ");
        push_quoted(&mut s, &spot.local_dir);
        s.extend_from_slice(b" && cd -- ");
        push_quoted(&mut s, &spot.local_dir);
        s.extend_from_slice(b" && tar -xf -; }\n");
    }
    let remove = removal(files, workdir, temporary);
    if !remove.is_empty() {
        s.extend_from_slice(b"s ");
        push_quoted(&mut s, &remove);
        s.extend_from_slice(b" </dev/null\n");
    }
    s.extend_from_slice(b"exit $st\n");
    s
}

/// The host's command that removes a job's files (with `--cleanup`), the directories they
/// leave empty, and a temporary working directory.
fn removal(files: &JobFiles, workdir: &[u8], temporary: bool) -> Vec<u8> {
    let mut remove = Vec::new();
    if files.cleanup {
        for spot in files.send.iter().chain(&files.back) {
            remove.extend_from_slice(b"(");
            remove.extend_from_slice(&spot.remote_cd(workdir, false));
            remove.extend_from_slice(b"rm -rf -- ");
            push_quoted(&mut remove, &spot.relative);
            if let Some(slash) = spot.relative.iter().rposition(|&b| b == b'/') {
                remove.extend_from_slice(b" && rmdir -p -- ");
                push_quoted(&mut remove, &spot.relative[..slash]);
            }
            remove.extend_from_slice(b") 2>/dev/null; ");
        }
    }
    if temporary {
        remove.extend_from_slice(b"rm -rf -- ");
        push_quoted(&mut remove, workdir);
        if let Some(slash) = workdir.iter().rposition(|&b| b == b'/') {
            remove.extend_from_slice(b"; rmdir -p -- ");
            push_quoted(&mut remove, &workdir[..slash]);
            remove.extend_from_slice(b" 2>/dev/null");
        }
        remove.extend_from_slice(b"; ");
    }
    if !remove.is_empty() {
        remove.extend_from_slice(b"true");
    }
    remove
}

fn message(before: &[u8], path: &[u8], after: &[u8]) -> Vec<u8> {
    let mut text = before.to_vec();
    text.extend_from_slice(crate::escape::shorten(OsStr::from_bytes(path), 80).as_bytes());
    text.extend_from_slice(after);
    text
}

/// Runs `script` to its end (basefiles, and their removal at the end of a run); says what went
/// wrong in one line.
pub fn run_script(script: &[u8], host: &str) -> Result<(), String> {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(OsStr::from_bytes(script))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run /bin/sh for host {host}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("could not send the basefiles to host {host}"))
    }
}

/// The host's command that removes the basefiles at the end of the run (`--cleanup`).
pub fn base_removal(transfers: &Transfers, workdir: &[u8]) -> Vec<u8> {
    if !transfers.cleanup {
        return Vec::new();
    }
    removal(&transfers.base(), workdir, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot(path: &str) -> (String, String, bool) {
        let spot = Spot::of(path.as_bytes()).unwrap();
        (
            String::from_utf8(spot.local_dir).unwrap(),
            String::from_utf8(spot.relative).unwrap(),
            spot.remote_root,
        )
    }

    #[test]
    fn paths_land_where_gnu_parallel_puts_them() {
        let s = |d: &str, r: &str, root| (d.to_owned(), r.to_owned(), root);
        assert_eq!(spot("/tmp/foo/bar"), s("/", "tmp/foo/bar", true));
        assert_eq!(spot("tmp/foo/bar"), s(".", "tmp/foo/bar", false));
        assert_eq!(spot("/tmp/./foo/bar"), s("/tmp", "foo/bar", false));
        assert_eq!(spot("tmp/./foo/bar"), s("tmp", "foo/bar", false));
        assert_eq!(spot("/./foo"), s("/", "foo", false));
        assert_eq!(Spot::of(b""), None);
        assert_eq!(Spot::of(b"/"), None);
        assert_eq!(Spot::of(b"a/./"), None);
    }
}
