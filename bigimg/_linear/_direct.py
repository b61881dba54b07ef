"""N-D correlation of a block, exactly as ``NI_Correlate`` computes it.

scipy's ``correlate``/``convolve`` sum, for every voxel, ``w * x`` over the weights
with ``|w| > DBL_EPSILON`` in the weights' C order, starting from ``0.0``, in double
(separable weights are not split: that would change the last bit). The kernel here
does the same sum for many voxels at once. Each input plane is extended (the boundary
mode applied on both axes, ``cval`` outside) into a flat ``double`` plane with rows
``ext_x`` apart; output voxel ``(j, t)`` of a plane is then lane ``j * ext_x + t``,
and each tap reads a fixed offset ``dy * ext_x + dx`` from it in the plane of its
``dz``. So a tap is one loop over a few thousand contiguous lanes (the lanes
``t >= n_x`` between rows are summed and dropped), four taps are added per loop (the
running sum stays in a register for them and goes to an L1-sized buffer between
groups), and only the planes an output plane needs are kept: a ring of as many
extended planes as the weights have along the first axis.

Arrays of 1 to 3 dimensions are handled (fewer are seen as 3-D with unit axes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bigimg._linear._cast import c_cast, extend_line, extension_map

__all__ = ["correlate_direct"]

_EPS = np.finfo(np.float64).eps
_JIT = dict(nogil=True, cache=True, boundscheck=False, error_model="numpy")
#: Output lanes summed at once (their sums stay in the L1 cache: 16 KiB).
_LANES = 2048


@njit(**_JIT)
def _fill_plane(plane, src, z, ymap, xmap, xlead, cval):
    """Extended plane ``z`` of ``src`` (``z < 0``: all ``cval``) into ``plane``."""
    ext_y, ext_x = plane.shape
    for e in range(ext_y):
        row = plane[e]
        y = ymap[e]
        if z < 0 or y < 0:
            for t in range(ext_x):
                row[t] = cval
            continue
        extend_line(row, src[z, y], xmap, xlead, cval)


@njit(**_JIT)
def _taps4(acc, r0, r1, r2, r3, w0, w1, w2, w3, n, first):
    """``acc`` (``0.0`` if ``first``) plus four taps, in order, over ``n`` lanes."""
    if first:
        for t in range(n):
            acc[t] = (((0.0 + w0 * r0[t]) + w1 * r1[t]) + w2 * r2[t]) + w3 * r3[t]
    else:
        for t in range(n):
            acc[t] = (((acc[t] + w0 * r0[t]) + w1 * r1[t]) + w2 * r2[t]) + w3 * r3[t]


@njit(**_JIT)
def _tap1(acc, r0, w0, n, first):
    """``acc`` (``0.0`` if ``first``) plus one tap over ``n`` lanes."""
    if first:
        for t in range(n):
            acc[t] = 0.0 + w0 * r0[t]
    else:
        for t in range(n):
            acc[t] = acc[t] + w0 * r0[t]


@njit(**_JIT)
def _correlate(src, dst, maps, xlead, taps, weights, cval):
    """``dst`` = the correlation of ``src`` (both 3-D, C order); ``taps`` is ``(k, 3)``,
    each tap's offsets into the extended planes."""
    zmap, ymap, xmap = maps
    n_z, n_y, n_x = src.shape
    ext_y, ext_x = ymap.shape[0], xmap.shape[0]
    depth = zmap.shape[0] - n_z + 1
    ring = np.empty((depth, ext_y * ext_x), np.float64)
    n_taps = taps.shape[0]
    planes = np.empty(n_taps, np.int64)
    offsets = np.empty(n_taps, np.int64)
    for q in range(n_taps):
        offsets[q] = taps[q, 1] * ext_x + taps[q, 2]
    rows = max(1, _LANES // ext_x)  # output rows summed at once
    acc = np.empty(rows * ext_x, np.float64)
    last = (n_y - 1) * ext_x + n_x  # lanes of a plane's outputs (the last row ends at n_x)
    for i in range(n_z):
        first = 0 if i == 0 else depth - 1
        for a in range(first, depth):
            plane = ring[(i + a) % depth].reshape((ext_y, ext_x))
            _fill_plane(plane, src, zmap[i + a], ymap, xmap, xlead, cval)
        for q in range(n_taps):
            planes[q] = (i + taps[q, 0]) % depth
        for j0 in range(0, n_y, rows):
            m0 = j0 * ext_x
            n = min(m0 + rows * ext_x, last) - m0
            if n_taps == 0:  # every weight within DBL_EPSILON of 0: scipy's sum is 0.0
                acc[:n] = 0.0
            k = 0
            while k < n_taps:
                if n_taps - k >= 4:
                    r0 = ring[planes[k], m0 + offsets[k] :]
                    r1 = ring[planes[k + 1], m0 + offsets[k + 1] :]
                    r2 = ring[planes[k + 2], m0 + offsets[k + 2] :]
                    r3 = ring[planes[k + 3], m0 + offsets[k + 3] :]
                    w = weights[k : k + 4]
                    _taps4(acc, r0, r1, r2, r3, w[0], w[1], w[2], w[3], n, k == 0)
                    k += 4
                else:
                    _tap1(acc, ring[planes[k], m0 + offsets[k] :], weights[k], n, k == 0)
                    k += 1
            for j in range(j0, min(n_y, j0 + rows)):
                out, sums = dst[i, j], acc[(j - j0) * ext_x :]
                for t in range(n_x):
                    out[t] = c_cast(sums[t], out)


def correlate_direct(src, dst, weights, origins, mode, cval):
    """scipy's ``correlate(src, weights, dst, mode, cval, origins)`` into ``dst``.

    ``src`` and ``dst`` are C-ordered arrays of 1 to 3 dimensions and of the same
    shape (not sharing memory); ``weights`` (float64) has ``src.ndim`` dimensions and
    ``origins`` one entry per axis, both as scipy has expanded and checked them
    (for ``convolve`` the weights are already flipped and the origins shifted).
    """
    if src.size == 0:
        return dst
    pad = 3 - src.ndim
    shape3 = (1,) * pad + src.shape
    w3 = np.asarray(weights, dtype=np.float64).reshape((1,) * pad + weights.shape)
    origins3 = (0,) * pad + tuple(int(o) for o in origins)
    maps = []
    for n, size, origin in zip(shape3, w3.shape, origins3):
        size1 = size // 2
        maps.append(extension_map(n, size1 + origin, size - size1 - 1 - origin, mode))
    keep = np.abs(w3) > _EPS
    taps = np.argwhere(keep).astype(np.int64)  # C order, as scipy walks the weights
    xlead = w3.shape[2] // 2 + origins3[2]
    _correlate(
        src.reshape(shape3),
        dst.reshape(shape3),
        tuple(maps),
        xlead,
        taps,
        w3[keep],
        float(cval),
    )
    return dst
