"""Spline prefilter on chunks: the halo scheme behind ``spline_filter`` and ``prefilter``.

:func:`filter_axes` is :func:`bigimg.ndimage.spline_filter` (and ``spline_filter1d``)
after validation; :func:`coefficients` is the array the interpolators read with
``prefilter=True``.

scipy's prefilter turns samples into B-spline coefficients with a recursive (IIR) filter
run along whole lines, initialised at both ends according to ``mode``. A chunk cannot
see a whole line, so bigimg uses a **halo derived from a documented tolerance**:

* Each pass filters one axis of a block extended by ``d`` voxels of its neighbours
  (the halo engine, :func:`bigimg._halo.apply_blockwise`). At the array's outer faces no
  halo is added, so the boundary initialisation of ``mode`` runs on the true border, as
  on the whole array; ``grid-wrap`` gets a periodic halo. The blocks are filtered by
  bigimg's own recursive filter (:mod:`bigimg._geometry._spline_kernel`: the same
  filter and boundary extensions, equal to scipy's to float64 rounding, several times
  faster); an axis held whole by one block is filtered by scipy itself.
* The filter's impulse response ``g`` decays like ``|z|**|m|`` (``z`` the largest pole:
  0.172, 0.268, 0.361, 0.431 for orders 2-5). Data further than ``d`` voxels from a
  block's core can only change a coefficient through ``g(m)`` with ``|m| > d``, so one
  pass is off by at most ``4 * max|x| * sum_{m > d} |g(m)|``. Over ``k`` filtered axes
  (each pass amplifies earlier errors by at most ``sum |g|``) the coefficients differ from
  scipy's by at most ``4 k (sum|g|)**(k-1) sum_{m>d}|g(m)| * max|x|``.
* ``d`` (:func:`spline_halo`) is the smallest depth that makes this bound at most
  :data:`SPLINE_TOL` ``= 1e-13`` relative to ``max|x|`` (26 voxels for cubic splines in
  3-D, 45 for quintic). Axes no longer than that are filtered whole, by scipy: exactly.

Interpolated values are convex combinations of coefficients (B-spline weights are
non-negative and sum to one), so the same bound holds for every interpolation routine.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._geometry._spline_kernel import filter_block
from bigimg._halo import apply_blockwise, merge_small_chunks
from bigimg._sources import rechunk

__all__ = [
    "PREPAD",
    "PREPAD_MODES",
    "SPLINE_TOL",
    "coefficients",
    "filter_axes",
    "spline_error_bound",
    "spline_halo",
]

#: Bound on ``max|bigimg - scipy| / max|input|`` of the prefiltered coefficients.
SPLINE_TOL = 1e-13

#: scipy pads these modes by 12 voxels before prefiltering (``_prepad_for_spline_filter``).
PREPAD_MODES = {"nearest": "edge", "grid-constant": "constant"}
PREPAD = 12

# Boundary initialisation scipy's ``apply_filter`` uses for each mode; only ``grid-wrap``
# is periodic, so only it may take a periodic halo.
_INIT = {
    "mirror": "mirror",
    "constant": "mirror",
    "grid-constant": "mirror",
    "wrap": "mirror",
    "reflect": "reflect",
    "grid-mirror": "reflect",
    "nearest": "reflect",
    "grid-wrap": "grid-wrap",
}


@functools.cache
def _impulse(order: int) -> tuple[float, np.ndarray]:
    """``(sum |g|, tails)`` of the order's prefilter; ``tails[m] = sum_{j >= m} |g(j)|``."""
    n = 1601
    delta = np.zeros(n)
    delta[n // 2] = 1.0
    g = np.abs(ndi.spline_filter1d(delta, order, mode="mirror")[n // 2 :])
    total = float(g[0] + 2.0 * g[1:].sum())
    tails = np.cumsum(g[::-1])[::-1]
    return total, tails


def spline_error_bound(order: int, naxes: int, depth: int) -> float:
    """Relative error bound of the coefficients for a halo of ``depth`` voxels.

    ``max|bigimg - scipy| <= spline_error_bound(...) * max|input|`` when ``naxes`` axes
    are filtered with halos of ``depth`` voxels (0 for orders below 2).
    """
    if order < 2 or naxes == 0:
        return 0.0
    total, tails = _impulse(order)
    tail = float(tails[depth + 1]) if depth + 1 < len(tails) else 0.0
    return 4.0 * naxes * total ** (naxes - 1) * tail


@functools.cache
def spline_halo(order: int, naxes: int) -> int:
    """Smallest halo (voxels) keeping the coefficients within :data:`SPLINE_TOL`."""
    if order < 2:
        return 0
    depth = 1
    while spline_error_bound(order, naxes, depth) > SPLINE_TOL:
        depth += 1
    return depth


def _filter_block(block, order, axis, mode, output):
    """One halo-extended block along one axis: bigimg's recursive filter (numba)."""
    coef = filter_block(block, order, axis, mode)
    return coef if coef.dtype == output else coef.astype(output)


def filter_axes(
    x: da.Array,
    order: int,
    axes: Sequence[int],
    mode: str,
    dtype: np.dtype,
    depth: int | None = None,
) -> da.Array:
    """scipy's axis-by-axis spline filter over ``axes``, one halo pass per axis.

    The result keeps the working chunks: along each filtered axis, chunks merged to at
    least the halo (the whole axis when the halo is longer), rechunked once up front so
    that no pass rechunks.
    """
    if depth is None:
        depth = spline_halo(order, len(axes))
    work = list(x.chunks)
    for ax in axes:
        n = x.shape[ax]
        work[ax] = (n,) if depth >= n else merge_small_chunks(x.chunks[ax], depth)
    if tuple(work) != x.chunks:
        x = rechunk(x, tuple(work))
    engine_modes = (_INIT[mode],) * x.ndim
    for ax in axes:
        reach = [0] * x.ndim
        reach[ax] = depth
        # ``output`` is a map_overlap keyword too, so it travels in the partial; a whole
        # axis in one block is filtered by scipy itself (exactly scipy's result)
        whole = len(x.chunks[ax]) == 1
        kernel = functools.partial(ndi.spline_filter1d if whole else _filter_block, output=dtype)
        x = apply_blockwise(
            kernel,
            x,
            reach,
            engine_modes,
            dtype=dtype,
            name="spline_filter1d",
            order=order,
            axis=ax,
            mode=mode,
        )
    return x


def coefficients(
    x: da.Array,
    order: int,
    mode: str,
    cval,
    axes: Sequence[int],
    *,
    depth: int | None = None,
) -> tuple[da.Array, int]:
    """The array scipy's interpolators read with ``prefilter=True``, and its padding.

    Returns ``(coef, npad)``: float64 B-spline coefficients of ``x`` along ``axes``
    (after scipy's 12-voxel pre-padding for ``nearest``/``grid-constant``, so
    ``npad`` is 12 there and 0 otherwise): the array scipy builds with
    ``spline_filter(np.pad(x, npad, ...), order, output=np.float64, mode=mode)``, within
    :data:`SPLINE_TOL`. Its chunks are the filter's working chunks, not ``x``'s.
    """
    npad = 0
    if mode in PREPAD_MODES:
        npad = PREPAD
        width = [(npad, npad) if ax in axes else (0, 0) for ax in range(x.ndim)]
        if mode == "nearest":
            x = da.pad(x, width, mode="edge")
        else:
            fill = np.zeros((), dtype=x.dtype)
            fill[...] = np.asarray(cval)  # as np.pad casts it: -2.0 -> 254 in uint8
            x = da.pad(x, width, mode="constant", constant_values=fill)
    out = np.dtype(np.complex128) if x.dtype.kind == "c" else np.dtype(np.float64)
    return filter_axes(x, order, axes, mode, out, depth), npad
