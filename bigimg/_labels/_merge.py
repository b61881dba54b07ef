"""Step 2 of cross-block labelling: find labels that touch across blocks and number them.

* :func:`block_edges` (one task per block) pairs, with :func:`face_pairs`, the labels
  on either side of each of the block's upper faces. Two voxels on either side of a boundary are
  connected iff their offset is in the structure, so the pairs cover faces, edges and
  corners for any structure: the neighbour slab is extended by one voxel on every
  side with the faces of the diagonal neighbours.
* :func:`collect` (one task) gathers the small per-block tables and turns local
  labels into provisional ids (block offset + local label - 1).
* :func:`resolve_numbering` (on the client) merges touching labels with a union-find
  over face-touching labels only (``scipy.sparse.csgraph.connected_components``),
  takes each object's first voxel (minimum global raster index over its labels) and
  ranks the objects by it: scipy numbers objects in raster order of their first voxel.

Everything is vectorised numpy: O(provisional labels + face pairs), no loop per label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from bigimg._labels._kernel import BlockSummary

__all__ = [
    "Collected",
    "EdgeSpec",
    "FacePairs",
    "FaceSpec",
    "block_edges",
    "collect",
    "face_pairs",
    "neighbour_deltas",
    "resolve_numbering",
    "upper_offsets",
]


def upper_offsets(structure: np.ndarray, axis: int) -> np.ndarray:
    """Offsets of the structure that step one voxel up ``axis`` (rows of an int array)."""
    offsets = np.argwhere(structure) - 1
    return offsets[offsets[:, axis] == 1]


def neighbour_deltas(structure: np.ndarray, axis: int) -> list[tuple[int, ...]]:
    """Block steps (relative to the block above along ``axis``) that face pairs reach.

    A voxel on the upper face of a block, moved by an offset ``d``, lands in the block
    above shifted by 0 or ``d[b]`` along every other axis ``b``.
    """
    deltas = set()
    for d in upper_offsets(structure, axis):
        choices = [(0,) if b == axis else tuple({0, int(d[b])}) for b in range(len(d))]
        deltas.update(product(*choices))
    return sorted(deltas)


@dataclass(frozen=True)
class FaceSpec:
    """The geometry of one face: the upper face of a block along ``axis``.

    ``neighbours`` lists, for each block above that the face touches, its step relative
    to the block directly above, its block id and its position in the summaries handed
    to :func:`block_edges`.
    """

    axis: int
    offsets: tuple[tuple[int, ...], ...]
    neighbours: tuple[tuple[tuple[int, ...], int, int], ...]


@dataclass(frozen=True)
class EdgeSpec:
    """One block's id and the faces along which it meets blocks above it."""

    block_id: int
    faces: tuple[FaceSpec, ...]


def _unique_rows(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if u.size == 0:
        return u, v
    span = int(v.max()) + 1
    if (int(u.max()) + 1) * span < 2**62:
        key = np.unique(u * span + v)
        return key // span, key % span
    rows = np.unique(np.stack([u, v], axis=1), axis=0)
    return rows[:, 0], rows[:, 1]


class FacePairs(NamedTuple):
    """What touches across one face.

    ``edges``: ``(n, 3)`` rows ``(label, other block, other label)`` of labels that
    touch; ``seeded``: labels of the lower block touching a background seed voxel of
    a neighbour; ``seeded_other``: ``(m, 2)`` rows ``(other block, label)`` touching a
    background seed voxel of the lower block.
    """

    edges: np.ndarray
    seeded: np.ndarray
    seeded_other: np.ndarray


def _neighbour_plane(face, summaries, spec):
    """The plane above ``face``, one voxel wider on every other axis.

    Each neighbour's labels are shifted into one id range (``starts``) so one array
    holds them all; background seed voxels are -1.
    """
    axis, ndim = spec.axis, face.ndim
    ext_shape = tuple(1 if b == axis else face.shape[b] + 2 for b in range(ndim))
    ext = np.zeros(ext_shape, dtype=np.int64)
    starts, ids, base = [], [], 0
    for delta, block_id, position in spec.neighbours:
        summary = summaries[position]
        slab = summary.faces[(axis, 0)]
        dst, src = [], []
        for b in range(ndim):
            if b == axis or delta[b] == 0:
                dst.append(slice(None) if b == axis else slice(1, 1 + face.shape[b]))
                src.append(slice(None))
            elif delta[b] < 0:
                dst.append(slice(0, 1))
                src.append(slice(slab.shape[b] - 1, None))
            else:
                dst.append(slice(face.shape[b] + 1, None))
                src.append(slice(0, 1))
        part = slab[tuple(src)].astype(np.int64)
        shifted = np.where(part > summary.count, -1, part + base)
        ext[tuple(dst)] = np.where(part > 0, shifted, 0)
        starts.append(base)
        ids.append(block_id)
        base += summary.count
    return ext, np.asarray(starts, dtype=np.int64), np.asarray(ids, dtype=np.int64)


def face_pairs(lower: BlockSummary, summaries: Sequence[BlockSummary], spec: FaceSpec) -> FacePairs:
    """Labels touching across the upper face of ``lower`` along ``spec.axis``.

    Face slabs hold labels 1..count and ``count + 1`` for background seed voxels.
    """
    axis = spec.axis
    face = lower.faces[(axis, 1)].astype(np.int64)
    ext, starts, ids = _neighbour_plane(face, summaries, spec)
    # flat index into the plane of each face voxel, moved by each offset: (offsets, voxels)
    centre = np.indices(face.shape).reshape(face.ndim, -1)
    centre[[b for b in range(face.ndim) if b != axis]] += 1
    strides = np.asarray(ext.strides, dtype=np.int64) // ext.itemsize
    moves = np.asarray(spec.offsets, dtype=np.int64).copy()
    moves[:, axis] = 0
    other = ext.reshape(-1)[(strides @ centre)[None, :] + (moves @ strides)[:, None]]
    flat = np.broadcast_to(face.reshape(-1), other.shape)
    real = (flat > 0) & (flat <= lower.count)
    seed = flat > lower.count
    touch = real & (other > 0)
    u, v = _unique_rows(flat[touch], other[touch])

    def decode(values):
        slot = np.searchsorted(starts, values - 1, side="right") - 1
        return ids[slot], values - starts[slot]

    blocks, labels = decode(v)
    edges = np.stack([u, blocks, labels], axis=1).reshape(-1, 3)
    other_blocks, other_labels = decode(np.unique(other[seed & (other > 0)]))
    return FacePairs(
        edges,
        np.unique(flat[real & (other < 0)]),
        np.stack([other_blocks, other_labels], axis=1).reshape(-1, 2),
    )


def block_edges(summary: BlockSummary, summaries: Sequence[BlockSummary], spec: EdgeSpec) -> tuple:
    """One block's small tables for :func:`collect` (its face slabs are dropped).

    Returns ``(count, first, border, seeded, pairs, seeded_elsewhere)``: ``pairs`` the
    ``(n, 4)`` rows ``(block, label, other block, other label)`` over all its upper
    faces, ``seeded_elsewhere`` the ``(m, 2)`` rows ``(block, label)`` of neighbours'
    labels touching one of its background seed voxels.
    """
    found = [face_pairs(summary, summaries, face) for face in spec.faces]
    rows = np.concatenate([f.edges for f in found] or [np.empty((0, 3), np.int64)])
    pairs = np.empty((len(rows), 4), dtype=np.int64)
    pairs[:, 0] = spec.block_id
    pairs[:, 1:] = rows
    seeded = np.unique(np.concatenate([summary.seeded, *(f.seeded for f in found)]))
    elsewhere = np.concatenate([f.seeded_other for f in found] or [np.empty((0, 2), np.int64)])
    return summary.count, summary.first, summary.border, seeded, pairs, elsewhere


@dataclass(frozen=True)
class Collected:
    """The gathered tables, in provisional ids ``offset[block] + label - 1``."""

    counts: np.ndarray
    first: np.ndarray
    pairs: np.ndarray
    border: np.ndarray
    seeded: np.ndarray


def collect(tables: Sequence[tuple]) -> Collected:
    """Gather the :func:`block_edges` tables of every block (in block order)."""
    counts = np.array([t[0] for t in tables], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def ids(k: int) -> np.ndarray:
        return np.concatenate([offsets[b] + t[k] - 1 for b, t in enumerate(tables)])

    rows = np.concatenate([t[4] for t in tables])
    edges = np.stack(
        [offsets[rows[:, 0]] + rows[:, 1] - 1, offsets[rows[:, 2]] + rows[:, 3] - 1], axis=1
    )
    elsewhere = np.concatenate([t[5] for t in tables])
    seeded = np.concatenate([ids(3), offsets[elsewhere[:, 0]] + elsewhere[:, 1] - 1])
    first = np.concatenate([t[1] for t in tables]).astype(np.int64, copy=False)
    return Collected(counts, first, edges, ids(2), seeded)


def resolve_numbering(first: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Final label of every provisional id, and the object count.

    ``first`` holds the global raster index of each provisional label's first voxel;
    ``edges`` the ``(n, 2)`` pairs of provisional ids that touch. Objects are the
    connected components of that graph, numbered 1, 2, ... in raster order of their
    first voxel, as ``scipy.ndimage.label`` numbers them.
    """
    key = first.copy()
    if edges.size:
        nodes, inverse = np.unique(edges.ravel(), return_inverse=True)
        inverse = inverse.reshape(edges.shape)
        graph = sparse.coo_matrix(
            (np.ones(len(edges), dtype=np.int8), (inverse[:, 0], inverse[:, 1])),
            shape=(nodes.size, nodes.size),
        )
        n_comp, comp = csgraph.connected_components(graph, directed=True, connection="weak")
        comp_first = np.full(n_comp, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(comp_first, comp, first[nodes])
        key[nodes] = comp_first[comp]
    objects, rank = np.unique(key, return_inverse=True)
    return rank.astype(np.int64) + 1, int(objects.size)
