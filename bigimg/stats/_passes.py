"""Whole-volume passes: one small result per block, merged in a tree of tasks.

Every statistic in :mod:`bigimg.stats` is built from *passes*. A pass reads each block
once and turns it into a small partial result (a histogram, a few sums, the handful of
values inside a narrow range); partial results are merged ``split_every`` at a time in
a tree of tasks, so no task holds more than one block plus a few partials, and the
graph has O(blocks) tasks. Several passes over the same array can be computed in one
``dask.compute`` call: dask then reads each block once for all of them.

The *keys* below map any real dtype monotonically onto ``int64`` (integers by value,
floats by their sign-magnitude bit pattern), so order statistics can bucket any dtype
with exact integer arithmetic.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._args import as_dask

__all__ = [
    "add_merge",
    "as_real_dask",
    "known_shape",
    "from_keys",
    "key_bounds",
    "min_max",
    "min_max_pass",
    "native_keys",
    "run_passes",
    "to_keys",
    "tree_pass",
]

_SIGN64 = np.uint64(1 << 63)
_FLOAT_MASK = {2: 0x7FFF, 4: 0x7FFF_FFFF, 8: 0x7FFF_FFFF_FFFF_FFFF}
_FLOAT_VIEW = {2: np.int16, 4: np.int32, 8: np.int64}


def known_shape(x: da.Array, name: str) -> da.Array:
    """``x`` itself, after checking that its chunk sizes are known."""
    if any(np.isnan(c) for cs in x.chunks for c in cs):
        raise ValueError(
            f"`{name}` has unknown chunk sizes (e.g. after boolean indexing); "
            f"call {name}.compute_chunk_sizes() first."
        )
    return x


def as_real_dask(x: Any, name: str = "image") -> da.Array:
    """``x`` as a dask array of a real (bool, integer or float) dtype and known shape."""
    x = known_shape(as_dask(x, name=name), name)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must have a real dtype (bool, integer or float); got {x.dtype}.")
    if x.dtype.kind == "f" and x.dtype.itemsize not in _FLOAT_MASK:
        raise NotImplementedError(
            f"`{name}` of dtype {x.dtype} is not supported; cast it to float64 first."
        )
    return x


# ------------------------------------------------------------------------ tree pass
def tree_pass(
    x: da.Array | Sequence[da.Array],
    block_func: Callable,
    merge_func: Callable,
    *,
    split_every: int = 16,
    name: str = "pass",
    with_offset: bool = False,
    **kwargs: Any,
) -> Delayed:
    """The lazy merged result of ``block_func(*blocks, **kwargs)`` over every block.

    ``x`` is one dask array or a sequence of arrays with identical chunks (their
    blocks are passed together). ``merge_func(list_of_results)`` combines at most
    ``split_every`` partial results; it must be associative. ``kwargs`` are embedded in
    every block task: keep them small. With ``with_offset`` the block function also
    gets ``offset=``, the block's first voxel in the array.
    """
    arrays = (x,) if isinstance(x, da.Array) else tuple(x)
    token = tokenize(*arrays, block_func, merge_func, kwargs)
    parts = da.map_blocks(
        _block_task,
        *arrays,
        fn=block_func,
        kw=kwargs,
        with_offset=with_offset,
        dtype=object,
        meta=np.empty((0,) * arrays[0].ndim, object),
        name=f"{name}-block-{token}",
    )
    keys = list(_flat(parts.__dask_keys__()))
    mname = f"{name}-merge-{token}"
    dsk: dict = {}
    level = 0
    split_every = max(2, int(split_every))
    while len(keys) > 1 or level == 0:
        new = []
        for i in range(0, len(keys), split_every):
            k = (mname, level, i // split_every)
            dsk[k] = (merge_func, list(keys[i : i + split_every]))
            new.append(k)
        keys = new
        level += 1
    graph = HighLevelGraph.from_collections(mname, dsk, dependencies=[parts])
    return Delayed(keys[0], graph, layer=mname)


def _block_task(*blocks, fn=None, kw=None, with_offset=False, block_info=None):
    if with_offset:
        offset = tuple(int(loc[0]) for loc in block_info[0]["array-location"])
        return fn(*blocks, offset=offset, **kw)
    return fn(*blocks, **kw)


def _flat(keys):
    if isinstance(keys, list):
        for k in keys:
            yield from _flat(k)
    else:
        yield keys


def run_passes(*passes: Delayed) -> tuple:
    """Compute several passes together (dask reads every block once for all of them)."""
    return dask.compute(*passes)


def add_merge(parts: Sequence) -> Any:
    """Merge function of passes whose partial results add (arrays or tuples of arrays)."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(reduce(operator.add, items) for items in zip(*parts))
    return reduce(operator.add, parts)


# -------------------------------------------------------------------------- keys
def native_keys(values: np.ndarray) -> np.ndarray:
    """:func:`to_keys` in the values' own integer width (cheaper; the same numbers).

    Floats: the bit pattern with the magnitude bits of negative numbers flipped;
    integers: the values (uint64 shifted by 2**63 into int64); booleans: 0/1.
    """
    dt = values.dtype
    if dt.kind == "f":
        bits = values.view(_FLOAT_VIEW[dt.itemsize])
        return bits ^ ((bits >> (8 * dt.itemsize - 1)) & _FLOAT_MASK[dt.itemsize])
    if dt == np.uint64:
        return (values ^ _SIGN64).view(np.int64)
    if dt.kind == "b":
        return values.view(np.uint8)
    return values


def to_keys(values: np.ndarray) -> np.ndarray:
    """Map values onto int64 keys that sort like the values (NaN excluded).

    Integers keep their value (uint64 is shifted by 2**63); floats use the bit pattern
    with the magnitude bits of negative numbers flipped, so ``-0.0`` sorts just below
    ``+0.0`` and the infinities are ordinary keys.
    """
    return native_keys(values).astype(np.int64)


def from_keys(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`to_keys`."""
    dtype = np.dtype(dtype)
    keys = np.asarray(keys, dtype=np.int64)
    if dtype.kind == "f":
        bits = np.where(keys < 0, keys ^ _FLOAT_MASK[dtype.itemsize], keys)
        return bits.astype(_FLOAT_VIEW[dtype.itemsize]).view(dtype)
    if dtype == np.uint64:
        return (keys.view(np.uint64) ^ _SIGN64).astype(dtype)
    return keys.astype(dtype)


def key_bounds(dtype: np.dtype) -> tuple[int, int] | None:
    """The key range of every value of a small integer dtype (at most 16 bits), else None."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    return None


# -------------------------------------------------------------------------- min/max
def _min_max_block(block: np.ndarray) -> tuple:
    """(count, NaN count, smallest key, largest key) of one block's non-NaN values."""
    flat = block.reshape(-1)
    if flat.size == 0:
        return 0, 0, None, None
    lo, hi = flat.min(), flat.max()
    nan = 0
    if flat.dtype.kind == "f" and (np.isnan(lo) or np.isnan(hi)):  # NaN propagates
        isnan = np.isnan(flat)
        nan = int(isnan.sum())
        flat = flat[~isnan]
        if flat.size == 0:
            return 0, nan, None, None
        lo, hi = flat.min(), flat.max()
    keys = to_keys(np.array([lo, hi], dtype=flat.dtype))
    return int(flat.size), nan, int(keys[0]), int(keys[1])


def _min_max_merge(parts: Sequence[tuple]) -> tuple:
    n = sum(p[0] for p in parts)
    nan = sum(p[1] for p in parts)
    los = [p[2] for p in parts if p[2] is not None]
    his = [p[3] for p in parts if p[3] is not None]
    return n, nan, (min(los) if los else None), (max(his) if his else None)


def min_max_pass(x: da.Array) -> Delayed:
    """Lazy ``(count, nan_count, min_key, max_key)`` of the non-NaN values of ``x``."""
    return tree_pass(x, _min_max_block, _min_max_merge, name="minmax")


def min_max(x: da.Array) -> tuple[int, int, Any, Any]:
    """Compute ``(count, nan_count, min, max)`` of the non-NaN values (one pass).

    ``min``/``max`` are numpy scalars of ``x.dtype`` (None when there is no value).
    """
    n, nan, lo, hi = min_max_pass(x).compute()
    if lo is None:
        return n, nan, None, None
    vals = from_keys(np.array([lo, hi]), x.dtype)
    return n, nan, vals[0], vals[1]
