"""A numba kernel for affine maps of volumes (``affine_transform``, 3-D in and out).

scipy's ``NI_GeometricTransform`` computes, for every output voxel, its coordinate
``c = offset + matrix @ o``, per axis the first tap ``s`` (``floor(c) - order // 2``, or
``floor(c + 0.5) - order // 2`` for even orders) and the B-spline weights
``beta(c - s - k)``, then sums ``coef * w_0 * w_1 * w_2`` over all ``(order + 1) ** 3``
taps, checking every tap against the array's faces. This kernel does the same for the
voxels whose taps all lie inside the region and whose coordinate lies inside the array
by more than rounding (``SLACK``), summing one axis at a time
(``sum_a w_0 sum_b w_1 sum_c w_2 coef``: ``(order + 1) ** 3 + (order + 1) ** 2 + ...``
multiply-adds instead of three times ``(order + 1) ** 3`` multiplications; orders 1 and
3 are written out for the compiler). Where no
boundary rule applies the value is continuous in ``c``, so the last-bit differences
between these coordinates and scipy's, and between these sums and scipy's, only change
the result by rounding.

In ``constant`` mode a voxel whose coordinate lies outside the array by more than
rounding is ``cval`` (scipy's rule); every other voxel (near a face, or outside in the
other modes) is flagged, and the caller computes it with
:func:`scipy.ndimage.map_coordinates` at scipy's exact coordinates.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from bigimg._geometry._maps import SLACK

__all__ = ["affine_volume", "bspline"]

_JIT = dict(nogil=True, cache=True)


@numba.njit(**_JIT)
def bspline(x, order):  # pragma: no cover - compiled
    """The centred B-spline of ``order`` (1-5) at ``x``."""
    x = abs(x)
    if order == 1:
        return 1.0 - x if x < 1.0 else 0.0
    if order == 2:
        if x < 0.5:
            return 0.75 - x * x
        if x < 1.5:
            y = 1.5 - x
            return 0.5 * y * y
        return 0.0
    if order == 3:
        if x < 1.0:
            return 2.0 / 3.0 + x * x * (0.5 * x - 1.0)
        if x < 2.0:
            y = 2.0 - x
            return y * y * y / 6.0
        return 0.0
    if order == 4:
        if x < 0.5:
            y = x * x
            return 115.0 / 192.0 + y * (0.25 * y - 0.625)
        if x < 1.5:
            return 55.0 / 96.0 + x * (5.0 / 24.0 + x * (-1.25 + x * (5.0 / 6.0 - x / 6.0)))
        if x < 2.5:
            y = 2.5 - x
            y = y * y
            return y * y / 24.0
        return 0.0
    if x < 1.0:
        y = x * x
        return 0.55 + y * (-0.5 + y * (0.25 - x / 12.0))
    if x < 2.0:
        return 0.425 + x * (0.625 + x * (-1.75 + x * (1.25 + x * (-0.375 + x / 24.0))))
    if x < 3.0:
        y = 3.0 - x
        z = y * y
        return y * z * z / 120.0
    return 0.0


@numba.njit(**_JIT)
def _linear(src, s0, s1, s2, f0, f1, f2):  # pragma: no cover - compiled
    """Order 1: ``sum_a w_0 sum_b w_1 sum_c w_2 coef`` written out."""
    g0, g1, g2 = 1.0 - f0, 1.0 - f1, 1.0 - f2
    r00, r01 = src[s0, s1], src[s0, s1 + 1]
    r10, r11 = src[s0 + 1, s1], src[s0 + 1, s1 + 1]
    a0 = g1 * (g2 * r00[s2] + f2 * r00[s2 + 1]) + f1 * (g2 * r01[s2] + f2 * r01[s2 + 1])
    a1 = g1 * (g2 * r10[s2] + f2 * r10[s2 + 1]) + f1 * (g2 * r11[s2] + f2 * r11[s2 + 1])
    return g0 * a0 + f0 * a1


@numba.njit(**_JIT)
def _cubic_weights(f, w):  # pragma: no cover - compiled
    """Order 3 at ``floor(c) + f``, taps ``floor(c) - 1 .. floor(c) + 2``."""
    g = 1.0 - f
    f2, g2 = f * f, g * g
    w[0] = g2 * g / 6.0
    w[1] = 2.0 / 3.0 + f2 * (0.5 * f - 1.0)
    w[2] = 2.0 / 3.0 + g2 * (0.5 * g - 1.0)
    w[3] = f2 * f / 6.0


@numba.njit(**_JIT)
def _cubic_sum(src, s0, s1, s2, w0, w1, w2):  # pragma: no cover - compiled
    """Order 3: the separable sum over 4 x 4 x 4 taps, unrolled by the compiler."""
    total = 0.0
    for a in range(4):
        part_a = 0.0
        for b in range(4):
            row = src[s0 + a, s1 + b]
            part_a += w1[b] * (
                w2[0] * row[s2] + w2[1] * row[s2 + 1] + w2[2] * row[s2 + 2] + w2[3] * row[s2 + 3]
            )
        total += w0[a] * part_a
    return total


@numba.njit(**_JIT)
def _spline_sum(src, first, weights, k):  # pragma: no cover - compiled
    """Any order: ``sum_a w_0 sum_b w_1 sum_c w_2 coef`` over ``k`` taps per axis."""
    s0, s1, s2 = first[0], first[1], first[2]
    total = 0.0
    for a in range(k):
        part_a = 0.0
        for b in range(k):
            row = src[s0 + a, s1 + b]
            part_b = 0.0
            for t in range(k):
                part_b += weights[2, t] * row[s2 + t]
            part_a += weights[1, b] * part_b
        total += weights[0, a] * part_a
    return total


@numba.njit(**_JIT)
def _affine(src, matrix, offset, order, low, high, constant, cval, out, flag):  # pragma: no cover
    """``out`` (float64) and ``flag`` (1: redo exactly) for every output voxel."""
    m0, m1, m2 = out.shape
    k = order + 1
    half = order // 2
    shift = 0.5 if order % 2 == 0 else 0.0
    weights = np.empty((3, 6))
    first = np.empty(3, dtype=np.int64)
    frac = np.empty(3)
    c = np.empty(3)
    base = np.empty(3)
    # coordinates strictly inside these bounds need no boundary rule: inside the array
    # by more than rounding, every tap inside the region
    safe_lo = np.empty(3)
    safe_hi = np.empty(3)
    last = np.empty(3, dtype=np.int64)
    for h in range(3):
        slack = SLACK * (1.0 + max(abs(low[h]), abs(high[h])))
        safe_lo[h] = low[h] + slack
        safe_hi[h] = high[h] - slack
        last[h] = src.shape[h] - 1 - order
    for i in range(m0):
        for j in range(m1):
            for h in range(3):
                base[h] = offset[h] + i * matrix[h, 0] + j * matrix[h, 1]
            for q in range(m2):
                inside = True
                for h in range(3):
                    ch = base[h] + q * matrix[h, 2]
                    c[h] = ch
                    s = math.floor(ch + shift) - half
                    if not (ch > safe_lo[h] and ch < safe_hi[h] and s >= 0 and s <= last[h]):
                        inside = False
                    first[h] = s
                    frac[h] = ch - s
                if inside:
                    flag[i, j, q] = 0
                    if order == 1:
                        out[i, j, q] = _linear(
                            src, first[0], first[1], first[2], frac[0], frac[1], frac[2]
                        )
                        continue
                    if order == 3:
                        for h in range(3):
                            _cubic_weights(frac[h] - 1.0, weights[h])
                        out[i, j, q] = _cubic_sum(
                            src, first[0], first[1], first[2], weights[0], weights[1], weights[2]
                        )
                        continue
                    for h in range(3):
                        for t in range(k):
                            weights[h, t] = bspline(frac[h] - t, order)
                    out[i, j, q] = _spline_sum(src, first, weights, k)
                    continue
                # outside the array by more than rounding (constant: cval), else exact
                state = 2
                if constant:
                    for h in range(3):
                        slack = SLACK * (1.0 + abs(c[h]))
                        if c[h] < low[h] - slack or c[h] > high[h] + slack:
                            state = 1
                if state == 1:
                    out[i, j, q] = cval
                    flag[i, j, q] = 0
                else:
                    flag[i, j, q] = 1


def affine_volume(
    region: np.ndarray,
    matrix: np.ndarray,
    offset: np.ndarray,
    *,
    order: int,
    low: np.ndarray,
    high: np.ndarray,
    constant: bool,
    cval: float,
    shape: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """float64 values of the output box, and where they must be redone exactly.

    ``offset`` maps the box's first voxel into the region's frame; ``low``/``high`` are
    the array's first and last coordinate per axis in that frame.
    """
    if region.dtype not in (np.float32, np.float64):
        region = region.astype(np.float64)
    out = np.empty(shape)
    flag = np.empty(shape, dtype=np.uint8)
    _affine(
        region,
        np.ascontiguousarray(matrix, dtype=np.float64),
        np.ascontiguousarray(offset, dtype=np.float64),
        order=int(order),
        low=np.asarray(low, dtype=np.float64),
        high=np.asarray(high, dtype=np.float64),
        constant=bool(constant),
        cval=float(cval),
        out=out,
        flag=flag,
    )
    return out, flag
