"""Bounding boxes and per-label histograms: measurements that return Python structures.

Both compute: one tree reduction of per-block tables (bounding boxes, or per-label bin
counts; see :mod:`._reduce`), then the structure scipy returns is built on the
client. The public twins (``find_objects``, ``histogram``) validate their arguments
in :mod:`bigimg.ndimage` and call :func:`bounding_slices` and
:func:`region_histograms`.
"""

from __future__ import annotations

import contextlib
import gc

import dask.array as da
import numpy as np

from bigimg._tables._args import Regions
from bigimg._tables._reduce import lookup, reduce_tables

__all__ = ["bounding_slices", "region_histograms"]


def bounding_slices(lab: da.Array, max_label: int) -> list:
    """scipy's ``find_objects`` list for the integer label array ``lab``. Computes.

    Entry ``i`` is the tuple of slices bounding label ``i + 1`` (``None`` when absent),
    up to ``max_label`` (``< 1``: the largest label present). One pass over ``lab``
    (per-block bounding boxes of the labels present, merged in a tree), then the list
    is built on the client.
    """
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


def region_histograms(r: Regions, min: float, max: float, bins: int):  # noqa: A002
    """scipy's ``histogram`` structure for the regions ``r``. Computes.

    ``bins`` equal bins over ``[min, max]`` (``np.linspace(min, max, bins + 1)`` edges,
    as scipy). One pass in which every block bins its voxels per label (a table of
    labels x bins counts per task), added up in a tree reduction. Returns one int64
    histogram for one region (``None`` for an absent scalar label), else an object
    array of ``r.index``'s shape with ``None`` for absent labels.
    """
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
