#!/usr/bin/env bash
# Side-by-side benchmark of tessera and Dask (threads scheduler) on this machine.
# Creates bench/.venv with dask[array] on first use, builds tessera in release mode,
# and prints a table of medians of REPEAT (default 3) runs and their ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet "dask[array,distributed]"
fi
cargo build --release --quiet -p tessera-cli
bench/.venv/bin/python bench/vs_dask.py
