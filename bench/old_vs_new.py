"""Two tessera binaries side by side: wall time and peak memory on the seed's workloads.

Interleaved runs (old, new, old, new, ...), 3 of each, medians; results must be equal.
Usage: python3 bench/old_vs_new.py OLD_BINARY NEW_BINARY
"""
import json, subprocess, statistics, sys
OLD, NEW = sys.argv[1], sys.argv[2]
S2 = "x = random((20000, 20000), seed=42, chunks=2000); (x * x[::-1, ::-1]).sum()"
O1 = "x = random((200000,)); (x + 1).sum()"
cases = [
    ("S2 threads", ["--scheduler", "threads", S2]),
    ("S2 local-cluster 2x1", ["--scheduler", "local-cluster", "--workers", "2", "--threads-per-worker", "1", S2]),
    ("O1 chunks=10 threads", ["--chunks", "10", O1]),
    ("O1 chunks=10 no-fuse threads", ["--chunks", "10", "--no-fuse", O1]),
    ("O1 chunks=10 local-cluster 2x1", ["--scheduler", "local-cluster", "--workers", "2", "--threads-per-worker", "1", "--chunks", "10", O1]),
    ("S2 --memory-limit 200MiB threads, no fuse", ["--memory-limit", "200MiB", "--no-fuse", "--chunks", "2000", "x = random((8000, 8000), seed=1); y = x + 1; (y + y.T).sum()"]),
]
print("| workload | old wall s | new wall s | new/old | old peak | new peak | results equal |")
print("|---|---:|---:|---:|---:|---:|---|")
for name, args in cases:
    runs = {OLD: [], NEW: []}
    for _ in range(3):
        for b in (OLD, NEW):
            out = subprocess.run([b, "run", "--json", *args], capture_output=True, text=True, check=True).stdout
            runs[b].append(json.loads(out))
    med = {b: statistics.median(r["wall_s"] for r in runs[b]) for b in runs}
    peak = {b: statistics.median(r["peak_memory_bytes"] for r in runs[b]) / 2**20 for b in runs}
    same = len({json.dumps(r["result"]) for b in runs for r in runs[b]}) == 1
    print(f"| {name} | {med[OLD]:.3f} | {med[NEW]:.3f} | {med[NEW]/med[OLD]:.2f} | {peak[OLD]:.1f} MiB | {peak[NEW]:.1f} MiB | {same} |")
