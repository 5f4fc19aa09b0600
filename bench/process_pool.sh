#!/usr/bin/env bash
# brake's process pool against Python's multiprocessing.Pool, in one go:
#   1. stop latency under a real terminal, Ctrl-C press to exit seen
#      (crates/brake/benches/process_stop.rs; Python side: bench/seed_pool.py);
#   2. throughput of tiny tasks (crates/brake/benches/process_ratio.rs).
# Both print medians and ratios from one run; quote ratios, not times across runs.
#
# Usage: bench/process_pool.sh [STOP_TRIALS [THROUGHPUT_ROUNDS]]   (defaults 10 and 5)
# Needs cargo and python3. The stop bench builds the process_pool example itself
# (cargo build --release --example process_pool -p brake).
set -euo pipefail
cd "$(dirname "$0")/.."

trials="${1:-10}"
rounds="${2:-5}"

command -v python3 >/dev/null || { echo "process_pool.sh: python3 is needed" >&2; exit 1; }
echo "python: $(python3 --version 2>&1); cores: $(nproc); $(uname -sr)"
echo

echo "== 1. stop latency: cargo bench -p brake --bench process_stop -- $trials"
cargo bench -p brake --bench process_stop -- "$trials"
echo

echo "== 2. throughput: cargo bench -p brake --bench process_ratio -- $rounds"
cargo bench -p brake --bench process_ratio -- "$rounds"
