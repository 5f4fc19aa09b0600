//! Jobs on other machines (`-S`): the sshlogins (`remote/sshlogin.rs`), the ssh commands
//! (`remote/ssh.rs`), the hosts of a run and their control masters (`remote/hosts.rs`), the
//! wrapper that runs a job on the other side and ends it when the connection goes
//! (`remote/wrapper.rs`), the heartbeat that lets it notice a partition
//! (`remote/heartbeat.rs`), the files that travel with jobs (`remote/transfer.rs`), every
//! job on every host (`remote/onall.rs`); and here, the [`Target`] a job asks for its command,
//! and the [`RemoteJob`] that is a running job's remote side.

pub mod heartbeat;
pub mod hosts;
pub mod onall;
pub mod ssh;
pub mod sshlogin;
pub mod transfer;
pub mod wrapper;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use brake::child::Exit;
use brake::TermSeq;

use self::hosts::Cluster;
use self::sshlogin::Place;
use self::wrapper::{remote_line, status_from_report, RemoteSetting, StatusFilter, Workdir};

/// How long a remote job's ssh client is given, beyond the remote termination sequence, to
/// bring back the job's end before brake kills it.
const CLIENT_MARGIN: Duration = Duration::from_secs(3);

/// Where a job runs: here, or on a host of the run.
pub enum Target<'a> {
    /// On this machine, as without `-S`.
    Local,
    /// On another machine, over ssh.
    Remote(Remote<'a>),
}

/// A slot on another machine.
pub struct Remote<'a> {
    cluster: &'a Cluster,
    host: usize,
    master: usize,
}

impl Remote<'_> {
    /// The ssh client that runs `command` there under the wrapper, its processes marked with
    /// `marker`, and the job's side of it: its channel (the client's stdin) and status filter.
    /// A job with files to move (`--transferfile`, `--return`) runs as a local script around
    /// that client instead (see `remote/transfer.rs`); `args`, `seq` and `slot` name its files.
    /// The job gets GNU parallel's variables as a local one does: `$PARALLEL_SEQ` (`seq`),
    /// `$PARALLEL_JOBSLOT` (`slot`), `$PARALLEL_PID` (brake's), `$PARALLEL_SSHLOGIN` and
    /// `$PARALLEL_SSHHOST` (its host), after the `--env` ones.
    pub fn command(
        &self,
        command: &OsStr,
        marker: &str,
        (args, seq, slot): (&[OsString], u64, usize),
    ) -> io::Result<(Command, RemoteJob)> {
        let cluster = self.cluster;
        let host = &cluster.hosts[self.host];
        let control = &host.masters[self.master].control;
        let setting = &with_parallel_vars(&cluster.setting, host, seq, slot);
        let mut ssh = if setting.files.per_job() {
            // A temporary directory must exist before the files are sent to it, so it gets a
            // name of the job's own (its marker is unique to the run and attempt), below the
            // remote home, and the script removes it.
            let (workdir, temporary) = match &setting.workdir {
                Workdir::Home => (OsString::new(), false),
                Workdir::Dir(dir) => (dir.clone(), false),
                Workdir::Temporary => (OsString::from(format!(".brake-wd/{marker}")), true),
            };
            let mut job_setting = setting.clone();
            if temporary {
                job_setting.workdir = Workdir::Dir(workdir.clone());
            }
            let line = remote_line(&cluster.termseq, marker, command, &job_setting);
            let files = setting.files.for_job(args, seq, slot);
            let client = cluster.ssh.client(&host.login, control);
            let script = transfer::script(
                &client,
                &files,
                Some(&line),
                workdir.as_encoded_bytes(),
                temporary,
            );
            let mut sh = Command::new("/bin/sh");
            sh.arg("-c").arg(OsString::from_vec(script));
            sh
        } else {
            let line = remote_line(&cluster.termseq, marker, command, setting);
            cluster.ssh.job(&host.login, control, line)
        };
        let (read, channel) = cluster.heartbeat.channel()?;
        ssh.stdin(read);
        Ok((
            ssh,
            RemoteJob {
                host: host.name.clone(),
                channel: Some(channel),
                filter: StatusFilter::default(),
            },
        ))
    }
}

/// `setting` with the variables GNU parallel gives a job on `host` added to `--env`'s.
fn with_parallel_vars(
    setting: &RemoteSetting,
    host: &hosts::Host,
    seq: u64,
    slot: usize,
) -> RemoteSetting {
    let mut setting = setting.clone();
    let hostname = match &host.login.place {
        Place::Remote { host, .. } => host.clone(),
        Place::Local => ":".to_owned(),
    };
    setting.env.extend(
        [
            ("PARALLEL_SEQ", seq.to_string()),
            ("PARALLEL_JOBSLOT", slot.to_string()),
            ("PARALLEL_PID", std::process::id().to_string()),
            ("PARALLEL_SSHLOGIN", host.name.clone()),
            ("PARALLEL_SSHHOST", hostname),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), OsString::from(value))),
    );
    setting
}

/// The termination sequence of a remote job's local ssh client: a harmless first signal (the
/// job is ended by closing its channel, see [`RemoteJob::hang_up`]), a wait as long as the
/// remote sequence and a margin, then SIGKILL for a client that did not bring the end back.
pub fn client_termseq(remote: &TermSeq) -> TermSeq {
    let wait = remote.total_wait().saturating_add(CLIENT_MARGIN);
    format!("URG,{},KILL", wait.as_millis())
        .parse()
        .unwrap_or_default()
}

/// A running job's remote side, as the local job sees it.
#[derive(Debug)]
pub struct RemoteJob {
    /// Its host, for the joblog and messages.
    pub host: String,
    /// The channel's write end: open while the job may run.
    channel: Option<Arc<File>>,
    filter: StatusFilter,
}

impl RemoteJob {
    /// Bytes from the client's stderr; returns the job's own (without the status line).
    pub fn stderr(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.filter.push(bytes)
    }

    /// At the end of the client's stderr: what was held back, the job's own after all.
    pub fn stderr_end(&mut self) -> Vec<u8> {
        self.filter.finish()
    }

    /// Closes the channel: the remote wrapper reads end of file and ends the job.
    pub fn hang_up(&mut self) {
        self.channel = None;
    }

    /// Whether the job's end never came back: its client ended without the status line.
    pub fn lost(&self) -> bool {
        self.filter.reported().is_none()
    }

    /// How the job ended on its host, given how its local client ended: the reported status,
    /// or 255 (as ssh gives for a lost connection) when none came.
    pub fn exit(&self, client: &Exit) -> Exit {
        Exit {
            status: self
                .filter
                .reported()
                .map_or(ExitStatus::from_raw(255 << 8), status_from_report),
            ended_by: client.ended_by,
        }
    }
}
