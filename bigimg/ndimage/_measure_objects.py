"""scipy.ndimage's measurements that compute or gather: structures, exact medians, ``func``.

``find_objects`` and ``histogram`` return Python structures, ``median`` is exact and
``value_indices`` returns index arrays, so they compute; ``labeled_comprehension``
brings every value of a label into one task. Here: the public signatures, docstrings
(:mod:`bigimg._docs`) and argument checks. The machinery is the table engine's
(:mod:`bigimg._tables`: :func:`~bigimg._tables.bounding_slices`,
:func:`~bigimg._tables.region_histograms`, :func:`~bigimg._tables.region_median`,
:func:`~bigimg._tables.comprehension`, :func:`~bigimg._tables.value_positions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from bigimg._args import as_dask, index_of
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._tables import (
    align,
    bounding_slices,
    comprehension,
    region_histograms,
    region_median,
    regions,
    value_positions,
)

__all__ = ["find_objects", "histogram", "labeled_comprehension", "median", "value_indices"]

_docs = DocFiller(NDIMAGE)


@_docs
def find_objects(input: ArrayLike, max_label: int = 0) -> list[tuple[slice, ...] | None]:
    """Bounding slices of every label; twin of ``scipy.ndimage.find_objects``. Computes.

    Parameters
    ----------
    input : array_like or dask array of ints
        Label array; labels < 1 are ignored.
    max_label : int, optional
        Largest label to report; 0 (default) reports up to the largest label present.

    Returns
    -------
    list of (tuple of slice) or None
        Entry ``i`` is the bounding box of label ``i + 1`` as slices, ``None`` when
        that label is absent, as scipy.

    Raises
    ------
    TypeError
        ``input`` not of an integer dtype, or ``max_label`` not an integer.

    Notes
    -----
    Computes: one pass over ``input`` (per-block bounding boxes of the labels present,
    merged in a tree), then builds the list on the client. A block task holds its
    block, the boxes of its labels, a lookup table of their values (at most 4 MiB)
    and at most 1 MiB of int32 label slots (a slab of ``2**18`` voxels at a time);
    merge tasks hold O(labels) rows; the list itself is O(max_label).

    %(dask_example)s
    >>> from bigimg.ndimage import find_objects
    >>> a = np.array([[0, 2, 2], [0, 0, 3], [1, 0, 0]])
    >>> find_objects(da.from_array(a, chunks=2))[1]
    (slice(0, 1, None), slice(1, 3, None))
    >>> find_objects(da.from_array(a, chunks=2)) == ndi.find_objects(a)
    True
    """
    lab = align(None, input, labels_name="input")[1]
    if lab.dtype.kind not in "iu":
        raise TypeError(f"`input` must be an integer label array; got dtype {lab.dtype}.")
    max_label = index_of(max_label, "max_label")
    if lab.ndim == 0:  # one voxel: its label's entry is the empty tuple, as scipy
        value = int(lab.compute())
        count = max_label if max_label >= 1 else value
        return [() if i + 1 == value else None for i in range(count)]
    return bounding_slices(lab, max_label)


@_docs
def histogram(
    input: ArrayLike,
    min: float,  # noqa: A002
    max: float,  # noqa: A002
    bins: int,
    labels: ArrayLike | None = None,
    index: ArrayLike | None = None,
) -> np.ndarray | None:
    """Histogram of ``input`` per region; twin of ``scipy.ndimage.histogram``. Computes.

    Parameters
    ----------
    input : array_like or dask array
        Values to bin.
    min, max : float
        Range of the bins (``np.linspace(min, max, bins + 1)`` edges, as scipy).
    bins : int
        Number of bins.
    %(measure_labels)s
    %(measure_index)s
        ``index`` without ``labels`` raises ``ValueError``.

    Returns
    -------
    ndarray or None or object ndarray
        scipy's structure: one int64 histogram for one region; for an array ``index``
        an object array of histograms with ``None`` for absent labels (a scalar absent
        label gives ``None``).

    Raises
    ------
    ValueError
        ``bins`` < 1, ``max`` < ``min``, or ``index`` given without ``labels``.
    TypeError
        Non-integer ``bins``.

    Notes
    -----
    Computes: one pass in which every block bins its voxels per label (a table of
    labels x bins counts per task) and a tree reduction adds them. Memory per task:
    its blocks of ``input`` and ``labels``, the labels x bins counts (8 bytes each), a
    lookup table of the labels (at most 4 MiB) and at most 6 MiB of other
    temporaries (a slab of ``2**18`` voxels at a time, 24 bytes per voxel: its values
    in 64 bits, label slots and bin numbers).

    %(dask_example)s
    >>> from bigimg.ndimage import histogram
    >>> x = np.array([0.5, 1.5, 2.5, 1.2]); lab = np.array([1, 1, 2, 1])
    >>> h = histogram(da.from_array(x, chunks=3), 0, 3, 3, lab, [1, 2])
    >>> [v.tolist() for v in h]
    [[1, 2, 0], [0, 0, 1]]
    >>> all((a == b).all() for a, b in zip(h, ndi.histogram(x, 0, 3, 3, lab, [1, 2])))
    True
    """
    bins = index_of(bins, "bins")
    if bins < 1:
        raise ValueError(f"`bins` must be at least 1; got {bins}.")
    if not float(max) >= float(min):
        raise ValueError(f"`max` must be >= `min`; got min={min!r}, max={max!r}.")
    if labels is None and index is not None:
        raise ValueError("`index` requires `labels`; got index without labels. Pass labels.")
    return region_histograms(regions(input, labels, index), min, max, bins)


@_docs
def median(
    input: ArrayLike, labels: ArrayLike | None = None, index: ArrayLike | None = None
) -> np.floating | np.ndarray:
    """Exact median of ``input`` per region; twin of ``scipy.ndimage.median``. Computes.

    %(measure_parameters)s

    Returns
    -------
    float or ndarray
        What scipy returns, computed: a scalar for one region (NaN when it is empty),
        else an array of ``index``'s shape; float64 for integer and bool input, the
        input's dtype for floats. An absent label gets the smallest value found under
        the smallest label of ``labels`` (scipy's sort-based result).

    Raises
    ------
    %(measure_raises)s

    Notes
    -----
    Computes, in several passes over the data (each an O(chunks)-task tree reduction):
    a counting pass (count, min, max per label), then selection passes that narrow
    each label's key window around its middle rank(s) (windows gathered when they
    are small, else bucketed). Memory per task, however large a label is: a block
    task holds its blocks of ``input`` and ``labels``, at most ``2**22`` bucket
    counters (or 2 buckets per label when there are more labels) and the order keys
    and bucket codes of one slab of ``2**18`` voxels at a time (about 25 bytes per
    voxel: 7 MiB); a merge task holds the values its blocks gathered, at most
    ``2**22`` in all (16 bytes each with their windows, 64 MiB; measured 25 MiB for
    2,219 labels, ``benchmarks/bench_task_memory.py``). Each bucketing pass splits
    a window into up to ``2**16`` buckets (fewer when many labels share the counters)
    and shrinks it to the values present, so small labels finish after one selection
    pass and large ones after a few.

    %(dask_example)s
    >>> from bigimg.ndimage import median
    >>> x = np.array([1., 7., 3., 5., 2., 9.]); lab = np.array([1, 1, 1, 2, 2, 0])
    >>> median(da.from_array(x, chunks=2), lab, [1, 2])
    array([3. , 3.5])
    >>> ndi.median(x, lab, [1, 2])
    array([3. , 3.5])
    """
    return region_median(regions(input, labels, index))


@_docs
def labeled_comprehension(
    input: ArrayLike,
    labels: ArrayLike | None,
    index: ArrayLike | None,
    func: Callable[..., Any],
    out_dtype: DTypeLike,
    default: Any,
    pass_positions: bool = False,
) -> da.Array | Any:
    """Apply ``func`` to the values of each label; twin of
    ``scipy.ndimage.labeled_comprehension``.

    Parameters
    ----------
    input : array_like or dask array
        Values.
    labels : array_like or dask array or None
        Labels, broadcastable to ``input``. ``None``: ``func`` gets ``input.ravel()``.
    index : scalar, array_like or None
        Labels to apply ``func`` to. ``None``: ``func`` gets all values with
        ``labels > 0``.
    func : callable
        ``func(values)`` or, with ``pass_positions``, ``func(values, positions)``;
        values of one label come in C order, positions are flat C-order indices.
    out_dtype : dtype
        dtype of the result.
    default : scalar or None
        Result for labels of ``index`` not present in ``labels``.
    pass_positions : bool, optional
        Pass the flat positions as a second argument.

    Returns
    -------
    dask array or object
        For an array or scalar ``index``: a lazy ``out_dtype`` dask array of
        ``index``'s shape (0-d for a scalar), as scipy's array. With ``labels`` or
        ``index`` None: ``func``'s own return value, computed, as scipy.

    Raises
    ------
    ValueError
        ``index`` without ``labels``; ``index`` values that do not convert to the
        labels' dtype without loss (as scipy).
    TypeError
        ``func`` not callable; non-numeric arrays.

    Notes
    -----
    Computes a table of bounding boxes first (one pass over ``labels``) to plan the
    gather; the result is lazy. Each label is assigned to the *home* block holding
    its bounding box's first corner; every block cuts its voxels into one piece per
    home block, and one task per home block calls ``func`` per label. That task holds
    the voxels of the labels homed there, about 32 bytes each while it sorts them
    (value, int64 position and label, and a sorted copy): up to four times a block of
    float32 ``input`` and int32 ``labels`` when every voxel is labelled (measured with
    10 % labelled and objects smaller than a chunk: 1.0x the two 128³ input blocks,
    ``benchmarks/bench_task_memory.py``), plus the objects reaching beyond the home
    block; a label's voxels must fit in one task. A block task holds its blocks, int32
    label slots for the block and the voxels it sends to home tasks. The graph has
    O(chunks) tasks for objects smaller than a chunk. With ``labels`` or ``index``
    None the selected voxels are gathered into memory and ``func`` runs on the client.

    %(dask_example)s
    >>> from bigimg.ndimage import labeled_comprehension
    >>> x = np.array([[1, 2, 0, 0], [5, 3, 0, 4], [0, 0, 0, 7], [9, 3, 0, 0]])
    >>> lab, n = ndi.label(x)
    >>> r = labeled_comprehension(da.from_array(x, chunks=2), lab, [1, 2, 3, 4],
    ...                           np.mean, float, -1)
    >>> r.compute()
    array([ 2.75,  5.5 ,  6.  , -1.  ])
    >>> ndi.labeled_comprehension(x, lab, [1, 2, 3, 4], np.mean, float, -1)
    array([ 2.75,  5.5 ,  6.  , -1.  ])
    """
    if not callable(func):
        raise TypeError(f"`func` must be callable; got {type(func).__name__}.")
    out_dtype = np.dtype(out_dtype)
    pass_positions = bool(pass_positions)
    if labels is None and index is not None:
        raise ValueError("`index` requires `labels`; got index without labels. Pass labels.")
    if labels is not None and index is not None:
        # scipy checks the index as given (regions() casts it as the reductions do)
        idx = np.atleast_1d(np.asarray(index))
        ldt = np.dtype(labels.dtype if hasattr(labels, "dtype") else np.asarray(labels).dtype)
        if idx.dtype.kind in "biuf":
            with np.errstate(invalid="ignore"):
                lossy = idx.astype(ldt).astype(idx.dtype) != idx
            if np.any(lossy):
                raise ValueError(
                    f"`index` values must convert to the labels' dtype {ldt} without loss; "
                    f"got {idx.dtype} values {idx[lossy][:5]}."
                )
    r = regions(input, labels, index)
    return comprehension(
        r, func, out_dtype=out_dtype, default=default, pass_positions=pass_positions
    )


@_docs
def value_indices(
    arr: ArrayLike, *, ignore_value: int | None = None
) -> dict[Any, tuple[np.ndarray, ...]]:
    """Indices of every distinct value; twin of ``scipy.ndimage.value_indices``. Computes.

    Parameters
    ----------
    arr : array_like or dask array of ints
        Values (typically labels).
    ignore_value : int, optional
        Keyword-only. A value to leave out (e.g. the background 0).

    Returns
    -------
    dict
        ``{value: tuple of ndim intp index arrays}`` in increasing value order, the
        indices of each value in C order, as scipy.

    Raises
    ------
    ValueError
        ``arr`` not of an integer dtype (scipy's message).

    Notes
    -----
    Computes: every block sorts its voxels by value (stable) and returns values and
    flat positions; the client merges them. The result itself holds ``ndim`` indices
    per voxel, so the client needs O(voxels) memory, as scipy does. A block task holds
    its block and, per voxel it keeps (not ``ignore_value``), about 30 bytes while it
    sorts them, of which it returns the value and the int64 position.

    %(dask_example)s
    >>> from bigimg.ndimage import value_indices
    >>> a = np.array([[1, 0, 2], [2, 1, 1]])
    >>> got = value_indices(da.from_array(a, chunks=1), ignore_value=0)
    >>> got[1]
    (array([0, 1, 1]), array([0, 1, 2]))
    >>> ref = ndi.value_indices(a, ignore_value=0)
    >>> list(got) == list(ref) and all(
    ...     all((u == v).all() for u, v in zip(got[k], ref[k])) for k in ref)
    True
    """
    x = as_dask(arr, name="arr")
    if x.dtype.kind not in "iu":  # scipy's words: code matches them
        raise ValueError(f"Parameter 'arr' must be an integer array; got dtype {x.dtype}.")
    if x.ndim == 0:  # one voxel, at the empty position
        value = x.dtype.type(x.compute())
        return {} if ignore_value is not None and value == ignore_value else {value: ()}
    return value_positions(x, ignore_value)
