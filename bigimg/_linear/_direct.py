"""N-D correlation of a block, exactly as ``NI_Correlate`` computes it.

scipy's ``correlate``/``convolve`` sum, for every voxel, ``w * x`` over the weights
with ``|w| > DBL_EPSILON`` in the weights' C order, starting from ``0.0``, in double
(separable weights are not split: that would change the last bit). The kernel here
does the same sum for whole rows at once: for each output row it adds ``w * row`` for
every tap, where ``row`` is a shifted view of an extended ``double`` plane (the
boundary mode applied on every axis, ``cval`` outside), so the innermost loop runs
over contiguous memory. Only the planes a row needs are kept: a ring of as many
extended planes as the weights have along the first axis.

Arrays of 1 to 3 dimensions are handled (fewer are seen as 3-D with unit axes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bigimg._linear._cast import c_cast, extension_map

__all__ = ["correlate_direct"]

_EPS = np.finfo(np.float64).eps


@njit(nogil=True, cache=True)
def _fill_plane(plane, src, z, ymap, xmap, xlead, cval):
    """Extended plane ``z`` of ``src`` (``z < 0``: all ``cval``) into ``plane``."""
    n_x = src.shape[2]
    ext_y, ext_x = plane.shape
    for e in range(ext_y):
        row = plane[e]
        y = ymap[e]
        if z < 0 or y < 0:
            for t in range(ext_x):
                row[t] = cval
            continue
        line = src[z, y]
        for t in range(xlead):
            x = xmap[t]
            row[t] = cval if x < 0 else np.float64(line[x])
        body = row[xlead : xlead + n_x]
        for t in range(n_x):
            body[t] = np.float64(line[t])
        for t in range(xlead + n_x, ext_x):
            x = xmap[t]
            row[t] = cval if x < 0 else np.float64(line[x])


@njit(nogil=True, cache=True)
def _correlate(src, dst, maps, xlead, taps, weights, cval):
    """``dst`` = the correlation of ``src`` (both 3-D, C order); ``taps`` is ``(k, 3)``."""
    zmap, ymap, xmap = maps
    n_z, n_y, n_x = src.shape
    depth = zmap.shape[0] - n_z + 1
    ring = np.empty((depth, ymap.shape[0], xmap.shape[0]), np.float64)
    acc = np.empty(n_x, np.float64)
    for i in range(n_z):
        first = 0 if i == 0 else depth - 1
        for a in range(first, depth):
            _fill_plane(ring[(i + a) % depth], src, zmap[i + a], ymap, xmap, xlead, cval)
        for j in range(n_y):
            for t in range(n_x):
                acc[t] = 0.0
            for k in range(taps.shape[0]):
                w = weights[k]
                row = ring[(i + taps[k, 0]) % depth, j + taps[k, 1]]
                tap = row[taps[k, 2] : taps[k, 2] + n_x]
                for t in range(n_x):
                    acc[t] += w * tap[t]
            out = dst[i, j]
            for t in range(n_x):
                out[t] = c_cast(acc[t], out)


def correlate_direct(src, dst, weights, origins, mode, cval):
    """scipy's ``correlate(src, weights, dst, mode, cval, origins)`` into ``dst``.

    ``src`` and ``dst`` are C-ordered arrays of 1 to 3 dimensions and of the same
    shape (not sharing memory); ``weights`` (float64) has ``src.ndim`` dimensions and
    ``origins`` one entry per axis, both as scipy has expanded and checked them
    (for ``convolve`` the weights are already flipped and the origins shifted).
    """
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
