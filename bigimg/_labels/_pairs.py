"""Labels touching across one block face, as a compiled scan (numba, no GIL).

:func:`face_pairs` gives what :func:`bigimg._labels._merge.face_pairs` gives (the
same :class:`~bigimg._labels._merge.FacePairs`, in the same order) without building
an array per structure offset: the plane above the face, one voxel wider on every
other axis (:func:`neighbour_plane`), is read once per face voxel and offset by
:func:`touching`, which drops a pair equal to the last pair of the same face label
(neighbouring voxels of one object mostly repeat it), so only a few pairs per label
reach the final ``np.unique``. Work is O(face voxels x offsets), memory
O(face voxels); with 26-connectivity on 128^3 blob blocks it is about 5x faster.

:func:`block_edges` is :func:`bigimg._labels._merge.block_edges` on these pairs (the
client merge's per-block task); the tree merge calls :func:`face_pairs` from
:func:`bigimg._labels._leaf.block_leaf`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from bigimg._labels._kernel import BlockSummary
from bigimg._labels._merge import EdgeSpec, FacePairs, FaceSpec

__all__ = ["block_edges", "face_pairs", "neighbour_plane", "touching"]

_JIT = dict(nogil=True, cache=True)


def neighbour_plane(face_shape, summaries: Sequence[BlockSummary], spec: FaceSpec):
    """The plane above a face of shape ``face_shape``, one voxel wider on every other
    axis, and where each neighbour's ids start.

    Each neighbour's labels ``1..count`` are shifted into one id range (neighbour
    ``n`` holds ``starts[n] + 1 .. starts[n] + count``); background seed voxels are -1.
    """
    axis, ndim = spec.axis, len(face_shape)
    total = sum(summaries[position].count for _, _, position in spec.neighbours)
    dtype = np.int32 if total < 2**31 - 1 else np.int64
    ext = np.zeros(tuple(1 if b == axis else face_shape[b] + 2 for b in range(ndim)), dtype)
    starts, ids, base = [], [], 0
    for delta, block_id, position in spec.neighbours:
        summary = summaries[position]
        slab = summary.faces[(axis, 0)]
        dst, src = [], []
        for b in range(ndim):
            if b == axis or delta[b] == 0:
                dst.append(slice(None) if b == axis else slice(1, 1 + face_shape[b]))
                src.append(slice(None))
            elif delta[b] < 0:
                dst.append(slice(0, 1))
                src.append(slice(slab.shape[b] - 1, None))
            else:
                dst.append(slice(face_shape[b] + 1, None))
                src.append(slice(0, 1))
        part = slab[tuple(src)]
        region = ext[tuple(dst)]
        np.add(part, np.int64(base), out=region, where=part > 0, casting="unsafe")
        region[part > summary.count] = -1
        starts.append(base)
        ids.append(block_id)
        base += summary.count
    return ext, np.asarray(starts, dtype=np.int64), np.asarray(ids, dtype=np.int64)


@numba.njit(**_JIT)
def touching(face, ext, centre, moves, count):
    """Scan the face against the plane above it.

    ``face[f]`` is face voxel ``f``'s label (``count + 1``: a background seed voxel);
    ``ext[centre[f] + moves[o]]`` the id above it moved by offset ``o`` (-1: a seed).
    Returns ``(mine, theirs, seeded, touched)``: pairs of a label and an id that touch
    (each pair at least once), labels touching a seed above, ids touching a seed of
    the face; a value may repeat.
    """
    n, m = face.size, moves.size
    mine = np.empty(n * m, dtype=np.int64)
    theirs = np.empty(n * m, dtype=np.int64)
    seeded = np.empty(n * m, dtype=np.int64)
    touched = np.empty(n * m, dtype=np.int64)
    last = np.zeros(count + 1, dtype=np.int64)  # per label: the id it was last paired with
    pairs = seeds_up = seeds_down = 0
    for f in range(n):
        u = np.int64(face[f])
        if u == 0:
            continue
        c = centre[f]
        if u > count:  # a background seed voxel of the face
            for o in range(m):
                v = np.int64(ext[c + moves[o]])
                if v > 0:
                    touched[seeds_down] = v
                    seeds_down += 1
            continue
        for o in range(m):
            v = np.int64(ext[c + moves[o]])
            if v > 0:
                if last[u] != v:
                    last[u] = v
                    mine[pairs] = u
                    theirs[pairs] = v
                    pairs += 1
            elif v < 0:
                seeded[seeds_up] = u
                seeds_up += 1
    return mine[:pairs], theirs[:pairs], seeded[:seeds_up], touched[:seeds_down]


def _unique_pairs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(u, v)`` rows, sorted by ``u`` then ``v``."""
    if u.size == 0:
        return u, v
    span = int(v.max()) + 1
    if (int(u.max()) + 1) * span < 2**62:
        key = np.unique(u * span + v)
        return key // span, key % span
    rows = np.unique(np.stack([u, v], axis=1), axis=0)
    return rows[:, 0], rows[:, 1]


def face_pairs(lower: BlockSummary, summaries: Sequence[BlockSummary], spec: FaceSpec) -> FacePairs:
    """Labels touching across the upper face of ``lower`` along ``spec.axis``.

    Face slabs hold labels 1..count and ``count + 1`` for background seed voxels.
    """
    axis = spec.axis
    face = lower.faces[(axis, 1)]
    ext, starts, ids = neighbour_plane(face.shape, summaries, spec)
    inner = tuple(slice(None) if b == axis else slice(1, -1) for b in range(face.ndim))
    centre = np.arange(ext.size, dtype=np.int64).reshape(ext.shape)[inner].ravel()
    strides = np.asarray(ext.strides, dtype=np.int64) // ext.itemsize
    offsets = np.asarray(spec.offsets, dtype=np.int64).reshape(-1, face.ndim).copy()
    offsets[:, axis] = 0
    mine, theirs, seeded, touched = touching(
        face.ravel(), ext.ravel(), centre, offsets @ strides, lower.count
    )
    u, v = _unique_pairs(mine, theirs)

    def decode(values):
        slot = np.searchsorted(starts, values - 1, side="right") - 1
        return ids[slot], values - starts[slot]

    blocks, labels = decode(v)
    edges = np.stack([u, blocks, labels], axis=1).reshape(-1, 3)
    other_blocks, other_labels = decode(np.unique(touched))
    return FacePairs(
        edges,
        np.unique(seeded),
        np.stack([other_blocks, other_labels], axis=1).reshape(-1, 2),
    )


def block_edges(summary: BlockSummary, summaries: Sequence[BlockSummary], spec: EdgeSpec) -> tuple:
    """One block's small tables for :func:`~bigimg._labels._merge.collect`, as
    :func:`bigimg._labels._merge.block_edges` gives them (its face slabs are dropped).

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
