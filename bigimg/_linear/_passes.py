"""One 1-D correlation pass of a block, exactly as ``NI_Correlate1D`` computes it.

scipy correlates each line with the weights in ``double``, in a fixed order of terms
that decides the last bit: with ``s = len(weights) // 2`` and ``w`` centred at 0,

* symmetric weights (odd length, ``|w[j] - w[-j]| <= DBL_EPSILON``):
  ``w[0] * x[0]``, then ``+= (x[j] + x[-j]) * w[j]`` for ``j = -s .. -1``;
* antisymmetric weights (``|w[j] + w[-j]| <= DBL_EPSILON``): the same with ``-``;
* any other weights: ``w[s2] * x[s2]`` (``s2`` the last tap), then ``+= x[j] * w[j]``
  for ``j = -s .. s2 - 1``.

The kernels here do exactly these operations for every voxel, with the loops turned so
that the innermost loop runs over contiguous memory, and the terms added a group at a
time (:mod:`bigimg._linear._terms`):

* along the last axis (:func:`_lines`) a block of lines is copied into extended
  ``double`` lines; the lanes of the sums are the positions of the lines;
* along any other axis (:func:`_rows`) the array is seen as ``(outer, n, inner)``:
  a tile of ``width <= ROW`` voxels of the ``n`` rows, extended by the boundary rows,
  is copied into a ``double`` buffer that stays in cache, and whole rows are summed.

Each voxel still sees the same sequence of double operations as in scipy (no fused
multiply-add: numba does not contract without ``fastmath``), so results are bit for
bit scipy's. Results are stored with :func:`bigimg._linear._cast.c_cast`. A pass may
write into the array it reads: a block of lines, and a tile with all its rows, is
copied before any of its outputs is written, and blocks do not overlap.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from bigimg._linear._cast import c_cast, extend_line, extension_map, fill_tile_row
from bigimg._linear._terms import ROW, line_terms, tile_terms

__all__ = ["correlate_pass", "symmetry"]

_EPS = np.finfo(np.float64).eps
_JIT = dict(nogil=True, cache=True, boundscheck=False, error_model="numpy")
#: Output rows of a tile summed before they are cast (their sums stay in L1).
_ROWS_AT_ONCE = 8
#: Doubles of the extended lines summed at once (8 KiB, and as much for their sums).
_LINE_DOUBLES = 1024


def symmetry(weights: np.ndarray) -> int:
    """1 for symmetric, -1 for antisymmetric, 0 for other weights, as scipy decides.

    >>> symmetry(np.array([1.0, 2.0, 1.0])), symmetry(np.array([-1.0, 0.0, 1.0]))
    (1, -1)
    >>> symmetry(np.array([1.0, 2.0]))
    0
    """
    n = len(weights)
    if not n & 1:
        return 0
    s = n // 2
    left, right = weights[s - 1 :: -1][:s], weights[s + 1 :]
    if all(math.fabs(r - le) <= _EPS for r, le in zip(right, left)):
        return 1
    if all(math.fabs(r + le) <= _EPS for r, le in zip(right, left)):
        return -1
    return 0


@njit(**_JIT)
def _lines(src, dst, emap, lead, fw, size1, size2, sym, cval):
    """Correlate every line ``src[o, :]`` into ``dst[o, :]`` (both 2-D, C order)."""
    n_lines, n = src.shape
    ext = emap.shape[0]
    per_block = max(1, min(n_lines, _LINE_DOUBLES // ext))
    buf = np.empty(per_block * ext, np.float64)
    acc = np.empty(per_block * ext, np.float64)
    for o0 in range(0, n_lines, per_block):
        nl = min(per_block, n_lines - o0)
        for line in range(nl):
            extend_line(buf[line * ext : (line + 1) * ext], src[o0 + line], emap, lead, cval)
        line_terms(acc, buf, (nl - 1) * ext + n, fw, size1, size2, sym)
        for line in range(nl):
            out, sums = dst[o0 + line], acc[line * ext :]
            for k in range(n):
                out[k] = c_cast(sums[k], out)


@njit(**_JIT)
def _rows(src, dst, emap, fw, size1, size2, sym, cval):
    """Correlate along axis 1 of ``src`` (``(outer, n, inner)``, C order) into ``dst``."""
    n_outer, n, inner = src.shape
    ext = emap.shape[0]
    tiles = (inner + ROW - 1) // ROW
    tile = (inner + tiles - 1) // tiles
    buf = np.empty((ext + 1) * ROW, np.float64)
    buf[ext * ROW :] = 0.0  # the spare row (an odd last output row's partner reads it)
    acc = np.zeros(_ROWS_AT_ONCE * ROW, np.float64)  # the partner's sums are dropped
    for o in range(n_outer):
        for t0 in range(0, inner, tile):
            width = min(tile, inner - t0)
            for e in range(ext):
                fill_tile_row(buf[e * ROW : e * ROW + width], src, o, emap[e], t0, width, cval)
            for k0 in range(0, n, _ROWS_AT_ONCE):
                k1 = min(n, k0 + _ROWS_AT_ONCE)
                tile_terms(acc, buf, k0, k1, fw, size1, size2, sym, width)
                for k in range(k0, k1):
                    out = dst[o, k, t0 : t0 + width]
                    sums = acc[(k - k0) * ROW : (k - k0) * ROW + width]
                    for t in range(width):
                        out[t] = c_cast(sums[t], out)


def correlate_pass(src, dst, axis, weights, mode, cval, origin):
    """scipy's ``correlate1d(src, weights, axis, dst, mode, cval, origin)``, in place of
    ``dst`` (a C-ordered array of ``src``'s shape; it may be ``src`` itself).

    ``weights`` are float64 and valid for ``origin`` (scipy has checked them).
    """
    if src.size == 0:
        return dst
    fw = np.ascontiguousarray(weights, dtype=np.float64)
    size1 = len(fw) // 2
    size2 = len(fw) - size1 - 1
    shape = src.shape
    n = shape[axis]
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1 :])
    emap = extension_map(n, size1 + origin, size2 - origin, mode)
    sym, cval = symmetry(fw), float(cval)
    if src is not dst and np.may_share_memory(src, dst):  # overlapping, not the same
        src = src.copy()
    if inner == 1:
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        _lines(s2, d2, emap, size1 + origin, fw, size1, size2, sym, cval)
        return dst
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    _rows(s3, d3, emap, fw, size1, size2, sym, cval)
    return dst
