"""The 1-D passes of scipy's separable filters, and one pass run exactly on a box.

scipy computes a box minimum/maximum filter and a uniform filter as 1-D passes, one
per axis whose size exceeds 1, in the order of ``axes``; every pass reads the previous
pass's output, written into the output dtype, and extends each line by its own mode
(:func:`scipy_passes`). A :class:`LinePass` is one such pass.

:func:`run_pass` computes one pass over a box of its input: the box holds whole
windows for every output voxel, extended backwards along the pass's axis where the
running minimum must find a point of known state (:mod:`._replay`). Boxes are given in
*extended* coordinates: along a periodic axis positions may lie outside the volume
(they repeat it); along any other axis the box holds the voxels the pass reads,
including those its mode copies into the padding (:func:`ext_index`, built by scipy
itself, so padding longer than the line is scipy's too).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from bigimg._nonfinite._replay import replay_rows, sync_starts

__all__ = ["MISSING", "LinePass", "ext_index", "run_pass", "scipy_cast", "scipy_passes"]

PERIODIC = ("wrap", "grid-wrap")
CONSTANT = ("constant", "grid-constant")
#: Returned by :func:`run_pass` when some line has no point of known state in its box.
MISSING = None


@dataclass(frozen=True)
class LinePass:
    """One 1-D pass of a separable filter: ``kind`` is "min", "max" or "uniform"."""

    kind: str
    axis: int
    size: int
    origin: int
    mode: str
    cval: float
    dtype: np.dtype

    @property
    def left(self) -> int:
        """Voxels before the output voxel that its window reads (scipy's left padding)."""
        return self.size // 2 + self.origin

    @property
    def right(self) -> int:
        """Voxels after the output voxel that its window reads (the right padding)."""
        return self.size - self.size // 2 - 1 - self.origin

    @property
    def periodic(self) -> bool:
        return self.mode in PERIODIC

    @property
    def back(self) -> int:
        """Initial look-back before the first window: a running minimum needs ``size``."""
        return self.size if self.kind != "uniform" else 0


def scipy_passes(
    kind, ndim, size, origin, mode, cval, axes, dtype, *, one_dimensional=False
) -> tuple[LinePass, ...]:
    """scipy's passes for a separable filter (``size``/``origin``/``mode`` per axis).

    The N-d filters skip axes of size 1; ``one_dimensional`` (the ``*1d`` filters) keeps
    a uniform pass of size 1, whose running sum still carries NaN along the line.

    >>> [(p.axis, p.size) for p in scipy_passes("min", 3, (3, 1, 2), 0, "reflect", 0.0,
    ...                                        (2, 0, 1), np.dtype(float))]
    [(2, 3), (1, 2)]
    """
    axes = tuple(range(ndim)) if axes is None else tuple(axes)
    n = len(axes)

    def per_axis(value):
        if isinstance(value, str) or np.ndim(value) == 0:
            return (value,) * n
        return tuple(value)

    sizes, origins, modes = per_axis(size), per_axis(origin), per_axis(mode)
    dtype = np.dtype(dtype)
    return tuple(
        LinePass(kind, int(a), int(s), int(o), str(m), float(cval), dtype)
        for a, s, o, m in zip(axes, sizes, origins, modes, strict=True)
        if int(s) > 1 or (one_dimensional and kind == "uniform")
    )


@functools.lru_cache(maxsize=256)
def ext_index(n: int, left: int, right: int, mode: str) -> np.ndarray:
    """Source voxel of every position of scipy's extended line (-1: ``cval``).

    Position ``e`` in ``[-left, n + right)`` is entry ``e + left``; the map comes from
    scipy's own line extension (a 1-D correlation of the indices with a shifted unit
    weight), so it is exact for every mode and padding length.

    >>> ext_index(3, 2, 2, "reflect").tolist(), ext_index(3, 1, 1, "constant").tolist()
    ([1, 0, 0, 1, 2, 2, 1], [-1, 0, 1, 2, -1])
    """
    out = np.empty(left + n + right, np.int64)
    out[left : left + n] = np.arange(n)
    index = np.arange(n, dtype=np.float64)
    for shift in [*range(-left, 0), *range(1, right + 1)]:
        weights = np.zeros(2 * abs(shift) + 1)
        weights[abs(shift) + shift] = 1.0
        moved = ndi.correlate1d(index, weights, mode=mode, cval=-1.0)
        out[left + shift if shift < 0 else left + n - 1 + shift] = int(
            moved[0] if shift < 0 else moved[n - 1]
        )
    out.setflags(write=False)
    return out


def scipy_cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` (float64) written into ``dtype`` exactly as scipy's line buffers do.

    Floats round as numpy does; integers and booleans go through scipy itself (a
    size-1 filter copies the line), since C casts of NaN, infinities and values out of
    range differ from numpy's.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    out = np.empty(values.shape, dtype)
    ndi.minimum_filter1d(values, 1, axis=-1, output=out)
    return out


def pass_span(p: LinePass, lo: int, hi: int, back: int, n: int) -> tuple[int, int, int, int]:
    """Extended-line span ``[seg_lo, seg_hi)`` a pass reads for outputs ``[lo, hi)``,
    and the input interval holding those values (padding read from its sources)."""
    seg_lo, seg_hi = max(lo - p.left - back, -p.left), hi + p.right
    if p.periodic:
        return seg_lo, seg_hi, seg_lo, seg_hi
    src = ext_index(n, p.left, p.right, p.mode)[seg_lo + p.left : seg_hi + p.left]
    src = src[src >= 0]
    return seg_lo, seg_hi, int(src.min()), int(src.max()) + 1


def _segments(u, u_lo, p: LinePass, seg_lo, seg_hi, n):
    """The extended lines ``[seg_lo, seg_hi)`` of ``u`` (whose box along the pass's axis
    starts at ``u_lo``) as float64 rows, the pass's axis last."""
    lines = np.moveaxis(u, p.axis, -1)
    if p.periodic:
        take = np.arange(seg_lo, seg_hi) - u_lo
        seg = lines[..., take[0] : take[-1] + 1]
        return np.array(seg, dtype=np.float64).reshape(-1, seg_hi - seg_lo)
    src = ext_index(n, p.left, p.right, p.mode)[seg_lo + p.left : seg_hi + p.left]
    seg = np.take(lines, np.clip(src - u_lo, 0, None), axis=-1).astype(np.float64)
    seg[..., src < 0] = p.cval
    return seg.reshape(-1, seg_hi - seg_lo)


def run_pass(u, u_lo, p: LinePass, lo, hi, back, n, infected=None):
    """Pass ``p`` over ``u`` for outputs ``[lo, hi)`` along its axis; the other axes keep
    ``u``'s box. ``u_lo``: where ``u``'s box starts along the axis; ``back``: how far
    before the first window the box reaches; ``n``: the axis length; ``infected``: per
    line, True where a non-finite value came before the first window (uniform only).

    Returns the output in the pass's dtype, or :data:`MISSING` when a line of a running
    minimum finds no point of known state in the box (read further back).
    """
    seg_lo, seg_hi, _, _ = pass_span(p, lo, hi, back, n)
    seg = _segments(u, u_lo, p, seg_lo, seg_hi, n)
    w0, n_out = lo - p.left - seg_lo, hi - lo
    if p.kind == "uniform":
        # a fresh running sum from the first window: scipy's state wherever no
        # non-finite value came earlier in the line; lines where one did are NaN
        out = ndi.uniform_filter1d(seg[:, w0:], p.size, mode="constant", origin=-(p.size // 2))
        out = out[:, :n_out]
        if infected is not None:
            out[np.asarray(infected).reshape(-1)] = np.nan
    else:
        nan = np.isnan(seg)
        if not nan.any():  # suffix minima of each window: scipy's queue, fresh or not
            filt = ndi.minimum_filter1d if p.kind == "min" else ndi.maximum_filter1d
            out = filt(seg[:, w0:], p.size, mode="constant", origin=-(p.size // 2))[:, :n_out]
        else:
            starts = sync_starts(nan, w0, p.size, seg_lo == -p.left)
            if (starts < 0).any():
                return MISSING
            out = replay_rows(seg, starts, w0, n_out, p.size, p.kind == "min")
    shape = np.moveaxis(u, p.axis, -1).shape[:-1] + (n_out,)
    return np.moveaxis(scipy_cast(out, p.dtype).reshape(shape), -1, p.axis)
