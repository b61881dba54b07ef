"""Fixed points of binary dilation across chunks, via the label engine.

``binary_fill_holes``, ``binary_propagation`` and iterated binary erosion/dilation
with ``iterations < 1`` are scipy's ``binary_dilation`` iterated to convergence inside
a mask. When the neighbourhood the structure and origin give is centred,
centrosymmetric and within one voxel (:func:`bigimg._halo.unit_neighbourhood`), the
fixed point is known in closed form: a mask voxel ends up set iff its connected
component of the mask (under that neighbourhood) contains a voxel the first dilation
step reaches, from a set input voxel or, with ``border_value=1``, from outside the
array. The label engine (:mod:`bigimg._labels`) finds those components across chunks
with small per-object tables, so the result is exact for any chunking and no
iteration runs over the volume.

* :func:`fill_holes` — the background components that do not touch the border;
* :func:`propagate` — the mask components a seed (or the border) reaches;
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

from bigimg._halo import unit_neighbourhood
from bigimg._labels import GlobalLabels, label_across_blocks

__all__ = ["fill_holes", "propagate", "until_stable"]


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
    reach = unit_neighbourhood(x.ndim, structure, origin, axes, "binary_fill_holes")
    found = label_across_blocks(x == 0, reach, border=_border_axes(reach))
    return found.paint_flags(border=True, invert=True, background=True)


def propagate(
    x: da.Array,
    *,
    structure: Any,
    mask: da.Array | None,
    border_value: Any,
    origin: Any,
    axes: Any,
) -> da.Array:
    """``scipy.ndimage.binary_propagation`` of ``x`` inside ``mask`` (same shape), lazily."""
    kwargs = dict(structure=structure, border_value=border_value, origin=origin, axes=axes)
    if x.ndim == 0 or x.size == 0:
        if mask is not None:
            kwargs["mask"] = np.asarray(mask.compute())
        return _in_memory(ndi.binary_propagation, x, **kwargs)
    reach = unit_neighbourhood(x.ndim, structure, origin, axes, "binary_propagation")
    seeds = x != 0
    region = (
        da.ones(x.shape, chunks=x.chunks, dtype=bool)
        if mask is None
        else (mask.rechunk(x.chunks) != 0)
    )
    found: GlobalLabels = label_across_blocks(
        region, reach, seeds=seeds, border=_border_axes(reach) if border_value else None
    )
    return seeds | found.paint_flags(seed=True, border=bool(border_value))


def until_stable(
    x: da.Array,
    *,
    dilate: bool,
    structure: np.ndarray,
    origin: tuple,
    mask: da.Array | None,
    border_value: bool,
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
    try:
        grown = propagate(
            seeds,
            structure=reflected,
            mask=mask,
            border_value=int(border),
            origin=origins,
            axes=None,
        )
    except NotImplementedError as exc:
        raise NotImplementedError(
            "`iterations` < 1 (repeat until nothing changes) needs a structure and origin "
            "whose neighbourhood is centred, centrosymmetric and within one voxel (e.g. "
            "generate_binary_structure(ndim, c) with origin=0); pass a positive number of "
            f"iterations otherwise. ({exc})"
        ) from None
    return grown if dilate else ~grown
