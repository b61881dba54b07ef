"""Arguments and geometry shared by binary and grey morphology.

* :func:`output_dtype` validates every argument by running the scipy twin on a
  one-voxel array (``output=dtype`` means what scipy does with an output array of
  that dtype) before any graph exists;
* :func:`full_structure` expands a binary structure and its origins to every axis
  exactly as scipy does (including the reflection of a dilation and scipy's mapping
  of ``axes``) and checks the origins, which scipy does not;
* :func:`geometry` turns that into the block kernel's offsets (a box or a list of
  offsets, see :mod:`bigimg._morphology._kernels`) and the halo per axis (the reach,
  :func:`bigimg._halo.kernel_reach`).
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._args import probe_array, resolve_output
from bigimg._errors import ArgumentError
from bigimg._halo import kernel_reach
from bigimg._morphology._kernels import erosion_offsets

__all__ = [
    "border_flag",
    "full_structure",
    "geometry",
    "int_sequence",
    "iterations_count",
    "output_dtype",
]


def output_dtype(twin: Callable, x: da.Array, output: Any, kwargs: dict) -> np.dtype:
    """Validate every argument on a one-voxel array; return the result dtype.

    ``output=dtype`` means what scipy does with ``output=np.empty(shape, dtype)``: the
    result is written into that dtype. (Some scipy twins ignore a bare dtype.)
    """
    probe = probe_array(x.dtype, x.ndim)

    def call(out):
        if out is None:
            return twin(probe, **kwargs)
        arr = np.empty(probe.shape, dtype=out)
        twin(probe, output=arr, **kwargs)
        return arr

    return resolve_output(output, call)


def int_sequence(value: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral):
        return (int(value),) * n
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(
            f"`{name}` must be an integer or a sequence of integers; got {value!r}."
        ) from None
    if len(items) != n:
        raise ArgumentError(
            f"`{name}` must have one entry per filtered axis ({n}); "
            f"got {len(items)} entries: {value!r}."
        )
    for v in items:
        if not isinstance(v, numbers.Integral):
            raise TypeError(f"`{name}` must hold integers; got {value!r}.")
    return tuple(int(v) for v in items)


def full_structure(
    structure: Any,
    origin: Any,
    axes: tuple,
    ndim: int,
    *,
    dilate: bool = False,
    name: str = "structure",
    origin_name: str = "origin",
):
    """The structure and origins scipy's erosion kernel really uses, on every axis.

    scipy turns a dilation into an erosion of the complement by the reflected
    structure, with origins ``-origin`` (one less along even-sized structure axes),
    then expands both to every axis: the structure's axes go to ``sorted(axes)``, the
    origins to ``axes`` in the given order. This repeats those steps, so the halo and
    the kernel follow scipy for any ``axes``, and checks every origin: scipy does not,
    and may crash on one outside the structure.
    """
    n = len(axes)
    if structure is None:
        structure = ndi.generate_binary_structure(n, 1)
    structure = np.asarray(structure, dtype=bool)
    if structure.ndim != n:
        raise ArgumentError(
            f"`{name}` must have one axis per filtered axis ({n}); got shape {structure.shape}."
        )
    if structure.size < 1:
        raise ArgumentError(f"`{name}` must not be empty; got shape {structure.shape}.")
    origins = int_sequence(origin, n, origin_name)
    if dilate:
        structure = structure[(slice(None, None, -1),) * n]
        origins = tuple(-o - (1 - s % 2) for o, s in zip(origins, structure.shape))
    if n < ndim:
        structure = np.expand_dims(structure, tuple(a for a in range(ndim) if a not in axes))
        full = [0] * ndim
        for o, ax in zip(origins, axes):
            full[ax] = o
        origins = tuple(full)
    for s, o in zip(structure.shape, origins):
        if not -(s // 2) <= o <= (s - 1) // 2:
            raise ValueError(
                f"`{origin_name}` must place the origin inside `{name}` (between "
                f"-(size // 2) and (size - 1) // 2 on each axis"
                f"{', after the reflection of a dilation' if dilate else ''}); got "
                f"{origin!r} for shape {structure.shape}."
            )
    return structure, origins


def geometry(structure: np.ndarray, origins: tuple) -> tuple[tuple, tuple[int, ...]]:
    """Kernel geometry (a separable box or a list of offsets) and reach per axis."""
    if structure.all():
        widths = structure.shape
        lows = tuple(-(s // 2) - o for s, o in zip(widths, origins))
        kernel = ("box", (lows, widths))
    else:
        kernel = ("offsets", erosion_offsets(structure, origins))
    return kernel, kernel_reach(kernel, structure.ndim)


def iterations_count(iterations: Any) -> int:
    try:
        return operator.index(iterations)
    except TypeError:
        raise TypeError(f"`iterations` must be an integer; got {iterations!r}.") from None


def border_flag(border_value: Any) -> bool:
    try:
        return bool(operator.index(border_value))
    except TypeError:
        raise TypeError(
            f"`border_value` must be an integer (0 or 1); got {border_value!r}."
        ) from None
