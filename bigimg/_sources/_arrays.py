"""Dask arrays read from region sources: one task per block, no neighbours awaited."""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from bigimg._sources._pointwise import source_of
from bigimg._sources._region import RegionSource, attach_source

__all__ = ["from_source", "rechunk"]


def from_source(source: RegionSource, chunks, name: str | None = None) -> da.Array:
    """A dask array with one task per block, each reading its block from ``source``."""
    name = f"{name or 'bigimg-region'}-{da.core.tokenize(source, chunks)}"
    if source.barriers:
        return attach_source(_after_barriers(source, chunks, name), source)
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    y = da.from_array(
        source, chunks=chunks, name=name, asarray=False, fancy=False, meta=meta, inline_array=True
    )
    return attach_source(y, source)


def rechunk(x: da.Array, chunks) -> da.Array:
    """``x.rechunk(chunks)``; on an array with a region source, one read per new block.

    dask's rechunk makes each new block wait for the old blocks it overlaps, which
    the scheduler may then hold by the layer; a new block read straight from the source
    waits for nothing (see the module docstring).
    """
    chunks = da.core.normalize_chunks(chunks, x.shape, dtype=x.dtype)
    if chunks == x.chunks:
        return x
    source = source_of(x)
    if source is not None and source.shape == x.shape:
        return from_source(source, chunks, "rechunk")
    return x.rechunk(chunks)


def _read_region(source: RegionSource, region: tuple[slice, ...], *barriers) -> np.ndarray:
    return source[region]


def _after_barriers(source: RegionSource, chunks, name: str) -> da.Array:
    """Like :func:`from_source`, with every task waiting for the source's barriers."""
    chunks = da.core.normalize_chunks(chunks, source.shape)
    starts = [np.cumsum((0,) + c) for c in chunks]
    keys = [b.key for b in source.barriers]
    dsk = {
        (name, *idx): (
            _read_region,
            source,
            tuple(slice(int(st[i]), int(st[i + 1])) for st, i in zip(starts, idx, strict=True)),
            *keys,
        )
        for idx in np.ndindex(*(len(c) for c in chunks))
    }
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=list(source.barriers))
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    return da.Array(graph, name, chunks=chunks, dtype=source.dtype, meta=meta)
