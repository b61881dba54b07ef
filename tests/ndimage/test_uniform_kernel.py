"""The compiled uniform filters (bigimg._linear) give scipy.ndimage's arrays bit for bit.

On blocks: every dtype scipy takes as input and as output (integer outputs wrapped and
truncated as scipy's C casts do), every boundary mode and its ``grid-`` alias with
``cval``, origins up to both limits, odd shapes (length 1, lines shorter than the box),
size 1 and even sizes, NaN and infinities (sticky in scipy's running sum), in-place and
strided or byte-swapped arrays. Where the kernel does not cover a case, scipy's function
runs: tested too, and that the compiled passes run everywhere else, chunked included.
Through the chunked path integer data (whose sums are exact) equal scipy bit for bit;
float data equal it to rounding, NaN and infinities exactly where scipy has them.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy.testing import assert_allclose, assert_array_equal

from bigimg import _linear, ndimage
from bigimg._linear import _twins
from bigimg.testing import odd_chunkings, random_volume

MODES = ["reflect", "grid-mirror", "mirror", "nearest", "wrap", "grid-wrap", "constant"]
MODES_ALL = [*MODES, "grid-constant"]
IN_DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"]
IN_DTYPES += ["float32", "float64"]
# (size, origin): size 1, even sizes, both origin limits (size // 2 + origin in [0, size))
SIZES = [(1, 0), (2, 0), (2, -1), (3, 1), (4, -2), (4, 1), (5, 0), (6, 2)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in scipy's own sums
        yield


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
    if expected.dtype.kind == "f":  # the sign of zeros too (scipy's sum starts at +0.0);
        # not the sign of NaN, which x86 takes from whichever operand comes first
        number = ~np.isnan(expected)
        assert_array_equal(np.signbit(result[number]), np.signbit(expected[number]))
    return result


# ------------------------------------------------------------------------ block level
@pytest.mark.parametrize("dtype", IN_DTYPES)
def test_uniform_filter1d_every_dtype_mode_size_and_origin(dtype):
    x = _data((5, 6, 7), dtype)
    for mode in MODES_ALL:
        for size, origin in SIZES:
            for axis in (0, 1, 2):
                _same("uniform_filter1d", x, size, axis, None, mode, 3.25, origin)


@pytest.mark.parametrize("dtype", IN_DTYPES)
def test_uniform_filter_every_dtype(dtype):
    x = _data((6, 5, 7), dtype, seed=1)
    for mode in MODES_ALL:
        _same("uniform_filter", x, 3, None, mode, -2.5)
        _same("uniform_filter", x, (2, 4, 5), None, mode, 7.0, (0, -2, 1))
    _same("uniform_filter", x, (3, 2), None, ["wrap", "grid-constant"], 1.0, (1, 0), axes=(2, 0))


@pytest.mark.parametrize("output", IN_DTYPES)
def test_every_output_dtype_wraps_as_scipy(output):
    output = np.dtype(output)
    big = np.array([0.5, -0.5, 1.7, -1.7, 255.9, 256.2, -129.5, 65535.9, 65536.5, -40000.0])
    big = np.concatenate([big, [2.0**31 + 3.5, -(2.0**31) - 7, 4.3e9, -5e9, 1e19, 2.1e19]])
    big = np.concatenate([big, [-1e19, -9.3e18, np.nan, np.inf, -np.inf, -0.0, 3.0]])
    for size in (1, 2, 3):
        _same("uniform_filter1d", big, size, -1, output, "nearest", 0.0, 0)
        _same("uniform_filter1d", big.reshape(-1, 1), size, 0, output, "constant", 1e12, 0)
    _same("uniform_filter", big[:20].reshape(4, 5), 2, output, "wrap")


def test_extreme_integer_inputs():
    top = np.array([2**64 - 1, 2**63 + 12345, 2**63 - 1, 2**53 + 1, 0, 1, 2**62, 7], np.uint64)
    low = np.array([-(2**63), 2**63 - 1, -(2**53) - 1, 5, -1, 2**62, -(2**62), 3], np.int64)
    for x in (top, low, top.astype(np.uint32), low.astype(np.int32)):
        for size in (1, 2, 3, 8):
            for output in (None, np.float64):
                _same("uniform_filter1d", x, size, -1, output, "wrap", 0.0, 0)


def test_mixed_input_and_output_dtypes():
    for dtype, output in [("uint8", np.float32), ("int16", np.uint8), ("float32", np.float64)]:
        x = _data((7, 8, 9), dtype, seed=2)
        for axis in (0, 2):
            _same("uniform_filter1d", x, 4, axis, output, "reflect", 0.0, -1)
        _same("uniform_filter", x, 5, output, "mirror")
        _same("uniform_filter", x, (3, 1, 4), np.dtype(output).name, "constant", 9.0)
    _same("uniform_filter", _data((7, 8), "float64"), 3, np.bool_, "nearest")


@pytest.mark.parametrize("length", [1, 2, 3, 5])
@pytest.mark.parametrize("mode", MODES_ALL)
def test_lines_shorter_than_the_box(length, mode):
    x = _data((length, 3, length), "float64", seed=length)
    for size in (1, 2, 7, 12):
        for origin in {-(size // 2), 0, (size - 1) // 2}:
            for axis in (0, 1, 2):
                _same("uniform_filter1d", x, size, axis, None, mode, -1.5, origin)
    _same("uniform_filter", x, 9, None, mode, 2.0)
    _same("uniform_filter", x, (4, 11, 6), np.float32, mode, 2.0, (-2, 5, 2))


def test_many_lines_long_lines_and_more_axes():
    # more lines than one group along the last axis (and a remainder); rows wider than
    # one tile along the other axes; a line longer than a tile is wide; 4-D
    x = _data((7, 13, 301), "float32", seed=3)
    for axis in (0, 1, 2):
        _same("uniform_filter1d", x, 6, axis, None, "wrap", 0.0, 1)
    _same("uniform_filter1d", _data((2, 2500, 3), "int32"), 5, 1, None, "reflect", 0.0, 0)
    _same("uniform_filter", _data((1, 1, 1), "float64"), 3)
    _same("uniform_filter", _data((3, 4, 5, 6), "int16"), (2, 3, 1, 4), np.float32, "mirror")
    _same("uniform_filter1d", _data((3, 4, 5, 6), "float64"), 3, 2, None, "wrap", 0.0, 1)


def test_nan_and_infinities_stick_as_in_scipy():
    x = np.array([1.0, 2.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1.0, 2.0])
    y = np.array([1.0, 2.0, 3.0, np.inf, 4.0, 5.0, 6.0, 7.0, -np.inf, 1.0, 2.0, 3.0])
    z = np.array([-0.0, -0.0, -0.0, 1.0, -1.0, -0.0, 2.0, -2.0, -0.0, -0.0, -0.0, -0.0])
    block = np.stack([x, y, z, y[::-1], x[::-1], z[::-1]] * 3)
    for mode in MODES_ALL:
        for cval in (0.0, -0.0, 2.0, np.nan, np.inf, -np.inf):
            for size, origin in [(1, 0), (2, 0), (3, -1), (4, 1)]:
                for axis in (0, 1):
                    _same("uniform_filter1d", block, size, axis, None, mode, cval, origin)
                    _same("uniform_filter1d", block, size, axis, np.int16, mode, cval, origin)
            _same("uniform_filter", block, 3, None, mode, cval)
            _same("uniform_filter", block.astype(np.float32), (2, 5), np.uint8, mode, cval)
    r = _linear.uniform_filter1d(x, 3)
    assert np.isnan(r[1:]).all() and not np.isnan(r[0])  # NaN stays for the rest of the line


def test_in_place_strided_and_byte_swapped():
    x = _data((6, 7, 8), "float64", seed=4)
    for name, args in [("uniform_filter1d", (4, 1)), ("uniform_filter", (3,))]:
        want = getattr(ndi, name)(x.copy(), *args)
        a = x.copy()
        assert getattr(_linear, name)(a, *args, output=a) is a  # scipy returns the output
        assert_array_equal(a, want)
        out = np.empty((6, 7, 16))[:, :, ::2]  # a non-contiguous output array
        assert getattr(_linear, name)(x, *args, output=out) is out
        assert_array_equal(out, want)
        _same(name, x.astype(">f8"), *args)
        _same(name, x[::2, :, ::-1], *args)
        _same(name, x, *args, output=">i4")
        _same(name, x.astype(">f4"), *args, output=np.dtype(">f4"))
    a = x[:, :4, :4]  # in place in a view of a larger array
    want = ndi.uniform_filter(a.copy(), 2)
    _linear.uniform_filter(a, 2, output=a)
    assert_array_equal(a, want)


def test_scipy_runs_where_not_covered(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the compiled passes ran on a case they do not cover")

    monkeypatch.setattr(_twins, "uniform_passes", refuse)
    z = _data((4, 5), "float64") + 1j * _data((4, 5), "float64", seed=1)
    _same("uniform_filter1d", z, 3)
    _same("uniform_filter", z, 3, mode="wrap")
    _same("uniform_filter", np.array(3.0), 3)  # 0-d
    _same("uniform_filter", _data((4, 5), "float32"), 1)  # nothing to filter: a copy
    _same("uniform_filter", _data((4, 5), "float32"), (1, 0.5), np.int8)  # numpy's cast
    _same("uniform_filter1d", np.zeros((0, 5)), 3)
    _same("uniform_filter", np.zeros((3, 0)), 3)
    x = _data((4, 5), "float64")
    for call, error in [
        (lambda: _linear.uniform_filter1d(_data((3, 3), "float16"), 3), RuntimeError),
        (lambda: _linear.uniform_filter(x, 3, output=np.float16), RuntimeError),
        (lambda: _linear.uniform_filter1d(x, 0), RuntimeError),
        (lambda: _linear.uniform_filter1d(x, 3, origin=2), ValueError),
        (lambda: _linear.uniform_filter(x, 4, origin=(0, -3)), ValueError),
        (lambda: _linear.uniform_filter1d(x, 3.0), TypeError),
        (lambda: _linear.uniform_filter1d(x, 3, cval=1j), TypeError),
        (lambda: _linear.uniform_filter1d(x, 3, cval="a"), TypeError),
        (lambda: _linear.uniform_filter1d(x, 3, axis=2), np.exceptions.AxisError),
        (lambda: _linear.uniform_filter(x, 3, mode="bogus"), RuntimeError),
        (lambda: _linear.uniform_filter(x, (3, 3, 3)), RuntimeError),
    ]:
        with pytest.raises(error):
            call()
    assert not _linear.covered(np.float16, np.float32)
    assert not _linear.covered(np.float64, np.complex128)


def test_compiled_passes_run_on_covered_cases(monkeypatch):
    calls = []
    original = _twins.uniform_passes

    def spy(src, dst, passes, cval):
        calls.append(tuple(axis for axis, *_ in passes))
        return original(src, dst, passes, cval)

    monkeypatch.setattr(_twins, "uniform_passes", spy)
    x = _data((6, 5, 7), "uint16")
    _same("uniform_filter", x, (3, 1, 2.5))  # size 1 skipped, 2.5 cut to 2 (as scipy)
    _same("uniform_filter1d", x, 1, 1)  # a size-1 pass still runs
    _same("uniform_filter", x, (2, 3), axes=(-1, 0))
    _same("uniform_filter", x, (3, 1, 1), mode=["reflect", "bogus", 0])  # scipy never reads
    assert calls == [(0, 2), (1,), (2, 0), (0,)]
    calls.clear()
    y = ndimage.uniform_filter(da.from_array(x, chunks=3), 3, output=np.float32)
    assert_array_equal(y.compute(scheduler="sync"), ndi.uniform_filter(x, 3, output=np.float32))
    assert set(calls) == {(0, 1, 2)}
    # float data with a NaN: the non-finite engine hands the blocks no NaN reaches
    # (here all but those after it along the lines) to the compiled kernel
    calls.clear()
    f = _data((12, 10, 11), "float32", seed=8)
    f[10, 8, 9] = np.nan
    y = ndimage.uniform_filter1d(da.from_array(f, chunks=4), 3, axis=1)
    assert_array_equal(y.compute(scheduler="sync"), ndi.uniform_filter1d(f, 3, axis=1))
    assert calls.count((1,)) >= y.npartitions - 2  # the NaN's block, the one its halo reaches


# ------------------------------------------------------------------- chunked path
SMALL = (9, 11, 13)
CHUNKINGS = odd_chunkings(SMALL, halo=3)
CHUNKINGS["smaller_than_halo"] = ((2, 2, 2, 2, 1), (1, 1, 1, 8), (13,))
CHUNKED = {
    "uniform": ("uniform_filter", (), dict(size=(3, 4, 2), origin=(1, 0, 0), mode="reflect")),
    "uniform_modes": (
        "uniform_filter",
        (5,),
        dict(mode=["grid-wrap", "grid-constant", "mirror"], cval=2.0),
    ),
    "uniform_axes": ("uniform_filter", (), dict(size=(2, 5), axes=(2, 0), origin=(-1, 2))),
    "uniform1d": ("uniform_filter1d", (4,), dict(axis=2, origin=-1, mode="nearest")),
    "uniform1d_wrap": ("uniform_filter1d", (6,), dict(axis=0, mode="wrap")),
    "uniform1d_size1": ("uniform_filter1d", (1,), dict(axis=1)),
}


def _quarters(dtype, seed=5):
    """Multiples of 1/4, as integers or floats: every running sum of the first pass is
    exact in double, and so are the later passes' sums of its float32 (or integer)
    outputs, so chunked results equal scipy's bit for bit whatever the blocks."""
    x = np.round(random_volume(SMALL, np.float64, seed=seed) * 400) / 4
    return x.astype(dtype)


def _chunked(case, chunks, data, exact=True):
    name, args, kwargs = CHUNKED[case]
    expected = getattr(ndi, name)(data, *args, **kwargs)
    x = da.from_array(data, chunks=chunks)
    result = getattr(ndimage, name)(x, *args, **kwargs)
    assert result.chunks == x.chunks
    out = result.compute(scheduler="sync")
    assert out.dtype == expected.dtype
    if exact:
        assert_array_equal(out, expected)
    else:  # finite sums round differently where a block's halo starts
        assert_array_equal(np.isnan(out), np.isnan(expected))
        assert_array_equal(np.isinf(out), np.isinf(expected))
        scale = np.abs(expected[np.isfinite(expected)]).max()
        assert_allclose(out, expected, rtol=0, atol=1e-14 * scale)


@pytest.mark.parametrize("case", list(CHUNKED))
@pytest.mark.parametrize("chunking", ["remainder", "irregular", "smaller_than_halo"])
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_chunked_equals_scipy(case, chunking, dtype):
    _chunked(case, CHUNKINGS[chunking], _quarters(dtype))


@pytest.mark.parametrize("case", ["uniform", "uniform1d"])
@pytest.mark.parametrize("chunking", ["single", "halves", "ones"])
def test_chunked_more_chunkings(case, chunking):
    _chunked(case, CHUNKINGS[chunking], _quarters("int16"))


@pytest.mark.parametrize("case", ["uniform", "uniform_modes", "uniform1d_wrap"])
def test_chunked_float_data_to_rounding(case):
    data = random_volume(SMALL, np.float64, seed=6) * 900
    _chunked(case, CHUNKINGS["irregular"], data, exact=False)


@pytest.mark.parametrize("case", list(CHUNKED))
@pytest.mark.parametrize("chunking", ["irregular", "smaller_than_halo"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunked_nan_and_inf_as_scipy(case, chunking, dtype):
    # the non-finite engine runs (lines a NaN or infinity reached are NaN or infinite
    # exactly where scipy has them); the compiled kernel does the blocks with none near.
    # float64 outputs of a first pass (k/12) make the second pass's sums round per block
    data = _quarters(dtype, seed=7)
    rng = np.random.default_rng(7)
    data[rng.random(SMALL) < 0.01] = np.nan
    data[rng.random(SMALL) < 0.005] = np.inf
    data[rng.random(SMALL) < 0.005] = -np.inf
    with dask.config.set(scheduler="sync"):
        _chunked(case, CHUNKINGS[chunking], data, exact=dtype == "float32")
