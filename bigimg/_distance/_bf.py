"""The feature transform of ``distance_transform_bf``: scipy's brute-force tie-breaking.

scipy's brute force compares every foreground voxel with every background voxel on
the border of the foreground and keeps, among the nearest, the one that comes last in
C order (the largest flat index). For the Euclidean metric with integer sampling and
for the city-block metric that choice is the minimum of the key
``(distance, -flat index)`` in lexicographic order; both parts are sums over the axes,
so the key is separable like the distance itself and the same stages as the Euclidean
feature transform compute it exactly, with integer arithmetic and ties resolved by
the larger flat index. The per-line kernel is the feature transform's, given the
strides: :func:`bigimg._distance._kernels.features_pass`.

For the chessboard metric the distance is a maximum over axes and that key is not
separable. There, scipy's choice for a voxel ``p`` at distance ``D`` is the background
voxel of the box ``|q - p| <= D`` that is last in C order (every background voxel of
the box is at distance exactly ``D``): the largest first coordinate whose slice of the
box holds background, then the largest second coordinate in that slice, and so on.
:func:`chessboard_features` answers that with the chessboard distances restricted to
ever smaller slices (``E[k]``: over axes ``k..ndim-1`` only, by the separable passes),
scanning each coordinate down from ``p + D`` (:func:`_lexmax_in_boxes`). It runs on
blocks extended by the largest distance of the volume, so every box lies inside its
block: the mask is written to scratch space while that maximum is computed, and each
block's task reads its extended block from there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from numba import njit

from bigimg._distance import _graph as G
from bigimg._distance import _kernels as K
from bigimg._scratch import Scratch

__all__ = ["bf_features", "chessboard_features", "exact_ties_possible"]


def _line_coords(local, origin, d) -> np.ndarray:
    """Global coordinates along axes ``0..d-1`` of the block's lines along axis ``d``."""
    grid = np.indices(local[:d], dtype=np.int64).reshape(d, -1).T
    return np.ascontiguousarray(grid + np.asarray(origin[:d], np.int64))


def _bf_stage(block, axes, first, last, sampling, shape, cityblock, block_info=None):
    """The brute-force feature passes of one stage; returns (axes[-1]+1,) + block."""
    lead = 0 if first else 1
    local = block.shape[lead:]
    origin = G._origin(block_info, lead, which=0)
    s = np.asarray(sampling, np.int64)
    strides = np.array([math.prod(shape[k + 1 :]) for k in range(len(shape))], np.int64)
    feat = block[None].astype(np.int32) if first else block
    for d in axes:
        pre, n, post = G._line_view(local, d)
        coords = _line_coords(local, origin, d)
        out = np.empty((d + 1,) + local, np.int32)
        K.features_pass(
            np.ascontiguousarray(feat).reshape(d, pre, n, post),
            coords,
            s,
            strides,
            cityblock,
            out.reshape(d + 1, pre, n, post),
        )
        feat = out
    return feat


def exact_ties_possible(
    metric: str, sampling: Sequence[float] | None, shape: Sequence[int]
) -> bool:
    """Whether :func:`bf_features` can reproduce scipy's choice (integers that fit int64)."""
    if metric in ("taxicab", "chessboard"):
        return True
    if metric != "euclidean":
        return False
    s = [1.0] * len(shape) if sampling is None else list(sampling)
    if any(v != int(v) for v in s):
        return False
    reach = [n * int(v) for n, v in zip(shape, s, strict=True)]
    return sum(r * r for r in reach) * 4 * max(reach) < 2**62


def bf_features(
    mask: da.Array, metric: str, sampling: Sequence[float] | None, temp_dir=None
) -> da.Array:
    """Feature transform with scipy's brute-force choice among equally near voxels.

    Only for the cases :func:`exact_ties_possible` accepts. Big exchanges between
    stages spill under ``temp_dir``. The chessboard metric is
    :func:`chessboard_features`.
    """
    if metric == "chessboard":
        return chessboard_features(mask, temp_dir)
    if metric == "taxicab" or sampling is None:  # bf ignores sampling for taxicab
        ints = (1,) * mask.ndim
    else:
        ints = tuple(int(v) for v in sampling)
    return G.run_stages(
        mask,
        _bf_stage,
        lambda last: np.int32,
        lambda axes: (axes[-1] + 1) if axes else 1,
        later=True,
        temp_dir=temp_dir,
        sampling=ints,
        shape=tuple(mask.shape),
        cityblock=metric == "taxicab",
    )


@njit(cache=True, nogil=True)
def _lexmax_in_boxes(fg, slices, shape, core_lo, core_hi, out):  # pragma: no cover
    """For every foreground voxel of the core, the background voxel last in C order
    within its chessboard distance (``slices[0]``); ``out`` is (ndim, voxels of core).

    ``slices[k]`` is the chessboard distance over axes ``k..ndim-1`` (within the slice
    of the voxel's first ``k`` coordinates); ``slices[ndim]`` is 0 on background.
    """
    ndim = shape.shape[0]
    strides = np.ones(ndim, np.int64)
    for ax in range(ndim - 2, -1, -1):
        strides[ax] = strides[ax + 1] * shape[ax + 1]
    core = np.empty(ndim, np.int64)
    for ax in range(ndim):
        core[ax] = core_hi[ax] - core_lo[ax]
    total = 1
    for ax in range(ndim):
        total *= core[ax]
    c = np.empty(ndim, np.int64)
    for i in range(total):
        rest = i
        flat = 0
        for ax in range(ndim - 1, -1, -1):
            c[ax] = core_lo[ax] + rest % core[ax]
            rest //= core[ax]
            flat += c[ax] * strides[ax]
        if fg[flat]:
            d = slices[0, flat]
            for k in range(ndim):
                p = c[k]
                base = flat - p * strides[k]
                t = min(p + d, shape[k] - 1)
                low = max(p - d, 0)
                while t > low and slices[k + 1, base + t * strides[k]] > d:
                    t -= 1
                c[k] = t
                flat = base + t * strides[k]
        for ax in range(ndim):
            out[ax, i] = c[ax]


def _chessboard_block(fg: np.ndarray, core_lo, core_hi, origin) -> np.ndarray:
    """scipy's brute-force chessboard features of the core ``core_lo:core_hi`` of
    ``fg``, a block extended by at least each core voxel's distance (``origin``: the
    global position of ``fg[0, ...]``)."""
    shape = fg.shape
    ndim = fg.ndim
    slices = np.empty((ndim + 1,) + shape, np.int32)
    slices[ndim] = np.where(fg, K.BIG, 0)
    for k in range(ndim - 1, -1, -1):
        view = G._line_view(shape, k)
        K.chessboard_pass(slices[k + 1].reshape(view), slices[k].reshape(view))
    core = tuple(int(h - lo) for lo, h in zip(core_lo, core_hi))
    out = np.empty((ndim, math.prod(core)), np.int64)
    _lexmax_in_boxes(
        np.ascontiguousarray(fg).reshape(-1),
        slices.reshape(ndim + 1, -1),
        np.array(shape, np.int64),
        np.asarray(core_lo, np.int64),
        np.asarray(core_hi, np.int64),
        out,
    )
    out += np.asarray(origin, np.int64)[:, None]
    return out.reshape((ndim,) + core).astype(np.int32)


def _block_name(idx: tuple[int, ...]) -> str:
    return "fg-" + "-".join(map(str, idx)) + ".raw"


def _write(block: np.ndarray, scratch: Scratch, idx: tuple[int, ...]) -> int:
    scratch.write_block(_block_name(idx), np.ascontiguousarray(block, dtype=bool))
    return 0


def _read(scratch: Scratch, starts, region: tuple[slice, ...]) -> np.ndarray:
    """``region`` of the mask written block by block by :func:`_write`."""
    out = np.empty(tuple(r.stop - r.start for r in region), bool)
    ranges = [
        range(int(np.searchsorted(st, r.start, "right")) - 1, int(np.searchsorted(st, r.stop)))
        for r, st in zip(region, starts)
    ]
    for pick in np.ndindex(*(len(r) for r in ranges)):
        idx = tuple(rg[i] for rg, i in zip(ranges, pick))
        lo = [int(st[i]) for st, i in zip(starts, idx)]
        hi = [int(st[i + 1]) for st, i in zip(starts, idx)]
        src = tuple(
            slice(max(r.start, a) - a, min(r.stop, b) - a) for r, a, b in zip(region, lo, hi)
        )
        dst = tuple(
            slice(max(r.start, a) - r.start, min(r.stop, b) - r.start)
            for r, a, b in zip(region, lo, hi)
        )
        shape = tuple(b - a for a, b in zip(lo, hi))
        out[dst] = scratch.read_block(_block_name(idx), shape, bool, src)
    return out


def _features_task(written, top, scratch: Scratch, starts, idx) -> np.ndarray:
    """Block ``idx``'s features, read with a halo of the largest distance ``top``."""
    box = [(int(st[i]), int(st[i + 1])) for st, i in zip(starts, idx)]
    if top < 0:  # no background anywhere
        return np.full((len(box),) + tuple(b - a for a, b in box), -1, np.int32)
    region = tuple(
        slice(max(0, a - top), min(int(st[-1]), b + top)) for (a, b), st in zip(box, starts)
    )
    fg = _read(scratch, starts, region)
    core_lo = [a - r.start for (a, _), r in zip(box, region)]
    core_hi = [b - r.start for (_, b), r in zip(box, region)]
    return _chessboard_block(fg, core_lo, core_hi, [r.start for r in region])


def _barrier(*tokens: int) -> int:
    return 0


def chessboard_features(mask: da.Array, temp_dir=None) -> da.Array:
    """Chessboard feature transform with scipy's brute-force choice among ties.

    Lazy. The mask is written block by block to scratch space (under ``temp_dir``)
    while the largest chessboard distance is computed (one transform of ``mask``);
    each block's task then reads its block grown by that distance on every side and
    answers from it. Returns (ndim,) + shape int32 coordinates, -1 where there is no
    background.
    """
    ndim = mask.ndim
    top = G.chamfer_distances(mask, "chessboard", temp_dir=temp_dir).max()
    scratch = Scratch(temp_dir, "bf")
    token = da.core.tokenize(mask, scratch)
    w_name, b_key, name = f"bf-write-{token}", f"bf-written-{token}", f"bf-features-{token}"
    starts = tuple(tuple(int(v) for v in np.cumsum((0,) + c)) for c in mask.chunks)
    blocks = list(np.ndindex(*mask.numblocks))
    dsk: dict = {(w_name, *i): (_write, (mask.name, *i), scratch, i) for i in blocks}
    dsk[b_key] = (_barrier, *dsk.keys())
    (top_key,) = top.__dask_keys__()
    for i in blocks:
        dsk[(name, 0, *i)] = (_features_task, b_key, top_key, scratch, starts, i)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[mask, top])
    chunks = ((ndim,),) + mask.chunks
    return da.Array(graph, name, chunks, dtype=np.int32, meta=np.empty((0,) * (ndim + 1), np.int32))
