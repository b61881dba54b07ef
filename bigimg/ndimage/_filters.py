"""scipy.ndimage filters, blockwise with exact halos: the linear and Gaussian filters.

Every public function in this module and its siblings :mod:`bigimg.ndimage._derivatives`
(gradients and Laplacians), :mod:`bigimg.ndimage._generic` (user-function filters) and
:mod:`bigimg.ndimage._order_filters` has the name, parameters, order and defaults of its
``scipy.ndimage`` twin and gives the twin's result for any chunking. The pattern is
the same everywhere:

1. :func:`bigimg._args.validated_dtype` runs the twin on a one-voxel array with all the
   user's arguments: bad arguments raise what scipy raises (``ArgumentError`` where
   scipy says ``RuntimeError``) before a graph exists, and the output dtype is scipy's.
2. The kernel's reach per axis (its halo) is derived from the same arguments by the
   halo engine's geometry rules (:mod:`bigimg._halo`).
3. :func:`bigimg._halo.run_twin` runs the twin on halo-extended blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import (
    as_dask,
    normalize_axes,
    normalize_axis,
    normalize_sequence,
    validated_dtype,
)
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._halo import (
    depth_on,
    footprint_depth,
    footprint_geometry,
    gaussian_reach,
    kernel_depth,
    modes_on,
    run_twin,
)

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "generate_binary_structure",
    "iterate_structure",
    "uniform_filter",
    "uniform_filter1d",
]

generate_binary_structure = ndi.generate_binary_structure
iterate_structure = ndi.iterate_structure

_docs = DocFiller(NDIMAGE)


def filter1d(twin, input, *, name, size, axis, output, mode, cval, origin):
    """A size-based 1-D filter (uniform here, minimum and maximum in ``_order_filters``)."""
    x = as_dask(input)
    kw = dict(size=size, axis=axis, mode=mode, cval=cval, origin=origin)
    dtype = validated_dtype(twin, x, output, kw)
    ax = normalize_axis(axis, x.ndim)
    reach = footprint_depth((size,), (origin,))
    depth, modes = depth_on(reach, (ax,), x.ndim), modes_on(mode, (ax,), x.ndim)
    return run_twin(twin, x, depth, modes, dtype=dtype, name=name, **kw)


def _nd_linear(twin, input, *, name, weights, output, mode, cval, origin, axes):
    """correlate/convolve: the weights' shape and origins give the halo."""
    x = as_dask(input)
    kw = dict(weights=weights, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    origins = normalize_sequence(origin, len(axs), "origin")
    depth = kernel_depth(
        np.asarray(weights).shape, origins, axs, x.ndim, convolve=twin is ndi.convolve
    )
    return run_twin(twin, x, depth, modes_on(mode, axs, x.ndim), dtype=dtype, name=name, **kw)


@_docs
def correlate1d(
    input: ArrayLike,
    weights: ArrayLike,
    axis: int = -1,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int = 0,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.correlate1d`.

    Parameters
    ----------
    %(input)s
    weights : array_like
        1-D sequence of weights.
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
    Halo: ``len(weights) // 2 + |origin|`` voxels along ``axis`` only. One task holds a
    block plus its halo.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(10.0)
    >>> y = ndimage.correlate1d(x, [1, 2, 3], origin=1)
    >>> np.allclose(y.compute(), ndi.correlate1d(x, [1, 2, 3], origin=1))
    True
    """
    x = as_dask(input)
    kw = dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin)
    dtype = validated_dtype(ndi.correlate1d, x, output, kw)
    ax = normalize_axis(axis, x.ndim)
    w = np.asarray(weights)
    reach = footprint_depth(w.shape, (origin,))
    depth, modes = depth_on(reach, (ax,), x.ndim), modes_on(mode, (ax,), x.ndim)
    return run_twin(ndi.correlate1d, x, depth, modes, dtype=dtype, name="correlate1d", **kw)


@_docs
def convolve1d(
    input: ArrayLike,
    weights: ArrayLike,
    axis: int = -1,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int = 0,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.convolve1d`.

    Parameters
    ----------
    %(input)s
    weights : array_like
        1-D sequence of weights.
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
    Halo: ``len(weights) // 2 + |origin| (+1 for even lengths)`` voxels along ``axis``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(10.0)
    >>> np.allclose(ndimage.convolve1d(x, [1, 0, -1]).compute(), ndi.convolve1d(x, [1, 0, -1]))
    True
    """
    x = as_dask(input)
    kw = dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin)
    dtype = validated_dtype(ndi.convolve1d, x, output, kw)
    ax = normalize_axis(axis, x.ndim)
    s = len(np.asarray(weights))
    reach = kernel_depth((s,), (origin,), (0,), 1, convolve=True)
    depth, modes = depth_on(reach, (ax,), x.ndim), modes_on(mode, (ax,), x.ndim)
    return run_twin(ndi.convolve1d, x, depth, modes, dtype=dtype, name="convolve1d", **kw)


@_docs
def correlate(
    input: ArrayLike,
    weights: ArrayLike,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.correlate` (multidimensional correlation).

    Parameters
    ----------
    %(input)s
    weights : array_like
        Array of weights, with one dimension per filtered axis.
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
    Halo per axis: ``weights.shape[i] // 2 + |origin[i]|``. Each task holds one block
    plus its halo and the weights.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(64.0).reshape(4, 4, 4)
    >>> w = np.ones((3, 3, 3)) / 27
    >>> y = ndimage.correlate(x, w, mode="nearest")
    >>> np.allclose(y.compute(), ndi.correlate(x, w, mode="nearest"))
    True
    """
    return _nd_linear(
        ndi.correlate,
        input,
        name="correlate",
        weights=weights,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )


@_docs
def convolve(
    input: ArrayLike,
    weights: ArrayLike,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.convolve` (multidimensional convolution).

    Parameters
    ----------
    %(input)s
    weights : array_like
        Array of weights, with one dimension per filtered axis.
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
    Halo per axis: ``weights.shape[i] // 2 + |origin[i]|`` (+1 for even sizes).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> w = np.array([[0, 1], [1, 0]])
    >>> np.allclose(ndimage.convolve(x, w, mode="wrap").compute(), ndi.convolve(x, w, mode="wrap"))
    True
    """
    return _nd_linear(
        ndi.convolve,
        input,
        name="convolve",
        weights=weights,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )


@_docs
def uniform_filter1d(
    input: ArrayLike,
    size: int,
    axis: int = -1,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int = 0,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.uniform_filter1d` (running mean).

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
    >>> x = np.arange(10.0) ** 2
    >>> np.allclose(ndimage.uniform_filter1d(x, 4).compute(), ndi.uniform_filter1d(x, 4))
    True
    """
    return filter1d(
        ndi.uniform_filter1d,
        input,
        name="uniform_filter1d",
        size=size,
        axis=axis,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
    )


@_docs
def uniform_filter(
    input: ArrayLike,
    size: int | Sequence[int] = 3,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.uniform_filter` (box mean).

    Parameters
    ----------
    %(input)s
    size : int or sequence of int, optional
        Edge length of the box, one for every axis or one per filtered axis (default 3).
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
    Halo per axis: ``size // 2 + |origin|``. ``mode`` may be a sequence, one per axis.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((6, 7, 8))
    >>> y = ndimage.uniform_filter(x, size=(3, 1, 5), mode=["wrap", "reflect", "nearest"])
    >>> np.allclose(y.compute(), ndi.uniform_filter(x, size=(3, 1, 5),
    ...                                             mode=["wrap", "reflect", "nearest"]))
    True
    """
    x = as_dask(input)
    kw = dict(size=size, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = validated_dtype(ndi.uniform_filter, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = footprint_geometry(size, None, origin, len(axs))
    depth, modes = kernel_depth(shape, origins, axs, x.ndim), modes_on(mode, axs, x.ndim)
    return run_twin(ndi.uniform_filter, x, depth, modes, dtype=dtype, name="uniform_filter", **kw)


@_docs
def gaussian_filter1d(
    input: ArrayLike,
    sigma: float,
    axis: int = -1,
    order: int = 0,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
    *,
    radius: int | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.gaussian_filter1d`.

    Parameters
    ----------
    %(input)s
    sigma : scalar
        Standard deviation of the Gaussian kernel.
    %(axis)s
    order : int, optional
        0 (default) smooths; 1, 2 or 3 convolve with that derivative of the Gaussian.
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(truncate)s
    radius : int, optional
        Keyword-only. Radius of the kernel; overrides ``truncate`` (default None), as
        in scipy.

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo: ``int(truncate * sigma + 0.5)`` (or ``radius``) voxels along ``axis``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random(50)
    >>> y = ndimage.gaussian_filter1d(x, 3, order=1)
    >>> np.allclose(y.compute(), ndi.gaussian_filter1d(x, 3, order=1))
    True
    """
    x = as_dask(input)
    kw = dict(
        sigma=sigma, axis=axis, order=order, mode=mode, cval=cval, truncate=truncate, radius=radius
    )
    dtype = validated_dtype(ndi.gaussian_filter1d, x, output, kw)
    ax = normalize_axis(axis, x.ndim)
    reach = gaussian_reach(sigma, truncate, radius, 1)
    depth, modes = depth_on(reach, (ax,), x.ndim), modes_on(mode, (ax,), x.ndim)
    return run_twin(
        ndi.gaussian_filter1d, x, depth, modes, dtype=dtype, name="gaussian_filter1d", **kw
    )


@_docs
def gaussian_filter(
    input: ArrayLike,
    sigma: float | Sequence[float],
    order: int | Sequence[int] = 0,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
    *,
    radius: int | Sequence[int] | None = None,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.gaussian_filter`.

    ``sigma``, ``order``, ``mode`` and ``radius`` may be sequences, one entry per axis.

    Parameters
    ----------
    %(input)s
    %(sigma)s
    order : int or sequence of int, optional
        0 (default) smooths; 1, 2 or 3 convolve with that derivative of the Gaussian,
        one for every axis or one per filtered axis.
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo per axis: ``int(truncate * sigma + 0.5)`` voxels, or ``radius``. One task holds
    one block plus its halo (and scipy's float64 line buffers). With 128³ float32 chunks
    and sigma 2 that is about 12 MB.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> import dask.array as da
    >>> x = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    >>> y = ndimage.gaussian_filter(da.from_array(x, chunks=7), sigma=2)
    >>> y.chunks[0]
    (7, 7, 6)
    >>> np.allclose(y.compute(), ndi.gaussian_filter(x, sigma=2))
    True
    """
    x = as_dask(input)
    kw = dict(
        sigma=sigma, order=order, mode=mode, cval=cval, truncate=truncate, radius=radius, axes=axes
    )
    dtype = validated_dtype(ndi.gaussian_filter, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    reach = gaussian_reach(sigma, truncate, radius, len(axs))
    depth, modes = depth_on(reach, axs, x.ndim), modes_on(mode, axs, x.ndim)
    return run_twin(ndi.gaussian_filter, x, depth, modes, dtype=dtype, name="gaussian_filter", **kw)
