"""tessera.array against numpy itself, over random shapes, chunkings and expressions."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tessera.array as ta

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def arrays(draw, dtypes=("float64", "float32", "int64", "bool")):
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == "bool":
        values = rng.random(shape) < 0.5
    elif dtype == "int64":
        values = rng.integers(-50, 50, shape)
    else:
        values = ((rng.random(shape) - 0.5) * 10).astype(dtype)
    chunks = tuple(draw(st.integers(1, n)) for n in shape)
    return values, ta.from_array(values, chunks=chunks)


def same(got, want, exact=True):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if exact or want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        rtol = 1e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


UNARY = ["negative", "abs", "floor", "ceil", "trunc", "sign", "square", "isnan", "isfinite"]
TRANSCENDENTAL = ["sqrt", "exp", "sin", "cos", "tanh", "arctan", "log1p"]
BINARY = ["+", "-", "*", "/", "<", ">=", "==", "maximum", "minimum", "fmax", "hypot"]
REDUCTIONS = ["sum", "mean", "min", "max", "std", "var", "argmin", "argmax", "any", "all", "prod"]


@SETTINGS
@given(arrays(dtypes=("float64", "int64")), st.sampled_from(UNARY))
def test_exact_elementwise_functions_are_numpys(xs, f):
    values, x = xs
    same(getattr(ta, f)(x).compute(), getattr(np, f)(values))


@SETTINGS
@given(arrays(dtypes=("float64", "float32")), st.sampled_from(TRANSCENDENTAL))
def test_transcendental_functions_round_as_numpy(xs, f):
    values, x = xs
    want = getattr(np, f)(np.abs(values))
    got = getattr(ta, f)(ta.abs(x)).compute()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=4e-16 * 8 if want.dtype == np.float64 else 1e-6)


@SETTINGS
@given(arrays(dtypes=("float64", "int64", "float32")), st.sampled_from(BINARY), st.booleans(), st.floats(-3, 3))
def test_operators_broadcast_and_promote_as_numpy(xs, op, reversed_view, scalar):
    values, x = xs
    other, t_other = (values[::-1], x[::-1]) if reversed_view else (scalar, scalar)
    if op in ("+", "-", "*", "/", "<", ">=", "=="):
        import operator

        fn = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "<": operator.lt, ">=": operator.ge, "==": operator.eq}[op]
        with np.errstate(all="ignore"):
            want = fn(values, other)
        got = fn(x, t_other)
    else:
        with np.errstate(all="ignore"):
            want = getattr(np, op)(values, other)
        got = getattr(ta, op)(x, t_other)
    same(got.compute(), want, exact=op not in ("/", "hypot"))


@SETTINGS
@given(arrays(dtypes=("float64", "int64", "bool")), st.sampled_from(REDUCTIONS), st.data())
def test_reductions_along_any_axis_are_numpys(xs, red, data):
    values, x = xs
    axis = data.draw(st.sampled_from([None] + list(range(-values.ndim, values.ndim))))
    if red in ("argmin", "argmax"):
        want, got = getattr(values, red)(axis=axis), getattr(x, red)(axis=axis)
    else:
        keepdims = data.draw(st.booleans())
        want = getattr(values, red)(axis=axis, keepdims=keepdims)
        got = getattr(x, red)(axis=axis, keepdims=keepdims)
    result = got.compute()
    exact = red in ("min", "max", "argmin", "argmax", "any", "all") or (red in ("sum", "prod") and values.dtype.kind in "biu")
    same(result, want, exact=exact)


@SETTINGS
@given(arrays(), st.data())
def test_indexing_with_slices_none_ellipsis_lists_and_masks_is_numpys(xs, data):
    values, x = xs
    n = values.shape[0]
    key = data.draw(
        st.sampled_from(
            [
                np.s_[::-1],
                np.s_[1::2],
                np.s_[None, ...],
                np.s_[..., None],
                np.s_[-1],
                [n - 1, 0, 0],
            ]
        )
    )
    same(x[key].compute(), values[key])
    mask = values > values.mean() if values.dtype != bool else values
    same(x[mask].compute(), values[mask])
    same(x[x > 0].compute(), values[values > 0])


@SETTINGS
@given(arrays(dtypes=("float64", "int64")), st.data())
def test_shapes_and_joins_are_numpys(xs, data):
    values, x = xs
    same(x.T.compute(), values.T)
    same(x.ravel().compute(), values.ravel())
    same(ta.concatenate([x, x[::-1]], axis=0).compute(), np.concatenate([values, values[::-1]], axis=0))
    same(ta.stack([x, x], axis=-1).compute(), np.stack([values, values], axis=-1))
    shift = data.draw(st.integers(-10, 10))
    same(ta.roll(x, shift).compute(), np.roll(values, shift))
    same(ta.cumsum(x, axis=0).compute(), np.cumsum(values, axis=0))
    same(ta.pad(x, 1, mode="edge").compute(), np.pad(values, 1, mode="edge"))


def test_results_are_numpy_arrays_over_the_engines_buffer_and_numpy_scalars():
    x = ta.arange(10, chunks=3)
    values = x.compute()
    # The result block itself, handed over without a copy (numpy holds Rust's buffer).
    assert type(values.base).__name__ == "PySliceContainer", type(values.base)
    assert values.flags.writeable and values.tolist() == list(range(10))
    total = x.sum().compute()
    assert isinstance(total, np.int64) and total == 45
    assert np.asarray(x * 2).tolist() == [2 * i for i in range(10)]
