"""What the Python package adds over `tessera run`, and what from_array / compute copy.

Run with a Python that has the package built in release mode (`just python`, or
`maturin develop --release -m bindings/python/Cargo.toml` in a venv):

    python bench/python_overhead.py [path/to/tessera]

For each workload it times `tessera run --json` (its own `wall_s`: plan and run, the
process start left out) and the same expression through `tessera.array` (plan and run
inside `compute()`), alternating, REPEAT times, and prints medians. Then, each in a
fresh process, the peak RSS of `from_array` of a 1 GiB numpy array and of `compute()`
of a 1 GiB result.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import tessera.array as ta

TESSERA = sys.argv[1] if len(sys.argv) > 1 else "target/release/tessera"
REPEAT = int(os.environ.get("REPEAT", "5"))


def cli(source):
    out = subprocess.run([TESSERA, "run", "--json", source], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["wall_s"]


def python(make):
    start = time.perf_counter()
    make().compute()
    return time.perf_counter() - start


def compare(name, source, make):
    cli(source), python(make)  # warm the page cache and the allocator
    c, p = [], []
    for _ in range(REPEAT):
        c.append(cli(source))
        p.append(python(make))
    c, p = statistics.median(c), statistics.median(p)
    print(f"| {name} | {c:.3f} s | {p:.3f} s | {p - c:+.3f} s ({(p / c - 1) * 100:+.1f} %) |")


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copies():
    gib = 1 << 30
    if sys.argv[-1] == "from_array":
        values = np.ones(gib // 8)
        before = rss_mib()
        x = ta.from_array(values, chunks=(gib // 8) // 8)
        print(f"| from_array of 1 GiB | {before:.0f} MiB | {rss_mib():.0f} MiB | {rss_mib() - before:+.0f} MiB |")
        del x
    else:
        before = rss_mib()
        values = (ta.arange(gib // 8, chunks=(gib // 8) // 8) * 1.0).compute()
        print(f"| compute() of a 1 GiB result | {before:.0f} MiB | {rss_mib():.0f} MiB | {rss_mib() - before:+.0f} MiB |")
        del values


if __name__ == "__main__":
    if sys.argv[-1] in ("from_array", "result"):
        copies()
        sys.exit(0)
    folder = tempfile.mkdtemp(prefix="tessera-bench-")
    npy = os.path.join(folder, "x.npy")
    np.save(npy, np.random.default_rng(1).random((8000, 8000)))
    print("| workload | tessera run | tessera.array | added |")
    print("|---|---:|---:|---:|")
    compare(
        "S2 20000² chunks 2000",
        "x = random((20000, 20000), seed=42, chunks=2000); (x * x[::-1, ::-1]).sum()",
        lambda: (lambda x: (x * x[::-1, ::-1]).sum())(ta.random.default_rng(42).random((20000, 20000), chunks=2000)),
    )
    compare(
        ".npy 8000² mean axis 0",
        f"x = from_npy('{npy}', chunks=2000); x.mean(axis=0).max()",
        lambda: ta.from_npy(npy, chunks=2000).mean(axis=0).max(),
    )
    os.remove(npy)
    os.rmdir(folder)
    print()
    print("| peak RSS | before | after | added |")
    print("|---|---:|---:|---:|")
    for what in ("from_array", "result"):
        subprocess.run([sys.executable, __file__, TESSERA, what], check=True)
