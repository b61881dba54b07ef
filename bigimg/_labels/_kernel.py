"""Step 1 of cross-block labelling: label one block and summarise it.

A block is labelled on its own by :class:`BlockLabeller` (the run-length kernel of
:mod:`bigimg._labels._runs`). What leaves the task is a small :class:`BlockSummary`:
the label count, the global raster position of each label's first voxel, one-voxel
face slabs for the merge step and the labels touching the array border or a seed
voxel. The big label block itself never leaves the task; the relabel step
(:func:`relabel_block`) labels the block a second time, identically, and paints the
final labels straight from its own lookup table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from bigimg._labels._runs import (
    RunGeometry,
    block_rows,
    edge_column,
    label_runs,
    paint_rows,
    paint_runs,
    scan_runs,
)

__all__ = [
    "BlockLabeller",
    "BlockRuns",
    "BlockSummary",
    "SummarySpec",
    "relabel_block",
    "run_face",
    "summarise_block",
    "summarise_runs",
]


class BlockRuns(NamedTuple):
    """A labelled block as runs along its last axis (see :mod:`bigimg._labels._runs`).

    Run ``i`` covers columns ``bounds[2 * i] .. bounds[2 * i + 1] - 1`` of its row (the
    runs of row ``r`` are ``row_ptr[r] .. row_ptr[r + 1] - 1``) and has label
    ``labels[i]``; ``first[k]`` is the block-local flat index of the first voxel of
    label ``k + 1``.
    """

    shape: tuple[int, ...]
    row_ptr: np.ndarray
    bounds: np.ndarray
    labels: np.ndarray
    first: np.ndarray

    @property
    def count(self) -> int:
        return int(self.first.size)


class BlockLabeller:
    """Label the nonzero voxels of one block for a scipy-valid ``structure``.

    Labels are numbered 1, 2, ... in raster order of their first voxel (scipy's
    numbering); labelling the same block twice gives the same labels, which the
    relabel step relies on. Pickles as its structure (27 bytes in 3-D).
    """

    def __init__(self, structure: np.ndarray) -> None:
        self.structure = np.asarray(structure, dtype=bool)
        self._geometry = RunGeometry(self.structure)

    def __reduce__(self):
        return (type(self), (self.structure,))

    def __dask_tokenize__(self):
        return (type(self).__name__, self.structure.shape, self.structure.tobytes())

    def runs(self, block: np.ndarray) -> BlockRuns:
        """Label the nonzero voxels of ``block`` as runs (no voxel array is written,
        and none is copied when the block's rows are contiguous)."""
        block = np.asarray(block)
        shape = block.shape
        geometry = self._geometry
        if block.size == 0:
            row_ptr = np.zeros(int(np.prod(shape[:-1], dtype=np.int64)) + 1, dtype=np.int64)
            none = np.empty(0, dtype=np.int32)
            return BlockRuns(shape, row_ptr, none, none, np.empty(0, dtype=np.int64))
        rows = block_rows(block)
        row_ptr, bounds = scan_runs(*rows[:6], not geometry.along_row, rows.nonzero)
        neighbours = geometry.neighbour_rows(shape if block.ndim > 1 else (1, *shape))
        n = bounds.size // 2
        labels = np.empty(n, dtype=np.int32 if n < 2**31 - 1 else np.int64)
        first = label_runs(
            row_ptr, bounds, neighbours, geometry.low, geometry.high, rows.width, labels
        )
        return BlockRuns(shape, row_ptr, bounds, labels, first)

    @staticmethod
    def paint(runs: BlockRuns, values: np.ndarray, background=0) -> np.ndarray:
        """An array of the block's shape: ``values[i]`` on run ``i``, ``background`` elsewhere."""
        if background == 0:
            out = np.zeros(runs.shape, dtype=values.dtype)
        else:
            out = np.full(runs.shape, background, dtype=values.dtype)
        if out.size:
            paint_runs(runs.row_ptr, runs.bounds, values, out.reshape(-1), runs.shape[-1])
        return out

    def __call__(self, block: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """``(labels, count, first)``: the painted labels (smallest unsigned dtype)."""
        runs = self.runs(block)
        labels = self.paint(runs, runs.labels.astype(np.min_scalar_type(runs.count)))
        return labels, runs.count, runs.first


class BlockSummary(NamedTuple):
    """What the labelling of one block tells the merge step (all small).

    ``first[i]`` is the global flat (C-order) index of the first voxel of local label
    ``i + 1``; ``faces`` maps ``(axis, side)`` to the block's first (side 0) or last
    (side 1) plane of local labels (``count + 1`` marks a background seed voxel), kept
    with length 1 along ``axis``; ``border`` and ``seeded`` are sorted local labels
    on the array border / containing or touching a seed voxel of this block.
    """

    count: int
    first: np.ndarray
    faces: dict
    border: np.ndarray
    seeded: np.ndarray


@dataclass(frozen=True)
class SummarySpec:
    """Where a block sits and which faces and flags its summary must carry."""

    location: tuple[int, ...]
    shape: tuple[int, ...]
    faces: tuple[tuple[int, int], ...]
    border_faces: tuple[tuple[int, int], ...]


def _face(labels: np.ndarray, axis: int, side: int) -> np.ndarray:
    index = [slice(None)] * labels.ndim
    index[axis] = slice(0, 1) if side == 0 else slice(labels.shape[axis] - 1, None)
    return labels[tuple(index)]


def _global_first(first: np.ndarray, block_shape, spec: SummarySpec) -> np.ndarray:
    """Block-local flat indices to global flat indices (vectorised).

    Raster order inside a block agrees with global raster order (both are
    lexicographic on coordinates), so a label's first voxel in the block is its
    first in the whole array too; converting positions to global flat indices makes
    the first voxels of labels in different blocks comparable.
    """
    local = np.unravel_index(first, block_shape)
    coords = tuple(c + o for c, o in zip(local, spec.location, strict=True))
    return np.ravel_multi_index(coords, spec.shape).astype(np.int64, copy=False)


def _unique_labels(values: np.ndarray) -> np.ndarray:
    values = np.unique(values)
    return values[values != 0].astype(np.int64)


def _seeded_labels(labels: np.ndarray, seeds: np.ndarray, structure: np.ndarray):
    """Labels containing or touching (under ``structure``) a seed voxel in this block,
    and the background seed voxels (which may touch labels of other blocks)."""
    seeds = seeds if seeds.dtype == bool else seeds != 0
    outside = seeds & (labels == 0)
    seeded = _unique_labels(labels[seeds])
    if outside.any():
        reach = structure.copy()
        reach[(1,) * structure.ndim] = True
        touched = ndi.binary_dilation(outside, reach)
        seeded = np.union1d(seeded, _unique_labels(labels[touched]))
    return seeded, outside


def run_face(runs: BlockRuns, axis: int, side: int, values: np.ndarray) -> np.ndarray:
    """The block's first (side 0) or last (side 1) plane along ``axis``, painted with
    ``values[i]`` on run ``i``, without painting the rest of the block."""
    shape = runs.shape
    face_shape = tuple(1 if b == axis else n for b, n in enumerate(shape))
    if axis == len(shape) - 1:
        out = np.empty(int(np.prod(shape[:-1], dtype=np.int64)), dtype=values.dtype)
        edge_column(runs.row_ptr, runs.bounds, values, side == 1, shape[-1], out)
        return out.reshape(face_shape)
    lead = shape[:-1]
    index = [slice(None)] * len(lead)
    index[axis] = 0 if side == 0 else lead[axis] - 1
    rows = np.arange(int(np.prod(lead, dtype=np.int64))).reshape(lead)[tuple(index)].ravel()
    out = np.zeros((rows.size, shape[-1]), dtype=values.dtype)
    paint_rows(runs.row_ptr, runs.bounds, values, rows, out)
    return out.reshape(face_shape)


def summarise_runs(
    runs: BlockRuns,
    spec: SummarySpec,
    seeds: np.ndarray | None = None,
    structure: np.ndarray | None = None,
) -> BlockSummary:
    """The :class:`BlockSummary` of one block labelled by :class:`BlockLabeller.runs`.

    Faces are read from the runs; the whole block is painted only to find the
    labels holding or touching ``seeds``. With ``seeds`` (and the labelling
    ``structure``), face slabs mark background seed voxels as ``count + 1`` so the
    merge step can see labels touching them across faces.
    """
    count = runs.count
    values = runs.labels.astype(np.min_scalar_type(count + 1))
    if seeds is not None:
        labels = BlockLabeller.paint(runs, values)
        seeded, outside = _seeded_labels(labels, np.asarray(seeds), structure)
    else:
        seeded, outside = np.empty(0, np.int64), None
    faces = {}
    for ax, side in spec.faces:
        slab = run_face(runs, ax, side, values)
        if outside is not None:
            slab[_face(outside, ax, side)] = count + 1
        faces[(ax, side)] = slab
    if spec.border_faces:
        on_border = [run_face(runs, ax, side, values).ravel() for ax, side in spec.border_faces]
        border = _unique_labels(np.concatenate(on_border))
    else:
        border = np.empty(0, np.int64)
    first = _global_first(runs.first, runs.shape, spec)
    return BlockSummary(count, first, faces, border, seeded)


def summarise_block(
    block: np.ndarray,
    labeller: BlockLabeller,
    spec: SummarySpec,
    seeds: np.ndarray | None = None,
) -> BlockSummary:
    """Label ``block`` and return its :class:`BlockSummary` (no label block is kept)."""
    return summarise_runs(labeller.runs(block), spec, seeds, labeller.structure)


def relabel_block(
    block: np.ndarray, lut: np.ndarray, labeller: BlockLabeller, view: np.dtype | None = None
) -> np.ndarray:
    """Label ``block`` again and paint local label ``i`` as ``lut[i]``, background ``lut[0]``."""
    runs = labeller.runs(block)
    if runs.count + 1 != lut.size:
        raise RuntimeError(
            f"block relabelled with {runs.count} labels but its summary had "
            f"{lut.size - 1}; the input must give the same values every time it is computed"
        )
    out = labeller.paint(runs, lut[runs.labels], lut[0])
    return out.view(view) if view is not None else out
