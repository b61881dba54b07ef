"""Disk-backed exchanges of the distance transforms: a rechunk through scratch space.

A ``rechunk`` between two chunkings that cut a volume in different directions (whole
rows into whole columns, say) is an all-to-all exchange: every block of one side needs
a piece of every block of the other side in its group (for the distance transforms, a
layer of chunks along axis 0, the whole plane wide), so the scheduler holds a group of
blocks before the first target block can be assembled. :func:`spill_rechunk` makes
the same exchange through the scratch space (:class:`~bigimg._scratch.Scratch`), so
that no task holds more than its own block:

* a *writer* task per source block writes each piece of its block that a target
  block needs, then returns a tiny token;
* a *reader* task per target block waits only for the tokens of the writers whose
  blocks overlap it (it knows its pieces from its rows of the overlap table), reads
  its pieces, assembles its block and deletes what it read.

Where the pieces go depends on the scratch space:

Local or shared directory: one file per target block
    A writer writes each piece into its target block's file, ``{tag}-{r}.bin`` (``r``
    the target block's flat index, ``tag`` naming the exchange), at the piece's own
    offset, then sets the piece's flag byte at the end of the file. The reader reads
    the file in one go, checks that every piece's flag is set, assembles its block
    (when only one axis is cut, the file is the block in C order) and deletes the
    file. Why one file per target block, written by several writers at disjoint
    offsets, rather than one file per piece: creating a file costs far more than
    writing into an existing one (about 1 ms against 0.1 ms for a 128 KiB piece where
    this was measured), and there are as many pieces as source blocks times the target
    blocks each overlaps (tens per block). It relies on concurrent writes by different
    processes to disjoint byte ranges of one file not clobbering each other: POSIX
    guarantees it on a local filesystem; a network filesystem shared by several
    machines must write back only the bytes written (the Linux NFS client does; this
    was not tested here). A clobbered piece would not be detected; a missing one is.
Object store (``s3://``, ``gs://``, ``memory://``...): one object per piece
    Objects cannot be written in parts, so each piece is its own object,
    ``{tag}-{r}-{j}.bin`` (``j`` the piece's rank among the target block's pieces),
    written whole by its writer. The reader fetches its pieces, assembles its block
    and deletes them; a missing piece is detected.

Disk use is the pieces written and not yet read (what is in flight), not the volume:
:func:`chain_layers` keeps the transform's layers from all being in flight at once.
Building the graph computes and writes nothing: the directory is made by the first
writer. A reader that empties the directory removes it (a later writer makes it
again), so nothing is left once every reader has run. The scratch prefix is also
removed at once when a writer, a reader or a stage task between them fails, and
otherwise when the graph is garbage collected or the interpreter exits. Every task
carries only small tuples (its rows of the overlap table) and the scratch location,
so the graph pickles cheaply to distributed workers, which must all see the location
(a shared filesystem or an object store).

Each piece is read once, which is what bounds the disk: a reader that runs a second
time for the same computation (a distributed worker was lost after the reader had
run, and its result must be recomputed) finds its pieces missing, or some of them,
and raises a ``RuntimeError`` saying so; the computation must then be re-run from
the start. Computing the same graph again is fine: its writers write every piece
again. Pieces for target blocks that a computation does not need (a slice of the
result) stay until the graph is dropped.

Settings (``dask.config``, read when the graph is built): the exchanges go through
scratch when :func:`spills` says so, from ``bigimg.distance-spill-budgets`` (default
:data:`SPILL_BUDGETS`) and ``bigimg.distance-spill-min-bytes`` (default
:data:`SPILL_MIN_BYTES`); setting both to 0 makes every exchange of more than one
block go through scratch (the tests do). The task budget behind them is
``bigimg.distance-min-task-voxels`` (:mod:`bigimg._distance._graph`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from bigimg._scratch import Scratch

__all__ = [
    "BUDGETS_KEY",
    "MIN_BYTES_KEY",
    "SPILL_BUDGETS",
    "SPILL_MIN_BYTES",
    "chain_layers",
    "layers_of",
    "overlaps",
    "spill_rechunk",
    "spills",
]

#: The exchanges between stages go through disk when a layer of the state is bigger
#: than this many task budgets of float64 (``8 * task_limit`` bytes each) and than
#: :data:`SPILL_MIN_BYTES`, see :func:`spills`. Default of ``bigimg.distance-spill-budgets``.
SPILL_BUDGETS = 8
#: Below this, holding a layer in memory costs less than writing and reading files.
#: Default of ``bigimg.distance-spill-min-bytes``.
SPILL_MIN_BYTES = 64 * 2**20
#: The ``dask.config`` keys of the two thresholds above.
BUDGETS_KEY = "bigimg.distance-spill-budgets"
MIN_BYTES_KEY = "bigimg.distance-spill-min-bytes"


# --------------------------------------------------------------------------------------
# planning (no data)
# --------------------------------------------------------------------------------------
def spills(layer_bytes: int, limit: int) -> bool:
    """Whether the exchanges of a transform go through disk, given a layer's state.

    A layer is the thickest input chunk along axis 0 times the whole of the other
    axes. Every exchange between stages couples the blocks of one layer (no output
    chunk of a layer is complete before every pass has run over the whole layer), so
    in-memory rechunks hold up to a layer of the state (``layer_bytes``, for the
    largest state). When that is bigger than :data:`SPILL_BUDGETS` task budgets
    (``limit`` voxels of float64 each) and than :data:`SPILL_MIN_BYTES`, every
    exchange goes through files instead
    (:func:`spill_rechunk`), and no task holds more
    than its own block. The two thresholds are the ``dask.config`` keys
    ``bigimg.distance-spill-budgets`` and ``bigimg.distance-spill-min-bytes``.

    >>> spills(128 * 384 * 384 * 8, 128**3)  # float64, 384² planes: 151 MB > 8 x 17 MB
    True
    >>> spills(128 * 256 * 256 * 8, 128**3)
    False
    >>> with dask.config.set({BUDGETS_KEY: 0, MIN_BYTES_KEY: 0}):
    ...     spills(128 * 256 * 256 * 8, 128**3)
    True
    """
    budgets = int(dask.config.get(BUDGETS_KEY, SPILL_BUDGETS))
    min_bytes = int(dask.config.get(MIN_BYTES_KEY, SPILL_MIN_BYTES))
    return layer_bytes > max(budgets * limit * 8, min_bytes)


def overlaps(src: Sequence[int], dst: Sequence[int]) -> list[tuple]:
    """For each chunk of ``src`` along one axis: the chunks of ``dst`` it overlaps.

    Entries are ``(k, start, stop, dst_start)``: ``k`` the index of the ``dst`` chunk,
    ``start:stop`` the overlap in the ``src`` chunk's own coordinates and
    ``dst_start`` where it begins in the ``dst`` chunk's.

    >>> overlaps((4, 2), (3, 3))
    [((0, 0, 3, 0), (1, 3, 4, 0)), ((1, 0, 2, 1),)]
    """
    out: list[tuple] = []
    k, dst_start, start = 0, 0, 0
    for size in src:
        stop = start + size
        while k < len(dst) and dst_start + dst[k] <= start:  # dst chunks left behind
            dst_start += dst[k]
            k += 1
        row, j, j_start = [], k, dst_start
        while j < len(dst) and j_start < stop:
            lo, hi = max(start, j_start), min(stop, j_start + dst[j])
            if hi > lo:
                row.append((j, lo - start, hi - start, lo - j_start))
            j_start += dst[j]
            j += 1
        out.append(tuple(row))
        start = stop
    return out


def _flat(index: Sequence[int], numblocks: Sequence[int]) -> int:
    flat = 0
    for i, n in zip(index, numblocks, strict=True):
        flat = flat * n + i
    return flat


# --------------------------------------------------------------------------------------
# tasks
# --------------------------------------------------------------------------------------
def _open_for_writing(spill: Scratch, path: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
    for _ in range(8):  # a reader removes the directory when it finds it empty
        try:
            return os.open(path, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(spill.path, exist_ok=True)
    return os.open(path, flags, 0o600)


def _piece_name(tag: str, r: int, j: int) -> str:
    return f"{tag}-{r}-{j}.bin"


def _write_pieces(block, spill, tag, w, rows, numblocks):
    """Writer: write the pieces of ``block`` for its target blocks; return ``w``.

    ``rows[a]`` lists, along axis ``a``, the target chunks the block overlaps:
    ``(k, start, stop, target start, target size, j, n)``, the piece being the
    ``j``-th of the ``n`` pieces of target chunk ``k`` along that axis.
    """
    try:
        itemsize = block.dtype.itemsize
        pieces = list(itertools.product(*rows))
        largest = max((math.prod(p[2] - p[1] for p in piece) for piece in pieces), default=0)
        scratch = np.empty(largest if spill.is_local else 0, block.dtype)
        for piece in pieces:
            src = block[tuple(slice(p[1], p[2]) for p in piece)]
            target = tuple(p[4] for p in piece)
            offset = 0  # the piece's first element in the target's layout (see above)
            slot = 0  # the piece's flag, and its rank among the target's pieces
            for a, p in enumerate(piece):
                offset += math.prod(src.shape[:a]) * p[3] * math.prod(target[a + 1 :])
                slot = slot * p[6] + p[5]
            k = _flat([p[0] for p in piece], numblocks)
            if not spill.is_local:  # an object store: one object per piece
                spill.write_block(_piece_name(tag, k, slot), src)
                continue
            if not src.flags.c_contiguous:
                dst = scratch[: src.size].reshape(src.shape)
                np.copyto(dst, src)
                src = dst
            fd = _open_for_writing(spill, spill.file(f"{tag}-{k}.bin"))
            with os.fdopen(fd, "wb") as f:  # (does not truncate the file)
                f.seek(offset * itemsize)
                f.write(memoryview(src).cast("B"))
                f.seek(math.prod(target) * itemsize + slot)
                f.write(b"\x01")
        return w
    except BaseException:
        spill.remove()
        raise


def _read_pieces(tokens, spill, tag, r, rows, shape, dtype):
    """Reader: assemble target block ``r`` from its pieces, then delete them.

    ``tokens`` (the writers' results) only order this task after its writers;
    ``rows[a]`` lists, along axis ``a``, the block's pieces as ``(start, stop)``.
    """
    try:
        out = np.empty(shape, dtype)
        if out.size == 0:  # an empty chunk: no writer wrote anything for it
            return out
        if spill.is_local:
            return _read_file(spill, tag, r, rows, out)
        return _read_objects(spill, tag, r, rows, out)
    except BaseException:
        spill.remove()
        raise


def _ran_twice(where: str) -> RuntimeError:
    return RuntimeError(
        f"{where}, a block of a disk-backed exchange, is missing: each is deleted "
        "when it is read, so this task ran twice (e.g. a distributed worker was "
        "lost after it had run and its result had to be recomputed), or the "
        "directory was removed. The computation must be re-run from the start."
    )


def _lacks(where: str, missing: int, npieces: int) -> RuntimeError:
    return RuntimeError(
        f"{where}, a block of a disk-backed exchange, lacks "
        f"{missing} of its {npieces} pieces: it was deleted after "
        "a first read and partly written again (e.g. a distributed worker was "
        "lost and tasks were recomputed), or changed by another process. The "
        "computation must be re-run from the start."
    )


def _read_file(spill, tag, r, rows, out):
    """The local layout: one file per target block, with a flag byte per piece."""
    path = spill.file(f"{tag}-{r}.bin")
    npieces = math.prod(len(row) for row in rows)
    # the layout is the block's own C order when only one axis is cut and every
    # axis before it has length 1
    cut = [a for a, row in enumerate(rows) if len(row) > 1]
    direct = not cut or (len(cut) == 1 and math.prod(out.shape[: cut[0]]) == 1)
    data = out.reshape(-1) if direct else np.empty(out.size, out.dtype)
    flags = np.zeros(npieces, np.uint8)
    try:
        with open(path, "rb") as f:
            f.readinto(memoryview(data).cast("B"))
            f.readinto(memoryview(flags))
    except FileNotFoundError:
        raise _ran_twice(path) from None
    if not flags.all():
        raise _lacks(path, int((flags == 0).sum()), npieces)
    if not direct:
        start = 0
        for piece in itertools.product(*rows):
            view = out[tuple(slice(lo, hi) for lo, hi in piece)]
            view[...] = data[start : start + view.size].reshape(view.shape)
            start += view.size
    os.remove(path)
    try:  # only succeeds once the directory is empty
        os.rmdir(spill.path)
    except OSError:
        pass
    return out


def _read_objects(spill, tag, r, rows, out):
    """The object-store layout: one object per piece, named by its rank."""
    names, missing = [], 0
    for j, piece in enumerate(itertools.product(*rows)):
        view = out[tuple(slice(lo, hi) for lo, hi in piece)]
        names.append(_piece_name(tag, r, j))
        try:
            view[...] = spill.read_block(names[-1], view.shape, out.dtype)
        except FileNotFoundError:
            missing += 1
    where = f"{spill.path}/{_piece_name(tag, r, '*')}"
    if missing == len(names):
        raise _ran_twice(where)
    if missing:
        raise _lacks(where, missing, len(names))
    spill.delete(*names)
    return out


# --------------------------------------------------------------------------------------
# graph
# --------------------------------------------------------------------------------------
def spill_rechunk(
    x: da.Array, chunks, spill: Scratch, tag: str = "x", after: Sequence | None = None
) -> da.Array:
    """``x.rechunk(chunks)`` through the scratch space ``spill``.

    Same values, chunks and dtype as the in-memory rechunk; no task holds more than
    its own source or target block (see the module docstring for the files
    ``{tag}-{r}.bin`` of a local directory, the objects ``{tag}-{r}-{j}.bin`` of an
    object store). Several exchanges may share one scratch prefix if their tags differ. The result is named
    ``exchange-read-{token}``, its writers ``(exchange-write-{token},) + index``
    (one per block of ``x``). ``after[i]``, if given and not None, is a key that the
    readers of the target blocks at index ``i`` along the first axis also wait for;
    the caller adds the tasks of those keys to the graph.
    """
    chunks = tuple(tuple(int(c) for c in ax) for ax in chunks)
    src_n = tuple(len(c) for c in x.chunks)
    dst_n = tuple(len(c) for c in chunks)
    forward, backward = [], []
    for src, dst in zip(x.chunks, chunks, strict=True):
        rows = overlaps(src, dst)
        back = [[] for _ in dst]  # per target chunk: (source chunk, start, stop)
        for i, row in enumerate(rows):
            for k, lo, hi, start in row:
                back[k].append((i, start, start + hi - lo))
        rank = {(k, e[0]): j for k, entries in enumerate(back) for j, e in enumerate(entries)}
        forward.append(
            [
                tuple(
                    (k, lo, hi, start, dst[k], rank[k, i], len(back[k])) for k, lo, hi, start in row
                )
                for i, row in enumerate(rows)
            ]
        )
        backward.append([tuple(entries) for entries in back])
    token = tokenize(x, chunks, spill.path, tag)
    wname, rname = f"exchange-write-{token}", f"exchange-read-{token}"
    writers = {}
    for idx in itertools.product(*(range(n) for n in src_n)):
        rows = tuple(forward[a][i] for a, i in enumerate(idx))
        task = (_write_pieces, (x.name,) + idx, spill, tag, _flat(idx, src_n), rows, dst_n)
        writers[(wname,) + idx] = task
    readers = {}
    for idx in itertools.product(*(range(n) for n in dst_n)):
        entries = [backward[a][k] for a, k in enumerate(idx)]
        sources = itertools.product(*([e[0] for e in row] for row in entries))
        tokens = [(wname,) + src for src in sources]
        if after is not None and after[idx[0]] is not None:
            tokens.append(after[idx[0]])
        rows = tuple(tuple((e[1], e[2]) for e in row) for row in entries)
        shape = tuple(chunks[a][k] for a, k in enumerate(idx))
        task = (_read_pieces, tokens, spill, tag, _flat(idx, dst_n), rows, shape, x.dtype)
        readers[(rname,) + idx] = task
    layers = dict(x.dask.layers)
    deps = dict(x.dask.dependencies)
    layers.update({wname: writers, rname: readers})
    deps.update({wname: {x.name}, rname: {wname}})
    return da.Array(HighLevelGraph(layers, deps), rname, chunks=chunks, meta=x._meta)


def layers_of(layers: Sequence[int], blocks: Sequence[int]) -> list[int]:
    """The layer (non-empty chunk of ``layers``) each block of ``blocks`` lies in.

    >>> layers_of((4, 0, 4), (2, 2, 3, 1))
    [0, 0, 1, 1]
    """
    ends = np.cumsum([c for c in layers if c])
    starts = np.concatenate([[0], np.cumsum(blocks)[:-1]]).astype(int)
    return np.searchsorted(ends, starts, side="right").tolist()


def chain_layers(out: da.Array, mask: da.Array, gate: str, layer_of, lead: bool) -> da.Array:
    """Let the first stage of each layer start only once the layer before has written
    its last exchange.

    ``out`` is the last exchange's result (computed from ``mask``); the readers of the
    first exchange of layer ``k + 1`` already wait for the key ``(gate, k)``
    (:func:`spill_rechunk`'s ``after``). This adds those keys: each completes when
    every writer of the last exchange in layer ``k`` (``layer_of`` maps the writers'
    blocks along axis 0, after a leading axis if ``lead``, to layers) has. Without the
    chain, dask runs the first stage over the whole volume before the later stages of
    any layer (the axis-0 pass goes column by column, through every layer), so the
    exchanges' files would hold the whole volume; with it, about two layers.

    A layer's first tasks now wait for tasks of later graph layers, so all the tasks
    built after ``mask`` go into one graph layer (as they would at compute time).
    """
    writer = "exchange-write-" + out.name.removeprefix("exchange-read-")
    groups: dict[int, list] = {}
    for key in out.dask.layers[writer]:
        groups.setdefault(layer_of[key[2 if lead else 1]], []).append(key)
    tasks = {(gate, k): (_done, keys) for k, keys in groups.items() if k + 1 < len(groups)}
    if not tasks:  # a single layer: nothing waits
        return out
    pipeline = {}
    for name, layer in out.dask.layers.items():
        if name not in mask.dask.layers:
            pipeline.update(layer)
    pipeline.update(tasks)
    graph = HighLevelGraph(
        {**mask.dask.layers, out.name: pipeline},
        {**mask.dask.dependencies, out.name: {mask.name}},
    )
    return da.Array(graph, out.name, chunks=out.chunks, meta=out._meta)


def _done(tokens) -> None:
    """Completes once all its inputs have (a gate)."""
    return None
