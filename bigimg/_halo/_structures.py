"""Structuring-element geometry -> halo depth: how far morphology reads from a voxel.

The morphology engine (:mod:`bigimg._morphology`) describes a flat structuring element
to its kernels as a separable box or a list of voxel offsets; the rules here turn such
an element, or scipy's ``size``/``footprint``/``origin`` arguments, into the reach per
axis that the halo must cover:

* :func:`kernel_reach` — the reach of a box or of a list of offsets;
* :func:`grey_depth` — the halo of grey morphology, including scipy's placement of
  shapes and origins when ``axes`` reorders axes;
* :func:`footprint_pads` — the extension before and after each axis that scipy's
  rank filters read;
* :func:`unit_neighbourhood` — the one-voxel neighbourhood one dilation step
  reaches, for the fixed points (``binary_propagation``) computed through labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from bigimg._halo._geometry import footprint_depth

__all__ = ["footprint_pads", "grey_depth", "kernel_reach", "unit_neighbourhood"]


def kernel_reach(geometry: tuple, ndim: int) -> tuple[int, ...]:
    """Reach per axis of a flat kernel ``("box", (lows, widths))`` or ``("offsets", rows)``.

    A box reads offsets ``lows[ax] .. lows[ax] + widths[ax] - 1`` on each axis; a list
    of offsets reads its rows (none: reach 0).

    >>> kernel_reach(("box", ((-1, -2), (3, 3))), 2)
    (1, 2)
    >>> kernel_reach(("offsets", np.array([[0, 1], [-2, 0]])), 2)
    (2, 1)
    """
    kind, data = geometry
    if kind == "box":
        return tuple(max(-lo, lo + w - 1, 0) for lo, w in zip(*data))
    return tuple(np.abs(data).max(axis=0).tolist()) if len(data) else (0,) * ndim


def grey_depth(
    shape: Sequence[int],
    origins: Sequence[int],
    axes: tuple[int, ...],
    ndim: int,
    *,
    separable: bool,
) -> list[int]:
    """Halo per axis of grey erosion/dilation by an element of ``shape`` at ``origins``.

    On the filtered axes in order, each axis needs the element's reach
    (:func:`footprint_depth`); scipy's separable path (a full box) skips axes of size
    one. When ``axes`` reorders axes scipy maps shapes and origins differently per
    code path, so every filtered axis gets a bound over all placements (+1: a
    dilation's reflected origin may land on an odd-sized axis).

    >>> grey_depth((3, 1, 5), (0, 0, 1), (0, 1, 2), 3, separable=True)
    [1, 0, 3]
    >>> grey_depth((3, 5), (0, 1), (2, 0), 3, separable=True)
    [4, 0, 4]
    """
    per_axis = [
        0 if (separable and s <= 1) else footprint_depth((s,), (o,))[0]
        for s, o in zip(shape, origins)
    ]
    depth = [0] * ndim
    if axes == tuple(range(ndim)):
        return per_axis
    bound = max([max(s // 2 + abs(o) + 1 for s in shape) for o in origins] + [0])
    for ax in axes:
        depth[ax] = bound
    return depth


def footprint_pads(shape: tuple[int, ...], origin: Any) -> list[tuple[int, int]] | None:
    """(before, after) extension per axis: scipy's reach ``s//2 + o`` and the rest.

    ``None`` where scipy rejects the origin (outside the footprint, not an integer, or
    the wrong number of entries).

    >>> footprint_pads((3, 4), (0, 1))
    [(1, 1), (3, 0)]
    >>> footprint_pads((3,), 2) is None
    True
    """
    if isinstance(origin, int | np.integer):
        origin = (origin,) * len(shape)
    origin = tuple(origin)
    if len(origin) != len(shape):
        return None
    pads = []
    for s, o in zip(shape, origin, strict=True):
        if not isinstance(o, int | np.integer):
            return None
        before = s // 2 + int(o)
        if not 0 <= before < s:
            return None  # scipy: "invalid origin"
        pads.append((before, s - 1 - before))
    return pads


def unit_neighbourhood(ndim: int, structure: Any, origin: Any, axes: Any, name: str) -> np.ndarray:
    """Offsets one dilation step reaches, found by dilating a single voxel with scipy.

    Returns the offsets as a 3 x ... x 3 bool structure, or raises NotImplementedError
    (naming the public function ``name``) when they are not centred, centrosymmetric
    and within one voxel.

    >>> unit_neighbourhood(2, None, 0, None, "binary_propagation").astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    sizes = [3] if structure is None else list(np.shape(structure)) or [1]
    shifts = np.abs(np.asarray(origin, dtype=np.int64)).ravel()
    radius = max(sizes) + int(shifts.max(initial=0)) + 1
    delta = np.zeros((2 * radius + 1,) * ndim, dtype=bool)
    delta[(radius,) * ndim] = True
    reached = ndi.binary_dilation(delta, structure, origin=origin, axes=axes)
    offsets = np.argwhere(reached) - radius
    as_set = {tuple(d) for d in offsets.tolist()}
    centred = (0,) * ndim in as_set
    symmetric = as_set == {tuple(-v for v in d) for d in as_set}
    if not (centred and symmetric and np.all(np.abs(offsets) <= 1)):
        raise NotImplementedError(
            f"{name} across chunks needs `structure` and `origin` that give a centred, "
            "centrosymmetric neighbourhood within one voxel (e.g. "
            f"generate_binary_structure({ndim}, c) with origin=0); got offsets "
            f"{sorted(as_set)}. scipy then propagates in one direction only (or may "
            f"not converge); run scipy.ndimage.{name} on the array in memory instead."
        )
    out = np.zeros((3,) * ndim, dtype=bool)
    out[tuple((offsets + 1).T)] = True
    return out
