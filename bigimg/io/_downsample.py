"""Per-block downsampling for OME-Zarr pyramids: exact modes for labels, folds for images.

Every function reduces one block whose origin is a window corner by ``factors``
voxels per axis; a trailing partial window is reduced over the voxels it holds. The
kernels are compiled with numba (no Python loop per window; they release the GIL) and
work on the last three axes; the axes before them (time and channel) have factor 1 and
are looped over, one 3-D volume at a time. Used by :func:`bigimg.io.save_ome_zarr`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numba
import numpy as np

__all__ = ["downsample", "ints", "mode_downsample", "out_shape"]


@numba.njit(nogil=True, cache=True)
def _mode3(block, fz, fy, fx, out):  # pragma: no cover - compiled
    nz, ny, nx = block.shape
    buf = np.empty(fz * fy * fx, block.dtype)
    for oz in range(out.shape[0]):
        z0, z1 = oz * fz, min(oz * fz + fz, nz)
        for oy in range(out.shape[1]):
            y0, y1 = oy * fy, min(oy * fy + fy, ny)
            for ox in range(out.shape[2]):
                x0, x1 = ox * fx, min(ox * fx + fx, nx)
                k = 0
                for z in range(z0, z1):
                    for y in range(y0, y1):
                        for x in range(x0, x1):
                            buf[k] = block[z, y, x]
                            k += 1
                first, same = buf[0], True
                for i in range(1, k):
                    if buf[i] != first:
                        same = False
                        break
                if same:  # the common case inside objects and background
                    out[oz, oy, ox] = first
                    continue
                window = buf[:k]
                if k > 32:
                    window.sort()
                else:  # insertion sort: cheapest for small windows
                    for i in range(1, k):
                        v, j = window[i], i - 1
                        while j >= 0 and window[j] > v:
                            window[j + 1] = window[j]
                            j -= 1
                        window[j + 1] = v
                best, best_count, run = window[0], 0, 0
                for i in range(k):
                    if i > 0 and window[i] != window[i - 1]:
                        run = 0
                    run += 1
                    if run > best_count:  # strict: ties keep the smaller value
                        best, best_count = window[i], run
                out[oz, oy, ox] = best
    return out


@numba.njit(nogil=True, cache=True)
def _fold3(block, fz, fy, fx, how, out):  # pragma: no cover - compiled
    """Fold every voxel into its window's entry of ``out``: 0 sum, 1 max, 2 min.

    For max/min ``out`` starts as each window's first voxel; NaN propagates.
    """
    nz, ny, nx = block.shape
    for z in range(nz):
        oz = z // fz
        for y in range(ny):
            oy = y // fy
            for x in range(nx):
                v = block[z, y, x]
                ox = x // fx
                if how == 0:
                    out[oz, oy, ox] += v
                elif v != v or (v > out[oz, oy, ox] if how == 1 else v < out[oz, oy, ox]):
                    out[oz, oy, ox] = v
    return out


def out_shape(shape, factors) -> tuple[int, ...]:
    return tuple(-(-n // f) for n, f in zip(shape, factors))


def _as3d(block: np.ndarray, factors) -> tuple[np.ndarray, tuple[int, ...]]:
    """A 2-D block as a 3-D one with a leading axis of length 1 (factor 1)."""
    lead = (1,) * (3 - block.ndim)
    return np.ascontiguousarray(block.reshape(lead + block.shape)), lead + tuple(factors)


def _per_volume(reduce, block: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """``reduce(volume, last three factors)`` for each 3-D volume along the leading axes.

    The leading axes (time, channel) are never downsampled: their factors must be 1.
    """
    lead, inner = factors[:-3], tuple(factors[-3:])
    if any(f != 1 for f in lead):
        raise ValueError(
            f"`factors` must be 1 on every axis before the last three (time and channel "
            f"axes are never downsampled); got {tuple(factors)}."
        )
    vols = [reduce(block[idx], inner) for idx in np.ndindex(block.shape[:-3])]
    shape = block.shape[:-3] + out_shape(block.shape[-3:], inner)
    if not vols:
        return np.empty(shape, block.dtype.newbyteorder("="))
    return np.stack(vols).reshape(shape)


def mode_downsample(block: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """The most frequent value in each window of ``factors`` voxels; ties give the smallest.

    Windows tile the array from its origin; a trailing partial window counts only the
    voxels it holds. Every value, 0 included, counts the same. This is how
    :func:`save_ome_zarr` downsamples label images.

    Parameters
    ----------
    block : numpy.ndarray
        An integer array of 2 or more dimensions.
    factors : sequence of int
        Window size per axis (each >= 1); 1 on every axis before the last three
        (a 4-D or 5-D block is reduced one 3-D volume at a time).

    Returns
    -------
    numpy.ndarray
        Shape ``ceil(block.shape / factors)``, dtype of ``block``.

    Notes
    -----
    Compiled with numba (no Python loop per window, releases the GIL); besides the
    input and output it holds one window.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from bigimg.io._downsample import mode_downsample
    >>> lab = np.array([[1, 1, 2, 3, 7], [2, 2, 3, 2, 7]], dtype=np.uint32)
    >>> mode_downsample(lab, (2, 2))
    array([[1, 2, 7]], dtype=uint32)
    >>> series = np.stack([lab, lab + 1])[:, None]  # (t, z, y, x): t is never reduced
    >>> mode_downsample(series, (1, 1, 2, 2))[:, 0, 0]
    array([[1, 2, 7],
           [2, 3, 8]], dtype=uint32)
    >>> int(stats.mode([2, 3, 3, 2]).mode)
    2
    """
    block = np.asarray(block)
    if block.ndim < 2 or block.dtype.kind not in "iu":
        raise TypeError(
            f"`block` must be an integer array of 2 or more dimensions; got "
            f"{block.ndim}-D {block.dtype}."
        )
    factors = ints(factors, block.ndim, "factors")
    if block.ndim > 3:
        return _per_volume(mode_downsample, block, factors)
    out = np.empty(out_shape(block.shape, factors), block.dtype.newbyteorder("="))
    if block.size:
        b3, f3 = _as3d(block.astype(out.dtype, copy=False), factors)
        _mode3(b3, *f3, out.reshape(out_shape(b3.shape, f3)))
    return out


def downsample(block: np.ndarray, factors: tuple[int, ...], how: str) -> np.ndarray:
    """Reduce one block (whose origin is a window corner) by ``factors``."""
    if how == "mode":
        return mode_downsample(block, factors)
    if how == "nearest":
        return np.ascontiguousarray(block[tuple(slice(None, None, f) for f in factors)])
    if block.ndim > 3:
        return _per_volume(lambda vol, f: downsample(vol, f, how), block, tuple(factors))
    dtype = block.dtype
    if dtype.kind == "b":
        block = block.view(np.uint8)
    elif dtype == np.float16:  # numba has no float16
        block = block.astype(np.float32)
    b3, f3 = _as3d(block, factors)
    if how == "mean":
        acc = np.zeros(out_shape(b3.shape, f3), np.float64)
        _fold3(b3, *f3, 0, acc)
        sizes = [np.minimum(f, n - np.arange(0, n, f)) for n, f in zip(b3.shape, f3)]
        acc /= sizes[0][:, None, None] * sizes[1][None, :, None] * sizes[2][None, None, :]
        if dtype.kind in "biu":  # nearest integer, halves to even
            np.rint(acc, out=acc)
    else:
        acc = np.ascontiguousarray(b3[:: f3[0], :: f3[1], :: f3[2]])
        _fold3(b3, *f3, 1 if how == "max" else 2, acc)
    return acc.reshape(out_shape(block.shape, factors)).astype(dtype, copy=False)


def ints(value, ndim: int, name: str, given=None) -> tuple[int, ...]:
    """``value`` as ``ndim`` ints >= 1 (an int is broadcast)."""
    values = (value,) * ndim if isinstance(value, numbers.Integral) else value
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"`{name}` must be an int or a tuple of ints; got {value!r}.")
    ok = len(values) == ndim
    if (
        not ok
        or not all(isinstance(v, numbers.Integral) and v >= 1 for v in values)
        or any(isinstance(v, bool) for v in values)
    ):
        extra = " or a list of such tuples, one per level after the first" if given else ""
        raise ValueError(
            f"`{name}` must be an int >= 1 or a tuple of {ndim} such ints{extra}; "
            f"got {value if given is None else given!r}."
        )
    return tuple(int(v) for v in values)
