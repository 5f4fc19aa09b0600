#!/usr/bin/env bash
# Builds the brake Python package into a fresh virtual environment and runs its tests (pytest,
# tests/): the real-terminal Ctrl-C tests and the parity tests against the standard library.
# Needs python3 (3.9 or later, with venv), the Rust toolchain and network access to PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
venv="$work/venv/bin"
export PATH="$venv:$PATH"  # the maturin build backend runs `maturin` from PATH
"$venv/python" -m pip install --quiet --upgrade pip
"$venv/python" -m pip install --quiet "maturin>=1.9.4,<2" pytest
# In-tree build with the maturin just installed: cargo reuses the workspace's target directory.
"$venv/python" -m pip install --quiet --no-build-isolation "$here"

cd "$work"
status=0
"$venv/python" -m pytest -q -p no:cacheprovider "$here/tests" || status=$?
if [ "$status" -eq 5 ]; then
    echo "brake-py: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
