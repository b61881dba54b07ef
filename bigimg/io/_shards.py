"""Stored chunks and zarr v3 shards, and the dask blocks that write and read them.

A sharded zarr v3 array stores ``shards``-shaped objects, each holding a grid of inner
``chunks`` (the sharding codec). zarr-python writes a shard only whole: two tasks
writing parts of one shard would each rewrite it and one part would be lost (a known
trap of zarr-python and dask). So the writers give every task whole *units* (shards,
or stored chunks when unsharded), rechunking the input from its source when its
blocks straddle units, and the readers give every task whole shards (or, for shards
larger than the automatic block size, a group of inner chunks inside one shard).
"""

from __future__ import annotations

import math
import numbers

import dask.array as da
import numpy as np

from bigimg.io._reader import AUTO_CHUNK_BYTES, normalize_chunks

__all__ = ["aligned", "normalize_shards", "read_chunks", "store_chunks"]


def store_chunks(arr: da.Array, chunks, was_dask: bool) -> tuple[int, ...]:
    """The stored chunk shape: ``chunks``, else the dask chunk size (or ~32 MiB blocks)."""
    if chunks is None:
        if was_dask:
            return tuple(max(1, c) for c in arr.chunksize)
        chunks = "auto"
    normal = normalize_chunks(chunks, arr.shape, arr.dtype)
    regular = tuple(max(1, c[0]) for c in normal)
    if normal != da.core.normalize_chunks(regular, arr.shape):
        raise ValueError(
            f"`chunks` must be one regular chunk shape for the zarr store; got {chunks!r}. "
            "Pass a tuple of ints such as (64, 64, 64)."
        )
    return regular


def normalize_shards(shards, chunks: tuple[int, ...], zarr_format: int) -> tuple[int, ...] | None:
    """``shards`` as one int per axis, each a multiple of ``chunks``; None for unsharded."""
    if shards is None:
        return None
    ndim = len(chunks)
    values = (shards,) * ndim if isinstance(shards, numbers.Integral) else shards
    if isinstance(values, str) or not isinstance(values, tuple | list):
        raise TypeError(f"`shards` must be None, an int or a tuple of ints; got {shards!r}.")
    if (
        len(values) != ndim
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values)
        or not all(v >= 1 for v in values)
    ):
        raise ValueError(
            f"`shards` must be an int >= 1 or a tuple of {ndim} such ints; got {shards!r}."
        )
    values = tuple(int(v) for v in values)
    if zarr_format != 3:
        raise ValueError(
            f"`shards` need zarr_format=3 (zarr v2 has no sharding); got zarr_format="
            f"{zarr_format!r} with shards={values}. Drop shards or write zarr v3."
        )
    if any(s % c for s, c in zip(values, chunks)):
        fix = tuple(max(c, round(s / c) * c) for s, c in zip(values, chunks))
        raise ValueError(
            f"`shards` must be multiples of the chunks {chunks} along every axis (a shard "
            f"holds a whole grid of chunks); got {values}. For example shards={fix}."
        )
    return values


def aligned(arr: da.Array, unit: tuple[int, ...]) -> bool:
    """True if every dask block lies inside whole units (no two tasks share one)."""
    for axis_chunks, z in zip(arr.chunks, unit, strict=True):
        edge = 0
        for c in axis_chunks[:-1]:
            edge += c
            if edge % z:
                return False
    return True


def read_chunks(array, chunks) -> tuple[tuple[int, ...], ...]:
    """The dask chunks ``open_zarr`` reads ``array`` (a zarr array) with.

    ``None``: one block per shard (per chunk if unsharded). ``"auto"``: blocks of about
    :data:`AUTO_CHUNK_BYTES` made of whole shards, or, when one shard is larger than
    that, of inner chunks that never cross a shard boundary. Anything else: as given.
    """
    shape, dtype = tuple(array.shape), np.dtype(array.dtype)
    shards, inner = array.shards, tuple(array.chunks)
    stored = tuple(shards or inner)
    if chunks is None:
        return da.core.normalize_chunks(stored, shape)
    big = shards is not None and math.prod(shards) * dtype.itemsize > AUTO_CHUNK_BYTES
    if not (isinstance(chunks, str) and chunks == "auto" and big):
        return normalize_chunks(chunks, shape, dtype, previous=stored)
    sizes = normalize_chunks("auto", shape, dtype, previous=inner)
    out = []
    for axis_sizes, n, c, s in zip(sizes, shape, inner, shards):
        per = s // c  # inner chunks per shard: use a divisor of it
        k = max(d for d in range(1, per + 1) if per % d == 0 and d * c <= max(axis_sizes[0], c))
        block = k * c
        axis = []
        for start in range(0, n, s):
            span = min(s, n - start)
            axis += [block] * (span // block) + ([span % block] if span % block else [])
        out.append(tuple(axis) or (0,))
    return tuple(out)
