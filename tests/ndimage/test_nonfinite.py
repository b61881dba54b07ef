"""NaN and infinities: scipy's result for any chunking (issue 12, section 2).

scipy's running filters carry a line's history (NaN in the running minimum's queue, a
non-finite running sum, the 1-D rank filters' sliding heap), so these tests draw
chunkings (one-voxel blocks and blocks thinner than the halo included), sizes,
origins, modes and ``cval`` together with data full of NaN and infinities, and compare
with scipy on the whole array: NaN where scipy has NaN, the same values (within float
tolerance for the uniform filter, whose finite sums round differently per block).
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from bigimg import ndimage
from bigimg._args import FILTER_MODES
from bigimg._nonfinite import ext_index, replay_rows, sync_starts
from bigimg.testing import chunkings, raise_if_dask_computes

MODES = list(FILTER_MODES)
CVALS = [0.0, 1.5, np.nan, np.inf, -np.inf]
FUZZ = settings(max_examples=30, deadline=None, derandomize=True)


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN cast to integers, inf - inf
        yield


def _nonfinite(shape, seed, dtype=np.float64) -> np.ndarray:
    """Small integers (many ties) with NaN, +inf and -inf at random densities."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, shape).astype(dtype)
    x[rng.random(shape) < rng.uniform(0.05, 0.7)] = np.nan
    x[rng.random(shape) < 0.1] = np.inf
    x[rng.random(shape) < 0.05] = -np.inf
    return x


def _assert_same(got, want, *, close=False):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    if close:  # infinities must match exactly; finite sums round differently per block
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    else:
        np.testing.assert_array_equal(got, want)


@st.composite
def _cases(draw, max_dims=3, max_side=7):
    """(data, chunks, sizes, origins, mode, cval) for a separable filter."""
    ndim = draw(st.integers(1, max_dims))
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    chunks = draw(chunkings(shape))
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    origins = tuple(draw(st.integers(-(s // 2), (s - 1) // 2)) for s in sizes)
    if draw(st.booleans()):
        mode = draw(st.sampled_from(MODES))
    else:
        mode = [draw(st.sampled_from(MODES)) for _ in range(ndim)]
    cval = draw(st.sampled_from(CVALS))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = _nonfinite(shape, draw(st.integers(0, 2**16)), dtype)
    return x, chunks, sizes, origins, mode, cval


# ------------------------------------------------------------------ the issue's cases
def test_issue_example_minimum_filter1d_one_voxel_chunks():
    x = np.array([np.nan, np.nan, np.nan, 0, np.nan, np.nan])
    got = ndimage.minimum_filter1d(da.from_array(x, chunks=1), 4).compute()
    np.testing.assert_array_equal(got, ndi.minimum_filter1d(x, 4))
    np.testing.assert_array_equal(got[-2:], [np.nan, 0.0])


def test_a_finite_window_after_nan_keeps_scipys_value():
    # scipy's queue gives 3 for the window [1, 3, 9, 9]: a NaN earlier kept the 5 as
    # its front, and the 3 reset the queue; a block starting at the window says 1
    x = np.array([np.nan, 5, np.nan, 1, 3, 9, 9, 9, 9])
    want = ndi.minimum_filter1d(x, 4, mode="constant", cval=0)
    assert want[5] == 3
    for chunks in (1, 2, 3, (5, 4)):
        got = ndimage.minimum_filter1d(da.from_array(x, chunks=chunks), 4, mode="constant")
        np.testing.assert_array_equal(got.compute(), want)


@pytest.mark.parametrize(
    "func",
    ["minimum_filter", "maximum_filter", "grey_erosion", "grey_dilation", "grey_opening"],
)
def test_issue_example_nd_filters(func):
    x = np.array([np.nan, np.nan, np.nan, 0, np.nan, np.nan])
    plane = np.stack([x, x[::-1], np.roll(x, 2)])
    got = getattr(ndimage, func)(da.from_array(plane, chunks=1), size=(1, 4)).compute()
    np.testing.assert_array_equal(got, getattr(ndi, func)(plane, size=(1, 4)))


def test_uniform_filter_nan_spreads_along_the_whole_line():
    x = np.arange(12.0)
    x[2] = np.inf
    got = ndimage.uniform_filter1d(da.from_array(x, chunks=3), 3).compute()
    want = ndi.uniform_filter1d(x, 3)
    _assert_same(got, want, close=True)
    assert np.isinf(want[1:4]).all() and np.isnan(want[4:]).all()


def test_median_filter_1d_nan_matches_the_sliding_heap():
    x = _nonfinite(40, 3)
    for chunks in (1, 7, (30, 10)):
        got = ndimage.median_filter(da.from_array(x, chunks=chunks), 5).compute()
        np.testing.assert_array_equal(got, ndi.median_filter(x, 5))


# ---------------------------------------------------------------------- the sync rules
def test_replay_from_every_sync_point_is_scipys_queue():
    """A fresh queue from any start the sync rules allow is scipy's from there on."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        size, n = int(rng.integers(2, 7)), 40
        line = _nonfinite(n, int(rng.integers(2**16)))
        minimum = bool(rng.integers(2))
        whole = replay_rows(line[None], np.array([0]), 0, n - size + 1, size, minimum)[0]
        ext = np.concatenate([np.full(size // 2, 7.0), line, np.full(size - size // 2 - 1, 7.0)])
        filt = ndi.minimum_filter1d if minimum else ndi.maximum_filter1d
        full = filt(line, size, mode="constant", cval=7.0)
        assert np.array_equal(
            replay_rows(ext[None], np.array([0]), 0, n, size, minimum)[0], full, equal_nan=True
        )
        for w0 in range(size, n - size):
            b = int(sync_starts(np.isnan(line)[None], w0, size, False)[0])
            if b < 0:
                continue
            fresh = replay_rows(line[None], np.array([b]), w0, n - size + 1 - w0, size, minimum)
            assert np.array_equal(fresh[0], whole[w0:], equal_nan=True)


@pytest.mark.parametrize("mode", MODES)
def test_extension_map_is_the_running_filters_own(mode):
    """Lines extended with :func:`ext_index` give scipy's minimum filter, long pads too."""
    x = np.random.default_rng(2).permutation(5).astype(float)
    for size in range(1, 12):
        for origin in range(-(size // 2), (size - 1) // 2 + 1):
            left, right = size // 2 + origin, size - size // 2 - 1 - origin
            ext = ext_index(5, left, right, mode)
            line = np.where(ext < 0, 2.5, x[np.clip(ext, 0, None)])
            got = replay_rows(line[None], np.array([0]), 0, 5, size, True)[0]
            want = ndi.minimum_filter1d(x, size, mode=mode, cval=2.5, origin=origin)
            np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------- fuzzing
@FUZZ
@given(_cases(), st.sampled_from(["minimum", "maximum"]))
def test_minimum_maximum_filters(case, which):
    x, chunks, sizes, origins, mode, cval = case
    y = da.from_array(x, chunks=chunks)
    name = f"{which}_filter"
    got = getattr(ndimage, name)(y, sizes, mode=mode, cval=cval, origin=origins)
    _assert_same(got.compute(), getattr(ndi, name)(x, sizes, mode=mode, cval=cval, origin=origins))
    m = mode if isinstance(mode, str) else mode[0]
    got = getattr(ndimage, f"{name}1d")(y, sizes[0], axis=0, mode=m, cval=cval, origin=origins[0])
    want = getattr(ndi, f"{name}1d")(x, sizes[0], axis=0, mode=m, cval=cval, origin=origins[0])
    _assert_same(got.compute(), want)


@FUZZ
@given(_cases())
def test_uniform_filters(case):
    x, chunks, sizes, origins, mode, cval = case
    y = da.from_array(x, chunks=chunks)
    got = ndimage.uniform_filter(y, sizes, mode=mode, cval=cval, origin=origins)
    want = ndi.uniform_filter(x, sizes, mode=mode, cval=cval, origin=origins)
    _assert_same(got.compute(), want, close=True)
    m = mode if isinstance(mode, str) else mode[-1]
    got = ndimage.uniform_filter1d(y, sizes[-1], mode=m, cval=cval, origin=origins[-1])
    want = ndi.uniform_filter1d(x, sizes[-1], mode=m, cval=cval, origin=origins[-1])
    _assert_same(got.compute(), want, close=True)


@FUZZ
@given(_cases(), st.sampled_from(["rank0", "rank-1", "rank1", "median", "percentile"]))
def test_rank_filters(case, which):
    x, chunks, sizes, origins, mode, cval = case
    mode = mode if isinstance(mode, str) else mode[0]  # one mode: non-separable ranks
    kw = dict(size=sizes, mode=mode, cval=cval, origin=origins)

    def call(module, a):
        if which == "median":
            return module.median_filter(a, **kw)
        if which == "percentile":
            return module.percentile_filter(a, 30, **kw)
        rank = int(which[4:])
        return module.rank_filter(a, 0 if rank == 1 and np.prod(sizes) < 3 else rank, **kw)

    _assert_same(call(ndimage, da.from_array(x, chunks=chunks)).compute(), call(ndi, x))


GREY = [
    "grey_erosion",
    "grey_dilation",
    "grey_opening",
    "grey_closing",
    "white_tophat",
    "black_tophat",
    "morphological_gradient",
    "morphological_laplace",
]


@FUZZ
@given(_cases(max_dims=2), st.sampled_from(GREY), st.booleans())
def test_grey_morphology(case, name, as_footprint):
    x, chunks, sizes, origins, mode, cval = case
    kw = dict(mode=mode, cval=cval, origin=origins)
    if as_footprint:
        kw["footprint"] = np.ones(sizes, dtype=bool)
    else:
        kw["size"] = sizes
    got = getattr(ndimage, name)(da.from_array(x, chunks=chunks), **kw)
    _assert_same(got.compute(), getattr(ndi, name)(x, **kw))


@pytest.mark.parametrize("name", GREY)
def test_grey_morphology_with_a_few_nans(name):
    """Blocks far from the NaNs take the block kernel, the others scipy's queue."""
    x = np.random.default_rng(8).random((10, 11, 12)).astype(np.float32)
    x[2, 3, 4] = x[7, 1, 9] = np.nan
    x[5, 5, 5] = np.inf
    y = da.from_array(x, chunks=(3, 4, 5))
    for kw in (dict(size=3), dict(size=(2, 3, 1), mode="wrap"), dict(size=(1, 4, 3), origin=1)):
        _assert_same(getattr(ndimage, name)(y, **kw).compute(), getattr(ndi, name)(x, **kw))


# ------------------------------------------------------------------- other inputs
def test_integer_input_with_nan_cval():
    x = np.random.default_rng(1).integers(0, 9, (6, 7)).astype(np.int16)
    y = da.from_array(x, chunks=2)
    for func in ("minimum_filter", "maximum_filter"):
        got = getattr(ndimage, func)(y, 4, mode="constant", cval=np.nan, output=np.float32)
        want = getattr(ndi, func)(x, 4, mode="constant", cval=np.nan, output=np.float32)
        _assert_same(got.compute(), want)


def test_complex_uniform_filter():
    x = _nonfinite((9, 8), 4) + 1j * _nonfinite((9, 8), 5)
    got = ndimage.uniform_filter(da.from_array(x, chunks=(2, 3)), 3, mode="wrap").compute()
    want = ndi.uniform_filter(x, 3, mode="wrap")
    _assert_same(got.real, want.real, close=True)
    _assert_same(got.imag, want.imag, close=True)


def test_outputs_of_another_dtype():
    x = _nonfinite((8, 9), 6)
    y = da.from_array(x, chunks=(3, 2))
    for func in (ndimage.minimum_filter, ndimage.uniform_filter):
        twin = getattr(ndi, func.__name__)
        for dtype in (np.float32, np.int32):
            _assert_same(
                func(y, 3, output=dtype).compute(),
                twin(x, 3, output=dtype),
                close=dtype != np.int32,
            )


def test_reader_backed_input_streams_and_stays_lazy(tmp_path):
    import bigimg

    x = _nonfinite((9, 10, 11), 7, np.float32)
    path = tmp_path / "v.raw"
    x.tofile(path)
    vol = bigimg.open_raw(str(path), x.shape, x.dtype, chunks=(2, 5, 3))
    with raise_if_dask_computes():
        out = ndimage.grey_opening(vol, size=(3, 4, 2))
    assert getattr(out, "_bigimg_source", None) is not None
    assert len(out.__dask_graph__()) == vol.npartitions  # one task per block
    _assert_same(out.compute(), ndi.grey_opening(x, size=(3, 4, 2)))
    smooth = ndimage.gaussian_filter(ndimage.uniform_filter(vol, 3), 1.0)
    assert getattr(smooth, "_bigimg_source", None) is not None  # a chain still streams
    want = ndi.gaussian_filter(ndi.uniform_filter(x, 3), 1.0)
    _assert_same(smooth.compute(), want, close=True)


def test_integers_cast_to_float_keep_the_block_kernels():
    x = da.from_array(np.arange(60, dtype=np.uint16).reshape(6, 10), chunks=3)
    plain = ndimage.uniform_filter(x.astype(np.float32), 3)
    assert not any("prefix" in str(k) for k in plain.__dask_graph__())  # no pre-pass
    floats = ndimage.uniform_filter(x.astype(np.float32) * 1.5, 3)
    assert any("prefix" in str(k) for k in floats.__dask_graph__())


@pytest.mark.parametrize("mode", ["wrap", "grid-wrap", "reflect", "mirror", "nearest"])
@pytest.mark.parametrize("size", [3, 10, 15, 40])
def test_1d_median_on_several_chunks_finite(mode, size):
    """scipy's test_gh_22250 with three chunks: wrap takes values from the other end of
    the line, and a window longer than the line reflects more than once."""
    x = 0.4 * np.random.default_rng(42).random(20)
    got = ndimage.median_filter(da.from_array(x, chunks=7), size=size, mode=mode).compute()
    np.testing.assert_array_equal(got, ndi.median_filter(x, size=size, mode=mode))
