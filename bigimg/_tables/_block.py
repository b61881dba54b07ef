"""The block step of the measurement engine: one block's partial table, slab by slab.

A block task (:func:`block_table`) measures every label of its block:

1. **slots** — :class:`BlockSlots` gives each measured label of the block a
   block-local *slot* (``-1`` for voxels not measured) from one pass over the labels:
   a dense lookup table when the block's labels span a small integer range, else
   the sorted distinct labels;
2. **passes** — the numba kernels (:mod:`._kernels`) walk the block in C order and
   accumulate per-slot columns: count and bounding box, native sum, extrema and their
   positions, value-weighted coordinates; then, when asked for, the centred sum of
   squares (which needs each label's mean) and raw moments (which need each label's
   corner). Histograms and the smallest label's smallest value are added per slab.

Blocks larger than :data:`SLAB_VOXELS` voxels go through every step slab by slab (whole
planes, :func:`slab_boxes`), each slab's slot codes and 64-bit values made when that
slab is walked, so a task's temporaries stay at a slab's worth (int32 codes, values
widened to 64 bits, a contiguous copy of a strided block: at most 16 bytes per voxel
of a slab, 4 MiB) plus the slot lookup table (at most 4 MiB), whatever the block; the
kernels accumulate into the block's table in C order, which gives exactly the
one-pass result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bigimg._tables import _kernels as K

__all__ = [
    "SINGLE",
    "SLAB_VOXELS",
    "BlockSlots",
    "BlockSpec",
    "DENSE_SPAN",
    "block_codes",
    "block_table",
    "slab_boxes",
]

#: The label value under which single-region modes ("all", "positive", "equal") store
#: their one region.
SINGLE = np.zeros(1, np.int64)
#: Most voxels of a block walked at once: a block task's per-voxel temporaries (16 bytes
#: per voxel at most: 4 MiB) stay below this many voxels' worth, however large the block.
SLAB_VOXELS = 2**18
#: Longest range of integer labels that a block maps to slots with a dense lookup table
#: (4 bytes per label value: 4 MiB); blocks whose labels span more sort them.
DENSE_SPAN = 2**20
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class BlockSpec:
    """What one block task measures: the region mode, the label filter and the columns.

    ``mode`` is ``"all"`` (no labels: the whole input is one region), ``"positive"``
    (``labels > 0`` is one region), ``"equal"`` (``labels == target`` is one region) or
    ``"labels"`` (one region per label value, restricted to ``lo <= label <= hi`` and,
    when given, to ``members``). Small and picklable: it is sent with every block task.
    """

    mode: str
    shape: tuple[int, ...]
    offsets: tuple[tuple[int, ...], ...]
    target: Any = None
    lo: Any = None
    hi: Any = None
    members: tuple | None = None
    bbox: bool = False
    values: bool = False
    extrema: bool = False
    m2: bool = False
    wcoord: bool = False
    moments: int = -1
    wmoments: int = -1
    hist_edges: tuple | None = None
    first: bool = False
    inputs: str = "xl"

    @property
    def single(self) -> bool:
        return self.mode != "labels"


# ------------------------------------------------------------------------------ slabs
def slab_boxes(shape: tuple[int, ...], budget: int) -> list[tuple[slice, ...]]:
    """Boxes that tile a block of ``shape`` in C order, each of at most ``budget`` voxels.

    Whole planes (all axes but the first) are grouped while they fit; a plane larger
    than ``budget`` is cut the same way along its own first axis, and so on down to
    runs along the last axis.

    >>> [box[0] for box in slab_boxes((4, 3, 2), 12)]
    [slice(0, 2, None), slice(2, 4, None)]
    >>> len(slab_boxes((2, 5, 7), 30)), len(slab_boxes((3, 3), 100))
    (4, 1)
    """
    whole = tuple(slice(0, int(s)) for s in shape)
    if not shape or math.prod(shape) <= budget:
        return [whole]
    inner = math.prod(shape[1:])
    if inner <= budget:
        step = budget // inner
        return [(slice(i, min(i + step, shape[0])),) + whole[1:] for i in range(0, shape[0], step)]
    return [
        (slice(i, i + 1),) + sub for i in range(shape[0]) for sub in slab_boxes(shape[1:], budget)
    ]


# ------------------------------------------------------------------------------ slots
def _flat_labels(lab: np.ndarray) -> np.ndarray:
    """Labels flattened in C order (a copy only for a strided block); bool as uint8."""
    flat = np.ascontiguousarray(lab).reshape(-1)
    return flat.view(np.uint8) if flat.dtype == bool else flat


def _label_dtype(lab: np.ndarray) -> np.dtype:
    return np.dtype(np.uint8) if lab.dtype == bool else lab.dtype


def _keep_mask(keys: np.ndarray, spec: BlockSpec) -> np.ndarray:
    """Which of the (sorted) labels ``keys`` the spec's filter measures."""
    keep = np.ones(keys.shape, bool)
    if spec.lo is not None:
        keep &= keys >= spec.lo
    if spec.hi is not None:
        keep &= keys <= spec.hi
    if spec.members is not None:
        members = np.asarray(spec.members)
        if members.size == 0:
            return np.zeros(keys.shape, bool)
        at = np.minimum(np.searchsorted(members, keys), members.size - 1)
        keep &= members[at] == keys
    return keep


def _numbered(keep: np.ndarray) -> np.ndarray:
    """Slot of each candidate: 0, 1, ... for the kept ones in order, -1 for the others."""
    slot = np.full(keep.size, -1, np.int32)
    slot[keep] = np.arange(int(keep.sum()), dtype=np.int32)
    return slot


class BlockSlots:
    """The measured labels of one label block (``keys``, sorted) and the slot codes of
    any box of it (:meth:`codes`): ``int32``, C order, ``-1`` = not measured.

    Built from one pass over the labels, box by box (``boxes``, as
    :func:`slab_boxes` gives): integer labels whose range in the block is small (at
    most twice the block's voxels and :data:`DENSE_SPAN`) get a dense lookup table
    over that range (no sort), others the sorted distinct labels (sorted box by box).
    """

    def __init__(self, lab: np.ndarray | None, spec: BlockSpec, boxes: list) -> None:
        self.mode = spec.mode
        self.target = spec.target
        self._lut = self._sorted = None
        if spec.single:
            self.keys = SINGLE
            return
        dtype = _label_dtype(lab)
        if lab.size == 0:
            self.keys = np.zeros(0, dtype)
            return
        kind = dtype.kind
        if kind in "iu" and not (kind == "u" and dtype.itemsize == 8):
            ranges = [K.int_range(_flat_labels(lab[box])) for box in boxes]
            lo = min(int(r[0]) for r in ranges)
            span = max(int(r[1]) for r in ranges) - lo + 1
            if span <= min(2 * lab.size + 65536, DENSE_SPAN):
                lut = np.zeros(span, np.int32)
                for box in boxes:
                    K.mark_present(_flat_labels(lab[box]), lo, lut)
                present = np.flatnonzero(lut)
                keep = _keep_mask(present + lo, spec)
                lut.fill(-1)
                lut[present[keep]] = np.arange(int(keep.sum()), dtype=np.int32)
                self._lut, self._lo = lut, lo
                self.keys = (present[keep] + lo).astype(dtype)
                return
        distinct = np.unique(np.concatenate([np.unique(_flat_labels(lab[b])) for b in boxes]))
        keep = _keep_mask(distinct, spec)
        self._sorted, self._remap = distinct, _numbered(keep)
        self.keys = distinct[keep]

    def codes(self, lab: np.ndarray | None, size: int) -> np.ndarray:
        """The slot codes of a box whose labels are ``lab`` (``size`` voxels)."""
        if self.mode == "all":
            return np.zeros(size, np.int32)
        flat = _flat_labels(lab)
        if self.mode == "positive":
            return np.where(flat > 0, 0, -1).astype(np.int32)
        if self.mode == "equal":
            return np.where(flat == self.target, 0, -1).astype(np.int32)
        if self._lut is not None:
            return K.lookup_codes(flat, self._lo, self._lut)
        if self._sorted is None or not self.keys.size:
            return np.full(flat.size, -1, np.int32)
        return np.take(self._remap, np.searchsorted(self._sorted, flat))


def block_codes(lab: np.ndarray | None, spec: BlockSpec, size: int):
    """The slot keys of a whole block and its slot codes (``int32``, C order, ``-1`` =
    not measured): one array of 4 bytes per voxel. ``lab`` is ``None`` in mode "all"."""
    boxes = [tuple(slice(0, s) for s in lab.shape)] if lab is not None else []
    slots = BlockSlots(lab, spec, boxes)
    return slots.keys, slots.codes(lab, size)


# ------------------------------------------------------------------------------ table
def _columns(spec: BlockSpec, ndim: int, n: int, vdtype, key_dtype) -> dict:
    t = {"labels": np.zeros(n, key_dtype), "count": np.zeros(n, np.int64)}
    if spec.bbox or spec.moments >= 0 or spec.wmoments >= 0:
        t["lo"] = np.full((n, ndim), _INT64_MAX, np.int64)
        t["hi"] = np.full((n, ndim), -1, np.int64)
    if spec.values or spec.m2 or spec.extrema or spec.wcoord:
        t["sum"] = np.zeros(n, vdtype)
    if spec.extrema:
        for c in ("vmin", "vmax"):
            t[c] = np.zeros(n, vdtype)
        for c in ("amin", "amax"):
            t[c] = np.zeros(n, np.int64)
    if spec.m2:
        t["m2"] = np.zeros(n, np.float64)
    if spec.wcoord:
        t["wcoord"] = np.zeros((n, ndim), np.float64)
    if spec.moments >= 0:
        t["mom"] = np.zeros((n, (spec.moments + 1) ** ndim), np.float64)
    if spec.wmoments >= 0:
        t["wmom"] = np.zeros((n, (spec.wmoments + 1) ** ndim), np.float64)
    if spec.hist_edges is not None:
        t["hist"] = np.zeros((n, len(spec.hist_edges) - 1), np.int64)
    if spec.first:
        t["first_label"] = np.zeros(0, np.float64)
        t["first_value"] = np.zeros(0, vdtype)
    return t


def _value_dtype(x: np.ndarray | None) -> np.dtype:
    """The canonical dtype :func:`~._kernels.canonical_values` gives ``x``'s values."""
    if x is None:
        return np.dtype(np.int64)
    return K.canonical_values(np.zeros(1, x.dtype)).dtype


class _Walk:
    """The boxes of one block with their slot codes and values, box by box."""

    def __init__(self, spec: BlockSpec, arrays: tuple, slots: BlockSlots, boxes: list):
        self.x = arrays[0] if "x" in spec.inputs else None
        self.lab = arrays[-1] if "l" in spec.inputs else None
        self.slots, self.boxes = slots, boxes
        self._cache = None

    def each(self, visit) -> None:
        """Call ``visit(offset, shape, codes, values)`` for every box in C order (values
        ``None`` without ``x``); one box's codes and values exist at a time."""
        if self._cache is not None:
            visit(*self._cache)
            return
        for box in self.boxes:
            offset = np.array([b.start for b in box], np.int64)
            shape = np.array([b.stop - b.start for b in box], np.int64)
            lab = self.lab[box] if self.lab is not None else None
            codes = self.slots.codes(lab, int(np.prod(shape)))
            vals = K.canonical_values(self.x[box]) if self.x is not None else None
            if len(self.boxes) == 1:
                self._cache = (offset, shape, codes, vals)  # they serve every pass
            visit(offset, shape, codes, vals)
            del codes, vals


def block_table(spec: BlockSpec, *arrays, block_id=None) -> dict:
    """The partial table of one block (the map step).

    ``arrays`` holds the value block and/or the label block, as ``spec.inputs`` says.
    The block is walked in slabs of at most :data:`SLAB_VOXELS` voxels (see the module
    docstring); the table is the same as one pass over the block would give.
    """
    ref = arrays[0]
    lab = arrays[-1] if "l" in spec.inputs else None
    boxes = slab_boxes(ref.shape, SLAB_VOXELS)
    slots = BlockSlots(lab, spec, boxes)
    walk = _Walk(spec, arrays, slots, boxes)
    key_dtype = SINGLE.dtype if spec.single else _label_dtype(lab)
    t = _columns(spec, ref.ndim, slots.keys.size, _value_dtype(walk.x), key_dtype)
    t["labels"] = slots.keys
    origin = np.array([spec.offsets[d][b] for d, b in enumerate(block_id)], np.int64)
    _first_pass(spec, t, walk, origin)
    _second_pass(spec, t, walk)
    if "lo" in t:
        t["lo"] += origin
        t["hi"] += origin
    if spec.single and slots.keys.size and t["count"][0] == 0:
        t = {k: (v[:0] if not k.startswith("first") else v) for k, v in t.items()}
    return t


def _first_pass(spec: BlockSpec, t: dict, walk: _Walk, origin: np.ndarray) -> None:
    """Counts, block-local boxes, sums, extrema, weighted coordinates, histograms and
    the smallest label's smallest value, into ``t``."""
    n, ndim = t["count"].size, origin.size
    gstrides = np.array([math.prod(spec.shape[d + 1 :]) for d in range(ndim)], np.int64)
    no_box = np.zeros((0, ndim), np.int64)  # the kernel leaves it alone without bbox
    box_out = (t["lo"], t["hi"]) if "lo" in t else (no_box, no_box)
    if "sum" in t:
        acc = (
            t["sum"],
            t.get("vmin", t["sum"]),
            t.get("vmax", t["sum"]),
            t.get("amin", np.zeros(n, np.int64)),
            t.get("amax", np.zeros(n, np.int64)),
            np.zeros(n, np.bool_),
            t.get("wcoord", np.zeros((n, ndim), np.float64)),
        )
    edges = np.asarray(spec.hist_edges) if spec.hist_edges is not None else None
    first: list = []

    def visit(offset, shape, codes, vals):
        K.block_geometry(codes, shape, offset, "lo" in t, t["count"], *box_out)
        if "sum" in t:
            corner = origin + offset
            K.block_values(codes, vals, shape, corner, gstrides, spec.extrema, spec.wcoord, acc)
        if edges is not None:
            t["hist"] += _block_hist(codes, vals, n, edges)
        if spec.first:
            first[:] = [_first(first[0] if first else None, walk.lab, offset, shape, vals)]

    walk.each(visit)
    if first and first[0] is not None:
        t["first_label"], t["first_value"] = first[0]


def _second_pass(spec: BlockSpec, t: dict, walk: _Walk) -> None:
    """Centred sums of squares (about each label's mean) and raw moments (about each
    label's block-local corner): they need the first pass's sums and boxes."""
    moments = [
        (col, order, weighted)
        for col, order, weighted in (("mom", spec.moments, False), ("wmom", spec.wmoments, True))
        if order >= 0
    ]
    if not spec.m2 and not moments:
        return
    if spec.m2:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = t["sum"].astype(np.float64) / t["count"]
    ndim = len(spec.shape)
    exps = {order: K.moment_exponents(order, ndim) for _, order, _ in moments}
    unweighted = np.zeros(1)

    def visit(offset, shape, codes, vals):
        if spec.m2:
            K.block_sq_dev(codes, vals, mean, t["m2"])
        for col, order, weighted in moments:
            w = vals.astype(np.float64, copy=False) if weighted else unweighted
            corner = t["lo"] - offset
            K.block_moments(codes, w, weighted, shape, corner, exps[order], order, t[col])

    walk.each(visit)


def _block_hist(codes, vals, nslots, edges):
    nb = edges.size - 1
    v = vals.astype(np.float64, copy=False)
    b = np.searchsorted(edges, v, side="right") - 1
    b[v == edges[-1]] = nb - 1
    ok = (codes >= 0) & (b >= 0) & (b < nb)
    flat = codes[ok].astype(np.int64) * nb + b[ok]
    return np.bincount(flat, minlength=nslots * nb).reshape(nslots, nb)


def _first(best, lab, offset, shape, vals):
    """The smallest label so far and the smallest value under it, updated with one box
    (scipy's median returns that value for absent labels)."""
    box = tuple(slice(o, o + s) for o, s in zip(offset.tolist(), shape.tolist(), strict=True))
    flat = _flat_labels(lab[box])
    if flat.size == 0:
        return best
    smallest = flat.min()
    value = vals[flat == smallest].min()
    if best is None or smallest < best[0][0]:
        return np.array([smallest]), np.array([value])
    if smallest == best[0][0]:  # np.minimum keeps a NaN, as the block's min() does
        return best[0], np.array([np.minimum(best[1][0], value)])
    return best
