#!/usr/bin/env bash
# Side-by-side benchmark of tessera and Dask (threads scheduler) on this machine.
# Creates bench/.venv with dask[array,distributed] and zarr on first use, builds tessera
# in release mode, prints the S1/S2/O1 table (bench/vs_dask.py, CLUSTER=0 skips its
# cluster rows), then the everyday workloads at two chunk sizes each with this
# machine's bounds (bench/everyday.py; ONLY=substring runs some of them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet "dask[array,distributed]" zarr
fi
cargo build --release --quiet -p tessera-cli
cargo build --release --quiet -p tessera-kernels --example machine_bounds
if [ "${EVERYDAY_ONLY:-0}" != 1 ]; then
  bench/.venv/bin/python bench/vs_dask.py
fi
bench/.venv/bin/python bench/everyday.py
