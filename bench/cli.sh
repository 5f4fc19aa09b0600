#!/usr/bin/env bash
# The `brake` runner against xargs -P, GNU parallel and rust-parallel, side by side in one run:
# throughput of 2,000 `true` jobs, peak memory of a 10,000,000-line --dry-run, and Ctrl-C ->
# exit in a real terminal with 3 and 64 running jobs. Prints medians and ratios (how many times
# faster or smaller brake is) as a Markdown table.
#
#   bash bench/cli.sh [RUNS] [STOP_TRIALS]     # defaults: 10 hyperfine runs, 10 Ctrl-C trials
#
# Installs what it needs (GNU parallel, hyperfine, GNU time with apt; rust-parallel with cargo).
# Not run in CI: it takes a few minutes and its numbers are only meaningful side by side.
set -euo pipefail

# Started from a script or in the background, this shell may have inherited SIGINT and SIGQUIT
# ignored (and Python ignores SIGXFSZ); brake keeps ignored signals ignored and then resets
# them in each job by the slower fork path. Measure what an interactive user gets: defaults.
if [ -z "${BRAKE_BENCH_DEFAULTS:-}" ]; then
    export BRAKE_BENCH_DEFAULTS=1
    exec python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGXFSZ):
    signal.signal(s, signal.SIG_DFL)
os.execvp("bash", ["bash"] + sys.argv[1:])' "$0" "$@"
fi

RUNS=${1:-10}
STOP_TRIALS=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

need_apt=()
command -v parallel >/dev/null || need_apt+=(parallel)
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v rust-parallel >/dev/null || cargo install rust-parallel --locked --quiet
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release --quiet -p brake-cli --manifest-path "$ROOT/Cargo.toml"
BRAKE="$ROOT/target/release/brake"
seq 2000 > "$WORK/in"
mapfile -t ARGS < "$WORK/in"

echo "== throughput: 2,000 jobs of true (hyperfine, $RUNS runs each)" >&2
for j in 2 8; do
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/tp$j.json" --style none \
        -n brake "$BRAKE -j $j true :::: $WORK/in" \
        -n xargs "xargs -P $j -n 1 -a $WORK/in true" \
        -n "GNU parallel" "parallel --will-cite -j $j true :::: $WORK/in" \
        -n rust-parallel "rust-parallel -j $j true ::: ${ARGS[*]}" >/dev/null
done

echo "== memory: --dry-run over stdin lines" >&2
peak_kb() { /usr/bin/time -f %M -o "$WORK/rss" bash -c "$1" >/dev/null 2>&1; cat "$WORK/rss"; }
BRAKE_RSS=$(peak_kb "seq 10000000 | $BRAKE --dry-run echo")
# GNU parallel needs about four minutes for 100,000 lines here; 10,000 show its footprint.
PARALLEL_RSS=$(peak_kb "seq 10000 | parallel --will-cite --dry-run echo")

echo "== Ctrl-C -> exit in a pty ($STOP_TRIALS trials each)" >&2
SLEEPS=$(printf '30 %.0s' $(seq 100))
GNU_SEQ=TERM,200,TERM,100,TERM,50,KILL,25
stop() { python3 "$ROOT/bench/pty_stop.py" "$STOP_TRIALS" "$1" -- "${@:2}"; }
for j in 3 64; do
    stop "$j" "$BRAKE" -j "$j" sleep ::: $SLEEPS > "$WORK/stop-brake-$j.json"
    stop "$j" parallel --will-cite -j "$j" sleep ::: $SLEEPS > "$WORK/stop-parallel-$j.json"
    stop "$j" bash -c "printf '30\n%.0s' {1..100} | xargs -P $j -n 1 sleep" > "$WORK/stop-xargs-$j.json"
    stop "$j" "$BRAKE" --termseq "$GNU_SEQ" -j "$j" sleep ::: $SLEEPS > "$WORK/stop-brake-gnuseq-$j.json"
    stop "$j" parallel --will-cite --termseq "$GNU_SEQ" -j "$j" sleep ::: $SLEEPS > "$WORK/stop-parallel-gnuseq-$j.json"
done

python3 - "$WORK" "$BRAKE_RSS" "$PARALLEL_RSS" <<'EOF'
import json, sys
work, brake_rss, parallel_rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def medians(path):
    runs = json.load(open(path))["results"]
    return {r["command"]: r["median"] * 1000 for r in runs}

print("| what | brake | xargs -P | GNU parallel | rust-parallel |")
print("|---|---|---|---|---|")
for j in (2, 8):
    m = medians(f"{work}/tp{j}.json")
    b = m["brake"]
    cells = [f"{m[t]:.0f} ms ({m[t] / b:.2f}×)" for t in ("xargs", "GNU parallel", "rust-parallel")]
    print(f"| 2,000 × `true`, -j {j} | {b:.0f} ms | " + " | ".join(cells) + " |")

print(f"| peak RSS, `--dry-run` over stdin | {brake_rss / 1024:.1f} MB (10,000,000 lines) | — "
      f"| {parallel_rss / 1024:.1f} MB (10,000 lines) | — |")

def stop(name):
    return json.load(open(f"{work}/stop-{name}.json"))

for j in (3, 64):
    b, p, x = stop(f"brake-{j}"), stop(f"parallel-{j}"), stop(f"xargs-{j}")
    bg, pg = stop(f"brake-gnuseq-{j}"), stop(f"parallel-gnuseq-{j}")
    def cell(r, base):
        extra = "" if r["left_behind"] == 0 else f", {r['left_behind']} left"
        return f"{r['median_ms']:.1f} ms ({r['median_ms'] / base:.2f}×, exit {r['status']}, {r['max_presses']} press{extra})"
    print(f"| Ctrl-C → exit, {j} running `sleep` | {b['median_ms']:.1f} ms (exit {b['status']}, "
          f"{b['max_presses']} press, {b['left_behind']} left) | {cell(x, b['median_ms'])} | "
          f"{cell(p, b['median_ms'])} | — |")
    print(f"| the same, both with `--termseq {'TERM,200,TERM,100,TERM,50,KILL,25'}` | "
          f"{bg['median_ms']:.1f} ms | — | {cell(pg, bg['median_ms'])} | — |")
EOF
