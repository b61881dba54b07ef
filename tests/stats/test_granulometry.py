"""granulometry against scipy.ndimage.binary_opening; radial_profile against ndimage.mean."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg import stats
from bigimg.testing import blobs, random_volume

from ._common import CHUNKS, SMALL, chunk_names


def _disk_structure(n):  # the tutorial's structuring element, in 2-D
    struct = np.zeros((2 * n + 1, 2 * n + 1))
    x, y = np.indices((2 * n + 1, 2 * n + 1))
    struct[(x - n) ** 2 + (y - n) ** 2 <= n**2] = 1
    return struct.astype(bool)


@pytest.mark.parametrize("cname", ["remainder", "irregular", "ones"])
def test_granulometry_equals_scipy(cname):
    m = blobs(SMALL, sigma=1.5, fraction=0.45, seed=3)
    sizes = [0, 1, 2, 3]
    got = stats.granulometry(da.from_array(m, chunks=CHUNKS[cname]), sizes)
    ref = [ndi.binary_opening(m, structure=stats.ball(n)).sum() for n in sizes]
    assert got.dtype == np.int64
    assert got.tolist() == ref


def test_granulometry_tutorial_2d():
    rng = np.random.default_rng(27446968)
    n, ell = 10, 64
    im = np.zeros((ell, ell))
    points = ell * rng.random((2, n**2))
    im[(points[0]).astype(int), (points[1]).astype(int)] = 1
    im = ndi.gaussian_filter(im, sigma=ell / (4.0 * n))
    mask = im > im.mean()
    sizes = np.arange(1, 8, 2)
    ref = [ndi.binary_opening(mask, structure=_disk_structure(k)).sum() for k in sizes]
    got = stats.granulometry(da.from_array(mask, chunks=(17, 23)), sizes)
    assert got.tolist() == ref
    assert np.array_equal(stats.ball(3, 2), _disk_structure(3))


def test_granulometry_nonbinary_mask_and_errors():
    m = random_volume((8, 9, 10), np.int32, seed=2) % 3  # non-zero counts as foreground
    assert stats.granulometry(da.from_array(m, chunks=4), [1]).tolist() == [
        ndi.binary_opening(m, structure=stats.ball(1)).sum()
    ]
    with pytest.raises(ValueError, match="radius"):
        stats.granulometry(m, [-1])
    with pytest.raises(ValueError, match="sizes"):
        stats.granulometry(m, [])


@chunk_names
def test_radial_profile_equals_ndimage_mean(cname):
    f = random_volume(SMALL, np.float32, seed=4)
    fd = da.from_array(f, chunks=CHUNKS[cname])
    for center, width, spacing in [
        (None, 1.0, None),
        ((2.5, 8.0, 1.0), 1.5, None),
        ((-3, 20, 6), 2.0, (2.0, 1.0, 0.5)),
    ]:
        got = stats.radial_profile(fd, center, width, spacing=spacing)
        c = [s / 2 for s in SMALL] if center is None else center
        sp = (1, 1, 1) if spacing is None else spacing
        g = np.indices(SMALL).astype(np.float64)
        r = np.sqrt(sum(((g[i] - c[i]) * sp[i]) ** 2 for i in range(3)))
        bins = (r / width).astype(int)
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = ndi.mean(f, labels=bins, index=np.arange(bins.max() + 1))
        np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)


def test_radial_profile_tutorial_2d_and_errors():
    f = random_volume((40, 50), np.uint8, seed=5)
    sx, sy = f.shape
    X, Y = np.ogrid[0:sx, 0:sy]
    r = np.hypot(X - sx / 2, Y - sy / 2)
    rbin = r.astype(int)
    ref = ndi.mean(f, labels=rbin, index=np.arange(0, rbin.max() + 1))
    got = stats.radial_profile(da.from_array(f, chunks=(13, 17)))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    with pytest.raises(ValueError, match="bin_width"):
        stats.radial_profile(f, bin_width=0)
    with pytest.raises(ValueError, match="center"):
        stats.radial_profile(f, center=(1, 2, 3))
    with pytest.raises(ValueError, match="spacing"):
        stats.radial_profile(f, spacing=(1, -1))
