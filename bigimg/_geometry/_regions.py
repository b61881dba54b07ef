"""Which input region an output chunk of an interpolation reads, axis by axis.

scipy's interpolators (``NI_GeometricTransform``/``NI_ZoomShift``) treat every axis on
its own: the coordinate ``c`` along an axis of length ``n`` is first folded back into
the array according to ``mode`` (``map_coordinate``), then the ``order + 1`` spline taps
``start .. start + order`` around it are read, taps outside the array being mirrored,
reflected, clamped, wrapped or replaced by ``cval`` (the "spline mode"; ``constant`` and
``wrap`` use mirrored taps).

bigimg calls scipy on a sub-array ``[a, b)`` of the input with the coordinates shifted
by ``-a``. That gives scipy's whole-array answer exactly when, for every coordinate of
the chunk, scipy's per-axis logic on the sub-array does the same thing as on the whole
array. :func:`axis_region` returns such a sub-array, the smallest this module can prove
correct:

* **interior**: all taps (plus one voxel of slack for rounding) lie inside the array:
  no boundary logic runs on either side; the region is the taps' span.
* **touching a face**: coordinates or taps cross one face. The region then starts (or
  ends) at that face, so scipy sees the true border, and extends far enough to hold the
  mirrored/reflected images of the coordinates and taps. These folds only depend on the
  distance to that face as long as they fold once, which the region guarantees.
* **whole axis**: anything else (both faces, a fold of more than one period, the
  periodic ``wrap``/``grid-wrap`` crossing a face, non-finite coordinates, short axes).
* ``None``: in ``constant`` mode, every coordinate of the chunk lies outside the array,
  so the chunk is all ``cval``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["AxisRegion", "axis_region", "tap_reach"]

# how taps outside the array are read, per mode (scipy's _get_spline_boundary_mode)
_TAPS = {
    "constant": "mirror",
    "wrap": "mirror",
    "mirror": "mirror",
    "reflect": "reflect",
    "grid-mirror": "reflect",
    "nearest": "clamp",
    "grid-constant": "cval",
    "grid-wrap": "periodic",
}


class AxisRegion(NamedTuple):
    """Half-open input interval ``[start, stop)`` along one axis."""

    start: int
    stop: int
    interior: bool


def tap_reach(order: int) -> int:
    """Voxels a spline of ``order`` reads on either side of ``floor(c)``, plus one of slack."""
    return order // 2 + 2


def _fold(lo: float, hi: float, n: int, mode: str):
    """Folded coordinate range and which faces the raw coordinates cross.

    Returns ``(flo, fhi, touch_lo, touch_hi)``, ``None`` for "all cval" or ``"full"``
    when only the whole axis is safe.
    """
    last = n - 1
    touch_lo, touch_hi = lo < 0, hi > last
    if not (touch_lo or touch_hi):
        return lo, hi, False, False
    if mode == "constant":
        if hi < 0 or lo > last:
            return None
        return max(lo, 0.0), min(hi, float(last)), touch_lo, touch_hi
    if mode in ("nearest", "grid-constant"):
        # coordinates are not folded; taps are clamped / read as cval
        return lo, hi, touch_lo, touch_hi
    if touch_lo and touch_hi or mode in ("wrap", "grid-wrap"):
        return "full"
    # mirror folds about 0 and n-1, reflect/grid-mirror about -0.5 and n-0.5. Coordinates
    # in (n-1, n) are not folded, and reflect sends (-1e-15, 0) to about -1, so the folded
    # range is bounded conservatively by -1 and n. One fold only: further is "full".
    shift = 0.0 if mode == "mirror" else 1.0
    period = 2 * last if mode == "mirror" else 2 * n
    if touch_lo:
        if lo <= -(period / 2) + 1:
            return "full"
        return (-1.0 if hi >= 0 else -hi - shift), max(hi, -lo - shift), True, False
    if hi >= period - 1:
        return "full"
    return min(lo, period - hi - shift), float(n), False, True


def axis_region(lo: float, hi: float, n: int, order: int, mode: str) -> AxisRegion | None:
    """The input interval scipy reads for coordinates in ``[lo, hi]`` along one axis.

    ``lo``/``hi`` are bounds of scipy's coordinate ``c`` (including any pre-padding
    shift) over the chunk; ``n`` is the axis length of the array scipy reads. Returns
    ``None`` when ``mode='constant'`` puts every coordinate outside (all ``cval``).

    >>> axis_region(10.2, 20.7, 100, 3, "constant")
    AxisRegion(start=7, stop=24, interior=True)
    >>> axis_region(-3.5, 5.0, 100, 3, "mirror")      # needs the mirror image of -3.5
    AxisRegion(start=0, stop=9, interior=False)
    >>> axis_region(-3.5, 5.0, 100, 3, "grid-wrap")   # wraps to the far end
    AxisRegion(start=0, stop=100, interior=False)
    >>> axis_region(-9.0, -2.0, 100, 3, "constant") is None
    True
    """
    full = AxisRegion(0, n, False)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return full
    reach = tap_reach(order)
    t_lo, t_hi = math.floor(lo) - reach, math.floor(hi) + reach
    if t_lo >= 0 and t_hi <= n - 1:
        return AxisRegion(t_lo, t_hi + 1, True)
    if n <= 2 * reach + 2:
        return full
    folded = _fold(lo, hi, n, mode)
    if folded is None:
        return None
    if folded == "full":
        return full
    flo, fhi, touch_lo, touch_hi = folded
    t_lo, t_hi = math.floor(flo) - reach, math.floor(fhi) + reach
    start, stop = t_lo, t_hi + 1
    if touch_lo:
        start = 0
    if touch_hi:
        stop = n
    taps = _TAPS[mode]
    if t_lo < 0:
        if taps == "periodic":
            return full
        start = 0
        if taps == "mirror":
            stop = max(stop, -t_lo + 1)
        elif taps == "reflect":
            stop = max(stop, -t_lo)
    if t_hi > n - 1:
        if taps == "periodic":
            return full
        stop = n
        if taps == "mirror":
            start = min(start, 2 * n - 2 - t_hi)
        elif taps == "reflect":
            start = min(start, 2 * n - 1 - t_hi)
        elif taps == "clamp":
            start = min(start, n - 1)
    start, stop = max(start, 0), min(stop, n)
    if stop <= start:  # every tap beyond one face (nearest / grid-constant)
        start, stop = (0, 1) if t_hi < 0 else (n - 1, n)
    if start == 0 and stop == n:
        return full
    return AxisRegion(start, stop, False)
