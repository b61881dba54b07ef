"""In-memory kernels of the distance transforms: one pass along one axis of one block.

Every kernel works on C-contiguous blocks seen as ``(pre, n, post)``: the processed axis
has length ``n`` and is complete in the block (it is never cut by a chunk boundary), so
each of the ``pre * post`` lines of length ``n`` is solved exactly. The kernels are numba
functions compiled with ``nogil=True`` so that dask's threads run them in parallel.

Squared Euclidean distances (:func:`nearest_to_squared`, :func:`edt_envelope_pass`)
    The lower envelope of parabolas of Felzenszwalb & Huttenlocher ("Distance
    transforms of sampled functions", Theory of Computing 8, 2012), with per-axis
    sampling. Values are summed in scipy's order (axis 0 first), so unit or integer
    sampling gives scipy's floats exactly.

Euclidean feature transform (:func:`nearest_axis0`, :func:`features_pass`)
    The Voronoi-site elimination of Maurer, Qi & Raghavan (IEEE PAMI 25, 2003), the
    algorithm behind ``scipy.ndimage.distance_transform_edt``. The floating point
    expressions and comparisons are those that decide scipy's choice among equally
    near background voxels, so the returned indices are scipy's.

Chamfer distances (:func:`taxicab_pass`, :func:`chessboard_pass`, :func:`chamfer_pass`)
    Separable min-plus passes for the city-block and chessboard metrics (the latter
    with the linear-time "Sep" rule of Meijster, Roerdink & Hesselink, 2000), and a
    raster-order chamfer pass that is scipy's two-pass algorithm run on a slab.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "BIG",
    "NONE_BELOW",
    "chamfer_pass",
    "chessboard_pass",
    "column_ends",
    "edt_envelope_pass",
    "features_pass",
    "ft_envelope_pass",
    "nearest_axis0",
    "nearest_sites",
    "nearest_to_squared",
    "nearest_to_steps",
    "taxicab_pass",
    "unravel",
]

#: "No background on this line yet" in the integer (city-block, chessboard) passes: far
#: above any distance in a volume whose axes sum to less than 2**30 voxels, and far
#: enough below the int32 limit that adding an axis length cannot overflow.
BIG = 1 << 30
#: "No background after this block" in :func:`nearest_axis0` (beyond any axis length).
NONE_BELOW = 1 << 62


# --------------------------------------------------------------------------------------
# squared Euclidean distance (values only)
# --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def nearest_axis0(mask, above, below, offset, later, out):
    """Index along axis 0 of the nearest zero of ``mask`` (n, post).

    ``above[q]``/``below[q]`` are the nearest background indices of column ``q`` in the
    blocks before/after this one (-1 / NONE_BELOW if none); ``offset``
    is the block's first global index. Of two equally near background voxels the
    earlier one wins (scipy's Euclidean feature transform), or the later one if
    ``later`` (scipy's brute force). ``out`` gets -1 where the whole column holds no
    background.
    """
    n, post = mask.shape
    up = np.empty(post, np.int64)
    for q in range(post):
        up[q] = above[q]
    for i in range(n):
        for q in range(post):
            if not mask[i, q]:
                up[q] = offset + i
            out[i, q] = up[q]
    down = np.empty(post, np.int64)
    for q in range(post):
        down[q] = below[q]
    for i in range(n - 1, -1, -1):
        z = offset + i
        for q in range(post):
            if not mask[i, q]:
                down[q] = z
            u = out[i, q]
            d = down[q]
            if d != NONE_BELOW and (u < 0 or d - z < z - u or (later and d - z == z - u)):
                out[i, q] = d


@njit(cache=True, nogil=True)
def column_ends(mask, offset, out):
    """First (``out[0]``) and last (``out[1]``) background row of each column of ``mask``
    (n, post), as global indices; NONE_BELOW and -1 where a column has none."""
    n, post = mask.shape
    for q in range(post):
        out[0, q] = NONE_BELOW
        out[1, q] = -1
    for i in range(n):
        for q in range(post):
            if not mask[i, q]:
                if out[0, q] == NONE_BELOW:
                    out[0, q] = offset + i
                out[1, q] = offset + i


@njit(cache=True, nogil=True)
def nearest_to_squared(idx, offset, s0, out):
    """Squared distance ``((z - idx) * s0)**2`` along axis 0; inf where ``idx < 0``."""
    n, post = idx.shape
    for i in range(n):
        for q in range(post):
            f = idx[i, q]
            if f < 0:
                out[i, q] = np.inf
            else:
                t = (offset + i - f) * s0
                out[i, q] = t * t


@njit(cache=True, nogil=True)
def nearest_to_steps(idx, offset, out):
    """``|z - idx|`` along axis 0; BIG where ``idx < 0``."""
    n, post = idx.shape
    for i in range(n):
        for q in range(post):
            f = idx[i, q]
            out[i, q] = BIG if f < 0 else abs(offset + i - f)


@njit(cache=True, nogil=True)
def edt_envelope_pass(g, s, out):
    """``out[p, x, q] = min_y g[p, y, q] + ((x - y) * s)**2`` on a (pre, n, post) block.

    Sites with ``g = inf`` (no background seen yet) are skipped; a line without any
    finite site stays inf.
    """
    pre, n, post = g.shape
    line = np.empty(n, np.float64)
    v = np.empty(n, np.int64)
    z = np.empty(n + 1, np.float64)
    s2 = s * s
    for p in range(pre):
        for q in range(post):
            for i in range(n):
                line[i] = g[p, i, q]
            k = -1
            for i in range(n):
                gi = line[i]
                if gi == np.inf:
                    continue
                hi = gi + s2 * i * i
                cross = -np.inf
                while k >= 0:
                    r = v[k]
                    cross = (hi - (line[r] + s2 * r * r)) / (2.0 * s2 * (i - r))
                    if cross <= z[k]:
                        k -= 1
                        cross = -np.inf
                    else:
                        break
                k += 1
                v[k] = i
                z[k] = cross
                z[k + 1] = np.inf
            if k < 0:
                for i in range(n):
                    out[p, i, q] = np.inf
                continue
            k = 0
            for i in range(n):
                while z[k + 1] < i:
                    k += 1
                r = v[k]
                t = (i - r) * s
                out[p, i, q] = line[r] + t * t


# --------------------------------------------------------------------------------------
# Euclidean feature transform (scipy's tie-breaking)
# --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def nearest_sites(nsite, pos, wr, flat, n, sd, stack, choice):
    """Maurer's elimination and query on one line: ``choice[i]`` = the nearest site.

    ``pos`` are the sites' positions along the line (increasing), ``wr`` their squared
    distance to the line over the axes already processed (floats, or integers for the
    brute-force transform), ``sd`` the sampling of the line's axis. Among equally near
    sites the earlier one wins, as in scipy's feature transform, or, given ``flat``
    (the sites' flat indices; None otherwise), the one with the largest flat index, as
    in scipy's brute force. ``stack`` is scratch space.
    """
    top = -1
    for k in range(nsite):
        wk = wr[k]  # read once: numba does not hoist it out of the loop below
        while top >= 1:
            i1 = stack[top]
            i2 = stack[top - 1]
            a = (pos[i1] - pos[i2]) * sd
            b = (pos[k] - pos[i1]) * sd
            c = a + b
            if c * wr[i1] - b * wr[i2] - a * wk - a * b * c <= 0:
                break
            top -= 1
        top += 1
        stack[top] = k
    top_max = top
    top = 0
    for i in range(n):
        t = (pos[stack[top]] - i) * sd
        delta1 = wr[stack[top]] + t * t
        while top < top_max:
            t = (pos[stack[top + 1]] - i) * sd
            delta2 = wr[stack[top + 1]] + t * t
            if delta1 <= delta2:
                break
            delta1 = delta2
            top += 1
        best = stack[top]
        if flat is not None:  # equally near sites are next to each other on the stack
            j = top + 1
            while j <= top_max:
                t = (pos[stack[j]] - i) * sd
                if wr[stack[j]] + t * t != delta1:
                    break
                if flat[stack[j]] > flat[best]:
                    best = stack[j]
                j += 1
        choice[i] = best


@njit(cache=True, nogil=True)
def _better(v1, f1, v2, f2):
    return v1 < v2 or (v1 == v2 and f1 > f2)


@njit(cache=True, nogil=True)
def _cityblock_sites(nsite, pos, wr, flat, n, stack, choice):
    """Nearest site in ``wr[y] + |x - pos[y]|``; among equals the largest ``flat``."""
    k = -1  # best site at or before x: minimises wr - pos (x is added to all)
    s = 0
    for i in range(n):
        while s < nsite and pos[s] <= i:
            if k < 0 or _better(wr[s] - pos[s], flat[s], wr[k] - pos[k], flat[k]):
                k = s
            s += 1
        stack[i] = k
    k = -1  # best site at or after x: minimises wr + pos
    s = nsite - 1
    for i in range(n - 1, -1, -1):
        while s >= 0 and pos[s] >= i:
            if k < 0 or _better(wr[s] + pos[s], flat[s], wr[k] + pos[k], flat[k]):
                k = s
            s -= 1
        left = stack[i]
        if left < 0:
            choice[i] = k
        elif k < 0:
            choice[i] = left
        else:
            vl = wr[left] + i - pos[left]
            vr = wr[k] + pos[k] - i
            choice[i] = k if _better(vr, flat[k], vl, flat[left]) else left


@njit(cache=True, nogil=True)
def features_pass(feat, coords, s, strides, cityblock, out):
    """One feature-transform pass along the middle axis of ``feat`` (d, pre, n, post).

    ``feat[:d]`` holds, for every voxel, the coordinates along axes ``0..d-1`` of its
    nearest background voxel within the sub-space already processed (``feat[0] < 0``:
    none yet). ``coords[p]`` are the global coordinates along axes ``0..d-1`` of the
    lines with pre-index ``p``; ``s`` the sampling of axes ``0..d``. ``out`` (d+1, pre,
    n, post) receives the nearest background over axes ``0..d``; lines with no
    background get ``(-1, 0, ..., 0)`` as scipy does.

    ``strides`` None: scipy's feature transform (float ``s``; ties to the earlier
    site). Given (the whole array's strides, integer ``s``): scipy's brute force, in
    integers (``cityblock`` sums absolute offsets instead of squares), ties to the
    largest flat index.
    """
    d, pre, n, post = feat.shape
    pos = np.empty(n, np.int64)
    wr = np.empty(n, s.dtype)
    flat = np.empty(n, np.int64)
    fc = np.empty((n, d), np.int64)
    stack = np.empty(n, np.int64)
    choice = np.empty(n, np.int64)
    for p in range(pre):
        for q in range(post):
            nsite = 0
            for i in range(n):
                if feat[0, p, i, q] >= 0:
                    pos[nsite] = i
                    w = 0
                    for jj in range(d):
                        f = feat[jj, p, i, q]
                        fc[nsite, jj] = f
                        t = (f - coords[p, jj]) * s[jj]
                        if strides is not None and cityblock:
                            w += abs(t)
                        else:
                            w += t * t
                    wr[nsite] = w
                    if strides is not None:
                        fl = i * strides[d]
                        for jj in range(d):
                            fl += feat[jj, p, i, q] * strides[jj]
                        flat[nsite] = fl
                    nsite += 1
            if nsite == 0:
                for i in range(n):
                    out[0, p, i, q] = -1
                    for jj in range(1, d + 1):
                        out[jj, p, i, q] = 0
                continue
            if strides is None:
                nearest_sites(nsite, pos, wr, None, n, s[d], stack, choice)
            elif cityblock:
                _cityblock_sites(nsite, pos, wr, flat, n, stack, choice)
            else:
                nearest_sites(nsite, pos, wr, flat, n, s[d], stack, choice)
            for i in range(n):
                k = choice[i]
                for jj in range(d):
                    out[jj, p, i, q] = fc[k, jj]
                out[d, p, i, q] = pos[k]


@njit(cache=True, nogil=True)
def ft_envelope_pass(feat, coords, s, out):
    """scipy's feature transform: :func:`features_pass` without ``strides``."""
    features_pass(feat, coords, s, None, False, out)


# --------------------------------------------------------------------------------------
# city-block and chessboard distances (values only)
# --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def taxicab_pass(g, out):
    """``out[p, x, q] = min_y g[p, y, q] + |x - y|`` (two sweeps) on a (pre, n, post) block."""
    pre, n, post = g.shape
    for p in range(pre):
        for q in range(post):
            out[p, 0, q] = g[p, 0, q]
        for i in range(1, n):
            for q in range(post):
                out[p, i, q] = min(g[p, i, q], out[p, i - 1, q] + 1)
        for i in range(n - 2, -1, -1):
            for q in range(post):
                t = out[p, i + 1, q] + 1
                if t < out[p, i, q]:
                    out[p, i, q] = t
        for i in range(n):
            for q in range(post):
                if out[p, i, q] > BIG:
                    out[p, i, q] = BIG


@njit(cache=True, nogil=True)
def chessboard_pass(g, out):
    """``out[p, x, q] = min_y max(g[p, y, q], |x - y|)`` on a (pre, n, post) block.

    Meijster's lower envelope of the functions ``max(|x - y|, g[y])``; BIG stands for
    "no background" and stays BIG.
    """
    pre, n, post = g.shape
    line = np.empty(n, np.int64)
    sv = np.empty(n, np.int64)
    tv = np.empty(n, np.int64)
    for p in range(pre):
        for q in range(post):
            for i in range(n):
                line[i] = g[p, i, q]
            top = 0
            sv[0] = 0
            tv[0] = 0
            for u in range(1, n):
                while top >= 0:
                    x = tv[top]
                    r = sv[top]
                    fr = max(abs(x - r), line[r])
                    fu = max(abs(x - u), line[u])
                    if fr > fu:
                        top -= 1
                    else:
                        break
                if top < 0:
                    top = 0
                    sv[0] = u
                    tv[0] = 0
                else:
                    r = sv[top]
                    if line[r] <= line[u]:
                        w = max(r + line[u], (r + u) // 2)
                    else:
                        w = min(u - line[r], (r + u) // 2)
                    w += 1
                    if w < n:
                        top += 1
                        sv[top] = u
                        tv[top] = w
            for u in range(n - 1, -1, -1):
                r = sv[top]
                out[p, u, q] = min(max(abs(u - r), line[r]), BIG)
                if u == tv[top]:
                    top -= 1


@njit(cache=True, nogil=True)
def unravel(flat, shape, out):
    """``out[:, i] = np.unravel_index(flat[i], shape)`` as int32, without temporaries."""
    ndim = shape.shape[0]
    for i in range(flat.shape[0]):
        rem = flat[i]
        for k in range(ndim - 1, -1, -1):
            out[k, i] = rem % shape[k]
            rem //= shape[k]


# --------------------------------------------------------------------------------------
# scipy's raster chamfer pass (any structure, with features)
# --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def chamfer_pass(dt, ft, offsets, first, stop, backward):
    """One raster pass of scipy's chamfer distance over planes ``first..stop-1`` of a slab.

    ``dt`` (int32; 0 background, -1 not reached) and ``ft`` (int64 flat index of the
    feature) are C-contiguous arrays of any rank whose axis 0 is cut into slabs; planes
    outside ``first..stop-1`` are context from the neighbouring slab and are read only.
    ``offsets`` (m, ndim) are the structure's elements before its centre in raveled
    order, in that order. The forward pass visits voxels in raster order and reads
    ``voxel + offset``; the backward pass visits them in reverse and reads
    ``voxel - offset``, which is what scipy does by flipping the array. A neighbour
    replaces the current value only when strictly better, as in scipy.
    """
    ndim = dt.ndim
    shape = np.empty(ndim, np.int64)
    for k in range(ndim):
        shape[k] = dt.shape[k]
    strides = np.empty(ndim, np.int64)
    acc = 1
    for k in range(ndim - 1, -1, -1):
        strides[k] = acc
        acc *= shape[k]
    m = offsets.shape[0]
    sign = -1 if backward else 1
    step_off = np.empty((m, ndim), np.int64)
    flat_off = np.empty(m, np.int64)
    for j in range(m):
        o = 0
        for k in range(ndim):
            step_off[j, k] = sign * offsets[j, k]
            o += step_off[j, k] * strides[k]
        flat_off[j] = o
    dflat = dt.reshape(-1)
    fflat = ft.reshape(-1)
    start = first * strides[0]
    count = (stop - first) * strides[0]
    idx = start if not backward else start + count - 1
    delta = 1 if not backward else -1
    coord = np.empty(ndim, np.int64)
    rem = idx
    for k in range(ndim):
        coord[k] = rem // strides[k]
        rem -= coord[k] * strides[k]
    for _ in range(count):
        value = dflat[idx]
        if value != 0:
            interior = True
            for k in range(ndim):
                if coord[k] == 0 or coord[k] == shape[k] - 1:
                    interior = False
                    break
            best = value
            best_idx = -1
            for j in range(m):
                if not interior:
                    inside = True
                    for k in range(ndim):
                        c = coord[k] + step_off[j, k]
                        if c < 0 or c >= shape[k]:
                            inside = False
                            break
                    if not inside:
                        continue
                nb = idx + flat_off[j]
                tt = dflat[nb]
                if tt >= 0 and (best < 0 or tt + 1 < best):
                    best = tt + 1
                    best_idx = nb
            dflat[idx] = best
            if best_idx >= 0:
                fflat[idx] = fflat[best_idx]
        # next voxel in (reverse) raster order
        idx += delta
        k = ndim - 1
        if delta > 0:
            coord[k] += 1
            while k > 0 and coord[k] == shape[k]:
                coord[k] = 0
                k -= 1
                coord[k] += 1
        else:
            coord[k] -= 1
            while k > 0 and coord[k] < 0:
                coord[k] = shape[k] - 1
                k -= 1
                coord[k] -= 1
