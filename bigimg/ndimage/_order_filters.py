"""Order-statistic filters (minimum, maximum, median, rank, percentile), blockwise.

Minimum and maximum use scipy's own kernels (separable for box sizes). Median, rank
and percentile use bigimg's exact numba selection kernel where it applies (it is
several times faster than scipy's for 3-D neighbourhoods, and bit-identical), and
scipy's kernel otherwise (NaN in a block, complex or bool data, per-axis modes).
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes, validated_dtype
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._halo import footprint_depth, footprint_geometry, kernel_depth, modes_on, run_twin
from bigimg._morphology import rank_filter_block
from bigimg.ndimage._filters import filter1d

__all__ = [
    "maximum_filter",
    "maximum_filter1d",
    "median_filter",
    "minimum_filter",
    "minimum_filter1d",
    "percentile_filter",
    "rank_filter",
]

_docs = DocFiller(
    NDIMAGE,
    rank_notes="""
        Halo per axis: ``size // 2 + |origin|``. The selection runs in bigimg's numba
        kernel (bit-identical to scipy, several times faster on 3-D neighbourhoods);
        blocks holding NaN, complex or bool data fall back to scipy's kernel.""",
)


@_docs
def minimum_filter1d(
    input: ArrayLike,
    size: int,
    axis: int = -1,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int = 0,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.minimum_filter1d` (running minimum).

    Parameters
    ----------
    %(input)s
    %(size1d)s
    %(axis)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo: ``size // 2 + |origin|`` voxels along ``axis`` only.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.array([2, 8, 0, 4, 1, 9, 9, 0])
    >>> np.array_equal(ndimage.minimum_filter1d(x, 3).compute(), ndi.minimum_filter1d(x, 3))
    True
    """
    return filter1d(
        ndi.minimum_filter1d,
        input,
        name="minimum_filter1d",
        size=size,
        axis=axis,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
    )


@_docs
def maximum_filter1d(
    input: ArrayLike,
    size: int,
    axis: int = -1,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int = 0,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.maximum_filter1d` (running maximum).

    Parameters
    ----------
    %(input)s
    %(size1d)s
    %(axis)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo: ``size // 2 + |origin|`` voxels along ``axis`` only.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.array([2, 8, 0, 4, 1, 9, 9, 0])
    >>> np.array_equal(ndimage.maximum_filter1d(x, 3).compute(), ndi.maximum_filter1d(x, 3))
    True
    """
    return filter1d(
        ndi.maximum_filter1d,
        input,
        name="maximum_filter1d",
        size=size,
        axis=axis,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
    )


def _min_max(twin, input, *, name, size, footprint, output, mode, cval, origin, axes):
    """minimum_filter/maximum_filter: scipy's own kernels, the footprint gives the halo."""
    x = as_dask(input)
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = footprint_geometry(size, footprint, origin, len(axs))
    depth, modes = kernel_depth(shape, origins, axs, x.ndim), modes_on(mode, axs, x.ndim)
    return run_twin(twin, x, depth, modes, dtype=dtype, name=name, **kw)


@_docs
def minimum_filter(
    input: ArrayLike,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.minimum_filter` (grey erosion by a flat footprint).

    Parameters
    ----------
    %(input)s
    %(size_foot)s
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).integers(0, 99, (6, 7, 8))
    >>> np.array_equal(ndimage.minimum_filter(x, 3).compute(), ndi.minimum_filter(x, 3))
    True
    """
    return _min_max(
        ndi.minimum_filter,
        input,
        name="minimum_filter",
        size=size,
        footprint=footprint,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )


@_docs
def maximum_filter(
    input: ArrayLike,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.maximum_filter` (grey dilation by a flat footprint).

    Parameters
    ----------
    %(input)s
    %(size_foot)s
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).integers(0, 99, (6, 7, 8))
    >>> fp = ndi.generate_binary_structure(3, 1)
    >>> y = ndimage.maximum_filter(x, footprint=fp, mode="wrap")
    >>> np.array_equal(y.compute(), ndi.maximum_filter(x, footprint=fp, mode="wrap"))
    True
    """
    return _min_max(
        ndi.maximum_filter,
        input,
        name="maximum_filter",
        size=size,
        footprint=footprint,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )


def _select_kernel(block, *, rank, footprint, mode, cval, origin, output):
    """Rank selection on one halo-extended block: bigimg's numba kernel, else scipy's."""
    if output == block.dtype:
        result = rank_filter_block(block, rank, footprint, mode, cval, origin)
        if result is not None:
            return result
    return ndi.rank_filter(
        block, rank, footprint=footprint, output=output, mode=mode, cval=cval, origin=origin
    )


def _rank_common(
    twin_call, input, *, name, rank_of, size, footprint, output, mode, cval, origin, axes
):
    """Shared body of median/rank/percentile: validate, build the full-rank footprint, run.

    ``twin_call(a, output=None, **kw)`` is the scipy twin with its rank argument bound
    (for validation); ``rank_of(n)`` turns the footprint's size ``n`` into the rank.
    """
    x = as_dask(input)
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = validated_dtype(twin_call, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = footprint_geometry(size, footprint, origin, len(axs))
    # the footprint and origins on every axis, placed exactly as scipy's rank filter does
    fp = np.ones(shape, dtype=bool) if footprint is None else np.asarray(footprint).astype(bool)
    full_origin = list(origins)
    if len(axs) < x.ndim:
        fp = np.expand_dims(fp, tuple(ax for ax in range(x.ndim) if ax not in axs))
        full_origin = [0] * x.ndim
        for o, ax in zip(origins, axs):
            full_origin[ax] = o
    fp = np.ascontiguousarray(fp)
    rank = rank_of(int(fp.sum()))
    depth = footprint_depth(fp.shape, full_origin)
    modes = modes_on(mode, axs, x.ndim)
    return run_twin(
        _select_kernel,
        x,
        depth,
        modes,
        dtype=dtype,
        name=name,
        rank=rank,
        footprint=fp,
        mode=mode,
        cval=cval,
        origin=tuple(full_origin),
    )


@_docs
def median_filter(
    input: ArrayLike,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.median_filter`, with a fast exact kernel.

    Parameters
    ----------
    %(input)s
    %(size_foot)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    %(rank_notes)s

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((9, 10, 11)).astype(np.float32)
    >>> np.array_equal(ndimage.median_filter(x, 3).compute(), ndi.median_filter(x, 3))
    True
    """

    def twin(a, output=None, **kw):
        return ndi.median_filter(a, output=output, **kw)

    return _rank_common(
        twin,
        input,
        name="median_filter",
        rank_of=lambda n: n // 2,
        size=size,
        footprint=footprint,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )


@_docs
def rank_filter(
    input: ArrayLike,
    rank: int,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.rank_filter`.

    Parameters
    ----------
    %(input)s
    rank : int
        Which value of the sorted neighbourhood to keep: 0 is the smallest, -1 the
        largest.
    %(size_foot)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    %(rank_notes)s

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).integers(0, 9, (9, 10, 11)).astype(np.uint16)
    >>> y = ndimage.rank_filter(x, -2, size=(3, 1, 5))
    >>> np.array_equal(y.compute(), ndi.rank_filter(x, -2, size=(3, 1, 5)))
    True
    """

    def twin(a, output=None, **kw):
        return ndi.rank_filter(a, rank, output=output, **kw)

    return _rank_common(
        twin,
        input,
        name="rank_filter",
        rank_of=lambda n: int(rank) + n if rank < 0 else int(rank),
        size=size,
        footprint=footprint,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )


def _percentile_rank(percentile: float, n: int) -> int:
    """scipy's conversion of a percentile to a rank among ``n`` footprint values."""
    percent = float(percentile)
    if percent < 0.0:
        percent += 100.0
    rank = int(float(n) * percent / 100.0)
    if percent == 100.0:
        rank = n - 1
    return rank


@_docs
def percentile_filter(
    input: ArrayLike,
    percentile: float,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.percentile_filter`.

    Parameters
    ----------
    %(input)s
    percentile : scalar
        Percentile of the neighbourhood's values to keep, in [-100, 100]; negative
        values count from 100 (``-20`` is the 80th percentile).
    %(size_foot)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    %(rank_notes)s

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((9, 10, 11))
    >>> y = ndimage.percentile_filter(x, 25, size=3)
    >>> np.array_equal(y.compute(), ndi.percentile_filter(x, 25, size=3))
    True
    """

    def twin(a, output=None, **kw):
        return ndi.percentile_filter(a, percentile, output=output, **kw)

    return _rank_common(
        twin,
        input,
        name="percentile_filter",
        rank_of=lambda n: _percentile_rank(percentile, n),
        size=size,
        footprint=footprint,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )
