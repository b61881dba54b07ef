"""unsharp_mask: exactly the tutorial's formula on top of scipy's gaussian_filter."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg import restoration
from bigimg.testing import assert_dask_matches, odd_chunkings, raise_if_dask_computes, random_volume

SMALL = (9, 11, 13)
CHUNKS = odd_chunkings(SMALL, halo=4)


CASES = [(c, np.float32) for c in CHUNKS] + [("irregular", d) for d in (np.uint16, np.float64)]


@pytest.mark.parametrize("cname,dt", CASES, ids=[f"{c}-{np.dtype(d).name}" for c, d in CASES])
def test_equals_tutorial_formula(cname, dt):
    x = random_volume(SMALL, dt, seed=41)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    f = x.astype(np.float64) if x.dtype.kind != "f" else x
    for sigma, alpha, mode in [(1.0, 30, "reflect"), ((0.5, 1.5, 1.0), 2.5, "nearest")]:
        with raise_if_dask_computes():
            y = restoration.unsharp_mask(xd, sigma, alpha, mode=mode)
        ref = f + alpha * (f - ndi.gaussian_filter(f, sigma, mode=mode))
        assert_dask_matches(y, ref, rtol=0, atol=0, chunks=xd.chunks)


def test_tutorial_pipeline():
    rng = np.random.default_rng(0)
    f = rng.random((12, 14, 16))
    blurred_f = ndi.gaussian_filter(f, 3)
    filter_blurred_f = ndi.gaussian_filter(blurred_f, 1)
    sharpened = blurred_f + 30 * (blurred_f - filter_blurred_f)
    got = restoration.unsharp_mask(da.from_array(blurred_f, chunks=5), 1, 30)
    np.testing.assert_array_equal(got.compute(), sharpened)


def test_errors():
    x = np.zeros((3, 4, 5))
    with pytest.raises(TypeError, match="alpha"):
        restoration.unsharp_mask(x, 1.0, "30")
    with pytest.raises(TypeError, match="real"):
        restoration.unsharp_mask(x + 1j, 1.0, 2.0)
    with pytest.raises(ValueError):
        restoration.unsharp_mask(x, 1.0, 2.0, mode="bogus")
