#!/usr/bin/env bash
# GPU against CPU on the seed's full-size S1 and S2 (200000 x 200000, chunks 10000 and
# auto) on this machine. Builds tessera in release mode unless TESSERA_BIN names a
# binary built elsewhere (GPU machines without a Rust toolchain). N, CHUNKS, DEVICES
# and RUN_TIMEOUT override the sizes, chunkings, devices and per-run limit.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TESSERA_BIN:-}" ]; then
  cargo build --release --quiet -p tessera-cli
fi
python3 bench/gpu.py
