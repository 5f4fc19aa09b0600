#!/usr/bin/env bash
# brake -S against GNU parallel -S, side by side on the same real OpenSSH servers:
#   1. throughput: 500 jobs of `echo N` on two hosts (127.0.0.2 and 127.0.0.3), -j 4 per host,
#      brake (one control master per host, made by brake) against GNU parallel as it runs by
#      default (a connection and a login per job) and with -M (its control masters);
#   2. Ctrl-C in a real terminal with two hosts × 3 running jobs: from the press until no
#      remote job is left (`sleep MARKER`, found in /proc);
#   3. the runner SIGKILLed with 2 × 3 remote jobs running: how many remote jobs are still
#      alive 3 s later;
#   4. a network partition: one host in a network namespace, joined by a veth pair, runs 2 jobs;
#      the link is cut (ip link set … down: packets are lost, nothing is reset) and the remote
#      jobs still alive 15 s later are counted.
# Every server is this script's own sshd (throwaway keys in a temporary directory, its own
# sshd_config, -D -e), so nothing of the machine's ssh configuration is used or changed; the
# servers see an empty ~/.bashrc through a bind mount in a mount namespace of their own.
# Throughput rounds are interleaved and medians reported; quote ratios, not times across runs.
#
# Usage: bench/remote.sh [ROUNDS [STOP_TRIALS]]   (defaults 3 and 5)
# Needs root (sshd as any user, network namespaces), python3, cargo; installs openssh-server
# and GNU parallel with apt when missing. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
rounds="${1:-3}"
stop_trials="${2:-5}"

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v parallel >/dev/null || missing+=(parallel)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q -p brake-cli
BRAKE="$ROOT/target/release/brake"

export BRAKE ROUNDS="$rounds" STOP_TRIALS="$stop_trials"
exec python3 -u - <<'PY'
import os, pty, select, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

BRAKE = os.environ["BRAKE"]
ROUNDS = int(os.environ["ROUNDS"])
TRIALS = int(os.environ["STOP_TRIALS"])
work = tempfile.mkdtemp(prefix="brake-bench-ssh-")
os.makedirs("/run/sshd", exist_ok=True)
for key in ("host_key", "user_key"):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{work}/{key}"], check=True)
shutil.copy(f"{work}/user_key.pub", f"{work}/authorized_keys")
open(f"{work}/empty", "w").close()
SSH = (f"ssh -F none -i {work}/user_key -o UserKnownHostsFile={work}/known_hosts "
       "-o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR")
servers, cleanups = [], []

def free_port(addr):
    s = socket.socket(); s.bind((addr, 0)); port = s.getsockname()[1]; s.close(); return port

def sshd(addr, port, prefix=()):
    conf = f"{work}/sshd-{addr}.conf"
    with open(conf, "w") as f:
        f.write(f"Port {port}\nListenAddress {addr}\nHostKey {work}/host_key\nPidFile none\n"
                f"AuthorizedKeysFile {work}/authorized_keys\nStrictModes no\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin yes\nMaxStartups 200\nLogLevel ERROR\n")
    # The servers run in a mount namespace of their own where the login user's ~/.bashrc is
    # an empty file: bash reads it for every ssh command, and a heavy one (pyenv, conda)
    # would weigh on every job of both tools alike. Nothing outside the namespace changes.
    quiet = (f"[ ! -e \"$HOME/.bashrc\" ] || mount --bind {work}/empty \"$HOME/.bashrc\"; "
             f"exec /usr/sbin/sshd -D -e -f {conf}")
    p = subprocess.Popen([*prefix, "unshare", "-m", "--propagation", "private", "sh", "-c", quiet],
                         stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers.append(p)
    for _ in range(500):
        try:
            socket.create_connection((addr, port), timeout=1).close(); break
        except OSError:
            time.sleep(0.02)
    return f"{addr}:{port}"

def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0

A = sshd("127.0.0.2", free_port("127.0.0.2"))
B = sshd("127.0.0.3", free_port("127.0.0.3"))
NS, LINK = f"brake-bench-{os.getpid()}", f"bkb{os.getpid() % 100000}a"
isolated = None
if (ip("netns", "add", NS) and ip("link", "add", LINK, "type", "veth", "peer", "name", LINK[:-1] + "b")
        and ip("link", "set", LINK[:-1] + "b", "netns", NS)
        and ip("addr", "add", "10.232.0.1/30", "dev", LINK) and ip("link", "set", LINK, "up")
        and ip("-n", NS, "addr", "add", "10.232.0.2/30", "dev", LINK[:-1] + "b")
        and ip("-n", NS, "link", "set", LINK[:-1] + "b", "up")):
    ip("-n", NS, "link", "set", "lo", "up")
    isolated = sshd("10.232.0.2", 2222, ("ip", "netns", "exec", NS))

def tool(name, logins, rest):
    s = ",".join(logins)
    if name == "brake":
        return [BRAKE, "--ssh", SSH, "-S", s, *rest]
    extra = ["-M"] if name == "parallel -M" else []
    return ["parallel", "--will-cite", *extra, "--ssh", SSH, "-S", s, *rest]

def procs(needle):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if needle.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                    found.append(int(pid))
            except OSError:
                pass
    return found

def sleeps(needle):
    n = 0
    for pid in procs(needle):
        try:
            n += open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sleep\0" + needle.encode())
        except OSError:
            pass
    return n

def kill_all(needle):
    for pid in procs(needle):
        try: os.kill(pid, signal.SIGKILL)
        except OSError: pass

def wait_sleeps(needle, count, limit=60):
    end = time.time() + limit
    while sleeps(needle) < count:
        if time.time() > end:
            raise SystemExit(f"only {sleeps(needle)} of {count} remote jobs started")
        time.sleep(0.02)

def leftovers():
    """Ends what a tool left running after it exited (GNU parallel -M leaves a process that
    keeps its control masters), so that it does not weigh on the next measurement."""
    for pid in procs(work):
        try:
            if b"sshd" not in open(f"/proc/{pid}/cmdline", "rb").read():
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

def default_signals():
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)

TOOLS = ["brake", "parallel", "parallel -M"]
print(f"servers: {A} {B}" + (f", isolated {isolated}" if isolated else ", no network namespace"))

# 1. throughput: each job echoes its number, and a round counts the numbers that came back, so
# that a tool which exits 0 without running every job is not taken for a fast one.
times = {t: [] for t in TOOLS}
short = {t: 0 for t in TOOLS}
jobs = ["-j", "4", "echo", ":::", *map(str, range(500))]
for r in range(ROUNDS + 1):
    for t in TOOLS[r % 3:] + TOOLS[:r % 3]:
        start = time.time()
        with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
            p = subprocess.Popen(tool(t, [A, B], jobs), stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err,
                                 preexec_fn=default_signals)
            code = p.wait()
            took = time.time() - start
            leftovers()
            out.seek(0)
            ran = len(set(out.read().split()))
            if code != 0:
                err.seek(0)
                print(f"  {t}: exit {code}: {err.read().decode()[-300:]}")
            if ran != 500:
                print(f"  {t}: exit {code}, but only {ran} of 500 jobs ran")
                short[t] = max(short[t], 500 - ran)
        if r > 0:
            times[t].append(took)
rate = {t: 500 / statistics.median(v) for t, v in times.items()}
for t in TOOLS:
    print(f"throughput {t:12} {rate[t]:7.1f} jobs/s" + (f" ({short[t]} jobs missing in a round)" if short[t] else ""))

# 2. Ctrl-C in a pty: press → no remote job left
def ctrl_c(name, trial):
    needle = f"600.{os.getpid()}{trial:03d}"
    argv = tool(name, [A, B], ["-j", "3", f"sleep {needle}", ":::", *map(str, range(20))])
    pid, fd = pty.fork()
    if pid == 0:
        default_signals()
        os.execvp(argv[0], argv)
    wait_sleeps(needle, 6)
    time.sleep(0.2)
    press = time.time()
    os.write(fd, b"\x03")
    gone = None
    while time.time() - press < 30:
        if select.select([fd], [], [], 0)[0]:
            try: os.read(fd, 65536)
            except OSError: pass
        if not sleeps(needle):
            gone = time.time() - press; break
        time.sleep(0.002)
    for _ in range(300):
        if os.waitpid(pid, os.WNOHANG)[0]: break
        if select.select([fd], [], [], 0.01)[0]:
            try: os.read(fd, 65536)
            except OSError: pass
    else:
        os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
    try: os.killpg(pid, signal.SIGKILL)  # what the tool left in its terminal's group
    except OSError: pass
    os.close(fd)
    kill_all(needle)
    return gone

stop = {}
for t in ("brake", "parallel"):
    results = [ctrl_c(t, i + (100 if t != "brake" else 0)) for i in range(TRIALS)]
    done = [r for r in results if r is not None]
    stop[t] = (statistics.median(done) if done else None, len(results) - len(done))
    med = f"{stop[t][0] * 1000:7.0f} ms" if done else "  never"
    print(f"ctrl-c → remote jobs gone {t:9} median {med} ({stop[t][1]} of {TRIALS} left jobs > 30 s)")

# 3. SIGKILL of the runner
def killed(name):
    needle = f"600.{os.getpid()}9{len(name)}"
    p = subprocess.Popen(tool(name, [A, B], ["-j", "3", f"sleep {needle}", ":::", *map(str, range(20))]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=default_signals, start_new_session=True)
    wait_sleeps(needle, 6)
    p.kill(); p.wait()
    time.sleep(3)
    left = sleeps(needle)
    kill_all(needle)
    try: os.killpg(p.pid, signal.SIGKILL)
    except OSError: pass
    return left

left_kill = {t: killed(t) for t in ("brake", "parallel")}
for t, n in left_kill.items():
    print(f"remote jobs alive 3 s after SIGKILL of {t:9}: {n} of 6")

# 4. partition
left_cut = {}
if isolated:
    for i, t in enumerate(("parallel", "brake")):
        needle = f"600.{os.getpid()}8{i}"
        p = subprocess.Popen(tool(t, [isolated], ["-j", "2", f"sleep {needle}", ":::", "1", "2"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=default_signals, start_new_session=True)
        wait_sleeps(needle, 2)
        ip("link", "set", LINK, "down")
        time.sleep(15)
        left_cut[t] = sleeps(needle)
        kill_all(needle)
        p.kill(); p.wait()
        try: os.killpg(p.pid, signal.SIGKILL)
        except OSError: pass
        ip("link", "set", LINK, "up")
        time.sleep(1)
    for t, n in left_cut.items():
        print(f"remote jobs alive 15 s after the link was cut, {t:9}: {n} of 2")

print()
print("| | brake | GNU parallel | GNU parallel -M |")
print("|---|---|---|---|")
shown = lambda t: f"{rate[t]:.0f}" + (f" ({short[t]} of 500 not run)" if short[t] else "")
print(f"| 500 × `echo` on 2 hosts, jobs/s | {shown('brake')} | {shown('parallel')} | {shown('parallel -M')} |")
fmt = lambda s: f"{s[0] * 1000:.0f} ms" if s[0] is not None else "never"
print(f"| Ctrl-C → all remote jobs gone (median of {TRIALS}) | {fmt(stop['brake'])} | {fmt(stop['parallel'])} | |")
print(f"| remote jobs left 3 s after SIGKILL of the runner | {left_kill['brake']} of 6 | {left_kill['parallel']} of 6 | |")
if left_cut:
    print(f"| remote jobs left 15 s after a partition | {left_cut['brake']} of 2 | {left_cut['parallel']} of 2 | |")
print(f"\nbrake/GNU parallel throughput: {rate['brake'] / rate['parallel']:.1f}× "
      f"(vs -M: {rate['brake'] / rate['parallel -M']:.1f}×)")

for p in servers:
    p.kill(); p.wait()
if isolated:
    ip("link", "del", LINK); ip("netns", "del", NS)
shutil.rmtree(work, ignore_errors=True)
PY
