"""Thresholds against scikit-image: equal values for every chunking."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from skimage import filters

from bigimg import ArgumentError, stats
from bigimg.testing import ct_phantom, random_volume

from ._common import CHUNKS, SMALL

HIST_METHODS = ["otsu", "yen", "isodata", "triangle", "li", "minimum"]


def _bimodal(dt, seed=0):
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(SMALL) < 0.4, rng.normal(60, 8, SMALL), rng.normal(170, 12, SMALL))
    if np.dtype(dt).kind == "f":
        return (x / 255).astype(dt)
    return np.clip(np.rint(x), 0, 255).astype(dt)


def _data(kind):
    if kind == "bimodal_u8":
        return _bimodal(np.uint8)
    if kind == "bimodal_f32":
        return _bimodal(np.float32, 1)
    if kind == "ct_u16":
        return ct_phantom(SMALL, dtype=np.uint16, noise=30.0)
    if kind == "ct_f64":
        return ct_phantom(SMALL, dtype=np.float64, noise=30.0)
    if kind == "int32_neg":
        return random_volume(SMALL, np.int32, seed=2) // 7
    raise AssertionError(kind)


DATA = ["bimodal_u8", "bimodal_f32", "ct_u16", "ct_f64", "int32_neg"]


# every chunking for one integer and one float volume, every volume with one chunking
CASES = [(k, c) for k in ("ct_u16", "bimodal_f32") for c in CHUNKS] + [
    (k, "irregular") for k in DATA if k not in ("ct_u16", "bimodal_f32")
]


@pytest.mark.parametrize("kind,cname", CASES)
def test_histogram_thresholds_equal_skimage(kind, cname):
    x = _data(kind)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    for name in ("otsu", "yen", "isodata", "triangle"):
        got = getattr(stats, f"threshold_{name}")(xd)
        ref = getattr(filters, f"threshold_{name}")(x)
        assert isinstance(got, float)
        assert got == ref, (name, got, ref)
    assert stats.threshold_mean(xd) == pytest.approx(float(filters.threshold_mean(x)), rel=1e-6)


@pytest.mark.parametrize("kind", DATA)
def test_nbins_and_return_all(kind):
    x = _data(kind)
    xd = da.from_array(x, chunks=CHUNKS["irregular"])
    for nbins in (2, 1000):
        for name in ("otsu", "yen", "isodata", "triangle"):
            assert getattr(stats, f"threshold_{name}")(xd, nbins=nbins) == getattr(
                filters, f"threshold_{name}"
            )(x, nbins=nbins), (name, nbins)
    np.testing.assert_array_equal(
        stats.threshold_isodata(xd, return_all=True), filters.threshold_isodata(x, return_all=True)
    )


def test_minimum_threshold():
    for dt in (np.uint8, np.float32):
        x = _bimodal(dt, seed=3)
        xd = da.from_array(x, chunks=CHUNKS["remainder"])
        assert stats.threshold_minimum(xd) == filters.threshold_minimum(x)
        assert stats.threshold_minimum(xd, nbins=64) == filters.threshold_minimum(x, nbins=64)
    flat = np.zeros((10, 10, 10))  # one mode (a single outlier): no two maxima
    flat[0, 0, 0] = 1
    with pytest.raises(RuntimeError):
        filters.threshold_minimum(flat)
    with pytest.raises(ArgumentError, match="two maxima"):
        stats.threshold_minimum(flat)
    with pytest.raises(ValueError, match="two maxima"):
        stats.threshold_minimum(flat)


def test_hist_argument_matches_image_path():
    x = _bimodal(np.uint8, 5)
    h = stats.image_histogram(da.from_array(x, chunks=5))
    for name in ("otsu", "yen", "isodata", "minimum"):
        f = getattr(stats, f"threshold_{name}")
        assert f(hist=h) == f(x) == getattr(filters, f"threshold_{name}")(hist=h), name
    counts = np.concatenate([[0, 0], h[0], [0]])
    assert stats.threshold_otsu(hist=counts) == filters.threshold_otsu(hist=counts)


@pytest.mark.parametrize("kind", DATA)
def test_li_equals_skimage(kind):
    x = _data(kind)
    xd = da.from_array(x, chunks=CHUNKS["irregular"])
    ref = filters.threshold_li(x)
    if x.dtype.kind in "iu":
        assert stats.threshold_li(xd) == ref
        assert stats.threshold_li(xd, initial_guess=float(np.median(x))) == filters.threshold_li(
            x, initial_guess=float(np.median(x))
        )
        return
    # float images: same tolerance -> same answer up to float32/float64 accumulation
    tol = float(np.ptp(x)) * 1e-4
    got = stats.threshold_li(xd, tolerance=tol)
    assert got == pytest.approx(filters.threshold_li(x, tolerance=tol), abs=2 * tol)
    # the default (finer) tolerance lands within skimage's own tolerance of its answer
    sk_tol = np.min(np.diff(np.unique(x))) / 2
    assert abs(stats.threshold_li(xd) - ref) <= max(2 * sk_tol, float(np.ptp(x)) * 2e-6)


def test_li_callback_nan_inf_and_callable_guess():
    x = _bimodal(np.float64, 4)
    x[0, 0, :4] = np.nan
    x[1, 1, 1] = np.inf
    xd = da.from_array(x, chunks=4)
    seen = []
    t = stats.threshold_li(xd, tolerance=1e-6, iter_callback=seen.append)
    ref_seen = []
    ref = filters.threshold_li(x, tolerance=1e-6, iter_callback=ref_seen.append)
    assert t == pytest.approx(ref, abs=1e-5)
    assert len(seen) == pytest.approx(len(ref_seen), abs=1)
    t2 = stats.threshold_li(xd, tolerance=1e-6, initial_guess=lambda a: stats.quantile(a, 0.9))
    assert t2 == pytest.approx(
        filters.threshold_li(x, tolerance=1e-6, initial_guess=lambda a: np.quantile(a, 0.9)),
        abs=1e-5,
    )


def test_constant_and_edge_images():
    c = np.full(SMALL, 7, np.uint8)
    cd = da.from_array(c, chunks=4)
    for name in ("otsu", "yen", "isodata", "triangle", "li"):
        assert getattr(stats, f"threshold_{name}")(cd) == getattr(filters, f"threshold_{name}")(c)
    assert np.isnan(stats.threshold_li(np.full((3, 3), np.nan)))
    assert stats.threshold_li(np.array([np.inf, -np.inf, np.nan])) == 0.0


def test_errors():
    x = np.arange(24.0).reshape(2, 3, 4)
    with pytest.raises(TypeError, match="Either"):
        stats.threshold_otsu()
    with pytest.raises(TypeError, match="bool"):
        stats.threshold_otsu(x > 3)
    with pytest.raises(ValueError, match="empty"):
        stats.threshold_yen(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="not finite"):
        stats.threshold_otsu(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="nbins"):
        stats.threshold_otsu(x, nbins=0)
    with pytest.raises(ValueError, match="initial guess"):
        stats.threshold_li(x, initial_guess=100.0)
    with pytest.raises(TypeError, match="initial_guess"):
        stats.threshold_li(x, initial_guess="mean")
    with pytest.raises(ValueError, match="hist"):
        stats.threshold_otsu(hist=(np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="max_num_iter"):
        stats.threshold_minimum(x, max_num_iter=0)
