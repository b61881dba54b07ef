"""Per-block kernels of the measurement engine: passes over a block, small tables out.

Every kernel walks one *box* of a block (the whole block, or one slab of it) in C
order and accumulates per *slot* (a block-local number for each label present, ``-1``
for voxels that are not measured) into per-slot arrays the caller owns, so a block can
be measured slab by slab with exactly the result of one pass over it. They run in
numba with the GIL released, so dask's threads run blocks in parallel.

Conventions shared by all kernels:

* ``codes`` is the box's slot array, flattened in C order, ``int32``;
* ``shape`` is the box's shape as an ``int64`` array; coordinates are tracked row by
  row (a row is a run along the last axis), so no per-voxel division is needed;
* values arrive in one of three canonical dtypes (``int64``, ``uint64``, ``float64``),
  which keeps numba to three compilations per kernel; see :func:`canonical_values`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "block_geometry",
    "lookup_codes",
    "int_range",
    "mark_present",
    "block_moments",
    "block_sq_dev",
    "block_values",
    "canonical_values",
    "moment_exponents",
]


def canonical_values(block: np.ndarray) -> np.ndarray:
    """Flatten ``block`` in C order into int64 (ints, bool), uint64 or float64 values.

    The conversion is exact and keeps order, so minima, maxima, their positions and
    integer sums are unchanged.
    """
    kind = block.dtype.kind
    if kind == "f":
        target = np.float64
    elif kind == "u" and block.dtype.itemsize == 8:
        target = np.uint64
    elif kind in "biu":
        target = np.int64
    else:
        raise TypeError(f"values of dtype {block.dtype} cannot be measured")
    return np.ascontiguousarray(block, dtype=target).reshape(-1)


def moment_exponents(order: int, ndim: int) -> np.ndarray:
    """All exponent tuples ``(p_0, ..., p_ndim-1)`` with each ``p_d <= order``, C order."""
    grids = np.indices((order + 1,) * ndim).reshape(ndim, -1)
    return np.ascontiguousarray(grids.T, dtype=np.int64)


@njit(nogil=True, cache=True)
def _advance(rowpos, shape):
    """Move the row coordinates (all axes but the last) to the next row, C order."""
    d = shape.size - 2
    while d >= 0:
        rowpos[d] += 1
        if rowpos[d] < shape[d]:
            return
        rowpos[d] = 0
        d -= 1


@njit(nogil=True, cache=True)
def int_range(flat):
    """Smallest and largest value of a non-empty integer array, as int64 (one pass)."""
    lo = np.int64(flat[0])
    hi = lo
    for i in range(1, flat.size):
        v = np.int64(flat[i])
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return lo, hi


@njit(nogil=True, cache=True)
def mark_present(flat, lo, present):
    """Set ``present[v - lo] = 1`` for every integer label ``v`` of ``flat``."""
    for i in range(flat.size):
        present[np.int64(flat[i]) - lo] = 1


@njit(nogil=True, cache=True)
def lookup_codes(flat, lo, slot):
    """The ``int32`` slot code ``slot[v - lo]`` of every integer label ``v`` of ``flat``."""
    codes = np.empty(flat.size, np.int32)
    for i in range(flat.size):
        codes[i] = slot[np.int64(flat[i]) - lo]
    return codes


@njit(nogil=True, cache=True)
def block_geometry(codes, shape, offset, want_bbox, count, lo, hi):
    """Add the box's voxel counts per slot to ``count`` and widen the inclusive
    bounding boxes ``lo``/``hi`` (coordinates in the block: the box starts at
    ``offset``). ``lo``/``hi`` start at ``INT64_MAX``/``-1``.
    """
    ndim = shape.size
    rowlen = shape[ndim - 1]
    nrows = codes.size // rowlen if rowlen > 0 else 0
    rowpos = np.zeros(max(ndim - 1, 1), np.int64)
    last = ndim - 1
    for r in range(nrows):
        base = r * rowlen
        for j in range(rowlen):
            c = codes[base + j]
            if c < 0:
                continue
            count[c] += 1
            if want_bbox:
                for d in range(last):
                    p = rowpos[d] + offset[d]
                    if p < lo[c, d]:
                        lo[c, d] = p
                    if p > hi[c, d]:
                        hi[c, d] = p
                p = j + offset[last]
                if p < lo[c, last]:
                    lo[c, last] = p
                if p > hi[c, last]:
                    hi[c, last] = p
        _advance(rowpos, shape)


@njit(nogil=True, cache=True)
def block_values(codes, vals, shape, origin, gstrides, want_ext, want_wcoord, acc):
    """Accumulate per slot: native sum, min/max with first flat positions,
    value-weighted coordinates.

    ``acc`` is ``(total, vmin, vmax, amin, amax, seen, wco)``, updated in place (boxes
    of a block passed in C order give the one-pass result). ``origin`` is the box's
    global corner and ``gstrides`` the C strides (in voxels) of the whole array, so
    positions come out as global flat indices. Ties keep the first voxel in C order
    (the smallest flat index).
    """
    total, vmin, vmax, amin, amax, seen, wco = acc
    ndim = shape.size
    rowlen = shape[ndim - 1]
    nrows = codes.size // rowlen if rowlen > 0 else 0
    rowpos = np.zeros(max(ndim - 1, 1), np.int64)
    gcoord = np.zeros(ndim, np.float64)
    last = ndim - 1
    for r in range(nrows):
        base = r * rowlen
        rowflat = origin[last]
        for d in range(last):
            rowflat += (origin[d] + rowpos[d]) * gstrides[d]
            gcoord[d] = origin[d] + rowpos[d]
        for j in range(rowlen):
            c = codes[base + j]
            if c < 0:
                continue
            v = vals[base + j]
            total[c] += v
            if want_ext:
                if not seen[c]:
                    seen[c] = True
                    vmin[c] = v
                    vmax[c] = v
                    amin[c] = rowflat + j
                    amax[c] = rowflat + j
                else:
                    if v < vmin[c]:
                        vmin[c] = v
                        amin[c] = rowflat + j
                    if v > vmax[c]:
                        vmax[c] = v
                        amax[c] = rowflat + j
            if want_wcoord:
                fv = np.float64(v)
                for d in range(last):
                    wco[c, d] += fv * gcoord[d]
                wco[c, last] += fv * np.float64(origin[last] + j)
        _advance(rowpos, shape)


@njit(nogil=True, cache=True)
def block_sq_dev(codes, vals, mean, m2):
    """Add the squared deviations from the per-slot ``mean`` to ``m2`` (the second,
    centred pass)."""
    for i in range(codes.size):
        c = codes[i]
        if c >= 0:
            dv = np.float64(vals[i]) - mean[c]
            m2[c] += dv * dv


@njit(nogil=True, cache=True)
def block_moments(codes, vals, weighted, shape, corner, exps, order, out):
    """Add raw moments per slot about the slot's corner ``corner[slot]`` to ``out``.

    ``corner`` is in the box's coordinates (the slot's block-local corner minus the
    box's offset), so every box of a block adds moments about the same point.
    Moment ``k`` is ``sum(w * prod_d (x_d - corner_d) ** exps[k, d])`` with ``w`` the
    voxel value when ``weighted`` else 1. All coordinates are >= 0 relative to the
    corner, so every term is non-negative for non-negative weights (no cancellation).
    Unweighted moments are sums of integers, accumulated per run of one slot along the
    last axis (the leading axes' powers once per run); they are exact below 2**53.
    """
    ndim = shape.size
    rowlen = shape[ndim - 1]
    nrows = codes.size // rowlen if rowlen > 0 else 0
    nk = exps.shape[0]
    pw = np.ones((ndim, order + 1), np.float64)
    runsum = np.zeros(order + 1, np.float64)
    rowpos = np.zeros(max(ndim - 1, 1), np.int64)
    last = ndim - 1
    for r in range(nrows):
        base = r * rowlen
        j = 0
        while j < rowlen:
            c = codes[base + j]
            if c < 0:
                j += 1
                continue
            end = j + 1
            if not weighted:
                while end < rowlen and codes[base + end] == c:
                    end += 1
            for d in range(last):
                x = np.float64(rowpos[d] - corner[c, d])
                p = 1.0
                for k in range(order + 1):
                    pw[d, k] = p
                    p *= x
            w = np.float64(vals[base + j]) if weighted else 1.0
            for k in range(order + 1):
                runsum[k] = 0.0
            for jj in range(j, end):
                x = np.float64(jj - corner[c, last])
                p = w
                for k in range(order + 1):
                    runsum[k] += p
                    p *= x
            for k in range(nk):
                prod = runsum[exps[k, last]]
                for d in range(last):
                    prod *= pw[d, exps[k, d]]
                out[c, k] += prod
            j = end
        _advance(rowpos, shape)
