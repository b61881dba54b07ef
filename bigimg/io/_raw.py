"""Raw (headerless) volumes: a lazy memmap-per-task reader and a streaming writer.

:class:`RawReader` maps, inside each task, only the bytes that cover its block (from
the block's first voxel to its last in file order), reads the block through a strided
view and copies it out. Nothing larger than a path and a dtype is ever pickled, so
workers on other machines read the (shared) file themselves. :class:`RawWriter` does
the same in reverse for :func:`dask.array.store`.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg._halo import as_dask
from bigimg.io._atomic import prepare_output, refuse_partial, resolve_progress, run_write
from bigimg.io._reader import (
    BlockReader,
    _normalize_index,
    check_path,
    normalize_chunks,
    reader_to_dask,
)

__all__ = ["RawReader", "RawWriter", "open_raw", "save_raw"]


def _element_strides(shape: tuple[int, ...], order: str) -> tuple[int, ...]:
    """Distance, in elements, between neighbours along each axis of the file."""
    axes = range(len(shape) - 1, -1, -1) if order == "C" else range(len(shape))
    strides, step = [0] * len(shape), 1
    for axis in axes:
        strides[axis] = step
        step *= shape[axis]
    return tuple(strides)


class _RawLayout(BlockReader):
    """A dtype and a C/F layout of ``shape`` starting ``offset`` bytes into ``path``."""

    def __init__(self, path: str, shape, dtype, offset: int, order: str, stamp=None) -> None:
        self.path = path
        self.stamp = stamp  # the file's mtime when opened: names the graph, never read
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)
        self.order = order

    def _map(self, region: tuple[slice, ...], mode: str) -> tuple[np.memmap, np.ndarray]:
        """The map and a strided view of ``region`` over a map of just the bytes that cover it."""
        strides = _element_strides(self.shape, self.order)
        counts = [len(range(s.start, s.stop, s.step)) for s in region]
        first = sum(s.start * st for s, st in zip(region, strides, strict=True))
        last = sum(
            (s.start + (c - 1) * s.step) * st
            for s, c, st in zip(region, counts, strides, strict=True)
        )
        itemsize = self.dtype.itemsize
        try:
            flat = np.memmap(
                self.path,
                dtype=self.dtype,
                mode=mode,
                offset=self.offset + first * itemsize,
                shape=(last - first + 1,),
            )
        except ValueError as exc:  # the file shrank after it was opened
            raise OSError(
                f"raw file {self.path} is too short for voxels {first:,}..{last:,} of shape "
                f"{self.shape} ({os.path.getsize(self.path):,} bytes); it changed after "
                "it was opened: open it again."
            ) from exc
        byte_strides = tuple(st * s.step * itemsize for s, st in zip(region, strides, strict=True))
        view = np.lib.stride_tricks.as_strided(
            flat, shape=tuple(counts), strides=byte_strides, writeable=mode != "r"
        )
        return flat, view


class RawReader(_RawLayout):
    """Picklable array-like view of a raw file; indexing reads only the indexed voxels.

    Blocks come back C-contiguous in the file's own dtype (``">u2"`` stays ``">u2"``).
    """

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        if any(s.step != 1 for s in region) or 0 in (s.stop - s.start for s in region):
            _, view = self._map(region, "r")
            return np.array(view, order="C")
        if self.order == "F":  # the file is the C layout of the transposed volume
            block = _read_runs(self.path, self.offset, self.shape[::-1], region[::-1], self.dtype)
            return np.ascontiguousarray(block.T)
        return _read_runs(self.path, self.offset, self.shape, region, self.dtype)


class RawWriter(_RawLayout):
    """Picklable :func:`dask.array.store` target that writes each block into its bytes.

    A block is written with positional writes (``os.pwrite``) of its contiguous runs
    in file order: whole rows, or whole planes when the block spans whole rows. The
    page cache gathers the runs of neighbouring blocks into full pages before they
    reach the disk; forcing each block's pages out as it is written (``msync``) made
    every 4 KiB page of a 128³ block layout go to disk up to 16 times (a 32 GiB file
    wrote ~15x its size). Closing the file at the end of each task is what makes the
    writes visible to other machines on a network file system (close-to-open
    consistency); :func:`save_raw` syncs the whole file to disk once, before the
    rename that marks it complete.
    """

    def __setitem__(self, index: Any, block: np.ndarray) -> None:
        region, flips, drops = _normalize_index(index, self.shape)
        if flips or drops:
            raise IndexError("RawWriter takes one slice with a positive step per axis")
        if 0 in (s.stop - s.start for s in region):
            return
        if any(s.step != 1 for s in region):
            flat, view = self._map(region, "r+")
            view[...] = block
            del flat, view
            return
        block = np.asarray(block, dtype=self.dtype)
        shape, region = self.shape, list(region)
        if self.order == "F":  # the file is the C layout of the transposed volume
            shape, region, block = shape[::-1], region[::-1], block.T
        _write_runs(self.path, self.offset, shape, tuple(region), np.ascontiguousarray(block))


def _write_runs(path, offset, shape, region, block) -> None:
    """Write C-contiguous ``block`` at ``region`` of a C-order file, one run per pwrite."""
    ndim = len(shape)
    # the trailing axes the region covers whole merge with the axis before them
    k = ndim - 1
    while k > 0 and region[k].start == 0 and region[k].stop == shape[k]:
        k -= 1
    run_shape = block.shape[k:]
    strides = _element_strides(shape, "C")
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


def _read_runs(path, offset, shape, region, dtype) -> np.ndarray:
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
    strides = _element_strides(shape, "C")
    itemsize = out.dtype.itemsize
    run = math.prod(out.shape[k:])  # elements in one contiguous run
    runs = out.reshape(out.shape[:k] + (run,))
    base = sum(s.start * st for s, st in zip(region, strides, strict=True))
    fd = os.open(path, os.O_RDONLY)
    try:
        if k == 0:
            _pread_into(fd, memoryview(runs).cast("B"), offset + base * itemsize, path)
            return out
        rows, row_stride = out.shape[k - 1], strides[k - 1]
        span = (rows - 1) * row_stride + run
        use_span = (span - rows * run) * itemsize <= rows * ROW_COST_BYTES
        scratch = np.empty(span if use_span else 0, dtype)
        for lead in np.ndindex(*out.shape[: k - 1]):
            pos = base + sum(i * st for i, st in zip(lead, strides, strict=False))
            dest = runs[lead]  # (rows, run)
            if use_span:
                _pread_into(fd, memoryview(scratch).cast("B"), offset + pos * itemsize, path)
                dest[...] = np.lib.stride_tricks.as_strided(
                    scratch, shape=(rows, run), strides=(row_stride * itemsize, itemsize)
                )
            else:
                for r in range(rows):
                    at = offset + (pos + r * row_stride) * itemsize
                    _pread_into(fd, memoryview(dest[r]).cast("B"), at, path)
    finally:
        os.close(fd)
    return out


def _pread_into(fd: int, buf: memoryview, at: int, path: str) -> None:
    done = 0
    while done < len(buf):
        got = os.preadv(fd, [buf[done:]], at + done)
        if got == 0:
            raise OSError(
                f"raw file {path} ended at byte {at + done:,} while reading; it changed "
                "after it was opened: open it again."
            )
        done += got


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape
    ):
        raise TypeError(f"`shape` must be a tuple of ints such as (100, 512, 512); got {shape!r}.")
    if not shape or any(n < 0 for n in shape):
        raise ValueError(f"`shape` must hold at least one non-negative size; got {tuple(shape)}.")
    return tuple(int(n) for n in shape)


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(
            f"`dtype` must be a numpy dtype such as 'uint16' or '>u2'; got {dtype!r}."
        ) from exc
    if dtype.hasobject or dtype.itemsize == 0:
        raise TypeError(f"`dtype` must be a fixed-size numeric dtype; got {dtype}.")
    return dtype


def _check_order(order: Any) -> str:
    if order not in ("C", "F"):
        raise ValueError(
            f"`order` must be 'C' (last axis fastest) or 'F' (first axis fastest); got {order!r}."
        )
    return order


def _size_hint(size: int, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> str:
    n = math.prod(shape)
    hints = []
    fits = [
        np.dtype(t)
        for t in ("u1", "u2", "f4", "f8")
        if n and (size - offset) == n * np.dtype(t).itemsize
    ]
    if fits and fits[0].itemsize != dtype.itemsize:
        hints.append(f"the size fits a {fits[0].itemsize}-byte dtype such as {fits[0]}")
    extra = size - n * dtype.itemsize
    if extra > 0 and extra != offset:
        hints.append(f"or a {extra:,}-byte header (offset={extra})")
    return f" ({', '.join(hints)})" if hints else ""


def open_raw(path, shape, dtype, *, offset: int = 0, order: str = "C", chunks="auto") -> da.Array:
    """Open a headerless binary volume lazily as a dask array.

    Parameters
    ----------
    path : str or os.PathLike
        The raw file.
    shape : tuple of int
        Shape of the volume, axes in (plane, row, column) order.
    dtype : numpy dtype
        Voxel type, with byte order if it is not the machine's (``">u2"``).
        The array keeps this dtype exactly.
    offset : int, optional
        Bytes to skip at the start of the file (a header). The file must hold exactly
        ``offset + prod(shape) * itemsize`` bytes.
    order : {"C", "F"}, optional
        ``"C"``: the last axis varies fastest in the file; ``"F"``: the first axis.
    chunks : "auto", int or tuple, optional
        Block shape. ``"auto"`` gives roughly cubic blocks of about 32 MiB, equal along each axis.

    Returns
    -------
    dask.array.Array
        One task per block; opening reads no voxels.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file's size does not match ``shape``, ``dtype`` and ``offset``.
    bigimg.IncompleteOutputError
        If ``path`` is the partial output of an interrupted bigimg write.

    Notes
    -----
    Each task memory-maps only the byte range from its block's first voxel to its last
    (for C order, a block spanning whole rows is one contiguous range; otherwise the
    range is mapped and only the block's rows are touched) and holds one copy of its
    block. The graph holds just the path and the layout, so it pickles to a few hundred
    bytes whatever the volume's size; on a cluster every worker must see the file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_raw
    >>> vol = np.arange(4 * 5 * 6, dtype=">u2").reshape(4, 5, 6)
    >>> path = os.path.join(tempfile.mkdtemp(), "vol.raw")
    >>> vol.tofile(path)
    >>> arr = open_raw(path, (4, 5, 6), ">u2", chunks=(2, 5, 6))
    >>> arr.chunks, arr.dtype.str
    (((2, 2), (5,), (6,)), '>u2')
    >>> bool((arr.compute() == vol).all())
    True
    """
    path = check_path(path)
    shape, dtype, order = _check_shape(shape), _check_dtype(dtype), _check_order(order)
    if not isinstance(offset, numbers.Integral) or isinstance(offset, bool):
        raise TypeError(f"`offset` must be an int (bytes to skip); got {offset!r}.")
    if offset < 0:
        raise ValueError(f"`offset` must be >= 0 bytes; got {offset}.")
    chunks = normalize_chunks(chunks, shape, dtype)
    refuse_partial(path, "raw file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"raw file {path} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"raw file {path} is a folder; open_raw reads one file.")
    size = os.path.getsize(path)
    needed = math.prod(shape) * dtype.itemsize
    if size != offset + needed:
        raise ValueError(
            f"raw file {path} holds {size:,} bytes but shape {shape} with dtype {dtype} "
            f"needs {needed:,} after offset {offset:,}; check shape, dtype and offset"
            f"{_size_hint(size, shape, dtype, offset)}."
        )
    reader = RawReader(
        os.path.abspath(path), shape, dtype, offset, order, stamp=os.stat(path).st_mtime_ns
    )
    return reader_to_dask(reader, chunks, "open_raw")


def save_raw(
    array, path, *, order: str = "C", overwrite: bool = False, progress=None, compute: bool = True
):
    """Write an array to a headerless binary file, block by block.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        The volume; its dtype's bytes are written as they are (``">u2"`` is written
        big-endian), so ``open_raw(path, array.shape, array.dtype)`` reads it back.
    path : str or os.PathLike
        The output file.
    order : {"C", "F"}, optional
        Layout of the file (``"C"``: last axis fastest).
    overwrite : bool, optional
        Replace an existing file (only once the new one is complete).
    progress : bool or None, optional
        Show a progress bar; by default only when stderr is a terminal.
    compute : bool, optional
        If False, return a :class:`dask.delayed.Delayed` that writes and returns the path.

    Returns
    -------
    str or dask.delayed.Delayed
        The absolute output path.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    Each task writes one block of ``array`` into a partial file with positional
    writes of its contiguous runs; once every block is written the file is synced to
    disk and renamed to ``path``. Memory: one block per task.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_raw, save_raw
    >>> vol = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    >>> path = save_raw(vol, os.path.join(tempfile.mkdtemp(), "vol.raw"), progress=False)
    >>> bool((open_raw(path, vol.shape, vol.dtype).compute() == vol).all())
    True
    """
    arr = as_dask(array, name="array")
    path = check_path(path)
    order = _check_order(order)
    _check_dtype(arr.dtype)
    if not isinstance(compute, bool):
        raise TypeError(f"`compute` must be True or False; got {compute!r}.")
    show = resolve_progress(progress)
    if any(math.isnan(n) for n in arr.shape):
        raise ValueError(
            f"`array` must have a known shape; got {arr.shape}. Call compute_chunk_sizes() first."
        )
    partial = prepare_output(path, overwrite=overwrite, kind="file", func="save_raw")
    path = os.path.abspath(path)
    with open(partial, "wb") as f:  # sparse: no voxel is written here
        f.truncate(arr.nbytes)
    writer = RawWriter(partial, arr.shape, arr.dtype, 0, order)
    stored = da.store(arr, writer, lock=False, compute=False)
    return run_write(
        stored,
        partial,
        path,
        overwrite=overwrite,
        progress=show,
        compute=compute,
        desc="save_raw",
        finish=_fsync,
    )
