"""Filters of a user's function, blockwise with exact halos.

:func:`generic_filter1d`, :func:`generic_filter` and :func:`vectorized_filter` call a
Python function on every line or neighbourhood, as their ``scipy.ndimage`` twins do,
and follow the pattern of :mod:`bigimg.ndimage._filters`: the footprint (or size) and
origin give the halo. The function is pickled into the graph; on a distributed
cluster it must be importable or picklable by cloudpickle.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes, normalize_sequence, resolve_output
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._halo import footprint_depth, kernel_depth, modes_on, run_twin
from bigimg.ndimage._filters import filter_twin, footprint_on, reach_on

__all__ = ["generic_filter", "generic_filter1d", "vectorized_filter"]

_docs = DocFiller(NDIMAGE)


@_docs
def generic_filter1d(
    input: ArrayLike,
    function: Callable[..., Any],
    filter_size: int,
    axis: int = -1,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int = 0,
    extra_arguments: Sequence[Any] = (),
    extra_keywords: Mapping[str, Any] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.generic_filter1d`.

    ``function`` is pickled into the graph; on a distributed cluster it must be
    importable or picklable by cloudpickle.

    Parameters
    ----------
    %(input)s
    function : callable
        ``function(input_line, output_line, *extra_arguments, **extra_keywords)``, as
        in scipy: fills ``output_line`` from ``input_line``, which is extended by
        ``filter_size - 1`` values.
    filter_size : int
        Length of the filter along ``axis``.
    %(axis)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin)s
    %(extra)s

    %(returns_raises)s

    Notes
    -----
    Halo: ``filter_size // 2 + |origin|`` voxels along ``axis`` only.

    %(example)s
    >>> def running_sum(iline, oline):
    ...     oline[...] = iline[:-2] + iline[1:-1] + iline[2:]
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> y = ndimage.generic_filter1d(x, running_sum, 3)
    >>> np.allclose(y.compute(), ndi.generic_filter1d(x, running_sum, 3))
    True
    """
    kw = dict(function=function, filter_size=filter_size, axis=axis, mode=mode, cval=cval)
    extra = dict(extra_arguments=extra_arguments, extra_keywords=extra_keywords)
    depth_of = reach_on(lambda n_axes: footprint_depth((filter_size,), (origin,)))
    twin = ndi.generic_filter1d
    return filter_twin(twin, input, output=output, depth_of=depth_of, origin=origin, **kw, **extra)


@_docs
def generic_filter(
    input: ArrayLike,
    function: Callable[..., Any],
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    extra_arguments: Sequence[Any] = (),
    extra_keywords: Mapping[str, Any] | None = None,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.generic_filter`.

    ``function`` is called as in scipy, once per voxel (slow, as in scipy; prefer
    :func:`vectorized_filter`). It is pickled into the graph.

    Parameters
    ----------
    %(input)s
    function : callable
        ``function(values, *extra_arguments, **extra_keywords)`` returns one scalar
        from the 1-D array of the neighbourhood's values, as in scipy.
    %(size_foot)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin_multiple)s
    %(extra)s
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: ``footprint.shape[i] // 2 + |origin[i]|`` (or from ``size``).

    %(example)s
    >>> x = np.random.default_rng(0).random((6, 7))
    >>> y = ndimage.generic_filter(x, np.ptp, size=3, mode="mirror")
    >>> np.allclose(y.compute(), ndi.generic_filter(x, np.ptp, size=3, mode="mirror"))
    True
    """
    kw = dict(function=function, size=size, footprint=footprint, mode=mode, cval=cval, axes=axes)
    extra = dict(extra_arguments=extra_arguments, extra_keywords=extra_keywords)
    depth_of, twin = footprint_on(size, footprint, origin), ndi.generic_filter
    return filter_twin(twin, input, output=output, depth_of=depth_of, origin=origin, **kw, **extra)


def _vectorized_block(block, *, output, **kwargs):
    return np.asarray(ndi.vectorized_filter(block, **kwargs), dtype=output)


def _window_shape(ndim: int, size, footprint, axes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``vectorized_filter``'s filtered axes and window shape (1 where not valid yet:
    scipy's probe then refuses the arguments)."""
    axs = normalize_axes(axes, ndim)
    if footprint is not None:
        window = np.asarray(footprint).shape
    elif size is not None:
        window = normalize_sequence(size, len(axs), "size")
    else:
        window = (1,) * len(axs)
    window = tuple(int(w) if isinstance(w, numbers.Integral) and w > 0 else 1 for w in window)
    return axs, window


@_docs
def vectorized_filter(
    input: ArrayLike,
    function: Callable[..., Any],
    *,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float | None = None,
    origin: int | Sequence[int] | None = None,
    axes: int | Sequence[int] | None = None,
    batch_memory: int = 2**30,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.vectorized_filter`.

    ``function(window, axis=...)`` receives a batch of windows per block, as in scipy.
    ``mode="valid"`` returns the smaller array scipy returns (edge chunks shrink).

    Parameters
    ----------
    %(input)s
    function : callable
        ``function(windows, axis=axes)`` reduces the window axes of a batch of windows,
        as in scipy (e.g. ``np.std``). It is pickled into the graph.
    size : int or sequence of int, optional
        Keyword-only. Shape of the (box) window; ignored when ``footprint`` is given.
    footprint : array_like of bool, optional
        Keyword-only. The window's shape as a mask; takes precedence over ``size``.
    output : dtype or array, optional
        Keyword-only. The result's dtype (default: what ``function`` returns). An
        array of the result's shape is filled block by block and returned, as scipy.
    mode : {'reflect', 'constant', 'nearest', 'mirror', 'wrap', 'valid'}, optional
        Keyword-only. Boundary mode as in scipy (default ``'reflect'``); ``'valid'``
        keeps only the voxels whose whole window lies inside the volume.
    cval : scalar, optional
        Keyword-only. Value beyond the faces when ``mode`` is ``'constant'`` (scipy's
        default 0.0 when None).
    origin : int or sequence of int, optional
        Keyword-only. Shift of the window's centre, one per filtered axis (default 0).
    %(axes)s
    batch_memory : int, optional
        Keyword-only. Bytes of windows handed to ``function`` at a time within a task
        (default 2**30), as in scipy.

    Returns
    -------
    dask array
        Lazy, with the input's chunks (with ``mode='valid'``: the smaller shape scipy
        returns, the edge chunks shrunk); nothing is computed until asked.

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo per axis: ``window.shape[i] // 2 + |origin[i]|``. ``batch_memory`` bounds the
    windows' memory inside each task, as in scipy.

    %(example)s
    >>> x = np.random.default_rng(0).random((7, 8, 9))
    >>> y = ndimage.vectorized_filter(x, np.std, size=3)
    >>> np.allclose(y.compute(), ndi.vectorized_filter(x, np.std, size=3))
    True
    """
    x = as_dask(input)
    shape_kw = dict(size=size, footprint=footprint, origin=origin, axes=axes)
    kw = dict(function=function, mode=mode, cval=cval, batch_memory=batch_memory, **shape_kw)
    try:
        axs, window = _window_shape(x.ndim, size, footprint, axes)
    except (TypeError, ValueError):
        # scipy's error for bad arguments, from its checks in its order: the window
        # is needed for the probe below, so scipy runs on a one-voxel probe first
        ndi.vectorized_filter(np.zeros((1,) * x.ndim, x.dtype), **kw)
        raise
    probe_shape = [1] * x.ndim
    if mode == "valid":
        for ax, w in zip(axs, window):
            probe_shape[ax] = w
    probe = np.zeros(probe_shape, x.dtype)
    # scipy's vectorized_filter takes only an array as `output`; bigimg takes a dtype
    dtype = resolve_output(
        output,
        lambda out: (
            ndi.vectorized_filter(probe, **kw).astype(out or probe.dtype)
            if out is not None
            else ndi.vectorized_filter(probe, **kw)
        ),
    )
    shape = window
    origins = (
        (0,) * len(axs)
        if origin is None
        else tuple(int(o) for o in normalize_sequence(origin, len(axs), "origin"))
    )
    depth = kernel_depth(shape, origins, axs, x.ndim)
    if mode != "valid":
        modes = modes_on(mode, axs, x.ndim)
        return run_twin(
            _vectorized_block, x, depth, modes, dtype=dtype, name="vectorized_filter", **kw
        )
    kw.update(mode="nearest", cval=None)
    full = run_twin(
        _vectorized_block,
        x,
        depth,
        ("nearest",) * x.ndim,
        dtype=dtype,
        name="vectorized_filter",
        **kw,
    )
    index = [slice(None)] * x.ndim
    for ax, s in zip(axs, shape):
        index[ax] = slice(s // 2, x.shape[ax] - (s - 1) // 2)
    return full[tuple(index)]
