"""Positional reads and writes of regions of C-order arrays stored in plain files.

The primitives under the raw reader and writer (:mod:`bigimg.io`) and the halo
spill's block files (:mod:`bigimg._halo`): a region is read or written as the
contiguous runs it covers with ``os.preadv``/``os.pwrite``, never through a memory
map, so file pages never count in a worker's resident memory.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["ROW_COST_BYTES", "element_strides", "fsync", "read_runs", "write_runs"]


def element_strides(shape: tuple[int, ...], order: str) -> tuple[int, ...]:
    """Distance, in elements, between neighbours along each axis of the file."""
    axes = range(len(shape) - 1, -1, -1) if order == "C" else range(len(shape))
    strides, step = [0] * len(shape), 1
    for axis in axes:
        strides[axis] = step
        step *= shape[axis]
    return tuple(strides)


def write_runs(path, offset, shape, region, block) -> None:
    """Write C-contiguous ``block`` at ``region`` of a C-order file, one run per pwrite."""
    ndim = len(shape)
    # the trailing axes the region covers whole merge with the axis before them
    k = ndim - 1
    while k > 0 and region[k].start == 0 and region[k].stop == shape[k]:
        k -= 1
    run_shape = block.shape[k:]
    strides = element_strides(shape, "C")
    itemsize = block.dtype.itemsize
    runs = block.reshape(block.shape[:k] + (math.prod(run_shape),))
    base = sum(s.start * st for s, st in zip(region, strides, strict=True))
    fd = os.open(path, os.O_WRONLY)
    try:
        for lead in np.ndindex(*block.shape[:k]):
            pos = base + sum(i * st for i, st in zip(lead, strides, strict=False))
            data = memoryview(runs[lead]).cast("B")
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], offset + (pos * itemsize) + written)
    finally:
        os.close(fd)


#: A plane's rows are read with one ``pread`` of the span that holds them all unless
#: the span exceeds the bytes wanted by more than this many bytes per row: one
#: ``pread`` per row costs about what copying 64 KiB from the page cache does (a 140³
#: uint16 region of 2560² planes: 23 ms by spans, 40 ms by rows; 80 ms against 820 ms
#: from disk).
ROW_COST_BYTES = 64 << 10


def read_runs(path, offset, shape, region, dtype) -> np.ndarray:
    """Read ``region`` (step 1) of a C-order file with positional reads (``os.preadv``).

    Memory maps were used before: touching a 140³ region of a 2048² uint16 volume put
    ~550 MiB of file pages into the process's resident set (the page cache maps large
    folios whole), which a dask worker's memory monitor counts against its limit. The
    trailing axes the region covers whole make one run; the runs of one plane are read
    with one ``pread`` of their span unless it is much longer than they are (a narrow
    chunk of very wide rows, see :data:`ROW_COST_BYTES`), else one ``pread`` each.
    """
    ndim = len(shape)
    out = np.empty(tuple(s.stop - s.start for s in region), dtype)
    k = ndim - 1
    while k > 0 and region[k].start == 0 and region[k].stop == shape[k]:
        k -= 1
    strides = element_strides(shape, "C")
    itemsize = out.dtype.itemsize
    run = math.prod(out.shape[k:])  # elements in one contiguous run
    runs = out.reshape(out.shape[:k] + (run,))
    base = sum(s.start * st for s, st in zip(region, strides, strict=True))
    fd = os.open(path, os.O_RDONLY)
    try:
        if k == 0:
            pread_into(fd, memoryview(runs).cast("B"), offset + base * itemsize, path)
            return out
        rows, row_stride = out.shape[k - 1], strides[k - 1]
        span = (rows - 1) * row_stride + run
        use_span = (span - rows * run) * itemsize <= rows * ROW_COST_BYTES
        scratch = np.empty(span if use_span else 0, dtype)
        for lead in np.ndindex(*out.shape[: k - 1]):
            pos = base + sum(i * st for i, st in zip(lead, strides, strict=False))
            dest = runs[lead]  # (rows, run)
            if use_span:
                pread_into(fd, memoryview(scratch).cast("B"), offset + pos * itemsize, path)
                dest[...] = np.lib.stride_tricks.as_strided(
                    scratch, shape=(rows, run), strides=(row_stride * itemsize, itemsize)
                )
            else:
                for r in range(rows):
                    at = offset + (pos + r * row_stride) * itemsize
                    pread_into(fd, memoryview(dest[r]).cast("B"), at, path)
    finally:
        os.close(fd)
    return out


def pread_into(fd: int, buf: memoryview, at: int, path: str) -> None:
    done = 0
    while done < len(buf):
        got = os.preadv(fd, [buf[done:]], at + done)
        if got == 0:
            raise OSError(
                f"raw file {path} ended at byte {at + done:,} while reading; it changed "
                "after it was opened: open it again."
            )
        done += got


def fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
