"""Synthetic test volumes and chunkings (never downloaded)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike
from scipy import ndimage as ndi

__all__ = ["blobs", "ct_phantom", "odd_chunkings", "random_volume"]


def blobs(
    shape: Sequence[int] = (19, 23, 29),
    *,
    sigma: float = 2.0,
    fraction: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """A boolean volume of random blobs: smoothed white noise, thresholded.

    Parameters
    ----------
    shape : sequence of int, optional
        Shape of the volume (default ``(19, 23, 29)``, odd on every axis).
    sigma : float, optional
        Keyword-only. Gaussian smoothing of the noise in voxels: the blobs' size
        (default 2.0).
    fraction : float, optional
        Keyword-only. Share of voxels that are foreground, exactly up to ties
        (default 0.3).
    seed : int, optional
        Keyword-only. Seed of the random generator (default 0): same seed, same volume.

    Returns
    -------
    ndarray of bool
        The volume, in memory. Smoothing wraps around, so blobs touch the faces.

    Examples
    --------
    >>> import dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg import ndimage
    >>> from bigimg.testing import blobs
    >>> mask = blobs((5, 6, 7), sigma=1.0, fraction=0.3)
    >>> mask.shape, mask.dtype, int(mask.sum())
    ((5, 6, 7), dtype('bool'), 63)
    >>> labels, n = ndimage.label(da.from_array(mask, chunks=3))
    >>> n == ndi.label(mask)[1]
    True
    """
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal(tuple(shape)), sigma, mode="wrap")
    return noise > np.quantile(noise, 1.0 - fraction)


def ct_phantom(
    shape: Sequence[int] = (64, 64, 64),
    *,
    dtype: DTypeLike = np.uint16,
    noise: float = 40.0,
    seed: int = 0,
) -> np.ndarray:
    """A CT-like volume: air, a soft-tissue ellipsoid, dense 'bone' blobs and noise.

    Values are in Hounsfield-like units shifted by +1024 (air ~ 0, soft tissue
    ~ 1064, bone ~ 2024) for integer dtypes; floating dtypes keep the same numbers.

    Parameters
    ----------
    shape : sequence of int, optional
        Shape of the volume (default ``(64, 64, 64)``).
    dtype : dtype, optional
        Keyword-only. dtype of the result (default uint16); integer values are rounded
        and clipped to the dtype's range.
    noise : float, optional
        Keyword-only. Standard deviation of the Gaussian noise added (default 40.0).
    seed : int, optional
        Keyword-only. Seed of the random generator (default 0).

    Returns
    -------
    ndarray
        The volume, in memory, of ``dtype``.

    Examples
    --------
    >>> from bigimg import stats
    >>> from bigimg.testing import ct_phantom
    >>> ct = ct_phantom((16, 16, 16))
    >>> ct.dtype, int(ct[0, 0, 0]) < 200, 900 < int(ct[8, 8, 8]) < 1200
    (dtype('uint16'), True, True)
    >>> 0 < stats.threshold_otsu(ct) < 1064  # between air and soft tissue
    True
    """
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    r2 = sum(((g - (s - 1) / 2) / (0.45 * s)) ** 2 for g, s in zip(grids, shape))
    vol = np.where(r2 <= 1.0, 1064.0, 0.0)
    bone = blobs(shape, sigma=max(1.0, min(shape) / 24), fraction=0.08, seed=seed + 1)
    vol[bone & (r2 <= 0.8)] = 2024.0
    vol += rng.normal(0.0, noise, shape)
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        vol = np.clip(np.rint(vol), info.min, info.max)
    return vol.astype(dtype)


def odd_chunkings(shape: Sequence[int], halo: int = 3) -> dict[str, tuple]:
    """Named chunkings that exercise every corner of blockwise code for ``shape``.

    single chunk, halves, a remainder, irregular tuples, size-1 chunks, and
    chunks smaller than ``halo``. Each value is a ``chunks=`` argument for dask (a
    tuple with one int or one tuple of block lengths per axis). The hypothesis
    strategy :func:`bigimg.testing.chunkings` searches all chunkings of a shape,
    these among them.

    Parameters
    ----------
    shape : sequence of int
        Shape of the array to chunk.
    halo : int, optional
        Halo depth of the operation under test (default 3): ``"smaller_than_halo"``
        cuts blocks of ``halo - 1`` voxels (at least 1).

    Returns
    -------
    dict of str to tuple
        Names ``"single"``, ``"halves"``, ``"remainder"``, ``"irregular"``, ``"ones"``
        and ``"smaller_than_halo"``, in that order, each with its ``chunks=``.

    Examples
    --------
    >>> import dask.array as da
    >>> from bigimg.testing import odd_chunkings
    >>> named = odd_chunkings((7, 9), halo=3)
    >>> list(named)
    ['single', 'halves', 'remainder', 'irregular', 'ones', 'smaller_than_halo']
    >>> named["irregular"]
    ((1, 5, 1), (1, 5, 2, 1))
    >>> da.zeros((7, 9), chunks=named["smaller_than_halo"]).chunks
    ((2, 2, 2, 1), (3, 3, 3))
    """
    shape = tuple(int(s) for s in shape)

    def irregular(n: int) -> tuple[int, ...]:
        out, pattern, i = [], (1, 5, 2, 7, 3), 0
        while sum(out) < n:
            out.append(min(pattern[i % len(pattern)], n - sum(out)))
            i += 1
        return tuple(out)

    small = max(1, halo - 1)
    return {
        "single": shape,
        "halves": tuple(-(-s // 2) for s in shape),
        "remainder": tuple(max(1, (s + 2) // 3) for s in shape),
        "irregular": tuple(irregular(s) for s in shape),
        "ones": tuple(1 if i == 0 else max(1, s // 3) for i, s in enumerate(shape)),
        # two axes cut smaller than the halo, the last in thirds (keeps block counts sane)
        "smaller_than_halo": tuple(
            small if i < len(shape) - 1 or len(shape) == 1 else max(1, -(-s // 3))
            for i, s in enumerate(shape)
        ),
    }


def random_volume(
    shape: Sequence[int] = (19, 23, 29), dtype: DTypeLike = np.float32, seed: int = 0
) -> np.ndarray:
    """Random data spanning a useful part of ``dtype``'s range.

    Parameters
    ----------
    shape : sequence of int, optional
        Shape of the volume (default ``(19, 23, 29)``).
    dtype : dtype, optional
        dtype of the result (default float32).
    seed : int, optional
        Seed of the random generator (default 0).

    Returns
    -------
    ndarray
        In memory, of ``dtype``: bool half true; unsigned integers in ``[0, 1000)`` and
        signed in ``[-1000, 1000)`` (or up to the dtype's maximum when smaller); floats
        normal with standard deviation 100; complex with normal real and imaginary
        parts.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg import ndimage
    >>> from bigimg.testing import assert_dask_matches, random_volume
    >>> x = random_volume((6, 7, 8), np.uint16)
    >>> x.dtype, int(x.max()) < 1000
    (dtype('uint16'), True)
    >>> got = ndimage.uniform_filter(da.from_array(x, chunks=3), 3)
    >>> assert_dask_matches(got, ndi.uniform_filter(x, 3)).shape
    (6, 7, 8)
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind in "ui":
        hi = min(np.iinfo(dtype).max, 1000)
        lo = 0 if dtype.kind == "u" else -1000
        return rng.integers(lo, hi, size=shape, dtype=dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return (rng.standard_normal(shape) * 100).astype(dtype)
