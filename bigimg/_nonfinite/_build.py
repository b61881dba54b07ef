"""Dask arrays of the exact line filters: which path each input takes.

* Running minimum/maximum stages (and their compositions) stream from a region source
  (:func:`._regions.input_source`): one task per output block, which reads as far back
  along its lines as their state needs. The result is itself a region source, so the
  next halo operation streams from it too.
* Uniform stages first run the :mod:`._prefix` pre-pass; then, like every other filter
  (:func:`bigimg._halo.apply_blockwise`), they stream from a source when the input has
  one (or is in memory, or is spilled because it is large and has none), and otherwise
  (periodic modes, small inputs without a source) each task assembles its region from
  the input's blocks.
* 1-D rank filters (scipy's sliding-heap path, :func:`rank1d_array`): a 1-D input
  holding NaN is computed whole by one task and read back by region.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._halo import should_spill, spill_source
from bigimg._nonfinite._passes import CONSTANT, scipy_passes
from bigimg._nonfinite._prefix import prefix_store
from bigimg._nonfinite._regions import BlocksSource, in_memory_blocks, input_source, shift_box
from bigimg._nonfinite._stage import StageSource, box_hull, compute_stage, halo_box, stage_boxes
from bigimg._scratch import Scratch
from bigimg._sources import RegionSource, attach_source, from_source, source_of

__all__ = ["line_filter", "needs_exact", "rank1d_array", "uniform_array"]


def needs_exact(x: da.Array, axes, mode=None, cval=0.0) -> bool:
    """Whether a filter along ``axes`` needs the exact engine on ``x``.

    Only NaN (running minima) or non-finite values (running sums) make scipy's result
    depend on a line's history: float (or complex) inputs, or a constant mode whose
    ``cval`` is not finite. An input whose filtered axes are each one block gives the
    whole lines to one task, and scipy's own kernel is exact there.
    """
    if x.size == 0:
        return False
    modes = [mode] if mode is None or isinstance(mode, str) else list(mode)
    special = any(m in CONSTANT for m in modes if m is not None) and not np.isfinite(cval)
    if (x.dtype.kind not in "fc" or _cast_from_integers(x)) and not special:
        return False
    return any(len(x.chunks[ax]) > 1 for ax in axes)


def _cast_from_integers(x: da.Array) -> bool:
    """``x`` is an integer (or boolean) array cast to float32 or float64: all finite.

    The common ``volume.astype(np.float32)`` before a filter then keeps the ordinary
    block kernels (and a streaming chain its one task per block).
    """
    if np.dtype(x.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return False
    layers = x.__dask_graph__().layers
    layer = layers.get(x.name)
    task = getattr(layer, "task", None)
    if type(layer).__name__ != "Blockwise" or getattr(task, "func", None) is not da.chunk.astype:
        return False
    arrays = [name for name, ind in layer.indices if ind is not None]
    if len(arrays) != 1:
        return False
    annotations = getattr(layers.get(arrays[0]), "collection_annotations", None) or {}
    return "dtype" in annotations and np.dtype(annotations["dtype"]).kind in "biu"


def _block_pieces(box, chunks):
    """The input blocks under ``box`` (extended coordinates) and where each part goes."""
    per_axis = []
    for (lo, hi), ch in zip(box, chunks, strict=True):
        n, starts = sum(ch), np.cumsum((0,) + tuple(ch))
        parts, pos = [], lo
        while pos < hi:
            s = pos % n
            b = int(np.searchsorted(starts, s, side="right")) - 1
            length = min(hi - pos, int(starts[b + 1]) - s)
            parts.append((b, slice(s - int(starts[b]), s - int(starts[b]) + length), pos - lo))
            pos += length
        per_axis.append(parts)
    pieces, blocks = [], []
    for combo in itertools.product(*per_axis):
        blocks.append(tuple(b for b, _, _ in combo))
        src = tuple(s for _, s, _ in combo)
        dst = tuple(slice(o, o + s.stop - s.start) for _, s, o in combo)
        pieces.append((src, dst))
    return pieces, blocks


def _assembled_block(passes, core, shape, hull, fast, store, pieces, dtype, _barriers, *blocks):
    data = np.empty(tuple(hi - lo for lo, hi in hull), dtype)
    for (src, dst), block in zip(pieces, blocks, strict=True):
        data[dst] = block[src]

    def infected(q, box):
        return store.infected(q, passes[q], box)

    return compute_stage(
        passes, core, shape, lambda box: data[shift_box(hull, box)], fast, infected
    )


def _assembled(x: da.Array, passes, fast, store, name: str) -> da.Array:
    """Uniform stages without a source: each task assembles its region from blocks."""
    out_name = f"{name}-{da.core.tokenize(x, passes, fast, store)}"
    starts = [np.cumsum((0,) + c) for c in x.chunks]
    backs = {p.axis: 0 for p in passes}
    dsk = {}
    for idx in np.ndindex(*x.numblocks):
        core = [(int(st[i]), int(st[i + 1])) for st, i in zip(starts, idx, strict=True)]
        hull = stage_boxes(passes, core, x.shape, backs)[0][0]
        if fast is not None:
            hull = box_hull(hull, halo_box(passes, core, x.shape))
        pieces, blocks = _block_pieces(hull, x.chunks)
        dsk[(out_name, *idx)] = (
            _assembled_block,
            passes,
            core,
            x.shape,
            hull,
            fast,
            store,
            pieces,
            x.dtype,
            store.barrier_keys(core),
            *[(x.name, *b) for b in blocks],
        )
    deps = [x, *store.barriers.values()]
    graph = HighLevelGraph.from_collections(out_name, dsk, dependencies=deps)
    dtype = passes[-1].dtype
    meta = np.empty((0,) * x.ndim, dtype=dtype)
    return da.Array(graph, out_name, chunks=x.chunks, dtype=dtype, meta=meta)


def uniform_array(x: da.Array, passes, fast: Callable | None, name: str) -> da.Array:
    """scipy's uniform ``passes`` on ``x``, exact for non-finite values (see the module)."""
    store = prefix_store(x, passes)
    if not any(p.periodic for p in passes):
        source = source_of(x)
        if source is None or source.shape != x.shape:
            blocks = in_memory_blocks(x)
            if blocks is not None:
                source = BlocksSource(blocks, x.chunks, x.dtype, da.core.tokenize("blocks", x))
            elif should_spill(x):
                source = spill_source(x)
            else:
                source = None
        if source is not None:
            return _streamed(StageSource(source, passes, fast, store), x.chunks, name)
    return _assembled(x, passes, fast, store, name)


def _read_after(source: RegionSource, region, *barriers) -> np.ndarray:
    return source[region]


def _streamed(source: StageSource, chunks, name: str) -> da.Array:
    """One task per block reading ``source``, waiting for the parent's barriers and
    for the pre-pass of its own group only (see :class:`._prefix.PrefixStore`)."""
    out_name = f"{name}-{da.core.tokenize(source, chunks)}"
    starts = [np.cumsum((0,) + c) for c in chunks]
    parent = [b.key for b in source.parent.barriers]
    dsk = {}
    for idx in np.ndindex(*(len(c) for c in chunks)):
        region = tuple(slice(int(st[i]), int(st[i + 1])) for st, i in zip(starts, idx, strict=True))
        keys = [*parent, *source.store.barrier_keys(region)]
        dsk[(out_name, *idx)] = (_read_after, source, region, *keys)
    graph = HighLevelGraph.from_collections(out_name, dsk, dependencies=list(source.barriers))
    meta = np.empty((0,) * len(chunks), dtype=source.dtype)
    y = da.Array(graph, out_name, chunks=chunks, dtype=source.dtype, meta=meta)
    return attach_source(y, source)


# ------------------------------------------------------------------- 1-D rank filters
def _has_nan(block: np.ndarray) -> bool:
    return bool(np.isnan(block).any())


def _whole_line(scratch: Scratch, source: RegionSource, whole: Callable, n: int, *deps) -> int:
    """If any block holds NaN (the first ``n`` of ``deps``; all when ``n`` is -1),
    scipy's filter of the whole line, written to scratch; the other ``deps`` are the
    source's barriers."""
    status = np.zeros(1, np.int8)
    if n < 0 or any(deps[:n]):
        line = source[(slice(0, source.shape[0]),)]
        scratch.write_block("rank1d.raw", np.asarray(whole(line)))
        status[0] = 1
    scratch.write_block("rank1d-status.raw", status)
    return 0


class _Rank1DSource(RegionSource):
    """Regions of a 1-D rank filter: the block kernel, or the whole line's result."""

    def __init__(self, parent, fast, depth: int, dtype, scratch: Scratch, barrier: Delayed):
        self.parent, self.fast, self.depth, self.scratch = parent, fast, int(depth), scratch
        self.shape, self.dtype = parent.shape, np.dtype(dtype)
        self.barriers = parent.barriers + (barrier,)
        self._token = da.core.tokenize("bigimg-rank1d", parent, fast, depth, scratch)

    def _read(self, region):
        (r,) = region
        if self.scratch.read_block("rank1d-status.raw", (1,), np.int8)[0]:
            return self.scratch.read_block("rank1d.raw", self.shape, self.dtype, region)
        lo, hi = max(0, r.start - self.depth), min(self.shape[0], r.stop + self.depth)
        out = self.fast(self.parent[(slice(lo, hi),)])
        return np.ascontiguousarray(out[r.start - lo : r.stop - lo])


def rank1d_array(
    x: da.Array, whole: Callable, fast: Callable, depth: int, dtype, name: str, *, force=False
) -> da.Array:
    """A 1-D rank filter: ``fast`` on each block and its halo of ``depth`` when the
    input holds no NaN, else (or if ``force``) ``whole`` (scipy's filter) on the whole
    line, once, by one task that holds the line."""
    source = input_source(x)
    scratch = Scratch(None, "nonfinite")
    token = da.core.tokenize(x, whole, scratch)
    f_name, w_key = f"rank1d-nan-{token}", f"rank1d-{token}"
    dsk: dict = {(f_name, i): (_has_nan, (x.name, i)) for i in range(x.numblocks[0])}
    barrier_keys = [b.key for b in source.barriers]
    flags = list(dsk)
    n = -1 if force else len(flags)
    dsk[w_key] = (_whole_line, scratch, source, whole, n, *flags, *barrier_keys)
    graph = HighLevelGraph.from_collections(w_key, dsk, dependencies=[x, *source.barriers])
    barrier = Delayed(w_key, graph)
    return from_source(_Rank1DSource(source, fast, depth, dtype, scratch, barrier), x.chunks, name)


def _complex(real: np.ndarray, imag: np.ndarray, *, into) -> np.ndarray:
    out = np.empty(real.shape, into)
    out.real, out.imag = real, imag
    return out


def line_filter(
    kind: str,
    x: da.Array,
    dtype,
    axes,
    *,
    size,
    origin,
    mode,
    cval,
    kernel: Callable,
    name: str,
    one_dimensional: bool = False,
):
    """scipy's separable ``kind`` filter ("min", "max", "uniform") of ``x``, exactly.

    ``size``, ``origin`` and ``mode`` are scipy's, for the filtered ``axes``;
    ``kernel(output, cval)`` gives the block kernel for the fast path (a callable of
    one block); ``one_dimensional``: one of scipy's ``*1d`` filters. Returns None when
    scipy runs no running pass (every size is 1: each voxel is its own result).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":  # scipy filters the real and imaginary parts apart
        part = np.empty(0, dtype).real.dtype
        kw = dict(size=size, origin=origin, mode=mode, kernel=kernel, name=name)
        kw["one_dimensional"] = one_dimensional
        real = line_filter(kind, x.real, part, axes, cval=np.real(cval), **kw)
        if real is None:
            return None
        imag = line_filter(kind, x.imag, part, axes, cval=np.imag(cval), **kw)
        return da.map_blocks(functools.partial(_complex, into=dtype), real, imag, dtype=dtype)
    passes = scipy_passes(
        kind, x.ndim, size, origin, mode, cval, axes, dtype, one_dimensional=one_dimensional
    )
    if not passes:
        return None
    fast = kernel(dtype, cval)
    if kind == "uniform":
        return uniform_array(x, passes, fast, name)
    return from_source(StageSource(input_source(x), passes, fast), x.chunks, name)
