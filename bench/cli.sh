#!/usr/bin/env bash
# The `brake` runner against xargs -P, GNU parallel and rust-parallel, side by side in one run:
#   1. throughput: 2,000 jobs of `true` at -j 2 and -j 8, the inputs as stdin lines for every
#      tool (brake, `xargs -P N -n 1`, `parallel -j N`, `rust-parallel -j N`);
#   2. memory: peak RSS of `seq 10000000 | TOOL --dry-run echo` (brake, GNU parallel,
#      rust-parallel; xargs has no dry run). The rivals are slow at it (GNU parallel does
#      ~200 lines/s here), so each gets a time budget and is SIGKILLed when it runs out; the
#      table says how many lines it got through;
#   3. stop latency in a real terminal, Ctrl-C press to exit, with 3 and 64 running `sleep 30`
#      jobs (brake, GNU parallel, xargs; brake and GNU parallel also both with GNU parallel's
#      --termseq, and the floor: a runner that only signals each job's group and waits):
#      `cargo bench -p brake-cli --bench stop_latency`; then with 1,000 running (fewer trials:
#      each starts 1,000 processes).
# brake runs twice in 1 and 3, with `--cgroup on` and `--cgroup off`: with a writable cgroup
# v2 (root, or a delegated scope) `on` is what the default (`auto`) gives; without one, only
# `off` runs, which is then the default. Which one is the default here is printed.
# Then one final table of ratios: how many times faster (or smaller) brake is than each rival.
#
# 1 times each command with python3's os.wait4 (wall time; CPU: user+sys of the tool and its
# jobs); 2 takes the peak RSS of the tool process from GNU time's %M (python's own ru_maxrss
# would count python's memory too: a child's peak includes its parent's until the exec).
# Throughput rounds are interleaved (every command once per round, in a rotating order, after
# one untimed warm-up round), so that the noise of a small machine hits all tools alike;
# medians are reported. Quote ratios, not times across runs. Every tool starts with SIGINT,
# SIGQUIT, SIGPIPE and SIGXFSZ at their defaults, as from an interactive shell, even when this
# script runs in the background (which ignores SIGINT and SIGQUIT; brake keeps ignored signals
# ignored in its jobs, which costs it its fast spawn path).
#
# Usage: bench/cli.sh [ROUNDS [STOP_TRIALS [MEM_BUDGET_S]]]
#   ROUNDS        throughput rounds (default 7, or $ROUNDS; a round takes ~25 s on 2 cores,
#                 GNU parallel ~17 s of it)
#   STOP_TRIALS   Ctrl-C trials per stop contender (default 20, or $STOP_TRIALS; ~3 s a round)
#   MEM_BUDGET_S  seconds each rival's dry run may take (default 30, or $MEM_BUDGET_S)
#   $STOP_TRIALS_1000  Ctrl-C trials with 1,000 running jobs (default 5)
# The defaults take about 10 minutes on 2 cores (throughput ~5, memory ~1, stop ~4).
# Installs what is missing: GNU parallel and GNU time (apt), rust-parallel (cargo install
# --locked). Needs cargo and python3. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

rounds="${1:-${ROUNDS:-7}}"
stop_trials="${2:-${STOP_TRIALS:-20}}"
mem_budget="${3:-${MEM_BUDGET_S:-30}}"
stop_trials_1000="${STOP_TRIALS_1000:-5}"

export PATH="$HOME/.cargo/bin:$PATH"
command -v python3 >/dev/null || { echo "cli.sh: python3 is needed" >&2; exit 1; }
command -v xargs >/dev/null || { echo "cli.sh: xargs (findutils) is needed" >&2; exit 1; }
need_apt=()
command -v parallel >/dev/null || need_apt+=(parallel)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# moreutils also ships a `parallel`, which takes none of these options.
parallel_version=$(parallel --will-cite --version 2>/dev/null | head -1 || true)
case "$parallel_version" in
    "GNU parallel"*) ;;
    *) echo "cli.sh: \`parallel\` is not GNU parallel (moreutils'?)" >&2; exit 1 ;;
esac
command -v rust-parallel >/dev/null || cargo install rust-parallel --locked --quiet

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "brake vs xargs -P, GNU parallel, rust-parallel"
echo "$parallel_version; $(xargs --version | head -1);" \
    "$(rust-parallel --version); python: $(python3 --version 2>&1)"
echo "cores: $(nproc); $(uname -sr); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "== build: cargo build --release -p brake-cli"
cargo build --release --quiet -p brake-cli
BRAKE="$ROOT/target/release/brake"
if "$BRAKE" --cgroup on true ::: 1 2>/dev/null; then
    cgroup_modes=on,off
    echo "a writable cgroup v2 is here: the default (--cgroup auto) is --cgroup on, jobs born in it"
    [ -n "${BRAKE_NO_CLONE3:-}" ] && echo "BRAKE_NO_CLONE3 is set: brake moves into the cgroup instead"
else
    cgroup_modes=off
    echo "no writable cgroup v2 here: the default (--cgroup auto) is --cgroup off"
fi
echo

cat > "$WORK/cli_bench.py" <<'PY'
"""Throughput and dry-run memory of brake and its rivals; the final ratio table."""
import json
import os
import signal
import statistics
import sys
import threading
import time

JOBS = 2000
DRY_LINES = 10_000_000
GNU_TERMSEQ = "TERM,200,TERM,100,TERM,50,KILL,25"
# Reset to their defaults in every spawned tool: a terminal's shell gives them so, while this
# script may run with SIGINT and SIGQUIT ignored, and python ignores SIGPIPE and SIGXFSZ.
DEFAULTED = (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ)


def run(argv, stdin_path):
    """Runs argv with stdin from a file and stdout to /dev/null; wall ms, CPU ms, status."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setsigdef=DEFAULTED)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - start) * 1e3
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3, os.waitstatus_to_exitcode(status)


def throughput(work, brake, rounds, modes):
    inputs = f"{work}/inputs"
    with open(inputs, "w") as f:
        f.write("".join(f"{i}\n" for i in range(1, JOBS + 1)))
    commands = []
    for j in (2, 8):
        commands += [(f"brake --cgroup {m}", j, [brake, "--cgroup", m, "-j", str(j), "true"])
                     for m in modes]
        commands += [
            ("xargs -P", j, ["xargs", "-P", str(j), "-n", "1", "true"]),
            ("GNU parallel", j, ["parallel", "--will-cite", "-j", str(j), "true"]),
            ("rust-parallel", j, ["rust-parallel", "-j", str(j), "true"]),
        ]
    wall = {(n, j): [] for n, j, _ in commands}
    cpu = {(n, j): [] for n, j, _ in commands}
    print(f"{JOBS:,} jobs of `true`, inputs as stdin lines; {rounds} interleaved rounds "
          f"after 1 warm-up round", flush=True)
    for r in range(rounds + 1):
        shift = r % len(commands)
        line = []
        for name, j, argv in commands[shift:] + commands[:shift]:
            w, c, code = run(argv, inputs)
            if code != 0:
                sys.exit(f"cli.sh: {' '.join(argv)} < inputs exited with {code}")
            if r > 0:
                wall[(name, j)].append(w)
                cpu[(name, j)].append(c)
                line.append(f"{name} -j {j} {w:.0f}")
        if r > 0:
            print(f"  round {r:>2} (ms): " + ", ".join(line), flush=True)
    rows = []
    for name, j, argv in commands:
        w = wall[(name, j)]
        rows.append({"tool": name, "jobs": j, "median_ms": statistics.median(w),
                     "min_ms": min(w), "max_ms": max(w),
                     "cpu_ms": statistics.median(cpu[(name, j)]), "runs": len(w),
                     "command": " ".join(argv) + " < inputs"})
    print()
    print(f"Throughput, {JOBS:,} × `true` (wall ms, median of {rounds}; cpu: user+sys of the tool "
          f"and its jobs, median; ratio = tool's median / brake's with --cgroup "
          f"{modes[0]}: how many times faster brake is)")
    print(f"{'tool':<19} {'-j':>3} {'median':>8} {'min':>8} {'max':>8} {'cpu':>8} "
          f"{'µs/job':>7} {'ratio':>7}")
    for row in rows:
        base = next(r for r in rows
                    if r["tool"] == f"brake --cgroup {modes[0]}" and r["jobs"] == row["jobs"])
        ratio = "—" if row is base else f"{row['median_ms'] / base['median_ms']:.2f}×"
        print(f"{row['tool']:<19} {row['jobs']:>3} {row['median_ms']:>8.0f} {row['min_ms']:>8.0f} "
              f"{row['max_ms']:>8.0f} {row['cpu_ms']:>8.0f} {row['median_ms'] * 1e3 / JOBS:>7.0f} "
              f"{ratio:>7}")
    return rows


def children(pid):
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


def dry_run(argv, budget, rss_path):
    """`seq DRY_LINES | argv`, its output lines counted; argv's peak RSS and lines done.

    The peak RSS comes from GNU time (`%M`), not from os.wait4 here: a child's ru_maxrss also
    counts the memory of the process it was spawned from, up to its exec, and python's ~15 MB
    would hide the tool's. When the budget runs out, the tool (GNU time's child) is SIGKILLed;
    GNU time still reports its peak.
    """
    seq_r, seq_w = os.pipe()
    out_r, out_w = os.pipe()
    seq = os.posix_spawnp("seq", ["seq", str(DRY_LINES)], os.environ,
                          file_actions=[(os.POSIX_SPAWN_DUP2, seq_w, 1)], setsigdef=DEFAULTED)
    start = time.perf_counter()
    timed = ["/usr/bin/time", "-f", "%M", "-o", rss_path] + argv
    pid = os.posix_spawn(timed[0], timed, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, seq_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1)], setsigdef=DEFAULTED)
    for fd in (seq_r, seq_w, out_w):
        os.close(fd)
    lines = [0]

    def count():
        while chunk := os.read(out_r, 1 << 20):
            lines[0] += chunk.count(b"\n")

    reader = threading.Thread(target=count)
    reader.start()
    killed = []

    def out_of_time():
        for child in children(pid):
            killed.append(child)
            os.kill(child, signal.SIGKILL)

    timer = threading.Timer(budget, out_of_time)
    timer.start()
    _, status, _ = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    timer.cancel()
    if killed:
        os.kill(seq, signal.SIGKILL)
    os.waitpid(seq, 0)
    reader.join()
    os.close(out_r)
    code = os.waitstatus_to_exitcode(status)
    if not killed and code != 0:
        sys.exit(f"cli.sh: seq {DRY_LINES} | {' '.join(argv)} exited with {code}")
    with open(rss_path) as f:
        rss_kib = int(f.read().split()[-1])
    return {"rss_kib": rss_kib, "lines": lines[0], "seconds": elapsed, "finished": not killed}


def memory(work, brake, budget):
    print(f"`seq {DRY_LINES} | TOOL --dry-run echo`, output lines counted; brake without a "
          f"limit, each rival for at most {budget:.0f} s", flush=True)
    tools = [
        ("brake", [brake, "--dry-run", "echo"], 600),
        ("GNU parallel", ["parallel", "--will-cite", "--dry-run", "echo"], budget),
        ("rust-parallel", ["rust-parallel", "--dry-run", "echo"], budget),
    ]
    rows = []
    for name, argv, limit in tools:
        row = dry_run(argv, limit, f"{work}/rss")
        row["tool"] = name
        rows.append(row)
    brake_row = rows[0]
    if not brake_row["finished"] or brake_row["lines"] != DRY_LINES:
        print(f"  brake printed {brake_row['lines']:,} lines, not {DRY_LINES:,}")
    print()
    print("Memory, peak RSS of the tool process (MiB; ratio = tool's / brake's; goal for brake: "
          "≤ 30 MB)")
    print(f"{'tool':<14} {'peak RSS':>9} {'lines done':>12} {'seconds':>8} {'lines/s':>10} "
          f"{'ratio':>7}")
    for row in rows:
        ratio = "—" if row is brake_row else f"{row['rss_kib'] / brake_row['rss_kib']:.2f}×"
        note = "" if row["finished"] else "  (budget ran out; SIGKILLed)"
        rate = row["lines"] / row["seconds"] if row["seconds"] > 0 else 0
        print(f"{row['tool']:<14} {row['rss_kib'] / 1024:>9.1f} {row['lines']:>12,} "
              f"{row['seconds']:>8.1f} {rate:>10,.0f} {ratio:>7}{note}")
    mb = brake_row["rss_kib"] * 1024 / 1e6
    print(f"goal, brake ≤ 30 MB: {mb:.1f} MB: {'met' if mb <= 30 else 'NOT met'}")
    return rows


def final(work):
    with open(f"{work}/throughput.json") as f:
        tp = json.load(f)
    with open(f"{work}/memory.json") as f:
        mem = json.load(f)
    stop = []
    for name in ("stop.json", "stop1000.json"):
        if os.path.exists(f"{work}/{name}"):
            with open(f"{work}/{name}") as f:
                stop += json.load(f)["results"]
    with open(f"{work}/modes") as f:
        modes = f.read().split()
    default = modes[0]
    print(f"brake's default here: --cgroup auto = --cgroup {default}")
    print("| measure | brake | vs xargs -P | vs GNU parallel | vs rust-parallel | goal |")
    print("|---|---|---|---|---|---|")

    for j in (2, 8):
        by = {r["tool"]: r for r in tp if r["jobs"] == j}
        for mode in modes:
            b = by[f"brake --cgroup {mode}"]["median_ms"]
            x, p, r = (by[t]["median_ms"] / b
                       for t in ("xargs -P", "GNU parallel", "rust-parallel"))
            cells = [f"{by[t]['median_ms']:.0f} ms, **{by[t]['median_ms'] / b:.2f}×**"
                     for t in ("xargs -P", "GNU parallel", "rust-parallel")]
            want = 1.2 if j == 8 else 1.1
            goals = [f"≥ {want}× xargs {'met' if x >= want else 'NOT met'}",
                     f"≥ 10× GNU {'met' if p >= 10.0 else 'NOT met'}",
                     f"> rust-parallel {'met' if r > 1.0 else 'NOT met'}"]
            print(f"| throughput, 2,000 × `true`, -j {j}, --cgroup {mode} | {b:.0f} ms | "
                  + " | ".join(cells) + f" | {'; '.join(goals)} |")

    by = {r["tool"]: r for r in mem}
    b = by["brake"]

    def mem_cell(t):
        r = by[t]
        done = "" if r["finished"] else f" after {r['lines']:,} lines in {r['seconds']:.0f} s"
        return f"{r['rss_kib'] / 1024:.1f} MiB{done}, **{r['rss_kib'] / b['rss_kib']:.2f}×**"

    mb = b["rss_kib"] * 1024 / 1e6
    print(f"| peak RSS, `seq 10000000 \\| … --dry-run echo` | {b['rss_kib'] / 1024:.1f} MiB "
          f"({b['seconds']:.1f} s) | — | {mem_cell('GNU parallel')} | {mem_cell('rust-parallel')} "
          f"| ≤ 30 MB {'met' if mb <= 30 else 'NOT met'} |")

    for j in (3, 64, 1000):
        for termseq in (None, GNU_TERMSEQ):
            rows = [r for r in stop if r["jobs"] == j and r["termseq"] == termseq]
            rivals = {r["name"].split(",")[0]: r for r in rows if not r["name"].startswith("brake")}
            for b in (r for r in rows if r["name"].startswith("brake")):
                if b["median_ms"] is None:
                    continue

                def cell(name):
                    r = rivals.get(name)
                    if not r or r["median_ms"] is None:
                        return "—"
                    exits = ", ".join(r["statuses"])
                    left = f", {r['left_max']} alive at exit" if r["left_max"] else ""
                    return (f"{r['median_ms']:.1f} ms, **{r['median_ms'] / b['median_ms']:.2f}×** "
                            f"({exits}, {r['presses_max']} press{left})")

                p = rivals.get("GNU parallel")
                if j == 1000:
                    met = b["failed"] == 0 and b["median_ms"] <= 40
                    goal = f"≤ 40 ms {'met' if met else 'NOT met'}"
                else:
                    met = (p is not None and p["median_ms"] is not None and b["failed"] == 0
                           and b["median_ms"] <= p["median_ms"])
                    goal = f"≤ GNU parallel {'met' if met else 'NOT met'}"
                what = f"Ctrl-C → exit, {j} running `sleep 30`, --cgroup {b.get('cgroup')}"
                if termseq:
                    what += ", both `--termseq` GNU's"
                print(f"| {what} | {b['median_ms']:.1f} ms ({b['ok']}/{b['ok'] + b['failed']} ok, "
                      f"{b['left_max']} left) | {cell('xargs -P') if not termseq else '—'} | "
                      f"{cell('GNU parallel')} | — | {goal} |")
            floor = rivals.get("floor")
            if floor and floor["median_ms"]:
                brakes = ", ".join(
                    f"--cgroup {b.get('cgroup')} {b['median_ms'] / floor['median_ms']:.2f}×"
                    for b in rows if b["name"].startswith("brake") and b["median_ms"])
                print(f"| Ctrl-C → exit, {j} running `sleep 30`, the floor: a runner that only "
                      f"signals each job's group and waits | {floor['median_ms']:.1f} ms | — | — | — "
                      f"| brake / floor: {brakes} |")
    print()
    print("Ratios: the rival's median time (or peak RSS) over brake's; above 1 means brake is "
          "faster (or smaller). Stop rows: median Ctrl-C → exit latency; xargs dies of the SIGINT "
          "at once without waiting for its jobs (they get the same SIGINT), hence \"alive at "
          f"exit\". GNU's termseq: {GNU_TERMSEQ}.")


if __name__ == "__main__":
    what, work = sys.argv[1], sys.argv[2]
    if what == "throughput":
        result = throughput(work, sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","))
    elif what == "memory":
        result = memory(work, sys.argv[3], float(sys.argv[4]))
    else:
        final(work)
        sys.exit(0)
    with open(f"{work}/{what}.json", "w") as f:
        json.dump(result, f, indent=1)
PY

echo "== 1. throughput"
echo "$cgroup_modes" | tr , ' ' > "$WORK/modes"
python3 "$WORK/cli_bench.py" throughput "$WORK" "$BRAKE" "$rounds" "$cgroup_modes"
echo

echo "== 2. memory"
python3 "$WORK/cli_bench.py" memory "$WORK" "$BRAKE" "$mem_budget"
echo

echo "== 3. stop latency: cargo bench -p brake-cli --bench stop_latency -- $stop_trials --cgroup $cgroup_modes"
cargo bench --quiet -p brake-cli --bench stop_latency -- "$stop_trials" --cgroup "$cgroup_modes" \
    --json "$WORK/stop.json"
echo
echo "== 3b. stop latency, 1,000 running: cargo bench -p brake-cli --bench stop_latency -- $stop_trials_1000 --jobs 1000 --cgroup $cgroup_modes"
cargo bench --quiet -p brake-cli --bench stop_latency -- "$stop_trials_1000" --jobs 1000 \
    --cgroup "$cgroup_modes" --json "$WORK/stop1000.json"
echo

echo "== summary: how many times faster (or smaller) brake is (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 "$WORK/cli_bench.py" final "$WORK"
