"""Argument handling shared by the geometric transforms (see :mod:`bigimg.ndimage._geometry`).

scipy's dtype and errors from a one-voxel probe, output chunks, scipy's per-axis
coordinates for zoom/shift, per-chunk bounds of explicit coordinates, and the step that
prefilters and hands everything to the graph builder.
"""

from __future__ import annotations

import math
import warnings

import dask
import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._args import probe_array, resolve_output
from bigimg._geometry._graph import build_interpolation
from bigimg._geometry._maps import CoordinateMap, SeparableMap
from bigimg._geometry._spline import coefficients

__all__ = [
    "coordinate_map",
    "interpolate",
    "output_chunks_for",
    "scipy_dtype",
    "separable",
    "sequence",
]


def scipy_dtype(x: da.Array, output, call) -> np.dtype:
    """Validate by running ``call(probe, out)``; re-emit scipy's warnings at the caller."""
    probe = probe_array(x.dtype, x.ndim)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dtype = resolve_output(output, lambda out: call(probe, out))
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=3)  # the user's call
    return dtype


def _cval_fill(x: da.Array, cval, dtype: np.dtype):
    """The value scipy writes for a voxel outside the input in ``constant`` mode."""
    probe = probe_array(x.dtype, x.ndim)
    far = np.full((x.ndim, 1), -2.0)
    return ndi.map_coordinates(probe, far, output=dtype, order=0, mode="constant", cval=cval)[0]


#: Most output blocks a transform builds a graph for (``bigimg.max-output-tasks``).
MAX_OUTPUT_TASKS = 4_000_000


def output_chunks_for(output_chunks, x: da.Array, shape: tuple[int, ...], dtype) -> tuple:
    """Normalised output chunks; by default the input's chunk sizes on the output shape.

    Refuses, before any graph exists, a negative output size (scipy: "negative
    dimensions are not allowed"), chunk sizes below 1, and an output of more blocks
    than ``bigimg.max-output-tasks`` (dask config; default 4,000,000): a graph that
    size takes minutes to build, where scipy fails at once with ``MemoryError``.
    """
    if any(int(s) < 0 for s in shape):
        raise ValueError(
            f"`output_shape` must hold sizes >= 0 (negative dimensions are not allowed); "
            f"got {tuple(shape)}."
        )
    if output_chunks is None:
        if len(shape) == x.ndim:
            output_chunks = tuple(max(max(c, default=1), 1) for c in x.chunks)
        else:
            output_chunks = "auto"
    flat = np.ravel(np.asarray(output_chunks, dtype=object)) if output_chunks != "auto" else []
    bad = [c for c in flat if isinstance(c, int | np.integer) and c < 1 and -1 != c]
    if bad:
        raise ValueError(
            f"`output_chunks` must be chunk sizes >= 1 for the output shape {tuple(shape)}; "
            f"got {output_chunks!r}."
        )
    try:
        chunks = da.core.normalize_chunks(output_chunks, shape, dtype=dtype)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise ValueError(
            f"`output_chunks` must be chunk sizes for the output shape {shape}; got "
            f"{output_chunks!r} ({exc})."
        ) from exc
    _check_task_count(chunks, shape, dtype)
    return chunks


def _check_task_count(chunks: tuple, shape: tuple[int, ...], dtype) -> None:
    limit = int(dask.config.get("bigimg.max-output-tasks", MAX_OUTPUT_TASKS))
    tasks = math.prod(len(c) for c in chunks)
    if tasks > limit:
        nbytes = math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize
        raise MemoryError(
            f"the output of shape {tuple(shape)} ({nbytes:,} bytes of {np.dtype(dtype)}) in "
            f"blocks of {tuple(max(c) for c in chunks)} needs {tasks:,} tasks, more than "
            f"the {limit:,} of dask config 'bigimg.max-output-tasks'; check the zoom or "
            "output_shape, or pass larger output_chunks."
        )


def interpolate(
    x, tmap, shape, *, output_chunks, dtype, order, mode, cval, prefilter, name, axes=None
):
    """Prefilter (if asked) and build the per-chunk graph.

    ``axes`` are the axes ``tmap`` transforms (default all); any others pass through one
    to one (``rotate``'s untouched axes).
    """
    chunks = output_chunks_for(output_chunks, x, shape, dtype)
    if any(s == 0 for s in shape) or x.size == 0:
        return da.full(shape, _cval_fill(x, cval, dtype), dtype=dtype, chunks=chunks)
    axes = tuple(range(x.ndim)) if axes is None else axes
    npad = 0
    if prefilter and order > 1:
        x, npad = coefficients(x, order, mode, cval, axes)
    return build_interpolation(
        x,
        tmap,
        shape,
        chunks,
        order=int(order),
        mode=mode,
        cval=cval,
        dtype=dtype,
        npad=npad,
        batch=tuple(a for a in range(x.ndim) if a not in axes),
        cval_fill=_cval_fill(x, cval, dtype),
        name=name,
    )


def sequence(value, n: int) -> list:
    """scipy's ``_normalize_sequence`` (arguments are validated by the probe first)."""
    return list(value) if np.iterable(value) and not isinstance(value, str) else [value] * n


def separable(shape: tuple[int, ...], step, how: str, first=None) -> SeparableMap:
    """scipy's ``NI_ZoomShift`` coordinates, axis by axis, with its operation order."""
    coords = []
    first = [0.0] * len(shape) if first is None else first
    for n, a, z in zip(shape, first, step):
        k = np.arange(n, dtype=np.float64)
        with np.errstate(all="ignore"):
            if how == "shift":
                c = k + a
            elif how == "shift-zoom":
                c = (k + a) * z
            elif how == "grid-zoom":
                c = ((k + 0.5) * z) - 0.5
            else:
                c = k * z
        coords.append(c)
    return SeparableMap(coords)


def _block_bounds(block: np.ndarray) -> np.ndarray:
    """``[min per axis..., max per axis...]`` of a coordinate block (NaN if non-finite)."""
    flat = block.reshape(block.shape[0], -1).astype(np.float64)
    lo, hi = np.full(len(flat), np.nan), np.full(len(flat), np.nan)
    if flat.shape[1]:
        ok = np.isfinite(flat).all(axis=1)
        lo[ok], hi[ok] = flat[ok].min(axis=1), flat[ok].max(axis=1)
    return np.concatenate([lo, hi]).reshape((-1,) + (1,) * (block.ndim - 1))


def coordinate_map(coords, chunks) -> CoordinateMap:
    """Explicit coordinates chunked like the output, with every chunk's bounds.

    For a dask ``coords`` the bounds are computed here (one pass, a tiny result): the
    input region each output chunk reads must be known to build the graph. In-memory
    coordinates are bounded with numpy, so nothing is computed through dask.
    """
    full = ((coords.shape[0],), *chunks)
    if isinstance(coords, da.Array):
        coords = coords.rechunk(full)
        bounds = coords.map_blocks(
            _block_bounds,
            chunks=((2 * coords.shape[0],), *((1,) * len(c) for c in chunks)),
            dtype=np.float64,
        ).compute()
    else:
        edges = [np.cumsum((0, *c)) for c in chunks]
        bounds = np.empty((2 * coords.shape[0], *(len(c) for c in chunks)))
        for idx in np.ndindex(*bounds.shape[1:]):
            box = tuple(slice(e[i], e[i + 1]) for e, i in zip(edges, idx))
            bounds[(slice(None), *idx)] = _block_bounds(coords[(slice(None), *box)]).ravel()
        coords = da.from_array(coords, chunks=full)
    return CoordinateMap(coords, bounds)
