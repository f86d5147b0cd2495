"""Clusters, as ``dask.distributed``: ``LocalCluster`` starts a scheduler and workers on
this machine (worker processes by default, talking QUIC on loopback); ``Client``
connects to one (a ``LocalCluster``, or the cluster file of a running cluster) and,
like Dask's, makes every ``compute()`` run there until it is closed."""

import os
import sys
import threading

from . import _core

_clients = []
_lock = threading.Lock()


def current_client():
    """The most recent open ``Client`` whose cluster is still running, or ``None``."""
    with _lock:
        live = [c for c in _clients if c.cluster is None or not c.cluster.closed]
        return live[-1] if live else None


def _memory_bytes(limit, n_workers):
    if limit in (None, "auto"):
        return max(64 << 20, _core.default_memory_limit() // n_workers)
    if isinstance(limit, (int, float)):
        return int(limit)
    return _core.parse_bytes(str(limit))


class _ClosedOnExit:
    """A context manager that calls ``close()`` at the end of its ``with`` block."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class LocalCluster(_ClosedOnExit):
    """A scheduler and ``n_workers`` workers of ``threads_per_worker`` threads and
    ``memory_limit`` each (``"auto"``: 80 % of available memory shared out).

    ``processes=True`` (the default, like Dask) starts each worker as a process of
    this Python with ``-m tessera._serve``; ``processes=False`` runs them inside this
    process. Stopped by ``close()``, at the end of a ``with`` block, or when collected;
    a worker process never outlives this one.
    """

    def __init__(self, n_workers=None, threads_per_worker=None, memory_limit="auto", processes=True):
        cores = os.cpu_count() or 1
        threads = int(threads_per_worker or 1)
        n = int(n_workers if n_workers is not None else max(1, cores // threads))
        if n < 1 or threads < 1:
            raise ValueError("n_workers and threads_per_worker must be at least 1")
        self.n_workers = n
        self.threads_per_worker = threads
        self.memory_limit = _memory_bytes(memory_limit, n)
        command = [sys.executable, "-m", "tessera._serve"] if processes else None
        self._cluster = _core.Cluster(n, threads, self.memory_limit, command)
        self.closed = False

    @property
    def cluster_file(self):
        """The file clients connect with."""
        return str(self._cluster.cluster_file)

    def close(self):
        """Stops the workers and the scheduler (its clients then compute elsewhere)."""
        self.closed = True
        self._cluster.close()

    def __repr__(self):
        return (
            f"LocalCluster(n_workers={self.n_workers}, threads_per_worker={self.threads_per_worker}, "
            f"memory_limit={self.memory_limit})"
        )


class Client(_ClosedOnExit):
    """Computes on a cluster: ``Client(LocalCluster(...))``, ``Client("cluster.json")``
    (a running cluster's file), or ``Client()`` (starts a ``LocalCluster``).

    While open (from creation until ``close()`` or the end of its ``with`` block) every
    ``compute()`` without an explicit ``scheduler=`` runs on it.
    """

    def __init__(self, address=None, device="cpu"):
        self._owned = None
        if address is None:
            self._owned = LocalCluster()
            address = self._owned
        if isinstance(address, LocalCluster):
            self.cluster = address
            self.cluster_file = address.cluster_file
        else:
            self.cluster = None
            self.cluster_file = os.fspath(address)
            if not os.path.exists(self.cluster_file):
                raise ValueError(f"no cluster file at {self.cluster_file}")
        self.device = device
        self._open = True
        with _lock:
            _clients.append(self)

    def compute(self, *arrays, **kwargs):
        """Computes ``arrays`` on this cluster (numpy results)."""
        from .array import compute

        kwargs["scheduler"] = self
        results = compute(*arrays, **kwargs)
        return results[0] if len(arrays) == 1 else list(results)

    def close(self):
        """Stops sending work here (and stops the cluster it started itself)."""
        if not self._open:
            return
        self._open = False
        with _lock:
            if self in _clients:
                _clients.remove(self)
        if self._owned is not None:
            self._owned.close()

    def __repr__(self):
        return f"Client(cluster_file={self.cluster_file!r})"
