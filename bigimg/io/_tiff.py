"""TIFF and OME-TIFF readers: one multi-page file, or a stack of slice files.

A multi-page file is read through tifffile's zarr interface (``TiffFile.aszarr``),
which decodes only the pages and tiles a block needs. The open file handle cannot be
pickled, so :class:`TiffReader` holds just the path and, inside a task, takes an open
file from a small per-process cache (keyed by path, size and modification time, so a
rewritten file is never read through a stale index). A stack of 2-D slice files is
:class:`TiffSequenceReader`: one file per task by default.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import dask.array as da
import numpy as np
import tifffile
import zarr

from bigimg._atomic import refuse_partial
from bigimg.io._reader import (
    BlockReader,
    auto_chunks,
    check_path,
    normalize_chunks,
    reader_to_dask,
)

__all__ = ["TiffReader", "TiffSequenceReader", "natural_key", "open_tiff", "tiff_stack_files"]

_SUFFIXES = (".tif", ".tiff")
_CACHE: OrderedDict[tuple, _OpenLevel] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def natural_key(path: str) -> list:
    """Sort key that orders numbers by value: ``slice_2`` before ``slice_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


class _OpenLevel:
    """An open TIFF file and one level as a zarr array, closed when evicted and unused."""

    def __init__(self, path: str, series: int, level: int) -> None:
        self.tif = tifffile.TiffFile(path)
        try:
            self.array = zarr.open_array(self.tif.aszarr(series=series, level=level), mode="r")
        except BaseException:
            self.tif.close()
            raise
        self.users = 0
        self.evicted = False

    def release(self) -> None:
        """Called under the cache lock when a task is done with the file."""
        self.users -= 1
        if self.evicted and self.users == 0:
            self.tif.close()


@contextlib.contextmanager
def _cached_level(path: str, series: int, level: int, stamp: tuple) -> Iterator[zarr.Array]:
    """Borrow an open level from the per-process cache (opening it if needed)."""
    key = (path, series, level, stamp)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
            entry.users += 1
    if entry is None:
        fresh = _OpenLevel(path, series, level)  # outside the lock: parsing IFDs takes time
        with _CACHE_LOCK:
            entry = _CACHE.setdefault(key, fresh)
            entry.users += 1
            stale = [k for k in _CACHE if k[:3] == key[:3] and k != key]  # file was rewritten
            oldest = [k for k in _CACHE if k != key and k not in stale]
            stale += oldest[: max(0, len(_CACHE) - len(stale) - _CACHE_SIZE)]
            for k in stale:
                old = _CACHE.pop(k)
                old.evicted = True
                old.users += 1
                old.release()
        if entry is not fresh:
            fresh.tif.close()
    try:
        yield entry.array
    finally:
        with _CACHE_LOCK:
            entry.release()


class TiffReader(BlockReader):
    """Picklable array-like view of one series/level of a TIFF file."""

    def __init__(self, path: str, series: int, level: int, shape, dtype, stamp) -> None:
        self.path = path
        self.series = series
        self.level = level
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.stamp = tuple(stamp)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        if _stamp(self.path) != self.stamp:
            raise OSError(
                f"TIFF file {self.path} changed after it was opened (size or modification "
                "time differ); open it again."
            )
        with _cached_level(self.path, self.series, self.level, self.stamp) as array:
            block = np.asarray(array[region])
        return block.astype(self.dtype, copy=False)


class TiffSequenceReader(BlockReader):
    """Picklable array-like view of a stack of equally shaped TIFF files (axis 0).

    ``stamps`` holds each file's (size, modification time) when the stack was opened;
    a task refuses a slice that changed since (a rewritten slice would otherwise be
    mixed with the old ones, or cast silently to the stack's dtype).
    """

    def __init__(self, files: Sequence[str], frame_shape, dtype, stamps=None) -> None:
        self.files = tuple(files)
        self.shape = (len(self.files), *tuple(frame_shape))
        self.dtype = np.dtype(dtype)
        self.stamps = None if stamps is None else tuple(tuple(s) for s in stamps)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        picked = range(*region[0].indices(len(self.files)))
        out = np.empty(
            (len(picked), *(len(range(s.start, s.stop, s.step)) for s in region[1:])),
            dtype=self.dtype,
        )
        for i, k in enumerate(picked):
            path = self.files[k]
            try:
                frame = tifffile.imread(path)
            except (OSError, ValueError, tifffile.TiffFileError) as exc:
                raise OSError(
                    f"TIFF slice {path} cannot be read ({type(exc).__name__}: {exc}); it is "
                    "damaged, or changed after the stack was opened: open it again."
                ) from exc
            if frame.shape != self.shape[1:] or not _same_type(frame.dtype, self.dtype):
                raise OSError(
                    f"TIFF slice {path} holds shape {frame.shape} and dtype {frame.dtype} "
                    f"but had shape {self.shape[1:]} and dtype {self.dtype} when the stack "
                    "was opened; it was rewritten: open the stack again."
                )
            if self.stamps is not None and _stamp(path) != self.stamps[k]:
                raise OSError(
                    f"TIFF slice {path} changed after the stack was opened (size or "
                    "modification time differ); open the stack again."
                )
            out[i] = frame[region[1:]]
        return out


def _same_type(a: np.dtype, b: np.dtype) -> bool:
    """Equal dtypes up to byte order (tifffile decodes to native order)."""
    return a.newbyteorder("=") == b.newbyteorder("=")


class _TiffLog(logging.Handler):
    """Collects what tifffile logs while it parses a file (it logs damage, never raises)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> _TiffLog:
        logger = logging.getLogger("tifffile")
        self._saved = (logger.level, logger.propagate)
        if not logger.isEnabledFor(logging.WARNING):  # silenced by the user: still listen,
            logger.setLevel(logging.WARNING)  # but pass nothing on
            logger.propagate = False
        logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logger = logging.getLogger("tifffile")
        logger.removeHandler(self)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]


#: What tifffile logs for a file whose IFD chain or shape metadata point past its end.
_DAMAGE = ("invalid page offset", "failed to reshape", "invalid value offset", "corrupted")


def _check_complete(tif: tifffile.TiffFile, series, path: str, log: _TiffLog) -> None:
    """Refuse a file whose pages stop short of what it declares (truncated or damaged).

    tifffile reads such a file as whatever it can: a 20-page volume cut short opens as
    its first page, an OME series as fewer planes. Header-only checks: the IFD chain
    and shape metadata (tifffile's log), and that every page's data ends inside the file.
    """
    size = os.path.getsize(path)
    ends = []
    if getattr(series, "dataoffset", None) is not None:  # one contiguous block of data
        ends.append(series.dataoffset + series.nbytes)
    for page in series.pages:
        if page is not None:
            ends += [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
    damage = [m for m in log.messages if any(d in m for d in _DAMAGE)]
    short = max(ends, default=0) > size
    if not damage and not short:
        return
    detail = (
        f"its data needs {max(ends):,} bytes but the file holds {size:,}"
        if short
        else f"tifffile reports: {damage[0]}"
    )
    pages = len(tif.pages)
    raise ValueError(
        f"TIFF file {path} is truncated or damaged ({detail}; {pages} readable "
        f"page{'s' * (pages != 1)}, series shape {tuple(series.shape)}); reading it would "
        "give a volume with missing or wrong planes. Copy or write the file again."
    )


def _header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a file's first series, reading only its header and IFDs."""
    try:
        with _TiffLog() as log, tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError(_no_image(path, tif))
            _check_complete(tif, tif.series[0], path, log)
            return tuple(tif.series[0].shape), np.dtype(tif.series[0].dtype)
    except tifffile.TiffFileError as exc:
        raise ValueError(f"{path} is not a readable TIFF file ({exc}).") from None


def _no_image(path: str, tif: tifffile.TiffFile) -> str:
    return (
        f"TIFF file {path} holds no readable image: it has a TIFF header but "
        f"{len(tif.pages)} readable pages; it is empty, truncated or damaged."
    )


def _expand(source) -> tuple[str, list[str]]:
    """Classify the input: ('file', [path]) or ('stack', files in stack order)."""
    if isinstance(source, list | tuple):
        if not source:
            raise ValueError("`path_or_pattern` must name at least one file; got an empty list.")
        return "stack", [check_path(p, "path_or_pattern") for p in source]
    path = check_path(source, "path_or_pattern")
    if os.path.isdir(path):
        names = [n for n in os.listdir(path) if n.lower().endswith(_SUFFIXES)]
        if not names:
            held = sorted(os.listdir(path), key=natural_key)
            shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
            raise FileNotFoundError(
                f"folder {path} holds no .tif or .tiff files (it holds {len(held)} entries"
                f"{': ' + shown if held else ''}); pass a glob pattern or a list of files."
            )
        return "stack", sorted((os.path.join(path, n) for n in names), key=natural_key)
    if os.path.isfile(path):
        return "file", [path]
    if glob.has_magic(path):
        files = [p for p in glob.glob(path) if os.path.isfile(p)]
        if not files:
            raise FileNotFoundError(f"no files match the pattern {path}.")
        return "stack", sorted(files, key=natural_key)
    raise FileNotFoundError(f"TIFF file {path} does not exist.")


def tiff_stack_files(path_or_pattern: str | os.PathLike | list) -> list[str]:
    """The TIFF files :func:`open_tiff` reads for ``path_or_pattern``, in stack order.

    Parameters
    ----------
    path_or_pattern : str, os.PathLike or list of them
        What :func:`open_tiff` takes: one file, a folder of slices, a glob pattern or a
        list of files.

    Returns
    -------
    list of str
        One path for a single (multi-page) file; otherwise the slice files in natural
        order (``slice2.tif`` before ``slice10.tif``), which is the order of the planes.

    Raises
    ------
    FileNotFoundError
        Nothing matches, or a folder holds no ``.tif``/``.tiff`` files.

    Examples
    --------
    >>> import os, tempfile, numpy as np, tifffile
    >>> from bigimg.io import tiff_stack_files
    >>> folder = tempfile.mkdtemp()
    >>> for k in (10, 2, 1):
    ...     tifffile.imwrite(os.path.join(folder, f"z{k}.tif"), np.zeros((2, 2), np.uint8))
    >>> [os.path.basename(p) for p in tiff_stack_files(folder)]
    ['z1.tif', 'z2.tif', 'z10.tif']
    """
    return _expand(path_or_pattern)[1]


def _open_stack(files: list[str], chunks) -> da.Array:
    for path in files:
        refuse_partial(path, "TIFF slice")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"TIFF slice {path} does not exist.")
    stamps = [_stamp(p) for p in files]  # before the headers: a later change is caught
    shape, dtype = _header(files[0])
    for path in files[1:]:
        other_shape, other_dtype = _header(path)
        if other_shape != shape or other_dtype != dtype:
            raise ValueError(
                f"TIFF slices must share one shape and dtype: {path} holds {other_shape} "
                f"{other_dtype} but the first slice {files[0]} holds {shape} {dtype}; "
                "remove or fix that file."
            )
    reader = TiffSequenceReader([os.path.abspath(p) for p in files], shape, dtype, stamps)
    one_per_file = (1, *shape)
    if isinstance(chunks, str) and chunks == "auto":
        chunks = da.core.normalize_chunks(one_per_file, reader.shape)
    else:
        chunks = normalize_chunks(chunks, reader.shape, dtype, previous=one_per_file)
    return reader_to_dask(reader, chunks, "open_tiff")


def open_tiff(path_or_pattern, *, series: int = 0, level: int = 0, chunks="auto") -> da.Array:
    """Open a TIFF / OME-TIFF volume, or a stack of slice files, lazily as a dask array.

    Parameters
    ----------
    path_or_pattern : str, os.PathLike or sequence of them
        One of: a multi-page TIFF or OME-TIFF file; a folder, whose ``.tif``/``.tiff``
        files are stacked in natural order (``slice_2`` before ``slice_10``); a glob
        pattern (``"scan/z*.tif"``), also naturally sorted; or a list of files,
        stacked in the order given.
    series, level : int, optional
        For a single file: the image series and the pyramid level (0 = full resolution).
    chunks : "auto", int or tuple, optional
        ``"auto"``: for a file, whole stored pages or tiles grouped into blocks of
        about 32 MiB; for a stack, one file per task.

    Returns
    -------
    dask.array.Array
        Opening reads headers only. Stacks get the files' shape with the file index
        as a new first axis.

    Raises
    ------
    FileNotFoundError
        If the file, folder or pattern names nothing.
    ValueError
        If stacked files differ in shape or dtype (names the first offending file and
        both shapes), a file is not a TIFF or holds no image, or a file is truncated or
        damaged (its pages stop short of the volume it declares; tifffile would read
        it with fewer or missing planes).
    bigimg.IncompleteOutputError
        If a file is the partial output of an interrupted bigimg write.

    Notes
    -----
    A file's task decodes just the stored pages/tiles covering its block; a stack's
    task reads its whole files. Either holds one block (plus the decoded pages) in
    memory. Values come back in native byte order, as tifffile decodes them. A task
    raises ``OSError`` if its file (or slice file) changed after it was opened: other
    size or modification time, or a slice of another shape or dtype.

    Examples
    --------
    >>> import numpy as np, tempfile, os, tifffile
    >>> from bigimg.io import open_tiff
    >>> folder = tempfile.mkdtemp()
    >>> for z in range(12):
    ...     tifffile.imwrite(os.path.join(folder, f"slice_{z}.tif"), np.full((4, 5), z, np.uint8))
    >>> stack = open_tiff(folder)
    >>> stack.shape, stack.chunksize
    ((12, 4, 5), (1, 4, 5))
    >>> stack[:, 0, 0].compute().tolist() == list(range(12))
    True
    """
    for name, value in (("series", series), ("level", level)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"`{name}` must be an int; got {value!r}.")
    kind, files = _expand(path_or_pattern)
    if kind == "stack":
        if series or level:
            raise NotImplementedError(
                f"`series` and `level` select inside one file; a stack of {len(files)} files "
                "reads each file's first series at full resolution."
            )
        return _open_stack(files, chunks)
    path = files[0]
    refuse_partial(path, "TIFF file")
    stamp = _stamp(path)
    try:
        with _TiffLog() as log, tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError(_no_image(path, tif))
            if not 0 <= series < len(tif.series):
                raise ValueError(
                    f"`series` must be in 0..{len(tif.series) - 1} for TIFF file {path}, which "
                    f"holds {len(tif.series)} series; got {series}."
                )
            levels = len(tif.series[series].levels)
            if not 0 <= level < levels:
                raise ValueError(
                    f"`level` must be in 0..{levels - 1} for series {series} of TIFF file "
                    f"{path}; got {level}."
                )
            _check_complete(tif, tif.series[series].levels[level], path, log)
            array = zarr.open_array(tif.aszarr(series=series, level=level), mode="r")
            shape, dtype = tuple(array.shape), np.dtype(array.dtype)
            stored = tuple(min(c, n) if n else 1 for c, n in zip(array.chunks, shape, strict=True))
    except tifffile.TiffFileError as exc:
        raise ValueError(f"{path} is not a readable TIFF file ({exc}).") from None
    reader = TiffReader(os.path.abspath(path), series, level, shape, dtype, stamp)
    if isinstance(chunks, str) and chunks == "auto" and math.prod(shape):
        chunks = auto_chunks(shape, dtype, previous=stored)
    else:
        chunks = normalize_chunks(chunks, shape, dtype, previous=stored)
    return reader_to_dask(reader, chunks, "open_tiff")
