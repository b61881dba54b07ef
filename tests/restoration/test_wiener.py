"""wiener against scipy.signal.wiener (which sums windows by FFT: tight tolerance)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.signal

from bigimg import restoration
from bigimg.testing import assert_dask_matches, odd_chunkings, raise_if_dask_computes, random_volume

SMALL = (9, 11, 13)
CHUNKS = odd_chunkings(SMALL, halo=2)
# same corner cases with fewer blocks: size-1 chunks along one axis, chunks smaller than
# the halo (1 and 2) along two axes
CHUNKS["ones"] = ((1,) * 9, (11,), (5, 8))
CHUNKS["smaller_than_halo"] = ((2, 2, 2, 2, 1), (1, 1, 1, 8), (13,))


# every chunking in float64, every dtype with the irregular chunking
CASES = [(c, np.float64) for c in CHUNKS] + [
    ("irregular", d) for d in (np.uint8, np.int32, np.float32)
]


@pytest.mark.parametrize("cname,dt", CASES, ids=[f"{c}-{np.dtype(d).name}" for c, d in CASES])
def test_equals_scipy(cname, dt):
    x = random_volume(SMALL, dt, seed=31)
    if dt == np.uint8:
        x = x // 16  # keep squares from wrapping (scipy squares in the input dtype too)
    xd = da.from_array(x, chunks=CHUNKS[cname])
    for mysize in (None, (3, 4, 2)) if cname == "single" else ((5, 2, 3),):
        ref = scipy.signal.wiener(x, mysize)
        scale = float(np.abs(x).max()) ** 2
        # scipy sums the windows by FFT, in single precision for float32 input
        tol = 1e-5 if dt == np.float32 else 1e-12
        assert_dask_matches(
            restoration.wiener(xd, mysize), ref, rtol=tol, atol=tol * scale, chunks=xd.chunks
        )


def test_given_noise_stays_lazy_and_matches():
    x = random_volume(SMALL, np.float64, seed=32)
    xd = da.from_array(x, chunks=(4, 5, 6))
    with raise_if_dask_computes():
        y = restoration.wiener(xd, (3, 3, 5), noise=250.0)
    assert_dask_matches(y, scipy.signal.wiener(x, (3, 3, 5), noise=250.0), rtol=1e-12, atol=1e-8)


def test_noise_estimate_is_global():
    # a quiet half and a noisy half: per-block noise estimates would differ wildly
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (10, 12, 12)), rng.normal(0, 20, (10, 12, 12))])
    y = restoration.wiener(da.from_array(x, chunks=(5, 12, 12)), 3)
    np.testing.assert_allclose(y.compute(), scipy.signal.wiener(x, 3), rtol=1e-11, atol=1e-9)


def test_errors():
    x = np.zeros((4, 5, 6))
    with pytest.raises(ValueError, match="mysize"):
        restoration.wiener(x, (3, 3))
    with pytest.raises(ValueError, match="positive"):
        restoration.wiener(x, 0)
    with pytest.raises(TypeError, match="integers"):
        restoration.wiener(x, 2.5)
    with pytest.raises(TypeError, match="real"):
        restoration.wiener(x + 1j)
    with pytest.raises(TypeError, match="noise"):
        restoration.wiener(x, noise="auto")
