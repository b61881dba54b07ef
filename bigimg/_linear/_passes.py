"""One 1-D correlation pass of a block, exactly as ``NI_Correlate1D`` computes it.

scipy correlates each line with the weights in ``double``, in a fixed order of terms
that decides the last bit: with ``s = len(weights) // 2`` and ``w`` centred at 0,

* symmetric weights (odd length, ``|w[j] - w[-j]| <= DBL_EPSILON``):
  ``w[0] * x[0]``, then ``+= (x[j] + x[-j]) * w[j]`` for ``j = -s .. -1``;
* antisymmetric weights (``|w[j] + w[-j]| <= DBL_EPSILON``): the same with ``-``;
* any other weights: ``w[s2] * x[s2]`` (``s2`` the last tap), then ``+= x[j] * w[j]``
  for ``j = -s .. s2 - 1``.

The kernels here do exactly these operations for every voxel, but with the loops
turned so that the innermost loop runs over contiguous memory and the compiler
vectorises it:

* along the last axis (:func:`_lines`) each line is copied into an extended
  ``double`` buffer and the taps are the outer loop, the voxels of the line the inner;
* along any other axis (:func:`_rows`) the array is seen as ``(outer, n, inner)``:
  a tile of ``inner`` (a few hundred voxels) of the ``n`` rows, extended by the
  boundary rows, is copied into a ``double`` buffer that stays in cache, and whole
  rows are accumulated.

Each voxel still sees the same sequence of double operations as in scipy (no fused
multiply-add: numba does not contract without ``fastmath``), so results are bit for
bit scipy's. Results are stored with :func:`bigimg._linear._cast.c_cast`. Reading and
writing the same array is allowed (the output is written only after the tile's rows
were read) only along the last axis; :func:`correlate_pass` takes care of that.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from bigimg._linear._cast import c_cast, extension_map

__all__ = ["TILE_BYTES", "correlate_pass", "symmetry"]

#: Bytes of the double buffer of one tile of rows (kept well inside the L2 cache).
TILE_BYTES = 192 * 1024
_EPS = np.finfo(np.float64).eps


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


@njit(nogil=True, cache=True)
def _lines(src, dst, emap, lead, fw, size1, size2, sym, cval):
    """Correlate every line ``src[o, :]`` into ``dst[o, :]`` (both 2-D, C order)."""
    n_lines, n = src.shape
    ext = emap.shape[0]
    buf = np.empty(ext, np.float64)
    acc = np.empty(n, np.float64)
    for o in range(n_lines):
        for e in range(lead):
            j = emap[e]
            buf[e] = cval if j < 0 else np.float64(src[o, j])
        line, body = src[o], buf[lead : lead + n]
        for k in range(n):
            body[k] = np.float64(line[k])
        for e in range(lead + n, ext):
            j = emap[e]
            buf[e] = cval if j < 0 else np.float64(src[o, j])
        _line_terms(acc, buf, n, fw, size1, size2, sym)
        out = dst[o]
        for k in range(n):
            out[k] = c_cast(acc[k], out)


@njit(nogil=True, cache=True)
def _line_terms(acc, buf, n, fw, size1, size2, sym):
    """Output ``k < n`` of a line is centred at ``buf[size1 + k]``; scipy's terms.

    Every tap reads a view of ``buf`` indexed from 0, which lets the compiler drop
    numba's negative-index checks and vectorise the loop over ``k``.
    """
    if sym != 0:
        w0 = fw[size1]
        mid = buf[size1 : size1 + n]
        for k in range(n):
            acc[k] = mid[k] * w0
        for jj in range(-size1, 0):
            w = fw[size1 + jj]
            lo = buf[size1 + jj : size1 + jj + n]
            hi = buf[size1 - jj : size1 - jj + n]
            if sym > 0:
                for k in range(n):
                    acc[k] += (lo[k] + hi[k]) * w
            else:
                for k in range(n):
                    acc[k] += (lo[k] - hi[k]) * w
    else:
        w_last = fw[size1 + size2]
        last = buf[size1 + size2 : size1 + size2 + n]
        for k in range(n):
            acc[k] = last[k] * w_last
        for jj in range(-size1, size2):
            w = fw[size1 + jj]
            tap = buf[size1 + jj : size1 + jj + n]
            for k in range(n):
                acc[k] += tap[k] * w


@njit(nogil=True, cache=True)
def _rows(src, dst, emap, fw, size1, size2, sym, cval, tile):
    """Correlate along axis 1 of ``src`` (``(outer, n, inner)``, C order) into ``dst``."""
    n_outer, n, inner = src.shape
    ext = emap.shape[0]
    buf = np.empty((ext, tile), np.float64)
    acc = np.empty(tile, np.float64)
    for o in range(n_outer):
        for t0 in range(0, inner, tile):
            width = min(tile, inner - t0)
            for e in range(ext):
                j = emap[e]
                if j < 0:
                    for t in range(width):
                        buf[e, t] = cval
                else:
                    row, into = src[o, j, t0 : t0 + width], buf[e]
                    for t in range(width):
                        into[t] = np.float64(row[t])
            for k in range(n):
                _row_terms(acc, buf, k + size1, width, fw, size1, size2, sym)
                out = dst[o, k, t0 : t0 + width]
                for t in range(width):
                    out[t] = c_cast(acc[t], out)


@njit(nogil=True, cache=True)
def _row_terms(acc, buf, c, width, fw, size1, size2, sym):
    """Whole rows: ``acc[:width]`` = the correlation centred at row ``c`` of ``buf``."""
    if sym != 0:
        w0 = fw[size1]
        mid = buf[c]
        for t in range(width):
            acc[t] = mid[t] * w0
        for jj in range(-size1, 0):
            w = fw[size1 + jj]
            lo, hi = buf[c + jj], buf[c - jj]
            if sym > 0:
                for t in range(width):
                    acc[t] += (lo[t] + hi[t]) * w
            else:
                for t in range(width):
                    acc[t] += (lo[t] - hi[t]) * w
    else:
        w_last = fw[size1 + size2]
        last = buf[c + size2]
        for t in range(width):
            acc[t] = last[t] * w_last
        for jj in range(-size1, size2):
            w = fw[size1 + jj]
            tap = buf[c + jj]
            for t in range(width):
                acc[t] += tap[t] * w


def correlate_pass(src, dst, axis, weights, mode, cval, origin):
    """scipy's ``correlate1d(src, weights, axis, dst, mode, cval, origin)``, in place of
    ``dst`` (a C-ordered array of ``src``'s shape; it may be ``src`` itself).

    ``weights`` are float64 and valid for ``origin`` (scipy has checked them).
    """
    fw = np.ascontiguousarray(weights, dtype=np.float64)
    size1 = len(fw) // 2
    size2 = len(fw) - size1 - 1
    shape = src.shape
    n = shape[axis]
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1 :])
    emap = extension_map(n, size1 + origin, size2 - origin, mode)
    sym, cval = symmetry(fw), float(cval)
    if inner == 1:
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        _lines(s2, d2, emap, size1 + origin, fw, size1, size2, sym, cval)
        return dst
    if np.may_share_memory(src, dst):
        src = src.copy()
    tile = max(8, min(inner, TILE_BYTES // (8 * len(emap)) // 8 * 8))
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    _rows(s3, d3, emap, fw, size1, size2, sym, cval, tile)
    return dst
