"""One separable filter (a *stage*: scipy's 1-D passes, one per axis) on any region.

:func:`compute_stage` gives scipy's numbers for an output region whatever the
region's size, NaN and infinities included:

1. Going back from the last pass, each pass's output box and input box are found: the
   input box holds every window of the output box along the pass's axis, reaching
   ``back`` voxels further before the first window for a running minimum or maximum
   (:func:`stage_boxes`). The first pass's input box is read from the source.
2. **Fast path.** When that box holds no NaN (and, for a uniform filter, no non-finite
   value and no line where one came earlier), every running minimum is in the state
   its window alone gives, every running sum is finite, and the block kernel of
   bigimg's other filters (scipy's twin or a faster exact kernel) runs on the region
   extended by the usual halo, as it always did.
3. **Exact path.** Otherwise the passes run one by one (:func:`._passes.run_pass`): a
   running minimum replays scipy's queue from the latest point of known state of each
   line, a running sum is NaN on the lines where a non-finite value came before the
   window (the :mod:`._prefix` store says which); a line with no point of known state in
   the box doubles that axis's look-back and the box is read again, up to the start of
   the line.

A :class:`StageSource` is one stage over a parent source (an opening is a dilation
stage over an erosion stage); a :class:`CombineSource` combines several sources voxel by
voxel (the tophats, the morphological gradient and Laplace); a :class:`GuardedSource`
gives a whole composition the fast path in one step (one read, one kernel) wherever
its region holds no NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dask.array as da
import numpy as np

from bigimg._nonfinite._passes import CONSTANT, MISSING, LinePass, pass_span, run_pass
from bigimg._nonfinite._regions import read_box, shift_box
from bigimg._sources import RegionSource

__all__ = ["CombineSource", "GuardedSource", "StageSource", "compute_stage", "stage_boxes"]


def stage_boxes(passes: Sequence[LinePass], core, shape, backs) -> list[tuple[list, list]]:
    """(input box, output box) of every pass for the output region ``core``.

    >>> from bigimg._nonfinite._passes import scipy_passes
    >>> ps = scipy_passes("min", 2, 3, 0, "reflect", 0.0, None, np.dtype(float))
    >>> [b for b, _ in stage_boxes(ps, [(4, 6), (0, 3)], (9, 9), {0: 3, 1: 3})]
    [[(0, 7), (0, 4)], [(4, 6), (0, 4)]]
    """
    boxes: list[tuple[list, list]] = []
    box = [tuple(b) for b in core]
    for p in reversed(passes):
        lo, hi = box[p.axis]
        _, _, in_lo, in_hi = pass_span(p, lo, hi, backs[p.axis], shape[p.axis])
        inbox = list(box)
        inbox[p.axis] = (in_lo, in_hi)
        boxes.append((inbox, list(box)))
        box = inbox
    return boxes[::-1]


def halo_box(passes: Sequence[LinePass], core, shape) -> list[tuple[int, int]]:
    """The region the block kernels read: ``core`` and the usual halo on each axis."""
    box = [tuple(b) for b in core]
    for p in passes:
        (lo, hi), depth, n = box[p.axis], max(p.left, p.right), shape[p.axis]
        box[p.axis] = (
            (lo - depth, hi + depth) if p.periodic else (max(0, lo - depth), min(n, hi + depth))
        )
    return box


def box_hull(a, b):
    return [(min(x0, y0), max(x1, y1)) for (x0, x1), (y0, y1) in zip(a, b, strict=True)]


def _fast_allowed(passes: Sequence[LinePass]) -> bool:
    """A constant mode with a NaN (or, for sums, any non-finite) ``cval`` is never fast."""
    for p in passes:
        if p.mode in CONSTANT and not np.isfinite(p.cval):
            if p.kind == "uniform" or np.isnan(p.cval):
                return False
    return True


def compute_stage(
    passes: Sequence[LinePass],
    core,
    shape,
    read: Callable,
    fast: Callable | None = None,
    infected: Callable | None = None,
) -> np.ndarray:
    """scipy's output of the stage ``passes`` over the region ``core``.

    ``read(box)`` gives the stage's input over a box (extended coordinates, see
    :func:`._regions.read_box`); ``fast(block)`` is the block kernel, run on the halo
    region where the fast path applies; ``infected(q, box)`` gives, for uniform passes,
    the lines of pass ``q``'s output box where a non-finite value came before the first
    window.
    """
    backs = {p.axis: p.back for p in passes}
    uniform = passes[0].kind == "uniform"
    boxes = stage_boxes(passes, core, shape, backs)
    flags = [infected(q, box) if uniform else None for q, (_, box) in enumerate(boxes)]
    if fast is not None and _fast_allowed(passes):
        if not any(f is not None and f.any() for f in flags):
            ebox = halo_box(passes, core, shape)
            block = fast_block(read, ebox, box_hull(boxes[0][0], ebox), uniform)
            if block is not None:
                return fast(block)[shift_box(ebox, core)]
    while True:
        boxes = stage_boxes(passes, core, shape, backs)
        root = boxes[0][0]
        u = read(root)
        for q, ((inbox, outbox), p) in enumerate(zip(boxes, passes, strict=True)):
            a = p.axis
            lo, hi = outbox[a]
            u = run_pass(u, inbox[a][0], p, lo, hi, backs[a], shape[a], flags[q])
            if u is MISSING:
                backs[a] *= 2
                break
        else:
            return u


def _clean(data: np.ndarray, finite: bool) -> bool:
    """No NaN (``finite``: no NaN nor infinity) in ``data``."""
    if data.dtype.kind not in "fc" or not data.size:
        return True
    if finite:
        return bool(np.isfinite(data).all())
    return not np.isnan(np.min(data))  # the minimum is NaN as soon as one value is


def fast_block(read: Callable, ebox, hull, finite: bool) -> np.ndarray | None:
    """The block over ``ebox`` if ``hull`` (the block and its look-back, read in one
    piece) holds no NaN (``finite``: no non-finite value); else None. The block is a
    view into the read, handed to the kernel as it is (a copy costs more than it saves).
    """
    data = read(hull)
    if not _clean(data, finite):
        return None
    return data[shift_box(hull, ebox)]


class StageSource(RegionSource):
    """Regions of one exact stage over ``parent`` (see :func:`compute_stage`).

    ``store`` (uniform stages) answers which lines a non-finite value reached before
    their windows; its barriers join the parent's.
    """

    def __init__(self, parent: RegionSource, passes, fast=None, store=None) -> None:
        self.parent = parent
        self.passes = tuple(passes)
        self.fast = fast
        self.store = store
        self.shape = parent.shape
        self.dtype = np.dtype(self.passes[-1].dtype)
        self.barriers = parent.barriers + (() if store is None else tuple(store.barriers.values()))
        self._token = da.core.tokenize("bigimg-exact-stage", parent, self.passes, fast, store)

    def _read(self, region):
        core = [(r.start, r.stop) for r in region]
        if any(hi <= lo for lo, hi in core):
            return np.empty(tuple(max(0, hi - lo) for lo, hi in core), self.dtype)
        infected = None
        if self.store is not None:
            infected = lambda q, box: self.store.infected(q, self.passes[q], box)  # noqa: E731
        return compute_stage(
            self.passes,
            core,
            self.shape,
            lambda box: read_box(self.parent.__getitem__, box, self.shape),
            self.fast,
            infected,
        )


class CombineSource(RegionSource):
    """Regions of ``func(*parents)`` voxel by voxel (all parents of one shape)."""

    def __init__(self, parents: Sequence[RegionSource], func: Callable, dtype) -> None:
        self.parents = tuple(parents)
        self.func = func
        self.shape = self.parents[0].shape
        self.dtype = np.dtype(dtype)
        self.barriers = tuple(b for p in self.parents for b in p.barriers)
        self._token = da.core.tokenize("bigimg-exact-combine", self.parents, func, self.dtype)

    def _read(self, region):
        return np.asarray(self.func(*(p[region] for p in self.parents)), dtype=self.dtype)


class GuardedSource(RegionSource):
    """A composition of stages: its block kernel where no NaN is near, else ``exact``.

    ``fast`` computes the whole composition on a block extended by ``reach`` voxels
    per axis (periodic axes by their periodic halo: ``periodic``). The region read
    reaches ``look_back`` voxels further before the block, the sum of the stages'
    look-backs: without NaN there, every running extremum of every stage starts from
    the state its window alone gives, and the kernel is exact. Otherwise the region
    comes from ``exact`` (the stages as sources, see :class:`StageSource`).
    """

    def __init__(self, root, exact, fast, reach, look_back, periodic) -> None:
        self.root, self.exact, self.fast = root, exact, fast
        self.reach = tuple(int(r) for r in reach)
        self.look_back = tuple(int(b) for b in look_back)
        self.periodic = tuple(bool(p) for p in periodic)
        self.shape, self.dtype = exact.shape, exact.dtype
        self.barriers = exact.barriers
        self._token = da.core.tokenize(
            "bigimg-guarded", root, exact, fast, self.reach, self.look_back, self.periodic
        )

    def _box(self, core, extra):
        box = []
        for (lo, hi), r, b, n, wrap in zip(
            core, self.reach, extra, self.shape, self.periodic, strict=True
        ):
            lo, hi = (lo - r - b, hi + r) if r else (lo, hi)
            box.append((lo, hi) if wrap else (max(0, lo), min(n, hi)))
        return box

    def _read(self, region):
        core = [(r.start, r.stop) for r in region]
        if any(hi <= lo for lo, hi in core):
            return np.empty(tuple(max(0, hi - lo) for lo, hi in core), self.dtype)
        ebox = self._box(core, (0,) * len(core))
        hull = self._box(core, self.look_back)
        block = fast_block(
            lambda box: read_box(self.root.__getitem__, box, self.shape), ebox, hull, False
        )
        if block is not None:
            return self.fast(block)[shift_box(ebox, core)]
        return self.exact[region]
