"""rescale_intensity against skimage.exposure.rescale_intensity; the tutorial's stretch."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import scipy.stats
from skimage import exposure

from bigimg import BigimgWarning, stats
from bigimg.testing import assert_dask_matches, raise_if_dask_computes, random_volume

from ._common import CHUNKS, SMALL, sweep

RANGES = [
    ("image", "dtype"),
    ((10, 500), "dtype"),
    ("image", (0, 1)),
    ((-5.5, 40), (0, 255)),
    ("dtype", "uint8"),
    ("uint12", "image"),
    ((3, 3), (0, 10)),
    ("image", "float32"),
]


@sweep
def test_equals_skimage(cname, dt):
    x = random_volume(SMALL, dt, seed=21)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    for in_range, out_range in RANGES:
        y = stats.rescale_intensity(xd, in_range, out_range)
        ref = exposure.rescale_intensity(x, in_range, out_range)
        assert_dask_matches(y, ref, rtol=0, chunks=xd.chunks)


def test_tutorial_contrast_stretch_is_lazy_after_percentiles():
    x = random_volume(SMALL, np.uint16, seed=22)
    xd = da.from_array(x, chunks=CHUNKS["remainder"])
    p5, p95 = stats.scoreatpercentile(xd, [5, 95])
    assert (p5, p95) == tuple(scipy.stats.scoreatpercentile(x, [5, 95]))
    with raise_if_dask_computes():
        y = stats.rescale_intensity(xd, in_range=(p5, p95))
    assert_dask_matches(y, exposure.rescale_intensity(x, in_range=(p5, p95)), rtol=0)


def test_nan_warns_like_skimage():
    x = np.array([[1.0, np.nan], [3.0, 4.0]])
    with pytest.warns(BigimgWarning, match="NaN"):
        y = stats.rescale_intensity(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = exposure.rescale_intensity(x)
    np.testing.assert_array_equal(y.compute(), ref)


def test_errors():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="out_range"):
        stats.rescale_intensity(x, out_range="uint7")
    with pytest.raises(ValueError, match="in_range"):
        stats.rescale_intensity(x, in_range=(1, 2, 3))
    with pytest.raises(TypeError):
        stats.rescale_intensity(x + 1j)
