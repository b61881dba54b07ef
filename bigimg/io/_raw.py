"""Raw (headerless) volumes: a lazy reader and a streaming writer, both positional.

:class:`RawReader` reads, inside each task, only the contiguous runs of bytes that its
block covers, with positional reads (``os.preadv``, see :mod:`bigimg._rawfile`); only
strided (step > 1) regions go through a memory map of just the bytes they span.
Nothing larger than a path and a dtype is ever pickled, so workers on other machines
read the (shared) file themselves. :class:`RawWriter` does the same in reverse for
:func:`dask.array.store`, with positional writes.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg._args import as_dask
from bigimg._atomic import prepare_output, refuse_partial, resolve_progress, run_write
from bigimg._rawfile import element_strides, fsync, read_runs, write_runs
from bigimg.io._reader import (
    BlockReader,
    _normalize_index,
    check_path,
    normalize_chunks,
    reader_to_dask,
)

__all__ = ["RawReader", "RawWriter", "open_raw", "save_raw"]


class _RawLayout(BlockReader):
    """A dtype and a C/F layout of ``shape`` starting ``offset`` bytes into ``path``."""

    def __init__(self, path: str, shape, dtype, offset: int, order: str, stamp=None) -> None:
        self.path = path
        self.stamp = None if stamp is None else tuple(stamp)  # (size, mtime) when opened
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)
        self.order = order

    def _map(self, region: tuple[slice, ...], mode: str) -> tuple[np.memmap, np.ndarray]:
        """The map and a strided view of ``region`` over a map of just the bytes that cover it."""
        strides = element_strides(self.shape, self.order)
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
        self._check_stamp()
        if any(s.step != 1 for s in region) or 0 in (s.stop - s.start for s in region):
            _, view = self._map(region, "r")
            block = np.array(view, order="C")
        elif self.order == "F":  # the file is the C layout of the transposed volume
            block = read_runs(self.path, self.offset, self.shape[::-1], region[::-1], self.dtype)
            block = np.ascontiguousarray(block.T)
        else:
            block = read_runs(self.path, self.offset, self.shape, region, self.dtype)
        self._check_stamp()  # a write during the read would mix old and new voxels
        return block

    def _check_stamp(self) -> None:
        """Refuse a file that was rewritten (or replaced) since it was opened."""
        if self.stamp is None:
            return
        try:
            now = file_stamp(self.path)
        except FileNotFoundError:
            now = None
        if now != self.stamp:
            raise OSError(
                f"raw file {self.path} changed after it was opened (size, modification time "
                "or the file itself differ), so its blocks could mix old and new voxels; "
                "open it again."
            )


def file_stamp(path: str) -> tuple[int, int, int]:
    """What changes when a file is rewritten or replaced: (size, mtime in ns, inode)."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


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
        write_runs(self.path, self.offset, shape, tuple(region), np.ascontiguousarray(block))


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


#: Largest count of extra bytes suggested as a header or trailer: headers of raw
#: volumes (NRRD, ENVI, scanner dumps) are kilobytes, rarely more than a few MiB.
_PLAUSIBLE_EXTRA = 4 * 2**20


def _size_hint(size: int, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> str:
    """Why ``size`` does not fit, in words: another dtype, a header, or a wrong shape.

    A header (or trailing bytes) is suggested only when the extra bytes are few next to
    the data (at most 4 MiB and less than the data); more than that means the shape or
    the dtype is wrong, and the message says so instead of suggesting a huge offset.
    """
    n = math.prod(shape)
    needed = n * dtype.itemsize
    hints = []
    fits = [
        np.dtype(t)
        for t in ("u1", "u2", "f4", "f8")
        if n and (size - offset) == n * np.dtype(t).itemsize
    ]
    if fits and fits[0].itemsize != dtype.itemsize:
        hints.append(f"the size fits a {fits[0].itemsize}-byte dtype such as {fits[0]}")
    extra = size - offset - needed
    if extra > 0:
        if extra <= min(_PLAUSIBLE_EXTRA, max(needed - 1, 0)):
            hints.append(
                f"the file has {extra:,} more bytes: a header of that size (offset="
                f"{offset + extra}) or trailing bytes after the data (allow_trailing=True)"
            )
        elif needed and (size - offset) % needed == 0:
            hints.append(
                f"the file holds {(size - offset) // needed} times the bytes the shape needs: "
                "the shape or the dtype is wrong"
            )
        else:
            hints.append(
                f"{extra:,} extra bytes are too many for a header: the shape or the dtype is wrong"
            )
    voxels, rest = divmod(size - offset, dtype.itemsize)
    edge = round(voxels ** (1 / 3)) if len(shape) == 3 and voxels > 0 and not rest else 0
    if edge and edge**3 == voxels and (edge,) * 3 != shape:
        hints.append(f"as {dtype} it would fit shape ({edge}, {edge}, {edge})")
    return f" ({'; '.join(hints)})" if hints else ""


def open_raw(
    path,
    shape,
    dtype,
    *,
    offset: int = 0,
    order: str = "C",
    chunks="auto",
    allow_trailing: bool = False,
) -> da.Array:
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
        ``offset + prod(shape) * itemsize`` bytes (at least that many with
        ``allow_trailing=True``).
    order : {"C", "F"}, optional
        ``"C"``: the last axis varies fastest in the file; ``"F"``: the first axis.
    chunks : "auto", int or tuple, optional
        Block shape. ``"auto"`` gives roughly cubic blocks of about 32 MiB, equal along each axis.
    allow_trailing : bool, optional
        Accept a file with more bytes after the volume (a footer, padding); they are
        ignored. By default such a file is refused, since extra bytes usually mean a
        wrong shape, dtype or offset.

    Returns
    -------
    dask.array.Array
        One task per block; opening reads no voxels.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file's size does not match ``shape``, ``dtype`` and ``offset``. The
        message suggests another dtype, or an offset or ``allow_trailing=True`` when
        the extra bytes are few enough to be a header or a footer.
    bigimg.IncompleteOutputError
        If ``path`` is the partial output of an interrupted bigimg write.

    Notes
    -----
    Each task memory-maps only the byte range from its block's first voxel to its last
    (for C order, a block spanning whole rows is one contiguous range; otherwise the
    range is mapped and only the block's rows are touched) and holds one copy of its
    block. The graph holds just the path and the layout, so it pickles to a few hundred
    bytes whatever the volume's size; on a cluster every worker must see the file.
    Each task checks, before and after its read, that the file's size, modification
    time and inode are those it had when opened, and raises ``OSError`` otherwise (a
    file rewritten during a computation would mix old and new voxels).

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
    if not isinstance(allow_trailing, bool):
        raise TypeError(f"`allow_trailing` must be True or False; got {allow_trailing!r}.")
    chunks = normalize_chunks(chunks, shape, dtype)
    refuse_partial(path, "raw file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"raw file {path} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"raw file {path} is a folder; open_raw reads one file.")
    stamp = file_stamp(path)  # before the size check: a later change is caught by tasks
    size = stamp[0]
    needed = math.prod(shape) * dtype.itemsize
    if size < offset + needed or (size > offset + needed and not allow_trailing):
        raise ValueError(
            f"raw file {path} holds {size:,} bytes but shape {shape} with dtype {dtype} "
            f"needs {needed:,} after offset {offset:,}; check shape, dtype and offset"
            f"{_size_hint(size, shape, dtype, offset)}."
        )
    reader = RawReader(os.path.abspath(path), shape, dtype, offset, order, stamp=stamp)
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
        finish=fsync,
    )
