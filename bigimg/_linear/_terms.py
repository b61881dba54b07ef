"""scipy's sum of terms of a 1-D correlation, four taps at a time in a register.

``NI_Correlate1D`` adds the terms of every output in a fixed order (the module
docstring of :mod:`bigimg._linear._passes` spells it out). The kernels here add the
same terms in the same order for many outputs at once: the innermost loop runs over
contiguous *lanes* (vectorised by the compiler) and adds a *group* of up to four
consecutive terms, so the running sum stays in a register for the group and goes to
memory only between groups. Every tap of a group is read at a constant distance from
one pointer, so the compiler sees constant displacements rather than a pointer per tap
(the indices are unsigned: numba then adds no negative-index fix-up).

Symmetric and antisymmetric weights share one kernel: ``x + y * sg`` with ``sg`` 1 or
-1 is ``x + y`` or ``x - y`` bit for bit (``y * -1.0`` is ``-y`` exactly, ``x + -y``
is ``x - y`` by IEEE 754, and a NaN operand comes out as the same NaN).

Two layouts of the extended ``double`` data ``buf``:

* a *tile* (:func:`tile_terms`): extended rows of ``ROW`` lanes each, of which
  ``width <= ROW`` are used; output row ``k`` is centred at row ``k + size1``. Two
  consecutive output rows are summed in one loop: they read the same rows but two,
  loaded once. The buffer needs one spare row past the extended rows (an odd last
  output row is summed with a spare partner);
* *lines* (:func:`line_terms`): extended lines ``e`` apart, seen as one run of lanes:
  output ``p`` of line ``l`` is lane ``l * e + p``, centred at ``buf[l * e + size1 +
  p]``; the few lanes between two lines are summed and dropped, so that a block of
  lines is one loop per group.

The sums go to ``acc`` (rows of ``ROW`` for a tile, lines ``e`` apart for lines), which
:mod:`bigimg._linear._passes` casts into the output. The first group of an output
starts from scipy's first term (``x * f``), the others continue from ``acc``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["ROW", "line_terms", "tile_terms"]

#: Lanes of one tile row: 168 doubles (1344 bytes, an odd 21 cache lines, so that the
#: rows of a tile fall into different cache sets). A 144-voxel row of a 128-voxel block
#: with its halo is one tile; the rows two outputs of a 17-tap kernel read (24 KiB)
#: stay in the L1 cache.
ROW = 168
_JIT = dict(nogil=True, cache=True, boundscheck=False, error_model="numpy")
_S = np.uint64(ROW)


# ----------------------------------------------------------------------------- tile
@njit(**_JIT)
def _tile_pairs4(acc, buf, k0, k1, lo_row, hi_row, st_row, w, f, sg, width, first):
    """Rows ``k0 .. k1`` (rounded up to even) of a tile: four pairs, the outer one on
    rows ``k + lo_row`` and ``k + hi_row + 3``, with weights ``w[0..3]``."""
    for k in range(k0, k1, 2):
        lo = buf[(k + lo_row) * ROW :]
        hi = buf[(k + hi_row) * ROW :]
        a = acc[(k - k0) * ROW :]
        if first:
            st = buf[(k + st_row) * ROW :]
            for t in range(width):
                u = np.uint64(t)
                s0 = st[u] * f
                s1 = st[u + _S] * f
                for i in range(4):
                    x0, x1 = lo[u + np.uint64(i * ROW)], lo[u + np.uint64((i + 1) * ROW)]
                    y0, y1 = hi[u + np.uint64((3 - i) * ROW)], hi[u + np.uint64((4 - i) * ROW)]
                    s0 += (x0 + y0 * sg) * w[i]
                    s1 += (x1 + y1 * sg) * w[i]
                a[u] = s0
                a[u + _S] = s1
        else:
            for t in range(width):
                u = np.uint64(t)
                s0 = a[u]
                s1 = a[u + _S]
                for i in range(4):
                    x0, x1 = lo[u + np.uint64(i * ROW)], lo[u + np.uint64((i + 1) * ROW)]
                    y0, y1 = hi[u + np.uint64((3 - i) * ROW)], hi[u + np.uint64((4 - i) * ROW)]
                    s0 += (x0 + y0 * sg) * w[i]
                    s1 += (x1 + y1 * sg) * w[i]
                a[u] = s0
                a[u + _S] = s1


@njit(**_JIT)
def _tile_pair1(acc, buf, k0, k1, lo_row, hi_row, st_row, w, f, sg, width, first):
    """As :func:`_tile_pairs4` for one pair (rows ``k + lo_row``, ``k + hi_row``)."""
    w0 = w[0]
    for k in range(k0, k1, 2):
        lo = buf[(k + lo_row) * ROW :]
        hi = buf[(k + hi_row) * ROW :]
        a = acc[(k - k0) * ROW :]
        if first:
            st = buf[(k + st_row) * ROW :]
            for t in range(width):
                u = np.uint64(t)
                a[u] = st[u] * f + (lo[u] + hi[u] * sg) * w0
                a[u + _S] = st[u + _S] * f + (lo[u + _S] + hi[u + _S] * sg) * w0
        else:
            for t in range(width):
                u = np.uint64(t)
                a[u] = a[u] + (lo[u] + hi[u] * sg) * w0
                a[u + _S] = a[u + _S] + (lo[u + _S] + hi[u + _S] * sg) * w0


@njit(**_JIT)
def _tile_singles4(acc, buf, k0, k1, at_row, st_row, w, f, width, first):
    """Rows ``k0 .. k1`` (rounded up to even) of a tile: four taps on rows
    ``k + at_row ..`` with weights ``w[0..3]``."""
    for k in range(k0, k1, 2):
        tp = buf[(k + at_row) * ROW :]
        a = acc[(k - k0) * ROW :]
        if first:
            st = buf[(k + st_row) * ROW :]
            for t in range(width):
                u = np.uint64(t)
                s0 = st[u] * f
                s1 = st[u + _S] * f
                for i in range(4):
                    s0 += tp[u + np.uint64(i * ROW)] * w[i]
                    s1 += tp[u + np.uint64((i + 1) * ROW)] * w[i]
                a[u] = s0
                a[u + _S] = s1
        else:
            for t in range(width):
                u = np.uint64(t)
                s0 = a[u]
                s1 = a[u + _S]
                for i in range(4):
                    s0 += tp[u + np.uint64(i * ROW)] * w[i]
                    s1 += tp[u + np.uint64((i + 1) * ROW)] * w[i]
                a[u] = s0
                a[u + _S] = s1


@njit(**_JIT)
def _tile_single1(acc, buf, k0, k1, at_row, st_row, w, f, width, first):
    """As :func:`_tile_singles4` for one tap on rows ``k + at_row``."""
    w0 = w[0]
    for k in range(k0, k1, 2):
        tp = buf[(k + at_row) * ROW :]
        a = acc[(k - k0) * ROW :]
        if first:
            st = buf[(k + st_row) * ROW :]
            for t in range(width):
                u = np.uint64(t)
                a[u] = st[u] * f + tp[u] * w0
                a[u + _S] = st[u + _S] * f + tp[u + _S] * w0
        else:
            for t in range(width):
                u = np.uint64(t)
                a[u] = a[u] + tp[u] * w0
                a[u + _S] = a[u + _S] + tp[u + _S] * w0


@njit(**_JIT)
def _tile_first(acc, buf, k0, k1, st_row, f, width):
    """Rows ``k0 .. k1``: scipy's first term alone (a single weight)."""
    for k in range(k0, k1):
        st, a = buf[(k + st_row) * ROW :], acc[(k - k0) * ROW :]
        for t in range(width):
            a[t] = st[t] * f


@njit(**_JIT)
def tile_terms(acc, buf, k0, k1, fw, size1, size2, sym, width):
    """``acc`` rows ``0 .. k1 - k0`` = output rows ``k0 .. k1`` of a tile (lanes
    ``< width``), in scipy's order of terms for weights ``fw`` of kind ``sym``.

    ``acc`` and ``buf`` have room for one more row (``k1 - k0`` odd is rounded up).
    """
    if sym != 0:
        f, sg = fw[size1], np.float64(sym)
        if size1 == 0:
            _tile_first(acc, buf, k0, k1, size1, f, width)
        d = size1
        while d > 0:  # pairs at distances d, d - 1, ..: weights fw[size1 - d ..]
            w, first = fw[size1 - d :], d == size1
            if d >= 4:
                lo, hi = size1 - d, size1 + d - 3
                _tile_pairs4(acc, buf, k0, k1, lo, hi, size1, w, f, sg, width, first)
                d -= 4
            else:
                lo, hi = size1 - d, size1 + d
                _tile_pair1(acc, buf, k0, k1, lo, hi, size1, w, f, sg, width, first)
                d -= 1
    else:
        f, st = fw[size1 + size2], size1 + size2
        jj = -size1
        while jj < size2:  # taps jj, jj + 1, ..: weights fw[size1 + jj ..]
            w, first = fw[size1 + jj :], jj == -size1
            if size2 - jj >= 4:
                _tile_singles4(acc, buf, k0, k1, size1 + jj, st, w, f, width, first)
                jj += 4
            else:
                _tile_single1(acc, buf, k0, k1, size1 + jj, st, w, f, width, first)
                jj += 1


# ---------------------------------------------------------------------------- lines
@njit(**_JIT)
def _line_pairs4(acc, buf, m, lo_at, hi_at, st_at, w, f, sg, first):
    """Lanes ``0 .. m``: four pairs, the outer one at ``lo_at`` and ``hi_at + 3``."""
    lo, hi = buf[lo_at:], buf[hi_at:]
    if first:
        st = buf[st_at:]
        for t in range(m):
            u = np.uint64(t)
            s = st[u] * f
            for i in range(4):
                s += (lo[u + np.uint64(i)] + hi[u + np.uint64(3 - i)] * sg) * w[i]
            acc[u] = s
    else:
        for t in range(m):
            u = np.uint64(t)
            s = acc[u]
            for i in range(4):
                s += (lo[u + np.uint64(i)] + hi[u + np.uint64(3 - i)] * sg) * w[i]
            acc[u] = s


@njit(**_JIT)
def _line_pair1(acc, buf, m, lo_at, hi_at, st_at, w, f, sg, first):
    """Lanes ``0 .. m``: one pair at ``lo_at`` and ``hi_at``."""
    lo, hi, w0 = buf[lo_at:], buf[hi_at:], w[0]
    if first:
        st = buf[st_at:]
        for t in range(m):
            acc[t] = st[t] * f + (lo[t] + hi[t] * sg) * w0
    else:
        for t in range(m):
            acc[t] = acc[t] + (lo[t] + hi[t] * sg) * w0


@njit(**_JIT)
def _line_singles4(acc, buf, m, at, st_at, w, f, first):
    """Lanes ``0 .. m``: four taps from ``at``."""
    tp = buf[at:]
    if first:
        st = buf[st_at:]
        for t in range(m):
            u = np.uint64(t)
            s = st[u] * f
            for i in range(4):
                s += tp[u + np.uint64(i)] * w[i]
            acc[u] = s
    else:
        for t in range(m):
            u = np.uint64(t)
            s = acc[u]
            for i in range(4):
                s += tp[u + np.uint64(i)] * w[i]
            acc[u] = s


@njit(**_JIT)
def _line_single1(acc, buf, m, at, st_at, w, f, first):
    """Lanes ``0 .. m``: one tap at ``at``."""
    tp, w0 = buf[at:], w[0]
    if first:
        st = buf[st_at:]
        for t in range(m):
            acc[t] = st[t] * f + tp[t] * w0
    else:
        for t in range(m):
            acc[t] = acc[t] + tp[t] * w0


@njit(**_JIT)
def line_terms(acc, buf, m, fw, size1, size2, sym):
    """``acc[p]`` = the output centred at ``buf[size1 + p]`` for lanes ``p < m``, in
    scipy's order of terms for weights ``fw`` of kind ``sym``.

    Extended lines ``e`` apart in ``buf`` give their outputs ``e`` apart in ``acc``
    (the ``e - n`` lanes between two lines of ``n`` outputs are summed and dropped).
    """
    if sym != 0:
        f, sg = fw[size1], np.float64(sym)
        if size1 == 0:
            st = buf[size1:]
            for t in range(m):
                acc[t] = st[t] * f
        d = size1
        while d > 0:
            w, first = fw[size1 - d :], d == size1
            if d >= 4:
                _line_pairs4(acc, buf, m, size1 - d, size1 + d - 3, size1, w, f, sg, first)
                d -= 4
            else:
                _line_pair1(acc, buf, m, size1 - d, size1 + d, size1, w, f, sg, first)
                d -= 1
    else:
        f, st = fw[size1 + size2], size1 + size2
        jj = -size1
        while jj < size2:
            w, first = fw[size1 + jj :], jj == -size1
            if size2 - jj >= 4:
                _line_singles4(acc, buf, m, size1 + jj, st, w, f, first)
                jj += 4
            else:
                _line_single1(acc, buf, m, size1 + jj, st, w, f, first)
                jj += 1
