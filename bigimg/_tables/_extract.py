"""The extract step: scipy's per-label statistics read off a merged table.

One small task per requested statistic turns the final table of
:func:`~bigimg._tables._reduce.reduce_tables` into scipy's answer for ``index``: sums,
means, variances, extrema, their positions and centres of mass, with what scipy
returns for absent labels and for one empty region. :data:`COLUMNS` says which table
columns each statistic needs; :func:`measure_table` asks for them all in one pass.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from bigimg._tables._args import Regions
from bigimg._tables._reduce import LazyTable, lookup, reduce_tables

__all__ = ["COLUMNS", "extract", "measure_table"]

#: The table columns (:class:`~bigimg._tables._reduce.BlockSpec` fields) of each statistic.
COLUMNS = {
    "count": {},
    "sum": {"values": True},
    "mean": {"values": True},
    "variance": {"m2": True},
    "standard_deviation": {"m2": True},
    "minimum": {"extrema": True},
    "maximum": {"extrema": True},
    "minimum_position": {"extrema": True},
    "maximum_position": {"extrema": True},
    "center_of_mass": {"values": True, "wcoord": True},
}


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy's ``ndarray.sum`` gives (scipy's one-region sums keep it)."""
    return np.zeros(1, dtype).sum().dtype


def _col(table: dict, name: str, pos: np.ndarray) -> np.ndarray:
    """Rows ``pos`` of a table column (zeros when the table is empty)."""
    col = table[name]
    if col.shape[0] == 0:
        return np.zeros((pos.size,) + col.shape[1:], col.dtype)
    return col[pos]


def _empty_single(table: dict, what: str):
    if table["labels"].size == 0:
        raise ValueError(
            f"zero-size array to reduction operation {what} which has no identity: the "
            "region selected by `labels`/`index` holds no voxels."
        )


def _ex_count(table, index, shape):
    if index is None:
        return np.int64(table["count"][0] if table["count"].size else 0)
    pos, found = lookup(table, index)
    return np.where(found, _col(table, "count", pos), 0).reshape(shape)


def _ex_sum(table, index, shape, dtype):
    if index is None:
        total = table["sum"][0] if table["sum"].size else 0
        return np.asarray(total).astype(dtype)[()]
    pos, found = lookup(table, index)
    return np.where(found, _col(table, "sum", pos).astype(np.float64), 0.0).reshape(shape)


def _ex_mean(table, index, shape):
    with np.errstate(invalid="ignore", divide="ignore"):
        if index is None:
            if not table["count"].size:
                return np.float64(np.nan)
            return np.float64(table["sum"][0]) / np.float64(table["count"][0])
        pos, found = lookup(table, index)
        s = np.where(found, _col(table, "sum", pos).astype(np.float64), 0.0)
        n = np.where(found, _col(table, "count", pos), 0).astype(np.float64)
        return (s / n).reshape(shape)


def _ex_var(table, index, shape, std):
    with np.errstate(invalid="ignore", divide="ignore"):
        if index is None:
            v = table["m2"][0] / table["count"][0] if table["count"].size else np.nan
            v = np.float64(v)
        else:
            pos, found = lookup(table, index)
            m2 = np.where(found, _col(table, "m2", pos), 0.0)
            n = np.where(found, _col(table, "count", pos), 0).astype(np.float64)
            v = (m2 / n).reshape(shape)
    return np.sqrt(v) if std else v


def _ex_ext(table, index, shape, col, dtype):
    if index is None:
        _empty_single(table, "minimum" if col == "vmin" else "maximum")
        return table[col][:1].astype(dtype)[0]
    pos, found = lookup(table, index)
    return np.where(found, _col(table, col, pos).astype(dtype), np.zeros((), dtype)).reshape(shape)


def _ex_pos(table, index, gshape, col):
    if index is None:
        _empty_single(table, "minimum" if col == "amin" else "maximum")
        flat = table[col][:1]
    else:
        pos, found = lookup(table, index)
        flat = np.where(found, _col(table, col, pos), 0)
    coords = np.stack(np.unravel_index(flat, gshape), axis=-1).astype(np.intp)
    return coords[0] if index is None else coords


def _ex_com(table, index, ndim):
    with np.errstate(invalid="ignore", divide="ignore"):
        if index is None:
            if not table["count"].size:
                return np.full(ndim, np.nan)
            return table["wcoord"][0] / np.float64(table["sum"][0])
        pos, found = lookup(table, index)
        s = np.where(found, _col(table, "sum", pos).astype(np.float64), 0.0)
        w = np.where(found[:, None], _col(table, "wcoord", pos), 0.0)
        return w / s[:, None]


# ------------------------------------------------------------------------ requests
def measure_table(r: Regions, names, extra: dict | None = None, split_every: int = 16) -> LazyTable:
    """The lazy table holding the columns that the statistics ``names`` need."""
    cols: dict = {}
    for n in names:
        cols.update(COLUMNS[n])
    cols.update(extra or {})
    return reduce_tables(
        r.x, r.labels, {"mode": r.mode, **r.filters, **cols}, split_every=split_every
    )


def extract(name: str, table: LazyTable, r: Regions) -> da.Array:
    """Statistic ``name`` for ``r``'s index, as a lazy one-chunk array (one small task)."""
    idx = None if r.mode != "labels" else r.index
    shape = r.out_shape
    ndim = len(r.shape)
    npos = (int(r.index.size), ndim) if r.mode == "labels" else (ndim,)
    dt = r.x.dtype if r.x is not None else None
    if name == "count":
        return table.array(_ex_count, idx, shape, shape=shape, dtype=np.int64)
    if name == "sum":
        out = _sum_dtype(dt) if r.mode != "labels" else np.dtype(np.float64)
        return table.array(_ex_sum, idx, shape, out, shape=shape, dtype=out)
    if name == "mean":
        return table.array(_ex_mean, idx, shape, shape=shape, dtype=np.float64)
    if name in ("variance", "standard_deviation"):
        std = name == "standard_deviation"
        return table.array(_ex_var, idx, shape, std, shape=shape, dtype=np.float64)
    if name in ("minimum", "maximum"):
        col = "vmin" if name == "minimum" else "vmax"
        return table.array(_ex_ext, idx, shape, col, dt, shape=shape, dtype=dt)
    if name in ("minimum_position", "maximum_position"):
        col = "amin" if name == "minimum_position" else "amax"
        return table.array(_ex_pos, idx, r.shape, col, shape=npos, dtype=np.intp)
    if name == "center_of_mass":
        return table.array(_ex_com, idx, ndim, shape=npos, dtype=np.float64)
    raise ValueError(f"unknown statistic {name!r}")
