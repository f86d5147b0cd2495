#!/usr/bin/env bash
# A 1,000,000-task graph (fusion off) on a scheduler and two workers started by hand:
# prints the run's JSON, the client's and the scheduler's peak RSS, and the scheduler's
# per-worker task counts. Run from anywhere; builds tessera in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tessera-cli
T=$PWD/target/release/tessera
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$D"' EXIT
"$T" scheduler --cluster-file "$D/c.json" 2> "$D/s.log" &
SP=$!
while [ ! -s "$D/c.json" ]; do sleep 0.05; done
"$T" worker --cluster-file "$D/c.json" --threads 1 --name w1 2> "$D/w1.log" &
"$T" worker --cluster-file "$D/c.json" --threads 1 --name w2 2> "$D/w2.log" &
/usr/bin/env time -f "client peak RSS %M KiB, elapsed %e s" \
  "$T" run --json --no-fuse --cluster-file "$D/c.json" 'x = random((330000,), chunks=1); (x + 1).sum()'
echo "scheduler $(grep VmHWM /proc/$SP/status)"
tail -1 "$D/s.log"
