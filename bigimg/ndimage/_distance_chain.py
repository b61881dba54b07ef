"""scipy's two-pass chamfer across chunks, one slab of whole planes at a time.

scipy's ``distance_transform_cdt`` is a forward and a backward raster scan whose result
(and, among equally near background voxels, whose choice of feature) depends on the
scan order; with some structures two scans do not even reach every voxel they could.
To give exactly scipy's result, the scans are run in scipy's order: slabs holding whole
planes (all axes but axis 0) are scanned forwards, each seeded with the last plane of
the previous slab, then backwards, each seeded with the first plane of the next slab.
The chain is sequential (no parallelism). Every task holds one slab (at least one
plane; at most the task budget when planes are small).

The backward scan can only start once the forward scan has passed every slab, so the
forward result (int32 distances and int64 flat features, 12 bytes per voxel) is
written to disk slab by slab, one ``.npy`` pair per slab in a fresh directory under
``temp_dir`` (default: the system's temporary directory), and read back by the
backward scan, which deletes each pair as it reads it and the directory after the
last slab. The directory also goes when a scan task fails, and when the graph is
garbage collected or the interpreter exits (whatever an interrupted run left). Disk
use peaks at 12 bytes per voxel. Memory: a slab, plus the backward results (12 bytes
per voxel) of the slabs that make up one layer of the output's chunks, which wait
until every slab of the layer is scanned; not the whole volume.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import uuid
import weakref

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg.ndimage import _distance_kernels as K
from bigimg.ndimage._distance_graph import rechunk, split_chunks, task_limit

__all__ = ["SpillDir", "chamfer_chain"]


class SpillDir:
    """A directory for the forward scan's slabs, removed when the graph is dropped.

    The directory is created by the first forward task (building the graph writes
    nothing). Each backward task deletes the slab it read; the directory itself is
    removed when the last graph holding this object is garbage collected or at
    interpreter exit, and at once when a scan task fails. A copy sent to another
    process (a distributed worker) does not own the directory.
    """

    def __init__(self, base: str | os.PathLike | None, *, owner: bool = True) -> None:
        base = tempfile.gettempdir() if base is None else os.fspath(base)
        self.path = os.path.join(base, f"bigimg-cdt-{uuid.uuid4().hex}")
        self._cleanup = weakref.finalize(self, _remove, self.path) if owner else None

    @classmethod
    def _remote(cls, path: str) -> SpillDir:
        out = cls.__new__(cls)
        out.path, out._cleanup = path, None
        return out

    def __reduce__(self):
        return (SpillDir._remote, (self.path,))

    def file(self, k: int, what: str) -> str:
        return os.path.join(self.path, f"slab{k:06d}-{what}.npy")

    def remove(self) -> None:
        _remove(self.path)


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _chamfer_forward(mask, prev, offsets, start, spill, k):
    """Forward scan of one slab, written to ``spill``; returns its last plane.

    ``prev`` is the previous slab's last plane (dt, ft), or None for the first slab.
    """
    try:
        n = mask.shape[0]
        extra = 0 if prev is None else 1
        dt = np.empty((n + extra,) + mask.shape[1:], np.int32)
        ft = np.empty(dt.shape, np.int64)
        if extra:
            dt[0], ft[0] = prev
        dt[extra:] = np.where(mask, -1, 0)
        plane = math.prod(mask.shape[1:])
        ft[extra:] = np.arange(start * plane, (start + n) * plane, dtype=np.int64).reshape(
            mask.shape
        )
        K.chamfer_pass(dt, ft, offsets, extra, n + extra, False)
        os.makedirs(spill.path, exist_ok=True)
        np.save(spill.file(k, "dt"), dt[extra:])
        np.save(spill.file(k, "ft"), ft[extra:])
        return dt[-1].copy(), ft[-1].copy()
    except BaseException:
        spill.remove()
        raise


def _chamfer_backward(written, nxt, offsets, spill, k):
    """Backward scan of slab ``k`` read back from ``spill`` (then deleted from disk).

    ``written`` is the forward task's result (only an ordering dependency); ``nxt`` is
    the next slab's backward (dt, ft) or None for the last slab.
    """
    try:
        fwd_dt = np.load(spill.file(k, "dt"))
        fwd_ft = np.load(spill.file(k, "ft"))
        n = fwd_dt.shape[0]
        extra = 0 if nxt is None else 1
        dt = np.empty((n + extra,) + fwd_dt.shape[1:], np.int32)
        ft = np.empty(dt.shape, np.int64)
        dt[:n] = fwd_dt
        ft[:n] = fwd_ft
        del fwd_dt, fwd_ft
        if extra:
            dt[n] = nxt[0][0]
            ft[n] = nxt[1][0]
        K.chamfer_pass(dt, ft, offsets, 0, n, True)
        for what in ("dt", "ft"):
            os.remove(spill.file(k, what))
        if k == 0:  # the last slab of the backward scan: nothing is left on disk
            spill.remove()
        return dt[:n], ft[:n]
    except BaseException:
        spill.remove()
        raise


def _take_distances(pair):
    return pair[0]


def _take_features(pair, shape):
    flat = pair[1]
    out = np.empty((len(shape),) + flat.shape, np.int32)
    K.unravel(flat.reshape(-1), np.asarray(shape, np.int64), out.reshape(len(shape), -1))
    return out


def chamfer_chain(mask: da.Array, offsets: np.ndarray, temp_dir=None):
    """scipy's two-pass chamfer of a boolean dask array, one slab of planes at a time.

    Returns ``(distances, features)`` dask arrays with ``mask``'s chunks: int32
    distances (-1 where nothing was reached) and int32 features (ndim,) + shape. The
    forward scan's slabs go to a fresh directory under ``temp_dir`` (default: the
    system's temporary directory), see :class:`SpillDir`.
    """
    shape, chunks = mask.shape, mask.chunks
    plane = math.prod(shape[1:])
    thickness = max(1, task_limit(shape, chunks) // max(plane, 1))
    slab_chunks = (split_chunks(chunks[0], thickness),) + tuple((n,) for n in shape[1:])
    slabs = rechunk(mask, slab_chunks)
    token = tokenize(slabs, offsets, temp_dir)
    fwd, bwd = f"cdt-forward-{token}", f"cdt-backward-{token}"
    dname, fname = f"cdt-distances-{token}", f"cdt-features-{token}"
    zeros = (0,) * (len(shape) - 1)
    starts = np.concatenate([[0], np.cumsum(slab_chunks[0])[:-1]]).tolist()
    nslab = len(slab_chunks[0])
    spill = SpillDir(temp_dir)
    dsk = {}
    for k in range(nslab):
        prev = (fwd, k - 1) if k else None
        mask_key = (slabs.name, k) + zeros
        dsk[(fwd, k)] = (_chamfer_forward, mask_key, prev, offsets, starts[k], spill, k)
    for k in reversed(range(nslab)):
        nxt = (bwd, k + 1) if k < nslab - 1 else None
        dsk[(bwd, k)] = (_chamfer_backward, (fwd, k), nxt, offsets, spill, k)
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
