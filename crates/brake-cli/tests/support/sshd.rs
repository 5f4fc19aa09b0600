//! Real OpenSSH servers for the tests of `-S`: each an `sshd` started as the test's own process
//! with throwaway host and user keys in a temporary directory, its own `sshd_config` (`-f`), on
//! a free port of a 127.0.0.x address, and ended when the test drops it. Nothing of the
//! machine's own `/etc/ssh` or `~/.ssh` is read or written: the client side is
//! [`Farm::ssh_command`], given to brake with `--ssh`, and each server is named by
//! [`Server::login`] (`ADDRESS:PORT`).
//!
//! [`Farm::isolated`] starts one more server inside a network namespace of its own, joined to
//! this one by a veth pair, so that a test can cut the link ([`Isolated::cut`]) for a real
//! partition: packets are dropped, nothing is reset, and neither side hears of it.
//!
//! Without `sshd` the tests that need one print a line and return, except under `CI=true`,
//! where a missing server is a failure.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where Debian puts the server.
const SSHD: &str = "/usr/sbin/sshd";

/// How long a server may take to accept connections.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// Throwaway keys, and the servers that accept them.
pub struct Farm {
    dir: tempfile::TempDir,
    user: String,
}

/// One running `sshd`, ended on drop.
pub struct Server {
    child: Child,
    /// The address it listens on.
    pub address: String,
    /// Its port.
    pub port: u16,
}

/// A server in a network namespace of its own, reached over a veth pair that a test can cut.
pub struct Isolated {
    /// The server, as seen from here.
    pub server: Server,
    namespace: String,
    /// The host side of the veth pair.
    link: String,
}

impl Farm {
    /// Keys for a new farm, or `None` (after printing why) when this machine has no `sshd` and
    /// this is not CI, where the test then passes without running.
    pub fn new(test: &str) -> Option<Farm> {
        if !Path::new(SSHD).exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: {SSHD} is missing (apt-get install openssh-server)");
            }
            println!("skipped {test}: {SSHD} is not installed (apt-get install openssh-server)");
            return None;
        }
        // The privilege separation directory sshd insists on.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("brake-sshd-")
            .tempdir()
            .unwrap();
        for key in ["host_key", "user_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "brake-test", "-f"])
                .arg(dir.path().join(key))
                .stdin(Stdio::null())
                .status()
                .expect("run ssh-keygen");
            assert!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(
            dir.path().join("user_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(current_user);
        Some(Farm { dir, user })
    }

    /// The farm's directory (keys, configurations, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The client command for `--ssh`: this farm's key and known-hosts file, no configuration
    /// file, no questions.
    pub fn ssh_command(&self) -> String {
        format!(
            "ssh -F none -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=no \
             -o BatchMode=yes -o LogLevel=ERROR -l {}",
            self.dir().join("user_key").display(),
            self.dir().join("known_hosts").display(),
            self.user
        )
    }

    /// Starts a server on a free port of `address` (127.0.0.x).
    pub fn start(&self, address: &str) -> Server {
        let port = free_port(address);
        let config = self.config(address, port);
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&config.with_extension("log")))
            .spawn()
            .expect("start sshd");
        let mut server = Server {
            child,
            address: address.to_owned(),
            port,
        };
        server.wait_ready(|| TcpStream::connect((address, port)).is_ok());
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "sshd on {address}:{port} exited ({status}) though the port answers: see {}",
                config.with_extension("log").display()
            );
        }
        server
    }

    /// Starts a server in a network namespace of its own, joined to this one by a veth pair;
    /// `None` (after printing why) when namespaces cannot be made here. `index` keeps the
    /// addresses of several at once apart.
    pub fn isolated(&self, index: u8) -> Option<Isolated> {
        let tag = format!("{}{index}", std::process::id() % 100_000);
        let namespace = format!("brake-test-{tag}");
        let link = format!("bkv{tag}a");
        let peer = format!("bkv{tag}b");
        let here = format!("10.231.{index}.1");
        let there = format!("10.231.{index}.2");
        let steps: [&[&str]; 7] = [
            &["netns", "add", &namespace],
            &["link", "add", &link, "type", "veth", "peer", "name", &peer],
            &["link", "set", &peer, "netns", &namespace],
            &["addr", "add", &format!("{here}/30"), "dev", &link],
            &["link", "set", &link, "up"],
            &[
                "-n",
                &namespace,
                "addr",
                "add",
                &format!("{there}/30"),
                "dev",
                &peer,
            ],
            &["-n", &namespace, "link", "set", &peer, "up"],
        ];
        for step in steps {
            if let Err(why) = ip(step) {
                let _ = ip(&["link", "del", &link]);
                let _ = ip(&["netns", "del", &namespace]);
                println!("no network namespace here ({why}): the partition test is skipped");
                return None;
            }
        }
        let _ = ip(&["-n", &namespace, "link", "set", "lo", "up"]);
        let port = 2222;
        let config = self.config(&there, port);
        let child = Command::new("ip")
            .args(["netns", "exec", &namespace, SSHD, "-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&config.with_extension("log")))
            .spawn()
            .expect("start sshd in the namespace");
        let server = Server {
            child,
            address: there.clone(),
            port,
        };
        let isolated = Isolated {
            server,
            namespace,
            link,
        };
        isolated
            .server
            .wait_ready(|| TcpStream::connect((there.as_str(), port)).is_ok());
        Some(isolated)
    }

    fn config(&self, address: &str, port: u16) -> PathBuf {
        let dir = self.dir();
        let path = dir.join(format!("sshd-{address}-{port}.conf"));
        let text = format!(
            "Port {port}\n\
             ListenAddress {address}\n\
             HostKey {host_key}\n\
             PidFile none\n\
             AuthorizedKeysFile {keys}\n\
             StrictModes no\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             PermitRootLogin yes\n\
             MaxStartups 100\n\
             LogLevel ERROR\n",
            host_key = dir.join("host_key").display(),
            keys = dir.join("authorized_keys").display(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Server {
    /// The sshlogin that reaches it: `ADDRESS:PORT`.
    pub fn login(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }

    fn wait_ready(&self, connects: impl Fn() -> bool) {
        let started = Instant::now();
        while !connects() {
            assert!(
                started.elapsed() < READY_LIMIT,
                "sshd on {}:{} did not come up",
                self.address,
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Isolated {
    /// Cuts the link: from now on every packet either way is lost.
    pub fn cut(&self) {
        ip(&["link", "set", &self.link, "down"]).expect("cut the link");
    }

    /// Every process in the namespace's server tree still alive whose command line holds
    /// `needle`.
    pub fn processes(&self, needle: &str) -> Vec<u32> {
        processes_with(needle)
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        // The server's sessions die with the namespace's link; the server itself is killed
        // by `Server`'s drop, which runs after this one.
        let _ = ip(&["link", "del", &self.link]);
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

/// Live processes whose command line holds `needle`, this test's own process excepted: how a
/// test finds what runs "remotely" (under an sshd of the farm) by a marker it put in the command.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// Like [`processes_with`], but only what runs under a server: the local brake and its ssh
/// clients carry the test's marker variable in their environment, which sshd does not pass on.
pub fn remote_processes_with(needle: &str) -> Vec<u32> {
    let marker = format!("{}=", brake_testkit::MARKER_VAR);
    processes_with(needle)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                !environ
                    .split(|&b| b == 0)
                    .any(|entry| entry.starts_with(marker.as_bytes()))
            })
        })
        .collect()
}

/// Waits up to `limit` for `list` to find nothing; returns what it found last.
pub fn wait_gone(limit: Duration, list: impl Fn() -> Vec<u32>) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let left = list();
        if left.is_empty() || started.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs every process in `pids`, so a failing test leaks nothing.
pub fn kill_all(pids: Vec<u32>) {
    for pid in pids {
        // SAFETY: kill(2) takes plain integers; each pid was found alive a moment ago.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A port of `address` that is free now and that this process has not handed out before.
///
/// The port is free only until the server binds it, and tests start servers on the same
/// address at once: without the record, two could get the same port, one server fail to bind,
/// its test find the other's server listening there, and lose it when that test ends.
fn free_port(address: &str) -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let listener = TcpListener::bind((address, 0)).expect("a free port");
        let port = listener.local_addr().unwrap().port();
        if given.insert(port) {
            return port;
        }
    }
}

fn log_file(path: &Path) -> Stdio {
    std::fs::File::create(path).map_or_else(|_| Stdio::null(), Stdio::from)
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
