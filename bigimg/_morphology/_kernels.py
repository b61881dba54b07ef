"""In-memory kernels of local morphology, run on one halo-extended block at a time.

Erosion and dilation by a flat structuring element are a minimum (logical AND) or a
maximum (logical OR) over a fixed set of voxel offsets. The kernels here compute them
with whole-array numpy operations on shifted views of a padded block:

* a full box is separable: one sliding-window reduction per axis, each a handful of
  whole-array ``minimum``/``maximum`` calls (window widths are built by doubling);
* any other footprint is reduced over its offsets, one whole-array call per offset,
  or, for large binary structures (a ball), per run of offsets along the last axis.

This gives scipy's numbers exactly (the operations are comparisons, with no rounding)
and is several times faster than scipy's per-voxel C loops. The public binary and grey
morphology functions of :mod:`bigimg.ndimage` decide when these kernels apply;
:func:`grey_block` falls back to scipy's own kernel on blocks they cannot do (NaN
data, a pad longer than the block); non-flat structures and unusual ``axes`` always
run scipy's kernel through :func:`into`.

Offsets follow scipy's convention for erosion: structure element ``k`` at origin ``o``
reads voxel ``i + k - shape // 2 - o``. Grey dilation reads the negated offsets; binary
kernels get the offsets of each operation explicitly (scipy's reflected structure for
a dilation, see :func:`bigimg._morphology._args.full_structure`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bigimg._halo import kernel_reach

__all__ = [
    "PAD_MODES",
    "binary_steps",
    "box_reduce",
    "erosion_offsets",
    "fits_fast_path",
    "grey_block",
    "grey_flat",
    "into",
    "offsets_reduce",
    "pack_with_mask",
    "tophat_finish",
]

#: scipy filter modes -> numpy.pad modes (identical extensions, verified in the tests)
PAD_MODES = {
    "reflect": "symmetric",
    "grid-mirror": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "grid-wrap": "wrap",
    "constant": "constant",
    "grid-constant": "constant",
}


def erosion_offsets(structure: np.ndarray, origin: Sequence[int]) -> np.ndarray:
    """Offsets (one row per True element) that erosion by ``structure`` reads."""
    structure = np.asarray(structure, dtype=bool)
    centre = np.array([s // 2 for s in structure.shape], dtype=np.intp)
    return (np.argwhere(structure) - centre - np.asarray(origin, dtype=np.intp)).astype(np.intp)


def _pad_axis(a: np.ndarray, axis: int, before: int, after: int, mode: str, cval) -> np.ndarray:
    if before == 0 and after == 0:
        return a
    widths = [(0, 0)] * a.ndim
    widths[axis] = (before, after)
    pad_mode = PAD_MODES[mode]
    if pad_mode == "constant":
        out = np.empty(
            tuple(n + (before + after if ax == axis else 0) for ax, n in enumerate(a.shape)),
            dtype=a.dtype,
        )
        index = [slice(None)] * a.ndim
        index[axis] = slice(0, before)
        out[tuple(index)] = cval
        index[axis] = slice(out.shape[axis] - after, out.shape[axis])
        out[tuple(index)] = cval
        index[axis] = slice(before, before + a.shape[axis])
        out[tuple(index)] = a
        return out
    return np.pad(a, widths, mode=pad_mode)


def _window_reduce(a: np.ndarray, axis: int, start: int, width: int, n: int, ufunc) -> np.ndarray:
    """``out[i] = ufunc.reduce(a[start + i : start + i + width])`` along ``axis``.

    Windows of width ``2w`` are built from two windows of width ``w``; the final width
    is covered by two overlapping power-of-two windows (min and max are idempotent).
    """

    def take(arr, lo, length):
        index = [slice(None)] * arr.ndim
        index[axis] = slice(lo, lo + length)
        return arr[tuple(index)]

    span = n + width - 1
    cur = take(a, start, span)
    w = 1
    while 2 * w <= width:
        length = span - (2 * w - 1)
        cur = ufunc(take(cur, 0, length), take(cur, w, length))
        w *= 2
    if w == width:
        return np.ascontiguousarray(take(cur, 0, n))
    return ufunc(take(cur, 0, n), take(cur, width - w, n))


def box_reduce(
    a: np.ndarray, lows: Sequence[int], widths: Sequence[int], modes: Sequence[str], cval, ufunc
) -> np.ndarray:
    """Reduce over the box of offsets ``lows[ax] .. lows[ax] + widths[ax] - 1``, axis by axis.

    Each axis is padded with its own mode before its pass, exactly as scipy's separable
    minimum/maximum filters extend each line.
    """
    out = a
    for ax, (lo, w, mode) in enumerate(zip(lows, widths, modes)):
        if w == 1 and lo == 0:
            continue
        before, after = max(0, -lo), max(0, lo + w - 1)
        padded = _pad_axis(out, ax, before, after, mode, cval)
        out = _window_reduce(padded, ax, before + lo, w, a.shape[ax], ufunc)
    return out if out is not a else a.copy()


def offsets_reduce(
    a: np.ndarray, offsets: np.ndarray, mode: str, cval, ufunc, identity
) -> np.ndarray:
    """Reduce ``a`` shifted by every offset (rows of ``offsets``) with ``ufunc``."""
    if len(offsets) == 0:
        return np.full(a.shape, identity, dtype=a.dtype)
    reach = [int(r) for r in np.abs(offsets).max(axis=0)]
    widths = [(r, r) for r in reach]
    pad_mode = PAD_MODES[mode]
    if pad_mode == "constant":
        padded = np.pad(a, widths, mode="constant", constant_values=cval)
    else:
        padded = np.pad(a, widths, mode=pad_mode)
    views = [
        padded[tuple(slice(r + k, r + k + n) for r, k, n in zip(reach, d, a.shape))]
        for d in offsets.tolist()
    ]
    if len(views) == 1:
        return views[0].copy()
    out = ufunc(views[0], views[1])
    for view in views[2:]:
        ufunc(out, view, out=out)
    return out


# --------------------------------------------------------------------------- binary
def pack_with_mask(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One uint8 per voxel: bit 0 the (nonzero) input, bit 1 the (nonzero) mask."""
    return (x != 0).view(np.uint8) | ((mask != 0).view(np.uint8) << 1)


def _runs(offsets: np.ndarray) -> dict[int, list[tuple[tuple, int]]]:
    """Offsets grouped into runs along the last axis: ``{width: [(prefix, start)]}``."""
    rows: dict[tuple, list[int]] = {}
    for d in offsets.tolist():
        rows.setdefault(tuple(d[:-1]), []).append(d[-1])
    runs: dict[int, list[tuple[tuple, int]]] = {}
    for prefix, lasts in rows.items():
        lasts.sort()
        start = prev = lasts[0]
        for v in lasts[1:] + [None]:
            if v is not None and v == prev + 1:
                prev = v
                continue
            runs.setdefault(prev - start + 1, []).append((prefix, start))
            if v is not None:
                start = prev = v
    return runs


def _use_runs(offsets: np.ndarray) -> dict | None:
    """Runs if they need fewer whole-array operations than one per offset."""
    if len(offsets) < 8:
        return None
    runs = _runs(offsets)
    widest = max(runs)
    cost = sum(len(v) for v in runs.values()) + widest.bit_length() + len(runs)
    return runs if cost < len(offsets) else None


class _OffsetsStepper:
    """One-step erosion/dilation by lists of offsets, reusing three block buffers.

    The block is copied into the middle of a buffer whose rim holds ``border``; each
    step is then one whole-array AND (erosion) or OR (dilation) per offset, written
    into a preallocated array (fresh allocations cost page faults on every block).
    Large structures (a ball) are cut into runs along the last axis: the AND over a
    run of width ``w`` is one view of a sliding-window AND, built by doubling, so a
    ball of radius ``r`` costs about ``3 r**2`` operations instead of ``4 r**3``.
    """

    def __init__(self, shape: tuple, reach: Sequence[int], border: bool) -> None:
        self.reach = tuple(int(r) for r in reach)
        self.padded = np.full(
            tuple(n + 2 * r for n, r in zip(shape, self.reach)), border, dtype=bool
        )
        self.interior = self.padded[tuple(slice(r, r + n) for r, n in zip(self.reach, shape))]
        self.shape = shape
        self.spare = [np.empty(shape, dtype=bool), np.empty(shape, dtype=bool)]
        self.runs: dict[int, dict | None] = {}

    def _views(self, offsets: np.ndarray, ufunc):
        runs = self.runs.setdefault(id(offsets), _use_runs(offsets))
        r, n = self.reach, self.shape
        if runs is None:
            for d in offsets:
                yield self.padded[tuple(slice(ri + k, ri + k + ni) for ri, k, ni in zip(r, d, n))]
            return
        length = self.padded.shape[-1]
        powers = {1: self.padded}
        for width in sorted(runs):
            p = 1
            while 2 * p <= width:
                if 2 * p not in powers:
                    m = powers[p]
                    span = length - 2 * p + 1
                    powers[2 * p] = ufunc(m[..., :span], m[..., p : p + span])
                p *= 2
            span = length - width + 1
            window = (
                powers[p]
                if p == width
                else ufunc(powers[p][..., :span], powers[p][..., width - p : width - p + span])
            )
            for prefix, start in runs[width]:
                yield window[
                    tuple(slice(ri + k, ri + k + ni) for ri, k, ni in zip(r, (*prefix, start), n))
                ]

    def __call__(self, cur: np.ndarray, offsets: np.ndarray, dilate: bool) -> np.ndarray:
        out = self.spare[0] if self.spare[0] is not cur else self.spare[1]
        if len(offsets) == 0:
            out.fill(not dilate)
            return out
        self.interior[...] = cur
        ufunc = np.logical_or if dilate else np.logical_and
        first = True
        for view in self._views(offsets, ufunc):
            if first:
                np.copyto(out, view)
                first = False
            else:
                ufunc(out, view, out=out)
        return out


def binary_steps(
    block: np.ndarray,
    *,
    geometry: tuple,
    steps: tuple,
    border: bool,
    packed: bool,
    keep_packed: bool,
    dtype,
) -> np.ndarray:
    """Iterated binary erosion/dilation of one block, scipy's semantics.

    ``geometry`` holds the offsets read by erosion and by dilation (``None`` if not
    used), each ``("box", (lows, widths))`` or ``("offsets", rows)``; erosion ANDs
    them, dilation ORs them. ``steps`` is a sequence of ``(dilate, iterations)``;
    every iteration applies the one-step operator with outside voxels equal to
    ``border``, and voxels outside the mask keep their value. With ``packed`` the
    block holds input and mask as bits (see :func:`pack_with_mask`); ``keep_packed``
    returns the result packed the same way for the next pass, else the result is
    cast to ``dtype``.
    """
    if packed:
        cur = (block & 1).view(bool)
        keep = (block & 2) == 0
        if not keep.any():
            keep = None
    else:
        cur = block if block.dtype == bool else block != 0
        keep = None
    stepper = None
    if any(g is not None and g[0] == "offsets" for g in geometry):
        reach = np.max([kernel_reach(g, block.ndim) for g in geometry if g is not None], axis=0)
        stepper = _OffsetsStepper(block.shape, reach, border)
    for dilate, iterations in steps:
        kind, data = geometry[int(dilate)]
        ufunc = np.logical_or if dilate else np.logical_and
        for _ in range(iterations):
            if kind == "box":
                new = box_reduce(cur, data[0], data[1], ("constant",) * cur.ndim, border, ufunc)
            else:
                new = stepper(cur, data, dilate)
            if keep is not None:
                np.copyto(new, cur, where=keep)
            cur = new
    if keep_packed:
        return cur.view(np.uint8) | (block & 2)
    return cur.astype(dtype, copy=True)


# ----------------------------------------------------------------------------- grey
def grey_flat(
    block: np.ndarray, *, geometry: tuple, dilate: bool, modes: Sequence[str], cval
) -> np.ndarray:
    """Grey erosion (minimum) or dilation (maximum) of a block by a flat footprint."""
    kind, data = geometry
    minimum, maximum = (
        (np.logical_and, np.logical_or) if block.dtype == bool else (np.minimum, np.maximum)
    )
    ufunc = maximum if dilate else minimum
    cval = block.dtype.type(cval)
    if kind == "box":
        lows, widths = data
        if dilate:
            lows = tuple(-(lo + w - 1) for lo, w in zip(lows, widths))
        return box_reduce(block, lows, widths, modes, cval, ufunc)
    offsets = -data if dilate else data
    return offsets_reduce(block, offsets, modes[0], cval, ufunc, cval)


def fits_fast_path(block: np.ndarray, geometry: tuple) -> bool:
    """True if the numpy kernel gives scipy's numbers on this block.

    scipy compares NaN in an order-dependent way, and numpy's reflections of a pad
    longer than the axis differ from scipy's extension: such blocks use scipy.
    """
    if any(r >= n for r, n in zip(kernel_reach(geometry, block.ndim), block.shape) if r):
        return False
    return not (block.dtype.kind == "f" and np.isnan(block).any())


def into(block: np.ndarray, *, twin: Callable, dtype: np.dtype, **kwargs) -> np.ndarray:
    """Run a scipy twin on one block, writing into an output array of ``dtype``."""
    out = np.empty(block.shape, dtype=dtype)
    twin(block, output=out, **kwargs)
    return out


def _stage(block, stage, fast):
    geometry, modes, cval = fast
    return grey_flat(block, geometry=geometry, dilate=stage == "dilation", modes=modes, cval=cval)


def _finish(finish: str, x: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """scipy's last step of the tophats (``tmp`` is the opening or closing)."""
    both_bool = x.dtype == np.bool_ and tmp.dtype == np.bool_
    if finish == "white":
        return np.bitwise_xor(x, tmp, out=tmp) if both_bool else np.subtract(x, tmp, out=tmp)
    return np.bitwise_xor(tmp, x, out=tmp) if both_bool else np.subtract(tmp, x, out=tmp)


def grey_block(
    block: np.ndarray, *, stages: tuple, finish: str | None, fast, twin, dtype, **kwargs
) -> np.ndarray:
    """One block of a grey operation: bigimg's numpy kernel where exact, else scipy's.

    ``stages`` are ``"erosion"``/``"dilation"`` applied in turn; ``finish`` is the
    tophats' subtraction (``"white"``/``"black"``), ``"gradient"``, ``"laplace"`` or
    ``None``. ``fast`` is ``(geometry, modes, cval)`` for :func:`grey_flat`, or
    ``None`` to run ``twin(block, output=dtype, **kwargs)``.
    """
    if fast is None or not fits_fast_path(block, fast[0]):
        return into(block, twin=twin, dtype=dtype, **kwargs)
    if finish == "gradient":
        return np.subtract(_stage(block, "dilation", fast), _stage(block, "erosion", fast))
    if finish == "laplace":
        out = _stage(block, "erosion", fast)
        np.add(_stage(block, "dilation", fast), out, out=out)
        np.subtract(out, block, out=out)
        return np.subtract(out, block, out=out)
    tmp = block
    for stage in stages:
        tmp = _stage(tmp, stage, fast)
    return _finish(finish, block, tmp) if finish else tmp


def tophat_finish(x: np.ndarray, tmp: np.ndarray, *, finish: str) -> np.ndarray:
    """The tophats' last step on a block of the input and of its opening/closing."""
    return _finish(finish, x, tmp.copy())
