"""Regions of the input: any box, read from a region source; in-memory blocks as one.

The exact line filters read, for each output block, a box that reaches as far back
along each line as the block needs (:mod:`._stage`), so their input must be readable
by region at compute time. :func:`input_source` finds or makes that source: the
input's own (a reader, a spill, an element-wise chain of those), a view of blocks that
are in memory already (``da.from_array`` of a numpy array, a persisted array), or, for
any other input, a spill to scratch (:func:`bigimg._halo.spill_source`, written once).

:func:`read_box` reads boxes in *extended* coordinates: along a periodic axis a box may
start before 0 or end past the axis (the positions repeat the volume, as scipy's
``wrap`` extension does), and the box is then read in pieces.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import dask.array as da
import numpy as np

from bigimg._halo import spill_source
from bigimg._sources import RegionSource, source_of

__all__ = ["BlocksSource", "input_source", "read_box", "shift_box"]

Box = Sequence[tuple[int, int]]


def _pieces(lo: int, hi: int, n: int) -> list[tuple[int, int, int]]:
    """``[lo, hi)`` cut at multiples of ``n``: (source start, source stop, offset)."""
    out, pos = [], lo
    while pos < hi:
        start = pos % n
        length = min(hi - pos, n - start)
        out.append((start, start + length, pos - lo))
        pos += length
    return out


def read_box(read: Callable[[tuple[slice, ...]], np.ndarray], box: Box, shape) -> np.ndarray:
    """``read`` over ``box`` (one ``(lo, hi)`` per axis), positions taken modulo ``shape``.

    >>> x = np.arange(5)
    >>> read_box(lambda r: x[r], [(-2, 7)], x.shape).tolist()
    [3, 4, 0, 1, 2, 3, 4, 0, 1]
    """
    pieces = [_pieces(lo, hi, n) for (lo, hi), n in zip(box, shape, strict=True)]
    if all(len(p) == 1 for p in pieces):
        return read(tuple(slice(p[0][0], p[0][1]) for p in pieces))
    out = None
    for combo in itertools.product(*pieces):
        part = read(tuple(slice(s, e) for s, e, _ in combo))
        if out is None:
            out = np.empty(tuple(hi - lo for lo, hi in box), part.dtype)
        out[tuple(slice(o, o + e - s) for s, e, o in combo)] = part
    return out


def shift_box(outer: Box, inner: Box) -> tuple[slice, ...]:
    """Slices of ``inner`` within an array holding ``outer``."""
    return tuple(slice(i0 - o0, i1 - o0) for (o0, _), (i0, i1) in zip(outer, inner, strict=True))


class BlocksSource(RegionSource):
    """Regions of an array whose blocks are in memory (a dict of block index -> array)."""

    def __init__(self, blocks: dict, chunks, dtype, token: str) -> None:
        self.blocks = blocks
        self.chunks = tuple(tuple(int(c) for c in ax) for ax in chunks)
        self.shape = tuple(sum(ax) for ax in self.chunks)
        self.dtype = np.dtype(dtype)
        self._starts = [np.cumsum((0,) + ax) for ax in self.chunks]
        self._token = token

    def _read(self, region):
        ranges = []
        for r, starts in zip(region, self._starts, strict=True):
            first = int(np.searchsorted(starts, r.start, side="right")) - 1
            last = int(np.searchsorted(starts, max(r.stop, r.start + 1), side="left")) - 1
            ranges.append(range(first, last + 1))
        out = np.empty(tuple(r.stop - r.start for r in region), self.dtype)
        for bidx in itertools.product(*ranges):
            src, dst = [], []
            for r, starts, b in zip(region, self._starts, bidx, strict=True):
                lo, hi = max(r.start, int(starts[b])), min(r.stop, int(starts[b + 1]))
                src.append(slice(lo - int(starts[b]), hi - int(starts[b])))
                dst.append(slice(lo - r.start, hi - r.start))
            out[tuple(dst)] = self.blocks[bidx][tuple(src)]
        return out


def in_memory_blocks(x: da.Array) -> dict | None:
    """``x``'s blocks by index if they are numpy arrays held in its graph already."""
    layer = x.__dask_graph__().layers.get(x.name)
    mapping = getattr(layer, "mapping", None)
    if not isinstance(mapping, dict):
        return None
    blocks = {}
    for idx in np.ndindex(*x.numblocks):
        block = mapping.get((x.name, *idx))
        if not isinstance(block, np.ndarray):
            return None
        blocks[idx] = block
    return blocks


def input_source(x: da.Array) -> RegionSource:
    """A region source for ``x``: its own, its in-memory blocks, or a spill to scratch.

    Building it computes nothing (a spill is written when the result is computed).
    """
    source = source_of(x)
    if source is not None and source.shape == x.shape:
        return source
    blocks = in_memory_blocks(x)
    if blocks is not None:
        return BlocksSource(blocks, x.chunks, x.dtype, da.core.tokenize("bigimg-blocks", x))
    return spill_source(x)
