"""A run-length connected-component kernel for any structure and any rank (numba, no GIL).

A block is viewed as rows along its last axis. Each row is cut into runs of
foreground voxels (maximal runs when the structure connects neighbours along the
last axis, single voxels otherwise). Runs of a row are joined with the runs of the
earlier rows the structure reaches, with a union-find whose root is always the
earliest run of a component, so components come out numbered in raster order of
their first voxel, like ``scipy.ndimage.label``. Work is O(voxels) for the scan
and the painting and O(runs) for the merging.

Why not cc3d: cc3d 4.1 holds the GIL (no speed-up on dask's threaded scheduler),
splits objects with 2-D 8-connectivity on some shapes, fails on line-like 26-connected
blocks, and cannot take arbitrary structures. This kernel releases the GIL, takes
any scipy-valid structure and paints final labels directly, without a label array
in between.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "RunGeometry",
    "column_values",
    "find_runs",
    "label_runs",
    "paint_rows",
    "paint_runs",
]

_JIT = dict(nogil=True, cache=True)


class RunGeometry:
    """How rows connect under a structure: for each earlier-row step, its reach.

    ``steps`` holds offsets along the leading axes that point to earlier rows;
    ``reach[k]`` is a bit set of the last-axis offsets -1 (bit 0), 0 (bit 1), +1
    (bit 2) that connect a voxel to row step ``k``; ``along_row`` says whether
    neighbours in the same row connect.
    """

    def __init__(self, structure: np.ndarray) -> None:
        structure = np.asarray(structure, dtype=bool)
        ndim = structure.ndim
        self.along_row = bool(structure[(1,) * (ndim - 1) + (0,)])
        steps, reach = [], []
        for lead in np.ndindex(*(3,) * (ndim - 1)):
            step = tuple(c - 1 for c in lead)
            if step >= (0,) * (ndim - 1):  # only rows before this one in raster order
                continue
            bits = sum(1 << b for b in range(3) if structure[(*lead, b)])
            if bits:
                steps.append(step)
                reach.append(bits)
        self.steps = np.array(steps, dtype=np.int64).reshape(len(steps), ndim - 1)
        self.reach = np.array(reach, dtype=np.int8)
        self._neighbours: dict[tuple[int, ...], np.ndarray] = {}

    def neighbour_rows(self, shape: tuple[int, ...]) -> np.ndarray:
        """``(steps, rows)`` array: the row each step reaches from each row, or -1.

        Cached per block shape (a volume's blocks have few distinct shapes).
        """
        shape = tuple(shape)
        table = self._neighbours.get(shape)
        if table is None:
            table = self._neighbour_rows(shape)
            if len(self._neighbours) > 64:
                self._neighbours.clear()
            self._neighbours[shape] = table
        return table

    def _neighbour_rows(self, shape: tuple[int, ...]) -> np.ndarray:
        lead = shape[:-1]
        rows = int(np.prod(lead, dtype=np.int64))
        if not len(self.steps) or rows == 0:
            return np.full((len(self.steps), rows), -1, dtype=np.int64)
        coords = np.indices(lead).reshape(len(lead), rows)
        strides = np.cumprod((1, *lead[:0:-1]))[::-1]  # C-order strides of the rows
        out = np.empty((len(self.steps), rows), dtype=np.int64)
        for k, step in enumerate(self.steps):
            moved = coords + step[:, None]
            valid = np.all((moved >= 0) & (moved < np.array(lead)[:, None]), axis=0)
            out[k] = np.where(valid, np.arange(rows) + int(step @ strides), -1)
        return out


@numba.njit(**_JIT)
def find_runs(mask, single):
    """Runs of nonzero voxels per row of a 2-D mask: ``(row_ptr, starts, ends)``.

    One pass; the run buffers are sized for the worst case but only the pages
    actually written are ever touched.
    """
    rows, width = mask.shape
    capacity = rows * (width if single else (width + 1) // 2)
    row_ptr = np.empty(rows + 1, dtype=np.int64)
    starts = np.empty(capacity, dtype=np.int32)
    ends = np.empty(capacity, dtype=np.int32)
    k = 0
    for r in range(rows):
        row_ptr[r] = k
        x = 0
        while x < width:
            if mask[r, x] != 0:
                starts[k] = x
                x += 1
                if not single:
                    while x < width and mask[r, x] != 0:
                        x += 1
                ends[k] = x
                k += 1
            else:
                x += 1
    row_ptr[rows] = k
    return row_ptr, starts[:k].copy(), ends[:k].copy()


@numba.njit(**_JIT)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(**_JIT)
def label_runs(row_ptr, starts, ends, neighbours, reach, width):
    """Label every run; returns ``(run_labels, first)``.

    ``run_labels[i]`` is the label (1, 2, ...) of run ``i``; ``first[k]`` the flat
    index (row * width + column) of the first voxel of label ``k + 1``.
    """
    n = starts.size
    parent = np.arange(n)
    steps, rows = neighbours.shape
    for r in range(rows):
        a0, a1 = row_ptr[r], row_ptr[r + 1]
        if a0 == a1:
            continue
        for k in range(steps):
            r2 = neighbours[k, r]
            if r2 < 0:
                continue
            b0, b1 = row_ptr[r2], row_ptr[r2 + 1]
            bits = reach[k]
            j0 = b0
            for i in range(a0, a1):
                s, e = starts[i], ends[i]
                while j0 < b1 and ends[j0] < s:
                    j0 += 1
                j = j0
                while j < b1 and starts[j] <= e:
                    # offsets from a voxel of run i to a voxel of run j span [lo, hi]
                    lo = starts[j] - (e - 1)
                    hi = (ends[j] - 1) - s
                    if (
                        (bits & 1 and lo <= -1 <= hi)
                        or (bits & 2 and lo <= 0 <= hi)
                        or (bits & 4 and lo <= 1 <= hi)
                    ):
                        ri, rj = _find(parent, i), _find(parent, j)
                        if ri < rj:
                            parent[rj] = ri
                        elif rj < ri:
                            parent[ri] = rj
                    j += 1
    count = 0
    for i in range(n):
        if _find(parent, i) == i:
            count += 1
    run_labels = np.empty(n, dtype=np.int64)
    first = np.empty(count, dtype=np.int64)
    count = 0
    for r in range(rows):
        for i in range(row_ptr[r], row_ptr[r + 1]):
            root = _find(parent, i)
            if root == i:
                first[count] = r * width + starts[i]
                count += 1
                run_labels[i] = count
            else:
                run_labels[i] = run_labels[root]
    return run_labels, first


@numba.njit(**_JIT)
def paint_runs(row_ptr, starts, ends, values, out):
    """Write ``values[i]`` over run ``i`` of the 2-D array ``out``."""
    rows = out.shape[0]
    for r in range(rows):
        for i in range(row_ptr[r], row_ptr[r + 1]):
            v = values[i]
            for x in range(starts[i], ends[i]):
                out[r, x] = v


@numba.njit(**_JIT)
def paint_rows(row_ptr, starts, ends, values, rows, out):
    """Write ``values[i]`` over run ``i`` for the listed ``rows`` only (``out[k]`` is
    row ``rows[k]``); ``out`` must be zeroed."""
    for k in range(rows.size):
        r = rows[k]
        for i in range(row_ptr[r], row_ptr[r + 1]):
            v = values[i]
            for x in range(starts[i], ends[i]):
                out[k, x] = v


@numba.njit(**_JIT)
def column_values(row_ptr, starts, ends, values, column, out):
    """``out[r]``: the value of the run covering ``column`` in row ``r``, else 0."""
    for r in range(out.size):
        out[r] = 0
        for i in range(row_ptr[r], row_ptr[r + 1]):
            if starts[i] > column:
                break
            if column < ends[i]:
                out[r] = values[i]
                break
