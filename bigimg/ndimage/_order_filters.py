"""Order-statistic filters (minimum, maximum, median, rank, percentile), blockwise.

Minimum and maximum use scipy's own kernels (separable for box sizes); their 1-D
forms live with the other 1-D filters in :mod:`bigimg.ndimage._filters`. Median, rank
and percentile use bigimg's exact numba selection kernel where it applies (it is
several times faster than scipy's for 3-D neighbourhoods, and bit-identical), and
scipy's kernel otherwise (NaN in a block, complex or bool data, per-axis modes).
Where scipy's algorithm runs along lines and NaN makes it depend on the chunking (box
minima and maxima, rank 0 and -1 of a box, 1-D rank filters), :mod:`bigimg._nonfinite`
computes scipy's result instead.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes, validated_dtype
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._halo import footprint_depth, footprint_geometry, modes_on, run_twin
from bigimg._morphology import rank_filter_block
from bigimg._nonfinite import line_filter, needs_exact, rank1d_array
from bigimg.ndimage._filters import NAN_EXTREMA, filter_twin, footprint_on

__all__ = [
    "maximum_filter",
    "median_filter",
    "minimum_filter",
    "percentile_filter",
    "rank_filter",
]

#: minimum_filter and maximum_filter: every section but the summary and the example.
_EXTREMUM = """
    %(parameters)s
    %(size_foot)s
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``. A footprint other than a box (``size`` or
    all True) takes each voxel from its own window, NaN or not.

    %(nan_extrema)s

    %(example)s
    >>> x = np.random.default_rng(0).integers(0, 99, (6, 7, 8))"""
#: median, rank and percentile: the parameters after their own, and the rest.
_RANK = """
    %(size_foot)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``. The selection runs in bigimg's numba
    kernel (bit-identical to scipy, several times faster on 3-D neighbourhoods);
    blocks holding NaN, complex or bool data fall back to scipy's kernel. With NaN,
    two cases keep a line's history in scipy and are handled apart: rank 0 and the
    last rank of a box are scipy's running minimum/maximum (see
    :func:`minimum_filter`), and a 1-D input goes through scipy's sliding heap, so a
    1-D float input holding NaN is filtered whole, by one task that holds the line
    (one small task per block first looks for NaN).

    %(example)s"""
_docs = DocFiller(NDIMAGE, nan_extrema=NAN_EXTREMA)
_docs = _docs.extend(extremum_sections=_docs.fill(_EXTREMUM), rank_sections=_docs.fill(_RANK))


def _extremum_twin(name: str, doc: str):
    """``minimum_filter`` or ``maximum_filter``: scipy's own kernels; the footprint gives
    the halo."""
    twin, kind = getattr(ndi, name), name[:3]

    def extremum(
        input: ArrayLike,
        size: int | Sequence[int] | None = None,
        footprint: ArrayLike | None = None,
        output: DTypeLike | None = None,
        mode: str | Sequence[str] = "reflect",
        cval: float = 0.0,
        origin: int | Sequence[int] = 0,
        *,
        axes: int | Sequence[int] | None = None,
    ) -> da.Array:
        kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
        depth_of = footprint_on(size, footprint, origin)
        # a box (or an all-True footprint) is scipy's separable running extremum
        separable = footprint is None or np.asarray(footprint, dtype=bool).all()
        lines = kind if separable else None
        return filter_twin(twin, input, output=output, depth_of=depth_of, lines=lines, **kw)

    return _docs.named(extremum, name, doc)


minimum_filter = _extremum_twin(
    "minimum_filter",
    """Blockwise twin of :func:`scipy.ndimage.minimum_filter` (grey erosion by a flat footprint).

    %(extremum_sections)s
    >>> np.array_equal(ndimage.minimum_filter(x, 3).compute(), ndi.minimum_filter(x, 3))
    True
    """,
)

maximum_filter = _extremum_twin(
    "maximum_filter",
    """Blockwise twin of :func:`scipy.ndimage.maximum_filter` (grey dilation by a flat footprint).

    %(extremum_sections)s
    >>> fp = ndi.generate_binary_structure(3, 1)
    >>> y = ndimage.maximum_filter(x, footprint=fp, mode="wrap")
    >>> np.array_equal(y.compute(), ndi.maximum_filter(x, footprint=fp, mode="wrap"))
    True
    """,
)


def _select_kernel(block, *, rank, footprint, mode, cval, origin, output):
    """Rank selection on one halo-extended block: bigimg's numba kernel, else scipy's."""
    if output == block.dtype:
        result = rank_filter_block(block, rank, footprint, mode, cval, origin)
        if result is not None:
            return result
    return ndi.rank_filter(
        block, rank, footprint=footprint, output=output, mode=mode, cval=cval, origin=origin
    )


def _rank_common(twin, input, *, name, rank_of, output, **kw):
    """Shared body of median/rank/percentile: validate, build the full-rank footprint, run.

    ``twin(a, output=None, **kw)`` is the scipy twin with its rank argument bound (for
    validation); ``rank_of(n)`` turns the footprint's size ``n`` into the rank.
    """
    x = as_dask(input)
    dtype = validated_dtype(twin, x, output, kw)
    if x.ndim == 0:  # one value, no neighbours: scipy's own answer on the one block
        return x.map_blocks(functools.partial(twin, output=dtype, **kw), dtype=dtype, name=name)
    axs = normalize_axes(kw["axes"], x.ndim)
    footprint = kw["footprint"]
    shape, origins = footprint_geometry(kw["size"], footprint, kw["origin"], len(axs))
    # the footprint and origins on every axis, placed exactly as scipy's rank filter does
    fp = np.ones(shape, dtype=bool) if footprint is None else np.asarray(footprint).astype(bool)
    full_origin = list(origins)
    if len(axs) < x.ndim:
        fp = np.expand_dims(fp, tuple(ax for ax in range(x.ndim) if ax not in axs))
        full_origin = [0] * x.ndim
        for o, ax in zip(origins, axs):
            full_origin[ax] = o
    fp = np.ascontiguousarray(fp)
    n = int(fp.sum())
    rank = rank_of(n)
    depth = footprint_depth(fp.shape, full_origin)
    modes = modes_on(kw["mode"], axs, x.ndim)
    select = dict(
        rank=rank, footprint=fp, mode=kw["mode"], cval=kw["cval"], origin=tuple(full_origin)
    )
    exact = _exact_rank(twin, kw, x, dtype, axs, fp, full_origin, n, name=name, **select)
    if exact is not None:
        return exact
    return run_twin(_select_kernel, x, depth, modes, dtype=dtype, name=name, **select)


def _exact_rank(twin, kw, x, dtype, axs, fp, full_origin, n, *, name, **select):
    """The rank filters whose scipy algorithm runs along lines, where NaN makes the
    result depend on the chunking; None for the others (each voxel from its window).

    Rank 0 and ``n - 1`` of a box are scipy's separable running minimum/maximum; a 1-D
    input (not much shorter than the footprint) goes through scipy's sliding heap.
    """
    rank, mode, cval = select["rank"], select["mode"], select["cval"]
    if rank in (0, n - 1) and fp.all():
        if not needs_exact(x, axs, mode, cval):
            return None
        if not isinstance(mode, str):  # scipy's expansion: one mode per array axis
            modes = ["constant"] * x.ndim
            for m, ax in zip(mode, axs):
                modes[ax] = m
            mode = modes
        return line_filter(
            "min" if rank == 0 else "max",
            x,
            dtype,
            tuple(range(x.ndim)),
            size=fp.shape,
            origin=tuple(full_origin),
            mode=mode,
            cval=cval,
            kernel=lambda out, cv: functools.partial(
                _select_kernel, output=out, **{**select, "cval": cv}
            ),
            name=name,
        )
    heap = x.ndim == 1 and (x.size - ((fp.size - 1) // 2 - full_origin[0]) >= 0 or x.size == 1)
    if heap and len(x.chunks[0]) > 1 and (x.dtype.kind == "f" or not np.isfinite(cval)):
        fast = functools.partial(_select_kernel, output=dtype, **select)
        whole = functools.partial(twin, output=dtype, **kw)
        modes = [mode] if isinstance(mode, str) else list(mode)
        # the block kernel sees only its block and halo: with wrap the values past an
        # end come from the other end of the line, so scipy runs on the whole line
        wraps = any(m in ("wrap", "grid-wrap") for m in modes)
        # so also when the window is longer than the line (scipy's extension then
        # reflects more than once, which only the whole line reproduces)
        longer = fp.shape[0] > x.shape[0]
        force = wraps or longer or (modes[0] in ("constant", "grid-constant") and np.isnan(cval))
        depth = footprint_depth(fp.shape, full_origin)[0]
        return rank1d_array(x, whole, fast, depth, dtype, name, force=force)
    return None


@_docs
def median_filter(
    input: ArrayLike,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.median_filter`, with a fast exact kernel.

    Parameters
    ----------
    %(input)s
    %(rank_sections)s
    >>> x = np.random.default_rng(0).random((9, 10, 11)).astype(np.float32)
    >>> np.array_equal(ndimage.median_filter(x, 3).compute(), ndi.median_filter(x, 3))
    True
    """
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    twin, rank_of = ndi.median_filter, lambda n: n // 2
    return _rank_common(twin, input, name="median_filter", rank_of=rank_of, output=output, **kw)


def _rank_index(rank: int, n: int) -> int:
    """scipy's rank among ``n`` footprint values (a negative rank counts from the end)."""
    return int(rank) + n if rank < 0 else int(rank)


@_docs
def rank_filter(
    input: ArrayLike,
    rank: int,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.rank_filter`.

    Parameters
    ----------
    %(input)s
    rank : int
        Which value of the sorted neighbourhood to keep: 0 is the smallest, -1 the
        largest.
    %(rank_sections)s
    >>> x = np.random.default_rng(0).integers(0, 9, (9, 10, 11)).astype(np.uint16)
    >>> y = ndimage.rank_filter(x, -2, size=(3, 1, 5))
    >>> np.array_equal(y.compute(), ndi.rank_filter(x, -2, size=(3, 1, 5)))
    True
    """
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    twin = functools.partial(ndi.rank_filter, rank=rank)
    rank_of = functools.partial(_rank_index, rank)
    return _rank_common(twin, input, name="rank_filter", rank_of=rank_of, output=output, **kw)


def _percentile_rank(percentile: float, n: int) -> int:
    """scipy's conversion of a percentile to a rank among ``n`` footprint values."""
    percent = float(percentile)
    if percent < 0.0:
        percent += 100.0
    rank = int(float(n) * percent / 100.0)
    if percent == 100.0:
        rank = n - 1
    return rank


@_docs
def percentile_filter(
    input: ArrayLike,
    percentile: float,
    size: int | Sequence[int] | None = None,
    footprint: ArrayLike | None = None,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.percentile_filter`.

    Parameters
    ----------
    %(input)s
    percentile : scalar
        Percentile of the neighbourhood's values to keep, in [-100, 100]; negative
        values count from 100 (``-20`` is the 80th percentile).
    %(rank_sections)s
    >>> x = np.random.default_rng(0).random((9, 10, 11))
    >>> y = ndimage.percentile_filter(x, 25, size=3)
    >>> np.array_equal(y.compute(), ndi.percentile_filter(x, 25, size=3))
    True
    """
    kw = dict(size=size, footprint=footprint, mode=mode, cval=cval, origin=origin, axes=axes)
    twin = functools.partial(ndi.percentile_filter, percentile=percentile)
    rank_of = functools.partial(_percentile_rank, percentile)
    return _rank_common(twin, input, name="percentile_filter", rank_of=rank_of, output=output, **kw)
