"""Fixed points of binary dilation across chunks: the three engines and the choice.

``binary_fill_holes``, ``binary_propagation`` and iterated binary erosion/dilation
with ``iterations < 1`` are scipy's ``binary_dilation`` repeated inside a mask until
nothing changes. One step moves a set voxel by the offsets of a *neighbourhood* (found
from ``structure``, ``origin`` and ``axes`` exactly as scipy's kernel reads them,
:func:`dilation_reach`). Three cases, from the cheapest:

1. centred, centrosymmetric and within one voxel: the fixed point is known in closed
   form (a mask voxel ends up set iff its connected component of the mask contains a
   voxel the first step reaches). The label engine (:mod:`bigimg._labels`) finds those
   components across chunks with small per-object tables, in one pass;
2. any other neighbourhood holding its centre, or nothing set inside the mask at the
   start (``binary_fill_holes`` starts from nothing): the steps only ever add voxels,
   so the result is the least fixed point, found by rounds of block floods that
   exchange thin face slabs (:mod:`bigimg._morphology._reach`). Directed and
   long-reaching neighbourhoods are exact; a chain that crosses ``k`` block faces
   needs about ``k`` rounds;
3. a neighbourhood without its centre and a start with voxels set inside the mask:
   the steps can unset voxels and may cycle, so scipy's loop itself runs, pass by
   pass through scratch space (:mod:`bigimg._morphology._iterate`).

All three give scipy's result for any chunking.

* :func:`fill_holes` — the background components that do not touch the border;
* :func:`propagate` — what the seeds (or the border) reach inside the mask;
* :func:`until_stable` — erosion or dilation repeated until nothing changes, as a
  propagation (erosion through its dual).

Arguments arrive validated (the public functions in :mod:`bigimg.ndimage` check them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._args import normalize_axes
from bigimg._labels import GlobalLabels, label_across_blocks
from bigimg._morphology._args import full_structure
from bigimg._morphology._iterate import iterate_until_stable
from bigimg._morphology._kernels import erosion_offsets
from bigimg._morphology._reach import Reach, reach_closure

__all__ = ["dilation_reach", "fill_holes", "propagate", "until_stable"]


def dilation_reach(ndim: int, structure: Any, origin: Any, axes: Any, border: bool) -> Reach:
    """The offsets one step of ``binary_dilation(structure, origin, axes)`` moves a voxel by.

    scipy dilates by eroding with the reflected structure; the erosion at ``p`` reads
    ``p + e`` for its offsets ``e``, so a set voxel ``q`` sets ``q - e``.

    >>> dilation_reach(2, [[0, 1, 1]], 0, None, False).offsets  # one voxel on, directed
    ((0, 0), (0, 1))
    >>> dilation_reach(2, [[0, 1, 1]], (0, 1), None, False).offsets  # the origin shifts it
    ((0, -1), (0, 0))
    """
    s, o = full_structure(structure, origin, normalize_axes(axes, ndim), ndim, dilate=True)
    rows = sorted({tuple(-int(v) for v in e) for e in erosion_offsets(s, o).tolist()})
    return Reach(tuple(rows), bool(border), ndim)


def _unit_structure(reach: Reach) -> np.ndarray | None:
    """The 3 x ... x 3 label structure of a centred, centrosymmetric, one-voxel step."""
    rows = set(reach.offsets)
    ndim = reach.ndim
    centred = (0,) * ndim in rows
    symmetric = rows == {tuple(-v for v in d) for d in rows}
    if not (centred and symmetric and max(*reach.lo, *reach.hi, 0) <= 1):
        return None
    out = np.zeros((3,) * ndim, dtype=bool)
    out[tuple((np.asarray(sorted(rows)) + 1).T)] = True
    return out


def _border_axes(structure: np.ndarray) -> tuple[bool, ...]:
    """Per axis: does a step of the neighbourhood leave the array from its faces?"""
    offsets = np.argwhere(structure) - 1
    return tuple(bool(np.any(offsets[:, ax] != 0)) for ax in range(structure.ndim))


def _in_memory(func: Callable, x: da.Array, **kwargs) -> da.Array:
    """0-d and empty inputs: nothing to chunk; compute scipy's answer directly."""
    return da.from_array(func(np.asarray(x.compute()), **kwargs))


def fill_holes(x: da.Array, *, structure: Any, origin: Any, axes: Any) -> da.Array:
    """``scipy.ndimage.binary_fill_holes(x, structure, origin=origin, axes=axes)``, lazily."""
    if x.ndim == 0 or x.size == 0:
        return _in_memory(ndi.binary_fill_holes, x, structure=structure, origin=origin, axes=axes)
    reach = dilation_reach(x.ndim, structure, origin, axes, True)
    unit = _unit_structure(reach)
    if unit is not None:
        found = label_across_blocks(x == 0, unit, border=_border_axes(unit))
        return found.paint_flags(border=True, invert=True, background=True)
    # scipy: the complement of propagating nothing from the border through the background
    return ~reach_closure(None, x == 0, reach, shape=x.shape, chunks=x.chunks)


def propagate(
    x: da.Array,
    *,
    structure: Any,
    mask: da.Array | None,
    border_value: Any,
    origin: Any,
    axes: Any,
    name: str = "binary_propagation",
) -> da.Array:
    """``scipy.ndimage.binary_propagation`` of ``x`` inside ``mask`` (same shape), lazily.

    ``name`` is the public function named if the steps cycle forever.
    """
    kwargs = dict(structure=structure, border_value=border_value, origin=origin, axes=axes)
    if x.ndim == 0 or x.size == 0:
        if mask is not None:
            kwargs["mask"] = np.asarray(mask.compute())
        return _in_memory(ndi.binary_propagation, x, **kwargs)
    reach = dilation_reach(x.ndim, structure, origin, axes, bool(border_value))
    seeds = x != 0
    region = None if mask is None else (mask.rechunk(x.chunks) != 0)
    unit = _unit_structure(reach)
    if unit is not None:
        everywhere = da.ones(x.shape, chunks=x.chunks, dtype=bool)
        found: GlobalLabels = label_across_blocks(
            everywhere if region is None else region,
            unit,
            seeds=seeds,
            border=_border_axes(unit) if border_value else None,
        )
        return seeds | found.paint_flags(seed=True, border=bool(border_value))
    if (0,) * x.ndim in reach.offsets:
        return reach_closure(seeds, region, reach, shape=x.shape, chunks=x.chunks)
    return iterate_until_stable(seeds, region, reach, name=name)


def until_stable(
    x: da.Array,
    *,
    dilate: bool,
    structure: np.ndarray,
    origin: tuple,
    mask: da.Array | None,
    border_value: bool,
    name: str,
) -> da.Array:
    """``iterations < 1``: erosion or dilation repeated until nothing changes.

    ``structure`` and ``origin`` are what scipy's erosion kernel uses on every axis
    (see :func:`~bigimg._morphology._args.full_structure`); a dilation ORs over
    those offsets, an erosion ANDs.
    Dilation to a fixed point inside ``mask`` is :func:`propagate`; erosion to a fixed
    point is its dual, the complement of the propagation of the complement with the
    opposite border value. The structure handed on is the reflection that makes
    ``binary_dilation`` read exactly these offsets.
    """
    reflected = structure[(slice(None, None, -1),) * structure.ndim]
    origins = tuple(-o - (1 - s % 2) for o, s in zip(origin, structure.shape))
    seeds = x if dilate else x == 0
    border = border_value if dilate else not border_value
    grown = propagate(
        seeds,
        structure=reflected,
        mask=mask,
        border_value=int(border),
        origin=origins,
        axes=None,
        name=name,
    )
    return grown if dilate else ~grown
