"""Built-in example volumes, generated lazily block by block (any size, bounded memory)."""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import DTypeLike

from bigimg._sources import RegionSource, from_source
from bigimg.ndimage import gaussian_filter

__all__ = ["WhiteNoise", "synthetic_ct", "white_noise"]

AIR, TISSUE, BONE = 0, 1064, 2024


def _ellipsoid_block(block: np.ndarray, *, shape: tuple[int, ...], block_info=None) -> np.ndarray:
    """Soft tissue (1064) inside an ellipsoid filling ~90 % of the volume, air (0) outside."""
    loc = block_info[0]["array-location"]
    grids = np.ogrid[tuple(slice(a, b) for a, b in loc)]
    r2 = sum(((g - (n - 1) / 2) / (0.45 * n)) ** 2 for g, n in zip(grids, shape))
    return np.where(r2 <= 1.0, np.float32(TISSUE), np.float32(AIR)) + block


class WhiteNoise(RegionSource):
    """Standard normal float32 noise defined voxel by voxel from ``seed`` (picklable).

    The volume is cut into fixed tiles (32³ by default: a halo-extended block wastes
    little of the tiles it touches), each drawn from its own generator seeded by
    ``(seed, tile index)``, so any region can be produced on its own and always holds
    the same values, whatever the chunking. It is a region source: filters on it
    stream region by region (see :mod:`bigimg._sources`), so generating a volume larger
    than memory needs only a few blocks of memory. :func:`white_noise` wraps it in a
    dask array.

    Parameters
    ----------
    shape : sequence of int
        Shape of the volume.
    seed : int, optional
        Seed of the volume (default 0).
    tile : int, optional
        Edge of the tiles drawn from one generator each (default 32).

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg.data import WhiteNoise, white_noise
    >>> source = WhiteNoise((10, 20, 30), seed=5)
    >>> source.shape, source.dtype
    ((10, 20, 30), dtype('float32'))
    >>> a = white_noise(source.shape, chunks=7, seed=5)[2:9, 3:17, 20:].compute()
    >>> b = white_noise(source.shape, chunks=(10, 4, 30), seed=5)[2:9, 3:17, 20:].compute()
    >>> bool(np.array_equal(a, b))
    True
    """

    def __init__(self, shape: Sequence[int], seed: int = 0, tile: int = 32) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(np.float32)
        self.seed = int(seed)
        self.tile = int(tile)
        self._token = ("bigimg-white-noise", self.shape, self.seed, self.tile)

    def _read(self, region):
        out = np.empty(tuple(r.stop - r.start for r in region), dtype=np.float32)
        t = self.tile
        ranges = [range(r.start // t, -(-r.stop // t)) for r in region]
        for index in np.ndindex(*(len(rg) for rg in ranges)):
            tile_index = tuple(rg[i] for rg, i in zip(ranges, index))
            lo = [k * t for k in tile_index]
            hi = [min(n, a + t) for a, n in zip(lo, self.shape)]
            rng = np.random.default_rng((self.seed, *tile_index))
            values = rng.standard_normal(tuple(b - a for a, b in zip(lo, hi)), dtype=np.float32)
            src = tuple(
                slice(max(r.start, a) - a, min(r.stop, b) - a) for r, a, b in zip(region, lo, hi)
            )
            dst = tuple(
                slice(max(r.start, a) - r.start, min(r.stop, b) - r.start)
                for r, a, b in zip(region, lo, hi)
            )
            out[dst] = values[src]
        return out


def white_noise(
    shape: Sequence[int], *, chunks: int | Sequence[int] | str = 128, seed: int = 0
) -> da.Array:
    """Lazy standard normal float32 noise whose values do not depend on ``chunks``.

    Parameters
    ----------
    shape : sequence of int
        Shape of the volume (any number of dimensions).
    chunks : int, sequence of int or str, optional
        Keyword-only. Chunks of the result, as in :func:`dask.array.zeros` (default 128).
    seed : int, optional
        Keyword-only. The volume's seed (default 0): the same seed gives the same values.

    Returns
    -------
    dask array of float32
        Lazy; each block is drawn from its own region of :class:`WhiteNoise` tiles, so
        filters on it stream region by region in a few blocks of memory.

    Examples
    --------
    >>> from bigimg.data import white_noise
    >>> a = white_noise((40, 50, 60), chunks=16, seed=3).compute()
    >>> b = white_noise((40, 50, 60), chunks=(7, 50, 11), seed=3).compute()
    >>> bool((a == b).all()), a.dtype.name
    (True, 'float32')
    """
    source = WhiteNoise(shape, seed)
    chunks = da.core.normalize_chunks(chunks, source.shape, dtype=source.dtype)
    return from_source(source, chunks, "white-noise")


def synthetic_ct(
    shape: Sequence[int] = (256, 256, 256),
    *,
    chunks: int | Sequence[int] = 128,
    seed: int = 0,
    noise: float = 40.0,
    bone_sigma: float = 4.0,
    dtype: DTypeLike = np.uint16,
) -> da.Array:
    """A lazy CT-like volume: air, a soft-tissue ellipsoid, bone-like blobs, noise.

    Values follow Hounsfield units shifted by +1024: air ~0, soft tissue ~1064, bone
    ~2024, plus Gaussian noise of standard deviation ``noise``. Bone is smoothed white
    noise above a threshold (about 8 % of the body), so it forms many irregular objects
    of size ~``bone_sigma``: a good test of filtering, thresholding and labelling.

    Nothing is computed until asked; every voxel is defined by ``seed`` and its
    position, so the volume is the same for any ``chunks``, and each block is made from
    its own region alone: a volume larger than memory streams straight to disk with
    ``bigimg.save_raw`` in a few blocks of memory.

    Parameters
    ----------
    shape : (int, int, int), optional
        Shape of the volume (default ``(256, 256, 256)``); three positive integers.
    chunks : int or sequence of int, optional
        Keyword-only. Chunks of the result (default 128).
    seed : int, optional
        Keyword-only. Seed of the bone pattern and the noise (default 0).
    noise : float, optional
        Keyword-only. Standard deviation of the added Gaussian noise (default 40.0).
    bone_sigma : float, optional
        Keyword-only. Smoothing of the bone pattern, about the size of a bone blob in
        voxels (default 4.0).
    dtype : dtype, optional
        Keyword-only. The result's dtype (default uint16); integer types are rounded
        and clipped to their range.

    Returns
    -------
    dask array
        Lazy volume of ``shape`` in ``chunks``.

    Raises
    ------
    ValueError
        ``shape`` is not three positive integers.

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
    white = white_noise(shape, chunks=chunks, seed=seed)
    smooth = gaussian_filter(white, bone_sigma)
    std = (8.0 * np.pi**1.5 * bone_sigma**3) ** -0.5
    bone = smooth > 1.4 * std
    body = da.map_blocks(
        _ellipsoid_block,
        da.zeros(shape, chunks=white.chunks, dtype=np.float32),
        shape=shape,
        dtype=np.float32,
    )
    vol = da.where(bone & (body > 0), np.float32(BONE), body)
    vol = vol + noise * white_noise(shape, chunks=white.chunks, seed=seed + 1)
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        vol = da.clip(da.rint(vol), info.min, info.max)
    return vol.astype(dtype)
