"""tessera: chunked n-dimensional arrays, dask.array-style, compiled.

``import tessera.array as ta`` where you wrote ``import dask.array as da``: the same
names and signatures; nothing is computed until ``.compute()``, and then the whole
expression is one fused task graph run by tessera's Rust engine (threads, a QUIC
cluster, or a GPU) with the GIL released.
"""

from . import _core
from ._core import ClusterError, DeviceError, ResourceError
from .array import Array, compute, persist
from . import array, diagnostics, distributed

__all__ = [
    "Array",
    "ClusterError",
    "DeviceError",
    "ResourceError",
    "array",
    "compute",
    "diagnostics",
    "distributed",
    "persist",
]
