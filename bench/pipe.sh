#!/usr/bin/env bash
# `--pipe` throughput: brake against GNU parallel, side by side in one run, on the same file
# of lines (1 GiB by default, written to $TMPDIR first and then read from the page cache):
#   TOOL --pipe --block B wc -l < FILE      for B in 1M and 10M
# Each command runs ROUNDS times (default 3), interleaved (GNU parallel, then brake, each
# round), after one untimed warm-up of each that also checks both count every line. Prints
# the median wall time and MB/s of each, and brake's MB/s over GNU parallel's.
#
# Usage: bench/pipe.sh [SIZE_MIB [ROUNDS]]   (needs GNU parallel and cargo; not run in CI)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib="${1:-1024}"
rounds="${2:-3}"

command -v parallel >/dev/null || { echo "pipe.sh: GNU parallel is needed" >&2; exit 1; }
cargo build --release --quiet -p brake-cli
brake="$(pwd)/target/release/brake"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
file="$dir/lines.txt"
seq 1 400000000 | head -c "$((size_mib * 1024 * 1024))" > "$file" || true
bytes=$(stat -c %s "$file")
lines=$(wc -l < "$file")

# Wall seconds of one run of "$@" with the file on stdin, its output summed into $dir/sum.
timed() {
    local start end
    start=$(date +%s.%N)
    "$@" < "$file" | awk '{s += $1} END {print s}' > "$dir/sum"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "pipe.sh: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "pipe.sh: $(parallel --version | head -1), brake $("$brake" --version | cut -d' ' -f2)"
echo "pipe.sh: $((bytes / 1024 / 1024)) MiB, $lines lines; median of $rounds; wc -l per block"
printf '%-7s %-14s %10s %10s\n' block tool seconds MB/s
for block in 1M 10M; do
    gnu=(parallel --will-cite --pipe --block "$block" wc -l)
    ours=("$brake" --pipe --block "$block" wc -l)
    for tool in gnu ours; do
        declare -n cmd=$tool
        timed "${cmd[@]}" > /dev/null
        got=$(cat "$dir/sum")
        [ "$got" = "$lines" ] || { echo "pipe.sh: $tool counted $got lines of $lines" >&2; exit 1; }
    done
    : > "$dir/gnu.times"
    : > "$dir/ours.times"
    for _ in $(seq "$rounds"); do
        timed "${gnu[@]}" >> "$dir/gnu.times"
        timed "${ours[@]}" >> "$dir/ours.times"
    done
    g=$(median < "$dir/gnu.times")
    o=$(median < "$dir/ours.times")
    gmb=$(echo "scale=1; $bytes / 1000000 / $g" | bc)
    omb=$(echo "scale=1; $bytes / 1000000 / $o" | bc)
    printf '%-7s %-14s %10.2f %10.1f\n' "$block" "GNU parallel" "$g" "$gmb"
    printf '%-7s %-14s %10.2f %10.1f\n' "$block" "brake" "$o" "$omb"
    printf '%-7s %-14s %21s\n' "$block" "brake/GNU" "$(echo "scale=2; $omb / $gmb" | bc)x"
done
