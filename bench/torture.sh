#!/usr/bin/env bash
# The torture suite's long run: the tests named `torture_*` in every crate, release build, with
# the trial counts given here instead of CI's fast slice, then one table of what they did and
# found (each test prints a `torture-tally` line; see crates/brake-testkit/src/torture.rs).
#
# Usage: bench/torture.sh [TRIALS [KILLS [FUZZ_CASES]]]   (defaults 200, 50 and 20000)
#   TRIALS      random-interrupt trials per model (threads, process pool, tasks, rayon, the
#               `brake` runner, `brake exec`)
#   KILLS       SIGKILLs of a 1,000-job runner, each followed by --resume on the same joblog
#   FUZZ_CASES  cases per fuzz target (templates, --termseq, joblog reader, pool wire)
# The other torture tests (signal storms, a closing terminal, stubborn children, exhausted
# limits, cgroups, hostile files) run their CI counts. A failing trial prints its seed:
# BRAKE_TORTURE_SEED=N replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

trials="${1:-200}"
kills="${2:-50}"
cases="${3:-20000}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# A shell started in the background may hand down ignored signals; the runs under test must
# start from the defaults, as they would from a terminal.
trap - INT QUIT

echo "cores: $(nproc); $(uname -sr); trials $trials, kills $kills, fuzz cases $cases"
started=$SECONDS
cargo build --release --workspace --all-features --tests --examples --quiet

run() { # NAME ENV... -- FILTER [TEST-HARNESS-ARGS...]
    local name="$1"
    shift
    local env=()
    while [ "$1" != "--" ]; do env+=("$1"); shift; done
    shift
    local filter="$1"
    shift
    echo "== $name"
    # --test-threads=1: trials time their presses; two tests sharing two cores would make
    # each other's moments less random and their stops slower, not their results different.
    local part
    part="$(mktemp)"
    if ! env "${env[@]}" cargo test --release --workspace --all-features --tests --no-fail-fast \
        "$filter" -- --nocapture --test-threads=1 "$@" >"$part" 2>&1; then
        status=1
        echo "   FAILED:"
        grep -A 30 'panicked at' "$part" | sed 's/^/   /' | head -120
    fi
    cat "$part" >>"$log"
    rm -f "$part"
}
status=0
run "random interrupts, $trials trials per model" BRAKE_TORTURE_TRIALS="$trials" -- \
    torture_random_interrupts
run "killed runner and resume, $kills kills" BRAKE_TORTURE_TRIALS="$kills" -- torture_killed
run "fuzzing, $cases cases per target" BRAKE_TORTURE_FUZZ_CASES="$cases" -- torture_fuzz
run "signals, terminal, limits, cgroups, hostile files" -- torture \
    --skip torture_random_interrupts --skip torture_killed --skip torture_fuzz

grep -oE '[a-z-]+: BRAKE_TORTURE_SEED=[0-9]+' "$log" | sed 's/^/seed of /' || true
echo
awk '
    /torture-tally model=/ {
        sub(/.*torture-tally /, "torture-tally ")
        model = ""
        for (i = 2; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == "model") { model = kv[2]; if (!(model in seen)) order[++n] = model; seen[model] = 1 }
            else v[model, kv[1]] += kv[2]
        }
    }
    END {
        cols = "trials faults bad_inputs left_behind lost panics failed"
        split(cols, c, " ")
        printf "| model | trials | faults injected | bad inputs | left behind | results lost | panics | failed checks |\n"
        printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for (i = 1; i <= n; i++) {
            m = order[i]
            printf "| %s |", m
            for (j = 1; j <= 7; j++) { printf " %d |", v[m, c[j]]; t[j] += v[m, c[j]] }
            printf "\n"
        }
        printf "| **all** |"
        for (j = 1; j <= 7; j++) printf " **%d** |", t[j]
        printf "\n"
    }' "$log"
echo
echo "took $((SECONDS - started)) s"
exit "$status"
