#!/usr/bin/env bash
# tessera against Dask (with zarr-python) on stored data: a 20000 x 20000 float64 Zarr
# v3 array with zstd written by zarr-python, and a .npy of the same values. Creates
# bench/.venv (dask[array], zarr) on first use, builds tessera in release mode, makes
# the data under target/bench-io (SIZE=... for another size), and prints a table of
# medians of REPEAT (default 3) fresh processes per workload.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ] || ! bench/.venv/bin/python -c "import dask, zarr" 2>/dev/null; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet "dask[array,distributed]" "zarr>=3.1,<3.2"
fi
cargo build --release --quiet -p tessera-cli
bench/.venv/bin/python bench/io.py
