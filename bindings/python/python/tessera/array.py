"""``tessera.array``: dask.array's names and signatures over tessera's engine.

Every function, method, operator and index here is one call of tessera's expression
language (a short source such as ``v0 + v1`` with the values bound to its variables),
evaluated by the native module: numpy's semantics, dtype rules and error messages are
the engine's own, and nothing is computed in Python. This module is also an array API
namespace (``x.__array_namespace__()``); see the README for what it covers.
"""

import builtins
import keyword
import math
import os
import tempfile
import weakref

import numpy as np

from . import _core
from ._repr import array_html

__array_api_version__ = "2023.12"

_DTYPES = ("float64", "float32", "int64", "bool")


# ---------------------------------------------------------------------------
# Calls into the language


def _unwrap(value, keep):
    """A Python value as the native module takes it; arrays' temporary files go to
    ``keep`` (so that they live as long as every array built from them)."""
    if isinstance(value, Array):
        keep.update(value._keep)
        return value._h
    if isinstance(value, np.ndarray):
        a = from_array(value)
        keep.update(a._keep)
        return a._h
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype) or (isinstance(value, type) and value in (float, int, builtins.bool)):
        return _dtype_name(value)
    if isinstance(value, type) and issubclass(value, np.generic):
        return _dtype_name(value)
    if isinstance(value, (list, tuple)):
        return tuple(_unwrap(v, keep) for v in value)
    return value


def _wrap(value, keep):
    if isinstance(value, _core.Handle):
        return Array(value, keep)
    if isinstance(value, tuple):
        return tuple(_wrap(v, keep) for v in value)
    return value


def _dtype_name(dtype):
    name = np.dtype(dtype).name
    if name not in _DTYPES:
        raise TypeError(f"tessera arrays are float64, float32, int64 or bool, not {name}")
    return name


def _evaluate(source, values, keep=None):
    keep = set() if keep is None else keep
    bound = {name: _unwrap(v, keep) for name, v in values.items()}
    return _wrap(_core.evaluate(source, bound), frozenset(keep))


def _call(callee, args, kwargs, values=None):
    """``callee(args..., key=value...)`` in the language; ``values`` are more bound
    variables (the receiver of a method)."""
    values = dict(values or {})
    parts = []
    for i, a in enumerate(args):
        values[f"v{i}"] = a
        parts.append(f"v{i}")
    for i, (k, v) in enumerate(kwargs.items()):
        if not k.isidentifier() or keyword.iskeyword(k):
            raise TypeError(f"{callee}() got an unexpected keyword argument {k!r}")
        values[f"k{i}"] = v
        parts.append(f"{k}=k{i}")
    return _evaluate(f"{callee}({', '.join(parts)})", values)


def _function(name, doc=None):
    def f(*args, **kwargs):
        return _call(name, args, kwargs)

    f.__name__ = f.__qualname__ = name.rsplit(".", 1)[-1]
    f.__doc__ = doc or f"numpy's ``{name}``, lazily (see the README's language table)."
    return f


# ---------------------------------------------------------------------------
# The array


def _binary(op, reflected=False):
    source = "v1 {} v0" if reflected else "v0 {} v1"

    def f(self, other):
        if not isinstance(other, (Array, np.ndarray, np.generic, int, float, builtins.bool)):
            return NotImplemented
        return _evaluate(source.format(op), {"v0": self, "v1": other})

    return f


def _method(name):
    def f(self, *args, **kwargs):
        return _call(f"s.{name}", args, kwargs, {"s": self})

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"numpy's ``ndarray.{name}``, lazily."
    return f


class Array:
    """A lazy chunked array (``dask.array.Array``'s counterpart): its shape, dtype and
    chunks are known; its values are computed by ``compute()``."""

    __slots__ = ("_h", "_keep", "__weakref__")
    __array_priority__ = 20

    def __init__(self, handle, keep=frozenset()):
        self._h = handle
        self._keep = keep

    # metadata
    @property
    def shape(self):
        return tuple(self._h.shape)

    @property
    def ndim(self):
        return len(self._h.shape)

    @property
    def size(self):
        return math.prod(self._h.shape)

    @property
    def dtype(self):
        return np.dtype(self._h.dtype)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def chunks(self):
        return tuple(tuple(c) for c in self._h.chunks)

    @property
    def chunksize(self):
        return tuple(builtins.max(c, default=0) for c in self._h.chunks)

    @property
    def numblocks(self):
        return tuple(len(c) for c in self._h.chunks)

    @property
    def npartitions(self):
        return math.prod(self.numblocks)

    @property
    def T(self):
        return _evaluate("v0.T", {"v0": self})

    @property
    def mT(self):
        return swapaxes(self, -1, -2)

    @property
    def device(self):
        return "cpu"

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return (
            f"tessera.Array<shape={self.shape}, dtype={self.dtype}, chunksize={self.chunksize}, "
            f"chunktype=numpy.ndarray>"
        )

    def _repr_html_(self):
        return array_html(self)

    # computing
    def compute(self, **kwargs):
        """The values, as a numpy array (a numpy scalar for a 0-d array)."""
        return compute(self, **kwargs)[0]

    def persist(self, **kwargs):
        """Computes the values once and returns an array that reads them back."""
        return persist(self, **kwargs)[0]

    def __array__(self, dtype=None, copy=None):
        values = np.asarray(self.compute())
        return values if dtype is None else values.astype(dtype, copy=False)

    def __array_namespace__(self, api_version=None):
        import tessera.array as namespace

        return namespace

    def __bool__(self):
        if self.size != 1:
            # numpy's and Dask's words (Dask computes first; the size is known here).
            raise ValueError(
                "The truth value of an array with more than one element is ambiguous. Use a.any() or a.all()"
                if self.size > 1
                else "The truth value of an empty array is ambiguous. Use a.size > 0 to check that it is not empty"
            )
        return builtins.bool(self.compute())

    def __float__(self):
        return float(self.compute())

    def __int__(self):
        return int(self.compute())

    def __index__(self):
        if self.dtype.kind not in "iub" or self.ndim:
            raise TypeError("only 0-d integer arrays can be used as an index")
        return int(self.compute())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # indexing
    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        values = {"s": self}
        parts = []

        def bind(v):
            name = f"v{len(values)}"
            values[name] = v
            return name

        for k in key:
            if k is None:
                parts.append("None")
            elif k is Ellipsis:
                parts.append("...")
            elif isinstance(k, slice):
                bounds = [bind(b) if b is not None else "" for b in (k.start, k.stop, k.step)]
                parts.append(":".join(bounds))
            elif isinstance(k, (Array, np.ndarray, list)):
                parts.append(bind(_index_array(k)))
            elif isinstance(k, (int, np.integer)) and not isinstance(k, (builtins.bool, np.bool_)):
                parts.append(bind(int(k)))
            else:
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), None, lists of integers and boolean "
                    f"arrays are valid indices, not {type(k).__name__}"
                )
        return _evaluate(f"s[{', '.join(parts)}]", values)

    # conversions and reshapes with numpy's varargs forms
    def astype(self, dtype, copy=True):
        return _call("s.astype", (dtype,), {}, {"s": self})

    def reshape(self, *shape, **kwargs):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _call("s.reshape", (tuple(shape),), kwargs, {"s": self})

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return _call("s.transpose", (tuple(axes),) if axes else (), {}, {"s": self})

    def rechunk(self, chunks="auto"):
        return _call("s.rechunk", (_chunks(chunks),), {}, {"s": self})

    def to_zarr(self, url, component=None, **kwargs):
        return to_zarr(self, url, component=component, **kwargs)

    def to_npy(self, path, **kwargs):
        return to_npy(self, path, **kwargs)

    # operators
    __add__, __radd__ = _binary("+"), _binary("+", True)
    __sub__, __rsub__ = _binary("-"), _binary("-", True)
    __mul__, __rmul__ = _binary("*"), _binary("*", True)
    __truediv__, __rtruediv__ = _binary("/"), _binary("/", True)
    __floordiv__, __rfloordiv__ = _binary("//"), _binary("//", True)
    __mod__, __rmod__ = _binary("%"), _binary("%", True)
    __pow__, __rpow__ = _binary("**"), _binary("**", True)
    __matmul__, __rmatmul__ = _binary("@"), _binary("@", True)
    __and__, __rand__ = _binary("&"), _binary("&", True)
    __or__, __ror__ = _binary("|"), _binary("|", True)
    __xor__, __rxor__ = _binary("^"), _binary("^", True)
    __lt__, __le__ = _binary("<"), _binary("<=")
    __gt__, __ge__ = _binary(">"), _binary(">=")
    __eq__, __ne__ = _binary("=="), _binary("!=")
    __hash__ = object.__hash__

    def __neg__(self):
        return _evaluate("-v0", {"v0": self})

    def __pos__(self):
        return self

    def __abs__(self):
        return _evaluate("abs(v0)", {"v0": self})

    def __invert__(self):
        return _evaluate("~v0", {"v0": self})


_METHODS = "sum mean min max prod std var any all argmin argmax cumsum cumprod ravel flatten squeeze swapaxes take"
for _name in _METHODS.split():
    setattr(Array, _name, _method(_name))


def _index_array(k):
    """An index array: a bool mask (as an array) or a list of integers (as a tuple)."""
    if isinstance(k, Array):
        return k
    values = np.asarray(k)
    if values.dtype == bool:
        return from_array(values)
    if values.size == 0:
        return ()
    if values.dtype.kind not in "iu" or values.ndim != 1:
        raise IndexError("arrays used as indices must be 1-D lists of integers or boolean masks")
    return tuple(int(i) for i in values)


def _chunks(chunks):
    if isinstance(chunks, dict):
        raise TypeError("chunks as a dict are not supported; give a tuple with one entry per axis")
    return chunks


# ---------------------------------------------------------------------------
# Functions


_FUNCTIONS = """
ones zeros empty full arange linspace eye tri tril triu ones_like zeros_like empty_like full_like
sqrt exp log log1p expm1 log2 log10 sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh abs absolute sign
square floor ceil trunc rint round isnan isfinite isinf logical_not invert clip nan_to_num where matmul
maximum minimum fmax fmin arctan2 hypot floor_divide mod remainder power logical_and logical_or logical_xor
bitwise_and bitwise_or bitwise_xor add subtract multiply divide true_divide negative
equal not_equal less less_equal greater greater_equal
sum mean min max prod std var any all argmin argmax count_nonzero nansum nanprod nanmin nanmax nanmean
nanvar nanstd cumsum cumprod median quantile percentile nanmedian nanquantile nanpercentile histogram
expand_dims squeeze moveaxis swapaxes flip fliplr flipud broadcast_to transpose diff reshape ravel
concatenate stack roll pad take dot tensordot einsum outer
from_zarr from_npy from_hdf5
""".split()

# Module-level names shadow the builtins of the same name (sum, min, max, abs, round,
# any, all) as in dask.array; the code here reaches those through `builtins`.
for _name in _FUNCTIONS:
    globals()[_name] = _function(_name)


def asarray(a, dtype=None, chunks="auto"):
    """An array from a tessera array (itself) or anything numpy takes."""
    if isinstance(a, Array):
        return a if dtype is None else a.astype(dtype)
    _refuse_masked(a)
    return from_array(np.asarray(a, dtype=dtype), chunks=chunks)


def _refuse_masked(x):
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            "tessera arrays cannot be made from masked arrays (tessera has no masks, and the mask would be lost); "
            "pass x.filled(fill_value) for the values with the masked ones replaced"
        )


def from_array(x, chunks="auto"):
    """A lazy array over a numpy array's values (written once to a temporary ``.npy``
    file that tessera maps: one copy, and every scheduler, local cluster workers
    included, reads it; removed when no array built from it is left).

    int8..int32 and unsigned values become int64, float16 becomes float32, as tessera
    has only float64, float32, int64 and bool."""
    _refuse_masked(x)
    values = np.asarray(x)
    kind = values.dtype.kind
    if values.dtype.name not in _DTYPES:
        if kind in "iu":
            if kind == "u" and values.dtype.itemsize == 8 and values.size and values.max() > np.iinfo(np.int64).max:
                raise TypeError("uint64 values above the int64 range cannot be held in tessera arrays")
            values = values.astype(np.int64)
        elif kind == "f":
            values = values.astype(np.float32 if values.dtype.itemsize < 4 else np.float64)
        else:
            raise TypeError(f"tessera arrays are float64, float32, int64 or bool, not {values.dtype}")
    fd, path = tempfile.mkstemp(prefix="tessera-array-", suffix=".npy", dir=os.environ.get("TESSERA_TMPDIR"))
    os.close(fd)
    file = _TemporaryFile(path)
    # np.ascontiguousarray would make a 0-d array 1-d.
    np.save(path, values if values.flags.c_contiguous else values.copy(order="C"))
    return _evaluate("from_npy(v0, chunks=v1)", {"v0": path, "v1": _chunks(chunks)}, {file})


class _TemporaryFile:
    """A file removed when the last array that reads it is collected."""

    def __init__(self, path):
        self.path = path
        self._finalizer = weakref.finalize(self, _remove, path)


def _remove(path):
    try:
        _core.release_file(path)
    except Exception:  # the interpreter is shutting down
        pass
    try:
        os.remove(path)
    except OSError:
        pass


def to_zarr(arr, url, component=None, chunks=None, dtype=None, compressor="zstd", overwrite=False, zarr_format=3):
    """Writes ``arr`` to a Zarr array (zarr-python reads it), now."""
    write = _call(
        "to_zarr",
        (arr, os.fspath(url)),
        dict(
            component=component,
            chunks=chunks,
            dtype=None if dtype is None else _dtype_name(dtype),
            compressor=compressor,
            overwrite=overwrite,
            zarr_format=zarr_format,
        ),
    )
    write.compute()


def to_npy(arr, path, overwrite=False):
    """Writes ``arr`` to a ``.npy`` file (numpy's ``np.load`` reads it), now."""
    _call("to_npy", (arr, os.fspath(path)), dict(overwrite=overwrite)).compute()


# ---------------------------------------------------------------------------
# compute and persist


def _placement(scheduler, kwargs):
    from .distributed import Client, current_client

    device = kwargs.pop("device", None)
    num_workers = kwargs.pop("num_workers", None)
    if num_workers is not None and (isinstance(num_workers, builtins.bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1):
        # The upper bound is checked where the threads are made.
        raise ValueError(f"num_workers must be between 1 and 1024, not {num_workers!r}")
    limit = kwargs.pop("memory_limit", None)
    limit = _core.parse_bytes(limit) if isinstance(limit, str) else limit
    if limit is not None and (isinstance(limit, builtins.bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"memory_limit must be a positive number of bytes or a size such as '4GiB', not {limit!r}")
    if kwargs:
        raise TypeError(f"compute() got an unexpected keyword argument {next(iter(kwargs))!r}")
    if scheduler is None:
        scheduler = current_client() or "threads"
    if isinstance(scheduler, Client):
        where = dict(scheduler="threads", cluster_file=scheduler.cluster_file, device=device or scheduler.device)
    elif scheduler in ("processes", "distributed"):
        raise ValueError(f"scheduler={scheduler!r}: use a tessera.distributed.Client (LocalCluster) instead")
    else:
        where = dict(scheduler=scheduler, num_workers=num_workers, device=device or "cpu")
    return dict(where, memory_limit=limit)


def compute(*args, scheduler=None, **kwargs):
    """Computes every array among ``args`` (others pass through), as numpy arrays or
    numpy scalars, on ``scheduler`` (``"threads"``, ``"single-threaded"``, a
    ``Client``; the open ``Client`` if any) and ``device`` (``"cpu"``, ``"gpu"``),
    planned under ``memory_limit`` (bytes or ``"4GiB"``; 80 % of available memory by
    default): a task that cannot fit is refused with ``ResourceError`` before anything
    runs. Returns a tuple, like ``dask.compute``: all the arrays are one graph, so what
    they share is computed once."""
    from .diagnostics import progress_callback

    where = _placement(scheduler, dict(kwargs))
    arrays = [a for a in args if isinstance(a, Array)]
    results = iter(_core.compute([a._h for a in arrays], progress=progress_callback(), **where))
    out = []
    for a in args:
        if isinstance(a, Array):
            values = next(results)
            out.append(values[()] if values.ndim == 0 else values)
        else:
            out.append(a)
    return tuple(out)


def persist(*args, **kwargs):
    """Computes the arrays and returns arrays that read the values back (no recompute)."""
    values = compute(*args, **kwargs)
    return tuple(
        from_array(np.asarray(v), chunks=a.chunks) if isinstance(a, Array) else v for a, v in zip(args, values)
    )


# ---------------------------------------------------------------------------
# Namespaces: random and linalg


class Generator:
    """``random.default_rng(seed)``: tessera's counter-based stream (Philox), the same
    values as the language's ``random(shape, seed=...)`` for every chunking. The first
    draw uses ``seed`` itself; each later draw of the same generator a seed derived
    from it, so successive draws differ, as numpy's do."""

    def __init__(self, seed=None):
        self._seed = int(seed) if seed is not None else int.from_bytes(os.urandom(4), "little")
        if self._seed < 0:
            raise ValueError("seed must be non-negative")
        self._draws = 0

    def _next_seed(self):
        k, self._draws = self._draws, self._draws + 1
        if k == 0:
            return self._seed
        # splitmix64 of (seed, draw): independent streams for later draws.
        z = (self._seed + k * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF

    def random(self, size=None, dtype="float64", chunks="auto"):
        return _call("random", (_size(size),), dict(seed=self._next_seed(), dtype=dtype, chunks=chunks))

    def normal(self, loc=0.0, scale=1.0, size=None, chunks="auto"):
        return _call("normal", (loc, scale), dict(size=_size(size), seed=self._next_seed(), chunks=chunks))

    def integers(self, low, high=None, size=None, chunks="auto"):
        return _call("integers", (low, high), dict(size=_size(size), seed=self._next_seed(), chunks=chunks))


def _size(size):
    return () if size is None else size


class _Random:
    """``tessera.array.random``: ``default_rng`` and dask's module-level functions."""

    Generator = Generator

    def default_rng(self, seed=None):
        return Generator(seed)

    def random(self, size=None, chunks="auto", seed=None):
        return Generator(seed).random(size, chunks=chunks)

    def normal(self, loc=0.0, scale=1.0, size=None, chunks="auto", seed=None):
        return Generator(seed).normal(loc, scale, size, chunks=chunks)


class _Linalg:
    """``tessera.array.linalg``."""

    def norm(self, x, ord=None, axis=None, keepdims=False):
        return _call("linalg.norm", (x,), dict(ord=ord, axis=axis, keepdims=keepdims))

    def matmul(self, x1, x2):
        return _call("matmul", (x1, x2), {})


random = _Random()
linalg = _Linalg()

# The array API's names for functions numpy spells otherwise.
acos, asin, atan, atan2, asinh = arccos, arcsin, arctan, arctan2, arcsinh
pow = power
concat = concatenate
permute_dims = transpose
bitwise_invert = invert
float64, float32, int64 = np.float64, np.float32, np.int64
bool = np.bool_
nan, inf, pi, e, newaxis = np.nan, np.inf, np.pi, np.e, None
