//! The hosts of a run: for each sshlogin its slots, its OpenSSH control masters and whether it
//! is still up. The masters' sockets live in a private directory (0700) made for the run; the
//! masters are brake's children, carry the run's marker (so the guard ends them if brake is
//! killed) and are ended at the end of the run.
//!
//! A host whose master cannot connect at the start is left out with a one-line message; one
//! whose master ends during the run (the host died, the network went) is taken out of the run
//! when a job there comes back lost, and the jobs not started go to the other hosts.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use brake::{Stop, TermSeq};

use super::heartbeat::Heartbeat;
use super::ssh::Ssh;
use super::sshlogin::SshLogin;
use super::transfer;
use super::wrapper::{RemoteSetting, Workdir};
use super::{Remote, Target};
use crate::cli::Jobs;
use crate::job::RUN_VAR;

/// Jobs per control master: an OpenSSH server takes ten sessions per connection by default
/// (`MaxSessions`), and a host with more slots gets more masters.
const SESSIONS_PER_MASTER: usize = 8;

/// What a host is asked for its number of CPUs (online, as GNU parallel counts threads).
const CPUS: &str = "getconf _NPROCESSORS_ONLN 2>/dev/null || nproc";

/// How long a host may take to say how many CPUs it has.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// How long the masters may take to connect and log in at the start.
const CONNECT_LIMIT: Duration = Duration::from_secs(20);

/// The hosts of a run, their connections, and which slot runs where.
pub struct Cluster {
    pub(super) ssh: Ssh,
    pub(super) hosts: Vec<Host>,
    /// For each slot (index `slot - 1`): its host and that host's master.
    slots: Vec<(usize, usize)>,
    pub(super) heartbeat: Heartbeat,
    /// What a remote wrapper sends its job to end it.
    pub(super) termseq: TermSeq,
    /// Where and with what remote jobs run.
    pub(super) setting: RemoteSetting,
    /// Declared last: removed once the masters are gone.
    _dir: tempfile::TempDir,
}

/// One sshlogin of the run.
pub(super) struct Host {
    pub(super) login: SshLogin,
    /// Its joblog and message name.
    pub(super) name: String,
    pub(super) masters: Vec<Master>,
    /// Jobs at once there.
    slots: usize,
    /// Its slots wait for its number of CPUs.
    probe: bool,
    up: bool,
}

/// A control master.
pub(super) struct Master {
    child: Option<Child>,
    pub(super) control: PathBuf,
    log: PathBuf,
}

impl Cluster {
    /// Connects to every host of `logins` at once (`:` needs no connection), each with
    /// `login.slots` slots, else as `-j` (`jobs`) says for its number of CPUs, as in GNU
    /// parallel: `-j N` is N on every host, no `-j` is one per CPU of the host, `+N`, `-N` and
    /// `N%` count from the host's CPUs. A host's CPUs are asked for over its connection
    /// (`getconf`) when `-j` needs them. Hosts that cannot be reached are left out, each
    /// with a one-line message; the run is refused when none is left. A stop ends the wait:
    /// no job will start.
    pub fn connect(
        logins: &[SshLogin],
        jobs: Option<Jobs>,
        ssh: Ssh,
        setting: RemoteSetting,
        run_id: &str,
        termseq: TermSeq,
        stop: &Stop,
    ) -> Result<Cluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("brake-ssh-")
            .tempdir()
            .map_err(|err| format!("cannot make a directory for ssh's control sockets: {err}"))?;
        let local_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hosts = logins
            .iter()
            .map(|login| {
                let slots = match (login.slots, jobs) {
                    (Some(slots), _) => Some(slots),
                    (None, Some(Jobs::Count(n))) => Some(n),
                    (None, _) if login.is_local() => Some(slots_for(jobs, local_cpus)),
                    (None, _) => None,
                };
                Host {
                    name: login.to_string(),
                    login: login.clone(),
                    masters: Vec::new(),
                    slots: slots.unwrap_or(0),
                    probe: slots.is_none(),
                    up: true,
                }
            })
            .collect();
        let mut cluster = Cluster {
            ssh,
            hosts,
            slots: Vec::new(),
            heartbeat: Heartbeat::start()
                .map_err(|err| format!("cannot start the heartbeat thread: {err}"))?,
            termseq,
            setting,
            _dir: dir,
        };
        cluster.start_masters(run_id);
        cluster.wait_connected(stop);
        if cluster.hosts.iter().any(|host| host.probe && host.up) {
            cluster.probe_cpus(jobs, local_cpus, stop);
            cluster.start_masters(run_id);
            cluster.wait_connected(stop);
        }
        cluster.fit_limits();
        cluster.send_basefiles(stop);
        let up: Vec<(usize, usize)> = cluster
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, host)| host.up)
            .map(|(index, host)| (index, host.slots))
            .collect();
        if up.is_empty() {
            return Err("no host to run jobs on: every sshlogin failed".into());
        }
        // Slots alternate between hosts, so that the lowest free slot spreads jobs out.
        let most = up.iter().map(|&(_, slots)| slots).max().unwrap_or(0);
        for round in 0..most {
            for &(index, slots) in &up {
                if round < slots {
                    cluster.slots.push((index, round / SESSIONS_PER_MASTER));
                }
            }
        }
        Ok(cluster)
    }

    /// Starts the masters each remote host that is up still lacks for its slots (one while
    /// its slots are not known yet).
    fn start_masters(&mut self, run_id: &str) {
        for (index, host) in self.hosts.iter_mut().enumerate() {
            if host.login.is_local() || !host.up {
                continue;
            }
            let wanted = if host.probe {
                1
            } else {
                host.slots.div_ceil(SESSIONS_PER_MASTER).max(1)
            };
            for m in host.masters.len()..wanted {
                let control = self._dir.path().join(format!("{index}-{m}"));
                let log = self._dir.path().join(format!("{index}-{m}.log"));
                let child = File::create(&log).and_then(|err_file| {
                    self.ssh
                        .master(&host.login, &control)
                        .env(RUN_VAR, run_id)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(err_file)
                        .process_group(0)
                        .spawn()
                });
                let child = match child {
                    Ok(child) => Some(child),
                    Err(err) => {
                        say!("brake: cannot start ssh for host {}: {err}", host.login);
                        None
                    }
                };
                host.masters.push(Master {
                    child,
                    control,
                    log,
                });
            }
        }
    }

    /// Asks every host that is up and needs it how many CPUs it has, all at once, and sets its
    /// slots from that; a host that does not say gets this machine's number.
    fn probe_cpus(&mut self, jobs: Option<Jobs>, local_cpus: usize, stop: &Stop) {
        let asked: Vec<(usize, Option<Child>)> = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, host)| host.probe && host.up)
            .map(|(index, host)| {
                let mut client = self.ssh.client(&host.login, &host.masters[0].control);
                client
                    .arg(CPUS)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .process_group(0);
                (index, client.spawn().ok())
            })
            .collect();
        let started = Instant::now();
        for (index, child) in asked {
            let cpus = child.and_then(|child| answer(child, started, stop));
            let host = &mut self.hosts[index];
            host.slots = slots_for(jobs, cpus.unwrap_or(local_cpus));
            host.probe = false;
        }
    }

    /// Lowers the hosts' slots, the most first, until every job's client fits the limits on
    /// open files and processes here, and says so.
    fn fit_limits(&mut self) {
        let total: usize = self.up_slots();
        let (fitted, why) = crate::limits::fit_jobs(total);
        if fitted >= total {
            return;
        }
        while self.up_slots() > fitted {
            let Some(most) = self
                .hosts
                .iter_mut()
                .filter(|host| host.up && host.slots > 1)
                .max_by_key(|host| host.slots)
            else {
                break;
            };
            most.slots -= 1;
        }
        if let Some(why) = why {
            say!("brake: {why}");
        }
    }

    fn up_slots(&self) -> usize {
        self.hosts
            .iter()
            .filter(|host| host.up)
            .map(|host| host.slots)
            .sum()
    }

    /// Sends `--basefile`s to every host that is up, one host after another; a host that cannot
    /// take them is down.
    fn send_basefiles(&mut self, stop: &Stop) {
        if self.setting.files.basefiles.is_empty() {
            return;
        }
        let files = self.setting.files.base();
        for index in 0..self.hosts.len() {
            let host = &self.hosts[index];
            if stop.is_stopping() || !host.up || host.login.is_local() {
                continue;
            }
            let client = self.ssh.client(&host.login, &host.masters[0].control);
            let script = transfer::script(&client, &files, None, &self.base_dir(), false);
            if let Err(why) = transfer::run_script(&script, &host.name) {
                say!("brake: {why}; its jobs go to the other hosts");
                let host = &mut self.hosts[index];
                host.up = false;
                end_masters(&mut host.masters);
            }
        }
    }

    /// Where basefiles go on a host: `--workdir DIR`, else the home.
    fn base_dir(&self) -> Vec<u8> {
        match &self.setting.workdir {
            Workdir::Dir(dir) => dir.as_encoded_bytes().to_vec(),
            _ => Vec::new(),
        }
    }

    /// Removes the basefiles from every host that is up (`--cleanup`).
    fn remove_basefiles(&mut self) {
        let removal = transfer::base_removal(&self.setting.files, &self.base_dir());
        if removal.is_empty() {
            return;
        }
        // Only over a master that is still there: a client without one would log in anew.
        let reachable = |host: &&Host| {
            host.up
                && host
                    .masters
                    .first()
                    .is_some_and(|master| master.child.is_some() && master.control.exists())
        };
        for host in self.hosts.iter().filter(reachable) {
            let mut client = self.ssh.client(&host.login, &host.masters[0].control);
            client
                .arg(std::ffi::OsStr::from_bytes(&removal))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = client.status();
        }
    }

    /// Waits until each master's socket is there, or its ssh has ended, or the time is up;
    /// a host with a master that failed is down.
    fn wait_connected(&mut self, stop: &Stop) {
        let started = Instant::now();
        while !stop.is_stopping() {
            let mut waiting = false;
            for host in self.hosts.iter_mut().filter(|host| host.up) {
                for master in &mut host.masters {
                    if master.control.exists() {
                        continue;
                    }
                    let ended = match &mut master.child {
                        Some(child) => match child.try_wait() {
                            Ok(Some(status)) => Some(format!("ssh {status}")),
                            Ok(None) if started.elapsed() > CONNECT_LIMIT => {
                                Some(format!("no answer in {}s", CONNECT_LIMIT.as_secs()))
                            }
                            Ok(None) => None,
                            Err(err) => Some(err.to_string()),
                        },
                        None => Some("ssh did not start".into()),
                    };
                    match ended {
                        None => waiting = true,
                        Some(why) => {
                            let why = last_line(&master.log).unwrap_or(why);
                            say!(
                                "brake: cannot reach host {}: {why}; no job goes there",
                                host.name
                            );
                            host.up = false;
                            break;
                        }
                    }
                }
            }
            if !waiting {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for host in self.hosts.iter_mut().filter(|host| !host.up) {
            end_masters(&mut host.masters);
        }
    }

    /// How many slots the run has: the hosts' that are up at the start.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Where the job in `slot` runs.
    pub fn target(&self, slot: usize) -> Target<'_> {
        let (host, master) = self.slots[slot - 1];
        if self.hosts[host].login.is_local() {
            Target::Local
        } else {
            Target::Remote(Remote {
                cluster: self,
                host,
                master,
            })
        }
    }

    /// The host (its index among the run's sshlogins) that `slot` runs on.
    pub fn host_of(&self, slot: usize) -> usize {
        self.slots[slot - 1].0
    }

    /// The first slot of host `host` (its index among the run's sshlogins), if it has any.
    pub fn slot_of(&self, host: usize) -> Option<usize> {
        self.slots
            .iter()
            .position(|&(h, _)| h == host)
            .map(|i| i + 1)
    }

    /// The name of host `host`, as the joblog gives it.
    pub fn host_name(&self, host: usize) -> String {
        self.hosts[host].name.clone()
    }

    /// Whether jobs may still start in `slot`: its host is up.
    pub fn usable(&self, slot: usize) -> bool {
        self.hosts[self.slots[slot - 1].0].up
    }

    /// A job in `slot` came back lost. If the host's connection has ended, the host is taken
    /// out of the run and the message saying so is returned (once).
    pub fn lost(&mut self, slot: usize) -> Option<String> {
        let host = &mut self.hosts[self.slots[slot - 1].0];
        if !host.up {
            return None;
        }
        let gone = host
            .masters
            .iter_mut()
            .any(|master| match &mut master.child {
                Some(child) => !matches!(child.try_wait(), Ok(None)),
                None => true,
            });
        if !gone {
            return None;
        }
        host.up = false;
        let why = host
            .masters
            .iter()
            .find_map(|master| last_line(&master.log))
            .unwrap_or_else(|| "its connection ended".into());
        end_masters(&mut host.masters);
        Some(format!(
            "lost host {} ({why}); no more jobs go there",
            host.name
        ))
    }

    /// Ends every master, at the end of the run: nothing runs on them any more. Basefiles are
    /// removed first, with `--cleanup`.
    pub fn end(&mut self) {
        self.remove_basefiles();
        for host in &mut self.hosts {
            end_masters(&mut host.masters);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.end();
    }
}

/// The slots `-j` gives a host with `cpus` CPUs; `-j 0` (as many as allowed) is one per CPU
/// there.
fn slots_for(jobs: Option<Jobs>, cpus: usize) -> usize {
    jobs.and_then(|jobs| jobs.count(cpus))
        .unwrap_or(cpus)
        .max(1)
}

/// The number a CPU probe printed, waiting for it no longer than [`PROBE_LIMIT`] from
/// `started` or a stop.
fn answer(mut child: Child, started: Instant, stop: &Stop) -> Option<usize> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(None) if started.elapsed() < PROBE_LIMIT && !stop.is_stopping() => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    io::Read::read_to_string(&mut child.stdout.take()?, &mut text).ok()?;
    text.trim().parse::<usize>().ok().filter(|&n| n > 0)
}

/// Asks each master to exit (SIGTERM), which closes its connection, and reaps it.
fn end_masters(masters: &mut [Master]) {
    for master in masters.iter_mut() {
        if let Some(child) = &master.child {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) takes plain integers; the child is not reaped yet, so its
                // pid is still its own.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    }
    for master in masters.iter_mut() {
        if let Some(mut child) = master.child.take() {
            let _ = child.wait();
        }
    }
}

/// The last non-empty line of an ssh log, for a one-line message.
fn last_line(path: &std::path::Path) -> Option<String> {
    let file = File::open(path).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(io::Result::ok)
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .last()
}
