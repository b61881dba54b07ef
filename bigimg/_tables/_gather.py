"""Measurements that need every value of a label at once: scipy's ``labeled_comprehension``
(:func:`comprehension`) and ``value_indices`` (:func:`value_positions`).

``labeled_comprehension`` groups voxels by label without one mask per label:

1. **plan** (computes) — a tree reduction gives each label's bounding box; each label
   is assigned to the *home* block holding its box's first corner, and the blocks its
   box overlaps are listed (small objects overlap one to eight blocks);
2. **split** — each block sorts its measured voxels by (label, position) and cuts them
   into one piece per home block that needs them;
3. **gather** — one task per home block concatenates its pieces, restores C order per
   label and calls ``func`` per label;
4. **assemble** — one task puts the results in ``index`` order (``default`` for
   absent labels).

Tasks: blocks + (block, home) pairs + homes + 1, so O(chunks) for objects smaller than
a chunk. A home task holds the voxels of its labels: about one block, plus objects
reaching beyond it (a single label's values must be in one task: ``func`` wants them
all).
"""

from __future__ import annotations

from collections.abc import Callable

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._tables._args import Regions
from bigimg._tables._block import block_codes
from bigimg._tables._reduce import make_spec, reduce_tables
from bigimg._tables._tree import chunk_offsets, flat_keys

__all__ = ["comprehension", "gather_apply", "value_positions"]


def _block_positions(shape, origin, gshape) -> np.ndarray:
    """Global C-order flat index of every voxel of a block, flattened."""
    flat = np.zeros(shape, np.int64)
    stride = 1
    for d in range(len(gshape) - 1, -1, -1):
        ax = (np.arange(shape[d], dtype=np.int64) + origin[d]) * stride
        flat += ax.reshape((-1,) + (1,) * (len(shape) - d - 1))
        stride *= gshape[d]
    return flat.reshape(-1)


def _positions(sel, shape, origin, gshape) -> np.ndarray:
    """Global C-order flat index of the block's voxels at block-local flat indices ``sel``.

    Works from the global index of each row's first voxel (one per row along the last
    axis), so it costs about three int64 arrays of ``sel``'s size, not the block's.
    """
    if not len(shape) or sel.size == 0:
        return np.zeros(sel.size, np.int64)
    rowlen = int(shape[-1])
    rows = _block_positions(tuple(shape[:-1]) + (1,), origin, gshape)
    q = sel // rowlen
    pos = rows[q]
    q *= rowlen
    pos += sel
    pos -= q
    return pos


def _origin(offsets, block_id):
    return [offsets[d][b] for d, b in enumerate(block_id)]


# --------------------------------------------------------------- labeled_comprehension
def _split_block(spec, x, lab, plan, block_id=None):
    """Pieces ``{home: (labels, positions, values)}`` of one block, sorted by label.

    Per voxel it makes the slot codes (4 bytes) and a mask (1 byte); everything else is
    per voxel sent to a home block.
    """
    keys, codes = block_codes(lab, spec, lab.size)
    labels, homes = plan["labels"], plan["home"]
    row = np.minimum(np.searchsorted(labels, keys), max(labels.size - 1, 0))
    found = labels[row] == keys if labels.size else np.zeros(keys.size, bool)
    slot_home = np.where(found, homes[row] if labels.size else -1, -1)
    sel = np.flatnonzero(codes >= 0)  # (indexing by the int32 codes would copy them)
    home = slot_home[codes[sel]]
    del codes
    sel, home = sel[home >= 0], home[home >= 0]
    pos = _positions(sel, lab.shape, _origin(spec.offsets, block_id), spec.shape)
    vals = np.ascontiguousarray(x).reshape(-1)[sel]
    labs = np.ascontiguousarray(lab).reshape(-1)[sel]
    del sel
    order = np.argsort(home, kind="stable")
    home, pos, vals, labs = home[order], pos[order], vals[order], labs[order]
    cuts = np.flatnonzero(np.r_[True, home[1:] != home[:-1]]) if home.size else home
    bounds = np.r_[cuts, home.size]
    return {
        int(home[a]): (labs[a:b], pos[a:b], vals[a:b])
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    }


def _piece(pieces: dict, home: int):
    return pieces.get(home)


def _apply_home(pieces, func, out_dtype, pass_positions):
    pieces = [p for p in pieces if p is not None]
    labs = np.concatenate([p[0] for p in pieces])
    pos = np.concatenate([p[1] for p in pieces])
    vals = np.concatenate([p[2] for p in pieces])
    order = np.lexsort((pos, labs))
    labs, pos, vals = labs[order], pos[order], vals[order]
    cuts = np.flatnonzero(np.r_[True, labs[1:] != labs[:-1]])
    bounds = np.r_[cuts, labs.size]
    out = np.empty(cuts.size, out_dtype)
    for i, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
        out[i] = func(vals[a:b], pos[a:b]) if pass_positions else func(vals[a:b])
    return labs[cuts], out


def _assemble(index, out_dtype, default, *results):
    labs = np.concatenate([r[0] for r in results]) if results else np.zeros(0)
    vals = np.concatenate([r[1] for r in results]) if results else np.zeros(0, out_dtype)
    order = np.argsort(labs, kind="stable")
    labs, vals = labs[order], vals[order]
    flat = index.reshape(-1)
    out = np.empty(flat.shape, out_dtype)
    out[:] = default
    if labs.size:
        pos = np.minimum(np.searchsorted(labs, flat), labs.size - 1)
        found = labs[pos] == flat
        out[found] = vals[pos[found]]
    return out.reshape(index.shape)


def _plan(table: dict, chunks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Home block of each label and the distinct (block, home) pairs its box covers."""
    nblocks = tuple(len(c) for c in chunks)
    starts = [np.cumsum((0,) + tuple(c))[:-1] for c in chunks]
    b0 = np.stack(
        [np.searchsorted(s, table["lo"][:, d], "right") - 1 for d, s in enumerate(starts)], axis=1
    )
    b1 = np.stack(
        [np.searchsorted(s, table["hi"][:, d], "right") - 1 for d, s in enumerate(starts)], axis=1
    )
    home = np.ravel_multi_index(tuple(b0.T), nblocks) if b0.size else np.zeros(0, np.intp)
    extent = b1 - b0 + 1
    per = np.prod(extent, axis=1)
    lab_of = np.repeat(np.arange(per.size), per)
    rank = np.arange(lab_of.size) - np.repeat(np.cumsum(per) - per, per)
    coords = []
    for d in range(len(nblocks) - 1, -1, -1):
        e = extent[lab_of, d]
        coords.append(b0[lab_of, d] + rank % e)
        rank = rank // e
    blocks = np.ravel_multi_index(tuple(coords[::-1]), nblocks) if lab_of.size else lab_of
    pairs = (
        np.unique(np.stack([blocks, home[lab_of]], axis=1), axis=0)
        if lab_of.size
        else (np.zeros((0, 2), np.intp))
    )
    return home, pairs, np.unique(home)


def comprehension(
    r: Regions, func: Callable, *, out_dtype: np.dtype, default, pass_positions: bool
):
    """scipy's ``labeled_comprehension`` over the validated regions ``r``.

    For one region (``r.mode`` ``"all"`` or ``"positive"``) the selected values (and
    flat positions) are gathered into memory and ``func``'s own result is returned,
    computed. Otherwise (``index`` values already checked to convert to the labels'
    dtype without loss) a table of bounding boxes is computed to plan the gather and
    the result is a lazy ``out_dtype`` array of ``index``'s shape (see
    :func:`gather_apply` and the module docstring).
    """
    if r.mode in ("all", "positive"):
        vals, pos = _gather_single(r)
        return func(vals, pos) if pass_positions else func(vals)
    idx = np.atleast_1d(r.index).astype(r.labels.dtype)
    filters = {"lo": idx.min().item(), "hi": idx.max().item()} if idx.size else {"members": ()}
    if r.mode == "equal":
        filters = {"lo": idx[0].item(), "hi": idx[0].item()}
    table = reduce_tables(None, r.labels, {"mode": "labels", "bbox": True, **filters}).compute()
    keep = np.isin(table["labels"], idx)
    table = {k: v[keep] for k, v in table.items()}
    result = gather_apply(
        r.x,
        r.labels,
        table,
        filters,
        func,
        out_dtype=out_dtype,
        default=default,
        pass_positions=pass_positions,
        idx=idx,
    )
    return result if not r.scalar else result.reshape(())


def gather_apply(x, lab, table, filters, func, *, out_dtype, default, pass_positions, idx):
    """Lazy ``func`` per label of ``idx`` over aligned ``x``/``lab`` (see module notes).

    ``table`` holds the sorted ``labels`` to gather and their bounding boxes (``lo``,
    ``hi``); ``filters`` are the :class:`~bigimg._tables._reduce.BlockSpec` label
    filters; ``out_dtype``, ``default`` and ``pass_positions`` are those of
    scipy's ``labeled_comprehension``. Returns an ``out_dtype`` dask array of ``idx``'s shape.
    """
    home, pairs, homes = _plan(table, lab.chunks)
    plan = dask.delayed({"labels": table["labels"], "home": home}, pure=True)
    spec = make_spec(lab, "xl", mode="labels", **filters)
    token = tokenize(x, lab, func, out_dtype, default, pass_positions, idx, spec)
    split = da.map_blocks(
        _split_block_task,
        x,
        lab,
        plan,
        spec=spec,
        dtype=object,
        meta=np.empty((0,) * lab.ndim, object),
        name=f"gather-split-{token}",
    )
    bkeys = list(flat_keys(split.__dask_keys__()))
    pname, hname, fname = (f"gather-{w}-{token}" for w in ("piece", "apply", "assemble"))
    dsk: dict = {}
    by_home: dict[int, list] = {}
    for b, h in pairs.tolist():
        dsk[(pname, b, h)] = (_piece, bkeys[b], h)
        by_home.setdefault(h, []).append((pname, b, h))
    for h in homes.tolist():
        dsk[(hname, h)] = (_apply_home, by_home[h], func, out_dtype, pass_positions)
    shape = tuple(idx.shape)
    key = (fname,) + (0,) * len(shape)
    dsk[key] = (_assemble, idx, out_dtype, default, *[(hname, h) for h in homes.tolist()])
    graph = HighLevelGraph.from_collections(fname, dsk, dependencies=[split])
    return da.Array(
        graph,
        fname,
        chunks=tuple((s,) for s in shape),
        dtype=out_dtype,
        meta=np.empty((0,) * len(shape), out_dtype),
    )


def _split_block_task(x, lab, plan, spec=None, block_id=None):
    return _split_block(spec, x, lab, plan, block_id=block_id)


def _gather_single(r):
    """Values (C order) and flat positions of the one region, computed."""
    arrays = [a for a in (r.x, r.labels) if a is not None]
    gshape = r.shape
    parts = da.map_blocks(
        _single_block,
        *arrays,
        offsets=chunk_offsets(arrays[0].chunks),
        gshape=gshape,
        dtype=object,
        meta=np.empty((0,) * len(gshape), object),
    )
    got = _collect(parts).compute()
    pos = np.concatenate([g[0][0] for g in got]) if got else np.zeros(0, np.int64)
    vals = np.concatenate([g[0][1] for g in got]) if got else np.zeros(0, r.x.dtype)
    order = np.argsort(pos, kind="stable")
    return vals[order], pos[order]


def _single_block(*blocks, offsets=None, gshape=None, block_id=None):
    x = blocks[0]
    origin = _origin(offsets, block_id)
    vals = np.ascontiguousarray(x).reshape(-1)
    if len(blocks) == 1:
        return [(_block_positions(x.shape, origin, gshape), vals)]
    sel = np.flatnonzero(np.ascontiguousarray(blocks[1]).reshape(-1) > 0)
    return [(_positions(sel, x.shape, origin, gshape), vals[sel])]


def _collect(parts: da.Array) -> Delayed:
    """One task returning the list of all block results of ``parts`` (C order)."""
    name = f"collect-{parts.name}"
    keys = list(flat_keys(parts.__dask_keys__()))
    graph = HighLevelGraph.from_collections(name, {name: (list, keys)}, dependencies=[parts])
    return Delayed(name, graph, layer=name)


# --------------------------------------------------------------------- value_indices
def _value_block(arr, offsets=None, gshape=None, ignore_value=None, block_id=None):
    vals = np.ascontiguousarray(arr).reshape(-1)
    sel = None
    if ignore_value is not None:
        sel = np.flatnonzero(vals != ignore_value)
        vals = vals[sel]
    order = np.argsort(vals, kind="stable")
    vals = vals[order]
    sel = order if sel is None else sel[order]
    del order
    return [(vals, _positions(sel, arr.shape, _origin(offsets, block_id), gshape))]


def value_positions(x: da.Array, ignore_value=None) -> dict:
    """scipy's ``value_indices`` of the integer array ``x`` (at least 1-D). Computes.

    Every block sorts its voxels by value (stable) and returns values and flat
    positions; the client merges them into ``{value: tuple of ndim intp index
    arrays}`` in increasing value order, the indices in C order. The client needs
    O(voxels) memory, as scipy does; tasks hold one block.
    """
    offsets = chunk_offsets(x.chunks)
    gshape = tuple(int(s) for s in x.shape)
    kw = dict(offsets=offsets, gshape=gshape, ignore_value=ignore_value)
    parts = da.map_blocks(_value_block, x, dtype=object, meta=np.empty((0,) * x.ndim, object), **kw)
    got = _collect(parts).compute()
    vals = np.concatenate([g[0][0] for g in got]) if got else np.zeros(0, x.dtype)
    pos = np.concatenate([g[0][1] for g in got]) if got else np.zeros(0, np.int64)
    order = np.lexsort((pos, vals))
    vals, pos = vals[order], pos[order]
    cuts = np.flatnonzero(np.r_[True, vals[1:] != vals[:-1]]) if vals.size else vals
    bounds = np.r_[cuts, vals.size].tolist()
    coords = (
        np.unravel_index(pos, gshape) if pos.size else tuple(np.zeros(0, np.intp) for _ in gshape)
    )
    out = {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out[vals[a]] = tuple(np.ascontiguousarray(c[a:b], dtype=np.intp) for c in coords)
    return out
