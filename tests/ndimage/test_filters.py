"""Every filter against scipy.ndimage: chunkings, modes, dtypes, errors, laziness."""

from __future__ import annotations

import pickle

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg import ArgumentError, ndimage
from bigimg.testing import (
    assert_dask_matches,
    chunkings,
    odd_chunkings,
    raise_if_dask_computes,
    random_volume,
)

SMALL = (9, 11, 13)
SMALL_CHUNKINGS = odd_chunkings(SMALL, halo=3)
# fewer blocks, same corner cases: size-1 chunks along one axis; chunks of 1 and 2 (smaller
# than every halo here) along two axes and one chunk along the third
SMALL_CHUNKINGS["ones"] = ((1,) * 9, (11,), (5, 8))
SMALL_CHUNKINGS["smaller_than_halo"] = ((2, 2, 2, 2, 1), (1, 1, 1, 8), (13,))
RNG = np.random.default_rng(42)
W3 = RNG.standard_normal((3, 2, 3))
FP = RNG.random((3, 3, 2)) > 0.4
FP[1, 1, 0] = True
CROSS = ndi.generate_binary_structure(3, 1)


def _d2(input, axis, output, mode, cval):
    return ndi.correlate1d(input, [1, -2, 1], axis, output, mode, cval, 0)


def _running_sum(iline, oline):
    oline[...] = iline[:-2] + iline[1:-1] + iline[2:]


def _window_mean(window, axis):
    return np.mean(window, axis=axis)


# name -> (function name, positional args, keyword args, accepts a per-axis mode sequence)
CASES = {
    "correlate": ("correlate", (W3,), dict(origin=(0, -1, 1)), False),
    "convolve": ("convolve", (W3,), dict(origin=(1, 0, -1)), False),
    "correlate_axes": ("correlate", (W3[:, 0, :],), dict(axes=(2, 0)), False),
    "correlate1d": ("correlate1d", ([1.0, 2.0, 3.0, 4.0],), dict(axis=1, origin=1), False),
    "convolve1d": ("convolve1d", ([1.0, -1.0],), dict(axis=0), False),
    "gaussian": ("gaussian_filter", ((1.0, 1.5, 0.7),), {}, True),
    "gaussian_order": ("gaussian_filter", (1.0,), dict(order=(0, 1, 2)), True),
    "gaussian_radius_axes": ("gaussian_filter", (3.0,), dict(radius=2, axes=(0, 2)), True),
    "gaussian1d": ("gaussian_filter1d", (1.5,), dict(axis=1, order=1), False),
    "gaussian_gradient_magnitude": ("gaussian_gradient_magnitude", (1.0,), {}, True),
    "gaussian_laplace": ("gaussian_laplace", (1.0,), dict(truncate=3.0), True),
    "ggm_axes": ("gaussian_gradient_magnitude", (1.0,), dict(axes=(0, 2), radius=2), True),
    "gaussian_laplace_axes": ("gaussian_laplace", ((1.0, 2.0),), dict(axes=(1, 2)), True),
    "generic_gradient_magnitude": ("generic_gradient_magnitude", (ndi.sobel,), {}, True),
    "generic_laplace": ("generic_laplace", (_d2,), {}, True),
    "laplace": ("laplace", (), {}, True),
    "sobel": ("sobel", (), dict(axis=0), True),
    "prewitt": ("prewitt", (), dict(axis=-1), True),
    "uniform": ("uniform_filter", (), dict(size=(3, 4, 2), origin=(1, 0, 0)), True),
    "uniform1d": ("uniform_filter1d", (4,), dict(axis=2, origin=-1), False),
    "minimum": ("minimum_filter", (), dict(size=3), True),
    "maximum_footprint": ("maximum_filter", (), dict(footprint=CROSS, origin=(0, 1, 0)), False),
    "minimum1d": ("minimum_filter1d", (5,), dict(axis=0), False),
    "maximum1d": ("maximum_filter1d", (2,), dict(axis=2), False),
    "median": ("median_filter", (), dict(size=3), False),
    "rank": ("rank_filter", (-1,), dict(footprint=FP), False),
    "percentile": ("percentile_filter", (30,), dict(size=(2, 3, 3)), False),
    "median_axes": ("median_filter", (), dict(size=(3, 5), axes=(2, 0)), False),
    "rank_axes_origin": (
        "rank_filter",
        (2,),
        dict(size=(5, 3), axes=(2, 1), origin=(-1, 1)),
        False,
    ),
    "minimum_fp_axes": (
        "minimum_filter",
        (),
        dict(footprint=FP[:, :, 0] | FP[:, :, 1], axes=(2, 0), origin=(1, -1)),
        False,
    ),
    "uniform_axes": ("uniform_filter", (), dict(size=(2, 5), axes=(1, 0), origin=(-1, 2)), False),
    "generic_filter": ("generic_filter", (np.ptp,), dict(size=(3, 2, 3)), False),
    "generic_filter1d": ("generic_filter1d", (_running_sum, 3), dict(axis=1), False),
    "vectorized": ("vectorized_filter", (_window_mean,), dict(size=3), False),
}
FLOAT_ONLY = {
    "gaussian_order",
    "gaussian1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "ggm_axes",
    "gaussian_laplace_axes",
}
# one irregular chunking with size-1 and size-2 chunks, for the mode sweep
MODE_CHUNKS = ((1, 4, 4), (5, 2, 4), (6, 7))


def _both(case, x, **extra):
    name, args, kwargs, _ = CASES[case]
    kwargs = {**kwargs, **extra}
    ours = getattr(ndimage, name)(x if isinstance(x, da.Array) else x, *args, **kwargs)
    return ours, kwargs


def _check(case, data, chunks, **extra):
    name, args, kwargs, _ = CASES[case]
    kwargs = {**kwargs, **extra}
    expected = getattr(ndi, name)(data, *args, **kwargs)
    result = getattr(ndimage, name)(da.from_array(data, chunks=chunks), *args, **kwargs)
    assert_dask_matches(
        result,
        expected,
        chunks=da.from_array(data, chunks=chunks).chunks,
        rtol=1e-6 if data.dtype != np.float32 else 1e-5,
    )


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("chunking", list(SMALL_CHUNKINGS))
def test_every_chunking(case, chunking):
    data = random_volume(SMALL, np.float64, seed=1)
    _check(case, data, SMALL_CHUNKINGS[chunking])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "mode",
    [
        "reflect",
        "constant",
        "nearest",
        "mirror",
        "wrap",
        "grid-constant",
        "grid-mirror",
        "grid-wrap",
    ],
)
def test_every_mode(case, mode):
    data = random_volume(SMALL, np.float64, seed=2)
    extra = {"mode": mode}
    if CASES[case][0] != "vectorized_filter":
        extra["cval"] = 3.5
    elif mode in ("constant", "grid-constant"):
        extra["cval"] = 3.5
    _check(case, data, MODE_CHUNKS, **extra)


@pytest.mark.parametrize("case", [c for c in CASES if c not in FLOAT_ONLY])
def test_every_dtype(case, dtype):
    data = random_volume(SMALL, dtype, seed=3)
    _check(case, data, SMALL_CHUNKINGS["irregular"])


@pytest.mark.parametrize("case", [c for c, v in CASES.items() if v[3]])
def test_mode_sequence(case):
    data = random_volume(SMALL, np.float32, seed=4)
    n_axes = len(CASES[case][2].get("axes", SMALL))
    _check(case, data, (4, 3, 5), mode=["wrap", "mirror", "constant"][:n_axes])


def test_anisotropic_conftest_shape(chunks):
    """The shared 19x23x29 chunkings with a halo larger than some chunks."""
    data = random_volume((19, 23, 29), np.float32, seed=5)
    _check("gaussian", data, chunks)
    if min(min(c) for c in da.core.normalize_chunks(chunks, data.shape)) > 1:
        _check("median", data, chunks)


def test_output_dtype_and_complex():
    data = random_volume(SMALL, np.uint8, seed=6)
    res = ndimage.gaussian_filter(data, 1.0, output=np.float64)
    assert res.dtype == np.float64
    assert_dask_matches(res, ndi.gaussian_filter(data, 1.0, output=np.float64))
    cdata = random_volume(SMALL, np.complex128, seed=7)
    assert_dask_matches(
        ndimage.gaussian_filter(da.from_array(cdata, chunks=4), 1.0),
        ndi.gaussian_filter(cdata, 1.0),
    )
    w = np.ones((3, 3, 3)) * (1 + 1j)
    assert_dask_matches(ndimage.correlate(da.from_array(data, chunks=5), w), ndi.correlate(data, w))


def test_kernel_larger_than_array():
    data = random_volume((3, 40, 5), np.float64, seed=8)
    for mode in ("reflect", "wrap", "mirror", "nearest"):
        _check("gaussian", data, (1, 7, 2), mode=mode)
        _check("uniform", data, (1, 7, 2), mode=mode)


def test_numpy_input_gives_dask():
    data = random_volume(SMALL, np.float32)
    res = ndimage.sobel(data)
    assert isinstance(res, da.Array)
    assert_dask_matches(res, ndi.sobel(data))


def test_one_and_two_dimensional():
    x1 = random_volume((50,), np.float64)
    assert_dask_matches(
        ndimage.gaussian_filter(da.from_array(x1, chunks=7), 3), ndi.gaussian_filter(x1, 3)
    )
    x2 = random_volume((30, 17), np.int32)
    assert_dask_matches(
        ndimage.median_filter(da.from_array(x2, chunks=(4, 5)), size=5),
        ndi.median_filter(x2, size=5),
    )


# ------------------------------------------------------------------------ errors
def test_output_array_is_filled_and_returned_as_scipy():
    x = np.arange(16.0).reshape(4, 4)
    out = np.zeros((4, 4))
    assert ndimage.gaussian_filter(da.from_array(x, chunks=3), 1, output=out) is out
    np.testing.assert_allclose(out, ndi.gaussian_filter(x, 1))
    with pytest.raises(TypeError, match="dask array"):
        ndimage.gaussian_filter(x, 1, output=da.zeros((4, 4)))


def test_bad_mode_raises_like_scipy_and_as_valueerror():
    with pytest.raises(ValueError) as info:
        ndimage.uniform_filter(np.zeros((4, 4)), mode="bogus")
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, ArgumentError)


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda x: ndimage.gaussian_filter(x, (1, 2)), RuntimeError),
        (lambda x: ndimage.uniform_filter(x, size=3, origin=5), ValueError),
        (lambda x: ndimage.median_filter(x), RuntimeError),
        (lambda x: ndimage.correlate1d(x, [1, 2], axis=3), ValueError),
        (lambda x: ndimage.rank_filter(x, 30, size=3), ValueError),
        (lambda x: ndimage.percentile_filter(x, 150, size=3), ValueError),
        (lambda x: ndimage.vectorized_filter(x, np.mean), ValueError),
        (lambda x: ndimage.gaussian_filter(x, 1, output="not-a-dtype"), TypeError),
    ],
)
def test_invalid_arguments_raise_what_scipy_raises(call, exc):
    x = np.zeros((4, 5, 6))
    with pytest.raises(exc):
        call(x)


def test_generic_depth_must_be_nonnegative():
    with pytest.raises(ValueError, match="depth"):
        ndimage.generic_laplace(np.zeros((4, 4)), _d2, depth=-1)


# ---------------------------------------------------------------- laziness, graphs
def test_building_graphs_computes_nothing():
    x = da.from_array(random_volume(SMALL, np.float32), chunks=4)
    with raise_if_dask_computes():
        for case in CASES:
            _both(case, x)


def test_depth_zero_is_plain_map_blocks():
    x = da.from_array(random_volume(SMALL, np.float32), chunks=4)
    res = ndimage.gaussian_filter(x, 0)
    assert len(res.__dask_graph__()) == 2 * x.npartitions
    res = ndimage.uniform_filter(x, size=1)
    assert len(res.__dask_graph__()) == 2 * x.npartitions


def test_graph_pickles_small():
    x = da.from_array(np.zeros((64, 64, 64), np.float32), chunks=32)
    y = ndimage.gaussian_filter(da.zeros((512, 512, 512), chunks=128), 2)
    assert len(pickle.dumps(dict(y.__dask_graph__()))) < 2_000_000
    del x


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_arbitrary_chunkings(data):
    shape = (7, 9, 8)
    chunks = data.draw(chunkings(shape, max_chunks_per_axis=5))
    vol = random_volume(shape, np.float32, seed=9)
    mode = data.draw(st.sampled_from(["reflect", "wrap", "constant", "mirror", "nearest"]))
    _check("gaussian", vol, tuple(chunks), mode=mode)
    _check("median", vol, tuple(chunks), mode=mode)
    _check("correlate", vol, tuple(chunks), mode=mode)


def test_threaded_scheduler_matches():
    vol = random_volume((32, 33, 34), np.float32, seed=10)
    res = ndimage.gaussian_filter(da.from_array(vol, chunks=9), 2)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(res.compute(), ndi.gaussian_filter(vol, 2))
