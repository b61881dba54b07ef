"""Kernel geometry -> halo depth: how far a kernel reads from each output voxel.

Every rule that turns a filter's arguments (sizes, footprints, origins, sigmas,
weights, boundary modes) into a halo depth and per-axis halo modes lives here, so no
filter repeats it. The filters in :mod:`bigimg.ndimage` only call these rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bigimg._args import PERIODIC_MODES, normalize_modes, normalize_sequence

__all__ = [
    "depth_on",
    "footprint_depth",
    "footprint_geometry",
    "gaussian_reach",
    "impulse_reach",
    "kernel_depth",
    "merge_small_chunks",
    "mixes_periodic",
    "modes_on",
    "uniform_modes",
]


def footprint_depth(shape: Sequence[int], origin: Sequence[int]) -> tuple[int, ...]:
    """Halo depth per axis for a correlation kernel of ``shape`` shifted by ``origin``.

    scipy places a kernel of length ``s`` with origin ``o`` so that it reads from
    ``s // 2 + o`` voxels before to ``s - s // 2 - 1 - o`` voxels after the output voxel.
    The halo is the larger of the two reaches.
    """
    depth = []
    for s, o in zip(shape, origin, strict=True):
        s, o = int(s), int(o)
        if s <= 0:
            depth.append(0)
            continue
        depth.append(max(s // 2 + o, s - s // 2 - 1 - o, 0))
    return tuple(depth)


def modes_on(mode: Any, axes: Sequence[int], ndim: int) -> tuple[str, ...]:
    """Per-axis modes of the full array, given scipy's ``mode`` for the filtered ``axes``.

    Axes that are not filtered get ``"reflect"`` (their depth is 0, so it never matters).

    >>> modes_on(["wrap", "nearest"], (2, 0), 3)
    ('nearest', 'reflect', 'wrap')
    """
    per_axis = normalize_modes(mode, len(axes)) if len(axes) else ()
    modes = ["reflect"] * ndim
    for ax, m in zip(axes, per_axis):
        modes[ax] = m
    return tuple(modes)


def depth_on(reach: Sequence[int], axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Depth per axis of the full array, given the ``reach`` along the filtered ``axes``.

    >>> depth_on((4,), (1,), 3)
    (0, 4, 0)
    """
    depth = [0] * ndim
    for ax, r in zip(axes, reach):
        depth[ax] = max(depth[ax], int(r))
    return tuple(depth)


def footprint_geometry(size: Any, footprint: Any, origin: Any, n_axes: int) -> tuple[tuple, tuple]:
    """Kernel shape and origins (for ``n_axes`` filtered axes) of size/footprint filters.

    >>> footprint_geometry(3, None, (0, 1), 2)
    ((3, 3), (0, 1))
    """
    if footprint is not None:
        shape = np.asarray(footprint).shape
    else:
        shape = tuple(int(s) for s in normalize_sequence(size, n_axes, "size"))
    origins = tuple(int(o) for o in normalize_sequence(origin, n_axes, "origin"))
    return shape, origins


def kernel_depth(
    shape: Sequence[int],
    origins: Sequence[int],
    axes: Sequence[int],
    ndim: int,
    *,
    convolve: bool = False,
) -> tuple[int, ...]:
    """Halo per axis of a kernel given on the filtered ``axes``.

    scipy is not consistent about which array axis a kernel dimension lands on when
    ``axes`` is not in increasing order: sizes and origins follow ``axes`` in the
    separable filters, while footprints keep their order (``np.expand_dims``) and
    origins may stay positional. The halo is the larger reach over every such
    reading, so it is exact for all of them (a larger halo never changes results).
    ``convolve=True`` also covers the flipped kernel (and its shifted origin) of a
    convolution.

    >>> kernel_depth((3, 5), (0, 0), (0, 2), 3)
    (1, 0, 2)
    """
    axes = tuple(axes)
    placements = {axes, tuple(sorted(axes))}
    if len(axes) == ndim:
        placements.add(tuple(range(ndim)))
    depth = [0] * ndim
    for shape_axes in placements:
        for origin_axes in placements:
            where = dict(zip(origin_axes, origins))
            for ax, s in zip(shape_axes, shape):
                o = where.get(ax, 0)
                reach = footprint_depth((s,), (o,))[0]
                if convolve:
                    reach = max(reach, footprint_depth((s,), (-o - 1 + int(s) % 2,))[0])
                depth[ax] = max(depth[ax], reach)
    return tuple(depth)


def gaussian_reach(sigma: Any, truncate: Any, radius: Any, n_axes: int) -> tuple[int, ...]:
    """Reach per axis of scipy's Gaussian: ``radius``, else ``int(truncate * sigma + 0.5)``.

    >>> gaussian_reach((2.0, 0.0), 4.0, None, 2)
    (8, 0)
    """
    sigmas = normalize_sequence(sigma, n_axes, "sigma")
    radii = normalize_sequence(radius, n_axes, "radius")
    reach = []
    for s, r in zip(sigmas, radii):
        if float(s) <= 1e-15:
            reach.append(0)
        elif r is not None:
            reach.append(int(r))
        else:
            reach.append(int(float(truncate) * float(s) + 0.5))
    return tuple(reach)


def impulse_reach(call: Callable[[np.ndarray], np.ndarray], ndim: int) -> tuple[int, ...]:
    """Reach per axis of a linear filter, read off its response to a centred impulse.

    >>> from scipy import ndimage as ndi
    >>> impulse_reach(lambda d: ndi.uniform_filter(d, 5, mode="constant"), 2)
    (2, 2)
    """
    half = 8
    while True:
        n = 2 * half + 1
        if n**ndim > 8_000_000:
            raise ValueError(
                "`depth` could not be measured: the derivative's impulse response reaches "
                f"beyond {half} voxels. Pass depth=<voxels per axis> explicitly."
            )
        delta = np.zeros((n,) * ndim)
        delta[(half,) * ndim] = 1.0
        support = np.nonzero(np.asarray(call(delta)))
        if not support[0].size:
            return (0,) * ndim
        reach = tuple(int(np.abs(s - half).max()) for s in support)
        if max(reach) < half:
            return reach
        half *= 2


def mixes_periodic(mode: Any) -> bool:
    """True for a per-axis mode sequence that mixes periodic and non-periodic modes.

    The composite filters (gradient magnitudes and Laplacians) apply the mode of axis
    ``a`` on *every* axis while differentiating along ``a``. A mixed sequence therefore
    asks for both a periodic and a plain halo on the same axis, and such filters are
    computed as a sum of per-axis terms, each with one consistent halo.

    >>> mixes_periodic(["wrap", "grid-wrap"]), mixes_periodic(["wrap", "nearest"])
    (False, True)
    """
    if isinstance(mode, str):
        return False
    kinds = {m in PERIODIC_MODES for m in mode}
    return len(kinds) > 1


def uniform_modes(mode: Any, ndim: int) -> tuple[str, ...]:
    """Halo modes for the composite filters when ``mode`` does not mix periodic kinds.

    The derivative along axis ``a`` applies ``mode[a]`` on every axis, so the halo of
    every axis follows the (shared) kind of all the modes.

    >>> uniform_modes(["wrap", "grid-wrap"], 3)
    ('wrap', 'wrap', 'wrap')
    """
    first = mode if isinstance(mode, str) else tuple(mode)[0]
    return (first,) * ndim


def merge_small_chunks(chunks: Sequence[int], minimum: int) -> tuple[int, ...]:
    """Merge neighbouring chunks so that every chunk is at least ``minimum`` long.

    >>> merge_small_chunks((5, 1, 1, 1, 5, 2), 3)
    (5, 3, 7)
    >>> merge_small_chunks((5, 1, 1, 1, 5, 2), 4)
    (5, 10)
    >>> merge_small_chunks((1, 1, 1, 1, 1), 2)
    (2, 3)
    """
    if minimum <= 1 or min(chunks) >= minimum:
        return tuple(chunks)
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += c
        if acc >= minimum:
            out.append(acc)
            acc = 0
    if acc:
        if out and acc < minimum:
            out[-1] += acc
        else:
            out.append(acc)
    return tuple(out)
