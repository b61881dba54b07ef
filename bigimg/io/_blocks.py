"""Block writes into zarr arrays, each followed by a completion record: what resume skips.

One dask task writes one block of the array: whole stored chunks, or whole shards for
a sharded array (zarr-python encodes a shard as one object, so two tasks writing parts
of the same shard would lose data; the writers rechunk so that never happens). After
its block is stored the task writes a tiny *completion record*

    ``<store>/.bigimg-progress/<array path>/<z0>.<y0>.<x0>-<z1>.<y1>.<x1>``

naming the block's region. The record is written only after zarr returned from writing
the block, so a record proves the block is complete (a chunk object alone would not:
zarr skips chunks equal to the fill value, and a local file can be cut short by a
kill). When every block is written the writer deletes the records and then removes
the store's incomplete-marker attribute, last.

A resumed write lists the records, turns them into the set of stored units (chunks or
shards) known complete, and builds a graph only for the blocks with a missing unit:
the other blocks become constant tasks with no dependency, so dask culls the part of
the source graph that only they needed and no voxel of them is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg.io._shards import aligned
from bigimg.io._stores import Location

__all__ = ["PROGRESS_DIR", "Records", "write_blocks"]

#: Folder (key prefix) of the completion records inside an unfinished store.
PROGRESS_DIR = ".bigimg-progress"


@dataclass(frozen=True)
class Records:
    """The completion records of one array (``array_path`` ``""`` for a root array)."""

    location: Location
    array_path: str = ""

    @property
    def prefix(self) -> str:
        return f"{PROGRESS_DIR}/{self.array_path}".rstrip("/")

    def put(self, region: tuple[slice, ...]) -> None:
        """Record that ``region`` is completely written."""
        start = ".".join(str(s.start) for s in region)
        stop = ".".join(str(s.stop) for s in region)
        self.location.put(f"{self.prefix}/{start}-{stop}")

    def covered(self, unit: tuple[int, ...]) -> set[tuple[int, ...]]:
        """Indices of the stored units (chunks or shards of shape ``unit``) recorded done."""
        done: set[tuple[int, ...]] = set()
        for key in self.location.keys(self.prefix):
            if "/" in key:  # a nested array's records
                continue
            try:
                start, stop = ([int(v) for v in part.split(".")] for part in key.split("-"))
            except ValueError:
                continue
            if len(start) != len(unit) or len(stop) != len(unit):
                continue
            ranges = [range(a // u, -(-b // u)) for a, b, u in zip(start, stop, unit)]
            done.update(product(*ranges))
        return done


def _write(block: np.ndarray, target, region: tuple[slice, ...], records: Records) -> np.ndarray:
    target[region] = block
    records.put(region)
    return np.ones((1,) * block.ndim, np.int64)


def _read_back(target, region: tuple[slice, ...], _written=None) -> np.ndarray:
    return np.asarray(target[region])


def write_blocks(
    arr: da.Array,
    target,
    records: Records,
    unit: tuple[int, ...],
    done: set[tuple[int, ...]],
    *,
    read_back: bool = False,
):
    """The graph writing ``arr`` into the zarr array ``target``, block by block.

    Every block of ``arr`` must cover whole units (stored chunks or shards of shape
    ``unit``). Blocks whose units are all in ``done`` are not written (and their part
    of ``arr`` is never computed).

    Returns ``(counts, back, written, total)``: ``counts`` is an int64 dask array with one
    element per block (1 if the task wrote it, 0 if skipped); ``back`` (with
    ``read_back=True``) is ``arr`` read back from the store, each block after its write,
    so that a following level reads stored voxels instead of keeping them in memory.
    """
    if not aligned(arr, unit):  # two tasks writing parts of one unit would lose data
        raise ValueError(f"blocks {arr.chunks} straddle the stored units {unit}; rechunk first.")
    ndim = arr.ndim
    # every chunk is stored, even one equal to the fill value: readers of a bigimg-written
    # store take a missing chunk for damage (see bigimg.io._zarr.EVERY_CHUNK_ATTR)
    target = target.with_config({"write_empty_chunks": True})
    starts = [np.cumsum((0,) + c) for c in arr.chunks]
    token = tokenize(arr.name, records, unit, sorted(done))
    name, back_name = f"zarr-write-{token}", f"zarr-read-back-{token}"
    target_key, records_key = f"zarr-target-{token}", f"zarr-records-{token}"
    dsk: dict = {target_key: target, records_key: records}
    back: dict = {}
    written = total = 0
    for idx in np.ndindex(*arr.numblocks):
        region = tuple(slice(int(st[i]), int(st[i + 1])) for st, i in zip(starts, idx, strict=True))
        units = [range(r.start // u, -(-r.stop // u)) for r, u in zip(region, unit)]
        total += 1
        if all(u in done for u in product(*units)):
            dsk[(name, *idx)] = (np.zeros, (1,) * ndim, np.int64)
            back[(back_name, *idx)] = (_read_back, target_key, region)
            continue
        written += 1
        dsk[(name, *idx)] = (_write, (arr.name, *idx), target_key, region, records_key)
        back[(back_name, *idx)] = (_read_back, target_key, region, (name, *idx))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[arr])
    counts = da.Array(
        graph,
        name,
        chunks=tuple((1,) * n for n in arr.numblocks),
        dtype=np.int64,
        meta=np.empty((0,) * ndim, np.int64),
    )
    if not read_back:
        return counts, None, written, total
    back_graph = HighLevelGraph.from_collections(back_name, back, dependencies=[counts])
    meta = np.empty((0,) * ndim, arr.dtype)
    restored = da.Array(back_graph, back_name, chunks=arr.chunks, dtype=arr.dtype, meta=meta)
    return counts, restored, written, total
