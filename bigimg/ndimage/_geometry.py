"""Geometric transforms of :mod:`scipy.ndimage` on chunked arrays, lazily and exactly.

``affine_transform``, ``shift``, ``zoom``, ``rotate``, ``map_coordinates`` and
``geometric_transform`` keep scipy's signatures (plus a keyword-only ``output_chunks``)
and return lazy dask arrays. Each call

1. validates every argument by running scipy on a one-voxel probe (scipy's errors,
   ``ArgumentError`` where scipy raises ``RuntimeError``; scipy's output dtype);
2. reproduces scipy's coordinate mapping (zoom factors, ``grid_mode``, rotate's centre
   and reshape, homogeneous matrices);
3. prefilters with the halo scheme of :mod:`bigimg._geometry._spline` when
   ``prefilter=True`` and ``order >= 2`` (within ``SPLINE_TOL * max|input|`` of scipy);
4. builds one task per output chunk that reads only the input region it needs
   (:mod:`bigimg._geometry._regions`) and interpolates it
   (:mod:`bigimg._geometry._graph`): zoom and shift one axis at a time with
   scipy's own 1-D taps, rotate of volumes with 2-D taps shared by all planes, other
   affine maps of volumes with a numba kernel (scipy at the faces), the rest by scipy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi
from scipy import special

from bigimg._args import as_dask
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._geometry import (
    AffineMap,
    MappingMap,
    coordinate_map,
    interpolate,
    output_chunks_for,
    scipy_dtype,
    separable,
    sequence,
)

__all__ = [
    "affine_transform",
    "geometric_transform",
    "map_coordinates",
    "rotate",
    "shift",
    "zoom",
]

#: The transforms' shared texts, on top of :data:`bigimg._docs.NDIMAGE`.
_docs = DocFiller(
    NDIMAGE,
    geometry_notes="""
        Accuracy: wherever the interpolant jumps (``order=0``; ``constant`` and ``wrap`` at
        the faces) scipy's coordinates are reproduced bit for bit, so nearest-neighbour
        results, ties and ``cval`` decisions are scipy's exactly; elsewhere values agree to
        float64 rounding (an integer output may differ by one where scipy's value lies
        within rounding of a half). With ``prefilter=True`` and ``order >= 2`` the spline
        coefficients come from the halo prefilter and are within
        ``SPLINE_TOL * max|input|`` (1e-13) of scipy's.

        Memory: one task holds one output chunk (and its float64 values), the input region
        it maps to (its bounding box plus the spline's reach, extended to the array's face
        where the boundary ``mode`` folds coordinates back; for ``wrap`` and ``grid-wrap``
        chunks that cross a face read the whole axis) and at most 2**20 float64
        coordinates (8 MiB) at a time. Zoom and shift read the region slab by slab instead
        (partial sums of at most 2**19 float64 values, 4 MiB, per slab).""",
)
_docs = _docs.extend(
    # Returns, Raises and the Notes header of every transform
    geometry_returns=_docs.fill(
        """
    Returns
    -------
    dask array
        Lazy, of the output shape, in ``output_chunks``; nothing is computed until
        asked (except as said in the Notes).

    Raises
    ------
    %(raises)s

    Notes
    -----"""
    )
)


# ------------------------------------------------------------------- public names
@_docs
def affine_transform(
    input: ArrayLike,
    matrix: ArrayLike,
    offset: float | Sequence[float] = 0.0,
    output_shape: Sequence[int] | None = None,
    output: DTypeLike | None = None,
    order: int = 3,
    mode: str = "constant",
    cval: float = 0.0,
    prefilter: bool = True,
    *,
    output_chunks: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.affine_transform`.

    Parameters
    ----------
    %(input)s
    matrix : ndarray
        ``(ndim,)`` (diagonal), ``(ndim, out_ndim)``, ``(ndim, ndim + 1)`` or homogeneous
        ``(ndim + 1, ndim + 1)``; maps output coordinates ``o`` to input coordinates
        ``matrix @ o + offset``.
    offset : float or sequence, optional
        Offset added to the mapped coordinates, one for every axis or one per axis
        (default 0.0; ignored when ``matrix`` holds it).
    output_shape : tuple of int, optional
        Default: the input's shape.
    %(output)s
    %(spline_order)s
    %(mode_interp_constant)s
    %(cval)s
    %(prefilter)s
    %(output_chunks)s

    %(geometry_returns)s
    Each output chunk's input region is the bounding box of its corners' images.

    %(geometry_notes)s

    %(example)s
    >>> x = np.random.default_rng(0).random((20, 24))
    >>> m = [[0.9, 0.2], [-0.1, 1.1]]
    >>> y = ndimage.affine_transform(x, m, offset=(1.5, -2), output_chunks=(8, 8))
    >>> y.chunks
    ((8, 8, 4), (8, 8, 8))
    >>> np.allclose(y.compute(), ndi.affine_transform(x, m, offset=(1.5, -2)), atol=1e-12)
    True
    """
    x = as_dask(input)
    shape = x.shape if output_shape is None else output_shape
    dtype = scipy_dtype(
        x,
        output,
        lambda p, out: ndi.affine_transform(
            p, matrix, offset, (1,) * len(shape), out, order, mode, cval, prefilter
        ),
    )
    shape = tuple(int(s) for s in shape)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 2 and m.shape[1] == x.ndim + 1 and m.shape[0] in (x.ndim, x.ndim + 1):
        offset, m = m[: x.ndim, x.ndim], m[: x.ndim, : x.ndim]
    off = np.asarray(np.broadcast_to(np.asarray(offset, dtype=np.float64), (x.ndim,)))
    if m.ndim == 1:
        with np.errstate(all="ignore"):
            tmap = separable(shape, m, "shift-zoom", off / m)
    else:
        tmap = AffineMap(m, off)
    opts = dict(order=order, mode=mode, cval=cval, prefilter=prefilter, output_chunks=output_chunks)
    return interpolate(x, tmap, shape, dtype=dtype, name="affine_transform", **opts)


@_docs
def shift(
    input: ArrayLike,
    shift: float | Sequence[float],
    output: DTypeLike | None = None,
    order: int = 3,
    mode: str = "constant",
    cval: float = 0.0,
    prefilter: bool = True,
    *,
    output_chunks: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.shift`.

    Parameters
    ----------
    %(input)s
    shift : float or sequence
        Shift along each axis (output voxel ``o`` reads input ``o - shift``).
    %(output)s
    %(spline_order)s
    %(mode_interp_constant)s
    %(cval)s
    %(prefilter)s
    %(output_chunks)s

    %(geometry_returns)s
    Coordinates are scipy's (``o + (-shift)``), computed per axis.

    %(geometry_notes)s

    %(example)s
    >>> x = np.arange(30.0).reshape(5, 6)
    >>> y = ndimage.shift(x, (1.5, -0.25), order=1, mode="nearest")
    >>> np.array_equal(y.compute(), ndi.shift(x, (1.5, -0.25), order=1, mode="nearest"))
    True
    """
    x = as_dask(input)
    dtype = scipy_dtype(
        x, output, lambda p, out: ndi.shift(p, shift, out, order, mode, cval, prefilter)
    )
    neg = np.asarray([-ii for ii in sequence(shift, x.ndim)], dtype=np.float64)
    tmap = separable(x.shape, np.ones(x.ndim), "shift", neg)
    opts = dict(order=order, mode=mode, cval=cval, prefilter=prefilter, output_chunks=output_chunks)
    return interpolate(x, tmap, x.shape, dtype=dtype, name="shift", **opts)


@_docs
def zoom(
    input: ArrayLike,
    zoom: float | Sequence[float],
    output: DTypeLike | None = None,
    order: int = 3,
    mode: str = "constant",
    cval: float = 0.0,
    prefilter: bool = True,
    *,
    grid_mode: bool = False,
    output_chunks: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.zoom`.

    Parameters
    ----------
    %(input)s
    zoom : float or sequence
        Zoom factor per axis; the output shape is ``round(input.shape * zoom)``.
    %(output)s
    %(spline_order)s
    %(mode_interp_constant)s
    %(cval)s
    %(prefilter)s
    grid_mode : bool, optional
        Keyword-only, as scipy: zoom the pixel grid (edges), not the sample centres.
    %(output_chunks)s

    %(geometry_returns)s
    scipy's factors are recomputed from the shapes, ``(in - 1) / (out - 1)`` (or
    ``in / out`` with ``grid_mode``), and its coordinates reproduced bit for bit.

    %(geometry_notes)s

    %(example)s
    >>> import dask.array as da
    >>> x = np.random.default_rng(0).random((12, 14))
    >>> y = ndimage.zoom(da.from_array(x, chunks=5), 2.0, order=1)
    >>> y.shape, y.chunks[0]
    ((24, 28), (5, 5, 5, 5, 4))
    >>> np.allclose(y.compute(), ndi.zoom(x, 2.0, order=1))
    True
    """
    x = as_dask(input)
    try:  # the one-voxel probe grows by the zoom: cap it (zoom=1000 would make 10^9)
        probe_zoom = np.minimum(np.asarray(zoom, dtype=np.float64), 4.0)
    except (TypeError, ValueError):
        probe_zoom = zoom  # scipy raises its own error for it
    dtype = scipy_dtype(
        x,
        output,
        lambda p, out: ndi.zoom(
            p, probe_zoom, out, order, mode, cval, prefilter, grid_mode=grid_mode
        ),
    )
    zooms = sequence(zoom, x.ndim)
    shape = tuple(int(round(ii * jj)) for ii, jj in zip(x.shape, zooms))
    if all(z == 1 for z in zooms) and prefilter:
        return x.astype(dtype).rechunk(output_chunks_for(output_chunks, x, shape, dtype))
    div, num = np.array(shape), np.array(x.shape)
    if not grid_mode:
        div, num = div - 1, num - 1
    factors = np.divide(num, div, out=np.ones_like(x.shape, dtype=np.float64), where=div != 0)
    tmap = separable(shape, factors, "grid-zoom" if grid_mode else "zoom")
    opts = dict(order=order, mode=mode, cval=cval, prefilter=prefilter, output_chunks=output_chunks)
    return interpolate(x, tmap, shape, dtype=dtype, name="zoom", **opts)


@_docs
def rotate(
    input: ArrayLike,
    angle: float,
    axes: Sequence[int] = (1, 0),
    reshape: bool = True,
    output: DTypeLike | None = None,
    order: int = 3,
    mode: str = "constant",
    cval: float = 0.0,
    prefilter: bool = True,
    *,
    output_chunks: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.rotate`.

    Parameters
    ----------
    %(input)s
        At least 2-D.
    angle : float
        Rotation angle in degrees.
    axes : pair of int, optional
        The plane of rotation (default ``(1, 0)``).
    reshape : bool, optional
        Grow the output to hold the whole rotated input (default True).
    %(output)s
    %(spline_order)s
    %(mode_interp_constant)s
    %(cval)s
    %(prefilter)s
        The prefilter runs in the rotation plane only, as scipy does plane by plane.
    %(output_chunks)s

    %(geometry_returns)s
    scipy's matrix (``cosdg``/``sindg``), centre and reshaped shape are reproduced. scipy
    rotates one plane at a time; here every plane of a chunk shares scipy's 2-D taps,
    found once per chunk and summed over all planes together.

    %(geometry_notes)s

    %(example)s
    >>> x = np.random.default_rng(0).random((3, 16, 20))
    >>> y = ndimage.rotate(x, 30, axes=(1, 2), output_chunks=(1, 10, 10))
    >>> y.shape == ndi.rotate(x, 30, axes=(1, 2)).shape
    True
    >>> np.allclose(y.compute(), ndi.rotate(x, 30, axes=(1, 2)), atol=1e-12)
    True
    """
    x = as_dask(input)
    dtype = scipy_dtype(
        x,
        output,
        lambda p, out: ndi.rotate(p, angle, axes, reshape, out, order, mode, cval, prefilter),
    )
    ndim = x.ndim
    ax = sorted(int(a) % ndim for a in axes)
    c, s = special.cosdg(angle), special.sindg(angle)
    rot = np.array([[c, s], [-s, c]])
    img_shape = np.asarray(x.shape)
    in_plane = img_shape[ax]
    if reshape:
        iy, ix = in_plane
        bounds = rot @ [[0, 0, iy, iy], [0, ix, 0, ix]]
        out_plane = (np.ptp(bounds, axis=1) + 0.5).astype(int)
    else:
        out_plane = img_shape[ax]
    offset = (in_plane - 1) / 2 - rot @ ((out_plane - 1) / 2)
    out_shape = img_shape.copy()
    out_shape[ax] = out_plane
    out_shape = tuple(int(n) for n in out_shape)
    opts = dict(order=order, mode=mode, cval=cval, prefilter=prefilter, output_chunks=output_chunks)
    tmap = AffineMap(rot, offset)
    return interpolate(x, tmap, out_shape, dtype=dtype, name="rotate", axes=tuple(ax), **opts)


@_docs
def map_coordinates(
    input: ArrayLike,
    coordinates: ArrayLike,
    output: DTypeLike | None = None,
    order: int = 3,
    mode: str = "constant",
    cval: float = 0.0,
    prefilter: bool = True,
    *,
    output_chunks: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.map_coordinates`.

    Parameters
    ----------
    %(input)s
    coordinates : array_like or dask array
        ``(input.ndim, *output_shape)`` input coordinates of every output voxel.
    %(output)s
    %(spline_order)s
    %(mode_interp_constant)s
    %(cval)s
    %(prefilter)s
    output_chunks : tuple, optional
        Keyword-only. Chunks of the result. Default: the chunks of a dask
        ``coordinates`` (axes 1...), else the input's chunk sizes.

    %(geometry_returns)s
    **Computes at call time** the minimum and maximum coordinate of every output chunk
    (one pass over ``coordinates``, a tiny result): the input region each chunk reads
    must be known to build the graph. Coordinates are used exactly as given.

    %(geometry_notes)s

    %(example)s
    >>> x = np.arange(12.0).reshape(4, 3)
    >>> c = [[0.5, 2.0, 3.5], [0.5, 1.0, -1.0]]
    >>> y = ndimage.map_coordinates(x, c, order=1)
    >>> y.compute()
    array([2., 7., 0.])
    >>> np.array_equal(y.compute(), ndi.map_coordinates(x, c, order=1))
    True
    """
    x = as_dask(input)
    is_dask = isinstance(coordinates, da.Array)
    coords = coordinates if is_dask else np.asarray(coordinates)
    probe_c = (
        np.zeros((coords.shape[0],) + (1,) * (coords.ndim - 1), dtype=coords.dtype)
        if coords.ndim
        else np.asarray(coords)
    )
    dtype = scipy_dtype(
        x,
        output,
        lambda p, out: ndi.map_coordinates(p, probe_c, out, order, mode, cval, prefilter),
    )
    shape = tuple(coords.shape[1:])
    if output_chunks is None and is_dask:
        output_chunks = coords.chunks[1:]
    chunks = output_chunks_for(output_chunks, x, shape, dtype)
    tmap = coordinate_map(coords, chunks)
    opts = dict(order=order, mode=mode, cval=cval, prefilter=prefilter, output_chunks=chunks)
    return interpolate(x, tmap, shape, dtype=dtype, name="map_coordinates", **opts)


@_docs
def geometric_transform(
    input: ArrayLike,
    mapping: Callable[..., Sequence[float]],
    output_shape: Sequence[int] | None = None,
    output: DTypeLike | None = None,
    order: int = 3,
    mode: str = "constant",
    cval: float = 0.0,
    prefilter: bool = True,
    extra_arguments: Sequence[Any] = (),
    extra_keywords: Mapping[str, Any] | None = None,
    *,
    output_chunks: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.geometric_transform`.

    Parameters
    ----------
    %(input)s
    mapping : callable
        ``mapping(output_coords_tuple, *extra_arguments, **extra_keywords)`` returns the
        input coordinates (a sequence of ``input.ndim`` floats). Must pickle to run on
        distributed workers.
    output_shape : tuple of int, optional
        Default: the input's shape.
    %(output)s
    %(spline_order)s
    %(mode_interp_constant)s
    %(cval)s
    %(prefilter)s
    %(extra)s
    %(output_chunks)s

    %(geometry_returns)s
    **Calls ``mapping`` on every output voxel at call time**, to find each output
    chunk's input region exactly (an arbitrary mapping has no cheaper safe bound), and
    again in the tasks, as scipy does; this is as slow as scipy's own per-voxel Python
    calls, twice.

    %(geometry_notes)s

    %(example)s
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> def f(o):
    ...     return (o[0] * 0.5, o[1] - 0.5)
    >>> y = ndimage.geometric_transform(x, f, output_shape=(6, 5), order=1)
    >>> np.array_equal(y.compute(), ndi.geometric_transform(x, f, (6, 5), order=1))
    True
    """
    x = as_dask(input)
    kw = {} if extra_keywords is None else dict(extra_keywords)
    shape = x.shape if output_shape is None else output_shape
    dtype = scipy_dtype(
        x,
        output,
        lambda p, out: ndi.geometric_transform(
            p, mapping, (1,) * len(shape), out, order, mode, cval, prefilter, extra_arguments, kw
        ),
    )
    shape = tuple(int(s) for s in shape)
    tmap = MappingMap(mapping, tuple(extra_arguments), kw, x.ndim)
    opts = dict(order=order, mode=mode, cval=cval, prefilter=prefilter, output_chunks=output_chunks)
    return interpolate(x, tmap, shape, dtype=dtype, name="geometric_transform", **opts)
