"""The tasks of the out-of-core ``watershed_ift``: write blocks, solve, read blocks.

Everything goes through a scratch directory (:class:`SpillDir`) and one file,
``state``: one packed record per voxel, in C order, holding the two queue links (4
bytes each, 8 from 2**31 - 1 voxels on), the label (the output's itemsize), the cost (2
bytes for uint8 input, 4 for uint16) and the input value (1 or 2 bytes): 15 bytes for
uint8 input and int32 labels. One record per voxel, rather than one file per field,
means that visiting a voxel and its neighbours touches a few pages instead of a few
pages per field.

1. :func:`write_block` (one task per block) writes the records of its block (input,
   marker codes, markers, null links), creating the file at its full size if needed,
   and returns the block's maximum.
2. :func:`solve` (one task, after every write) runs the kernel of
   :mod:`bigimg.ndimage._watershed_kernel` in bursts. When the records fit in the
   resident budget (:func:`resident_budget`) it reads them into memory, deletes
   ``state`` and writes the labels alone to ``labels`` at the end. Otherwise it maps
   ``state`` and floods it in place; between bursts it checks the process's resident
   memory and, above the budget, drops its mapped pages (``madvise(MADV_DONTNEED)``):
   the data stays in the page cache (the operating system writes dirty pages back),
   so resident memory stays bounded while the file can be larger than memory.
3. :func:`read_block` (one task per block, after the solve) reads the labels of its
   block from where the solve left them; the last one to finish removes the
   directory.

Write and read tasks map the files a few planes at a time (:data:`MAP_BYTES`), so they
hold little more than their block. Any failing task removes the directory. A
directory left by an interrupted run goes when the graph is garbage collected or at
interpreter exit (:class:`SpillDir`).
"""

from __future__ import annotations

import math
import mmap
import os
import shutil
from dataclasses import dataclass

import numpy as np
import psutil

from bigimg._spill import SpillDir
from bigimg.ndimage import _watershed_kernel as K

__all__ = [
    "RESIDENT_BUDGET",
    "Volume",
    "read_block",
    "resident_budget",
    "solve",
    "write_block",
]

#: Bytes of mapped pages the solve keeps resident before dropping them; None: the
#: default of :func:`resident_budget`.
RESIDENT_BUDGET: int | None = None
#: Most pops per kernel call on a mapped file; resident memory is checked after each.
BURST_POPS = 1 << 13
#: Most voxels per call of the marker pass on a mapped file (and per labels write).
BURST_VOXELS = 1 << 20
#: Fewest pops or voxels per call.
MIN_BURST = 256
#: Bytes of a file a write or read task maps at a time.
MAP_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Volume:
    """Where the files are and what they hold (small: this goes into every task)."""

    scratch: SpillDir
    shape: tuple[int, ...]
    input_dtype: np.dtype  # native uint8 / uint16
    label_dtype: np.dtype  # native signed integer

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def cost_dtype(self) -> np.dtype:
        return K.cost_dtype(self.input_dtype)

    @property
    def link_dtype(self) -> np.dtype:
        return K.link_dtype(self.size)

    def file(self, name: str) -> str:
        return os.path.join(self.scratch.path, name)

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


def _copy_region(
    vol: Volume, source: tuple[str, str | None], region, block: np.ndarray, *, write: bool
) -> None:
    """Copy ``block`` into a file's ``region`` (``write``) or the region into ``block``.

    ``source`` is ``("state", None)`` (whole records), ``("state", "label")`` (one
    field of the records) or ``("labels", None)`` (the labels alone).

    The file is mapped a few planes (axis 0) at a time, at most :data:`MAP_BYTES` each,
    and unmapped after each copy, so a task never holds more than that of the file.
    """
    name, field = source
    dtype, shape = (vol.record if name == "state" else vol.label_dtype), vol.shape
    plane = math.prod(shape[1:]) * dtype.itemsize
    step = max(1, MAP_BYTES // max(plane, 1))
    inner = tuple(slice(lo, hi) for lo, hi in region[1:])
    lo, hi = region[0]
    with open(vol.file(name), "r+b" if write else "rb") as f:
        for z in range(lo, hi, step):
            z1 = min(z + step, hi)
            begin = z * plane
            aligned = begin - begin % mmap.ALLOCATIONGRANULARITY
            m = mmap.mmap(
                f.fileno(),
                z1 * plane - aligned,
                offset=aligned,
                access=mmap.ACCESS_WRITE if write else mmap.ACCESS_READ,
            )
            try:
                planes = np.frombuffer(
                    m, dtype=dtype, count=(z1 - z) * plane // dtype.itemsize, offset=begin - aligned
                ).reshape((z1 - z,) + shape[1:])
                if field is not None:
                    planes = planes[field]
                if write:
                    planes[(slice(None),) + inner] = block[z - lo : z1 - lo]
                else:
                    block[z - lo : z1 - lo] = planes[(slice(None),) + inner]
                del planes
            finally:
                m.close()


def _create(vol: Volume) -> None:
    """Create ``state`` at its full size (sparse) unless it exists at that size."""
    nbytes = vol.size * vol.record.itemsize
    fd = os.open(vol.file("state"), os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if os.fstat(fd).st_size != nbytes:
            os.ftruncate(fd, nbytes)
    finally:
        os.close(fd)


def write_block(input_block, markers_block, vol: Volume, region) -> int:
    """Write one block of input, marker codes and markers; return the block's maximum."""
    try:
        os.makedirs(vol.scratch.path, exist_ok=True)
        values = np.asarray(input_block, dtype=vol.input_dtype)
        labels, codes = K.marker_codes(np.asarray(markers_block), vol.cost_dtype)
        records = np.zeros(values.shape, dtype=vol.record)  # null links
        records["input"], records["cost"], records["label"] = values, codes, labels
        del labels, codes
        _create(vol)
        _copy_region(vol, ("state", None), region, records, write=True)
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
    """
    if RESIDENT_BUDGET is not None:
        return RESIDENT_BUDGET
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

    def voxels(self, record: int) -> int:
        """Voxels per burst of the (sequential) marker pass."""
        return min(BURST_VOXELS, max(MIN_BURST, self.budget // (4 * record)))

    def check(self) -> None:
        """Drop the mapped pages if resident memory grew by more than the budget."""
        if self._rss() - self._base > self.budget:
            self._mapped.drop()
            self.drops += 1
            rss = self._rss()
            if rss - self._base > self.budget // 2:  # memory that is not ours grew
                self._base = rss


def solve(maxima: list[int], vol: Volume, offsets: np.ndarray) -> tuple[str, str | None]:
    """Run scipy's watershed; return where the labels are (a ``source`` to read from).

    When the records fit in the resident budget they are read into memory, flooded
    there (no page faults, no write-back of dirty pages) and only the labels are
    written back, to ``labels``. Otherwise the file is flooded in place, memory-mapped.
    """
    try:
        maxval = max(maxima)
        shutil.rmtree(vol.file("reads"), ignore_errors=True)
        os.mkdir(vol.file("reads"))  # read tasks mark their block here
        budget = resident_budget()
        if vol.size * vol.record.itemsize <= budget:
            state = np.fromfile(vol.file("state"), dtype=vol.record, count=vol.size)
            os.remove(vol.file("state"))
            _flood(state, maxval, offsets)
            with open(vol.file("labels"), "wb") as f:
                for start in range(0, vol.size, BURST_VOXELS):
                    f.write(np.ascontiguousarray(state["label"][start : start + BURST_VOXELS]))
            return ("labels", None)
        mapped = _Mapped()
        state = mapped.open(vol.file("state"), vol.record, vol.size)
        with _ResidentGuard(mapped, budget) as guard:
            _flood(state, maxval, offsets, guard)
        del state
        mapped.close()
        return ("state", "label")
    except BaseException:
        vol.scratch.remove()
        raise


def _flood(state, maxval: int, offsets: np.ndarray, guard: _ResidentGuard | None = None) -> None:
    """The marker pass, then the propagation; in bursts checked by ``guard`` if given."""
    inp, cost, nxt, prv, labels = (state[f] for f in ("input", "cost", "next", "prev", "label"))
    first = np.zeros(maxval + 1, dtype=nxt.dtype)
    last = np.zeros(maxval + 1, dtype=nxt.dtype)
    step = state.size if guard is None else guard.voxels(state.itemsize)
    for start in range(0, state.size, step):
        K.seed_queue(cost, nxt, prv, first, last, start, min(start + step, state.size))
        if guard is not None:
            guard.check()
    level = np.array([0, maxval], dtype=np.int64)
    pops = 1 << 62 if guard is None else guard.pops()
    while level[0] <= maxval:
        K.propagate(inp, cost, nxt, prv, labels, offsets, first, last, level, pops)
        if guard is not None:
            guard.check()


def read_block(source, vol: Volume, region, index: int, nblocks: int, dtype: np.dtype):
    """Read one block of the labels from ``source`` (what :func:`solve` returned); the
    last block read removes the directory."""
    try:
        block = np.empty(tuple(hi - lo for lo, hi in region), dtype=vol.label_dtype)
        _copy_region(vol, source, region, block, write=False)
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
