"""Uniform (box-mean) passes of a block, exactly as ``NI_UniformFilter1D`` computes them.

scipy filters each line, extended by the boundary mode into a ``double`` buffer ``b``
(``size // 2 + origin`` values before, the rest after), with a running sum:

* ``s = 0.0``, then ``s += b[j]`` for ``j = 0 .. size - 1``; output 0 is ``s / size``;
* for every further output ``k``: ``s += b[k - 1 + size] - b[k - 1]`` (the difference
  first), output ``k`` is ``s / size`` (a division, not a product by ``1 / size``);

and stores each output with a C cast into the output dtype. A NaN or an infinity that
enters the sum stays there for the rest of the line (``inf - inf`` is NaN), as in
scipy. The kernels here do these operations, in this order, for every line, but with
the loops arranged so that most of the work runs over contiguous memory and the
compiler vectorises it:

* along any axis but the last (:func:`_rows`) the array is seen as
  ``(outer, n, inner)``: a tile of ``inner`` (a few hundred lines side by side) is
  copied with its boundary rows into a ``double`` buffer that stays in cache, and the
  running sums advance a whole row at a time;
* along the last axis (:func:`_lines`) each line is copied into an extended ``double``
  buffer, the running sums of four lines advance together (four independent chains of
  additions, so none waits on the latency of another), and the divisions and casts run
  over whole lines. (Transposing groups of lines so that the sums run across lines
  measured slower: the strided copies cost more than the sums they vectorise.)

No fused multiply-add or reassociation (numba does neither without ``fastmath``), so
every voxel gets scipy's bits; outputs go through :func:`bigimg._linear._cast.c_cast`.
The one exception is the sign bit of a NaN where two NaNs of different signs meet in
an addition (a data NaN and the ``-nan`` of ``inf - inf``): x86 keeps the first
operand's, and compilers order the operands of an addition as they like, scipy's and
numba's alike; every comparison of values sees the same NaN.

Each tile (or group of lines) is read whole before any of it is written, so a pass may
write into its own input: :func:`uniform_passes` runs scipy's passes in place.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from bigimg._linear._cast import c_cast, extend_line, extension_map, fill_tile_row

__all__ = ["TILE_BYTES", "uniform_pass", "uniform_passes"]

#: Bytes of the double buffer of one tile of rows (kept well inside the L2 cache).
TILE_BYTES = 192 * 1024
#: Lines along the last axis summed together (``_sums4`` is written for four).
_GROUP = 4


@njit(nogil=True, cache=True)
def _start(acc, buf, width, size):
    """``acc[:width]`` = scipy's first sum: ``0.0 + buf[0] + ... + buf[size - 1]``."""
    for t in range(width):
        acc[t] = 0.0
    for j in range(size):
        row = buf[j]
        for t in range(width):
            acc[t] += row[t]


@njit(nogil=True, cache=True)
def _rows(src, dst, emap, size, cval, tile):
    """Uniform pass along axis 1 of ``src`` (``(outer, n, inner)``, C order) into ``dst``."""
    n_outer, n, inner = src.shape
    ext = emap.shape[0]
    buf = np.empty((ext, tile), np.float64)
    acc = np.empty(tile, np.float64)
    div = np.float64(size)
    for o in range(n_outer):
        for t0 in range(0, inner, tile):
            width = min(tile, inner - t0)
            for e in range(ext):
                fill_tile_row(buf[e], src, o, emap[e], t0, width, cval)
            _start(acc, buf, width, size)
            out = dst[o, 0, t0 : t0 + width]
            for t in range(width):
                out[t] = c_cast(acc[t] / div, out)
            for k in range(1, n):  # output k from the sum of k - 1
                new, old = buf[k - 1 + size], buf[k - 1]
                out = dst[o, k, t0 : t0 + width]
                for t in range(width):
                    total = acc[t] + (new[t] - old[t])
                    acc[t] = total
                    out[t] = c_cast(total / div, out)


@njit(nogil=True, cache=True)
def _first(b, size):
    """scipy's first sum of an extended line: ``0.0 + b[0] + ... + b[size - 1]``."""
    total = 0.0
    for j in range(size):
        total += b[j]
    return total


@njit(nogil=True, cache=True)
def _sums4(buf, sums, n, size):
    """The running sums of four extended lines ``buf[:4]`` into ``sums[:4]``: four
    independent chains, so each addition waits on its own line's last one only."""
    b0, b1, b2, b3 = buf[0], buf[1], buf[2], buf[3]
    a0, a1, a2, a3 = _first(b0, size), _first(b1, size), _first(b2, size), _first(b3, size)
    sums[0, 0], sums[1, 0], sums[2, 0], sums[3, 0] = a0, a1, a2, a3
    # views from 0: indices from ``range`` need no negative-index fix-up
    n0, n1, n2, n3 = b0[size:], b1[size:], b2[size:], b3[size:]
    s0, s1, s2, s3 = sums[0, 1:], sums[1, 1:], sums[2, 1:], sums[3, 1:]
    for k in range(n - 1):  # output k + 1 from the sum of k
        a0 += n0[k] - b0[k]
        a1 += n1[k] - b1[k]
        a2 += n2[k] - b2[k]
        a3 += n3[k] - b3[k]
        s0[k], s1[k], s2[k], s3[k] = a0, a1, a2, a3


@njit(nogil=True, cache=True)
def _sums1(b, s, n, size):
    """The running sums of one extended line ``b`` into ``s``."""
    a = _first(b, size)
    s[0] = a
    new, rest = b[size:], s[1:]
    for k in range(n - 1):
        a += new[k] - b[k]
        rest[k] = a


@njit(nogil=True, cache=True)
def _store(out, s, div):
    for k in range(out.shape[0]):
        out[k] = c_cast(s[k] / div, out)


@njit(nogil=True, cache=True)
def _lines(src, dst, emap, lead, size, cval):
    """Uniform pass along every line ``src[o, :]`` into ``dst[o, :]`` (both 2-D, C order).

    Four lines at a time: each is copied into an extended ``double`` buffer (vectorised),
    the four running sums advance together (scalar, but four independent chains), and
    the divisions and casts run over whole lines (vectorised).
    """
    n_lines, n = src.shape
    buf = np.empty((_GROUP, emap.shape[0]), np.float64)
    sums = np.empty((_GROUP, n), np.float64)
    div = np.float64(size)
    quads = n_lines - n_lines % _GROUP
    for l0 in range(0, quads, _GROUP):
        for m in range(_GROUP):
            extend_line(buf[m], src[l0 + m], emap, lead, cval)
        _sums4(buf, sums, n, size)
        for m in range(_GROUP):
            _store(dst[l0 + m], sums[m], div)
    for o in range(quads, n_lines):
        extend_line(buf[0], src[o], emap, lead, cval)
        _sums1(buf[0], sums[0], n, size)
        _store(dst[o], sums[0], div)


def uniform_pass(src, dst, axis, size, mode, cval, origin):
    """scipy's ``uniform_filter1d(src, size, axis, dst, mode, cval, origin)`` into ``dst``.

    ``src`` and ``dst`` are C-ordered, native arrays of the same shape (booleans as
    ``uint8`` views); ``dst`` may be ``src`` itself but no other view of its memory.
    ``size >= 1`` and ``origin`` are valid (scipy's checks passed); ``axis >= 0``.
    """
    shape = src.shape
    n = shape[axis]
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1 :])
    size1 = size // 2
    lead = size1 + origin
    emap = extension_map(n, lead, size - size1 - 1 - origin, mode)
    cval = float(cval)
    if inner == 1:
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        _lines(s2, d2, emap, lead, size, cval)
        return dst
    tile = min(inner, max(32, TILE_BYTES // (8 * len(emap)) // 8 * 8))
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    _rows(s3, d3, emap, size, cval, tile)
    return dst


def uniform_passes(src, dst, passes, cval):
    """scipy's ``uniform_filter``: the ``passes`` ((axis, size, mode, origin), ...) one
    after another, the first from ``src`` into ``dst``, each further one in place in
    ``dst`` (scipy's intermediate results are stored in the output dtype too).

    ``src`` and ``dst`` as in :func:`uniform_pass`, not sharing memory.
    """
    for axis, size, mode, origin in passes:
        uniform_pass(src, dst, axis, size, mode, cval, origin)
        src = dst
    return dst
