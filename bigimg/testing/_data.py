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

    ``fraction`` is the share of voxels that are foreground (exactly, up to ties).
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
    """Random data spanning a useful part of ``dtype``'s range."""
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
