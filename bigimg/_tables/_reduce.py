"""The measurement engine: per-block partial tables merged by a tree reduction.

Every per-label statistic in bigimg (``sum_labels`` ... ``find_objects``, region
tables, clean-up) is computed the same way:

1. **kernel** — each block turns its labels into block-local *slots* (one per label
   present and measured) and runs one numba pass (:mod:`._kernels`) that
   fills a small *table*: label values plus per-label columns (count, native sum,
   centred sum of squares, min/max and their first flat positions, bounding box,
   value-weighted coordinates, raw moments, histograms).
2. **merge** — tables are merged ``split_every`` at a time in a tree of tasks
   (:func:`bigimg._tables._tree.tree_reduce`):
   counts and sums add, minima/maxima keep the smallest flat position among ties,
   centred sums of squares combine with Chan's parallel formula, and raw moments are
   shifted to the merged bounding-box corner (binomial expansion with non-negative
   shifts, so no cancellation) before they add.
3. **extract** — one small task per requested result turns the final table into
   scipy's answer for ``index`` (what scipy returns for absent labels included;
   :mod:`._extract`).

A table holds only labels present in the blocks below it, so no task holds more than
O(labels) memory and the graph has O(chunks) tasks whatever the number of labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._args import as_dask
from bigimg._tables import _kernels as K
from bigimg._tables._tree import chunk_offsets, tree_reduce

__all__ = [
    "SINGLE",
    "BlockSpec",
    "LazyTable",
    "align",
    "block_codes",
    "lookup",
    "merge_tables",
    "make_spec",
    "reduce_tables",
    "shift_moments",
]

#: The label value under which single-region modes ("all", "positive", "equal") store
#: their one region.
SINGLE = np.zeros(1, np.int64)

#: Largest exact index set embedded in every block task (bigger sets filter by range).
_MAX_EMBEDDED_MEMBERS = 64
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


@dataclass(frozen=True)
class BlockSpec:
    """What one block task measures: the region mode, the label filter and the columns.

    ``mode`` is ``"all"`` (no labels: the whole input is one region), ``"positive"``
    (``labels > 0`` is one region), ``"equal"`` (``labels == target`` is one region) or
    ``"labels"`` (one region per label value, restricted to ``lo <= label <= hi`` and,
    when given, to ``members``). Small and picklable: it is sent with every block task.
    """

    mode: str
    shape: tuple[int, ...]
    offsets: tuple[tuple[int, ...], ...]
    target: Any = None
    lo: Any = None
    hi: Any = None
    members: tuple | None = None
    bbox: bool = False
    values: bool = False
    extrema: bool = False
    m2: bool = False
    wcoord: bool = False
    moments: int = -1
    wmoments: int = -1
    hist_edges: tuple | None = None
    first: bool = False
    inputs: str = "xl"

    @property
    def single(self) -> bool:
        return self.mode != "labels"


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


# ----------------------------------------------------------------------------- kernel
def _keep_mask(keys: np.ndarray, spec: BlockSpec) -> np.ndarray:
    keep = np.ones(keys.shape, bool)
    if spec.lo is not None:
        keep &= keys >= spec.lo
    if spec.hi is not None:
        keep &= keys <= spec.hi
    if spec.members is not None:
        members = np.asarray(spec.members)
        if members.size == 0:
            return np.zeros(keys.shape, bool)
        at = np.minimum(np.searchsorted(members, keys), members.size - 1)
        keep &= members[at] == keys
    return keep


def _as_label_values(lab: np.ndarray) -> np.ndarray:
    flat = np.ascontiguousarray(lab).reshape(-1)
    return flat.view(np.uint8) if flat.dtype == bool else flat


def _bound(value, lower: bool) -> int:
    """The integer range ``v >= value`` (``lower``) or ``v <= value`` keeps, for any real."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    if math.isnan(value):
        return _INT64_MAX if lower else _INT64_MIN  # keeps nothing
    if math.isinf(value):
        return (
            (_INT64_MIN if value < 0 else _INT64_MAX)
            if lower
            else (_INT64_MAX if value > 0 else _INT64_MIN)
        )
    return math.ceil(value) if lower else math.floor(value)


def block_codes(lab: np.ndarray | None, spec: BlockSpec, size: int):
    """The block's slot array (``int32``, C order, ``-1`` = not measured) and slot keys.

    Integer labels whose range in the block is small use a dense lookup table (no
    sort); others fall back to ``np.unique``.
    """
    if spec.mode == "all":
        return SINGLE, np.zeros(size, np.int32)
    flat = _as_label_values(lab)
    if spec.mode == "positive":
        return SINGLE, np.where(flat > 0, 0, -1).astype(np.int32)
    if spec.mode == "equal":
        return SINGLE, np.where(flat == spec.target, 0, -1).astype(np.int32)
    if flat.size == 0:
        return flat[:0], np.zeros(0, np.int32)
    kind = flat.dtype.kind
    if kind in "iu" and spec.members is None and not (kind == "u" and flat.itemsize == 8):
        lo, hi = (int(v) for v in K.int_range(flat))
        span = hi - lo + 1
        if span <= 2 * flat.size + 65536:
            keep_lo = _INT64_MIN if spec.lo is None else max(_bound(spec.lo, True), _INT64_MIN)
            keep_hi = _INT64_MAX if spec.hi is None else min(_bound(spec.hi, False), _INT64_MAX)
            if keep_lo > keep_hi:
                return flat[:0], np.full(flat.size, -1, np.int32)
            keys, codes = K.dense_codes(flat, lo, span, keep_lo, keep_hi)
            return keys.astype(flat.dtype), codes
    if kind in "iu":
        lo, hi = int(flat.min()), int(flat.max())
        span = hi - lo + 1
        if span <= 2 * flat.size + 65536 and hi < 2**63:
            off = np.subtract(flat, flat.dtype.type(lo), dtype=np.intp, casting="unsafe")
            present = np.flatnonzero(np.bincount(off, minlength=span))
            keys = (present + lo).astype(flat.dtype)
            keep = _keep_mask(keys, spec)
            lut = np.full(span, -1, np.int32)
            lut[present[keep]] = np.arange(int(keep.sum()), dtype=np.int32)
            return keys[keep], np.take(lut, off)
    keys, inv = np.unique(flat, return_inverse=True)
    keep = _keep_mask(keys, spec)
    remap = np.full(keys.size, -1, np.int32)
    remap[keep] = np.arange(int(keep.sum()), dtype=np.int32)
    return keys[keep], np.take(remap, inv.reshape(-1))


def _columns(spec: BlockSpec, ndim: int, n: int, vdtype, key_dtype) -> dict:
    t = {"labels": np.zeros(n, key_dtype), "count": np.zeros(n, np.int64)}
    if spec.bbox or spec.moments >= 0 or spec.wmoments >= 0:
        t["lo"] = np.zeros((n, ndim), np.int64)
        t["hi"] = np.zeros((n, ndim), np.int64)
    if spec.values or spec.m2:
        t["sum"] = np.zeros(n, vdtype)
    if spec.extrema:
        for c in ("vmin", "vmax"):
            t[c] = np.zeros(n, vdtype)
        for c in ("amin", "amax"):
            t[c] = np.zeros(n, np.int64)
    if spec.m2:
        t["m2"] = np.zeros(n, np.float64)
    if spec.wcoord:
        t["wcoord"] = np.zeros((n, ndim), np.float64)
    if spec.moments >= 0:
        t["mom"] = np.zeros((n, (spec.moments + 1) ** ndim), np.float64)
    if spec.wmoments >= 0:
        t["wmom"] = np.zeros((n, (spec.wmoments + 1) ** ndim), np.float64)
    if spec.hist_edges is not None:
        t["hist"] = np.zeros((n, len(spec.hist_edges) - 1), np.int64)
    if spec.first:
        t["first_label"] = np.zeros(0, np.float64)
        t["first_value"] = np.zeros(0, vdtype)
    return t


def _origin(spec: BlockSpec, block_id) -> np.ndarray:
    return np.array([spec.offsets[d][b] for d, b in enumerate(block_id)], np.int64)


def block_table(spec: BlockSpec, *arrays, block_id=None) -> dict:
    """The partial table of one block (the map step).

    ``arrays`` holds the value block and/or the label block, as ``spec.inputs`` says.
    """
    x = arrays[0] if "x" in spec.inputs else None
    lab = arrays[-1] if "l" in spec.inputs else None
    ref = arrays[0]
    ndim = ref.ndim
    shape = np.array(ref.shape, np.int64)
    vals = K.canonical_values(x) if x is not None else None
    key_dtype = SINGLE.dtype if spec.single else _as_label_values(lab).dtype
    keys, codes = block_codes(lab, spec, int(ref.size))
    nslots = keys.size
    want_bbox = spec.bbox or spec.moments >= 0 or spec.wmoments >= 0
    count, lo, hi = K.block_geometry(codes, shape, nslots, want_bbox)
    t = _columns(spec, ndim, nslots, vals.dtype if vals is not None else np.int64, key_dtype)
    t["labels"] = keys
    t["count"] = count
    origin = _origin(spec, block_id)
    if want_bbox:
        t["lo"], t["hi"] = lo + origin, hi + origin
    if spec.values or spec.extrema or spec.wcoord or spec.m2:
        gstrides = np.array([math.prod(spec.shape[d + 1 :]) for d in range(ndim)], np.int64)
        total, vmin, vmax, amin, amax, wco = K.block_values(
            codes, vals, shape, origin, gstrides, nslots, spec.extrema, spec.wcoord
        )
        t["sum"] = total
        if spec.extrema:
            t.update(vmin=vmin, vmax=vmax, amin=amin, amax=amax)
        if spec.wcoord:
            t["wcoord"] = wco
        if spec.m2:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total.astype(np.float64) / count
            t["m2"] = K.block_sq_dev(codes, vals, mean)
    for col, order, weighted in (("mom", spec.moments, False), ("wmom", spec.wmoments, True)):
        if order >= 0:
            w = vals.astype(np.float64, copy=False) if weighted else np.zeros(1)
            exps = K.moment_exponents(order, ndim)
            t[col] = K.block_moments(codes, w, weighted, shape, lo, exps, order)
    if spec.hist_edges is not None:
        t["hist"] = _block_hist(codes, vals, nslots, np.asarray(spec.hist_edges))
    if spec.first:
        t["first_label"], t["first_value"] = _block_first(lab, vals)
    if spec.single and nslots and count[0] == 0:
        t = {k: (v[:0] if not k.startswith("first") else v) for k, v in t.items()}
    return t


def _block_hist(codes, vals, nslots, edges):
    nb = edges.size - 1
    v = vals.astype(np.float64, copy=False)
    b = np.searchsorted(edges, v, side="right") - 1
    b[v == edges[-1]] = nb - 1
    ok = (codes >= 0) & (b >= 0) & (b < nb)
    flat = codes[ok].astype(np.int64) * nb + b[ok]
    return np.bincount(flat, minlength=nslots * nb).reshape(nslots, nb)


def _block_first(lab, vals):
    """The smallest label in the block and the smallest value under it (scipy's median
    returns that value for absent labels)."""
    flat = _as_label_values(lab)
    if flat.size == 0:
        return np.zeros(0, np.float64), vals[:0]
    smallest = flat.min()
    return np.array([smallest]), np.array([vals[flat == smallest].min()])


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
