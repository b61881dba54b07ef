"""Integer-factor reductions (block means, maxima, label modes): scikit-image's ``block_reduce``.

The volume is padded at its far end with ``cval`` up to a multiple of the factors (as
scikit-image does), rechunked so that every chunk boundary falls on a multiple of the
factors, and each chunk is reduced on its own: no halo, no communication, and each
output value comes from exactly the input values scikit-image uses, reduced the same way.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from bigimg._args import as_dask
from bigimg._halo import merge_small_chunks

__all__ = ["block_reduce", "mode_reduce"]


def mode_reduce(values: ArrayLike, axis: int | Sequence[int] = -1) -> np.ndarray:
    """The most frequent value along ``axis`` (an int or tuple); ties give the smallest.

    The reducer behind ``block_reduce(..., func="mode")``: for label volumes, the value
    :func:`scipy.stats.mode` returns for each block. NaN is not supported.

    Parameters
    ----------
    values : array_like
        Values (typically labels).
    axis : int or sequence of int, optional
        The axis or axes to reduce (default the last).

    Returns
    -------
    ndarray
        ``values``' dtype, with the ``axis`` axes removed.

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg.stats import mode_reduce
    >>> mode_reduce(np.array([[3, 1, 3, 1, 2], [5, 5, 4, 4, 4]]), axis=1)
    array([1, 4])
    """
    values = np.asarray(values)
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    axes = tuple(a % values.ndim for a in axes)
    keep = [a for a in range(values.ndim) if a not in axes]
    moved = np.transpose(values, keep + list(axes))
    flat = moved.reshape(tuple(values.shape[a] for a in keep) + (-1,))
    s = np.sort(flat, axis=-1)
    k = s.shape[-1]
    pos = np.arange(k)
    starts = np.concatenate(
        [np.ones(s.shape[:-1] + (1,), bool), s[..., 1:] != s[..., :-1]], axis=-1
    )
    run_start = np.maximum.accumulate(np.where(starts, pos, 0), axis=-1)
    run_len = pos - run_start + 1
    best = run_len.max(axis=-1, keepdims=True)
    first = np.argmax(run_len == best, axis=-1)
    return np.take_along_axis(s, first[..., None], axis=-1)[..., 0]


def _reduce_block(block, *, factors, reducer, kwargs):
    ndim = block.ndim
    block = np.ascontiguousarray(block)
    split = []
    for n, b in zip(block.shape, factors):
        split += [n // b, b]
    view = block.reshape(split).transpose(
        tuple(range(0, 2 * ndim, 2)) + tuple(range(1, 2 * ndim, 2))
    )
    return np.asarray(reducer(view, axis=tuple(range(ndim, 2 * ndim)), **kwargs))


def _aligned_chunks(chunks: tuple[int, ...], factor: int, inner: bool) -> tuple[int, ...]:
    """Chunks whose boundaries are multiples of ``factor`` (each near an old boundary).

    On ``inner`` axes (all but the first) a chunk never holds exactly one output value
    unless the whole axis does: numpy merges a reduced axis with the next one when the
    array spans a single block along it, which changes the order in which a float
    reduction adds, so the blocks must look like the whole array in that respect.
    """
    total = sum(chunks)
    bounds = sorted({(b // factor) * factor for b in np.cumsum(chunks)[:-1]} - {0})
    edges = [0] + [b for b in bounds if b < total] + [total]
    aligned = tuple(int(b - a) for a, b in zip(edges[:-1], edges[1:]))
    if inner and total >= 2 * factor:
        aligned = merge_small_chunks(aligned, 2 * factor)
    return aligned


def _factors(block_size: Any, ndim: int) -> tuple[int, ...]:
    if np.isscalar(block_size):
        factors = (block_size,) * ndim
    else:
        factors = tuple(block_size)
        if len(factors) != ndim:
            raise ValueError(
                "`block_size` must be a scalar or have the same length as "
                f"`image.shape` ({ndim}); got {block_size!r}."
            )
    for f in factors:
        if isinstance(f, bool) or not isinstance(f, numbers.Integral):
            raise TypeError(f"`block_size` must hold integers; got {block_size!r}.")
        if f < 1:
            raise ValueError(
                "Down-sampling factors must be >= 1 (use skimage.transform.resize "
                f"to up-sample an image); got {block_size!r}."
            )
    return tuple(int(f) for f in factors)


def block_reduce(
    image: ArrayLike,
    block_size: int | Sequence[int] = 2,
    func: Callable[..., Any] | str = np.sum,
    cval: float = 0,
    func_kwargs: dict[str, Any] | None = None,
) -> da.Array:
    """Reduce non-overlapping blocks: the lazy twin of :func:`skimage.measure.block_reduce`.

    Block means, maxima, minima, ... by integer factors per axis; the tutorial's block
    mean (``ndimage.mean`` over block labels) on a volume of any size. ``func="mode"``
    (a bigimg extension) gives each block's most frequent value, ties to the smallest,
    like :func:`scipy.stats.mode`: the right way to downsample a label volume.

    Parameters
    ----------
    image : numpy or dask array
    block_size : int or tuple of int, optional
        Factor per axis.
    func : callable or "mode", optional
        ``func(array, axis=tuple_of_axes, **func_kwargs)``, e.g. ``np.sum``,
        ``np.mean``, ``np.max``, ``np.min``, ``np.median``.
    cval : scalar, optional
        Value of the padding added at the far end of an axis whose length is not a
        multiple of its factor (scikit-image pads the same way, so edge means include
        it).
    func_kwargs : dict, optional
        Extra keyword arguments of ``func``.

    Returns
    -------
    dask array
        Lazy; shape ``ceil(image.shape / block_size)``.

    Raises
    ------
    TypeError
        Non-integer factors or a ``func`` that is neither callable nor ``"mode"``.
    ValueError
        Factors below 1 or of the wrong length.

    Notes
    -----
    Chunk boundaries are moved down to multiples of the factors (one rechunk; chunks
    that would hold a single output value along an inner axis are merged with a
    neighbour so that float reductions add in numpy's order), so a task holds about
    one input chunk plus ``2 * factor`` planes per axis.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.measure import block_reduce as sk_block_reduce
    >>> from bigimg import stats
    >>> x = np.arange(7 * 8 * 9, dtype=np.float32).reshape(7, 8, 9)
    >>> y = stats.block_reduce(x, (2, 4, 3), np.mean)
    >>> y.shape
    (4, 2, 3)
    >>> np.array_equal(y.compute(), sk_block_reduce(x, (2, 4, 3), np.mean))
    True
    """
    x = as_dask(image, name="image")
    factors = _factors(block_size, x.ndim)
    if isinstance(func, str):
        if func != "mode":
            raise ValueError(f"`func` must be a callable or 'mode'; got {func!r}.")
        func = mode_reduce
    elif not callable(func):
        raise TypeError(f"`func` must be a callable or 'mode'; got {func!r}.")
    kwargs = dict(func_kwargs or {})
    probe = np.zeros((1,) * x.ndim + factors, x.dtype)
    dtype = np.asarray(func(probe, axis=tuple(range(x.ndim, 2 * x.ndim)), **kwargs)).dtype
    pad = [(0, (-n) % f) for n, f in zip(x.shape, factors)]
    if any(p[1] for p in pad):
        x = da.pad(x, pad, mode="constant", constant_values=cval)
    if x.size == 0:
        return da.zeros(tuple(n // f for n, f in zip(x.shape, factors)), dtype=dtype)
    aligned = tuple(
        _aligned_chunks(c, f, ax > 0) for ax, (c, f) in enumerate(zip(x.chunks, factors))
    )
    if aligned != x.chunks:
        x = x.rechunk(aligned)
    out_chunks = tuple(tuple(c // f for c in cs) for cs, f in zip(aligned, factors))
    return x.map_blocks(
        _reduce_block,
        factors=factors,
        reducer=func,
        kwargs=kwargs,
        chunks=out_chunks,
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype),
    )
