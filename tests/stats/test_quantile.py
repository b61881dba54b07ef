"""bigimg.stats.percentile / quantile / scoreatpercentile: bit-for-bit numpy and scipy."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg import stats
from bigimg._tables import _select
from bigimg.testing import random_volume, shapes_and_chunkings

from ._common import CHUNKS, SMALL, chunk_names, sweep

METHODS = [
    "linear",
    "lower",
    "higher",
    "nearest",
    "midpoint",
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "median_unbiased",
    "normal_unbiased",
]
QS = [0, 1, 5, 33.3, 50, 95, 99.9, 100]


def _same(got, ref):
    """Equal values, dtypes and scalar-vs-array kind (NaN equal to NaN)."""
    assert type(got) is type(ref), (type(got), type(ref))
    assert np.asarray(got).dtype == np.asarray(ref).dtype, (
        np.asarray(got).dtype,
        np.asarray(ref).dtype,
    )
    np.testing.assert_array_equal(got, ref)


@sweep
def test_percentile_equals_numpy(cname, dt):
    x = random_volume(SMALL, dt, seed=7)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    _same(stats.percentile(xd, QS), np.percentile(x, QS))
    _same(stats.quantile(xd, 0.375), np.quantile(x, 0.375))


@pytest.mark.parametrize("method", METHODS)
def test_every_method(method):
    x = random_volume(SMALL, np.float32, seed=8)
    xd = da.from_array(x, chunks=CHUNKS["irregular"])
    _same(stats.percentile(xd, QS, method=method), np.percentile(x, QS, method=method))
    xi = random_volume(SMALL, np.uint16, seed=8)
    _same(
        stats.quantile(da.from_array(xi, chunks=4), np.float32(0.71), method=method),
        np.quantile(xi, np.float32(0.71), method=method),
    )


@pytest.mark.parametrize(
    "case",
    [
        "dups",
        "spike",
        "signs",
        "inf",
        "int64",
        "uint64",
        "bool",
        "int_q",
        "tiny",
        "nan",
        "nan_array",
    ],
)
def test_hard_data(case):
    rng = np.random.default_rng(1)
    q = [0, 10, 50, 77.7, 100]
    if case == "dups":
        x = rng.integers(0, 4, SMALL).astype(np.float64) / 3
    elif case == "spike":  # mostly exact zeros plus tiny and large values
        x = np.zeros(SMALL, np.float32)
        x.flat[::7] = rng.random(x.size // 7 + 1).astype(np.float32) * 1e-30
        x.flat[::11] = 1e30
    elif case == "signs":
        x = np.array([-0.0, 0.0] * 600 + [-1e-310, 1e-310, -5.0, 5.0])
    elif case == "inf":
        x = rng.standard_normal(SMALL)
        x.flat[::5] = np.inf
        x.flat[::13] = -np.inf
    elif case == "int64":
        x = rng.integers(-(2**62), 2**62, SMALL, dtype=np.int64)
    elif case == "uint64":
        x = rng.integers(0, 2**64 - 1, SMALL, dtype=np.uint64, endpoint=True)
    elif case == "bool":
        x = rng.random(SMALL) > 0.3
        xd = da.from_array(x, chunks=4)
        for method in ("lower", "higher", "nearest", "inverted_cdf"):
            _same(
                stats.percentile(xd, [10, 50, 90], method=method),
                np.percentile(x, [10, 50, 90], method=method),
            )
        with pytest.raises(TypeError):  # numpy cannot interpolate booleans either
            np.percentile(x, 50)
        with pytest.raises(TypeError):
            stats.percentile(xd, 50)
        return
    elif case == "int_q":
        x = random_volume(SMALL, np.int32, seed=2)
        xd = da.from_array(x, chunks=3)
        _same(stats.quantile(xd, np.array([0, 1])), np.quantile(x, np.array([0, 1])))
        return
    elif case == "tiny":
        x = np.array([7.5])
    else:
        x = rng.standard_normal(SMALL).astype(np.float32)
        x[2, 3, 4] = np.nan
        xd = da.from_array(x, chunks=4)
        _same(stats.percentile(xd, 50), np.percentile(x, 50))
        _same(stats.percentile(xd, q), np.percentile(x, q))
        _same(stats.percentile(xd, q, method="lower"), np.percentile(x, q, method="lower"))
        return
    xd = da.from_array(x, chunks=(4,) * x.ndim if x.ndim == 3 else 97)
    with np.errstate(invalid="ignore"):  # inf - inf while interpolating, as in numpy
        for method in ("linear", "nearest"):
            _same(stats.percentile(xd, q, method=method), np.percentile(x, q, method=method))
        _same(stats.percentile(xd, 50), np.percentile(x, 50))


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64])
def test_refinement_levels(monkeypatch, dt):
    # tiny buckets and gather limit force every refinement path on small data
    monkeypatch.setattr(_select, "NBUCKETS", 4)
    monkeypatch.setattr(_select, "GATHER_LIMIT", 9)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(SMALL) * 1000).astype(dt)
    x.flat[::3] = 0
    x.flat[::17] = x.flat[5]
    xd = da.from_array(x, chunks=(3, 5, 4))
    _same(stats.percentile(xd, QS), np.percentile(x, QS))
    ranks = [0, 1, 500, 777, x.size - 1]
    got = _select.order_statistics(xd, ranks)
    s = np.sort(x, axis=None)
    assert [got[r] for r in ranks] == [s[r] for r in ranks]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_chunkings(data):
    shape, chunks = data.draw(
        shapes_and_chunkings(min_dims=3, max_dims=3, max_side=7), label="shape, chunks"
    )
    kind = data.draw(st.sampled_from(["f4", "f8", "i2", "u1", "i8"]))
    seed = data.draw(st.integers(0, 2**16))
    x = random_volume(shape, np.dtype(kind), seed=seed)
    if kind == "f8":
        x = np.round(x / 37)  # many duplicates
    q = data.draw(st.lists(st.floats(0, 100), min_size=1, max_size=4))
    method = data.draw(st.sampled_from(METHODS))
    xd = da.from_array(x, chunks=chunks)
    _same(stats.percentile(xd, q, method=method), np.percentile(x, q, method=method))


@chunk_names
def test_scoreatpercentile_equals_scipy(cname):
    for dt in (np.uint8, np.float32, np.int32):
        x = random_volume(SMALL, dt, seed=9)
        xd = da.from_array(x, chunks=CHUNKS[cname])
        for how in ("fraction", "lower", "higher") if dt == np.float32 else ("fraction",):
            _same(
                stats.scoreatpercentile(xd, 5, interpolation_method=how),
                scipy.stats.scoreatpercentile(x, 5, interpolation_method=how),
            )
            _same(
                stats.scoreatpercentile(xd, [5, 50, 95], interpolation_method=how),
                scipy.stats.scoreatpercentile(x, [5, 50, 95], interpolation_method=how),
            )


def test_scoreatpercentile_limit_nan_empty():
    x = random_volume(SMALL, np.float64, seed=10)
    x[0, 0, :3] = np.nan
    xd = da.from_array(x, chunks=(5, 6, 7))
    for per in (10, 99.9, [1, 50, 100]):
        _same(stats.scoreatpercentile(xd, per), scipy.stats.scoreatpercentile(x, per))
        _same(
            stats.scoreatpercentile(xd, per, limit=(-50, 80)),
            scipy.stats.scoreatpercentile(x, per, limit=(-50, 80)),
        )
    # nothing inside the limits: NaN (scipy itself fails on this input)
    assert np.isnan(stats.scoreatpercentile(xd, 50, limit=(1e9, 2e9)))
    _same(stats.scoreatpercentile(xd[:0], [5, 6]), scipy.stats.scoreatpercentile(x[:0], [5, 6]))


def test_errors():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="range"):
        stats.percentile(x, 101)
    with pytest.raises(ValueError, match="range"):
        stats.quantile(x, [-0.1, 0.5])
    with pytest.raises(ValueError, match="method"):
        stats.percentile(x, 5, method="bogus")
    with pytest.raises(NotImplementedError, match="axis"):
        stats.percentile(x, 5, axis=0)
    with pytest.raises(NotImplementedError):
        stats.percentile(x, 5, keepdims=True)
    with pytest.raises(TypeError, match="out"):
        stats.percentile(x, 5, out=np.zeros(1))
    with pytest.raises(TypeError, match="real dtype"):
        stats.percentile(x + 1j, 5)
    with pytest.raises(ValueError, match="empty"):
        stats.percentile(np.zeros(0), 5)
    with pytest.raises(TypeError, match="`q`"):
        stats.percentile(x, "5")
    xd = da.from_array(x, chunks=3)
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        stats.percentile(xd[xd > 2], 5)
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        stats.histogram(xd[xd > 2], 5)
    with pytest.raises(ValueError, match="interpolation_method"):
        stats.scoreatpercentile(x, 5, interpolation_method="nearest")
    with pytest.raises(ValueError, match="range"):
        stats.scoreatpercentile(x, 105)
