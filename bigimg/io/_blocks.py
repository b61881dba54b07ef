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

The task that makes a block and the task that writes it are one task (the producer's
task nested in the write, :func:`_fused_producers`): a computed block is never held
waiting for its write nor sent to another worker to be written, so a worker holds one
block at a time, however many blocks the array has.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import dask.array as da
import numpy as np
from dask._task_spec import GraphNode, Task, TaskRef, convert_legacy_task
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


def _fused_producers(arr: da.Array) -> tuple[dict, HighLevelGraph] | None:
    """Each block's producing task, to nest in its write, and the graph without them.

    Returns ``(tasks, (layers, dependencies, below, extra))``: ``tasks[(arr.name, *idx)]``
    is the task computing that block (references to other keys kept as references);
    ``layers``/``dependencies`` are ``arr``'s graph without its output layer, ``below``
    the layers the output layer depended on, and ``extra`` the output layer's other
    tasks (a rechunk layer also holds its split tasks), which the write layer keeps.
    ``None`` when another layer depends on the output layer.
    """
    graph = arr.__dask_graph__()
    if not isinstance(graph, HighLevelGraph) or arr.name not in graph.layers:
        return None
    if any(arr.name in deps for name, deps in graph.dependencies.items() if name != arr.name):
        return None
    layer = graph.layers[arr.name]
    known: set = set(layer.keys())
    for dep in graph.dependencies.get(arr.name, ()):
        known.update(graph.layers[dep].keys())
    tasks, extra = {}, {}
    for key, task in layer.items():
        if not (isinstance(key, tuple) and key[0] == arr.name):
            extra[key] = task
            continue
        node = convert_legacy_task(key, task, known)
        if not isinstance(node, GraphNode):  # a literal value: wrap it
            node = Task(key, _same, node)
        tasks[key] = node
    layers = {name: lay for name, lay in graph.layers.items() if name != arr.name}
    deps = {name: set(d) for name, d in graph.dependencies.items() if name != arr.name}
    return tasks, (layers, deps, set(graph.dependencies.get(arr.name, ())), extra)


def _same(value):
    return value


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
    fused = _fused_producers(arr)
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
        if fused is None:
            dsk[(name, *idx)] = (_write, (arr.name, *idx), target_key, region, records_key)
        else:  # make the block and write it in one task
            key = (name, *idx)
            dsk[key] = Task(
                key,
                _write,
                fused[0][(arr.name, *idx)],
                TaskRef(target_key),
                region,
                TaskRef(records_key),
            )
        back[(back_name, *idx)] = (_read_back, target_key, region, (name, *idx))
    if fused is None:
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=[arr])
    else:
        layers, deps, below, extra = fused[1]
        graph = HighLevelGraph({**layers, name: {**extra, **dsk}}, {**deps, name: below})
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
