"""scipy's two-pass chamfer across chunks, one slab of whole planes at a time.

scipy's ``distance_transform_cdt`` is a forward and a backward raster scan whose result
(and, among equally near background voxels, whose choice of feature) depends on the
scan order; with some structures two scans do not even reach every voxel they could.
To give exactly scipy's result, the scans are run in scipy's order: slabs holding whole
planes (all axes but axis 0) are scanned forwards, each seeded with the last plane of
the previous slab, then backwards, each seeded with the first plane of the next slab.
The chain is sequential (no parallelism); every task holds one slab, at least one
plane, and the forward result of every slab (12 bytes per voxel) waits for the
backward scan.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg.ndimage import _distance_kernels as K
from bigimg.ndimage._distance_graph import rechunk, split_chunks, task_limit

__all__ = ["chamfer_chain"]


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
    flat = pair[1]
    out = np.empty((len(shape),) + flat.shape, np.int32)
    K.unravel(flat.reshape(-1), np.asarray(shape, np.int64), out.reshape(len(shape), -1))
    return out


def chamfer_chain(mask: da.Array, offsets: np.ndarray):
    """scipy's two-pass chamfer of a boolean dask array, one slab of planes at a time.

    Returns ``(distances, features)`` dask arrays with ``mask``'s chunks: int32
    distances (-1 where nothing was reached) and int32 features (ndim,) + shape.
    """
    shape, chunks = mask.shape, mask.chunks
    plane = math.prod(shape[1:])
    thickness = max(1, task_limit(shape, chunks) // max(plane, 1))
    slab_chunks = (split_chunks(chunks[0], thickness),) + tuple((n,) for n in shape[1:])
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
