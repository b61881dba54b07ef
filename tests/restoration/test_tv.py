"""denoise_tv_chambolle against scikit-image (eps=0) and the halo error bound."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from skimage.restoration import denoise_tv_chambolle as sk_tv

from bigimg import restoration
from bigimg.restoration import _tv
from bigimg.restoration._tv import tv_chambolle_kernel
from bigimg.testing import assert_dask_matches, blobs, raise_if_dask_computes

SMALL = (9, 11, 13)


def _noisy(shape, noise=0.15, seed=0):
    rng = np.random.default_rng(seed)
    return blobs(shape, sigma=2.5, fraction=0.3, seed=seed + 1) + noise * rng.standard_normal(shape)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n_iter", [1, 2, 7])
def test_kernel_is_skimage_with_eps0(dt, n_iter):
    x = _noisy(SMALL).astype(dt)
    ref = sk_tv(x, weight=0.2, eps=0, max_num_iter=n_iter)
    got = tv_chambolle_kernel(x, 0.2, n_iter)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("chunks", [SMALL, (4, 6, 7), ((1, 5, 3), (2, 9), (13,)), 2])
def test_full_halo_is_exact(chunks):
    x = _noisy(SMALL, seed=1)
    n = 6
    with raise_if_dask_computes():
        y = restoration.denoise_tv_chambolle(
            da.from_array(x, chunks=chunks), 0.15, max_num_iter=n, halo=n - 1
        )
    assert_dask_matches(y, sk_tv(x, weight=0.15, eps=0, max_num_iter=n), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "weight,n_iter,halo,bound",
    [(0.1, 100, 16, 1e-3), (0.3, 200, 16, 1e-3), (1.0, 100, 24, 5e-4), (0.3, 100, 8, 5e-2)],
)
def test_halo_error_bound(weight, n_iter, halo, bound):
    # long along axis 0 so that the halo stays shorter than the chunks
    shape = (3 * (halo + 10), 10, 10)
    x = _noisy(shape, noise=0.1, seed=2)
    ref = tv_chambolle_kernel(x, weight, n_iter)
    y = restoration.denoise_tv_chambolle(
        da.from_array(x, chunks=(halo + 10, 10, 10)), weight, max_num_iter=n_iter, halo=halo
    ).compute()
    err = np.abs(y - ref).max()
    assert err < bound
    # and the halo matters: without it the error is far larger
    y0 = restoration.denoise_tv_chambolle(
        da.from_array(x, chunks=(halo + 10, 10, 10)), weight, max_num_iter=n_iter, halo=0
    ).compute()
    assert np.abs(y0 - ref).max() > 10 * err


def test_default_halo(monkeypatch):
    seen = []
    real = _tv.apply_blockwise

    def spy(func, x, depth, modes, **kwargs):
        seen.append(tuple(depth))
        return real(func, x, depth, modes, **kwargs)

    monkeypatch.setattr(_tv, "apply_blockwise", spy)
    x = da.zeros((60, 8, 8), chunks=20)
    for weight, n in [(0.1, 200), (0.3, 50), (0.5, 200), (0.1, 5), (0.1, 1)]:
        y = restoration.denoise_tv_chambolle(x, weight, max_num_iter=n)
        assert y.chunks == x.chunks
    assert seen == [(16,) * 3, (16,) * 3, (24,) * 3, (4,) * 3, (0,) * 3]


def test_errors():
    x = np.zeros((4, 5, 6))
    with pytest.raises(TypeError, match="float"):
        restoration.denoise_tv_chambolle(x.astype(np.uint8))
    with pytest.raises(NotImplementedError, match="eps"):
        restoration.denoise_tv_chambolle(x, eps=2e-4)
    with pytest.raises(NotImplementedError, match="channel_axis"):
        restoration.denoise_tv_chambolle(x, channel_axis=-1)
    with pytest.raises(ValueError, match="weight"):
        restoration.denoise_tv_chambolle(x, weight=0)
    with pytest.raises(ValueError, match="max_num_iter"):
        restoration.denoise_tv_chambolle(x, max_num_iter=0)
    with pytest.raises(ValueError, match="halo"):
        restoration.denoise_tv_chambolle(x, halo=-1)
    with pytest.raises(TypeError, match="halo"):
        restoration.denoise_tv_chambolle(x, halo=2.5)
