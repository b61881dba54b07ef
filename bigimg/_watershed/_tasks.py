"""The tasks of the out-of-core ``watershed_ift``: write blocks, solve, read blocks.

Everything goes through the scratch space (:class:`~bigimg._scratch.Scratch`). On a
local or shared directory that is one file, ``state``: one packed record per voxel holding the two queue links (4 bytes each,
8 from 2**31 - 1 voxels on), the label (the output's itemsize), the cost (2 bytes for
uint8 input, 4 for uint16) and the input value (1 or 2 bytes): 15 bytes for uint8 input
and int32 labels. One record per voxel, rather than one file per field, means that
visiting a voxel and its neighbours touches a few pages instead of a few pages per
field. The records are in C order when, as the graph is built, they fit in the resident
budget (the solve then floods them in memory, where C order is fastest); otherwise in
bricks of 8 x 8 x 8 voxels (:func:`~bigimg._watershed._kernel.layout`, each axis padded
to whole bricks), so that a voxel's neighbours along every axis usually share its page
of the mapped file: at 256³ with a budget of an eighth of the records that is about
three times fewer page faults than C order.

1. :func:`write_block` (one task per block) writes the records of its block (input,
   marker codes, markers, null links), creating the file at its full size if needed, and
   returns the block's maximum.
2. :func:`solve` (one task, after every write) runs the kernel of
   :mod:`bigimg._watershed._kernel` in bursts. When the records fit in the resident
   budget (:func:`resident_budget`) it reads them into memory, deletes ``state`` and
   writes the labels alone to ``labels`` (same layout) at the end. Otherwise it maps
   ``state`` and floods it in place; between bursts it checks the process's resident
   memory and, above the budget, drops its mapped pages (``madvise(MADV_DONTNEED)``):
   the data stays in the page cache (the operating system writes dirty pages back), so
   resident memory stays bounded while the file can be larger than memory.
3. :func:`read_block` (one task per block, after the solve) reads the labels of its
   block from where the solve left them; the last one to finish removes the directory.

Write and read tasks map the file and drop the pages they touched every
:data:`MAP_BYTES` or so, so they hold little more than their block. Any failing task
removes the directory. A directory left by an interrupted run goes when the graph is
garbage collected or at interpreter exit (:class:`Scratch`).

**On an object store** (``s3://``, ``gs://``, ``memory://``...) objects cannot be
written in parts or mapped, so the steps exchange whole objects instead:
:func:`write_block` writes its block's records as one object (``records-...``, in the
block's own C order); the single :func:`solve` task assembles the state where it runs
(in memory when it fits the resident budget, else in a ``state`` file in a fresh
directory under that worker's own temporary directory: dask's
``temporary-directory`` there, else :func:`tempfile.gettempdir`), floods it as above,
writes each block's labels as one object (``labels-...``), deletes the records and
its local directory; each :func:`read_block` reads its block's labels object and
deletes it. No disk is shared between the machines; the solve's machine needs local
room for the state when it does not fit its budget.

Settings (``dask.config``): ``bigimg.watershed-resident-bytes`` is the resident budget
(:func:`resident_budget`; default a quarter of the memory, at least 256 MiB). It is
read twice: when the graph is built (records over the budget are laid out in bricks)
and by the solve task where it runs (records over the budget are flooded in a mapped
file); a negative value forces the mapped path, which the tests use.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
import os
import shutil
import tempfile
from dataclasses import dataclass

import dask
import numpy as np
import psutil

from bigimg._scratch import Scratch
from bigimg._watershed import _kernel as K

__all__ = [
    "RESIDENT_BUDGET",
    "RESIDENT_KEY",
    "Volume",
    "read_block",
    "resident_budget",
    "solve",
    "write_block",
]

#: Bytes of mapped pages the solve keeps resident before dropping them; None: the
#: default of :func:`resident_budget`. Default of ``bigimg.watershed-resident-bytes``.
RESIDENT_BUDGET: int | None = None
#: The ``dask.config`` key of the resident budget.
RESIDENT_KEY = "bigimg.watershed-resident-bytes"
#: Most pops per kernel call on a mapped file; resident memory is checked after each.
BURST_POPS = 1 << 13
#: Most voxels per call of the marker pass on a mapped file (and per labels write).
BURST_VOXELS = 1 << 20
#: Fewest pops or voxels per call.
MIN_BURST = 256
#: Bytes of a file a write or read task touches between drops of its mapped pages.
MAP_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Volume:
    """Where the files are and what they hold (small: this goes into every task)."""

    scratch: Scratch
    shape: tuple[int, ...]
    input_dtype: np.dtype  # native uint8 / uint16
    label_dtype: np.dtype  # native signed integer
    bricks: tuple[int, int, int] = (0, 0, 0)  # the layout's brick bits; zeros: C order

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def layout(self) -> np.ndarray:
        """:func:`~bigimg._watershed._kernel.layout` of the files."""
        return K.layout(self.shape, self.bricks)

    @property
    def cost_dtype(self) -> np.dtype:
        return K.cost_dtype(self.input_dtype)

    @property
    def link_dtype(self) -> np.dtype:
        return K.link_dtype(int(self.layout[-1]))

    def file(self, name: str) -> str:
        return self.scratch.file(name)

    @property
    def record(self) -> np.dtype:
        """One voxel of ``state`` (packed: unaligned fields cost nothing on disk)."""
        link = self.link_dtype
        return np.dtype(
            [
                ("next", link),
                ("prev", link),
                ("label", self.label_dtype),
                ("cost", self.cost_dtype),
                ("input", self.input_dtype),
            ]
        )


def _view_region(vol: Volume, region) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """``region`` on the 3-D view of the volume: the ``Z`` of each of its leading rows
    (increasing), and its ``Y`` and ``X`` ranges."""
    shape, region = vol.shape, tuple(region)
    if len(shape) == 1:
        return np.zeros(1, np.int64), (0, 1), region[0]
    lead = [np.arange(lo, hi) for lo, hi in region[:-2]]
    grid = np.meshgrid(*lead, indexing="ij") if lead else []
    zs = np.ravel_multi_index([g.ravel() for g in grid], shape[:-2]) if lead else np.zeros(1)
    return np.asarray(zs, dtype=np.int64).reshape(-1), region[-2], region[-1]


def _copy_region(vol: Volume, name: str, fields: dict, region, *, write: bool) -> None:
    """Copy blocks into a file's ``region`` (``write``) or the region into blocks.

    ``name`` is ``"state"`` (``fields`` maps record fields to blocks, or to a 0-d array
    for one value everywhere) or ``"labels"`` (``fields`` is ``{None: block}``). The file is mapped whole and copied one layer of
    bricks (along the first axis of the 3-D view) at a time; the pages touched are
    dropped every :data:`MAP_BYTES` or so, so a task holds little more than its block.
    """
    dtype = vol.record if name == "state" else vol.label_dtype
    blocks, where = _viewed(vol, fields, region)
    with open(vol.file(name), "r+b" if write else "rb") as f:
        m = mmap.mmap(
            f.fileno(),
            int(vol.layout[-1]) * dtype.itemsize,
            access=mmap.ACCESS_WRITE if write else mmap.ACCESS_READ,
        )
    try:
        records = np.frombuffer(m, dtype=dtype)
        _copy_records(vol, records, blocks, where, write=write, mapped=m)
        del records
    finally:
        m.close()


def _viewed(vol: Volume, fields: dict, region) -> tuple[dict, tuple]:
    """``fields``' blocks viewed on the 3-D view of ``region``, and that view."""
    zs, ys, xs = _view_region(vol, region)
    view = (len(zs), ys[1] - ys[0], xs[1] - xs[0])  # a 0-d block: one value everywhere
    blocks = {
        f: np.broadcast_to(b, view) if b.ndim == 0 else b.reshape(view) for f, b in fields.items()
    }
    return blocks, (zs, ys, xs)


def _copy_records(vol: Volume, records, blocks, where, *, write: bool, mapped=None) -> None:
    """:func:`_copy_region` on ``records`` (a mapped file's, or an array in memory).

    ``blocks`` maps fields to blocks already viewed as ``where`` (the region on the
    3-D view, :func:`_view_region`); the pages of ``mapped`` are dropped as it goes.
    """
    zs, (y0, y1), (x0, x1) = where
    lay, itemsize = vol.layout, records.dtype.itemsize
    kz, ky, kx, gy, gx = (int(lay[i]) for i in (3, 4, 5, 7, 8))
    kb = kz + ky + kx
    arrays = {f: (records if f is None else records[f]) for f in blocks}
    layers = zs >> kz
    lo = hi = None
    for layer in np.unique(layers):
        i0, i1 = np.searchsorted(layers, [layer, layer + 1])
        for f, block in blocks.items():
            args = (zs[i0:i1], y0, x0, lay, 0)
            if write:
                K.scatter(arrays[f], block[i0:i1], *args)
            else:
                K.gather(block[i0:i1], arrays[f], *args)
        first = ((layer * gy + (y0 >> ky)) * gx + (x0 >> kx)) << kb
        last = ((layer * gy + ((y1 - 1) >> ky)) * gx + ((x1 - 1) >> kx) + 1) << kb
        lo = first if lo is None else min(lo, first)
        hi = last if hi is None else max(hi, last)
        if mapped is not None and (hi - lo) * itemsize >= MAP_BYTES:
            _drop(mapped, lo * itemsize, hi * itemsize)
            lo = hi = None


def _copy_array(vol: Volume, records, fields: dict, region, *, write: bool) -> None:
    """:func:`_copy_region` on an array of records (in memory, or mapped by the caller)."""
    _copy_records(vol, records, *_viewed(vol, fields, region), write=write)


def _drop(m: mmap.mmap, begin: int, end: int) -> None:
    """Drop the mapped pages of bytes ``[begin, end)`` (where madvise exists)."""
    if hasattr(mmap, "MADV_DONTNEED"):
        begin -= begin % mmap.PAGESIZE
        m.madvise(mmap.MADV_DONTNEED, begin, min(end, len(m)) - begin)


def _create(vol: Volume) -> None:
    """Create ``state`` at its full size (sparse) unless it exists at that size."""
    nbytes = int(vol.layout[-1]) * vol.record.itemsize
    fd = os.open(vol.file("state"), os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if os.fstat(fd).st_size != nbytes:
            os.ftruncate(fd, nbytes)
    finally:
        os.close(fd)


def _object_name(what: str, region) -> str:
    """The object of a block (named by its first voxel) on an object store."""
    return f"{what}-" + "-".join(str(lo) for lo, _ in region)


def write_block(input_block, markers_block, vol: Volume, region) -> int:
    """Write one block of input, marker codes and markers; return the block's maximum."""
    try:
        values = np.ascontiguousarray(input_block, dtype=vol.input_dtype)
        labels, codes = K.marker_codes(np.asarray(markers_block), vol.cost_dtype)
        fields = {
            "input": values,
            "cost": codes,
            "label": labels.astype(vol.label_dtype, copy=False),
        }
        if not vol.scratch.is_local:  # the block's records, whole, in C order
            records = np.zeros(values.size, vol.record)
            for f, block in fields.items():
                records[f] = block.reshape(-1)
            vol.scratch.write_block(_object_name("records", region), records)
            return int(values.max()) if values.size else 0
        os.makedirs(vol.scratch.path, exist_ok=True)
        null = np.zeros((), vol.link_dtype)
        fields.update(next=null, prev=null)
        _create(vol)
        _copy_region(vol, "state", fields, region, write=True)
        return int(values.max()) if values.size else 0
    except BaseException:
        vol.scratch.remove()
        raise


class _Mapped:
    """Files mapped into memory, whose resident pages can be dropped as a whole."""

    def __init__(self) -> None:
        self._maps: list[mmap.mmap] = []

    def open(self, path: str, dtype: np.dtype, count: int) -> np.ndarray:
        with open(path, "r+b") as f:
            m = mmap.mmap(f.fileno(), count * dtype.itemsize, access=mmap.ACCESS_WRITE)
        self._maps.append(m)
        return np.frombuffer(m, dtype=dtype, count=count)

    def drop(self) -> None:
        """Unmap every resident page (they stay in the page cache)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            for m in self._maps:
                m.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        """Unmap the files (every array on them must be gone)."""
        for m in self._maps:
            m.close()
        self._maps.clear()


def resident_budget() -> int:
    """The solve's resident budget: a quarter of the memory, at least 256 MiB.

    "The memory" is the worker's memory limit when the task runs on a dask.distributed
    worker that has one (whose nanny watches resident memory), else the machine's RAM.
    ``dask.config``'s ``bigimg.watershed-resident-bytes`` (default
    :data:`RESIDENT_BUDGET`) replaces it when set.
    """
    value = dask.config.get(RESIDENT_KEY, None)
    if value is None:
        value = RESIDENT_BUDGET
    if value is not None:
        return int(value)
    memory = psutil.virtual_memory().total
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):
        limit = None
    if limit:
        memory = min(memory, int(limit))
    return max(256 * 2**20, memory // 4)


class _ResidentGuard:
    """Drop the mapped pages whenever resident memory grew by more than the budget.

    Touching a mapped page maps the whole folio around it (up to 128 KiB and more on
    recent Linux) and right after a drop every access faults, so resident memory can
    grow by far more than the records a burst visits: bursts are kept short (see
    :meth:`pops`), so that one burst stays well within a quarter of the budget.
    """

    #: Resident growth one pop may cause at worst: a few scattered folios.
    GROWTH_PER_POP = 1 << 20

    def __init__(self, mapped: _Mapped, budget: int) -> None:
        self._mapped, self.budget = mapped, budget
        try:  # Linux: resident pages from /proc, a few microseconds per read
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._statm = None
            self._proc = psutil.Process()
        self._base = self._rss()
        self.drops = 0

    def __enter__(self) -> _ResidentGuard:
        return self

    def __exit__(self, *exc) -> None:
        if self._statm is not None:
            os.close(self._statm)
            self._statm = None

    def _rss(self) -> int:
        if self._statm is None:
            return self._proc.memory_info().rss
        return int(os.pread(self._statm, 128, 0).split()[1]) * mmap.PAGESIZE

    def pops(self) -> int:
        """Pops per burst."""
        return min(BURST_POPS, max(MIN_BURST, self.budget // (4 * self.GROWTH_PER_POP)))

    def voxels(self, growth: int) -> int:
        """Voxels per burst of the (raster order) marker pass, whose resident memory
        grows by at most ``growth`` bytes per voxel."""
        return min(BURST_VOXELS, max(MIN_BURST, self.budget // (4 * growth)))

    def check(self) -> None:
        """Drop the mapped pages if resident memory grew by more than the budget."""
        if self._rss() - self._base > self.budget:
            self._mapped.drop()
            self.drops += 1
            rss = self._rss()
            if rss - self._base > self.budget // 2:  # memory that is not ours grew
                self._base = rss


def solve(
    maxima: list[int], vol: Volume, offsets: np.ndarray, chunks=None
) -> tuple[str, str | None]:
    """Run scipy's watershed; return where the labels are (a ``source`` to read from).

    When the records fit in the resident budget they are read into memory, flooded
    there (no page faults, no write-back of dirty pages) and only the labels are
    written back, to ``labels``. Otherwise the file is flooded in place, memory-mapped.
    On an object store (``chunks``, the volume's, say where its blocks' objects are)
    see :func:`_solve_objects`.
    """
    if not vol.scratch.is_local:
        try:
            return _solve_objects(max(maxima), vol, offsets, chunks)
        except BaseException:
            vol.scratch.remove()
            raise
    try:
        maxval = max(maxima)
        shutil.rmtree(vol.file("reads"), ignore_errors=True)
        os.mkdir(vol.file("reads"))  # read tasks mark their block here
        budget, count = resident_budget(), int(vol.layout[-1])
        if count * vol.record.itemsize <= budget:
            state = np.fromfile(vol.file("state"), dtype=vol.record, count=count)
            os.remove(vol.file("state"))
            _flood(state, maxval, offsets, vol)
            with open(vol.file("labels"), "wb") as f:
                for start in range(0, count, BURST_VOXELS):
                    f.write(np.ascontiguousarray(state["label"][start : start + BURST_VOXELS]))
            return ("labels", None)
        mapped = _Mapped()
        state = mapped.open(vol.file("state"), vol.record, count)
        with _ResidentGuard(mapped, budget) as guard:
            _flood(state, maxval, offsets, vol, guard)
        del state
        mapped.close()
        return ("state", "label")
    except BaseException:
        vol.scratch.remove()
        raise


def _regions(chunks) -> list[tuple[tuple[int, int], ...]]:
    """The blocks' regions in ``np.ndindex`` order (the graph's order of blocks)."""
    starts = [np.concatenate([[0], np.cumsum(c)]).astype(int).tolist() for c in chunks]
    return [
        tuple((s[j], s[j + 1]) for s, j in zip(starts, idx, strict=True))
        for idx in np.ndindex(*(len(c) for c in chunks))
    ]


def _local_temp() -> str:
    """This process's own temporary directory (on a worker: the worker's settings)."""
    return dask.config.get("temporary-directory", None) or tempfile.gettempdir()


def _solve_objects(maxval: int, vol: Volume, offsets: np.ndarray, chunks):
    """The solve on an object store: assemble the state here, flood, write labels.

    In memory when the records fit in the resident budget; else in a ``state`` file
    in a fresh directory under this process's own temporary directory, flooded
    mapped (its pages dropped whenever resident memory grew by the budget). Each
    block's labels are then written as one object, and the records' objects deleted
    (only now: a solve run again still finds them).
    """
    store, regions = vol.scratch, _regions(chunks)
    budget, count = resident_budget(), int(vol.layout[-1])
    folder = mapped = guard = None
    try:
        if count * vol.record.itemsize <= budget:
            state = np.zeros(count, vol.record)
        else:
            folder = Scratch(_local_temp(), "watershed-solve")  # on this machine
            os.makedirs(folder.path)
            local = dataclasses.replace(vol, scratch=folder)
            _create(local)
            mapped = _Mapped()
            state = mapped.open(local.file("state"), vol.record, count)
            guard = _ResidentGuard(mapped, budget)
        for region in regions:
            n = math.prod(hi - lo for lo, hi in region)
            records = store.read_block(_object_name("records", region), (n,), vol.record)
            fields = {f: np.ascontiguousarray(records[f]) for f in records.dtype.names}
            del records
            _copy_array(vol, state, fields, region, write=True)
            if guard is not None:
                guard.check()
        _flood(state, maxval, offsets, vol, guard)
        for region in regions:
            block = np.empty(tuple(hi - lo for lo, hi in region), vol.label_dtype)
            _copy_array(vol, state, {"label": block}, region, write=False)
            store.write_block(_object_name("labels", region), block)
            if guard is not None:
                guard.check()
        store.delete(*(_object_name("records", region) for region in regions))
        return ("objects", None)
    finally:
        state = None
        if guard is not None:
            guard.__exit__()
        if mapped is not None:
            try:
                mapped.close()
            except BufferError:  # a failure's traceback still holds views: unmapped later
                pass
        if folder is not None:
            folder.remove()


def _flood(
    state, maxval: int, offsets: np.ndarray, vol: Volume, guard: _ResidentGuard | None = None
) -> None:
    """The marker pass, then the propagation; in bursts checked by ``guard`` if given."""
    inp, cost, nxt, prv, labels = (state[f] for f in ("input", "cost", "next", "prev", "label"))
    first = np.zeros(maxval + 1, dtype=nxt.dtype)
    last = np.zeros(maxval + 1, dtype=nxt.dtype)
    lay = vol.layout
    # the marker pass goes in raster order: in bricks each row of a brick is a page
    growth = max(state.itemsize, 2 * mmap.PAGESIZE >> int(lay[5]))
    step = vol.size if guard is None else guard.voxels(growth)
    for start in range(0, vol.size, step):
        K.seed_queue(cost, nxt, prv, first, last, lay, start, min(start + step, vol.size))
        if guard is not None:
            guard.check()
    level = np.array([0, maxval], dtype=np.int64)
    pops = 1 << 62 if guard is None else guard.pops()
    queue = {"first": first, "last": last, "state": level, "max_pops": pops}
    if lay[3:6].any():
        steps = K.neighbour_steps(offsets, vol.shape)
        while level[0] <= maxval:
            K.propagate_bricks(inp, cost, nxt, prv, labels, steps, lay, **queue)
            if guard is not None:
                guard.check()
    else:
        while level[0] <= maxval:
            K.propagate(inp, cost, nxt, prv, labels, offsets, **queue)
            if guard is not None:
                guard.check()


def read_block(source, vol: Volume, region, index: int, nblocks: int, dtype: np.dtype):
    """Read one block of the labels from ``source`` (what :func:`solve` returned); the
    last block read removes the directory (on an object store: each block deletes its
    labels object)."""
    try:
        shape = tuple(hi - lo for lo, hi in region)
        name, field = source
        if name == "objects":  # on an object store: the block's labels object
            block = vol.scratch.read_block(_object_name("labels", region), shape, vol.label_dtype)
            vol.scratch.delete(_object_name("labels", region))
            return block.astype(dtype, copy=False)
        block = np.empty(shape, dtype=vol.label_dtype)
        _copy_region(vol, name, {field: block}, region, write=False)
        block = block.astype(dtype, copy=False)
        open(os.path.join(vol.file("reads"), str(index)), "wb").close()
    except FileNotFoundError as exc:
        vol.scratch.remove()
        raise FileNotFoundError(
            f"watershed_ift's temporary files in {vol.scratch.path} are gone (was this "
            "block computed again after the others, e.g. after a worker was lost?); "
            "compute the result again."
        ) from exc
    except BaseException:
        vol.scratch.remove()
        raise
    try:
        if len(os.listdir(vol.file("reads"))) >= nblocks:
            vol.scratch.remove()
    except FileNotFoundError:
        pass  # another block was the last one and removed the directory
    return block
