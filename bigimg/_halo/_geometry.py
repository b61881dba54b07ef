"""Kernel geometry -> halo depth: how far a kernel reads from each output voxel."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["footprint_depth", "merge_small_chunks"]


def footprint_depth(shape: Sequence[int], origin: Sequence[int]) -> tuple[int, ...]:
    """Halo depth per axis for a correlation kernel of ``shape`` shifted by ``origin``.

    scipy places a kernel of length ``s`` with origin ``o`` so that it reads from
    ``s // 2 + o`` voxels before to ``s - s // 2 - 1 - o`` voxels after the output voxel.
    The halo is the larger of the two reaches.
    """
    depth = []
    for s, o in zip(shape, origin, strict=True):
        s, o = int(s), int(o)
        if s <= 0:
            depth.append(0)
            continue
        depth.append(max(s // 2 + o, s - s // 2 - 1 - o, 0))
    return tuple(depth)


def merge_small_chunks(chunks: Sequence[int], minimum: int) -> tuple[int, ...]:
    """Merge neighbouring chunks so that every chunk is at least ``minimum`` long.

    >>> merge_small_chunks((5, 1, 1, 1, 5, 2), 3)
    (5, 3, 7)
    >>> merge_small_chunks((5, 1, 1, 1, 5, 2), 4)
    (5, 10)
    >>> merge_small_chunks((1, 1, 1, 1, 1), 2)
    (2, 3)
    """
    if minimum <= 1 or min(chunks) >= minimum:
        return tuple(chunks)
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += c
        if acc >= minimum:
            out.append(acc)
            acc = 0
    if acc:
        if out and acc < minimum:
            out[-1] += acc
        else:
            out.append(acc)
    return tuple(out)
