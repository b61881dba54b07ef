"""The one tree reduction: a small result per block, merged ``split_every`` at a time.

Every table and every whole-volume statistic in bigimg is computed the same way: each
block is turned into a small partial result (a per-label table, a histogram, a few
sums, the handful of values inside a narrow range), and the partial results are merged
``split_every`` at a time in a tree of tasks. No task holds more than one block plus a
few partial results, and the graph has O(blocks) tasks. Several reductions over the
same arrays can be computed in one ``dask.compute`` call (:func:`run_passes`): dask then
reads each block once for all of them.

:func:`tree_reduce` is the reduction; :func:`tree_pass` is the same reduction for a
plain block function that takes keyword arguments (the statistics passes).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

__all__ = [
    "add_merge",
    "chunk_offsets",
    "flat_keys",
    "run_passes",
    "tree_pass",
    "tree_reduce",
]


def chunk_offsets(chunks) -> tuple[tuple[int, ...], ...]:
    """Per axis, the first index of every chunk (``chunks`` as in ``dask.array``)."""
    return tuple(tuple(int(v) for v in np.cumsum((0,) + tuple(c))[:-1]) for c in chunks)


def flat_keys(keys):
    """The graph keys of a dask collection's nested key list, in C order."""
    if isinstance(keys, list):
        for k in keys:
            yield from flat_keys(k)
    else:
        yield keys


def tree_reduce(
    arrays, block_func, merge_func, spec, *extra, split_every=16, name="measure", blocks=None
):
    """Map ``block_func`` over aligned blocks and merge the results in a tree of tasks.

    Block tasks run ``block_func(spec, *blocks, *extra, block_id=...)``; merge tasks run
    ``merge_func(spec, [results])`` on at most ``split_every`` results. ``extra`` may
    hold ``Delayed`` objects (one graph key each, shared by all blocks). ``blocks``
    (block index tuples) restricts the reduction to those blocks: the others are culled
    from the graph and never read. Returns the ``Delayed`` final result; the graph has
    O(blocks) tasks.
    """
    ref = arrays[0]
    token = tokenize(block_func, merge_func, spec, *arrays, *extra)
    parts = da.map_blocks(
        _block_task,
        *arrays,
        *extra,
        fn=block_func,
        spec=spec,
        nblocks=len(arrays),
        dtype=object,
        meta=np.empty((0,) * ref.ndim, object),
        name=f"{name}-block-{token}",
    )
    if blocks is None:
        keys = list(flat_keys(parts.__dask_keys__()))
    else:
        keys = [(parts.name, *map(int, b)) for b in blocks]
        token = tokenize(token, keys)
    mname = f"{name}-merge-{token}"
    dsk: dict = {}
    level = 0
    split_every = max(2, int(split_every))
    while len(keys) > 1 or level == 0:
        new = []
        for i in range(0, len(keys), split_every):
            k = (mname, level, i // split_every)
            dsk[k] = (merge_func, spec, list(keys[i : i + split_every]))
            new.append(k)
        keys = new
        level += 1
    graph = HighLevelGraph.from_collections(mname, dsk, dependencies=[parts])
    return Delayed(keys[0], graph, layer=mname)


def _block_task(*args, fn=None, spec=None, nblocks=1, block_id=None):
    return fn(spec, *args[:nblocks], *args[nblocks:], block_id=block_id)


# ------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class PassSpec:
    """A :func:`tree_pass` as a :func:`tree_reduce` spec: the plain functions and their
    keyword arguments (embedded in every task: keep them small)."""

    block: Callable
    merge: Callable
    kwargs: dict
    offsets: tuple | None = None


def _pass_block(p: PassSpec, *blocks, block_id=None):
    if p.offsets is not None:
        offset = tuple(p.offsets[d][b] for d, b in enumerate(block_id))
        return p.block(*blocks, offset=offset, **p.kwargs)
    return p.block(*blocks, **p.kwargs)


def _pass_merge(p: PassSpec, parts: list):
    return p.merge(parts)


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
    every task: keep them small. With ``with_offset`` the block function also gets
    ``offset=``, the block's first voxel in the array. The graph is that of
    :func:`tree_reduce`.
    """
    arrays = [x] if isinstance(x, da.Array) else list(x)
    offsets = chunk_offsets(arrays[0].chunks) if with_offset else None
    spec = PassSpec(block_func, merge_func, kwargs, offsets)
    return tree_reduce(arrays, _pass_block, _pass_merge, spec, split_every=split_every, name=name)


def run_passes(*passes: Delayed) -> tuple:
    """Compute several passes together (dask reads every block once for all of them)."""
    return dask.compute(*passes)


def add_merge(parts: Sequence) -> Any:
    """Merge function of passes whose partial results add (arrays or tuples of arrays)."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(reduce(operator.add, items) for items in zip(*parts))
    return reduce(operator.add, parts)
