"""Built-in example volumes, generated lazily block by block (any size, bounded memory)."""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np

from bigimg.ndimage import gaussian_filter

__all__ = ["synthetic_ct"]

AIR, TISSUE, BONE = 0, 1064, 2024


def _ellipsoid_block(block: np.ndarray, *, shape: tuple[int, ...], block_info=None) -> np.ndarray:
    """Soft tissue (1064) inside an ellipsoid filling ~90 % of the volume, air (0) outside."""
    loc = block_info[0]["array-location"]
    grids = np.ogrid[tuple(slice(a, b) for a, b in loc)]
    r2 = sum(((g - (n - 1) / 2) / (0.45 * n)) ** 2 for g, n in zip(grids, shape))
    return np.where(r2 <= 1.0, np.float32(TISSUE), np.float32(AIR)) + block


def synthetic_ct(
    shape: Sequence[int] = (256, 256, 256),
    *,
    chunks: int | Sequence[int] = 128,
    seed: int = 0,
    noise: float = 40.0,
    bone_sigma: float = 4.0,
    dtype=np.uint16,
) -> da.Array:
    """A lazy CT-like volume: air, a soft-tissue ellipsoid, bone-like blobs, noise.

    Values follow Hounsfield units shifted by +1024: air ~0, soft tissue ~1064, bone
    ~2024, plus Gaussian noise of standard deviation ``noise``. Bone is smoothed white
    noise above a threshold (about 8 % of the body), so it forms many irregular objects
    of size ~``bone_sigma``: a good test of filtering, thresholding and labelling.

    Nothing is computed until asked; every block is generated from ``seed`` and its own
    position, so the same call (same ``seed`` and ``chunks``) always gives the same
    volume, and a volume larger than memory streams straight to disk with
    ``bigimg.save_raw``.

    Examples
    --------
    >>> from bigimg.data import synthetic_ct
    >>> ct = synthetic_ct((64, 64, 64), chunks=32)
    >>> ct.dtype, ct.chunks[0]
    (dtype('uint16'), (32, 32))
    >>> int(ct[32, 32, 32].compute()) > 800
    True
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"`shape` must be three positive integers; got {shape}.")
    rng = da.random.default_rng(seed)
    white = rng.standard_normal(shape, chunks=chunks, dtype=np.float32)
    smooth = gaussian_filter(white, bone_sigma, mode="wrap")
    # std of unit white noise smoothed by a normalised 3-D Gaussian of width sigma
    std = (8.0 * np.pi**1.5 * bone_sigma**3) ** -0.5
    bone = smooth > 1.4 * std
    body = da.map_blocks(_ellipsoid_block, da.zeros(shape, chunks=white.chunks,
                                                    dtype=np.float32), shape=shape,
                         dtype=np.float32)
    vol = da.where(bone & (body > 0), np.float32(BONE), body)
    vol = vol + noise * da.random.default_rng(seed + 1).standard_normal(
        shape, chunks=white.chunks, dtype=np.float32)
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        vol = da.clip(da.rint(vol), info.min, info.max)
    return vol.astype(dtype)
