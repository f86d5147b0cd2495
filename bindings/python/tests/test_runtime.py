"""Schedulers, clusters and Ctrl-C: the same bits everywhere, nothing left behind."""

import json
import os
import time

import numpy as np
import pytest

import tessera
import tessera.array as ta
from tessera.distributed import Client, LocalCluster

from conftest import children_of


def s2(n=600, chunks=150):
    x = ta.random.default_rng(42).random((n, n), chunks=chunks)
    return (x * x[::-1, ::-1]).sum() + x[x > 0.9].mean()


def test_every_scheduler_gives_the_same_bits():
    want = s2().compute(scheduler="threads")
    assert s2().compute(scheduler="single-threaded") == want
    assert s2().compute(scheduler="threads", num_workers=1) == want
    for bad in (0, 10**9):
        with pytest.raises(ValueError, match="num_workers must be between 1 and 1024"):
            s2().compute(num_workers=bad)
    with pytest.raises(ValueError, match="unknown scheduler"):
        s2().compute(scheduler="fast")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, Client(cluster) as client:
        assert s2().compute(scheduler=client) == want


def test_a_local_cluster_computes_inside_its_client_and_leaves_no_process():
    want = s2().compute()
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as cluster:
        assert len(children_of(os.getpid())) == 3, "a scheduler and two workers"
        with Client(cluster) as client:
            assert tessera.distributed.current_client() is client
            assert s2().compute() == want
            a, b = tessera.compute(s2(), ta.arange(5) * 2)
            assert a == want and b.tolist() == [0, 2, 4, 6, 8]
        assert tessera.distributed.current_client() is None
    deadline = time.monotonic() + 5
    while children_of(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_of(os.getpid()) == []


def test_a_client_of_a_missing_cluster_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no cluster file"):
        Client(str(tmp_path / "nothing.json"))


INTERRUPT = """
import os, signal, threading, time
import tessera.array as ta
from tessera.distributed import Client, LocalCluster
from conftest import children_of

sent = []
def interrupt():
    time.sleep(1.5)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)

x = ta.random.random((30000, 30000), chunks=1000)
def run():
    threading.Thread(target=interrupt, daemon=True).start()
    try:
        (x + x.T).sum().compute()
        print("finished")
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - sent[-1]:.3f} s")
run()
with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as cluster, Client(cluster):
    run()
deadline = time.monotonic() + 5
while children_of(os.getpid()) and time.monotonic() < deadline:
    time.sleep(0.05)
print("children", len(children_of(os.getpid())))
"""


def test_ctrl_c_cancels_a_run_within_a_second_locally_and_on_a_cluster(run_python):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))
    done = run_python(INTERRUPT, timeout=300, env=env)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    waits = [float(line.split()[2]) for line in lines if line.startswith("interrupted after")]
    assert len(waits) == 2, done.stdout
    assert all(w < 1.0 for w in waits), waits
    assert lines[-1] == "children 0"


def test_gpu_is_used_or_refused_with_the_reason():
    ok, reason = tessera._core.gpu_available()
    x = ta.random.default_rng(1).random((300, 200), chunks=100)
    if not ok:
        with pytest.raises(tessera.DeviceError, match="no GPU adapter"):
            x.sum().compute(device="gpu")
        pytest.skip(f"no GPU adapter: {reason}")
    assert x.sum().compute(device="gpu") == x.sum().compute()


def test_the_seed_example_runs_at_ci_size(run_python):
    seed = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "seed.py")
    with open(seed) as f:
        source = f.read()
    done = run_python(source, timeout=600, env=dict(os.environ, SEED_SIZE="4000"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout.replace("\r", "\n")
    assert out.count("Total size: 16000000.0") == 4, out
    assert "refused before running: a task would need about" in out
    assert "elements out of place after parallel writes: 0" in out
    assert "3-worker cluster" in out


def test_the_seed_notebook_holds_the_example_s_code():
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples")
    with open(os.path.join(examples, "seed.py")) as f:
        script = f.read()
    with open(os.path.join(examples, "seed.ipynb")) as f:
        notebook = json.load(f)
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    code = script[script.index('"""', 3) + 3 :]
    assert "".join(code.split()) == "".join("".join(cells).split())
