"""tessera against Dask on stored data (`just bench-io`).

Data (made once, under BENCH_IO_DIR, default target/bench-io): x.zarr, a SIZE x SIZE
float64 Zarr v3 array in 2000 x 2000 chunks with zarr-python's default zstd, written by
zarr-python through Dask; x.npy, the same values. Each workload runs REPEAT times in a
fresh process per system (Dask: threads scheduler, zarr-python; tessera: `tessera run`)
and the table gives medians of wall time and peak RSS (measured from outside, by the
kernel's account of the child), and checks that both computed the same thing.
"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESSERA = os.path.join(ROOT, "target", "release", "tessera")
REPEAT = int(os.environ.get("REPEAT", "3"))
SIZE = int(os.environ.get("SIZE", "20000"))
CHUNK = 2000
DATA = os.path.abspath(os.environ.get("BENCH_IO_DIR", os.path.join(ROOT, "target", "bench-io")))
ZARR = os.path.join(DATA, f"x{SIZE}.zarr")
NPY = os.path.join(DATA, f"x{SIZE}.npy")

DASK_PRELUDE = """
import sys, json, time
import numpy as np, dask, dask.array as da, zarr
dask.config.set(scheduler="threads")
t0 = time.perf_counter()
"""

# name -> (tessera source, Dask code setting `result`), {z} {n} {out} filled in.
WORKLOADS = {
    "zarr sum": ("from_zarr('{z}').sum()", "result = float(da.from_zarr('{z}').sum().compute())"),
    "zarr mean(axis=0)": (
        "from_zarr('{z}').mean(axis=0)",
        "result = da.from_zarr('{z}').mean(axis=0).compute()[:10].tolist()",
    ),
    "zarr anomaly -> to_zarr float32": (
        "x = from_zarr('{z}'); y = x - x.mean(axis=0); to_zarr(y.astype(float32), '{out}', overwrite=True)",
        "x = da.from_zarr('{z}'); y = x - x.mean(axis=0); y.astype('f4').to_zarr('{out}', overwrite=True); result = None",
    ),
    "zarr rechunk (N, 500) -> to_zarr": (
        "to_zarr(from_zarr('{z}').rechunk(({size}, 500)), '{out}', overwrite=True)",
        "da.from_zarr('{z}').rechunk(({size}, 500)).to_zarr('{out}', overwrite=True); result = None",
    ),
    "npy sum": (
        "from_npy('{n}', chunks=2000).sum()",
        "result = float(da.from_array(np.load('{n}', mmap_mode='r'), chunks=2000).sum().compute())",
    ),
    "npy mean(axis=0)": (
        "from_npy('{n}', chunks=2000).mean(axis=0)",
        "result = da.from_array(np.load('{n}', mmap_mode='r'), chunks=2000).mean(axis=0).compute()[:10].tolist()",
    ),
}


def make_data():
    os.makedirs(DATA, exist_ok=True)
    if os.path.exists(os.path.join(ZARR, "zarr.json")) and os.path.exists(NPY):
        return
    print(f"making {SIZE} x {SIZE} float64 data in {DATA} ...", file=sys.stderr)
    code = f"""
import numpy as np, dask, dask.array as da, zarr
dask.config.set(scheduler="threads")
x = da.random.default_rng(0).random(({SIZE}, {SIZE}), chunks={CHUNK})
x.to_zarr('{ZARR}', overwrite=True)
z = zarr.open_array('{ZARR}')
m = np.lib.format.open_memmap('{NPY}', mode='w+', dtype='f8', shape=({SIZE}, {SIZE}))
for i in range(0, {SIZE}, {CHUNK}):
    m[i:i + {CHUNK}] = z[i:i + {CHUNK}]
m.flush()
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def measured(cmd):
    """Runs cmd; returns (wall seconds, peak RSS bytes of the child, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{err}")
    return wall, usage.ru_maxrss * 1024, out


def run(system, name, out):
    t_src, d_src = WORKLOADS[name]
    fill = dict(z=ZARR, n=NPY, out=out, size=SIZE)
    walls, peaks, result = [], [], None
    for _ in range(REPEAT):
        shutil.rmtree(out, ignore_errors=True)
        if system == "tessera":
            wall, peak, stdout = measured([TESSERA, "run", "--json", t_src.format(**fill)])
            r = json.loads(stdout)["result"]
            result = r["values"] if isinstance(r, dict) else r
        else:
            code = DASK_PRELUDE + d_src.format(**fill) + "\nprint(json.dumps(result))"
            wall, peak, stdout = measured([sys.executable, "-c", code])
            result = json.loads(stdout)
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), statistics.median(peaks), result


def same_array(a, b):
    code = f"""
import numpy as np, zarr
a, b = zarr.open_array('{a}')[:], zarr.open_array('{b}')[:]
print(int(a.shape != b.shape or a.dtype != b.dtype), int((a != b).sum()), float(np.abs(a.astype('f8') - b).max()))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return f"{out[1]} elements differ (max {float(out[2]):.1e})" if out[0] == "0" else "shape/dtype differ"


def agree(t, d):
    if isinstance(t, list) and t and isinstance(t[0], dict):
        return None
    ts = t if isinstance(t, list) else [t]
    ds = d if isinstance(d, list) else [d]
    worst = max(abs(a - b) / max(abs(a), abs(b), 1e-300) for a, b in zip(ts, ds))
    return f"rel. diff {worst:.1e}"


def main():
    make_data()
    rows = []
    for name in WORKLOADS:
        outs = {s: os.path.join(DATA, f"out-{s}.zarr") for s in ("tessera", "dask")}
        dw, dp, dr = run("dask", name, outs["dask"])
        tw, tp, tr = run("tessera", name, outs["tessera"])
        check = agree(tr, dr) if dr is not None else same_array(outs["tessera"], outs["dask"])
        rows.append((name, dw, dp, tw, tp, check))
        print(f"{name}: dask {dw:.2f} s, tessera {tw:.2f} s, {check}", file=sys.stderr)
    print(f"\n{SIZE} x {SIZE} float64 ({SIZE * SIZE * 8 / 1e9:.1f} GB), chunks {CHUNK}; medians of {REPEAT}, fresh processes\n")
    print("| workload | Dask | tessera | speed-up | Dask peak RSS | tessera peak RSS | results |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, dw, dp, tw, tp, check in rows:
        print(f"| {name} | {dw:.2f} s | {tw:.2f} s | {dw / tw:.1f}x | {dp / 2**20:.0f} MiB | {tp / 2**20:.0f} MiB | {check} |")


if __name__ == "__main__":
    main()
