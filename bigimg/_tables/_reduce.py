"""The measurement engine: per-block partial tables merged by a tree reduction.

Every per-label statistic in bigimg (``sum_labels`` ... ``find_objects``, region
tables, clean-up) is computed the same way:

1. **block** — each block turns its labels into block-local *slots* (one per label
   present and measured) and runs numba passes (:mod:`._kernels`) that fill a small
   *table*: label values plus per-label columns (count, native sum, centred sum of
   squares, min/max and their first flat positions, bounding box, value-weighted
   coordinates, raw moments, histograms); large blocks are walked slab by slab
   (:mod:`._block`).
2. **merge** — tables are merged ``split_every`` at a time in a tree of tasks
   (:func:`bigimg._tables._tree.tree_reduce`):
   counts and sums add, minima/maxima keep the smallest flat position among ties,
   centred sums of squares combine with Chan's parallel formula, and raw moments are
   shifted to the merged bounding-box corner (binomial expansion with non-negative
   shifts, so no cancellation) before they add.
3. **extract** — one small task per requested result turns the final table into
   scipy's answer for ``index`` (what scipy returns for absent labels included;
   :mod:`._extract`).

A table holds only labels present in the blocks below it, so a block task holds its
input blocks, at most a slab's worth of temporaries and O(labels in the block); a merge
task O(labels) rows; the graph has O(chunks) tasks whatever the number of labels.
"""

from __future__ import annotations

import math
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._args import as_dask
from bigimg._tables._block import BlockSpec, block_table
from bigimg._tables._tree import chunk_offsets, tree_reduce

__all__ = [
    "LazyTable",
    "align",
    "lookup",
    "merge_tables",
    "make_spec",
    "reduce_tables",
    "shift_moments",
]

#: Largest exact index set embedded in every block task (bigger sets filter by range).
_MAX_EMBEDDED_MEMBERS = 64
_INT64_MAX = np.iinfo(np.int64).max


# ----------------------------------------------------------------------------- inputs
def align(input: Any, labels: Any, *, input_name="input", labels_name="labels"):
    """Both arrays as dask arrays of one shape and identical chunks (scipy broadcasting).

    Either may be ``None``. Raises ``ValueError`` when the shapes do not broadcast.
    """
    x = None if input is None else as_dask(input, name=input_name)
    lab = None if labels is None else as_dask(labels, name=labels_name)
    if x is None or lab is None:
        return x, lab
    try:
        shape = np.broadcast_shapes(x.shape, lab.shape)
    except ValueError as exc:
        raise ValueError(
            f"`{labels_name}` must have the shape of `{input_name}` (or broadcast to it); "
            f"got {lab.shape} and {x.shape}."
        ) from exc
    if x.shape != shape:
        x = da.broadcast_to(x, shape)
    if lab.shape != shape:
        lab = da.broadcast_to(lab, shape)
    if x.chunks != lab.chunks:
        lab = lab.rechunk(x.chunks)
    return x, lab


# ------------------------------------------------------------------------------ merge
def shift_moments(mom: np.ndarray, delta: np.ndarray, order: int) -> np.ndarray:
    """Raw moments about corner ``c`` -> about ``c - delta`` (``delta`` per row, per axis).

    ``mom`` is ``(n, (order+1)**ndim)``. Uses ``sum_a C(p, a) delta**(p-a) M_a`` on each
    axis in turn.
    """
    n = mom.shape[0]
    if n == 0:
        return mom.copy()
    ndim = delta.shape[1]
    o = order + 1
    g = mom.reshape((n,) + (o,) * ndim)
    p = np.arange(o)
    binom = np.array([[math.comb(i, j) for j in range(o)] for i in range(o)], np.float64)
    diff = np.clip(p[:, None] - p[None, :], 0, None)
    lower = p[:, None] >= p[None, :]
    for d in range(ndim):
        powers = delta[:, d : d + 1].astype(np.float64) ** p  # (n, o)
        s = np.where(lower, binom * powers[:, diff], 0.0)  # (n, p, a)
        moved = np.moveaxis(g, d + 1, -1)
        mshape = moved.shape
        out = moved.reshape(n, -1, o) @ np.swapaxes(s, 1, 2)
        g = np.moveaxis(out.reshape(mshape), -1, d + 1)
    return np.ascontiguousarray(g.reshape(n, -1))


def merge_tables(spec: BlockSpec, tables: list[dict]) -> dict:
    """Merge partial tables into one (the reduce step; associative and commutative)."""
    out: dict = {}
    if spec.first:
        fl = np.concatenate([t["first_label"] for t in tables])
        fv = np.concatenate([t["first_value"] for t in tables])
        if fl.size:
            sel = fl == fl.min()
            out["first_label"], out["first_value"] = fl[sel][:1], np.array([fv[sel].min()])
        else:
            out["first_label"], out["first_value"] = fl, fv
    labs = np.concatenate([t["labels"] for t in tables])
    uniq, inv = np.unique(labs, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    sinv = inv[order]
    starts = np.flatnonzero(np.r_[True, sinv[1:] != sinv[:-1]]) if sinv.size else sinv
    out["labels"] = uniq

    def cat(name):
        return np.concatenate([t[name] for t in tables])[order]

    def add(name):
        arr = cat(name)
        return np.add.reduceat(arr, starts, axis=0) if arr.shape[0] else arr

    count = add("count")
    out["count"] = count
    names = tables[0].keys()
    if "lo" in names:
        lo_s = cat("lo")
        glo = np.minimum.reduceat(lo_s, starts, axis=0) if lo_s.shape[0] else lo_s
        hi_s = cat("hi")
        out["lo"] = glo
        out["hi"] = np.maximum.reduceat(hi_s, starts, axis=0) if hi_s.shape[0] else hi_s
    if "sum" in names:
        out["sum"] = add("sum")
    if "m2" in names:
        n_i = cat("count").astype(np.float64)
        s_i = cat("sum").astype(np.float64)
        gmean = out["sum"].astype(np.float64) / np.maximum(count, 1)
        dev = s_i / np.maximum(n_i, 1) - gmean[sinv]
        m2 = cat("m2") + n_i * dev * dev
        out["m2"] = np.add.reduceat(m2, starts) if m2.size else m2
    if "vmin" in names:
        for v, a, red in (("vmin", "amin", np.minimum), ("vmax", "amax", np.maximum)):
            vs, as_ = cat(v), cat(a)
            if not vs.size:
                out[v], out[a] = vs, as_
                continue
            best = red.reduceat(vs, starts)
            cand = np.where(vs == best[sinv], as_, _INT64_MAX)
            out[v], out[a] = best, np.minimum.reduceat(cand, starts)
    if "wcoord" in names:
        out["wcoord"] = add("wcoord")
    for col, mo in (("mom", spec.moments), ("wmom", spec.wmoments)):
        if col in names:
            m = cat(col)
            if m.shape[0]:
                m = shift_moments(m, (lo_s - glo[sinv]).astype(np.float64), mo)
                m = np.add.reduceat(m, starts, axis=0)
            out[col] = m
    if "hist" in names:
        out["hist"] = add("hist")
    return out


# ---------------------------------------------------------------------- graph / lazy
class LazyTable:
    """A merged table not yet computed: one graph key plus helpers to extract results.

    ``array(func, *args, shape=..., dtype=...)`` adds one task ``func(table, *args)``
    and returns it as a single-chunk dask array; results extracted from the same
    ``LazyTable`` share its graph, so ``dask.compute(a, b, ...)`` reads the data once.
    """

    def __init__(self, delayed: Delayed, spec: BlockSpec):
        self.delayed = delayed
        self.spec = spec

    def compute(self, **kwargs) -> dict:
        return self.delayed.compute(**kwargs)

    def array(self, func, *args, shape=(), dtype=np.float64) -> da.Array:
        dtype = np.dtype(dtype)
        name = (
            f"{func.__name__.strip('_').replace('_', '-')}-{tokenize(self.delayed.key, func, args)}"
        )
        key = (name,) + (0,) * len(shape)
        graph = HighLevelGraph.from_collections(
            name, {key: (func, self.delayed.key, *args)}, dependencies=[self.delayed]
        )
        return da.Array(
            graph,
            name,
            chunks=tuple((int(s),) for s in shape),
            dtype=dtype,
            meta=np.empty((0,) * len(shape), dtype),
        )


def make_spec(ref: da.Array, inputs: str, **fields) -> BlockSpec:
    """A :class:`BlockSpec` for blocks of ``ref`` (its shape and chunk offsets)."""
    return BlockSpec(
        shape=tuple(int(s) for s in ref.shape),
        offsets=chunk_offsets(ref.chunks),
        inputs=inputs,
        **fields,
    )


def reduce_tables(x, lab, spec_kwargs: dict, *, split_every: int = 16) -> LazyTable:
    """The lazy merged table of aligned dask arrays ``x`` (values) and/or ``lab``.

    ``spec_kwargs`` are :class:`BlockSpec` fields other than shape, offsets and inputs.
    """
    inputs = ("x" if x is not None else "") + ("l" if lab is not None else "")
    arrays = [a for a in (x, lab) if a is not None]
    spec = make_spec(arrays[0], inputs, **spec_kwargs)
    result = tree_reduce(arrays, block_table, merge_tables, spec, split_every=split_every)
    return LazyTable(result, spec)


# --------------------------------------------------------------------------- extract
def lookup(table: dict, index: np.ndarray):
    """Rows of ``table`` for each entry of ``index`` (flattened) and whether it was found."""
    keys = table["labels"]
    idx = np.asarray(index).reshape(-1)
    if keys.size == 0 or idx.size == 0:
        return np.zeros(idx.size, np.intp), np.zeros(idx.size, bool)
    pos = np.searchsorted(keys, idx)
    pos = np.minimum(pos, keys.size - 1)
    found = keys[pos] == idx
    return pos, found
