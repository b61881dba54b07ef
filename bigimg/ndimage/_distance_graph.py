"""The cross-chunk engine of the distance transforms: stage plans and dask graphs.

Two exact schemes, both with a bounded amount of data per task:

Separable stages (Euclidean distances and features, city-block and chessboard distances)
    The transforms are separable: pass ``d`` along axis ``d`` only needs, for every
    line along ``d``, the result of passes ``0..d-1`` on that whole line. Axes are
    grouped into *stages* of consecutive axes. Before a stage the state is rechunked
    so that the stage's axes are each one chunk ("pencils" or "slabs") and the other
    axes are cut small enough that a block holds at most ``limit`` voxels; the block
    kernel then runs the stage's passes in axis order. ``limit`` is the larger of the
    input's largest chunk and its longest axis, so no task holds more than that many
    voxels (plus the kernel's line buffers). Each stage boundary is one rechunk
    (an all-to-all exchange) of the state.

Raster chain (scipy's chamfer, any structure, with features)
    scipy's ``distance_transform_cdt`` is a forward and a backward raster scan whose
    result depends on the scan order. Slabs that hold whole planes (all axes but
    axis 0) are scanned in order, each seeded with the last plane of the previous
    slab; then backwards, seeded with the first plane of the next slab. This is
    exactly scipy's computation, run one slab at a time, with no parallelism.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg.ndimage import _distance_kernels as K

__all__ = [
    "chamfer_chain",
    "chamfer_distances",
    "edt_distances",
    "features_to_distances",
    "ft_features",
    "stage_chunks",
    "stage_plan",
]

#: BIG in the integer kernels: "no background reached".
_INT_BIG = int(K.BIG)

#: Smallest per-task budget (voxels). Tasks smaller than this cost more in scheduling
#: than they save in memory (4096 float64 voxels are 32 KiB).
MIN_TASK_VOXELS = 4096


# --------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------
def task_limit(shape: Sequence[int], chunks: Sequence[Sequence[int]]) -> int:
    """Voxels one task may hold: the input's largest chunk or longest axis (>= 4096)."""
    largest_chunk = math.prod(max(c) for c in chunks)
    return max(largest_chunk, max(shape), MIN_TASK_VOXELS)


def stage_plan(shape: Sequence[int], limit: int) -> list[tuple[int, ...]]:
    """Group axes ``0..ndim-1`` into consecutive stages whose full extent fits ``limit``.

    >>> stage_plan((384, 384, 384), 128**3)
    [(0, 1), (2,)]
    >>> stage_plan((19, 23, 29), 19 * 23 * 29)
    [(0, 1, 2)]
    """
    stages: list[tuple[int, ...]] = []
    current: list[int] = []
    extent = 1
    for ax, n in enumerate(shape):
        if current and extent * n > limit:
            stages.append(tuple(current))
            current, extent = [], 1
        current.append(ax)
        extent *= n
    stages.append(tuple(current))
    return stages


def _split(chunks: Sequence[int], size: int) -> tuple[int, ...]:
    """Cut every chunk into near-equal pieces of at most ``size`` (keeps the boundaries)."""
    out: list[int] = []
    for c in chunks:
        pieces = -(-c // size)
        base, extra = divmod(c, pieces)
        out.extend(base + 1 if i < extra else base for i in range(pieces))
    return tuple(out)


def stage_chunks(
    shape: Sequence[int], chunks: Sequence[Sequence[int]], axes: Sequence[int], limit: int
) -> tuple[tuple[int, ...], ...]:
    """Chunks for a stage: ``axes`` whole, the others cut from ``chunks`` to fit ``limit``.

    >>> stage_chunks((8, 6), ((4, 4), (3, 3)), (0,), 16)
    ((8,), (2, 1, 2, 1))
    """
    ndim = len(shape)
    sizes = [shape[ax] if ax in axes else max(chunks[ax]) for ax in range(ndim)]
    thin = [ax for ax in range(ndim) if ax not in axes]
    while math.prod(sizes) > limit:
        ax = max(thin, key=lambda a: sizes[a])
        if sizes[ax] == 1:
            break
        sizes[ax] = -(-sizes[ax] // 2)
    return tuple(
        (shape[ax],) if ax in axes else _split(chunks[ax], sizes[ax]) for ax in range(ndim)
    )


def rechunk(x: da.Array, chunks: tuple) -> da.Array:
    """``x.rechunk(chunks)`` whose intermediate blocks are no bigger than its ends.

    dask may rechunk in several steps through intermediate chunks as large as its
    ``array.chunk-size`` setting; capping them keeps every task within the budget.
    """
    if tuple(chunks) == x.chunks:
        return x
    biggest = max(math.prod(max(c) for c in x.chunks), math.prod(max(c) for c in chunks))
    return x.rechunk(chunks, block_size_limit=biggest * x.dtype.itemsize)


def _line_view(shape: Sequence[int], ax: int) -> tuple[int, int, int]:
    """``shape`` seen as (pre, n, post) around axis ``ax``."""
    return math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1 :])


def _origin(block_info, lead: int = 0, which=None) -> tuple[int, ...]:
    """Global start of a block along its spatial axes (skipping ``lead`` axes)."""
    return tuple(start for start, _ in block_info[which]["array-location"][lead:])


# --------------------------------------------------------------------------------------
# block kernels of the separable stages
# --------------------------------------------------------------------------------------
def _edt_stage(block, axes, sampling, first, last, fill, block_info=None):
    """Run the Euclidean passes of one stage on a block (squared distances)."""
    shape = block.shape
    if first:
        g = np.empty(shape, np.float64)
        n0 = shape[0]
        K.edt_first_pass(block.reshape(n0, -1), sampling[0], g.reshape(n0, -1))
        todo = axes[1:]
    else:
        g = block
        todo = axes
    for ax in todo:
        view = _line_view(shape, ax)
        out = np.empty(shape, np.float64)
        K.edt_envelope_pass(g.reshape(view), sampling[ax], out.reshape(view))
        g = out
    if not last:
        return g
    dist = np.sqrt(g, out=g)
    missing = np.isinf(dist)
    if missing.any():
        dist[missing] = _no_background(shape, _origin(block_info), sampling, fill)[missing]
    return dist


def _no_background(shape, origin, sampling, fill):
    """What scipy returns when the input has no background voxel at all."""
    if fill is not None:
        return np.full(shape, fill, np.float64)
    # distance_transform_edt: every feature is (-1, 0, ..., 0)
    acc = np.zeros(shape, np.float64)
    for ax, n in enumerate(shape):
        coord = np.arange(origin[ax], origin[ax] + n, dtype=np.int64)
        feature = -1 if ax == 0 else 0
        t = (feature - coord).astype(np.float64) * sampling[ax]
        t = t * t
        acc += t.reshape((n,) + (1,) * (len(shape) - ax - 1))
    return np.sqrt(acc)


def _ft_stage(block, axes, sampling, first, last, block_info=None):
    """Run the feature-transform passes of one stage; returns (axes[-1]+1,) + block."""
    lead = 0 if first else 1
    shape = block.shape[lead:]
    origin = _origin(block_info, lead)
    s = np.asarray(sampling, np.float64)
    if first:
        feat = np.empty((1,) + shape, np.int32)
        n0 = shape[0]
        K.ft_first_pass(block.reshape(n0, -1), s[0], feat.reshape(n0, -1))
        todo = axes[1:]
    else:
        feat = block
        todo = axes
    for d in todo:
        pre, n, post = _line_view(shape, d)
        local = np.indices(shape[:d], dtype=np.int64).reshape(d, -1).T
        coords = np.ascontiguousarray(local + np.asarray(origin[:d], np.int64))
        out = np.empty((d + 1,) + shape, np.int32)
        K.ft_envelope_pass(
            np.ascontiguousarray(feat).reshape(d, pre, n, post),
            coords,
            s,
            out.reshape(d + 1, pre, n, post),
        )
        feat = out
    return feat


def _city_stage(block, axes, kind, first, last, fill):
    """Run the city-block or chessboard passes of one stage (int32 state)."""
    shape = block.shape
    if first:
        g = np.empty(shape, np.int32)
        n0 = shape[0]
        K.city_first_pass(block.reshape(n0, -1), g.reshape(n0, -1))
        todo = axes[1:]
    else:
        g = block
        todo = axes
    kernel = K.taxicab_pass if kind == "taxicab" else K.chessboard_pass
    for ax in todo:
        view = _line_view(shape, ax)
        out = np.empty(shape, np.int32)
        kernel(g.reshape(view), out.reshape(view))
        g = out
    if not last:
        return g
    dtype = np.uint32 if fill is not None else np.int32
    result = g.astype(dtype)
    result[g >= _INT_BIG] = fill if fill is not None else -1
    return result


# --------------------------------------------------------------------------------------
# graphs of the separable stages
# --------------------------------------------------------------------------------------
def _run_stages(mask, stage_fn, out_dtype, lead_of, **kwargs):
    """Rechunk ``mask`` stage by stage and apply ``stage_fn`` to every block."""
    shape, chunks = mask.shape, mask.chunks
    limit = task_limit(shape, chunks)
    stages = stage_plan(shape, limit)
    state = mask
    for i, axes in enumerate(stages):
        spatial = stage_chunks(shape, chunks, axes, limit)
        lead_in = lead_of(i - 1) if i else 0
        lead_out = lead_of(i)
        target = (((lead_in,),) if lead_in else ()) + spatial
        state = rechunk(state, target)
        out_chunks = (((lead_out,),) if lead_out else ()) + spatial
        kw = dict(kwargs)
        kw.update(axes=axes, first=i == 0, last=i == len(stages) - 1)
        drop = lead_in and not lead_out
        state = da.map_blocks(
            stage_fn,
            state,
            chunks=out_chunks,
            dtype=out_dtype(i == len(stages) - 1),
            new_axis=[0] if lead_out and not lead_in else None,
            drop_axis=[0] if drop else None,
            meta=np.empty((0,) * len(out_chunks), out_dtype(i == len(stages) - 1)),
            **kw,
        )
    lead = lead_of(len(stages) - 1)
    return rechunk(state, (((lead,),) if lead else ()) + chunks)


def edt_distances(mask: da.Array, sampling: Sequence[float], fill=None) -> da.Array:
    """Exact Euclidean distances of a boolean dask array (True = foreground)."""
    return _run_stages(
        mask,
        _edt_stage,
        lambda last: np.dtype(np.float64),
        lambda i: 0,
        sampling=tuple(float(s) for s in sampling),
        fill=fill,
    )


def ft_features(mask: da.Array, sampling: Sequence[float]) -> da.Array:
    """scipy's Euclidean feature transform: int32 array of shape (ndim,) + mask.shape."""
    limit = task_limit(mask.shape, mask.chunks)
    stages = stage_plan(mask.shape, limit)
    return _run_stages(
        mask,
        _ft_stage,
        lambda last: np.dtype(np.int32),
        lambda i: stages[i][-1] + 1,
        sampling=tuple(float(s) for s in sampling),
    )


def chamfer_distances(mask: da.Array, kind: str, fill=None) -> da.Array:
    """Exact city-block or chessboard distances (int32, -1 or ``fill`` if no background)."""
    out = np.dtype(np.uint32 if fill is not None else np.int32)
    return _run_stages(
        mask,
        _city_stage,
        lambda last: out if last else np.dtype(np.int32),
        lambda i: 0,
        kind=kind,
        fill=fill,
    )


def _features_to_distances(feat, sampling, fill, block_info=None):
    shape = feat.shape[1:]
    origin = _origin(block_info, 1, which=0)
    acc = np.zeros(shape, np.float64)
    for ax, n in enumerate(shape):
        coord = np.arange(origin[ax], origin[ax] + n, dtype=np.int32)
        t = (feat[ax] - coord.reshape((n,) + (1,) * (len(shape) - ax - 1))).astype(np.float64)
        if sampling is not None:
            t *= sampling[ax]
        np.multiply(t, t, t)
        acc += t
    dist = np.sqrt(acc)
    if fill is not None:
        dist[feat[0] < 0] = fill
    return dist


def features_to_distances(features: da.Array, sampling, fill=None) -> da.Array:
    """Distances from a feature transform, computed as scipy computes them."""
    return features.map_blocks(
        _features_to_distances,
        drop_axis=0,
        dtype=np.float64,
        meta=np.empty((0,) * (features.ndim - 1), np.float64),
        sampling=None if sampling is None else tuple(float(s) for s in sampling),
        fill=fill,
    )


# --------------------------------------------------------------------------------------
# raster chain (scipy's chamfer)
# --------------------------------------------------------------------------------------
def _chamfer_forward(mask, prev, offsets, start):
    """Forward scan of one slab; ``prev`` is the previous slab's (dt, ft) or None."""
    n = mask.shape[0]
    extra = 0 if prev is None else 1
    dt = np.empty((n + extra,) + mask.shape[1:], np.int32)
    ft = np.empty(dt.shape, np.int64)
    if extra:
        dt[0] = prev[0][-1]
        ft[0] = prev[1][-1]
    dt[extra:] = np.where(mask, -1, 0)
    plane = math.prod(mask.shape[1:])
    ft[extra:] = np.arange(start * plane, (start + n) * plane, dtype=np.int64).reshape(mask.shape)
    K.chamfer_pass(dt, ft, offsets, extra, n + extra, False)
    return dt[extra:], ft[extra:]


def _chamfer_backward(fwd, nxt, offsets):
    """Backward scan of one slab; ``nxt`` is the next slab's backward (dt, ft) or None."""
    n = fwd[0].shape[0]
    extra = 0 if nxt is None else 1
    dt = np.empty((n + extra,) + fwd[0].shape[1:], np.int32)
    ft = np.empty(dt.shape, np.int64)
    dt[:n] = fwd[0]
    ft[:n] = fwd[1]
    if extra:
        dt[n] = nxt[0][0]
        ft[n] = nxt[1][0]
    K.chamfer_pass(dt, ft, offsets, 0, n, True)
    return dt[:n], ft[:n]


def _take_distances(pair):
    return pair[0]


def _take_features(pair, shape):
    coords = np.unravel_index(pair[1], shape)
    return np.stack(coords).astype(np.int32)


def chamfer_chain(mask: da.Array, offsets: np.ndarray):
    """scipy's two-pass chamfer of a boolean dask array, one slab of planes at a time.

    Returns ``(distances, features)`` dask arrays with ``mask``'s chunks: int32
    distances (-1 where nothing was reached) and int32 features (ndim,) + shape.
    """
    shape, chunks = mask.shape, mask.chunks
    plane = math.prod(shape[1:])
    thickness = max(1, task_limit(shape, chunks) // max(plane, 1))
    slab_chunks = (_split(chunks[0], thickness),) + tuple((n,) for n in shape[1:])
    slabs = rechunk(mask, slab_chunks)
    token = tokenize(slabs, offsets)
    fwd, bwd = f"cdt-forward-{token}", f"cdt-backward-{token}"
    dname, fname = f"cdt-distances-{token}", f"cdt-features-{token}"
    zeros = (0,) * (len(shape) - 1)
    starts = np.concatenate([[0], np.cumsum(slab_chunks[0])[:-1]]).tolist()
    nslab = len(slab_chunks[0])
    dsk = {}
    for k in range(nslab):
        prev = (fwd, k - 1) if k else None
        dsk[(fwd, k)] = (_chamfer_forward, (slabs.name, k) + zeros, prev, offsets, starts[k])
    for k in reversed(range(nslab)):
        nxt = (bwd, k + 1) if k < nslab - 1 else None
        dsk[(bwd, k)] = (_chamfer_backward, (fwd, k), nxt, offsets)
        dsk[(dname, k) + zeros] = (_take_distances, (bwd, k))
        dsk[(fname, 0, k) + zeros] = (_take_features, (bwd, k), shape)
    chain = {key: task for key, task in dsk.items() if key[0] in (fwd, bwd)}
    layers = {
        fwd: chain,
        dname: {key: task for key, task in dsk.items() if key[0] == dname},
        fname: {key: task for key, task in dsk.items() if key[0] == fname},
    }
    deps = {fwd: {slabs.name}, dname: {fwd}, fname: {fwd}}
    layers.update(slabs.dask.layers)
    deps.update(slabs.dask.dependencies)
    dist = da.Array(HighLevelGraph(layers, deps), dname, chunks=slab_chunks, dtype=np.int32)
    feat = da.Array(
        HighLevelGraph(layers, deps), fname, chunks=((len(shape),),) + slab_chunks, dtype=np.int32
    )
    return rechunk(dist, chunks), rechunk(feat, ((len(shape),),) + chunks)
