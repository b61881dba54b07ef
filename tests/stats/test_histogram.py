"""bigimg.stats.histogram / image_histogram against numpy and scikit-image."""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
from skimage import exposure

from bigimg import stats
from bigimg._tables import from_keys, min_max, to_keys, tree_pass
from bigimg.testing import count_computes, random_volume

from ._common import CHUNKS, SMALL, dtypes, sweep


def _equal(got, ref):
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == r.dtype, (g.dtype, r.dtype)
        np.testing.assert_array_equal(g, r)


@sweep
def test_histogram_equals_numpy(cname, dt):
    x = random_volume(SMALL, dt, seed=3)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    for bins in (1, 7, 256, [-300.5, -3, 0, 0.25, 17, 300.5]):
        _equal(stats.histogram(xd, bins=bins), np.histogram(x, bins))


@pytest.mark.parametrize("rng", [(-50, 50), (0, 0), (3.5, 3.5), (-1e-3, 7.25)])
@dtypes
def test_histogram_range_and_density(dt, rng):
    x = random_volume(SMALL, dt, seed=4)
    xd = da.from_array(x, chunks=CHUNKS["irregular"])
    _equal(stats.histogram(xd, bins=13, range=rng), np.histogram(x, 13, rng))
    with np.errstate(invalid="ignore"):  # an empty range gives 0/0 densities, as numpy
        got = stats.histogram(xd, bins=13, range=rng, density=True)
        ref = np.histogram(x, 13, rng, density=True)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-15, equal_nan=True)


def test_histogram_float_edges_are_numpy_exact():
    # values sitting exactly on float32 bin edges, where rounding decides the bin
    edges = np.linspace(np.float32(0.1), np.float32(0.7), 257, dtype=np.float32)
    x = np.tile(edges, 40).reshape(-1, 10)
    _equal(stats.histogram(da.from_array(x, chunks=(37, 3)), 256), np.histogram(x, 256))


def test_histogram_constant_weights_and_empty():
    x = np.full((5, 6, 7), 3, np.uint16)
    _equal(stats.histogram(da.from_array(x, chunks=2), 4), np.histogram(x, 4))
    w = random_volume((5, 6, 7), np.float64, seed=1)
    got = stats.histogram(da.from_array(x, chunks=2), 4, weights=da.from_array(w, chunks=3))
    ref = np.histogram(x, 4, weights=w)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    b = np.random.default_rng(0).random((5, 6, 7)) > 0.5
    with pytest.warns(RuntimeWarning, match="bool"):
        ref = np.histogram(b, 3)
    _equal(stats.histogram(da.from_array(b, chunks=3), 3), ref)
    e = np.zeros((0, 4), np.float32)
    _equal(stats.histogram(da.from_array(e), 3), np.histogram(e, 3))


def test_histogram_errors():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="not finite"):
        stats.histogram(np.array([1.0, np.nan]), 3)
    with pytest.raises(ValueError, match="not finite"):
        stats.histogram(np.array([1.0, np.inf]), 3)
    with pytest.raises(ValueError):
        stats.histogram(x, bins=0)
    with pytest.raises(ValueError):
        stats.histogram(x, bins=3, range=(5, 1))
    with pytest.raises(ValueError, match="monotonically"):
        stats.histogram(x, bins=[3, 1, 2])
    with pytest.raises(NotImplementedError, match="string"):
        stats.histogram(x, bins="auto")
    with pytest.raises(ValueError, match="same shape"):
        stats.histogram(x, weights=np.ones(3))
    with pytest.raises(TypeError):
        stats.histogram(x + 1j)


def test_histogram_range_none_costs_one_extra_pass():
    x = da.from_array(random_volume(SMALL, np.float32), chunks=CHUNKS["halves"])
    nblocks = x.npartitions
    with count_computes() as c_range:
        stats.histogram(x, 8, range=(-1, 1))
    with count_computes() as c_auto:
        stats.histogram(x, 8)
    # each pass: one task per block plus the merge tree and the source blocks
    assert c_range.tasks < 3 * nblocks + 4
    assert c_auto.tasks < 2 * c_range.tasks + 4


@sweep
def test_image_histogram_equals_skimage(cname, dt):
    x = random_volume(SMALL, dt, seed=5)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    for source_range in ("image", "dtype"):
        if dt == np.int32 and source_range == "dtype":
            with pytest.raises(ValueError, match="integer values"):
                stats.image_histogram(x, source_range=source_range)
            continue
        _equal(
            stats.image_histogram(xd, 100, source_range), exposure.histogram(x, 100, source_range)
        )
    got = stats.image_histogram(xd, 100, normalize=True)
    np.testing.assert_array_equal(got[0], exposure.histogram(x, 100, normalize=True)[0])


def test_image_histogram_negative_integers_and_errors():
    x = np.random.default_rng(0).integers(-40, 30, (7, 8, 9)).astype(np.int16)
    _equal(stats.image_histogram(da.from_array(x, chunks=3)), exposure.histogram(x))
    with pytest.raises(TypeError, match="bool"):
        stats.image_histogram(x > 0)
    with pytest.raises(ValueError, match="source_range"):
        stats.image_histogram(x, source_range="data")
    with pytest.raises(TypeError, match="nbins"):
        stats.image_histogram(x, nbins=2.5)


@pytest.mark.parametrize(
    "dt", [np.float16, np.float32, np.float64, np.int8, np.int64, np.uint64, np.uint8, bool]
)
def test_keys_are_monotone_and_invertible(dt):
    rng = np.random.default_rng(0)
    if np.dtype(dt).kind == "f":
        with np.errstate(over="ignore"):
            v = np.concatenate(
                [
                    rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200),
                    [0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45],
                ]
            ).astype(dt)
    elif dt is bool:
        v = np.array([True, False, True])
    else:
        info = np.iinfo(dt)
        v = np.concatenate(
            [
                rng.integers(info.min, info.max, 200, dtype=dt, endpoint=True),
                np.array([info.min, info.max, 0], dtype=dt),
            ]
        )
    k = to_keys(v)
    by_key = v[np.argsort(k, kind="stable")]
    assert np.all(by_key[1:] >= by_key[:-1])  # keys sort like the values (-0.0 before 0.0)
    back = from_keys(k, np.dtype(dt))
    np.testing.assert_array_equal(back, v)
    assert back.dtype == np.dtype(dt)


def test_min_max_and_pass_graph_pickles():
    x = np.array([[3.0, np.nan], [-2.0, 7.5]])
    n, nan, lo, hi = min_max(da.from_array(x, chunks=1))
    assert (n, nan, lo, hi) == (3, 1, -2.0, 7.5)
    p = tree_pass(da.from_array(x, chunks=1), np.sum, sum, name="t")
    graph = dict(p.__dask_graph__())
    assert len(graph) <= 4 + 4 + 1  # sources, block tasks, one merge
    pickle.loads(pickle.dumps(graph))
