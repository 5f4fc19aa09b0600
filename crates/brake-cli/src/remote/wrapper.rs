//! The remote side of a job: a small POSIX `sh` program sent on the ssh command line, that
//! runs the job on the other machine and ends it as soon as the connection is gone; the line
//! that sends it; and the reading back of the job's exit status from its stderr.
//!
//! # What the wrapper does
//!
//! It is given the termination sequence, the heartbeat limit, the job's marker and the
//! command. The job runs in the foreground (so it keeps default actions for SIGINT and SIGQUIT,
//! which a shell takes away from background commands) under `setsid`: a session and process
//! group of its own, away from the wrapper's. Every process of the job carries
//! `BRAKE_REMOTE_JOB=<marker>` in its environment, which is how the wrapper finds the job's
//! processes, those that left its process group (`setsid` escapees) included.
//!
//! A watcher in the background blocks reading the channel (the ssh session's stdin, which
//! brake holds open and writes a heartbeat byte to every [`HEARTBEAT`]). It acts when that read
//! sees end of file (brake closed it to stop the job, brake or its ssh client died, the
//! connection closed) or when no byte arrives for [`SILENCE`] (the network is cut: nothing
//! closes, nothing arrives). It then walks the termination sequence over every marked process
//! and its process group (the job's own group first, found without a scan as the wrapper's
//! child that leads a group), and keeps ending marked processes while the wrapper lives, so a job
//! still starting when the channel went is ended too. Reading is not polling: the read wakes
//! the moment the channel ends. Only the waits of the termination sequence check, every 50 ms,
//! whether anything is left.
//!
//! Where the remote user can make a cgroup (cgroup v2, a child of the wrapper's own, as brake
//! does here), the job starts in one of its own, and ending the job also ends everything in
//! it: `cgroup.kill`, which reaches even a descendant that left the job's session and cleared
//! its environment (`setsid env -i daemon &`), which neither the group nor the marker finds.
//! Elsewhere the group and the marker are all there is.
//!
//! When the job ends, the wrapper ends the watcher and whatever the job left running, then
//! writes the job's status as a last line on stderr, [`STATUS_MAGIC`] then the number `sh`
//! gave (`$?`: the exit code, or 128+N after signal N). brake takes that line out of the job's
//! stderr ([`StatusFilter`]); a job whose ssh ended without it was lost with its connection.
//! The wrapper's own messages (a shell's `Killed`) go to /dev/null: stdout and stderr are the
//! job's alone, and stay apart (no `ssh -tt`).
//!
//! With `--workdir ...` the wrapper makes a temporary directory (`mktemp -d`) for the job and
//! removes it when the job ends; a named `--workdir` and `--env` variables are set by the
//! command line itself, before the job's own.
//!
//! Everything it uses is on every Linux machine: `sh`, `setsid` (util-linux), `timeout` and
//! `dd` (coreutils), `grep -z` and `/proc`. The login shell of the remote user must be a POSIX
//! shell: it reads the line that starts the wrapper.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use brake::{TermSeq, TermStep};

use crate::quote::push_quoted;

/// How often brake writes a heartbeat byte to each remote job's channel.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a remote wrapper hears nothing before it takes the connection for lost and ends
/// its job: a partition is noticed on the remote side within this, plus one [`HEARTBEAT`].
pub const SILENCE: Duration = Duration::from_secs(5);

/// What begins the wrapper's status line on stderr.
pub const STATUS_MAGIC: &[u8] = b"\x1e\x1fbrake-remote-status ";

/// The environment variable that marks every process of a remote job.
pub const REMOTE_VAR: &str = "BRAKE_REMOTE_JOB";

/// Where and with what a remote job runs: `--workdir`, `--env`, and the files that travel
/// with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSetting {
    /// The directory it runs in.
    pub workdir: Workdir,
    /// Variables set for it, with their local values.
    pub env: Vec<(String, std::ffi::OsString)>,
    /// `--transferfile`, `--return`, `--cleanup`, `--basefile`.
    pub files: super::transfer::Transfers,
}

/// `--workdir`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Workdir {
    /// The remote user's home, where ssh starts.
    #[default]
    Home,
    /// `...`: a new temporary directory, removed when the job ends.
    Temporary,
    /// This one (relative to the home), made if missing.
    Dir(std::ffi::OsString),
}

/// The wrapper: `$1` the termination sequence (`INT 2000 TERM 1000 KILL`), `$2` the silence
/// limit in seconds, `$3` the marker, `$4` the command line, `$5` `tmp` for a temporary
/// working directory.
const WRAPPER: &str = r#"seq=$1 limit=$2 mark=$3 wrapper=$$ wd= cg=
report() { printf '\036\037brake-remote-status %s\n' "$1" >&4; }
marked() { grep -lzxF "BRAKE_REMOTE_JOB=$mark" /proc/[0-9]*/environ 2>/dev/null; }
in_cgroup() { [ -n "$cg" ] && cat "$cg/cgroup.procs" 2>/dev/null; }
busy() { [ -n "$(marked)$(in_cgroup)" ]; }
signal_all() {
  kids=
  read -r kids < "/proc/$wrapper/task/$wrapper/children"
  for p in $kids; do kill -s "$1" -- "-$p" 2>/dev/null; done
  for f in $(marked); do
    p=${f#/proc/}; p=${p%/environ}
    kill -s "$1" -- "-$p" "$p" 2>/dev/null
  done
  for p in $(in_cgroup); do kill -s "$1" "$p" 2>/dev/null; done
}
kill_all() {
  [ -z "$cg" ] || echo 1 > "$cg/cgroup.kill" 2>/dev/null
  signal_all KILL
}
end_job() {
  set -- $seq
  while [ $# -gt 0 ]; do
    signal_all "$1"; shift
    [ $# -gt 0 ] || break
    n=$(($1 / 50)); shift
    while [ "$n" -gt 0 ] && busy; do sleep 0.05; n=$((n - 1)); done
    busy || break
  done
  while kill -0 "$wrapper" 2>/dev/null; do kill_all; sleep 0.05; done
}
own=$(sed -n 's/^0:://p' /proc/self/cgroup 2>/dev/null)
mnt=$(sed -n 's/^[^ ]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .* - cgroup2 .*/\1/p' /proc/self/mountinfo \
  2>/dev/null | head -n 1)
if [ -n "$own" ] && [ -n "$mnt" ] && mkdir "$mnt${own%/}/brake-$mark" 2>/dev/null; then
  cg=$mnt${own%/}/brake-$mark
fi
watch() {
  trap '' HUP PIPE INT TERM
  while b=$(timeout -s KILL "$limit" dd bs=1 count=1 2>/dev/null) && [ -n "$b" ]; do :; done
  end_job
}
exec 3<&0 4>&2 2>/dev/null
if [ "$5" = tmp ]; then
  wd=$(mktemp -d "${TMPDIR:-/tmp}/brake-wd.XXXXXX") && cd "$wd" || { report 255; exit; }
fi
watch <&3 3<&- 4>&- >/dev/null &
watcher=$!
exec 3<&-
BRAKE_REMOTE_JOB=$mark setsid /bin/sh -c \
  '[ -z "$1" ] || { echo $$ > "$1/cgroup.procs"; } 2>/dev/null; exec /bin/sh -c "$2"' \
  brake-job "$cg" "$4" \
  </dev/null 2>&4 4>&-
st=$?
kill -9 "$watcher"
! busy || kill_all
if [ -n "$cg" ]; then
  n=100
  while ! rmdir "$cg" 2>/dev/null && [ "$n" -gt 0 ]; do kill_all; sleep 0.05; n=$((n - 1)); done
fi
[ -z "$wd" ] || rm -rf "$wd"
report "$st"
"#;

/// The command line the remote user's shell runs: the wrapper for `command`, ended by
/// `termseq`, its processes marked with `marker`, in the directory and with the variables of
/// `setting`.
pub fn remote_line(
    termseq: &TermSeq,
    marker: &str,
    command: &OsStr,
    setting: &RemoteSetting,
) -> Vec<u8> {
    let mut script = Vec::new();
    for (name, value) in &setting.env {
        script.extend_from_slice(name.as_bytes());
        script.push(b'=');
        push_quoted(&mut script, value.as_bytes());
        script.extend_from_slice(b"; export ");
        script.extend_from_slice(name.as_bytes());
        script.extend_from_slice(b"; ");
    }
    if let Workdir::Dir(dir) = &setting.workdir {
        script.extend_from_slice(b"mkdir -p -- ");
        push_quoted(&mut script, dir.as_bytes());
        script.extend_from_slice(b" && cd -- ");
        push_quoted(&mut script, dir.as_bytes());
        script.extend_from_slice(b" || exit 255; ");
    }
    script.extend_from_slice(command.as_bytes());
    let mut line = b"exec /bin/sh -c ".to_vec();
    push_quoted(&mut line, WRAPPER.as_bytes());
    line.extend_from_slice(b" brake-remote ");
    push_quoted(&mut line, termseq_words(termseq).as_bytes());
    line.push(b' ');
    push_quoted(&mut line, SILENCE.as_secs().to_string().as_bytes());
    line.push(b' ');
    push_quoted(&mut line, marker.as_bytes());
    line.push(b' ');
    push_quoted(&mut line, &script);
    if setting.workdir == Workdir::Temporary {
        line.extend_from_slice(b" tmp");
    }
    line
}

/// `termseq` as the wrapper reads it: signal names and waits in ms, separated by spaces.
fn termseq_words(termseq: &TermSeq) -> String {
    let words: Vec<String> = termseq
        .steps()
        .iter()
        .map(|step| match *step {
            TermStep::Signal(signal) => {
                let name = brake::signal_name(signal);
                match name.strip_prefix("SIG") {
                    Some(short) => short.to_owned(),
                    None => signal.to_string(),
                }
            }
            TermStep::Wait(wait) => wait.as_millis().min(u128::from(u32::MAX)).to_string(),
        })
        .collect();
    words.join(" ")
}

/// The status a remote job ended with, from the number its wrapper reported: as `sh` gives
/// it, 128+N (up to 128+64) is taken for signal N, since `sh` tells the two apart no better.
pub fn status_from_report(reported: i32) -> ExitStatus {
    match reported {
        129..=192 => ExitStatus::from_raw(reported - 128),
        code => ExitStatus::from_raw((code & 0xff) << 8),
    }
}

/// Takes the wrapper's status line out of a remote job's stderr as it streams by: bytes that
/// may begin the line are held back until it is clear whether they do.
#[derive(Debug, Default)]
pub struct StatusFilter {
    held: Vec<u8>,
    reported: Option<i32>,
}

/// A status line longer than this is not one.
const LONGEST_LINE: usize = 64;

impl StatusFilter {
    /// Feeds stderr bytes in; returns those that are the job's own, to print.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match find(&self.held, STATUS_MAGIC) {
                Some(at) => {
                    out.extend_from_slice(&self.held[..at]);
                    self.held.drain(..at);
                    let body = &self.held[STATUS_MAGIC.len()..];
                    match body.iter().position(|&b| b == b'\n') {
                        Some(end) => {
                            let number = std::str::from_utf8(&body[..end])
                                .ok()
                                .and_then(|text| text.trim().parse::<i32>().ok());
                            match number {
                                Some(number) => {
                                    self.reported = Some(number);
                                    self.held.drain(..STATUS_MAGIC.len() + end + 1);
                                }
                                None => out.extend(self.held.drain(..1)),
                            }
                        }
                        None if body.len() > LONGEST_LINE => out.extend(self.held.drain(..1)),
                        None => return out,
                    }
                }
                None => {
                    let keep = (1..STATUS_MAGIC.len().min(self.held.len() + 1))
                        .rev()
                        .find(|&n| self.held.ends_with(&STATUS_MAGIC[..n]))
                        .unwrap_or(0);
                    let cut = self.held.len() - keep;
                    out.extend(self.held.drain(..cut));
                    return out;
                }
            }
        }
    }

    /// At the end of stderr: the bytes still held (the job's own after all).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// The status the wrapper reported, if its line came.
    pub fn reported(&self) -> Option<i32> {
        self.reported
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::ffi::OsString;
    use std::fs::File;
    use std::os::unix::ffi::OsStringExt;
    use std::process::{Command, Stdio};

    fn filtered(chunks: &[&[u8]]) -> (Vec<u8>, Option<i32>) {
        let mut filter = StatusFilter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(filter.push(chunk));
        }
        out.extend(filter.finish());
        (out, filter.reported())
    }

    #[test]
    fn the_status_line_is_taken_out_in_any_chunks() {
        let mut stream = b"err 1\nerr 2".to_vec();
        stream.extend_from_slice(STATUS_MAGIC);
        stream.extend_from_slice(b"3\n");
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(filtered(&[a, b]), (b"err 1\nerr 2".to_vec(), Some(3)));
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(filtered(&bytes), (b"err 1\nerr 2".to_vec(), Some(3)));
    }

    #[test]
    fn look_alikes_stay_output() {
        let mut partial = b"x".to_vec();
        partial.extend_from_slice(&STATUS_MAGIC[..5]);
        assert_eq!(filtered(&[&partial]), (partial.clone(), None));
        let mut bad = STATUS_MAGIC.to_vec();
        bad.extend_from_slice(b"oops\nmore");
        assert_eq!(filtered(&[&bad]), (bad.clone(), None));
    }

    #[test]
    fn reported_numbers_become_statuses() {
        assert_eq!(status_from_report(0).code(), Some(0));
        assert_eq!(status_from_report(3).code(), Some(3));
        assert_eq!(status_from_report(130).signal(), Some(libc::SIGINT));
        assert_eq!(status_from_report(137).signal(), Some(libc::SIGKILL));
        assert_eq!(status_from_report(200).code(), Some(200));
    }

    #[test]
    fn the_termseq_goes_as_words() {
        assert_eq!(
            termseq_words(&TermSeq::default()),
            "INT 2000 TERM 1000 KILL"
        );
    }

    /// Runs the remote line as sshd would: the login shell (`sh -c LINE`), its stdin a channel
    /// that gets `input` and is closed only after the wrapper's output has ended, unless
    /// `hang_up`.
    fn run_remote(command: &OsStr, input: &[u8], hang_up: bool) -> (Vec<u8>, Vec<u8>) {
        run_remote_in(command, input, hang_up, &RemoteSetting::default())
    }

    fn run_remote_in(
        command: &OsStr,
        input: &[u8],
        hang_up: bool,
        setting: &RemoteSetting,
    ) -> (Vec<u8>, Vec<u8>) {
        use std::io::{Read, Write};
        let line = remote_line(&TermSeq::default(), "wrapper-test", command, setting);
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(OsStr::from_bytes(&line))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
        if hang_up {
            drop(stdin);
            stdin = std::process::ChildStdin::from(std::os::fd::OwnedFd::from(
                File::open("/dev/null").unwrap(),
            ));
        }
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        let err = errors.join().unwrap();
        drop(stdin);
        child.wait().unwrap();
        (out, err)
    }

    #[test]
    fn the_wrapper_keeps_streams_apart_and_reports_the_status() {
        let (out, err) = run_remote(OsStr::new("echo out; echo err >&2; exit 3"), b".", false);
        assert_eq!(out, b"out\n");
        let (stderr, reported) = filtered(&[&err]);
        assert_eq!(stderr, b"err\n");
        assert_eq!(reported, Some(3));
    }

    #[test]
    fn workdirs_and_variables_reach_the_job() {
        let home = tempfile::tempdir().unwrap();
        let setting = RemoteSetting {
            workdir: Workdir::Dir(home.path().join("a b").into()),
            env: vec![("BRAKE_TEST_VALUE".into(), "it's $x".into())],
            ..RemoteSetting::default()
        };
        let (out, _) = run_remote_in(
            OsStr::new("pwd; printf '%s\\n' \"$BRAKE_TEST_VALUE\""),
            b".",
            false,
            &setting,
        );
        let expected = format!("{}/a b\nit's $x\n", home.path().display());
        assert_eq!(String::from_utf8_lossy(&out), expected);
        let temporary = RemoteSetting {
            workdir: Workdir::Temporary,
            ..RemoteSetting::default()
        };
        let (out, err) = run_remote_in(OsStr::new("pwd"), b".", false, &temporary);
        let dir = String::from_utf8(out).unwrap();
        assert!(dir.contains("brake-wd."), "{dir}");
        assert!(
            !std::path::Path::new(dir.trim()).exists(),
            "removed after the job"
        );
        assert_eq!(filtered(&[&err]).1, Some(0));
    }

    #[test]
    fn the_end_of_the_channel_ends_the_job() {
        let started = std::time::Instant::now();
        let (_, err) = run_remote(OsStr::new("sleep 30"), b"", true);
        assert!(started.elapsed() < Duration::from_secs(5));
        let (_, reported) = filtered(&[&err]);
        assert_eq!(reported, Some(128 + libc::SIGINT));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Through the login shell's extra layer, any bytes in a quoted value reach the job as
        /// one literal argument.
        #[test]
        fn any_bytes_arrive_as_one_literal_argument(
            bytes in prop::collection::vec(
                prop_oneof![
                    1u8..=255,
                    prop::sample::select(b"'\"\\$`!*?[]{}()<>|&;#~= \t\n".to_vec()),
                ],
                0..24,
            )
        ) {
            let mut command = b"printf '%s\\0' ".to_vec();
            push_quoted(&mut command, &bytes);
            let (out, _) = run_remote(&OsString::from_vec(command), b".", false);
            let mut expected = bytes;
            expected.push(0);
            prop_assert_eq!(out, expected);
        }
    }
}
