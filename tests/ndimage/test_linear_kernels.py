"""The compiled linear kernels (bigimg._linear) give scipy.ndimage's arrays bit for bit.

On blocks: every dtype scipy takes (as input and as output), every boundary mode and
``cval``, odd shapes (length 1, shorter than the kernel), every Gaussian order, origins,
NaN/inf, out-of-range integer outputs (scipy's wrap-around) and scipy's own bool
outputs. Through the chunked path: the shared odd chunkings, including chunks smaller
than the halo. Where the kernels do not cover a case, scipy's function runs: tested
too, and that the compiled pass is what runs everywhere else.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy.testing import assert_array_equal

from bigimg import _linear, ndimage
from bigimg._linear import _twins
from bigimg.testing import odd_chunkings, random_volume

MODES = ["reflect", "grid-mirror", "mirror", "nearest", "wrap", "grid-wrap", "constant"]
MODES_ALL = [*MODES, "grid-constant"]
IN_DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"]
IN_DTYPES += ["float32", "float64"]
RNG = np.random.default_rng(7)
W3 = RNG.standard_normal((3, 2, 3))


def _data(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 150
    if np.dtype(dtype).kind == "u":
        x = np.abs(x) + 20
    return x.astype(dtype)


def _same(name, *args, **kwargs):
    """Our block kernel and scipy's function give equal arrays of the same dtype."""
    expected = getattr(ndi, name)(*args, **kwargs)
    result = getattr(_linear, name)(*args, **kwargs)
    assert result.dtype == expected.dtype
    assert_array_equal(result, expected)
    if expected.dtype == np.bool_:  # scipy's bool outputs may hold other bytes than 0/1
        assert_array_equal(result.view(np.uint8), expected.view(np.uint8))
    return result


# ------------------------------------------------------------------------ block level
@pytest.mark.parametrize("dtype", IN_DTYPES)
def test_correlate1d_every_dtype_and_mode(dtype):
    # each (input, output) dtype pair compiles once: every input to its own dtype here,
    # every output from float64 below, a few mixed pairs in the other tests
    x = _data((5, 6, 7), dtype)
    for mode in MODES_ALL:
        for weights, origin in [([1, 2, 1], 0), ([-1, 0, 1], 1), ([0.3, -1.1, 2.0, 0.7], -2)]:
            for axis in range(3):
                _same("correlate1d", x, weights, axis, None, mode, 3.25, origin)


@pytest.mark.parametrize("output", IN_DTYPES)
def test_every_output_dtype_wraps_as_scipy(output):
    output = np.dtype(output)
    big = np.array([0.5, -0.5, 1.7, -1.7, 255.9, 256.2, -129.5, 65535.9, 65536.5, -40000.0])
    big = np.concatenate([big, [2.0**31 + 3.5, -(2.0**31) - 7, 4.3e9, -5e9, 1e19, 2.1e19]])
    big = np.concatenate([big, [-1e19, -9.3e18, np.nan, np.inf, -np.inf]])
    _same("correlate1d", big, [1.0], -1, output, "nearest", 0.0, 0)
    _same("correlate1d", big, [0.5, 1.0, 0.25], -1, output, "constant", 1e12, 0)


@pytest.mark.parametrize("length", [1, 2, 3, 5])
@pytest.mark.parametrize("mode", MODES)
def test_lines_shorter_than_the_kernel(length, mode):
    x = _data((length, 3, length), "float64", seed=length)
    weights = np.linspace(-1, 2, 11)
    for axis in (0, 2):
        for origin in (-5, 0, 5):
            _same("correlate1d", x, weights, axis, None, mode, -1.5, origin)
    _same("gaussian_filter", x, 3.0, 0, None, mode, 2.0)
    _same("correlate", x, W3, None, mode, 0.5, (1, 0, -1))


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("dtype", ["uint16", "float32", "float64", "int8"])
def test_gaussian_every_order(order, dtype):
    x = _data((6, 9, 8), dtype, seed=order)
    for mode in MODES:
        _same("gaussian_filter1d", x, 1.7, 1, order, None, mode, 2.0)
        _same("gaussian_filter", x, (1.0, 0.6, 2.2), order, np.float32, mode, 1.0)
    _same("gaussian_filter", x, 2.0, (order, 0, 3 - order), None, ["wrap", "nearest", "mirror"])
    _same("gaussian_filter", x, (1.0, 0.0, 3.0), order, None, radius=(2, 1, 4))
    _same("gaussian_filter", x, 1.5, order, np.float64, truncate=2.3, axes=(2, 0))


def test_symmetry_decided_as_scipy():
    x = _data((40,), "float64", seed=3)
    eps = np.finfo(float).eps
    for weights in (
        [1.0, 2.0, 1.0 + eps],  # symmetric within DBL_EPSILON: scipy folds
        [1.0, 2.0, 1.0 + 4 * eps],  # not symmetric
        [-1.0, 0.0, 1.0 - eps],  # antisymmetric within DBL_EPSILON
        [0.1, 0.2, 0.3, 0.2, 0.1 + 1e-17],
    ):
        _same("correlate1d", x, weights, -1, None, "reflect", 0.0, 0)


def test_nan_inf_and_signed_zeros():
    x = np.array([[0.0, -0.0, np.nan, 1.0, np.inf, -np.inf, 3.0, -0.0, 0.0, 2.0]] * 3)
    for mode in MODES:
        for name in ("sobel", "prewitt"):
            r = _same(name, x, -1, None, mode, -0.0)
            assert_array_equal(np.signbit(r), np.signbit(getattr(ndi, name)(x, -1, None, mode)))
        _same("laplace", x, None, mode, np.nan)
        _same("gaussian_filter", x, 1.0, 1, None, mode)
        _same("correlate", x, [[0.0, 1.0], [-1.0, 2e-17]], None, mode, np.inf)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16", "float32", "float64"])
@pytest.mark.parametrize("mode", MODES_ALL)
def test_composite_filters(dtype, mode):
    x = _data((5, 7, 6), dtype, seed=2)
    for output in (None, np.float32, np.int32, np.bool_):
        kw = dict(output=output, mode=mode, cval=2.5)
        for axis in (0, 1, -1):
            _same("sobel", x, axis, **kw)
            _same("prewitt", x, axis, **kw)
        _same("laplace", x, **kw)
        _same("laplace", x, **kw, axes=(2, 0))
        if np.dtype(output or dtype).kind == "f":
            _same("gaussian_laplace", x, 1.2, **kw)
            _same("gaussian_gradient_magnitude", x, 1.2, **kw)
            _same("gaussian_laplace", x, (1.0, 2.0), **kw, axes=(1, 2), truncate=2.0)
            _same("gaussian_gradient_magnitude", x, 0.8, **kw, axes=(0, 2), radius=2)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "float64"])
@pytest.mark.parametrize("mode", MODES_ALL)
def test_correlate_and_convolve(dtype, mode):
    x = _data((6, 5, 7), dtype, seed=4)
    for output in (None, np.float32, np.uint16):
        kw = dict(output=output, mode=mode, cval=-1.5)
        _same("correlate", x, W3, **kw, origin=(0, -1, 1))
        _same("convolve", x, W3, **kw, origin=(1, 0, -1))
        _same("correlate", x, W3[:, 0, :], **kw, axes=(2, 0))
        _same("convolve", x[0], W3[0], **kw)
        _same("correlate", x[0, 0], W3[0, 0], **kw, origin=-1)
        _same("convolve1d", x, [1.0, -1.0], 0, **kw)
        _same("convolve1d", x, [1.0, 2.0, -1.0, 0.5, 3.0], 2, **kw, origin=2)


def test_scipy_runs_where_not_covered(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the compiled pass ran on a case it does not cover")

    monkeypatch.setattr(_twins, "correlate_pass", refuse)
    monkeypatch.setattr(_twins, "correlate_direct", refuse)
    z = _data((4, 5), "float64") + 1j * _data((4, 5), "float64", seed=1)
    _same("correlate1d", z, [1.0, 2.0, 0.5])
    _same("gaussian_filter", z, 1.0)
    _same("correlate1d", _data((4, 5), "float64"), [1.0, 2j])
    _same("sobel", z)
    _same("correlate", _data((2, 3, 2, 3), "float32"), np.ones((1, 2, 1, 3)))
    _same("gaussian_filter", np.array(3.0), 1.0)  # 0-d
    _same("gaussian_filter", _data((4, 5), "float32"), 0.0)  # nothing to filter: a copy
    assert not _linear.covered(np.float16, np.float32)
    assert not _linear.covered(np.float32, np.complex64)
    with pytest.raises(RuntimeError):  # scipy's own error
        _linear.correlate1d(_data((3, 3), "float16"), [1.0])
    with pytest.raises(ValueError):
        _linear.correlate1d(_data((3, 3), "float32"), [1.0, 2.0], origin=2)


def test_compiled_pass_runs_on_covered_cases(monkeypatch):
    calls = []
    original = _twins.correlate_pass

    def spy(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(_twins, "correlate_pass", spy)
    x = _data((9, 11, 13), "uint16")
    y = ndimage.gaussian_filter(da.from_array(x, chunks=5), 1.0, output=np.float32)
    assert_array_equal(y.compute(scheduler="sync"), ndi.gaussian_filter(x, 1.0, output=np.float32))
    assert set(calls) == {0, 1, 2}


def test_byte_order_and_strided_inputs():
    x = _data((6, 7, 8), "float64")
    swapped = x.astype(">f8")
    strided = x[::2, :, ::-1]
    for a in (swapped, strided):
        _same("gaussian_filter", a, 1.0)
        _same("sobel", a, 1, ">f4")
        _same("correlate", a, W3)


# ------------------------------------------------------------------- chunked path
SMALL = (9, 11, 13)
CHUNKINGS = odd_chunkings(SMALL, halo=3)
CHUNKINGS["smaller_than_halo"] = ((2, 2, 2, 2, 1), (1, 1, 1, 8), (13,))
CHUNKED = {
    "gaussian": (
        "gaussian_filter",
        (1.3,),
        dict(order=(0, 1, 2), mode=["wrap", "reflect", "mirror"]),
    ),
    "gaussian1d": ("gaussian_filter1d", (2.0,), dict(axis=0, order=3, mode="nearest")),
    "correlate1d": (
        "correlate1d",
        ([1.0, 2.0, 3.0, 4.0],),
        dict(axis=1, origin=1, mode="constant"),
    ),
    "convolve1d": ("convolve1d", ([1.0, -1.0],), dict(axis=2, mode="grid-wrap")),
    "sobel": ("sobel", (), dict(axis=0, mode="mirror")),
    "prewitt": ("prewitt", (), dict(axis=2, mode=["constant", "wrap", "nearest"], cval=3.0)),
    "laplace": ("laplace", (), dict(mode="reflect")),
    "gaussian_laplace": ("gaussian_laplace", (1.0,), dict(mode="nearest")),
    "ggm": ("gaussian_gradient_magnitude", (1.0,), dict(mode="wrap")),
    "ggm_mixed": ("gaussian_gradient_magnitude", (1.0,), dict(mode=["wrap", "reflect", "mirror"])),
    "correlate": ("correlate", (W3,), dict(origin=(0, -1, 1), mode="grid-constant", cval=2.0)),
    "convolve": ("convolve", (W3,), dict(mode="wrap")),
    "generic_gm_sobel": ("generic_gradient_magnitude", (ndi.sobel,), dict(mode="reflect")),
}


def _chunked(case, chunks, dtype):
    name, args, kwargs = CHUNKED[case]
    data = (random_volume(SMALL, np.float64, seed=5) * 900).astype(dtype)
    expected = getattr(ndi, name)(data, *args, **kwargs)
    x = da.from_array(data, chunks=chunks)
    result = getattr(ndimage, name)(x, *args, **kwargs)
    assert result.chunks == x.chunks
    out = result.compute(scheduler="sync")
    assert out.dtype == expected.dtype
    assert_array_equal(out, expected)


# every case through the chunkings with halos across blocks; the others (one block,
# halves, size-1 blocks: many tasks) for two cases; test_filters.py runs every filter
# through every shared chunking as well
@pytest.mark.parametrize("case", list(CHUNKED))
@pytest.mark.parametrize("chunking", ["remainder", "irregular", "smaller_than_halo"])
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_chunked_equals_scipy(case, chunking, dtype):
    _chunked(case, CHUNKINGS[chunking], dtype)


@pytest.mark.parametrize("case", ["gaussian", "sobel"])
@pytest.mark.parametrize("chunking", ["single", "halves", "ones"])
def test_chunked_more_chunkings(case, chunking):
    _chunked(case, CHUNKINGS[chunking], "float32")
