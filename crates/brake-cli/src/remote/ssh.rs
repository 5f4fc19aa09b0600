//! The ssh commands of a run: the client named by `--ssh` (or `PARALLEL_SSH`, or `ssh`), the
//! control master a run keeps per host, and a job's client, which rides the master as one more
//! channel instead of a TCP connection and a login of its own.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;

use super::sshlogin::SshLogin;

/// The OpenSSH options every connection of a run gets. The keep-alives are how the local side
/// notices a partition: the master gives up after `ServerAliveInterval` ×
/// `ServerAliveCountMax` seconds without an answer, and its jobs' clients end with it.
const ALIVE: [&str; 6] = [
    "-o",
    "ServerAliveInterval=1",
    "-o",
    "ServerAliveCountMax=5",
    "-o",
    "ConnectTimeout=10",
];

/// The ssh client command, split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    words: Vec<String>,
}

impl Ssh {
    /// `--ssh`, else `PARALLEL_SSH`, else `ssh`; split at white space.
    pub fn new(option: Option<&str>) -> Result<Ssh, String> {
        let text = match option {
            Some(text) => text.to_owned(),
            None => std::env::var("PARALLEL_SSH").unwrap_or_else(|_| "ssh".to_owned()),
        };
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Err("--ssh: an empty command (expected e.g. \"ssh -p 2222\")".into());
        }
        Ok(Ssh { words })
    }

    /// The start shared by every connection to `login`: the client and its words, then the
    /// control socket, keep-alives, the port, and no terminal, forwarding or agent. Options
    /// in `--ssh` come first, so they win (ssh keeps an option's first value).
    fn base(&self, login: &SshLogin, control: &Path, master: bool) -> Command {
        let mut command = Command::new(&self.words[0]);
        command.args(&self.words[1..]);
        command
            .arg("-o")
            .arg(if master {
                "ControlMaster=yes"
            } else {
                "ControlMaster=no"
            })
            .arg("-o")
            .arg(control_option(control))
            .args(ALIVE)
            .args(["-T", "-x", "-a", "-o", "ClearAllForwardings=yes"]);
        if let Some(port) = login.port() {
            command.arg("-p").arg(port.to_string());
        }
        command
    }

    /// The control master for `login`, on the socket `control`: no command, in the
    /// foreground, for as long as the run keeps it.
    pub fn master(&self, login: &SshLogin, control: &Path) -> Command {
        let mut command = self.base(login, control, true);
        command
            .args(["-N", "-o", "ControlPersist=no"])
            .arg(login.destination().unwrap_or_default());
        command
    }

    /// A job's client: the remote `line` over the master's socket `control` (or, if the master
    /// is gone, a connection of its own).
    pub fn job(&self, login: &SshLogin, control: &Path, line: Vec<u8>) -> Command {
        let mut command = self.client(login, control);
        command.arg(OsString::from_vec(line));
        command
    }

    /// A client over the master's socket `control`, waiting for its remote command line as
    /// its last argument.
    pub fn client(&self, login: &SshLogin, control: &Path) -> Command {
        let mut command = self.base(login, control, false);
        command
            .arg(login.destination().unwrap_or_default())
            .arg("--");
        command
    }
}

fn control_option(control: &Path) -> OsString {
    let mut option = OsString::from("ControlPath=");
    option.push(control);
    option
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::sshlogin::parse_one;

    fn words(command: &Command) -> Vec<String> {
        std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|w| w.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_client_words_come_first_and_the_line_last() {
        let ssh = Ssh::new(Some("ssh -i key -F none")).unwrap();
        let login = parse_one("me@h:2222").unwrap();
        let job = words(&ssh.job(&login, Path::new("/d/c0"), b"echo hi".to_vec()));
        assert_eq!(job[..4], ["ssh", "-i", "key", "-F"]);
        assert!(job.contains(&"ControlMaster=no".to_owned()));
        assert!(job.contains(&"ControlPath=/d/c0".to_owned()));
        let port = job.iter().position(|w| w == "-p").unwrap();
        assert_eq!(job[port + 1], "2222");
        assert_eq!(job[job.len() - 3..], ["me@h", "--", "echo hi"]);
        let master = words(&ssh.master(&login, Path::new("/d/c0")));
        assert!(master.contains(&"ControlMaster=yes".to_owned()));
        assert!(master.contains(&"-N".to_owned()));
        assert_eq!(master.last().unwrap(), "me@h");
        assert!(Ssh::new(Some("  ")).is_err());
    }
}
