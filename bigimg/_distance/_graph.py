"""The cross-chunk engine of the separable distance transforms: plans and dask graphs.

The Euclidean distance and feature transforms, and the city-block and chessboard
distances, are separable: pass ``d`` along axis ``d`` needs, for every line along
``d``, only the result of passes ``0..d-1`` on that whole line. bigimg runs the passes
in scipy's order (axis 0 first) in two kinds of steps:

Axis 0, in the input's chunks (boundary exchange)
    The first pass finds, for every voxel, the nearest background voxel in its column
    along axis 0. A block needs from the other blocks of its column only the nearest
    background above and below it: a cheap summary pass records each block's first
    and last background row per column (two small 2-d arrays), a prefix scan along
    the column of blocks combines them, and each block then runs its pass with no
    halo and no rechunk. The result is stored compactly as an index (int16 when axis
    0 is shorter than 32768, else int32).

Axes 1.., in stages of whole lines ("slabs" or "pencils")
    The remaining axes are grouped into stages of consecutive axes whose whole extent
    fits the task budget (``(1, 2)`` for a 384³ volume in 128³ chunks: whole planes).
    Before a stage the state is rechunked so that the stage's axes are whole and the
    other axes are cut to fit, axis 0 first (blocks a few planes thick); the block
    kernel then runs the stage's passes in axis order.

The task budget is ``max(largest input chunk, longest axis, MIN_TASK_VOXELS)``
voxels (the floor is the ``dask.config`` key ``bigimg.distance-min-task-voxels``); no
block of any stage is larger.

The exchanges (into each stage, and back into the input's chunks at the end) are
all-to-all within a layer: the thickest input chunk along axis 0, the whole plane
wide. No output chunk of a layer is complete before every pass has run over the whole
layer, so in-memory rechunks let the scheduler hold a layer of the state (8 bytes per
voxel for distances) or more: 2 GiB for 64 x 2048² in 64³ chunks, 6.7 GB for a layer
of 2560² planes in 128³ chunks. When a layer is that big
(:func:`~bigimg._distance._exchange.spills`), :func:`run_stages` makes every
exchange through temporary files instead
(:func:`~bigimg._distance._exchange.spill_rechunk`): a block of one stage writes
its pieces into the files of the next stage's blocks, which read and delete them.
Then no task holds more than its block, and memory beyond the running tasks is
the column summaries (16 bytes per column per block) and tokens. The layers are
chained (a layer's first stage waits for the layer before to have written its last
exchange), so the files hold about two layers of the state, plus the axis-0 result of
the whole volume (2 bytes per voxel), which the axis-0 pass produces column by column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from bigimg._distance import _kernels as K
from bigimg._distance._exchange import chain_layers, layers_of, spill_rechunk, spills
from bigimg._scratch import Scratch

__all__ = [
    "MIN_TASK_VOXELS",
    "chamfer_distances",
    "edt_distances",
    "exchange",
    "features_to_distances",
    "ft_features",
    "nearest_along_axis0",
    "rechunk",
    "run_stages",
    "split_chunks",
    "stage_chunks",
    "stage_plan",
    "task_limit",
]

#: Smallest per-task budget (voxels). Tasks smaller than this cost more in scheduling
#: than they save in memory (4096 float64 voxels are 32 KiB). Default of the
#: ``dask.config`` key ``bigimg.distance-min-task-voxels``.
MIN_TASK_VOXELS = 4096


# --------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------
def task_limit(shape: Sequence[int], chunks: Sequence[Sequence[int]]) -> int:
    """Voxels one task may hold: the input's largest chunk or longest axis (>= 4096).

    The floor is ``dask.config``'s ``bigimg.distance-min-task-voxels`` (default
    :data:`MIN_TASK_VOXELS`).
    """
    largest_chunk = math.prod(max(c) for c in chunks)
    floor = int(dask.config.get("bigimg.distance-min-task-voxels", MIN_TASK_VOXELS))
    return max(largest_chunk, max(shape), floor)


def stage_plan(shape: Sequence[int], limit: int) -> list[tuple[int, ...]]:
    """Axis 0 alone, then the other axes in consecutive groups whose extent fits ``limit``.

    >>> stage_plan((384, 384, 384), 128**3)
    [(0,), (1, 2)]
    >>> stage_plan((4096, 4096, 4096), 128**3)
    [(0,), (1,), (2,)]
    """
    stages: list[tuple[int, ...]] = [(0,)]
    current: list[int] = []
    extent = 1
    for ax in range(1, len(shape)):
        if current and extent * shape[ax] > limit:
            stages.append(tuple(current))
            current, extent = [], 1
        current.append(ax)
        extent *= shape[ax]
    if current:
        stages.append(tuple(current))
    return stages


def split_chunks(chunks: Sequence[int], size: int) -> tuple[int, ...]:
    """Cut every chunk into near-equal pieces of at most ``size`` (keeps the boundaries).

    >>> split_chunks((5, 3), 2)
    (2, 2, 1, 2, 1)
    """
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

    Axis 0 is cut first (down to single planes if need be), then the longest of the
    other axes is halved: the thinner the blocks along axis 0, the smaller the group
    of blocks an exchange couples (a band of planes) and the bigger its pieces.

    >>> stage_chunks((8, 6), ((4, 4), (3, 3)), (1,), 16)
    ((2, 2, 2, 2), (6,))
    >>> stage_chunks((4, 32, 32), ((4,), (8,) * 4, (8,) * 4), (1,), 512)
    ((2, 2), (32,), (8, 8, 8, 8))
    """
    ndim = len(shape)
    sizes = [shape[ax] if ax in axes else max(chunks[ax]) for ax in range(ndim)]
    if 0 not in axes:
        sizes[0] = max(1, min(sizes[0], limit // max(1, math.prod(sizes[1:]))))
    thin = [ax for ax in range(1, ndim) if ax not in axes]
    while thin and math.prod(sizes) > limit:
        ax = max(thin, key=lambda a: sizes[a])
        if sizes[ax] == 1:
            break
        sizes[ax] = -(-sizes[ax] // 2)
    return tuple(
        (shape[ax],) if ax in axes else split_chunks(chunks[ax], sizes[ax]) for ax in range(ndim)
    )


def rechunk(x: da.Array, chunks: tuple) -> da.Array:
    """``x.rechunk(chunks)`` whose intermediate blocks are no bigger than its ends.

    dask may rechunk in several steps through intermediate chunks as large as its
    ``array.chunk-size`` setting; capping them keeps every task within the budget.
    """
    chunks = tuple(tuple(c) for c in chunks)
    if chunks == x.chunks:
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
# axis 0: nearest background along the column, in the input's chunks
# --------------------------------------------------------------------------------------
def _column_ends(mask, block_info=None):
    """First and last background row (global) of every column of a block: (2, ...)."""
    offset = block_info[0]["array-location"][0][0]
    n = mask.shape[0]
    out = np.empty((2,) + mask.shape[1:], np.int64)
    K.column_ends(mask.reshape(n, -1), offset, out.reshape(2, -1))
    return out


def _column_bounds(ends):
    """For each block of a column: nearest background above it and below it (2k, ...)."""
    first, last = ends[0::2], ends[1::2]
    bounds = np.empty_like(ends)
    above = np.maximum.accumulate(last, axis=0)
    below = np.minimum.accumulate(first[::-1], axis=0)[::-1]
    bounds[0::2] = -1
    bounds[2::2] = above[:-1]
    bounds[1::2] = K.NONE_BELOW
    bounds[1:-1:2] = below[1:]
    return bounds


def _nearest_block(mask, bounds, start, starts, later, out_dtype):
    """Axis-0 pass of one block; ``bounds`` holds the column's (2 * blocks, ...) bounds."""
    offset = int(start[0])
    k = starts.index(offset)
    n = mask.shape[0]
    out = np.empty(mask.shape, out_dtype)
    K.nearest_axis0(
        mask.reshape(n, -1),
        np.ascontiguousarray(bounds[2 * k]).reshape(-1),
        np.ascontiguousarray(bounds[2 * k + 1]).reshape(-1),
        offset,
        later,
        out.reshape(n, -1),
    )
    return out


def nearest_along_axis0(mask: da.Array, later: bool = False) -> da.Array:
    """Index along axis 0 of each voxel's nearest background in its column (-1: none).

    Same chunks as ``mask``; int16 if axis 0 is shorter than 32768, else int32. Of two
    equally near background voxels the earlier one is kept (scipy's first pass), or
    the later one if ``later``.
    """
    if mask.ndim == 1:
        return nearest_along_axis0(mask[:, None], later)[:, 0]
    ndim = mask.ndim
    dtype = np.dtype(np.int16 if mask.shape[0] < 2**15 else np.int32)
    nz = len(mask.chunks[0])
    starts = tuple(int(v) for v in np.concatenate([[0], np.cumsum(mask.chunks[0])[:-1]]))
    ends = mask.map_blocks(_column_ends, chunks=((2,) * nz,) + mask.chunks[1:], dtype=np.int64)
    columns = rechunk(ends, ((2 * nz,),) + mask.chunks[1:])
    bounds = columns.map_blocks(_column_bounds, dtype=np.int64)
    index = tuple(range(ndim))
    return da.blockwise(
        _nearest_block,
        index,
        mask,
        index,
        bounds,
        (ndim,) + index[1:],
        da.from_array(np.array(starts), chunks=1),
        (0,),
        concatenate=True,
        align_arrays=False,
        dtype=dtype,
        meta=np.empty((0,) * ndim, dtype),
        starts=starts,
        later=later,
        out_dtype=dtype,
    )


# --------------------------------------------------------------------------------------
# block kernels of the stages along axes 1..
# --------------------------------------------------------------------------------------
def _edt_stage(block, axes, sampling, first, last, fill, block_info=None):
    """Run the Euclidean passes of one stage on a block (squared distances)."""
    shape = block.shape
    origin = _origin(block_info)
    if first:  # the block holds nearest-background indices along axis 0
        g = np.empty(shape, np.float64)
        n0 = shape[0]
        K.nearest_to_squared(block.reshape(n0, -1), origin[0], sampling[0], g.reshape(n0, -1))
    else:
        g = block
    for ax in axes:
        view = _line_view(shape, ax)
        out = np.empty(shape, np.float64)
        K.edt_envelope_pass(g.reshape(view), sampling[ax], out.reshape(view))
        g = out
    if not last:
        return g
    dist = np.sqrt(g, out=g) if g is not block else np.sqrt(g)
    missing = np.isinf(dist)
    if missing.any():
        dist[missing] = _no_background(shape, origin, sampling, fill)[missing]
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
    origin = _origin(block_info, lead, which=0)
    s = np.asarray(sampling, np.float64)
    feat = block[None].astype(np.int32) if first else block
    for d in axes:
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


def _city_stage(block, axes, kind, first, last, fill, block_info=None):
    """Run the city-block or chessboard passes of one stage (int32 state)."""
    shape = block.shape
    if first:
        g = np.empty(shape, np.int32)
        n0 = shape[0]
        K.nearest_to_steps(block.reshape(n0, -1), _origin(block_info)[0], g.reshape(n0, -1))
    else:
        g = block
    kernel = K.taxicab_pass if kind == "taxicab" else K.chessboard_pass
    for ax in axes:
        view = _line_view(shape, ax)
        out = np.empty(shape, np.int32)
        kernel(g.reshape(view), out.reshape(view))
        g = out
    if not last:
        return g
    dtype = np.uint32 if fill is not None else np.int32
    result = g.astype(dtype)
    result[g >= K.BIG] = fill if fill is not None else -1
    return result


# --------------------------------------------------------------------------------------
# graphs
# --------------------------------------------------------------------------------------
def _with_lead(lead: int, chunks: tuple) -> tuple:
    return (((lead,),) if lead else ()) + tuple(chunks)


def _guarded_stage(block, stage_fn, spill, block_info=None, **kwargs):
    """``stage_fn`` on a block; if it fails, the transform's spill directory goes too."""
    try:
        return stage_fn(block, block_info=block_info, **kwargs)
    except BaseException:
        spill.remove()
        raise


def run_stages(mask, stage_fn, dtypes, leads, *, later=False, temp_dir=None, **kwargs):
    """Axis 0 in place, then rechunk stage by stage and apply ``stage_fn`` to each block.

    ``stage_fn(block, axes, first, last, **kwargs)`` runs the passes of ``axes``; the
    first stage receives the axis-0 nearest-background indices (ties to the later
    voxel if ``later``). ``dtypes(last)`` is a stage's output dtype; ``leads(axes)`` the
    length of a leading component axis of its output (0: none).

    When :func:`~bigimg._distance._exchange.spills` says so, every exchange
    (before each stage, and back to ``mask``'s chunks at the end) goes through one
    fresh :class:`~bigimg._scratch.Scratch` under ``temp_dir``, which
    a failing stage task removes, and the layers are chained
    (:func:`~bigimg._distance._exchange.chain_layers`).
    """
    shape, chunks = mask.shape, mask.chunks
    limit = task_limit(shape, chunks)
    stages = stage_plan(shape, limit)[1:] or [()]
    state = nearest_along_axis0(mask, later)
    # the state entering each exchange: its leading axis, dtype and spatial chunks
    lead = [0] + [leads(axes) for axes in stages]
    dtype = [state.dtype] + [np.dtype(dtypes(i == len(stages) - 1)) for i in range(len(stages))]
    spatial = [chunks] + [stage_chunks(shape, chunks, a, limit) if a else chunks for a in stages]
    per_voxel = max(max(n, 1) * d.itemsize for n, d in zip(lead, dtype, strict=True))
    layer = max(chunks[0]) * math.prod(shape[1:])
    spill = Scratch(temp_dir, "exchange") if spills(layer * per_voxel, limit) else None
    n = len(stages)
    # chain the layers if both the first and the last exchange go through disk
    chain = spill is not None and spatial[1] != chunks and spatial[n] != chunks
    gate = f"exchange-gate-{tokenize(state.name, spill.path)}" if chain else None
    for i, axes in enumerate(stages):
        after = None
        if i == 0 and chain:  # stage 0 of layer k waits for layer k - 1
            after = [(gate, k - 1) if k else None for k in layers_of(chunks[0], spatial[1][0])]
        state = exchange(state, _with_lead(lead[i], spatial[i + 1]), spill, f"x{i}", after)
        out_chunks = _with_lead(lead[i + 1], spatial[i + 1])
        guard = {} if spill is None else {"stage_fn": stage_fn, "spill": spill}
        state = da.map_blocks(
            stage_fn if spill is None else _guarded_stage,
            state,
            chunks=out_chunks,
            dtype=dtype[i + 1],
            new_axis=[0] if lead[i + 1] and not lead[i] else None,
            meta=np.empty((0,) * len(out_chunks), dtype[i + 1]),
            axes=axes,
            first=i == 0,
            last=i == n - 1,
            **guard,
            **kwargs,
        )
    out = exchange(state, _with_lead(lead[n], chunks), spill, f"x{n}")
    if not chain:
        return out
    return chain_layers(out, mask, gate, layers_of(chunks[0], spatial[n][0]), lead[n] > 0)


def exchange(x: da.Array, chunks: tuple, spill=None, tag: str = "x", after=None) -> da.Array:
    """:func:`rechunk` in memory, or through files in ``spill`` if it is given."""
    if spill is None:
        return rechunk(x, chunks)
    if tuple(map(tuple, chunks)) == x.chunks:
        return x
    return spill_rechunk(x, chunks, spill, tag, after)


def edt_distances(mask: da.Array, sampling: Sequence[float], fill=None, temp_dir=None) -> da.Array:
    """Exact Euclidean distances of a boolean dask array (True = foreground).

    ``fill`` replaces the result where there is no background at all (None: scipy's
    ``distance_transform_edt`` convention). Big exchanges spill under ``temp_dir``.
    """
    return run_stages(
        mask,
        _edt_stage,
        lambda last: np.float64,
        lambda axes: 0,
        temp_dir=temp_dir,
        sampling=tuple(float(s) for s in sampling),
        fill=fill,
    )


def ft_features(mask: da.Array, sampling: Sequence[float], temp_dir=None) -> da.Array:
    """scipy's Euclidean feature transform: int32 array of shape (ndim,) + mask.shape."""
    return run_stages(
        mask,
        _ft_stage,
        lambda last: np.int32,
        lambda axes: (axes[-1] + 1) if axes else 1,
        temp_dir=temp_dir,
        sampling=tuple(float(s) for s in sampling),
    )


def chamfer_distances(mask: da.Array, kind: str, fill=None, temp_dir=None) -> da.Array:
    """Exact city-block or chessboard distances (int32 with -1, or uint32 with ``fill``,
    where there is no background at all)."""
    out = np.uint32 if fill is not None else np.int32
    return run_stages(
        mask,
        _city_stage,
        lambda last: out if last else np.int32,
        lambda axes: 0,
        temp_dir=temp_dir,
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
