"""Order-statistic filters (minimum, maximum, median, rank, percentile), blockwise.

Minimum and maximum use scipy's own kernels (separable for box sizes). Median, rank
and percentile use bigimg's exact numba selection kernel where it applies (it is
several times faster than scipy's for 3-D neighbourhoods, and bit-identical), and
scipy's kernel otherwise (NaN in a block, complex or bool data, per-axis modes).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes
from bigimg._halo import footprint_depth
from bigimg.ndimage._filters import (
    _filter1d,
    _footprint_geometry,
    _kernel_depth,
    _modes_on,
    _run,
    _validated_dtype,
)
from bigimg.ndimage._rank_kernels import rank_filter_block

__all__ = [
    "maximum_filter",
    "maximum_filter1d",
    "median_filter",
    "minimum_filter",
    "minimum_filter1d",
    "percentile_filter",
    "rank_filter",
]


def minimum_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Blockwise twin of :func:`scipy.ndimage.minimum_filter1d`.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.array([2, 8, 0, 4, 1, 9, 9, 0])
    >>> np.array_equal(ndimage.minimum_filter1d(x, 3).compute(), ndi.minimum_filter1d(x, 3))
    True
    """
    return _filter1d(
        ndi.minimum_filter1d, "minimum_filter1d", input, size, axis, output, mode, cval, origin
    )


def maximum_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Blockwise twin of :func:`scipy.ndimage.maximum_filter1d`.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.array([2, 8, 0, 4, 1, 9, 9, 0])
    >>> np.array_equal(ndimage.maximum_filter1d(x, 3).compute(), ndi.maximum_filter1d(x, 3))
    True
    """
    return _filter1d(
        ndi.maximum_filter1d, "maximum_filter1d", input, size, axis, output, mode, cval, origin
    )


def _min_max(twin, name, input, size, footprint, output, mode, cval, origin, axes):
    x = as_dask(input)
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = _validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = _footprint_geometry(size, footprint, origin, len(axs))
    return _run(
        twin,
        x,
        _kernel_depth(shape, origins, axs, x.ndim),
        _modes_on(mode, axs, x.ndim),
        dtype,
        name,
        **kw,
    )


def minimum_filter(
    input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None
):
    """Blockwise twin of :func:`scipy.ndimage.minimum_filter` (grey erosion by a flat footprint).

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
        "minimum_filter",
        input,
        size,
        footprint,
        output,
        mode,
        cval,
        origin,
        axes,
    )


def maximum_filter(
    input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None
):
    """Blockwise twin of :func:`scipy.ndimage.maximum_filter` (grey dilation by a flat footprint).

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
        "maximum_filter",
        input,
        size,
        footprint,
        output,
        mode,
        cval,
        origin,
        axes,
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
    name, twin_call, input, rank_of, size, footprint, output, mode, cval, origin, axes
):
    """Shared body of median/rank/percentile: validate, build the full-rank footprint, run."""
    x = as_dask(input)
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = _validated_dtype(twin_call, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = _footprint_geometry(size, footprint, origin, len(axs))
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
    modes = _modes_on(mode, axs, x.ndim)
    return _run(
        _select_kernel,
        x,
        depth,
        modes,
        dtype,
        name,
        rank=rank,
        footprint=fp,
        mode=mode,
        cval=cval,
        origin=tuple(full_origin),
    )


def median_filter(
    input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None
):
    """Blockwise twin of :func:`scipy.ndimage.median_filter`, with a fast exact kernel.

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``. The selection runs in bigimg's numba
    kernel (bit-identical to scipy, several times faster on 3-D neighbourhoods); blocks
    holding NaN, complex or bool data fall back to scipy's kernel.

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
        "median_filter",
        twin,
        input,
        lambda n: n // 2,
        size,
        footprint,
        output,
        mode,
        cval,
        origin,
        axes,
    )


def rank_filter(
    input,
    rank,
    size=None,
    footprint=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    """Blockwise twin of :func:`scipy.ndimage.rank_filter`.

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
        "rank_filter",
        twin,
        input,
        lambda n: int(rank) + n if rank < 0 else int(rank),
        size,
        footprint,
        output,
        mode,
        cval,
        origin,
        axes,
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


def percentile_filter(
    input,
    percentile,
    size=None,
    footprint=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    """Blockwise twin of :func:`scipy.ndimage.percentile_filter`.

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
        "percentile_filter",
        twin,
        input,
        lambda n: _percentile_rank(percentile, n),
        size,
        footprint,
        output,
        mode,
        cval,
        origin,
        axes,
    )
