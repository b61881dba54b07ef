"""Element-wise dask steps keep the streaming source (bigimg._pointwise).

A halo operation on ``f(source-backed arrays)`` must stream (one task per block, no
overlap layers) when ``f`` works voxel by voxel, fall back to the overlap path when it
might not, and give scipy's values either way.
"""

from __future__ import annotations

import gc
import pickle

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

import bigimg
from bigimg import ndimage
from bigimg._sources import resolve_source, source_of
from bigimg.testing import random_volume

SHAPE = (14, 19, 11)


@pytest.fixture
def raw(tmp_path):
    data = random_volume(SHAPE, np.uint16, seed=7)
    path = str(tmp_path / "ct.raw")
    data.tofile(path)
    return path, data


def _open(raw, chunks):
    path, data = raw
    return bigimg.open_raw(path, data.shape, data.dtype, chunks=chunks)


def _streams(result, like) -> bool:
    """One task per block: the result reads its regions, it shares no halo slices."""
    return len(result.__dask_graph__()) == like.npartitions


@pytest.mark.parametrize("chunks", [(2, 5, 4), (7, 19, 3), (14, 6, 11)])
def test_threshold_then_opening_streams_and_matches_scipy(raw, chunks):
    _, data = raw
    vol = _open(raw, chunks)
    smooth = ndimage.gaussian_filter(vol, 1.3, output=np.float32)
    mask = smooth > 30000
    del vol, smooth  # the graph alone keeps the sources alive
    gc.collect()
    opened = ndimage.binary_opening(mask, iterations=2)
    assert _streams(opened, mask)
    expected = ndi.binary_opening(
        ndi.gaussian_filter(data, 1.3, output=np.float32) > 30000, iterations=2
    )
    np.testing.assert_array_equal(opened.compute(), expected)


POINTWISE = {
    "where-astype": lambda x, y: np.where(y > 30000, x, 0).astype(np.float32),
    "and-invert": lambda x, y: (x > 20000) & ~(y < 25000),
    "clip-abs": lambda x, y: abs(np.clip(x, 1000.0, 50000.0) - 30000.0),
    "two-sources": lambda x, y: np.maximum(x, y) - 0.5 * y,
    "scalar-array-literal": lambda x, y: x * np.float32(2.0) + np.array(3.0),
    "ufunc-kwargs": lambda x, y: np.add(x, y, dtype=np.float64),
}


@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_expressions_stream(raw, name):
    _, data = raw
    vol = _open(raw, (5, 6, 4))
    smooth = ndimage.uniform_filter(vol.astype(np.float32), 3, mode="nearest")
    expr = POINTWISE[name](vol, smooth)
    # resolve_source raises where source_of would quietly give up: a dask release that
    # lays these graphs out differently must fail here, not turn streaming off
    assert resolve_source(expr) is not None
    out = ndimage.median_filter(expr, size=3, mode="mirror")
    assert _streams(out, vol)
    ref_smooth = ndi.uniform_filter(data.astype(np.float32), 3, mode="nearest")
    # the expression as dask evaluates it (dask's ufunc dtype= casts after the call)
    ref_expr = POINTWISE[name](da.from_array(data), da.from_array(ref_smooth)).compute()
    expected = ndi.median_filter(ref_expr, size=3, mode="mirror")
    np.testing.assert_array_equal(out.compute(), expected)


NOT_POINTWISE = {
    # a user's block function may look at the whole block: never assumed voxel-wise
    "map_blocks": lambda x: x.map_blocks(lambda b: b - b.mean(), dtype=np.float64),
    # broadcasting against a lower-dimensional array changes the indices
    "broadcast": lambda x: x * da.arange(SHAPE[-1], chunks=4),
    "transpose": lambda x: (x.T > 100).T,
    "rechunk": lambda x: x.rechunk((7, 7, 7)) > 20000,
    "slice": lambda x: x[::-1] > 20000,
}


@pytest.mark.parametrize("name", sorted(NOT_POINTWISE))
def test_other_steps_fall_back_to_the_overlap_path(raw, name):
    _, data = raw
    vol = _open(raw, (5, 6, 4))
    expr = NOT_POINTWISE[name](vol)
    assert source_of(expr) is None
    out = ndimage.maximum_filter(expr, size=3)
    assert not _streams(out, expr)
    np.testing.assert_array_equal(out.compute(), ndi.maximum_filter(expr.compute(), size=3))


def test_numpy_input_has_no_source():
    x = da.from_array(random_volume(SHAPE, np.float32, seed=1), chunks=5)
    assert source_of(x > 0.5) is None


def test_pointwise_source_pickles_small(raw):
    vol = _open(raw, (5, 6, 4))
    source = source_of(np.where(vol > 100, vol, 0).astype(np.float32))
    blob = pickle.dumps(source)
    assert len(blob) < 4096
    region = (slice(1, 6), slice(0, 19), slice(3, 9))
    np.testing.assert_array_equal(pickle.loads(blob)[region], source[region])
