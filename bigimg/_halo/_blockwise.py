"""Blockwise execution with a halo: streamed from a source, spilled, or overlapped."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg._args import PERIODIC_MODES
from bigimg._halo._geometry import merge_small_chunks
from bigimg._halo._spill import should_spill, spill_source
from bigimg._sources import RegionSource, from_source, source_of

__all__ = ["apply_blockwise"]


class _FilteredSource(RegionSource):
    """Regions of ``func(parent)``: read the region plus its halo, filter, crop."""

    def __init__(
        self, parent: RegionSource, func: Callable, depth: Sequence[int], dtype: np.dtype
    ) -> None:
        self.parent = parent
        self.func = func
        self.depth = tuple(int(d) for d in depth)
        self.shape = parent.shape
        self.dtype = np.dtype(dtype)
        self.barriers = parent.barriers
        self._token = da.core.tokenize("bigimg-filtered", parent, func, self.depth, self.dtype)

    def _read(self, region):
        ext = tuple(
            slice(max(0, r.start - d), min(n, r.stop + d))
            for r, d, n in zip(region, self.depth, self.shape)
        )
        block = self.func(self.parent[ext])
        crop = tuple(slice(r.start - e.start, r.stop - e.start) for r, e in zip(region, ext))
        return np.asarray(block[crop], dtype=self.dtype)


def apply_blockwise(
    func: Callable[..., np.ndarray],
    x: da.Array,
    depth: Sequence[int],
    modes: Sequence[str],
    *,
    dtype: np.dtype,
    name: str | None = None,
    **kwargs: Any,
) -> da.Array:
    """Run ``func(block, **kwargs)`` on every block with a halo of ``depth`` voxels.

    Parameters
    ----------
    func : callable
        In-memory kernel; must return an array of the block's shape and give, on any
        sub-array, the same values as on the whole array wherever its reach stays
        inside the sub-array. It is called with the ``mode`` the user asked for, which
        applies at the volume's outer faces.
    x : dask array
    depth : sequence of int
        Reach of the kernel per axis (see :func:`footprint_depth`).
    modes : sequence of str
        Boundary mode per axis; ``wrap`` axes get a periodic halo.
    dtype : numpy dtype
        Output dtype.
    name : str, optional
        Prefix of the task names.
    **kwargs
        Passed to ``func``. Keep them small: they are pickled into the graph.

    Returns
    -------
    dask array with ``x``'s chunks.
    """
    ndim = x.ndim
    depth = [int(d) for d in depth]
    if len(depth) != ndim or len(modes) != ndim:
        raise ValueError(f"depth and modes need {ndim} entries; got {depth}, {modes}.")
    dtype = np.dtype(dtype)
    meta = np.empty((0,) * ndim, dtype=dtype)
    if x.size == 0:
        return da.zeros(x.shape, chunks=x.chunks, dtype=dtype)
    source = source_of(x)  # also found through thresholds and other element-wise steps
    periodic = any(d and m in PERIODIC_MODES for d, m in zip(depth, modes))
    if source is None and not periodic and any(d and len(c) > 1 for d, c in zip(depth, x.chunks)):
        if should_spill(x):  # the overlap path's memory grows with x
            source = spill_source(x)
    if source is not None and not periodic and source.shape == x.shape:
        kernel = functools.partial(func, **kwargs) if kwargs else func
        return from_source(_FilteredSource(source, kernel, depth, dtype), x.chunks, name)
    if name is not None:
        name = f"{name}-{da.core.tokenize(func, x, depth, modes, dtype, kwargs)}"

    work_chunks = list(x.chunks)
    for ax in range(ndim):
        d, n, chunks = depth[ax], x.shape[ax], x.chunks[ax]
        if d == 0:
            continue
        if len(chunks) == 1:
            depth[ax] = 0  # whole axis in one block: the kernel handles both faces
        elif d >= n:
            work_chunks[ax] = (n,)  # the halo would be the whole axis anyway
            depth[ax] = 0
        else:
            work_chunks[ax] = merge_small_chunks(chunks, d)
            if len(work_chunks[ax]) == 1:
                depth[ax] = 0

    work = x.rechunk(tuple(work_chunks)) if tuple(work_chunks) != x.chunks else x
    if not any(depth):
        y = work.map_blocks(func, dtype=dtype, meta=meta, name=name, **kwargs)
    else:
        boundary = {
            ax: ("periodic" if modes[ax] in PERIODIC_MODES else "none") for ax in range(ndim)
        }
        y = work.map_overlap(
            func,
            depth={ax: depth[ax] for ax in range(ndim)},
            boundary=boundary,
            trim=True,
            allow_rechunk=False,
            dtype=dtype,
            meta=meta,
            name=name,
            **kwargs,
        )
    if y.chunks != x.chunks:
        y = y.rechunk(x.chunks)
    return y
