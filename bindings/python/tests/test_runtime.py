"""Schedulers, clusters and Ctrl-C: the same bits everywhere, nothing left behind."""

import json
import os
import tempfile
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


TERMINAL_CTRL_C = """
import os, signal, threading, time
import tessera.array as ta
from tessera.distributed import Client, LocalCluster

def ctrl_c():
    time.sleep(1.5)
    # A terminal's Ctrl-C reaches every process of the foreground process group.
    os.killpg(os.getpgid(0), signal.SIGINT)

x = ta.random.random((30000, 30000), chunks=1000)
try:
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as cluster, Client(cluster):
        threading.Thread(target=ctrl_c, daemon=True).start()
        (x + x.T).sum().compute()
    print("finished")
except KeyboardInterrupt as e:
    print("KeyboardInterrupt", repr(e.__context__))
"""


def test_ctrl_c_from_a_terminal_under_a_local_cluster_is_one_keyboard_interrupt(run_python):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))
    done = run_python(TERMINAL_CTRL_C, timeout=300, env=env, start_new_session=True)
    assert done.returncode == 0, done.stderr
    # One KeyboardInterrupt, not raised while handling a ClusterError, and nothing on
    # stderr (no second traceback from closing the cluster).
    assert done.stdout.strip().splitlines() == ["KeyboardInterrupt None"], done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def test_zero_dimensional_inputs_stay_zero_dimensional():
    for a in (ta.from_array(np.array(5.0)), ta.asarray(np.float64(3.0)), ta.from_array(5), ta.asarray(True)):
        assert a.shape == () and a.ndim == 0
    assert ta.from_array(np.array(5.0)).compute() == 5.0
    assert (ta.asarray(np.float64(3.0)) * 2).compute() == 6.0


def test_masked_arrays_are_refused_rather_than_losing_their_mask():
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match="masked"):
        ta.from_array(m)
    with pytest.raises(TypeError, match="masked"):
        ta.asarray(m)
    assert ta.from_array(m.filled(0.0)).sum().compute() == 4.0


def test_arange_of_nan_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError, match="cannot compute length"):
        np.arange(np.nan)
    with pytest.raises(ValueError, match="cannot compute length"):
        ta.arange(np.nan)


def test_from_array_releases_its_file_and_descriptor_when_collected():
    import gc

    def descriptors():
        return len(os.listdir("/proc/self/fd"))

    def temporaries():
        return {f for f in os.listdir(tempfile.gettempdir()) if f.startswith("tessera-array-")}

    before_files, before_fds = temporaries(), descriptors()
    for k in range(200):
        a = ta.from_array(np.full((50, 40), float(k)))
        assert a.sum().compute() == 2000.0 * k
        del a
        gc.collect()
    assert temporaries() - before_files == set()
    assert descriptors() - before_fds < 8, (before_fds, descriptors())


def test_bad_worker_counts_and_truth_values_get_numpys_errors():
    x = ta.ones((3, 4), chunks=2)
    for bad in (-1, 0, 2.5, True):
        with pytest.raises(ValueError, match="num_workers"):
            x.sum().compute(num_workers=bad)
    with pytest.raises(ValueError, match="ambiguous. Use a.any"):
        bool(x)
    with pytest.raises(ValueError, match="empty array is ambiguous"):
        bool(ta.ones((0,)))
    assert bool(x.sum()) is True and bool(ta.zeros((1, 1))) is False
