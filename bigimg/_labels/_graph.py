"""The graph layer both merges share: one summary task per block, and its face geometry.

:func:`summary_tasks` writes the ``summary`` task of every block
(:func:`~bigimg._labels._kernel.summarise_block`) and describes, per block, which
upper neighbours its face pairs reach (:class:`~bigimg._labels._merge.EdgeSpec`), so
that the client merge (:func:`~bigimg._labels._merge.block_edges`) and the tree merge
(:func:`~bigimg._labels._leaf.block_leaf`) build their per-block tasks from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dask.array as da
import numpy as np

from bigimg._labels._kernel import BlockLabeller, SummarySpec
from bigimg._labels._merge import EdgeSpec, FaceSpec, neighbour_deltas, upper_offsets

__all__ = ["BlockTasks", "block_starts", "summary_tasks"]


def block_starts(chunks: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """First index of every block along every axis."""
    return [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int) for c in chunks]


@dataclass(frozen=True)
class BlockTasks:
    """One block's place in the graph: grid index, flat id, first voxel, shape, the
    keys of the neighbour summaries its face pairs read and its :class:`EdgeSpec`."""

    index: tuple[int, ...]
    block_id: int
    location: tuple[int, ...]
    shape: tuple[int, ...]
    neighbour_keys: tuple
    edge: EdgeSpec


def summary_tasks(
    x: da.Array,
    labeller: BlockLabeller,
    *,
    seeds: da.Array | None,
    border: Sequence[bool] | None,
    name: str,
    summarise: Callable,
) -> tuple[dict, list[BlockTasks]]:
    """Summary tasks ``(name, *index)`` of every block of ``x`` and each block's
    :class:`BlockTasks` (in C order of the block grid)."""
    grid, ndim = x.numblocks, x.ndim
    starts = block_starts(x.chunks)
    structure = labeller.structure
    axes = []  # (axis, offsets stepping up the axis, neighbour steps they reach)
    for axis in range(ndim):
        offsets = tuple(tuple(int(v) for v in d) for d in upper_offsets(structure, axis))
        if offsets:
            axes.append((axis, offsets, neighbour_deltas(structure, axis)))
    dsk: dict = {}
    blocks = []
    for idx in np.ndindex(*grid):
        faces = [(ax, 0) for ax in range(ndim) if idx[ax] > 0]
        faces += [(ax, 1) for ax in range(ndim) if idx[ax] < grid[ax] - 1]
        border_faces = [
            (ax, side)
            for ax in range(ndim)
            if border is not None and border[ax]
            for side in (0, 1)
            if idx[ax] == (0 if side == 0 else grid[ax] - 1)
        ]
        location = tuple(int(starts[ax][i]) for ax, i in enumerate(idx))
        spec = SummarySpec(location, x.shape, tuple(faces), tuple(border_faces))
        task = (summarise, (x.name, *idx), labeller, spec)
        if seeds is not None:
            task += ((seeds.name, *idx),)
        dsk[(name, *idx)] = task

        neighbour_keys: list = []
        face_specs = []
        for axis, offsets, deltas in axes:
            if idx[axis] == grid[axis] - 1:
                continue
            entries = []
            for delta in deltas:
                nidx = tuple(
                    i + d + (a == axis) for a, (i, d) in enumerate(zip(idx, delta, strict=True))
                )
                if all(0 <= i < n for i, n in zip(nidx, grid, strict=True)):
                    key = (name, *nidx)
                    if key not in neighbour_keys:
                        neighbour_keys.append(key)
                    block_id = int(np.ravel_multi_index(nidx, grid))
                    entries.append((delta, block_id, neighbour_keys.index(key)))
            face_specs.append(FaceSpec(axis, offsets, tuple(entries)))
        block_id = int(np.ravel_multi_index(idx, grid))
        shape = tuple(int(x.chunks[ax][i]) for ax, i in enumerate(idx))
        edge = EdgeSpec(block_id, tuple(face_specs))
        blocks.append(BlockTasks(idx, block_id, location, shape, tuple(neighbour_keys), edge))
    return dsk, blocks
