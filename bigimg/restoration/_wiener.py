"""Wiener filtering of chunked volumes with :func:`scipy.signal.wiener`'s semantics.

scipy estimates, in a ``mysize`` window around each voxel (zeros outside the volume:
``correlate(..., 'same')``), the local mean and the local variance, takes the noise
power as the mean of the local variance over the whole volume, and shrinks each voxel
towards its local mean. Here the local statistics come from box filters run through
the halo engine (exact for any chunking), the noise power is one reduction pass, and
the filter itself is a second, lazy, blockwise pass.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage as ndi

from bigimg._args import as_dask
from bigimg._halo import apply_blockwise, footprint_depth

__all__ = ["wiener"]


def _local_stats(block: np.ndarray, size: tuple[int, ...]):
    """scipy.signal.wiener's local mean and variance (zeros outside the volume)."""
    mean = ndi.uniform_filter(block.astype(np.float64), size, mode="constant", cval=0.0)
    square = ndi.uniform_filter((block**2).astype(np.float64), size, mode="constant", cval=0.0)
    return mean, square - mean**2


def _local_variance(block, *, size):
    return _local_stats(block, size)[1]


def _wiener_block(block, *, size, noise):
    mean, var = _local_stats(block, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = block - mean
        res *= 1 - noise / var
        res += mean
    return np.where(var < noise, mean, res)


def _mysize(mysize, ndim: int) -> tuple[int, ...]:
    if mysize is None:
        size = (3,) * ndim
    elif np.ndim(mysize) == 0:
        size = (mysize,) * ndim
    else:
        size = tuple(mysize)
        if len(size) != ndim:
            raise ValueError(
                f"`mysize` must be a scalar or have one entry per axis ({ndim}); got {mysize!r}."
            )
    for s in size:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"`mysize` must hold integers; got {mysize!r}.")
        if s < 1:
            raise ValueError(f"`mysize` entries must be positive; got {mysize!r}.")
    return tuple(int(s) for s in size)


def wiener(
    im: ArrayLike, mysize: int | Sequence[int] | None = None, noise: float | None = None
) -> da.Array:
    """Wiener filter of a chunked volume: the twin of :func:`scipy.signal.wiener`.

    Parameters
    ----------
    im : numpy or dask array
        Real volume.
    mysize : int or sequence of int, optional
        Window size per axis (default 3).
    noise : float, optional
        Noise power. If None, the mean of the local variance over the whole volume,
        which is **computed** when this function is called (one pass).

    Returns
    -------
    dask array of float64
        Lazy, with ``im``'s chunks.

    Raises
    ------
    TypeError
        Complex input or non-integer window sizes.
    ValueError
        Window sizes below 1 or of the wrong length.

    Notes
    -----
    Halo per axis: ``mysize // 2`` voxels (mode constant, zeros outside the volume, as
    scipy's ``correlate(..., 'same')``). A task holds one block plus halo and four
    float64 arrays of that size. As in scipy the squares are taken in the input dtype
    (cast integer input to float to avoid overflow). scipy computes the window sums by
    FFT (in single precision for float32 input), so results agree to about ``1e-12``
    relative (``1e-6`` for float32), not bit for bit; here the sums are float64 box
    filters.

    Examples
    --------
    >>> import numpy as np, scipy.signal, dask.array as da
    >>> from bigimg import restoration
    >>> x = np.random.default_rng(0).normal(size=(8, 9, 10))
    >>> y = restoration.wiener(da.from_array(x, chunks=4), (3, 5, 3))
    >>> np.allclose(y.compute(), scipy.signal.wiener(x, (3, 5, 3)), rtol=1e-10, atol=1e-12)
    True
    """
    x = as_dask(im, name="im")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"`im` must be real; got dtype {x.dtype}.")
    size = _mysize(mysize, x.ndim)
    if noise is not None and not isinstance(noise, numbers.Real):
        raise TypeError(f"`noise` must be a number or None; got {noise!r}.")
    depth = footprint_depth(size, (0,) * x.ndim)
    modes = ("constant",) * x.ndim
    if noise is None:
        var = apply_blockwise(
            _local_variance, x, depth, modes, dtype=np.float64, name="wiener-variance", size=size
        )
        noise = float(var.sum(dtype=np.float64).compute()) / math.prod(x.shape)
    return apply_blockwise(
        _wiener_block,
        x,
        depth,
        modes,
        dtype=np.float64,
        name="wiener",
        size=size,
        noise=float(noise),
    )
