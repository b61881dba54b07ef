"""The dask graph of the out-of-core ``watershed_ift``: write -> solve -> read.

One task per block writes its input and markers into the scratch space (the shared
file, or one object per block on an object store,
:func:`~bigimg._watershed._tasks.write_block`), one task floods the whole volume in
scipy's order (:func:`~bigimg._watershed._tasks.solve`) and one task per block reads
its labels back (:func:`~bigimg._watershed._tasks.read_block`). The graph has
``2 * blocks + 1`` tasks, each small: a task carries the :class:`Volume` (where the
scratch is and what it holds) and its block's region, never data (on an object
store the solve also carries the chunks, which name the blocks' objects).
"""

from __future__ import annotations

import dataclasses

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg._scratch import Scratch
from bigimg._watershed import _kernel as K
from bigimg._watershed._tasks import Volume, read_block, resident_budget, solve, write_block

__all__ = ["watershed_on_disk"]


def watershed_on_disk(
    x: da.Array, markers: da.Array, structure: np.ndarray, dtype: np.dtype, *, temp_dir=None
) -> da.Array:
    """scipy's ``watershed_ift(x, markers, structure)`` as lazy labels of ``dtype``.

    The arguments are already checked (:func:`bigimg.ndimage.watershed_ift` does it):
    ``x`` is a non-empty uint8/uint16 dask array, ``markers`` a signed integer dask
    array with ``x``'s chunks, ``structure`` a bool array of ``x``'s rank, 3 long on
    every axis, ``dtype`` a signed integer dtype and ``temp_dir`` an existing directory,
    an fsspec URL prefix, or None (:class:`~bigimg._scratch.Scratch` then picks the
    scratch space). A 0-d
    volume has no neighbours: its label is its marker read as a C ``int``, and no file
    is written.
    """
    if x.ndim == 0:
        meta = np.empty((), dtype)
        return markers.map_blocks(_marker_labels, labels=dtype, dtype=dtype, meta=meta)
    return _graph(x, markers, structure, dtype, temp_dir)


def _marker_labels(markers: np.ndarray, labels: np.dtype) -> np.ndarray:
    return K.marker_codes(markers, np.dtype(np.uint16))[0].astype(labels)


def _graph(x: da.Array, m: da.Array, structure: np.ndarray, dtype: np.dtype, temp_dir):
    """write (one task per block) -> solve (one task) -> read (one task per block)."""
    token = tokenize(x, m, structure, dtype, temp_dir)
    write, done, read = (f"watershed_ift-{step}-{token}" for step in ("write", "solve", "read"))
    vol = Volume(
        Scratch(temp_dir, "watershed"),
        x.shape,
        x.dtype.newbyteorder("="),
        dtype.newbyteorder("="),
    )
    if vol.size * vol.record.itemsize > resident_budget():  # flooded in a mapped file
        vol = dataclasses.replace(vol, bricks=K.brick_bits(x.shape))
    offsets = K.neighbour_offsets(structure, x.shape)
    local = vol.scratch.is_local
    starts = [np.concatenate([[0], np.cumsum(c)]).tolist() for c in x.chunks]
    blocks = list(np.ndindex(*x.numblocks))
    writes, reads = {}, {}
    for i, idx in enumerate(blocks):
        region = tuple((s[j], s[j + 1]) for s, j in zip(starts, idx, strict=True))
        writes[(write, *idx)] = (write_block, (x.name, *idx), (m.name, *idx), vol, region)
        reads[(read, *idx)] = (read_block, done, vol, region, i, len(blocks), dtype)
    layers = {
        write: writes,
        done: {done: (solve, list(writes), vol, offsets, None if local else x.chunks)},
        read: reads,
    }
    deps = {write: {x.name, m.name}, done: {write}, read: {done}}
    for arr in (x, m):
        layers.update(arr.dask.layers)
        deps.update(arr.dask.dependencies)
    return da.Array(
        HighLevelGraph(layers, deps),
        read,
        chunks=x.chunks,
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype),
    )
