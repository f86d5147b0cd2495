"""Runs one workload in Dask and prints a JSON line: result, wall_s, peak_memory_bytes.

Usage: python dask_workload.py WORKLOAD CHUNKS [threads|cluster]
WORKLOAD is s1 (ones), s2 (random) or o1 (scheduler overhead); CHUNKS an int or auto.
Only the compute() call is timed, as tessera's wall_s times only the computation.
"""
import json
import resource
import sys
import time

import dask
import dask.array as da


def build(workload, chunks):
    if workload == "s1":
        x = da.ones((20000, 20000), chunks=chunks)
        return (x * x[::-1, ::-1]).sum()
    if workload == "s2":
        x = da.random.default_rng(42).random((20000, 20000), chunks=chunks)
        return (x * x[::-1, ::-1]).sum()
    if workload == "o1":
        x = da.random.default_rng(0).random((200000,), chunks=chunks)
        return (x + 1).sum()
    raise SystemExit(f"unknown workload {workload}")


def main():
    workload, chunks = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "threads"
    chunks = chunks if chunks == "auto" else int(chunks)
    expr = build(workload, chunks)
    if mode == "cluster":
        # The same shape as tessera's local-cluster: 2 worker processes, 1 thread each.
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster):
                start = time.perf_counter()
                result = float(expr.compute())
                wall = time.perf_counter() - start
    else:
        start = time.perf_counter()
        with dask.config.set(scheduler="threads"):
            result = float(expr.compute())
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"result": result, "wall_s": wall, "peak_memory_bytes": peak, "dask": dask.__version__}))


if __name__ == "__main__":
    main()
