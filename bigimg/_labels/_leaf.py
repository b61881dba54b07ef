"""Step 2 of the tree merge: one block's leaf table and its pairs across faces.

:func:`block_leaf` (one task per block) turns a block's
:class:`~bigimg._labels._kernel.BlockSummary` and its upper neighbours' summaries into

* a :class:`Leaf`: what the rest of the tree merge needs of the block, all of size
  O(block surface + block rows): its *face labels* (labels on a face shared with
  another block) with their ids, faces, flags and row positions, and the per-row
  histogram of its *interior* labels' first voxels (for the distributed rank);
* its crossings: per upper neighbour block, the pairs of ids that touch across the
  shared face (from :func:`~bigimg._labels._pairs.face_pairs`) and the ids of the
  neighbour's labels touching this block's background seed voxels.

A label's *id* is the global raster index of its first voxel: unique over the whole
array, so no block offsets are needed, and it is also the label's key in the tree
merge (a component's key is the smallest id of its labels, which is where scipy puts
its number). Everything is vectorised numpy over the block's labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bigimg._labels._kernel import BlockSummary
from bigimg._labels._merge import EdgeSpec
from bigimg._labels._pairs import face_pairs

__all__ = [
    "BORDER",
    "MULTI",
    "SEED",
    "Crossing",
    "Leaf",
    "LeafSpec",
    "block_leaf",
    "face_bit_dtype",
    "local_first",
]

#: Flag bits carried per label and per component through the tree: on the array
#: border, holding or touching a seed, made of more than one label.
BORDER, SEED, MULTI = np.uint8(1), np.uint8(2), np.uint8(4)


def face_bit_dtype(ndim: int) -> np.dtype:
    """The unsigned dtype holding one bit per block face (``2 * ndim`` bits)."""
    return np.dtype(np.min_scalar_type((1 << (2 * ndim)) - 1))


@dataclass(frozen=True)
class LeafSpec:
    """Where a block sits (its edge geometry, first voxel, shape and the array's shape)
    and which flag tables (:data:`BORDER`, :data:`SEED` bits) are wanted."""

    edge: EdgeSpec
    location: tuple[int, ...]
    block_shape: tuple[int, ...]
    shape: tuple[int, ...]
    wanted: int = 0


class Leaf(NamedTuple):
    """One block as the tree merge sees it (face-label arrays are aligned, by label).

    ``ids``: the face labels' first voxels as global raster indices (sorted: labels
    are numbered in raster order); ``faces``: bit ``2 * axis + side`` set for each
    block face the label lies on; ``flags``: its own :data:`BORDER` / :data:`SEED`
    bits; ``rows``: the block-local row (index over all axes but the last) of its
    first voxel; ``before``: interior labels whose first voxel is earlier in the same
    row. ``hist[r]``: interior labels whose first voxel is in block-local row ``r``.
    ``border_bits`` / ``seed_bits``: the flags of every label 1..count, bit-packed
    (``None`` when not asked for). ``location``, ``block_shape``, ``shape``: where the
    block sits. Arrays use the smallest dtype that holds them.
    """

    count: int
    ids: np.ndarray
    faces: np.ndarray
    flags: np.ndarray
    rows: np.ndarray
    before: np.ndarray
    hist: np.ndarray
    border_bits: np.ndarray | None
    seed_bits: np.ndarray | None
    location: tuple[int, ...]
    block_shape: tuple[int, ...]
    shape: tuple[int, ...]


class Crossing(NamedTuple):
    """What touches one neighbour block: ``pairs`` ``(n, 2)`` of ids ``(mine, theirs)``;
    ``seeded``: ids of its labels touching a background seed voxel of mine."""

    pairs: np.ndarray
    seeded: np.ndarray


def _local_rows(first: np.ndarray, spec: LeafSpec) -> np.ndarray:
    """Block-local row (C-order index over all axes but the last) of global indices."""
    if len(spec.shape) == 1:
        return np.zeros(first.size, dtype=np.int64)
    coords = np.unravel_index(first // spec.shape[-1], spec.shape[:-1])
    local = tuple(c - o for c, o in zip(coords, spec.location[:-1], strict=True))
    return np.ravel_multi_index(local, spec.block_shape[:-1]).astype(np.int64, copy=False)


def local_first(ids: np.ndarray, leaf: Leaf) -> np.ndarray:
    """Global raster indices of voxels of a block to the block's flat indices (the
    ``first`` of :class:`~bigimg._labels._kernel.BlockRuns`)."""
    coords = np.unravel_index(ids, leaf.shape)
    local = tuple(c - o for c, o in zip(coords, leaf.location, strict=True))
    return np.ravel_multi_index(local, leaf.block_shape).astype(np.int64, copy=False)


def _small(values: np.ndarray) -> np.ndarray:
    """``values`` (non-negative integers) in the smallest unsigned dtype holding them."""
    return values.astype(np.min_scalar_type(int(values.max(initial=0))), copy=False)


def _bits(count: int, labels: np.ndarray, wanted: bool) -> np.ndarray | None:
    if not wanted:
        return None
    flag = np.zeros(count + 1, dtype=bool)
    flag[labels] = True
    return np.packbits(flag[1:])


def _crossings(
    summary: BlockSummary, summaries: Sequence[BlockSummary], spec: EdgeSpec
) -> tuple[dict[int, Crossing], np.ndarray]:
    """Pairs per neighbour, and my labels touching a neighbour's background seed."""
    by_block = {
        block_id: summaries[position]
        for face in spec.faces
        for _, block_id, position in face.neighbours
    }
    found = [face_pairs(summary, summaries, face) for face in spec.faces]
    rows = np.concatenate([f.edges for f in found] or [np.empty((0, 3), np.int64)])
    touched = np.concatenate([f.seeded_other for f in found] or [np.empty((0, 2), np.int64)])
    mine = np.unique(np.concatenate([np.empty(0, np.int64), *(f.seeded for f in found)]))
    crossings = {}
    for block_id in np.union1d(rows[:, 1], touched[:, 0]).tolist():
        other = by_block[block_id]
        sel = rows[rows[:, 1] == block_id]
        pairs = np.stack([summary.first[sel[:, 0] - 1], other.first[sel[:, 2] - 1]], axis=1)
        seeded = other.first[touched[touched[:, 0] == block_id, 1] - 1]
        crossings[block_id] = Crossing(pairs.astype(np.int64), np.unique(seeded))
    return crossings, mine


def block_leaf(
    summary: BlockSummary, summaries: Sequence[BlockSummary], spec: LeafSpec
) -> tuple[Leaf, dict[int, Crossing]]:
    """The block's :class:`Leaf` and its :class:`Crossing` per upper neighbour block id.

    ``summaries`` are the neighbours' summaries in the order ``spec.edge`` names them
    (as for :func:`~bigimg._labels._merge.block_edges`). Only ``summary.faces`` of faces
    shared with another block are present, so the face labels are exactly the labels
    that can join labels of other blocks.
    """
    count = summary.count
    crossings, seeded_here = _crossings(summary, summaries, spec.edge)
    faces = np.zeros(count + 2, dtype=face_bit_dtype(len(spec.shape)))
    for (axis, side), slab in summary.faces.items():
        faces[np.unique(slab)] |= faces.dtype.type(1 << (2 * axis + side))
    faces = faces[: count + 1]
    faces[0] = 0
    on_face = faces != 0
    labels = np.flatnonzero(on_face)
    interior = ~on_face[1:]
    rows = _local_rows(summary.first, spec)
    lead = spec.block_shape[:-1] if len(spec.block_shape) > 1 else (1,)
    n_rows = int(np.prod(lead, dtype=np.int64))
    hist = _small(np.bincount(rows[interior], minlength=n_rows))
    # interior labels before each label, minus those in earlier rows
    interior_before = np.cumsum(interior) - interior
    row_start = np.concatenate([[0], np.cumsum(hist, dtype=np.int64)[:-1]])
    face_rows = rows[labels - 1]
    flags = np.zeros(count + 1, dtype=np.uint8)
    flags[summary.border] |= BORDER
    flags[summary.seeded] |= SEED
    flags[seeded_here] |= SEED
    leaf = Leaf(
        count=count,
        ids=summary.first[labels - 1].astype(np.int64, copy=False),
        faces=faces[labels],
        flags=flags[labels],
        rows=_small(face_rows),
        before=_small(interior_before[labels - 1] - row_start[face_rows]),
        hist=hist,
        border_bits=_bits(count, summary.border, bool(spec.wanted & BORDER)),
        seed_bits=_bits(count, np.union1d(summary.seeded, seeded_here), bool(spec.wanted & SEED)),
        location=spec.location,
        block_shape=spec.block_shape,
        shape=spec.shape,
    )
    return leaf, crossings
