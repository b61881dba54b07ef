"""Random access into gzip-compressed volumes (``.nii.gz``, gzip-encoded NRRD).

A gzip stream can only be decompressed from its start, so reading a block in the middle
would mean decompressing everything before it, in every task. ``indexed_gzip`` keeps
seek points (one per MiB of output) as it decompresses; each worker process keeps one
open :class:`indexed_gzip.IndexedGzipFile` per file in a small cache, so the index is
built once per process as the tasks read their way through the file, and a later block
is decompressed from the seek point just before it. Nothing is ever decompressed into
memory whole. Without ``indexed_gzip`` the readers refuse with a message that names the
package and the one-command way out (decompress once, then read positionally).
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict

import numpy as np

from bigimg.io._formats._header import need

__all__ = ["gzip_size_check", "read_gzip_region", "require_indexed_gzip"]

_CACHE: OrderedDict[tuple, object] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 4


def require_indexed_gzip(path: str, extra: str) -> None:
    """Raise ImportError with the way out if ``indexed_gzip`` is missing."""
    try:
        need("indexed_gzip", extra, f"the compressed file {path} lazily")
    except ImportError as exc:
        plain = path[:-3] if path.endswith(".gz") else path + ".raw"
        raise ImportError(
            f"{exc} Without it a gzip stream has no random access and would have to be "
            f"decompressed whole for every block. Or decompress it once (gzip -dk {path}) "
            f"and open {plain}, which is read positionally."
        ) from None


class _Window(io.RawIOBase):
    """A read-only view of ``path`` from byte ``start`` on (an attached gzip stream)."""

    def __init__(self, path: str, start: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._start = start
        self._f.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._f.readinto(buffer)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            pos += self._start
        return self._f.seek(pos, whence) - self._start

    def tell(self) -> int:
        return self._f.tell() - self._start

    def close(self) -> None:
        self._f.close()
        super().close()


def _open(path: str, start: int, stamp: tuple):
    """A cached IndexedGzipFile of the gzip stream at byte ``start`` of ``path``."""
    key = (path, start, stamp)
    with _LOCK:
        handle = _CACHE.get(key)
        if handle is not None:
            _CACHE.move_to_end(key)
            return handle
    igz = need("indexed_gzip", "nifti", f"the compressed file {path}")
    if start:
        handle = igz.IndexedGzipFile(fileobj=_Window(path, start), spacing=1 << 20)
    else:
        handle = igz.IndexedGzipFile(path, spacing=1 << 20)
    with _LOCK:
        kept = _CACHE.setdefault(key, handle)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)  # the handle closes when the last reader drops it
    return kept


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


def read_gzip_region(path, start, stamp, offset, shape, region, dtype) -> np.ndarray:
    """``region`` (step 1) of a C-order array ``offset`` bytes into a gzip stream.

    The gzip stream starts at byte ``start`` of ``path``. Each plane's rows are read as
    one span (the bytes from the region's first row to its last), so a block of whole
    rows or planes is one read.
    """
    if _stamp(path) != tuple(stamp):
        raise OSError(f"{path} changed after it was opened; open it again.")
    handle = _open(path, start, tuple(stamp))
    dtype = np.dtype(dtype)
    out = np.empty(tuple(s.stop - s.start for s in region), dtype)
    if out.size == 0:
        return out
    strides = [dtype.itemsize] * len(shape)
    for axis in range(len(shape) - 2, -1, -1):
        strides[axis] = strides[axis + 1] * shape[axis + 1]
    if len(shape) == 1:
        lead_axes, rows = (), None
    else:
        lead_axes, rows = region[:-2], region[-2]
    cols = region[-1]
    for lead in np.ndindex(*(s.stop - s.start for s in lead_axes)):
        at = offset + sum((s.start + i) * st for s, i, st in zip(lead_axes, lead, strides))
        if rows is None:
            first, n_rows = at + cols.start * strides[-1], 1
            span = (cols.stop - cols.start) * dtype.itemsize
        else:
            first = at + rows.start * strides[-2]
            n_rows = rows.stop - rows.start
            span = n_rows * strides[-2]
        data = handle.pread(span, first)
        if len(data) != span:
            raise OSError(
                f"gzip file {path} ended after {first + len(data):,} decompressed bytes "
                f"while reading bytes {first:,}..{first + span:,}: it is truncated."
            )
        block = np.frombuffer(data, dtype)
        if rows is not None:
            block = block.reshape(n_rows, shape[-1])[:, cols]
        out[lead] = block
    return out


def gzip_size_check(path: str, start: int, needed: int, what: str) -> None:
    """Refuse a gzip stream whose trailer says it holds fewer than ``needed`` bytes.

    The trailer's ISIZE is the decompressed size modulo 2**32 of the last member;
    checked only where that is unambiguous (one member, under 4 GiB).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(start)
        if f.read(2) != b"\x1f\x8b":
            raise ValueError(f"{what} {path} is not gzip-compressed where its header says.")
        if size - start < 18:
            raise ValueError(f"{what} {path} holds a gzip stream of only {size - start} bytes.")
        f.seek(size - 4)
        isize = int.from_bytes(f.read(4), "little")
    if needed < 2**32 and isize not in (0, needed) and isize < needed:
        raise ValueError(
            f"{what} {path} decompresses to {isize:,} bytes (gzip trailer) but its header "
            f"needs {needed:,}: the file is truncated or damaged."
        )
