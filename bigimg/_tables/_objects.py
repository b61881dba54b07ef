"""``find_objects`` and ``histogram``: measurements that return Python structures.

Both compute: one tree reduction of per-block tables (bounding boxes, or per-label bin
counts; see :mod:`._reduce`), then the structure scipy returns is built on the
client.
"""

from __future__ import annotations

import contextlib
import gc
import operator
from typing import Any

import numpy as np

from bigimg._tables._args import regions
from bigimg._tables._reduce import align, lookup, reduce_tables

__all__ = ["find_objects", "histogram"]


def find_objects(input: Any, max_label: int = 0) -> list:
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
    merged in a tree), then builds the list on the client. Tasks hold one block or
    O(labels) rows; the list itself is O(max_label).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import find_objects
    >>> a = np.array([[0, 2, 2], [0, 0, 3], [1, 0, 0]])
    >>> find_objects(da.from_array(a, chunks=2)) == ndi.find_objects(a)
    True
    """
    lab = align(None, input, labels_name="input")[1]
    if lab.dtype.kind not in "iu":
        raise TypeError(f"`input` must be an integer label array; got dtype {lab.dtype}.")
    try:
        max_label = operator.index(max_label)
    except TypeError as exc:
        raise TypeError(f"`max_label` must be an integer; got {max_label!r}.") from exc
    filters = {"lo": 1, "hi": max_label if max_label >= 1 else None}
    table = reduce_tables(None, lab, {"mode": "labels", "bbox": True, **filters}).compute()
    keys = table["labels"].astype(np.int64)
    n = max_label if max_label >= 1 else (int(keys.max()) if keys.size else 0)
    with _gc_paused():  # ~4 objects per label: collections would rescan them all
        per_axis = [
            map(slice, lo.tolist(), hi.tolist())
            for lo, hi in zip(table["lo"].T, table["hi"].T + 1, strict=True)
        ]
        rows = list(zip(*per_axis, strict=True))
        if keys.size == n and (np.diff(keys) == 1).all() and (not n or keys[0] == 1):
            return rows  # every label 1..n present (the usual case after label)
        out: list = [None] * n
        for key, row in zip(keys.tolist(), rows, strict=True):
            out[key - 1] = row
    return out


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while building many small containers."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def histogram(input: Any, min, max, bins, labels: Any = None, index: Any = None):  # noqa: A002
    """Histogram of ``input`` per region; twin of ``scipy.ndimage.histogram``. Computes.

    Parameters
    ----------
    input : array_like or dask array
        Values to bin.
    min, max : float
        Range of the bins (``np.linspace(min, max, bins + 1)`` edges, as scipy).
    bins : int
        Number of bins.
    labels, index : optional
        As :func:`sum_labels`; ``index`` without ``labels`` raises ``ValueError``.

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
    one block plus O(labels x bins).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import histogram
    >>> x = np.array([0.5, 1.5, 2.5, 1.2]); lab = np.array([1, 1, 2, 1])
    >>> h = histogram(da.from_array(x, chunks=3), 0, 3, 3, lab, [1, 2])
    >>> [v.tolist() for v in h]
    [[1, 2, 0], [0, 0, 1]]
    >>> all((a == b).all() for a, b in zip(h, ndi.histogram(x, 0, 3, 3, lab, [1, 2])))
    True
    """
    try:
        bins = operator.index(bins)
    except TypeError as exc:
        raise TypeError(f"`bins` must be an integer; got {bins!r}.") from exc
    if bins < 1:
        raise ValueError(f"`bins` must be at least 1; got {bins}.")
    if not float(max) >= float(min):
        raise ValueError(f"`max` must be >= `min`; got min={min!r}, max={max!r}.")
    if labels is None and index is not None:
        raise ValueError("`index` requires `labels`; got index without labels. Pass labels.")
    r = regions(input, labels, index)
    edges = tuple(float(e) for e in np.linspace(min, max, bins + 1))
    table = reduce_tables(
        r.x, r.labels, {"mode": r.mode, **r.filters, "hist_edges": edges}
    ).compute()
    if r.mode != "labels":
        if r.mode == "equal" and not table["labels"].size:
            return None
        return table["hist"][0] if table["hist"].shape[0] else np.zeros(bins, np.int64)
    pos, found = lookup(table, r.index)
    out = np.empty(r.index.size, object)
    for i, (p, f) in enumerate(zip(pos.tolist(), found.tolist(), strict=True)):
        out[i] = table["hist"][p].copy() if f else None
    return out.reshape(r.index.shape)
