#!/usr/bin/env bash
# Moving chunks between workers, two ways:
#  1. the transport's ceiling: 1 GiB over one pinned, authenticated QUIC connection
#     between two processes on loopback (crates/transport/examples/throughput.rs);
#  2. a workload that must move chunks: each output block of a rechunk gathers pieces
#     of every input block, half of them held by the other worker. The run reports the
#     bytes fetched and the rate while fetches were in flight (`transfer` in the JSON).
# Run from anywhere; builds in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tessera-cli -p tessera-transport --example throughput
echo "transport ceiling (1 connection, loopback):"
for streams in 1 4; do target/release/examples/throughput 1024 "$streams"; done
echo "local-cluster, 2 workers x 1 thread, materialized rechunk moving ~2 GB:"
target/release/tessera run --no-fuse --scheduler local-cluster --workers 2 --threads-per-worker 1 \
  'ones((8000, 8000), chunks=(8000, 1000)).rechunk((1000, 8000)).sum()'
