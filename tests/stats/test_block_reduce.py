"""block_reduce against skimage.measure.block_reduce; the label mode against scipy.stats.mode."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.stats
from skimage.measure import block_reduce as sk_block_reduce

from bigimg import stats
from bigimg.testing import assert_dask_matches, raise_if_dask_computes, random_volume

from ._common import CHUNKS, SMALL, chunk_names, sweep

FUNCS = [np.sum, np.mean, np.max, np.min, np.median]


@sweep
def test_equals_skimage(cname, dt):
    x = random_volume(SMALL, dt, seed=11)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    # sums and means are where the order of additions shows; max/min/median once each
    funcs = [np.sum, np.mean] if dt == np.float32 else [np.mean, np.max]
    if cname == "irregular" and dt == np.float32:
        funcs = FUNCS
    for factors in [(2, 3, 4), (1, 11, 2), (9, 1, 13)]:
        for func in funcs:
            with raise_if_dask_computes():
                y = stats.block_reduce(xd, factors, func, cval=5)
            ref = sk_block_reduce(x, factors, func, cval=5)
            assert y.shape == ref.shape
            got = y.compute()
            assert got.dtype == ref.dtype == y.dtype
            np.testing.assert_array_equal(got, ref)  # same values, reduced the same way


def test_func_kwargs_and_chunks_are_aligned():
    x = random_volume(SMALL, np.float32, seed=12)
    xd = da.from_array(x, chunks=CHUNKS["irregular"])
    y = stats.block_reduce(xd, (2, 2, 3), np.mean, func_kwargs={"dtype": np.float64})
    assert_dask_matches(
        y, sk_block_reduce(x, (2, 2, 3), np.mean, func_kwargs={"dtype": np.float64}), rtol=0
    )
    # every output chunk comes from whole input blocks: no task straddles a chunk edge
    assert all(len(c) >= 1 for c in y.chunks)


def _scipy_block_mode(x, factors):
    pad = [(0, (-n) % f) for n, f in zip(x.shape, factors)]
    xp = np.pad(x, pad, constant_values=0)
    shape = []
    for n, f in zip(xp.shape, factors):
        shape += [n // f, f]
    v = (
        xp.reshape(shape)
        .transpose(0, 2, 4, 1, 3, 5)
        .reshape(tuple(n // f for n, f in zip(xp.shape, factors)) + (-1,))
    )
    return scipy.stats.mode(v, axis=-1, keepdims=False).mode


@chunk_names
def test_mode_for_labels_equals_scipy(cname):
    rng = np.random.default_rng(13)
    labels = rng.integers(0, 5, SMALL).astype(np.int32)  # many ties
    ld = da.from_array(labels, chunks=CHUNKS[cname])
    for factors in [(2, 2, 2), (3, 1, 4), (1, 2, 1)]:
        y = stats.block_reduce(ld, factors, "mode")
        assert y.dtype == labels.dtype
        np.testing.assert_array_equal(y.compute(), _scipy_block_mode(labels, factors))


def test_mode_reduce_direct():
    rng = np.random.default_rng(14)
    for dt in (np.uint8, np.int64, np.float32):
        v = rng.integers(0, 4, (6, 5, 12)).astype(dt)
        np.testing.assert_array_equal(
            stats.mode_reduce(v, axis=-1), scipy.stats.mode(v, axis=-1, keepdims=False).mode
        )
        np.testing.assert_array_equal(
            stats.mode_reduce(v, axis=(0, 2)),
            scipy.stats.mode(v.transpose(1, 0, 2).reshape(5, -1), axis=-1).mode,
        )


def test_errors():
    x = np.zeros((4, 5, 6))
    with pytest.raises(ValueError, match="length"):
        stats.block_reduce(x, (2, 2))
    with pytest.raises(ValueError, match=">= 1"):
        stats.block_reduce(x, (2, 0, 1))
    with pytest.raises(TypeError, match="integers"):
        stats.block_reduce(x, 1.5)
    with pytest.raises(ValueError, match="mode"):
        stats.block_reduce(x, 2, "median")
    with pytest.raises(TypeError, match="callable"):
        stats.block_reduce(x, 2, 3)
