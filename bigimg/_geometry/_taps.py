"""scipy's interpolation taps along one axis, and kernels that apply them.

For a zoom, a shift or a diagonal affine map (``NI_ZoomShift``), scipy interpolates every
axis on its own: an output voxel at ``(o_0, o_1, ...)`` reads the taps of coordinate
``c_0(o_0)`` along axis 0, of ``c_1(o_1)`` along axis 1, and so on, and sums
``coef[i_0, i_1, ...] * w_0 * w_1 * ...`` over all ``(order + 1) ** ndim`` combinations.
The same sum, taken one axis at a time, costs ``(order + 1)`` multiply-adds per voxel and
axis instead of ``(order + 1) ** ndim`` per voxel (4 + 4 + 4 instead of 64 for cubic
splines in 3-D); only the rounding of the sum differs from scipy's.

The taps are not re-derived here: :func:`axis_taps` asks scipy for them, so every boundary
``mode`` (folded coordinates, mirrored, clamped or periodic taps, ``cval`` rows and taps)
is scipy's own.

* Rows whose taps are ``start .. start + order`` inside the axis (``start`` from
  ``floor(c)``, or ``floor(c + 0.5)`` for even orders) get their weights from
  ``order + 1`` calls of :func:`scipy.ndimage.map_coordinates` on combs (ones at every
  ``(order + 1)``-th sample): exactly one tap of each row meets each comb, so each call
  returns one weight per row, bit for bit. The rows are then checked: summing a random
  line through the decoded taps must give scipy's value on that line exactly.
* Other rows (near a face, or failing the check) get their taps from one call per
  sample of the axis (the unit impulses), which is scipy's linear map itself; a second
  call with zeros and ``cval=1`` gives the weight scipy puts on ``cval``: a whole row in
  ``constant`` mode (the voxel is ``cval``), part of one in ``grid-constant`` (taps
  outside read ``cval``; the region is extended by one ``cval`` sample to hold them).

:func:`separable_interpolate` contracts the region with the taps of each axis (a numba
kernel without the GIL), writes ``cval`` where scipy does, and casts with scipy's own
rounding.

``rotate`` of a volume interpolates the same 2-D map in every plane of the untouched
axes. One pixel's 2-D interpolation is again the product of its 1-D taps along both
axes, so :func:`plane_interpolate` finds the taps of every pixel of a chunk once and sums
them over all planes together (each tap reads a contiguous run of planes).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import numba
import numpy as np
from scipy import ndimage as ndi

__all__ = ["AxisTaps", "axis_taps", "plane_interpolate", "scipy_cast", "separable_interpolate"]

_JIT = dict(nogil=True, cache=True)


class AxisTaps(NamedTuple):
    """Taps of ``m`` output rows on an axis of ``n`` samples.

    ``index`` and ``weight`` are ``(m, k)``; index ``n`` is the ``cval`` sample
    (``grid-constant`` taps outside the axis), ``-1`` an unused slot; ``flagged`` rows
    are ``cval`` outright. Taps of weight zero are kept: scipy reads them too (a NaN
    there makes the result NaN).
    """

    index: np.ndarray
    weight: np.ndarray
    flagged: np.ndarray


def _interp(line: np.ndarray, c: np.ndarray, order: int, mode: str, cval: float) -> np.ndarray:
    return ndi.map_coordinates(line, c[None], order=order, mode=mode, cval=cval, prefilter=False)


def _starts(c: np.ndarray, order: int) -> np.ndarray:
    """The first tap of each coordinate (scipy's ``floor`` rule), -1 where not finite."""
    with np.errstate(invalid="ignore"):
        first = np.floor(c if order & 1 else c + 0.5) - order // 2
    return np.where(np.isfinite(first), first, -1).astype(np.int64)


def _from_combs(c: np.ndarray, n: int, order: int, mode: str):
    """Taps of the rows lying inside the axis, from ``order + 1`` comb calls, checked."""
    k = order + 1
    start = _starts(c, order)
    inside = (c >= 0) & (c <= n - 1) & (start >= 0) & (start + order <= n - 1)
    index = start[:, None] + np.arange(k)
    weight = np.zeros((len(c), k))
    if not inside.any():
        return index, weight, inside
    rows = np.arange(len(c))
    samples = np.arange(n)
    for r in range(k):
        comb = (samples % k == r).astype(np.float64)
        weight[rows, (r - start) % k] = _interp(comb, c, order, mode, 0.0)
    # check: scipy sums coef * w tap by tap; the same sum through the decoded taps must
    # give scipy's value exactly (a wrong start or tap order would not)
    line = np.random.default_rng(n).standard_normal(n)
    ref = _interp(line, c, order, mode, 0.0)
    got = np.zeros(len(c))
    safe = np.where(inside[:, None], index, 0)
    for t in range(k):
        got = got + line[safe[:, t]] * weight[:, t]
    return index, weight, inside & (got == ref)


def _from_impulses(c: np.ndarray, n: int, order: int, mode: str):
    """Taps of any rows: scipy's response to every unit impulse (the weights) and to a
    NaN impulse (which samples it reads, zero weights included), plus its ``cval`` part."""
    m = len(c)
    outside = _interp(np.zeros(n), c, order, mode, 1.0)
    # in ``constant`` mode scipy writes cval for a whole row or reads no cval at all
    whole = (outside == 1.0) if mode == "constant" else np.zeros(m, dtype=bool)
    rows = np.flatnonzero(~whole)
    dense = np.zeros((m, n + 1))
    reads = np.zeros((m, n + 1), dtype=bool)
    if len(rows):
        impulse = np.zeros(n)
        for j in range(n):
            impulse[j] = 1.0
            dense[rows, j] = _interp(impulse, c[rows], order, mode, 0.0)
            impulse[j] = np.nan
            reads[rows, j] = np.isnan(_interp(impulse, c[rows], order, mode, 0.0))
            impulse[j] = 0.0
    if mode == "grid-constant":  # taps outside the axis read cval
        dense[:, n] = outside
        reads[:, n] = outside != 0
    flagged = ~reads[:, :n].any(axis=1)
    reads[flagged] = False
    count = max(1, int(reads.sum(axis=1).max(initial=0)))
    index = np.argsort(~reads, axis=1, kind="stable")[:, :count]
    weight = np.take_along_axis(dense, index, axis=1)
    unused = ~np.take_along_axis(reads, index, axis=1)
    index[unused], weight[unused] = -1, 0.0
    return index, weight, flagged


def _taps(c: np.ndarray, n: int, order: int, mode: str) -> AxisTaps:
    index, weight, good = _from_combs(c, n, order, mode)
    flagged = np.zeros(len(c), dtype=bool)
    bad = np.flatnonzero(~good)
    if len(bad):
        b_index, b_weight, b_flagged = _from_impulses(c[bad], n, order, mode)
        width = max(index.shape[1], b_index.shape[1])
        index = np.pad(index, ((0, 0), (0, width - index.shape[1])), constant_values=-1)
        weight = np.pad(weight, ((0, 0), (0, width - weight.shape[1])))
        index[bad] = np.pad(b_index, ((0, 0), (0, width - b_index.shape[1])), constant_values=-1)
        weight[bad] = np.pad(b_weight, ((0, 0), (0, width - b_weight.shape[1])))
        flagged[bad] = b_flagged
    return AxisTaps(index, weight, flagged)


@functools.lru_cache(maxsize=256)
def _cached_taps(key: bytes, n: int, order: int, mode: str) -> AxisTaps:
    taps = _taps(np.frombuffer(key, dtype=np.float64), n, order, mode)
    for a in taps:
        a.flags.writeable = False
    return taps


#: coordinate arrays up to this length (one output axis of a chunk) are cached
_CACHED = 4096


def axis_taps(c: np.ndarray, n: int, order: int, mode: str) -> AxisTaps:
    """scipy's taps for coordinates ``c`` on an axis of ``n`` samples (``prefilter=False``).

    Short coordinate arrays are cached: the chunks of one output row/column/plane of a
    zoom share their taps.
    """
    c = np.ascontiguousarray(c, dtype=np.float64).ravel()
    if len(c) > _CACHED:
        return _taps(c, int(n), int(order), mode)
    return _cached_taps(c.tobytes(), int(n), int(order), mode)


# ------------------------------------------------------------------------- kernels
@numba.njit(**_JIT)
def _contract_inner(src, index, weight, out):  # pragma: no cover - compiled
    """``out[p, o, q] = sum_t weight[o, t] * src[p, index[o, t], q]``."""
    a, _, b = src.shape
    m, k = index.shape
    for p in range(a):
        for o in range(m):
            row = out[p, o]
            row[:] = 0.0
            for t in range(k):
                j = index[o, t]
                if j >= 0:
                    w = weight[o, t]
                    s = src[p, j]
                    for q in range(b):
                        row[q] += w * s[q]


#: rows of ``src`` transposed at a time by :func:`_contract_last` (fits in L1 cache)
_TILE = 16


@numba.njit(**_JIT)
def load_tile(src, start, count, buf):  # pragma: no cover - compiled
    """``buf[:, i] = src[start + i]`` for ``i < count``: rows transposed into a tile."""
    for i in range(count):
        for j in range(src.shape[1]):
            buf[j, i] = src[start + i, j]


@numba.njit(**_JIT)
def _contract_last(src, index, weight, out):  # pragma: no cover - compiled
    """``out[p, o] = sum_t weight[o, t] * src[p, index[o, t]]``.

    ``_TILE`` rows at a time are transposed into a small buffer so that the sums run
    over contiguous memory, as in :func:`_contract_inner`.
    """
    a, n = src.shape
    m, k = index.shape
    buf = np.empty((n, _TILE))
    acc = np.empty((m, _TILE))
    for p0 in range(0, a, _TILE):
        rows = min(a, p0 + _TILE) - p0
        load_tile(src, p0, rows, buf)
        for o in range(m):
            acc[o, :] = 0.0
            for t in range(k):
                j = index[o, t]
                if j >= 0:
                    w = weight[o, t]
                    for i in range(_TILE):
                        acc[o, i] += w * buf[j, i]
        for i in range(rows):
            for o in range(m):
                out[p0 + i, o] = acc[o, i]


def _contract(arr: np.ndarray, axis: int, taps: AxisTaps) -> np.ndarray:
    shape = arr.shape
    m = len(taps.flagged)
    before, after = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1 :]))
    out = np.empty((*shape[:axis], m, *shape[axis + 1 :]))
    # contiguous operands: one compiled signature per dtype, and vectorised inner loops
    if after == 1:
        src = np.ascontiguousarray(arr.reshape(before, shape[axis]))
        _contract_last(src, taps.index, taps.weight, out.reshape(before, m))
    else:
        src = np.ascontiguousarray(arr.reshape(before, shape[axis], after))
        _contract_inner(src, taps.index, taps.weight, out.reshape(before, m, after))
    return out


def _axis_order(sizes: list[tuple[int, int]], width: list[int]) -> tuple[int, ...]:
    """The order of contractions with the fewest multiply-adds (``sizes``: ``(n, m)``);
    the last axis (its sums need transposed tiles) counts twice."""
    best, best_cost = None, np.inf
    axes = range(len(sizes))
    perms = itertools.permutations(axes) if len(sizes) <= 5 else [tuple(axes)]
    for perm in perms:
        shape = [n for n, _ in sizes]
        cost = 0
        for ax in perm:
            shape[ax] = sizes[ax][1]
            cost += int(np.prod(shape)) * width[ax] * (2 if ax == len(sizes) - 1 else 1)
        if cost < best_cost:
            best, best_cost = perm, cost
    return best


def scipy_cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` (float64 or complex128) stored in ``dtype`` the way scipy stores them.

    Floats and complex are a plain cast; integers and bools go through scipy's own output
    conversion (an order-0 shift by zero copies every value and rounds it like scipy).
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return values.astype(dtype, copy=False)
    return ndi.shift(values, 0.0, output=dtype, order=0, mode="nearest", prefilter=False)


#: float64 values in a partial sum of one slab of the separable kernel (4 MiB)
_SLAB = 1 << 19


def _real_part(read, part):
    return lambda window: getattr(read(window), part)


def separable_interpolate(
    read,
    shape: tuple[int, ...],
    coords: list[np.ndarray],
    order: int,
    mode: str,
    cval,
    dtype: np.dtype,
) -> np.ndarray:
    """scipy's ``NI_ZoomShift`` interpolation of a region at per-axis ``coords``.

    ``read`` is the region (an array, ``shape`` then ignored) or a function
    ``read(window)`` returning the part ``[a, b)`` per axis of the region of ``shape``
    (from the blocks it is cut from); ``coords[h]`` are the coordinates along
    axis ``h`` in the region's frame, exactly as scipy computes them (its coordinate plus
    pre-padding, minus the region start). The first axis summed is cut into slabs of
    output rows, each reading only the input rows its taps need, so the region is never
    copied whole and every partial sum stays within :data:`_SLAB` values (unless one
    output row alone is larger).
    """
    if isinstance(read, np.ndarray):
        region = read
        return separable_interpolate(
            lambda w: region[tuple(slice(a, b) for a, b in w)],
            region.shape,
            coords,
            order,
            mode,
            cval,
            dtype,
        )
    if np.iscomplexobj(cval) or read(((0, 1),) * len(shape)).dtype.kind == "c":
        c = complex(cval)
        parts = [
            separable_interpolate(_real_part(read, part), shape, coords, order, mode, v, "f8")
            for part, v in (("real", c.real), ("imag", c.imag))
        ]
        return scipy_cast(parts[0] + 1j * parts[1], dtype)
    taps = [axis_taps(c, n, order, mode) for c, n in zip(coords, shape)]
    pad = any(t.index.max(initial=0) == n for t, n in zip(taps, shape))
    sizes = [(n, len(c)) for n, c in zip(shape, coords)]
    axes = _axis_order(sizes, [t.index.shape[1] for t in taps])
    first = axes[0]
    out = np.empty(tuple(len(c) for c in coords), dtype=np.dtype(dtype))
    # output rows per slab: every partial sum of the slab stays within _SLAB values
    row = [n for n in shape]
    row[first] = 1
    per_row = math.prod(row)
    for ax in axes[1:]:
        row[ax] = sizes[ax][1]
        per_row = max(per_row, math.prod(row))
    rows = max(1, _SLAB // per_row)
    for r0 in range(0, out.shape[first], rows):
        r1 = min(out.shape[first], r0 + rows)
        t = taps[first]
        index, weight = t.index[r0:r1], t.weight[r0:r1]
        used = index[(index >= 0) & (index < shape[first])]
        lo, hi = (int(used.min()), int(used.max()) + 1) if used.size else (0, 1)
        window = [(0, n) for n in shape]
        window[first] = (lo, hi)
        values = read(tuple(window))
        if values.dtype not in (np.float32, np.float64):
            values = values.astype(np.float64)
        if pad:
            values = np.pad(values.astype(np.float64), [(0, 1)] * len(shape), constant_values=cval)
        local = np.where(index < 0, -1, np.where(index == shape[first], hi, index) - lo)
        values = _contract(values, first, AxisTaps(local, weight, t.flagged[r0:r1]))
        for ax in axes[1:]:
            values = _contract(values, ax, taps[ax])
        flags = [tt.flagged for tt in taps]
        flags[first] = t.flagged[r0:r1]
        for ax, f in enumerate(flags):
            if f.any():
                values[(slice(None),) * ax + (f,)] = cval
        out[(slice(None),) * first + (slice(r0, r1),)] = scipy_cast(values, dtype)
    return out


# ------------------------------------------------------------ rotate: shared planes
@numba.njit(**_JIT)
def _plane_sum(src, iy, wy, ix, wx, out):  # pragma: no cover - compiled
    """``out[p, :] = sum_ab wy[p, a] wx[p, b] src[iy[p, a], ix[p, b], :]``."""
    pixels, ky = iy.shape
    kx = ix.shape[1]
    for p in range(pixels):
        row = out[p]
        row[:] = 0.0
        for a in range(ky):
            ja = iy[p, a]
            if ja < 0:
                continue
            for b in range(kx):
                jb = ix[p, b]
                if jb >= 0:
                    w = wy[p, a] * wx[p, b]
                    s = src[ja, jb]
                    for q in range(row.shape[0]):
                        row[q] += w * s[q]


def plane_interpolate(
    src: np.ndarray, cy: np.ndarray, cx: np.ndarray, order: int, mode: str, cval
) -> np.ndarray:
    """scipy's 2-D interpolation of every plane ``src[:, :, q]`` at the same pixels.

    ``src`` is ``(ny, nx, planes)``; ``cy``, ``cx`` are the pixels' coordinates in its
    frame, exactly as scipy computes them. Returns float64 (complex128 for complex
    data) values of shape ``(len(cy), planes)``, before the cast to the output dtype.
    scipy's 2-D interpolation of one pixel is the product of its 1-D taps along both
    axes, so the taps are found once (:func:`axis_taps`) and summed over all planes.
    """
    if src.dtype.kind == "c" or np.iscomplexobj(cval):
        c = complex(cval)
        real = plane_interpolate(src.real, cy, cx, order, mode, c.real)
        return real + 1j * plane_interpolate(src.imag, cy, cx, order, mode, c.imag)
    ty = axis_taps(cy, src.shape[0], order, mode)
    tx = axis_taps(cx, src.shape[1], order, mode)
    if ty.index.max(initial=0) == src.shape[0] or tx.index.max(initial=0) == src.shape[1]:
        src = np.pad(src.astype(np.float64), [(0, 1), (0, 1), (0, 0)], constant_values=cval)
    if src.dtype not in (np.float32, np.float64) or not src.flags.c_contiguous:
        src = np.ascontiguousarray(src, dtype=np.float64)
    out = np.empty((len(cy), src.shape[2]))
    _plane_sum(src, ty.index, ty.weight, tx.index, tx.weight, out)
    out[ty.flagged | tx.flagged] = cval
    return out
