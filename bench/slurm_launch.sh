#!/usr/bin/env bash
# The launcher's targets on a one-node Slurm (tests/launchers/slurm-up.sh starts one):
# time from `tessera launch slurm --jobs 2` to both workers joined (Slurm's own queueing
# reported apart by the launcher), then S2 on those workers against S2 on a local
# cluster of the same shape (2 workers, 1 thread each), alternating, REPEAT times each.
# Usage: bench/slurm_launch.sh [path/to/tessera]   (default target/release/tessera)
set -euo pipefail
BIN=${1:-target/release/tessera}
REPEAT=${REPEAT:-5}
S2=${S2:-"x = random((20000, 20000), seed=42, chunks=2000); (x * x[::-1, ::-1]).sum()"}
DIR=$(mktemp -d)
trap '"$BIN" launch stop "$DIR/cluster.json" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
bash "$(dirname "$0")/../tests/launchers/slurm-up.sh" >/dev/null

start=$(date +%s.%N)
"$BIN" launch slurm --jobs 2 --cores 1 --memory 4GiB --cluster-file "$DIR/cluster.json" 2>"$DIR/launch.log" &
until grep -q "cluster ready" "$DIR/launch.log"; do sleep 0.05; done
ready=$(date +%s.%N)
grep -E "joined:|cluster ready" "$DIR/launch.log"
wall() { "$BIN" run --json "$S2" "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_s"])'; }
first=$(wall --cluster-file "$DIR/cluster.json")
done_at=$(date +%s.%N)
python3 -c "print(f'launch to 2 workers joined: {$ready - $start:.2f} s; to S2 done: {$done_at - $start:.2f} s (first S2 {$first:.3f} s)')"
for i in $(seq 1 "$REPEAT"); do
  echo "slurm $(wall --cluster-file "$DIR/cluster.json") local-cluster $(wall --scheduler local-cluster --workers 2 --threads-per-worker 1)"
done | awk '{ s += $2; l += $4; print } END { printf "mean S2 wall: slurm workers %.3f s, local cluster %.3f s, ratio %.3f\n", s/NR, l/NR, s/l }'
