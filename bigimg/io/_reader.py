"""The lazy-reader machinery every format shares.

A reader is a small picklable object that knows *where* an array lives on disk
(a path, a dtype, a layout) but holds no voxels. It behaves like a read-only array:
``shape``, ``dtype``, ``ndim`` and basic indexing. Indexing it opens the file, reads
just the requested region and closes it again, so a dask graph built with
:func:`reader_to_dask` holds one tiny reader and one task per block; each task reads
its own block when it runs, on whichever machine runs it.

Subclasses implement :meth:`BlockReader._read`, which receives one slice per axis,
each with ``0 <= start < stop <= n`` and ``step >= 1``; :meth:`BlockReader.__getitem__`
turns any basic index (integers, slices with any step, ``Ellipsis``) into that form.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from bigimg._sources import attach_source, region_source

__all__ = [
    "AUTO_CHUNK_BYTES",
    "BlockReader",
    "auto_chunks",
    "check_path",
    "normalize_chunks",
    "reader_to_dask",
]

#: Target size of one block for ``chunks="auto"``: small enough that a few blocks per
#: core, each widened by a halo and converted to float, fit a laptop's memory.
AUTO_CHUNK_BYTES = 32 * 2**20


class BlockReader:
    """Base class of the picklable, array-like readers (no voxels are held)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d reader")
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        region, flips, drops = _normalize_index(index, self.shape)
        out_shape = tuple(len(range(s.start, s.stop, s.step)) for s in region)
        if 0 in out_shape:
            block = np.empty(out_shape, dtype=self.dtype)
        else:
            block = self._read(region)
        if flips:
            block = block[
                tuple(
                    slice(None, None, -1) if i in flips else slice(None) for i in range(self.ndim)
                )
            ]
        if drops:
            block = block[tuple(0 if i in drops else slice(None) for i in range(self.ndim))]
        return block

    def __array__(self, dtype=None, copy=None):
        data = self[...]
        return data if dtype is None else data.astype(dtype, copy=False)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement _read")

    def _token(self) -> tuple:
        """What identifies the data this reader reads (used to name dask graphs)."""
        return tuple(sorted(vars(self).items()))

    def __dask_tokenize__(self) -> tuple:
        return (type(self).__name__, self._token())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={self.dtype}>"


def _normalize_index(index: Any, shape: tuple[int, ...]):
    """Basic index -> (one positive-step slice per axis, axes to flip, axes to drop)."""
    if not isinstance(index, tuple):
        index = (index,)
    n_ellipsis = sum(1 for i in index if i is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_ellipsis:
        at = next(k for k, i in enumerate(index) if i is Ellipsis)
        fill = (slice(None),) * (len(shape) - len(index) + 1)
        index = index[:at] + fill + index[at + 1 :]
    if len(index) > len(shape):
        raise IndexError(f"too many indices for a {len(shape)}-d array: got {len(index)}")
    index = index + (slice(None),) * (len(shape) - len(index))
    region, flips, drops = [], set(), set()
    for axis, (i, n) in enumerate(zip(index, shape, strict=True)):
        if isinstance(i, numbers.Integral) and not isinstance(i, bool):
            i = int(i)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            i %= n
            region.append(slice(i, i + 1, 1))
            drops.add(axis)
        elif isinstance(i, slice):
            r = range(*i.indices(n))
            if len(r) == 0:
                region.append(slice(0, 0, 1))
            elif r.step > 0:
                region.append(slice(r.start, r[-1] + 1, r.step))
            else:
                region.append(slice(r[-1], r.start + 1, -r.step))
                flips.add(axis)
        else:
            raise IndexError(
                f"readers support integers, slices and '...' only; got {type(i).__name__} "
                f"on axis {axis}. Index the dask array returned by the open_* function instead."
            )
    return tuple(region), flips, drops


def check_path(path: Any, name: str = "path") -> str:
    """Return ``path`` as a string, or raise TypeError for anything not path-like."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`{name}` must be a str or os.PathLike; got {type(path).__name__}.")
    return os.fspath(path)


def auto_chunks(shape: Sequence[int], dtype: np.dtype, previous: Sequence[int] | None = None):
    """Dask's ``"auto"`` chunks with blocks of about :data:`AUTO_CHUNK_BYTES`.

    Without ``previous`` the blocks are roughly cubic; with it (a store's own chunks)
    every block is a whole number of stored chunks.
    """
    chunks = da.core.normalize_chunks(
        "auto",
        tuple(shape),
        limit=AUTO_CHUNK_BYTES,
        dtype=dtype,
        previous_chunks=None if previous is None else tuple(previous),
    )
    if previous is not None:
        return chunks
    return tuple(_balanced(axis, n) for axis, n in zip(chunks, shape))


def _balanced(axis: tuple[int, ...], n: int) -> tuple[int, ...]:
    """Equal chunks instead of a sliver at the end: 1024 -> (256,) * 4, not 255s and a 4.

    A trailing sliver thinner than a filter's halo would force the halo engine to
    merge chunks; equal chunks up to 10 % larger than dask's choice avoid that.
    """
    if len(axis) <= 1 or n == 0:
        return axis
    c = axis[0]
    k = max(1, round(n / c))
    if math.ceil(n / k) > 1.1 * c:
        k = math.ceil(n / c)
    size = math.ceil(n / k)
    return da.core.normalize_chunks(size, (n,))[0]


def normalize_chunks(chunks: Any, shape: Sequence[int], dtype: np.dtype, *, previous=None):
    """Validate a user's ``chunks`` (``"auto"``, int, tuple, or dask's tuple of tuples)."""
    if isinstance(chunks, str) and chunks == "auto":
        return auto_chunks(shape, dtype, previous)
    if isinstance(chunks, str) or not isinstance(chunks, numbers.Integral | Sequence | dict):
        raise TypeError(
            f"`chunks` must be 'auto', an int or a tuple with one entry per axis; got {chunks!r}."
        )
    if isinstance(chunks, Sequence) and len(chunks) != len(shape):
        raise ValueError(
            f"`chunks` must have one entry per axis of the shape {tuple(shape)}; got {chunks!r}."
        )
    try:
        return da.core.normalize_chunks(
            chunks, tuple(shape), dtype=dtype, limit=AUTO_CHUNK_BYTES, previous_chunks=previous
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"`chunks` must tile the shape {tuple(shape)}; got {chunks!r} ({exc})."
        ) from None


def reader_to_dask(reader: BlockReader, chunks: tuple[tuple[int, ...], ...], prefix: str):
    """A dask array with one task per block, each calling ``reader[block_slices]``.

    The reader is stored once in the graph; nothing is read until a task runs.
    """
    name = f"{prefix}-{tokenize(reader, chunks)}"
    meta = np.empty((0,) * reader.ndim, dtype=reader.dtype)
    # the graph holds the region source itself, which keeps it registered (weakly)
    # for as long as any array computed from this one exists
    source = region_source(reader)
    array = da.from_array(
        source,
        chunks=chunks,
        name=name,
        asarray=False,
        fancy=False,
        meta=meta,
        inline_array=False,
    )
    # halo operations on this array read their extended regions from the reader
    return attach_source(array, source)
