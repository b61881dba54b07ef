"""B-spline prefilters (:func:`scipy.ndimage.spline_filter`, ``spline_filter1d``) on chunks.

scipy's prefilter turns samples into B-spline coefficients with a recursive (IIR) filter
run along whole lines. A chunk cannot see a whole line, so each axis is filtered on
blocks extended by a halo derived from a documented tolerance: the coefficients are
within ``SPLINE_TOL * max|input|`` (1e-13) of scipy's. The scheme, its error bound and
the halo depth (:func:`bigimg._geometry.spline_halo`) live in the geometry engine,
:mod:`bigimg._geometry._spline`; this module validates the arguments.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, probe_array, resolve_output
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._geometry import filter_axes

__all__ = ["spline_filter", "spline_filter1d"]

_docs = DocFiller(NDIMAGE)


@_docs
def spline_filter1d(
    input: ArrayLike,
    order: int = 3,
    axis: int = -1,
    output: DTypeLike = np.float64,
    mode: str = "mirror",
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.spline_filter1d` (1-D B-spline prefilter).

    Parameters
    ----------
    %(input)s
    order : int, optional
        Spline order, 0-5 (default 3; orders 0 and 1 copy the input).
    %(axis)s
    output : dtype or array, optional
        Output dtype (default float64). An array of ``input``'s shape is filled block
        by block and returned, as scipy.
    %(mode_interp_mirror)s

    Returns
    -------
    dask array
        Lazy result with the input's chunks.

    Raises
    ------
    %(raises)s

    Notes
    -----
    Halo scheme (see :mod:`bigimg._geometry._spline`): ``axis`` is filtered on blocks
    extended by :func:`~bigimg._geometry.spline_halo` voxels (24 for cubic splines),
    giving coefficients within ``SPLINE_TOL * max|input|`` (1e-13) of scipy's. One task
    holds a block plus its halo along ``axis``.

    %(example)s
    >>> x = np.random.default_rng(0).random((40, 50))
    >>> y = ndimage.spline_filter1d(x, order=3, axis=1)
    >>> np.allclose(y.compute(), ndi.spline_filter1d(x, order=3, axis=1), atol=1e-12)
    True
    """
    x = as_dask(input)
    probe = probe_array(x.dtype, x.ndim)
    dtype = resolve_output(output, lambda out: ndi.spline_filter1d(probe, order, axis, out, mode))
    if order in (0, 1) or x.ndim == 0:
        return x.astype(dtype)
    ax = int(axis) % x.ndim
    return filter_axes(x, int(order), (ax,), mode, dtype).rechunk(x.chunks)


@_docs
def spline_filter(
    input: ArrayLike,
    order: int = 3,
    output: DTypeLike = np.float64,
    mode: str = "mirror",
) -> da.Array:
    """Chunked twin of :func:`scipy.ndimage.spline_filter` (N-D B-spline prefilter).

    Every axis is filtered in turn, as in scipy, each with the halo scheme of
    :func:`spline_filter1d`.

    Parameters
    ----------
    %(input)s
    order : int, optional
        Spline order, 2-5 (default 3).
    output : dtype or array, optional
        Output dtype (default float64); intermediate passes are stored in it, as in
        scipy. An array of ``input``'s shape is filled block by block and returned.
    %(mode_interp_mirror)s

    Returns
    -------
    dask array
        Lazy coefficients with the input's chunks.

    Raises
    ------
    %(raises)s

    Notes
    -----
    One halo pass per axis (see :mod:`bigimg._geometry._spline`): the result is within
    ``SPLINE_TOL * max|input|`` (1e-13) of scipy's, exactly equal where an axis fits in
    its halo. One task holds one block plus :func:`~bigimg._geometry.spline_halo` voxels
    (26 for cubic splines in 3-D) on each side along the axis being filtered.

    %(example)s
    >>> import dask.array as da
    >>> x = np.random.default_rng(0).random((60, 70))
    >>> y = ndimage.spline_filter(da.from_array(x, chunks=20), order=3)
    >>> y.chunks
    ((20, 20, 20), (20, 20, 20, 10))
    >>> np.allclose(y.compute(), ndi.spline_filter(x, order=3), rtol=0, atol=1e-12)
    True
    """
    x = as_dask(input)
    probe = probe_array(x.dtype, x.ndim)
    dtype = resolve_output(output, lambda out: ndi.spline_filter(probe, order, out, mode))
    if x.ndim == 0:
        return x.astype(dtype)
    return filter_axes(x, int(order), tuple(range(x.ndim)), mode, dtype).rechunk(x.chunks)
