"""Monotone fixed points of binary dilation across chunks, by rounds of block floods.

When one dilation step never unsets a voxel (the neighbourhood holds the zero offset,
or nothing starts set inside the mask, as in ``binary_fill_holes``), scipy's
``binary_dilation(..., iterations=-1)`` converges to the least fixed point above the
input: a mask voxel ends up set iff a chain of steps, each an offset of the
neighbourhood, leads to it from a set input voxel (or from outside the array with
``border_value=1``) through mask voxels. The neighbourhood may be any set of offsets:
reaching several voxels, off-centre, not symmetric (propagation is then directed).

The steps:

* **block flood** (:func:`_flood`, numba): one block plus a halo of the voxels that
  can step into it (``lo`` voxels below, ``hi`` above on each axis, from the
  neighbouring blocks' current state or the border) is flooded to its own fixed point
  with a queue: every voxel is queued at most once, so a block costs
  O(voxels x offsets) whatever the length of the chains inside it;
* **rounds** (:func:`reach_closure`): every block is flooded with an empty halo and
  publishes its *pieces*, the slabs of its state that its neighbours' halos cover
  (bit-packed, ``lo``/``hi`` voxels thick). A block whose neighbours' pieces changed
  is flooded again with them, until no piece changes. Chunks are first merged so that
  every chunk is at least as long as the halo (so a halo only covers adjacent
  blocks) and :data:`MIN_BLOCK_EDGE` voxels;
* **paint**: each output block is flooded once more with its final halo (lazily).

States only grow and every set voxel is justified by a chain, so the fixed point the
rounds reach is the least one: scipy's result, exact for any chunking. A chain that
crosses block faces ``k`` times needs about ``k`` rounds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph
from numba import njit

from bigimg._halo import merge_small_chunks

__all__ = ["MIN_BLOCK_EDGE", "Reach", "reach_closure", "work_chunks"]

#: Shortest block edge the floods work on: smaller chunks are merged first (fewer,
#: larger blocks mean fewer tasks and fewer rounds; a block of 32**3 bools is 32 KiB).
MIN_BLOCK_EDGE = 32


@dataclass(frozen=True)
class Reach:
    """Offsets one dilation step moves a set voxel by, and the halo they need.

    ``offsets`` rows ``d`` (``ndim`` entries each; there may be none): a set voxel
    ``q`` sets the mask voxel ``q + d``; ``border`` is the value outside the array. A
    voxel can therefore be set from ``lo[ax]`` voxels below it and ``hi[ax]`` above it.
    """

    offsets: tuple[tuple[int, ...], ...]
    border: bool
    ndim: int
    lo: tuple[int, ...] = field(init=False)
    hi: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        rows = np.asarray(self.offsets, dtype=np.int64).reshape(len(self.offsets), self.ndim)
        lo = tuple(int(max(0, rows[:, ax].max(initial=0))) for ax in range(self.ndim))
        hi = tuple(int(max(0, -rows[:, ax].min(initial=0))) for ax in range(self.ndim))
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def pad(self) -> tuple[int, ...]:
        """Rim of a flood buffer per axis: the halo plus room for a halo voxel's step."""
        return tuple(a + b for a, b in zip(self.lo, self.hi))


@dataclass(frozen=True, eq=False)
class _Halo:
    """The pieces one block's flood reads, keyed by the direction of their block."""

    pieces: dict


@njit(cache=True, nogil=True)
def _flood(buf, steps, queue, tail):  # pragma: no cover - compiled
    """Set every mask voxel (value 2) reachable from the queued set voxels."""
    head = 0
    n_steps = steps.shape[0]
    while head < tail:
        q = queue[head]
        head += 1
        for k in range(n_steps):
            p = q + steps[k]
            if buf[p] == 2:
                buf[p] = 3
                queue[tail] = p
                tail += 1
    return tail


def _side(d: int, lo: int, hi: int, pad: int, n: int) -> slice:
    """Where the halo from the block at offset ``d`` (-1, 0, 1) lies in the buffer."""
    if d < 0:
        return slice(pad - lo, pad)
    if d > 0:
        return slice(pad + n, pad + n + hi)
    return slice(pad, pad + n)


def _piece_slice(g: int, lo: int, hi: int, n: int) -> slice:
    """The part of a block that its neighbour at offset ``g`` (-1, 0, 1) reads."""
    if g > 0:
        return slice(n - lo, n)
    if g < 0:
        return slice(0, hi)
    return slice(0, n)


def _flood_block(seeds, mask, halo: _Halo, edges: tuple, reach: Reach) -> np.ndarray:
    """The fixed point of one block (bool), given its neighbours' pieces.

    ``edges`` holds, per axis, whether the block touches the array's low and high
    faces; the halo beyond them is the border value.
    """
    shape = mask.shape if seeds is None else seeds.shape
    pad = reach.pad
    buf = np.zeros(tuple(n + 2 * p for n, p in zip(shape, pad)), dtype=np.uint8)
    core = tuple(slice(p, p + n) for p, n in zip(pad, shape))
    inner = buf[core]
    if mask is None:
        inner[...] = 2
    else:
        np.not_equal(mask, 0, out=inner.view(bool))
        inner <<= 1
    if seeds is not None:
        inner |= np.not_equal(seeds, 0).view(np.uint8)
    for delta in itertools.product((-1, 0, 1), repeat=len(shape)):
        if not any(delta):
            continue
        region = tuple(
            _side(d, lo, hi, p, n) for d, lo, hi, p, n in zip(delta, reach.lo, reach.hi, pad, shape)
        )
        if any(r.stop <= r.start for r in region):
            continue
        outside = any((d < 0 and low) or (d > 0 and high) for d, (low, high) in zip(delta, edges))
        if outside:
            if reach.border:
                buf[region] = 1
            continue
        piece = halo.pieces.get(delta)
        if piece is not None:
            sizes = tuple(r.stop - r.start for r in region)
            bits = np.unpackbits(piece, count=int(np.prod(sizes))).reshape(sizes)
            buf[region] = bits
    flat = buf.reshape(-1)
    itype = np.int32 if flat.size < 2**31 else np.int64
    sources = np.flatnonzero(flat & 1).astype(itype)
    queue = np.empty(sources.size + int(np.count_nonzero(inner == 2)), dtype=itype)
    queue[: sources.size] = sources
    strides = np.array([s // buf.itemsize for s in buf.strides], dtype=np.int64)
    rows = np.asarray(reach.offsets, dtype=np.int64).reshape(-1, len(shape))
    steps = (rows @ strides).astype(itype)
    _flood(flat, steps, queue, itype(sources.size))
    return (inner & 1).view(bool).copy()


def _pieces(state: np.ndarray, reach: Reach) -> dict:
    """The bit-packed slabs of a block's state that each neighbour's halo covers."""
    out = {}
    for g in itertools.product((-1, 0, 1), repeat=state.ndim):
        if not any(g):
            continue
        region = tuple(
            _piece_slice(d, lo, hi, n) for d, lo, hi, n in zip(g, reach.lo, reach.hi, state.shape)
        )
        if any(r.stop <= r.start for r in region):
            continue
        out[g] = np.packbits(state[region])
    return out


def _round_task(seeds, mask, halo: _Halo, edges: tuple, reach: Reach) -> dict:
    return _pieces(_flood_block(seeds, mask, halo, edges, reach), reach)


def _paint_task(seeds, mask, halo: _Halo, edges: tuple, reach: Reach) -> np.ndarray:
    return _flood_block(seeds, mask, halo, edges, reach)


def work_chunks(chunks, halo) -> tuple[tuple[int, ...], ...]:
    """``chunks`` merged so that every block is at least ``halo`` and
    :data:`MIN_BLOCK_EDGE` voxels long on each axis (empty chunks dropped).

    >>> work_chunks(((3, 3, 3, 3, 1), (40, 40)), (2, 2))
    ((13,), (40, 40))
    """
    return tuple(
        merge_small_chunks(tuple(n for n in c if n), max(h, MIN_BLOCK_EDGE))
        for c, h in zip(chunks, halo)
    )


def _edges(idx: tuple[int, ...], numblocks: tuple[int, ...]) -> tuple:
    return tuple((i == 0, i == n - 1) for i, n in zip(idx, numblocks))


def _halo_of(idx: tuple[int, ...], pieces: dict, numblocks: tuple[int, ...]) -> _Halo:
    """The pieces block ``idx``'s neighbours publish towards it."""
    out = {}
    for delta in itertools.product((-1, 0, 1), repeat=len(idx)):
        if not any(delta):
            continue
        nb = tuple(i + d for i, d in zip(idx, delta))
        if not all(0 <= j < n for j, n in zip(nb, numblocks)):
            continue
        piece = pieces.get(nb, {}).get(tuple(-d for d in delta))
        if piece is not None and piece.any():
            out[delta] = piece
    return _Halo(out)


def _graph(name, func, blocks, seeds, mask, pieces, reach) -> tuple[dict, list]:
    """Tasks ``func(seed block, mask block, halo, edges, reach)`` for ``blocks``."""
    ref = seeds if seeds is not None else mask
    numblocks = ref.numblocks
    dsk = {}
    for idx in blocks:
        dsk[(name, *idx)] = (
            func,
            None if seeds is None else (seeds.name, *idx),
            None if mask is None else (mask.name, *idx),
            _halo_of(idx, pieces, numblocks),
            _edges(idx, numblocks),
            reach,
        )
    return dsk, [a for a in (seeds, mask) if a is not None]


def reach_closure(
    seeds: da.Array | None, mask: da.Array | None, reach: Reach, *, shape, chunks
) -> da.Array:
    """The least fixed point of ``binary_dilation`` above ``seeds`` inside ``mask``.

    ``seeds`` (None: nothing set) and ``mask`` (None: everywhere) are bool dask arrays
    of ``shape`` with ``chunks``; the step is ``reach``. The rounds compute now (each
    reads ``seeds`` and ``mask`` for the blocks it floods); the result is lazy, bool,
    with ``chunks``.
    """
    work = work_chunks(chunks, tuple(max(a, b) for a, b in zip(reach.lo, reach.hi)))
    seeds = None if seeds is None else seeds.rechunk(work)
    mask = None if mask is None else mask.rechunk(work)
    numblocks = tuple(len(c) for c in work)
    token = dask.base.tokenize(seeds, mask, reach)
    pieces: dict = {}
    active = list(np.ndindex(*numblocks))
    rounds = 0
    while active:
        name = f"bigimg-reach-round{rounds}-{token}"
        dsk, deps = _graph(name, _round_task, active, seeds, mask, pieces, reach)
        collect = f"bigimg-reach-collect{rounds}-{token}"
        dsk[collect] = (list, list(dsk))
        graph = HighLevelGraph.from_collections(collect, dsk, dependencies=deps)
        (results,) = dask.compute(Delayed(collect, graph))
        touched = set()
        for idx, new in zip(active, results):
            old = pieces.get(idx, {})
            for g, piece in new.items():
                before = old.get(g)
                if before is None and not piece.any():
                    continue
                if before is None or not np.array_equal(before, piece):
                    touched.add(tuple(i + d for i, d in zip(idx, g)))
            pieces[idx] = new
        active = sorted(t for t in touched if all(0 <= i < n for i, n in zip(t, numblocks)))
        rounds += 1
    name = f"bigimg-reach-paint-{token}"
    dsk, deps = _graph(name, _paint_task, list(np.ndindex(*numblocks)), seeds, mask, pieces, reach)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    out = da.Array(graph, name, work, dtype=bool, meta=np.empty((0,) * len(shape), bool))
    return out if out.chunks == tuple(chunks) else out.rechunk(chunks)
