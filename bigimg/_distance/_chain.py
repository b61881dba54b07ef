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
written to the scratch space slab by slab (:class:`~bigimg._scratch.Scratch` under
``temp_dir``, default the ``bigimg.scratch`` setting): one ``.npy`` pair per slab in a
fresh local or shared directory, or one pair of raw objects per slab under an
object-store prefix. The backward scan reads each pair back and deletes it, and
removes the prefix after the last slab. The prefix also goes when a scan task fails,
and when the graph is garbage collected or the interpreter exits (whatever an
interrupted run left). Scratch use peaks at 12 bytes per voxel.

The input's chunks are cut into slabs, and the slabs' results into output chunks, by
exchanges within a layer of chunks. When a layer is big
(:func:`~bigimg._distance._exchange.spills`) they go through temporary files
(:func:`~bigimg._distance._exchange.spill_rechunk`), and the backward scan of a
slab waits until the results of the slab after it are written, so memory is a few
slabs. Otherwise they are in-memory rechunks, and the results of a layer wait in
memory (12 bytes per voxel of the layer) until every slab of the layer is scanned.
"""

from __future__ import annotations

import math
import os

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg._distance import _kernels as K
from bigimg._distance._exchange import spills
from bigimg._distance._graph import exchange, split_chunks, task_limit
from bigimg._scratch import Scratch

__all__ = ["chamfer_chain"]


def _slab_file(spill: Scratch, k: int, what: str) -> str:
    return spill.file(f"slab{k:06d}-{what}.npy")


def _slab_name(k: int, what: str) -> str:
    return f"slab{k:06d}-{what}.raw"


def _save_slab(spill: Scratch, k: int, what: str, data: np.ndarray) -> None:
    """One array of slab ``k``: a ``.npy`` file locally, a raw block on an object store."""
    if spill.is_local:
        os.makedirs(spill.path, exist_ok=True)
        np.save(_slab_file(spill, k, what), data)
    else:
        spill.write_block(_slab_name(k, what), data)


def _load_slab(spill: Scratch, k: int, what: str, shape, dtype) -> np.ndarray:
    if spill.is_local:
        return np.load(_slab_file(spill, k, what))
    return spill.read_block(_slab_name(k, what), shape, dtype)


def _drop_slab(spill: Scratch, k: int) -> None:
    if spill.is_local:
        for what in ("dt", "ft"):
            os.remove(_slab_file(spill, k, what))
    else:
        spill.delete(_slab_name(k, "dt"), _slab_name(k, "ft"))


def _remove_all(*spills) -> None:
    for spill in spills:
        if spill is not None:
            spill.remove()


def _chamfer_forward(mask, prev, offsets, start, spill, k, exchanges=None):
    """Forward scan of one slab, written to ``spill``; returns its last plane.

    ``prev`` is the previous slab's last plane (dt, ft), or None for the first slab.
    On failure, ``spill`` and the exchanges' directory (if any) are removed.
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
        _save_slab(spill, k, "dt", dt[extra:])
        _save_slab(spill, k, "ft", ft[extra:])
        return dt[-1].copy(), ft[-1].copy()
    except BaseException:
        _remove_all(spill, exchanges)
        raise


def _chamfer_backward(written, nxt, offsets, spill, k, shape, exchanges=None, after=None):
    """Backward scan of slab ``k`` (of ``shape``) read back from ``spill``, then deleted.

    ``written`` is the last forward task's result (for the last slab, else None) and
    ``after`` (if any) the tokens of the writers that put the next slab's results on
    disk: both only order the tasks.
    ``nxt`` is the next slab's backward (dt, ft) or None for the last slab.
    """
    try:
        fwd_dt = _load_slab(spill, k, "dt", shape, np.int32)
        fwd_ft = _load_slab(spill, k, "ft", shape, np.int64)
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
        _drop_slab(spill, k)
        if k == 0:  # the last slab of the backward scan: nothing is left on disk
            spill.remove()
        return dt[:n], ft[:n]
    except BaseException:
        _remove_all(spill, exchanges)
        raise


def _take_distances(pair):
    return pair[0]


def _take_features(pair, shape):
    flat = pair[1]
    out = np.empty((len(shape),) + flat.shape, np.int32)
    K.unravel(flat.reshape(-1), np.asarray(shape, np.int64), out.reshape(len(shape), -1))
    return out


def chamfer_chain(
    mask: da.Array, offsets: np.ndarray, temp_dir=None, *, distances=True, features=True
):
    """scipy's two-pass chamfer of a boolean dask array, one slab of planes at a time.

    Returns ``(distances, features)`` dask arrays with ``mask``'s chunks: int32
    distances (-1 where nothing was reached) and int32 features (ndim,) + shape. The
    forward scan's slabs go to a fresh scratch prefix under ``temp_dir`` (default: the
    ``bigimg.scratch`` setting), see :class:`~bigimg._scratch.Scratch`. When the
    exchanges between slabs and chunks go through scratch too, say which results will be computed
    (``distances``, ``features``): the scan waits for those to be written as it goes.
    """
    shape, chunks = mask.shape, mask.chunks
    plane = math.prod(shape[1:])
    limit = task_limit(shape, chunks)
    thickness = max(1, limit // max(plane, 1))
    slab_chunks = (split_chunks(chunks[0], thickness),) + tuple((n,) for n in shape[1:])
    # a layer of the results: int32 distances and features
    layer_bytes = max(chunks[0]) * plane * 4 * (1 + len(shape))
    exchanges = Scratch(temp_dir, "exchange") if spills(layer_bytes, limit) else None
    slabs = exchange(mask, slab_chunks, exchanges, "mask")
    token = tokenize(slabs, offsets, temp_dir)
    fwd, bwd = f"cdt-forward-{token}", f"cdt-backward-{token}"
    dname, fname = f"cdt-distances-{token}", f"cdt-features-{token}"
    zeros = (0,) * (len(shape) - 1)
    starts = np.concatenate([[0], np.cumsum(slab_chunks[0])[:-1]]).tolist()
    nslab = len(slab_chunks[0])
    spill = Scratch(temp_dir, "cdt")
    dsk = {}
    for k in range(nslab):
        prev = (fwd, k - 1) if k else None
        mask_key = (slabs.name, k) + zeros
        task = (_chamfer_forward, mask_key, prev, offsets, starts[k], spill, k, exchanges)
        dsk[(fwd, k)] = task
    for k in reversed(range(nslab)):
        nxt = (bwd, k + 1) if k < nslab - 1 else None
        # the last forward slab implies all the others (and only it is held until then)
        written = (fwd, k) if k == nslab - 1 else None
        slab = (slab_chunks[0][k],) + tuple(shape[1:])
        dsk[(bwd, k)] = (_chamfer_backward, written, nxt, offsets, spill, k, slab, exchanges)
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
    dist = exchange(dist, chunks, exchanges, "distances")
    feat = exchange(feat, ((len(shape),),) + chunks, exchanges, "features")
    if not dist.name.startswith("exchange-read-"):  # in memory, or no exchange at all
        return dist, feat
    paced = (distances, features)
    return _write_as_you_go(dist, feat, paced, mask, bwd, f"cdt-scan-{token}")


def _write_as_you_go(dist, feat, paced, mask: da.Array, bwd: str, name: str):
    """Let the backward scan of each slab wait until the next slab's results are on disk.

    Otherwise dask runs the whole backward chain first and holds every slab's results
    (12 bytes per voxel of the volume) until it writes them. ``paced`` says which of
    the two results are waited for (the files of one never computed would be written
    and never read). The tasks after ``mask``, but for the two results' readers, go
    into one graph layer ``name`` (the scan's tasks now wait for the writers' tasks,
    which come later in the graph).
    """
    writers = ["exchange-write-" + x.name.removeprefix("exchange-read-") for x in (dist, feat)]
    pipeline = {}
    for x in (dist, feat):
        for layer_name, layer in x.dask.layers.items():
            if layer_name not in mask.dask.layers and layer_name not in (dist.name, feat.name):
                pipeline.update(layer)
    zeros = (0,) * (dist.ndim - 1)
    for key, task in list(pipeline.items()):
        if key[0] == bwd and (bwd, key[1] + 1) in pipeline:
            after = [(writers[0], key[1] + 1) + zeros, (writers[1], 0, key[1] + 1) + zeros]
            pipeline[key] = task + ([a for a, p in zip(after, paced, strict=True) if p],)
    layers = {**mask.dask.layers, name: pipeline}
    deps = {**mask.dask.dependencies, name: {mask.name}}
    for x in (dist, feat):
        layers[x.name] = x.dask.layers[x.name]
        deps[x.name] = {name}
    graph = HighLevelGraph(layers, deps)
    return tuple(da.Array(graph, x.name, chunks=x.chunks, meta=x._meta) for x in (dist, feat))
