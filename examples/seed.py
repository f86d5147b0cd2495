"""The seed notebook's cells redone with tessera (``python examples/seed.py``).

The seed ran ``(x * x[::-1, ::-1]).sum()`` over a 200000 x 200000 array of ones with
Dask, at chunks of 2000, 10000, ``auto`` and 20000 (where its kernel died), on one
machine with the single-threaded and threaded schedulers, on a cluster of 3 workers,
and on a GPU. ``SEED_SIZE`` sets the edge (200000 as in the seed; CI uses 20000).
The same cells are in ``examples/seed.ipynb``.
"""

import os
import shutil
import tempfile
import time

import numpy as np

import tessera
import tessera.array as ta
from tessera.diagnostics import ProgressBar
from tessera.distributed import Client, LocalCluster

N = int(os.environ.get("SEED_SIZE", "200000"))
shape = (N, N)
want = float(N) * N


def big_calc(x):
    return (x * x[::-1, ::-1]).sum()


# Cells 1-6: chunks of 2000 (100 per axis at the seed's size), 10000, and auto.
for chunks in (N // 100, N // 20, "auto"):
    x = ta.ones(shape, chunks=chunks)
    print(x)
    with ProgressBar():
        result = big_calc(x).compute()
    print(f"Total size: {result}")
    assert result == want

# Cells 7-8: chunks of 20000, where Dask's kernel died of memory. tessera never
# materializes x * x[::-1, ::-1] (the product and the sum are one fused task), so it runs
# in a few MiB; a computation that must hold its chunks, x @ x.T, is refused before it
# runs when they cannot fit, with the largest chunks that would.
x = ta.ones(shape, chunks=N // 10)
with ProgressBar():
    print(f"Total size: {big_calc(x).compute()}")
block_bytes = x.chunksize[0] * x.chunksize[1] * 8
try:
    # A matrix product task holds blocks of both operands and its output: more than one.
    (x @ x.T).sum().compute(memory_limit=block_bytes)
    raise AssertionError("a product of blocks larger than the limit ran")
except tessera.ResourceError as e:
    print(f"refused before running: {e}")

# Cells 15-20: single-threaded against threads, random values (ones sum without
# touching memory), the same bits whatever the scheduler.
x = ta.random.default_rng(42).random((N // 10, N // 10), chunks=N // 100)
timings = {}
for scheduler in ("single-threaded", "threads"):
    start = time.perf_counter()
    timings[scheduler] = (big_calc(x).compute(scheduler=scheduler), time.perf_counter() - start)
    print(f"{scheduler:>16}: {timings[scheduler][0]!r} in {timings[scheduler][1]:.2f} s")
assert timings["single-threaded"][0] == timings["threads"][0]

# Cells 21-27: a cluster of 3 workers (processes on this machine, talking QUIC).
with LocalCluster(n_workers=3, threads_per_worker=1) as cluster, Client(cluster):
    start = time.perf_counter()
    on_cluster = big_calc(x).compute()
    print(f"   3-worker cluster: {on_cluster!r} in {time.perf_counter() - start:.2f} s")
assert on_cluster == timings["threads"][0]

# Cells 28-29: the GPU (through wgpu: Vulkan), or the reason there is none.
available, reason = tessera._core.gpu_available()
if available:
    y = ta.ones(shape, chunks=N // 20)
    start = time.perf_counter()
    print(f"Total size on the GPU: {ta.sum(y).compute(device='gpu')} in {time.perf_counter() - start:.2f} s")
else:
    print(f"GPU cell skipped: no GPU adapter ({reason})")

# The seed's parallel-write experiment: three workers write one array into one Zarr
# store and one .npy file; every element is where it belongs.
folder = tempfile.mkdtemp(prefix="tessera-seed-")
try:
    rows, cols = 2000, 1000
    x = ta.arange(rows, chunks=50)[:, None] * 1000 + ta.arange(cols, chunks=25)[None, :]
    with LocalCluster(n_workers=3, threads_per_worker=1) as cluster, Client(cluster):
        x.to_zarr(os.path.join(folder, "race.zarr"), chunks=(50, 25))
        ta.to_npy(x, os.path.join(folder, "race.npy"))
    expected = np.arange(rows)[:, None] * 1000 + np.arange(cols)[None, :]
    misplaced = int((np.load(os.path.join(folder, "race.npy")) != expected).sum())
    back = ta.from_zarr(os.path.join(folder, "race.zarr")).compute()
    misplaced += int((back != expected).sum())
    print(f"elements out of place after parallel writes: {misplaced}")
    assert misplaced == 0
finally:
    shutil.rmtree(folder, ignore_errors=True)
