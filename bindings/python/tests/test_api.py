"""The dask.array surface: metadata, constructors, random, storage, errors, notebook
display, progress and the array API namespace."""

import io
import re

import numpy as np
import pytest

import tessera
import tessera.array as ta
from tessera.diagnostics import ProgressBar


def test_metadata_is_dasks():
    x = ta.ones((10, 7), chunks=(4, 3))
    assert x.shape == (10, 7) and x.ndim == 2 and x.size == 70
    assert x.dtype == np.float64 and x.nbytes == 560
    assert x.chunks == ((4, 4, 2), (3, 3, 1))
    assert x.chunksize == (4, 3) and x.numblocks == (3, 3) and x.npartitions == 9
    assert repr(x) == "tessera.Array<shape=(10, 7), dtype=float64, chunksize=(4, 3), chunktype=numpy.ndarray>"
    assert ta.zeros((3,), dtype=ta.int64).dtype == np.int64
    assert x.astype(np.float32).dtype == np.float32
    assert x.rechunk((5, -1)).chunks == ((5, 5), (7,))


def test_constructors_and_methods_give_numpys_values():
    np.testing.assert_array_equal(ta.arange(2, 11, 3, chunks=2).compute(), np.arange(2, 11, 3))
    np.testing.assert_array_equal(ta.linspace(0, 1, 7, chunks=3).compute(), np.linspace(0, 1, 7))
    np.testing.assert_array_equal(ta.eye(4, k=1, chunks=3).compute(), np.eye(4, k=1))
    a = np.arange(24.0).reshape(4, 6)
    x = ta.from_array(a, chunks=(3, 4))
    np.testing.assert_array_equal(x.reshape(6, 4).compute(), a.reshape(6, 4))
    np.testing.assert_array_equal(x.transpose(1, 0).compute(), a.transpose(1, 0))
    np.testing.assert_array_equal((x @ x.T).compute(), a @ a.T)
    np.testing.assert_array_equal(ta.einsum("ij,kj->ik", x, x).compute(), np.einsum("ij,kj->ik", a, a))
    assert ta.linalg.norm(x).compute() == pytest.approx(np.linalg.norm(a), rel=1e-15)
    np.testing.assert_array_equal(ta.median(x, axis=0).compute(), np.median(a, axis=0))
    counts, edges = ta.histogram(x, 5, range=(0, 24))
    np.testing.assert_array_equal(counts.compute(), np.histogram(a, 5, range=(0, 24))[0])
    np.testing.assert_array_equal(edges.compute(), np.histogram(a, 5, range=(0, 24))[1])


def test_from_array_converts_small_types_and_keeps_values():
    for values in (np.arange(10, dtype=np.int16), np.arange(10, dtype=np.uint8), np.ones(3, dtype=np.float16)):
        x = ta.from_array(values, chunks=4)
        np.testing.assert_array_equal(x.compute(), values)
    with pytest.raises(TypeError, match="complex128"):
        ta.from_array(np.ones(3, dtype=complex))
    np.testing.assert_array_equal(ta.asarray([[1, 2], [3, 4]]).compute(), [[1, 2], [3, 4]])


def test_a_generator_is_chunking_independent_and_its_draws_differ():
    rng = ta.random.default_rng(42)
    a, b = rng.random((50, 40), chunks=7), rng.random((50, 40), chunks=7)
    again = ta.random.default_rng(42).random((50, 40), chunks=(50, 3))
    np.testing.assert_array_equal(a.compute(), again.compute())
    assert not np.array_equal(a.compute(), b.compute())
    n = ta.random.default_rng(1).normal(2.0, 0.5, size=(200, 200), chunks=64).compute()
    assert abs(n.mean() - 2.0) < 0.02 and abs(n.std() - 0.5) < 0.02
    i = ta.random.default_rng(1).integers(3, 9, size=1000, chunks=100).compute()
    assert i.dtype == np.int64 and i.min() == 3 and i.max() == 8


def test_writes_are_read_by_numpy_and_zarr(tmp_path):
    zarr = pytest.importorskip("zarr")
    x = ta.random.default_rng(3).random((30, 20), chunks=(8, 5))
    values = x.compute()
    ta.to_npy(x.T, tmp_path / "t.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), values.T)
    x.to_zarr(tmp_path / "x.zarr")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "x.zarr"), mode="r")[:], values)
    back = ta.from_zarr(str(tmp_path / "x.zarr"))
    assert back.chunks == x.chunks
    np.testing.assert_array_equal(back.compute(), values)
    with pytest.raises(ValueError, match="exists"):
        x.to_zarr(tmp_path / "x.zarr")


def test_errors_are_the_exceptions_numpy_users_expect():
    x = ta.ones((3, 4), chunks=2)
    with pytest.raises(ValueError, match=r"could not be broadcast together with shapes \[3, 4\] and \[5\]"):
        x + ta.ones(5)
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
        x.sum(axis=2)
    with pytest.raises(IndexError):
        x[7]
    with pytest.raises(IndexError, match="boolean index did not match"):
        x[ta.ones((4, 3)) > 0]
    with pytest.raises(TypeError):
        ta.ones((3, 4), chunks=2) & 1.5
    with pytest.raises(TypeError, match="unexpected keyword argument 'axes'"):
        x.sum(axes=0)
    with pytest.raises(ValueError, match="chunk"):
        ta.ones((3, 4), chunks="lots")
    with pytest.raises(tessera.ResourceError, match="more than the memory limit"):
        (ta.ones((100000, 100000), chunks=-1) + 1).compute()
    assert issubclass(tessera.ResourceError, MemoryError)


def test_the_notebook_shows_daskss_table_and_the_grid_of_chunks():
    x = ta.ones((20000, 20000), chunks=(2000, 4000))
    page = x._repr_html_()
    cells = ("Bytes", "2.98 GiB", "61.04 MiB", "Shape", "(20000, 20000)", "(2000, 4000)", "50 Tasks", "50 Chunks")
    for cell in cells + ("float64", "numpy.ndarray"):
        assert cell in page, cell
    svg = re.search(r"<svg.*</svg>", page).group(0)
    # One line per chunk boundary: 11 across the rows, 6 across the columns.
    assert svg.count("<line") == 11 + 6
    assert "1-D" not in ta.ones(10, chunks=3)._repr_html_()


def test_progress_bar_prints_daskss_line():
    out = io.StringIO()
    with ProgressBar(out=out):
        ta.random.random((400, 400), chunks=50).sum().compute()
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    assert re.fullmatch(r"\[#{40}\] \| 100% Completed \| +\d+\.\ds", last), last
    quiet = io.StringIO()
    ta.ones(10).sum().compute()
    assert quiet.getvalue() == ""


def test_the_module_is_an_array_api_namespace():
    x = ta.ones((2, 3))
    xp = x.__array_namespace__()
    assert xp is ta and xp.__array_api_version__ == "2023.12"
    for name in ("asarray", "concat", "permute_dims", "acos", "matmul", "linalg", "float32", "int64", "bool"):
        assert hasattr(xp, name), name
    np.testing.assert_array_equal(xp.concat([x, x]).compute(), np.ones((4, 3)))


def test_every_listed_function_is_known_to_the_engine():
    for name in ta._FUNCTIONS:
        try:
            getattr(ta, name)()
        except (TypeError, ValueError, IndexError) as e:
            assert "unknown function" not in str(e), name
    for name in ta._METHODS.split():
        try:
            getattr(ta.ones(3), name)(axis=0)
        except (TypeError, ValueError, IndexError) as e:
            assert "no method" not in str(e) and "unknown" not in str(e), name
