"""tessera against Dask on the same machine: S1, S2, O1 and S1's memory.

Runs every workload REPEAT times in a fresh process each (so peak memory is per run),
and prints a Markdown table of medians and ratios. Usage (from the repository root):

    bench/vs_dask.sh            # creates bench/.venv with dask[array], builds, runs this
"""
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESSERA = os.path.join(ROOT, "target", "release", "tessera")
REPEAT = int(os.environ.get("REPEAT", "3"))
CHUNKS = os.environ.get("CHUNKS", "1000,2000,4000,10000,auto").split(",")

EXPRS = {
    "s1": "x = ones((20000, 20000)); (x * x[::-1, ::-1]).sum()",
    "s2": "x = random((20000, 20000), seed=42); (x * x[::-1, ::-1]).sum()",
    "o1": "x = random((200000,)); (x + 1).sum()",
}


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(cmd):
    return median_of_n(cmd, REPEAT)


def median_of_n(cmd, n):
    runs = [run_json(cmd) for _ in range(n)]
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "peak": statistics.median(r["peak_memory_bytes"] for r in runs),
        "result": runs[0]["result"],
        "tasks": runs[0].get("tasks"),
        "results": {json.dumps(r["result"]) for r in runs},
    }


def tessera(workload, chunks, *extra, scheduler="threads"):
    cluster = ["--workers", "2", "--threads-per-worker", "1"] if scheduler == "local-cluster" else []
    return median_of([TESSERA, "run", "--json", "--scheduler", scheduler, *cluster, "--chunks", chunks, *extra, EXPRS[workload]])


def dask(workload, chunks, mode="threads"):
    return median_of([sys.executable, os.path.join(ROOT, "bench", "dask_workload.py"), workload, chunks, mode])


def mib(b):
    return f"{b / 2**20:.0f} MiB"


def main():
    rows = []
    s2_results = set()
    for workload in ("s1", "s2"):
        for c in CHUNKS:
            t, d = tessera(workload, c), dask(workload, c)
            if workload == "s2":
                s2_results |= t["results"]
            rows.append((f"{workload.upper()} C={c}", d, t, ""))
    o1_dask = dask("o1", "10")
    rows.append(("O1 chunks=10", o1_dask, tessera("o1", "10"), ""))
    unfused = tessera("o1", "10", "--no-fuse")
    per_task = unfused["wall_s"] / unfused["tasks"] * 1e6
    rows.append(("O1 chunks=10, fusion off", o1_dask, unfused, f"{per_task:.1f} µs/task"))

    # Clusters: Dask LocalCluster(2 workers x 1 thread) against tessera local-cluster(2 x 1).
    if os.environ.get("CLUSTER", "1") == "1":
        for workload, c in (("s1", "2000"), ("s2", "2000"), ("s2", "10000")):
            t = tessera(workload, c, scheduler="local-cluster")
            threads = tessera(workload, c)
            note = f"{t['wall_s'] / threads['wall_s']:.2f}x tessera threads"
            if workload == "s2":
                s2_results |= t["results"]
            rows.append((f"{workload.upper()} C={c}, cluster 2x1", dask(workload, c, "cluster"), t, note))
        # Dask's distributed O1 takes minutes: one run of it serves both rows.
        o1_cluster = median_of_n([sys.executable, os.path.join(ROOT, "bench", "dask_workload.py"), "o1", "10", "cluster"], 1)
        t = tessera("o1", "10", scheduler="local-cluster")
        rows.append(("O1 chunks=10, cluster 2x1", o1_cluster, t, "Dask: 1 run"))
        t = tessera("o1", "10", "--no-fuse", scheduler="local-cluster")
        rows.append(("O1 fusion off, cluster 2x1", o1_cluster, t, f"{t['wall_s'] / t['tasks'] * 1e6:.0f} µs/task; Dask: 1 run"))

    print("Cluster rows compare Dask's LocalCluster with tessera's local-cluster; their peak RSS is the client process only.")
    print()
    print(f"| workload | Dask | tessera | speed-up | Dask peak RSS | tessera peak RSS | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, d, t, note in rows:
        speedup = d["wall_s"] / t["wall_s"]
        print(f"| {name} | {d['wall_s']:.3f} s | {t['wall_s']:.3f} s | {speedup:.1f}x | {mib(d['peak'])} | {mib(t['peak'])} | {note} |")
    print()
    print(f"S2 tessera results over all chunk sizes and repeats: {sorted(s2_results)} "
          f"({'bit-identical' if len(s2_results) == 1 else 'DIFFERENT'})")


if __name__ == "__main__":
    main()
