"""tessera on the GPU against tessera on the CPU of the same machine: the seed's
full-size computations (200000 x 200000 float64, chunks 10000 and auto), S1 (`ones`)
and S2 (`random`). Prints wall time, effective GB/s (the two float64 operands the
expression reads, x and its reversed view, 16 bytes per element) and elements/s.

Run through bench/gpu.sh (`just bench-gpu`)."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("TESSERA_BIN", "target/release/tessera")
N = int(os.environ.get("N", "200000"))
CHUNKS = os.environ.get("CHUNKS", "10000,auto").split(",")
DEVICES = os.environ.get("DEVICES", "gpu,cpu").split(",")
TIMEOUT = int(os.environ.get("RUN_TIMEOUT", "150"))
WORKLOADS = {
    "S1": f"x = ones(({N}, {N})); (x * x[::-1, ::-1]).sum()",
    "S2": f"x = random(({N}, {N}), seed=42); (x * x[::-1, ::-1]).sum()",
}


def run(expr, chunks, device):
    cmd = [BIN, "run", expr, "--chunks", chunks, "--device", device, "--json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"over {TIMEOUT} s"}
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]}
    return json.loads(p.stdout)


def main():
    elements = N * N
    print(f"{'workload':8} {'chunks':>6} {'device':6} {'wall s':>8} {'GB/s':>8} {'elements/s':>11} "
          f"{'tasks gpu/cpu':>13}  result  (device opened in s)")
    results = {}
    for name, expr in WORKLOADS.items():
        for chunks in CHUNKS:
            for device in DEVICES:
                r = run(expr, chunks, device)
                if "error" in r:
                    print(f"{name:8} {chunks:>6} {device:6} failed: {r['error']}")
                    continue
                wall = r["wall_s"]
                tasks = f"{r['gpu_tasks']}/{r['cpu_fallback_tasks']}" if device == "gpu" else "-"
                print(f"{name:8} {chunks:>6} {device:6} {wall:8.3f} {16 * elements / wall / 1e9:8.1f} "
                      f"{elements / wall:11.3e} {tasks:>13}  {r['result']!r}  ({r['device_open_s']})", flush=True)
                results.setdefault(name, {})[(chunks, device)] = r
    for name, runs in results.items():
        values = {f"{d} {c}": r["result"] for (c, d), r in runs.items()}
        print(f"{name} results: {values}")
    adapters = {r["adapter"] for runs in results.values() for r in runs.values() if r["device"] == "gpu"}
    print(f"GPU: {', '.join(sorted(adapters)) or 'none'}; CPU threads: {os.cpu_count()}")


if __name__ == "__main__":
    sys.exit(main())
