"""Spill a large input that has no region source to scratch, then stream from there.

Halo operations stream from a :class:`~bigimg._sources.RegionSource` (see
:mod:`bigimg._halo`). An input bigimg cannot regenerate region by region (a user's
``map_blocks``, a crop, a rechunk, an array from another library) would otherwise go
through dask's overlap path, where every output block waits for its neighbours'
blocks: the scheduler then keeps blocks in memory by the layer, and on a 2560² plane
of 128³ blocks that grew with the volume (0.96 GiB for 256 planes, 2.55 GiB for 640).

Above :func:`spill_threshold` bytes such an input (unless its blocks are in memory
already, :func:`should_spill`) is written once, block by block, to the scratch space
(:class:`~bigimg._scratch.Scratch`: one raw block per input block, in a local or shared
directory or as one object each under an object-store prefix), and the halo operation
streams from those blocks like from any other source: each write task releases its
block as soon as it is stored, one barrier task waits for every write, and each output
task then reads its own halo-extended region (positional reads on a disk, ranged GETs
on an object store). Peak memory stays at a few blocks per thread; the price is
writing and reading the input once.

Settings (``dask.config``): ``bigimg.halo-spill-bytes`` (default 1 GiB; inputs of at
most this many bytes keep the overlap path; 0 spills every such input, which the
tests use); where the blocks go is the scratch policy's (:mod:`bigimg._scratch`:
``bigimg.scratch`` and ``bigimg.scratch-options``, then dask's
``temporary-directory``).
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._scratch import Scratch
from bigimg._sources import RegionSource

__all__ = ["SPILL_BYTES", "SpilledSource", "should_spill", "spill_source", "spill_threshold"]

#: Default of ``bigimg.halo-spill-bytes``.
SPILL_BYTES = 1 << 30


def spill_threshold() -> int:
    """Bytes above which a sourceless input of a halo operation is spilled."""
    return int(dask.config.get("bigimg.halo-spill-bytes", SPILL_BYTES))


def should_spill(x: da.Array) -> bool:
    """Whether a halo operation on ``x`` (which has no region source) spills it.

    Above :func:`spill_threshold` bytes, unless ``x``'s blocks are already in memory
    (``da.from_array`` of a numpy array, a persisted array): the overlap path then
    holds nothing that was not held anyway.
    """
    if x.nbytes <= spill_threshold():
        return False
    layer = x.__dask_graph__().layers.get(x.name)
    mapping = getattr(layer, "mapping", None)
    in_memory = isinstance(mapping, dict) and all(
        isinstance(v, np.ndarray) for v in mapping.values()
    )
    return not in_memory


def _block_name(idx: tuple[int, ...]) -> str:
    return "block-" + "-".join(map(str, idx)) + ".raw"


def _write(block: np.ndarray, spill: Scratch, idx: tuple[int, ...]) -> int:
    """Write one block (atomically: a retried task rewrites the same bytes)."""
    spill.write_block(_block_name(idx), block)
    return 0


def _barrier(*tokens: int) -> int:
    return 0


class SpilledSource(RegionSource):
    """Regions of an array written block by block to scratch by :func:`spill_source`.

    Regions are read with :meth:`~bigimg._scratch.Scratch.read_block`: positional
    reads, not memory maps (which would put the touched files' pages into the
    process's resident set), or ranged GETs on an object store.
    """

    def __init__(self, spill: Scratch, chunks, dtype, barrier: Delayed) -> None:
        self.spill = spill
        self.chunks = tuple(tuple(int(c) for c in ax) for ax in chunks)
        self.shape = tuple(sum(ax) for ax in self.chunks)
        self.dtype = np.dtype(dtype)
        self.barriers = (barrier,)
        self._starts = [np.cumsum((0,) + ax) for ax in self.chunks]
        self._token = da.core.tokenize("bigimg-spilled", spill, self.chunks, self.dtype)

    def _read(self, region):
        out = np.empty(tuple(r.stop - r.start for r in region), self.dtype)
        if not out.size:
            return out
        ranges = []
        for r, starts in zip(region, self._starts, strict=True):
            first = int(np.searchsorted(starts, r.start, side="right")) - 1
            last = int(np.searchsorted(starts, r.stop, side="left")) - 1
            ranges.append(range(first, last + 1))
        for idx in np.ndindex(*(len(r) for r in ranges)):
            bidx = tuple(rg[i] for rg, i in zip(ranges, idx, strict=True))
            src, dst = [], []
            for r, starts, b in zip(region, self._starts, bidx, strict=True):
                lo, hi = max(r.start, int(starts[b])), min(r.stop, int(starts[b + 1]))
                src.append(slice(lo - int(starts[b]), hi - int(starts[b])))
                dst.append(slice(lo - r.start, hi - r.start))
            shape = tuple(c[b] for c, b in zip(self.chunks, bidx, strict=True))
            name = _block_name(bidx)
            out[tuple(dst)] = self.spill.read_block(name, shape, self.dtype, tuple(src))
        return out


def spill_source(x: da.Array) -> SpilledSource:
    """A source reading ``x`` back from scratch; its barrier writes ``x`` there first.

    Building it computes nothing: the writes run when an array streaming from the
    source is computed (each such array depends on the barrier).
    """
    spill = Scratch(None, "halo")
    token = da.core.tokenize(x, spill)
    w_name, b_key = f"halo-spill-write-{token}", f"halo-spill-barrier-{token}"
    dsk: dict = {
        (w_name, *idx): (_write, (x.name, *idx), spill, idx) for idx in np.ndindex(*x.numblocks)
    }
    dsk[b_key] = (_barrier, *dsk.keys())
    graph = HighLevelGraph.from_collections(b_key, dsk, dependencies=[x])
    return SpilledSource(spill, x.chunks, x.dtype, Delayed(b_key, graph))
