"""tessera against Dask on everyday workloads, each at two chunk sizes, with this
machine's bounds (`bench/vs_dask.sh` runs it after the S1/S2/O1 table).

Every run is a fresh process. Dask: the threads scheduler, `da.random.default_rng`,
zarr-python and numpy for stored data; only `compute()` is timed (imports and graph
construction are not). tessera: `tessera run --json`, the whole process timed from
outside (start-up, parsing, planning and exit included), so the comparison leans
towards Dask. Medians of REPEAT (default 3) runs.

Bounds: `crates/kernels/examples/machine_bounds.rs` measures Philox values per second
per core, a STREAM-like read bandwidth on every core and zstd's decode and encode
rates per core; numpy's matmul (OpenBLAS, all cores) gives GEMM flops. Each workload
declares the least work it must do (random values generated once each, bytes read,
bytes decoded or encoded, flops), and its bound is the slowest of those at the
machine's rates; `x bound` is tessera's time over that bound.
"""
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESSERA = os.path.join(ROOT, "target", "release", "tessera")
REPEAT = int(os.environ.get("REPEAT", "3"))
ONLY = os.environ.get("ONLY")  # a substring of workload names, to run a few

_spec = importlib.util.spec_from_file_location("bench_io", os.path.join(ROOT, "bench", "io.py"))
bench_io = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_io)
ZARR, NPY, SIZE = bench_io.ZARR, bench_io.NPY, bench_io.SIZE
OUT = os.path.join(bench_io.DATA, "everyday-out.zarr")

M = 16000  # the side of most 2-D workloads: 2 GB of float64


def rng(seed, shape):
    return f"da.random.default_rng({seed}).random({shape}, chunks={{c}})"


# name, tessera source, Dask source (sets `expr`), chunk sizes, least work.
# In both sources {c} is the chunk size; {z} {n} {out} the stored arrays.
WORKLOADS = [
    ("S1 ones 20000²", "x = ones((20000, 20000), chunks={c}); (x * x[::-1, ::-1]).sum()",
     "x = da.ones((20000, 20000), chunks={c}); expr = (x * x[::-1, ::-1]).sum()", (2000, 4000), {}),
    ("S2 random 20000²", "x = random((20000, 20000), seed=42, chunks={c}); (x * x[::-1, ::-1]).sum()",
     f"x = {rng(42, (20000, 20000))}; expr = (x * x[::-1, ::-1]).sum()", (2000, 4000), {"philox": 4e8}),
    ("O1 (x + 1).sum() 200000", "x = random((200000,), chunks={c}); (x + 1).sum()",
     f"x = {rng(0, (200000,))}; expr = (x + 1).sum()", (100, 1000), {}),
    ("elementwise chain", f"x = random(({M}, {M}), seed=1, chunks={{c}}); (sqrt(x) * 2 + exp(-x) / (1 + x * x)).sum()",
     f"x = {rng(1, (M, M))}; expr = (da.sqrt(x) * 2 + da.exp(-x) / (1 + x * x)).sum()", (2000, 4000), {"philox": M * M}),
    ("(x + x.T).sum() 12000²", "x = random((12000, 12000), seed=1, chunks={c}); (x + x.T).sum()",
     f"x = {rng(1, (12000, 12000))}; expr = (x + x.T).sum()", (2000, 4000), {"philox": 1.44e8}),
    ("anomaly axis 0", f"x = random(({M}, {M}), seed=1, chunks={{c}}); y = x - x.mean(axis=0); (y * y).sum(axis=0).max()",
     f"x = {rng(1, (M, M))}; y = x - x.mean(axis=0); expr = (y * y).sum(axis=0).max()", (2000, 4000), {"philox": M * M}),
    ("anomaly axis 1", f"x = random(({M}, {M}), seed=1, chunks={{c}}); y = x.T - x.mean(axis=1); (y * y).sum(axis=0).max()",
     f"x = {rng(1, (M, M))}; y = x.T - x.mean(axis=1); expr = (y * y).sum(axis=0).max()", (2000, 4000), {"philox": M * M}),
    ("std axis 0, var", f"x = random(({M}, {M}), seed=2, chunks={{c}}); x.std(axis=0).max() + x.var()",
     f"x = {rng(2, (M, M))}; expr = x.std(axis=0).max() + x.var()", (2000, 4000), {"philox": M * M}),
    ("min/max along axes", f"x = random(({M}, {M}), seed=3, chunks={{c}}); x.max(axis=0).sum() - x.min(axis=1).sum()",
     f"x = {rng(3, (M, M))}; expr = x.max(axis=0).sum() - x.min(axis=1).sum()", (2000, 4000), {"philox": M * M}),
    ("strided, reversed slices", "x = random((20000, 20000), seed=4, chunks={c}); (x[::2, ::3] * x[1::2, ::-3]).sum()",
     f"x = {rng(4, (20000, 20000))}; expr = (x[::2, ::3] * x[1::2, ::-3]).sum()", (2000, 4000), {"philox": 1.33e8}),
    ("3-D mean axes (0, 2)", "z = random((640, 640, 640), seed=5, chunks={c}); z.mean(axis=(0, 2)).max()",
     f"z = {rng(5, (640, 640, 640))}; expr = z.mean(axis=(0, 2)).max()", (160, 320), {"philox": 640**3}),
    ("matmul (x @ x.T).sum() 6000²", "x = random((6000, 6000), seed=6, chunks={c}); (x @ x.T).sum()",
     f"x = {rng(6, (6000, 6000))}; expr = (x @ x.T).sum()", (1500, 3000), {"flops": 2 * 6000**3}),
    ("npy sum", "from_npy('{n}', chunks={c}).sum()",
     "expr = da.from_array(np.load('{n}', mmap_mode='r'), chunks={c}).sum()", (2000, 4000), {"read": SIZE * SIZE * 8}),
    ("npy rechunk (N, 500) max(axis=0)", "from_npy('{n}', chunks={c}).rechunk((%d, 500)).max(axis=0).sum()" % SIZE,
     "expr = da.from_array(np.load('{n}', mmap_mode='r'), chunks={c}).rechunk((%d, 500)).max(axis=0).sum()" % SIZE,
     (2000, 4000), {"read": SIZE * SIZE * 8}),
    ("zarr mean(axis=0)", "from_zarr('{z}', chunks={c}).mean(axis=0).max()",
     "expr = da.from_zarr('{z}', chunks={c}).mean(axis=0).max()", (2000, 4000), {"decode": SIZE * SIZE * 8}),
    ("random -> to_zarr", f"to_zarr(random(({M}, {M}), seed=7, chunks={{c}}), '{{out}}', overwrite=True)",
     f"expr = {rng(7, (M, M))}.to_zarr('{{out}}', overwrite=True, compute=False)", (2000, 4000),
     {"philox": M * M, "encode": M * M * 8}),
    # The numpy surface of issue "The numpy API a Dask user reaches for first".
    ("nanmean, nanstd along axes", f"x = random(({M}, {M}), seed=8, chunks={{c}}); y = where(x > 0.9, nan, x); nanmean(y, axis=0).max() + nanstd(y, axis=1).max()",
     f"x = {rng(8, (M, M))}; y = da.where(x > 0.9, np.nan, x); expr = da.nanmean(y, axis=0).max() + da.nanstd(y, axis=1).max()",
     (2000, 4000), {"philox": 2 * M * M}),
    ("any, all, count_nonzero", f"x = random(({M}, {M}), seed=9, chunks={{c}}); (x > 0.999).any(axis=0).sum() + (x > 0.001).all(axis=1).sum() + count_nonzero(x > 0.5)",
     f"x = {rng(9, (M, M))}; expr = (x > 0.999).any(axis=0).sum() + (x > 0.001).all(axis=1).sum() + da.count_nonzero(x > 0.5)",
     (2000, 4000), {"philox": 3 * M * M}),
    ("floor_divide, mod, clip, rint", f"x = random(({M}, {M}), seed=10, chunks={{c}}); (clip(x * 10, 1, 9) // 2 % 3 + rint(x * 4)).sum()",
     f"x = {rng(10, (M, M))}; expr = (da.clip(x * 10, 1, 9) // 2 % 3 + da.rint(x * 4)).sum()",
     (2000, 4000), {"philox": M * M}),
    ("argmax along axis 0", f"x = random(({M}, {M}), seed=11, chunks={{c}}); x.argmax(axis=0).sum()",
     f"x = {rng(11, (M, M))}; expr = x.argmax(axis=0).sum()", (2000, 4000), {"philox": M * M}),
    ("cumsum along axis 0", f"x = random(({M}, {M}), seed=12, chunks={{c}}); x.cumsum(axis=0)[-1].sum()",
     f"x = {rng(12, (M, M))}; expr = x.cumsum(axis=0)[-1].sum()", (2000, 4000), {"philox": M * M}),
    # The rest of the numpy API (issue "The numpy API a Dask user reaches for first").
    ("np-api: concatenate", f"x = random(({M}, {M}), seed=13, chunks={{c}}); concatenate([x, x[::-1]], axis=1).sum(axis=1).max()",
     f"x = {rng(13, (M, M))}; expr = da.concatenate([x, x[::-1]], axis=1).sum(axis=1).max()", (2000, 4000), {"philox": M * M}),
    ("np-api: pad edge + roll", f"x = random(({M}, {M}), seed=14, chunks={{c}}); pad(x, 100, mode='edge').sum() + roll(x, 1000, axis=1)[0].sum()",
     f"x = {rng(14, (M, M))}; expr = da.pad(x, 100, mode='edge').sum() + da.roll(x, 1000, axis=1)[0].sum()", (2000, 4000), {"philox": M * M}),
    ("np-api: take rows", f"x = random(({M}, {M}), seed=15, chunks={{c}}); x[{list(range(M - 1, 0, -7))}].sum(axis=0).max()",
     f"x = {rng(15, (M, M))}; expr = x[{list(range(M - 1, 0, -7))}].sum(axis=0).max()", (2000, 4000), {"philox": M * M}),
    ("np-api: ravel", f"x = random(({M}, {M}), seed=16, chunks={{c}}); x.ravel()[::3].sum()",
     f"x = {rng(16, (M, M))}; expr = x.ravel()[::3].sum()", (2000, 4000), {"philox": M * M}),
    ("np-api: median axis 0", f"x = random(({M}, {M}), seed=17, chunks={{c}}); median(x, axis=0).max()",
     f"x = {rng(17, (M, M))}; expr = da.median(x, axis=0).max()", (2000, 4000), {"philox": M * M}),
    ("np-api: einsum 'ij,ij->i'", f"x = random(({M}, {M}), seed=18, chunks={{c}}); einsum('ij,ij->i', x, x[::-1]).max()",
     f"x = {rng(18, (M, M))}; expr = da.einsum('ij,ij->i', x, x[::-1]).max()", (2000, 4000), {"philox": M * M}),
    ("np-api: histogram 10 bins", f"x = random(({M}, {M}), seed=20, chunks={{c}}); histogram(x, 10, range=(0, 1))[0].max()",
     f"x = {rng(20, (M, M))}; expr = da.histogram(x, bins=10, range=(0, 1))[0].max()", (2000, 4000), {"philox": M * M}),
    ("np-api: boolean mask", f"x = random(({M}, {M}), seed=21, chunks={{c}}); x[x > 0.9].mean()",
     f"x = {rng(21, (M, M))}; expr = x[x > 0.9].mean()", (2000, 4000), {"philox": 2 * M * M}),
    ("np-api: tensordot 6000²", "x = random((6000, 6000), seed=19, chunks={c}); tensordot(x, x, axes=([0], [0])).sum()",
     f"x = {rng(19, (6000, 6000))}; expr = da.tensordot(x, x, axes=([0], [0])).sum()", (1500, 3000), {"flops": 2 * 6000**3}),
]

DASK_RUN = """
import json, sys, time
import numpy as np, dask, dask.array as da
{code}
t0 = time.perf_counter()
with dask.config.set(scheduler="threads"):
    r = dask.compute(expr)[0]
wall = time.perf_counter() - t0
print(json.dumps({{"wall_s": wall, "result": None if r is None or not np.isscalar(r) else float(r)}}))
"""


def bounds():
    out = subprocess.run(["cargo", "run", "--release", "--quiet", "-p", "tessera-kernels", "--example", "machine_bounds"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    b = json.loads(out.strip().splitlines()[-1])
    code = """
import json, time, numpy as np
a = np.random.default_rng(0).random((3000, 3000)); a @ a
best = min((lambda t: (a @ a, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(json.dumps(2 * 3000**3 / best))
"""
    b["gemm_flops"] = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    return b


def bound_seconds(work, b):
    cores = b["threads"]
    times = []
    if "philox" in work:
        times.append(work["philox"] / (b["philox_per_core_per_s"] * cores))
    if "read" in work:
        times.append(work["read"] / (b["read_gbs"] * 1e9))
    if "decode" in work:
        times.append(work["decode"] / (b["zstd_decode_gbs_per_core"] * 1e9 * cores))
    if "encode" in work:
        times.append(work["encode"] / (b["zstd_encode_gbs_per_core"] * 1e9 * cores))
    if "flops" in work:
        times.append(work["flops"] / b["gemm_flops"])
    return max(times) if times else None


def bound_name(work, b):
    if not work:
        return "-"
    return max(work, key=lambda k: bound_seconds({k: work[k]}, b))


def tessera(src):
    start = time.perf_counter()
    out = subprocess.run([TESSERA, "run", "--json", src], check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    r = json.loads(out.strip().splitlines()[-1])["result"]
    return wall, (r if isinstance(r, (int, float)) else None)


def dask(src):
    out = subprocess.run([sys.executable, "-c", DASK_RUN.format(code=src)], check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["wall_s"], r["result"]


def medians(fn, src):
    runs = [fn(src) for _ in range(REPEAT)]
    return statistics.median(w for w, _ in runs), runs[0][1]


def main():
    bench_io.make_data()
    b = bounds()
    print(f"machine: {json.dumps(b)}", file=sys.stderr)
    rows = []
    for name, t_src, d_src, chunk_sizes, work in WORKLOADS:
        if ONLY and ONLY not in name:
            continue
        for c in chunk_sizes:
            fill = dict(c=c, z=ZARR, n=NPY, out=OUT)
            dw, dr = medians(dask, d_src.format(**fill))
            tw, tr = medians(tessera, t_src.format(**fill))
            agree = "-" if dr is None or tr is None else f"{abs(tr - dr) / max(abs(dr), 1e-300):.0e}"
            bound = bound_seconds(work, b)
            rows.append((f"{name}, chunks {c}", dw, tw, bound, bound_name(work, b), agree))
            print(f"{rows[-1][0]}: dask {dw:.3f} s, tessera {tw:.3f} s", file=sys.stderr)
    print(f"\nMachine: {b['threads']} threads; Philox {b['philox_per_core_per_s'] / 1e9:.2f} G values/s per core; "
          f"read {b['read_gbs']:.1f} GB/s; copy {b['copy_gbs']:.1f} GB/s; zstd decode {b['zstd_decode_gbs_per_core']:.2f} "
          f"and encode {b['zstd_encode_gbs_per_core']:.2f} GB/s per core; numpy GEMM {b['gemm_flops'] / 1e9:.0f} GFLOP/s. "
          f"Medians of {REPEAT}.\n")
    print("| workload | Dask | tessera | speed-up | bound | bound by | x bound | rel. diff |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for name, dw, tw, bound, by, agree in rows:
        bound_s = f"{bound:.3f} s" if bound else "-"
        ratio = f"{tw / bound:.1f}" if bound else "-"
        print(f"| {name} | {dw:.3f} s | {tw:.3f} s | {dw / tw:.1f}x | {bound_s} | {by} | {ratio} | {agree} |")


if __name__ == "__main__":
    main()
