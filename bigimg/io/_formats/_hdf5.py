"""HDF5 datasets (``file.h5`` + a dataset path), read lazily with h5py inside each task.

h5py objects cannot be pickled, so the graph holds only the file's path, the dataset's
path and its layout; each worker process keeps a few files open in a small cache
(keyed by path, size and modification time, so a rewritten file is never read through
a stale handle) and reads its block with h5py's own hyperslab selection. Blocks are
whole multiples of the dataset's stored chunks, so no stored chunk is decompressed by
two tasks.

Spacing: HDF5 has no standard for it. The readers take, in this order, the dataset's
``element_size_um`` attribute (ilastik/Fiji, micrometer) or its ``spacing`` attribute
(with ``unit``/``units`` if present); otherwise none.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import dask.array as da
import numpy as np

from bigimg._atomic import refuse_partial
from bigimg.io._formats._header import Header, attach_header, need
from bigimg.io._reader import BlockReader, auto_chunks, check_path, normalize_chunks, reader_to_dask

__all__ = ["Hdf5Reader", "hdf5_header", "open_hdf5"]

_CACHE: OrderedDict[tuple, object] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 8
_UNITS = {"um": "micrometer", "µm": "micrometer", "micron": "micrometer", "nm": "nanometer",
          "mm": "millimeter", "m": "meter", "angstrom": "angstrom", "a": "angstrom"}  # fmt: skip


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


def _file(path: str, stamp: tuple):
    key = (path, stamp)
    with _LOCK:
        f = _CACHE.get(key)
        if f is not None:
            _CACHE.move_to_end(key)
            return f
    h5py = need("h5py", "hdf5", f"HDF5 file {path}")
    f = h5py.File(path, "r")
    with _LOCK:
        kept = _CACHE.setdefault(key, f)
        for old in [k for k in _CACHE if k[0] == path and k != key]:
            _CACHE.pop(old)  # rewritten: closes when no task holds it
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    if kept is not f:
        f.close()
    return kept


class Hdf5Reader(BlockReader):
    """Picklable array-like view of one HDF5 dataset (the file is opened in the task)."""

    def __init__(self, path, dataset, *, stamp, shape, dtype):
        self.path = path
        self.dataset = dataset
        self.stamp = tuple(stamp)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        if _stamp(self.path) != self.stamp:
            raise OSError(f"HDF5 file {self.path} changed after it was opened; open it again.")
        dset = _file(self.path, self.stamp)[self.dataset]
        out = np.empty([len(range(s.start, s.stop, s.step)) for s in region], self.dtype)
        if out.size:
            dset.read_direct(out, source_sel=region)
        return out


def _datasets(group) -> list[str]:
    found: list[str] = []

    def visit(name, obj):
        if hasattr(obj, "shape") and hasattr(obj, "dtype"):
            found.append("/" + name)

    group.visititems(visit)
    return found


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    return shown or "none"


def _spacing(attrs, ndim: int):
    for key, unit in (("element_size_um", "micrometer"), ("spacing", None)):
        if key in attrs:
            values = np.atleast_1d(np.asarray(attrs[key], dtype=float)).tolist()
            if len(values) != ndim:
                return (None,) * ndim, (None,) * ndim
            if unit is None:
                name = attrs.get("unit", attrs.get("units"))
                if isinstance(name, bytes):
                    name = name.decode()
                unit = _UNITS.get(str(name).strip().lower(), name) if name is not None else None
            return tuple(values), (unit,) * ndim
    return (None,) * ndim, (None,) * ndim


def _inspect(path: str, dataset):
    h5py = need("h5py", "hdf5", f"HDF5 file {path}")
    refuse_partial(path, "HDF5 file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"HDF5 file {path} does not exist.")
    if dataset is not None and not isinstance(dataset, str):
        raise TypeError(f"`dataset` must be a str such as '/entry/data'; got {dataset!r}.")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path} is not a readable HDF5 file ({exc}).") from None
    with f:
        if dataset is None:
            names = _datasets(f)
            if len(names) != 1:
                raise ValueError(
                    f"HDF5 file {path} holds {len(names)} datasets ({_listing(names)}); pass "
                    "`dataset=` with the path of the one to read."
                )
            dataset = names[0]
        if dataset not in f:
            raise KeyError(
                f"HDF5 file {path} has no {dataset!r}; its datasets: {_listing(_datasets(f))}."
            )
        node = f[dataset]
        if not isinstance(node, h5py.Dataset):
            raise ValueError(
                f"`dataset` {dataset!r} in HDF5 file {path} is a group, not a dataset; the "
                f"datasets under it: {_listing([dataset.rstrip('/') + n for n in _datasets(node)])}."
            )
        dtype = np.dtype(node.dtype)
        if dtype.kind not in "biufc" or dtype.fields is not None:
            raise TypeError(
                f"dataset {dataset!r} in HDF5 file {path} holds {dtype}; bigimg reads numeric "
                "datasets only."
            )
        shape = tuple(int(n) for n in node.shape)
        stored = None if node.chunks is None else tuple(int(c) for c in node.chunks)
        spacing, units = _spacing(node.attrs, len(shape))
        fields = {"dataset": node.name, "chunks": stored, "compression": node.compression,
                  "attrs": {k: node.attrs[k] for k in list(node.attrs)[:32]}}  # fmt: skip
        name = node.name
    header = Header(
        format="hdf5",
        path=os.path.abspath(path),
        shape=shape,
        dtype=dtype,
        spacing=spacing,
        units=units,
        fields=fields,
    )
    reader = Hdf5Reader(os.path.abspath(path), name, stamp=_stamp(path), shape=shape, dtype=dtype)
    return header, reader, stored


def hdf5_header(path, dataset=None) -> Header:
    """The header of an HDF5 dataset (see :func:`bigimg.io.header`)."""
    return _inspect(check_path(path), dataset)[0]


def open_hdf5(path, dataset=None, *, chunks="auto") -> da.Array:
    """Open an HDF5 dataset lazily as a dask array.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file (``.h5``, ``.hdf5``, ``.nxs``, ...).
    dataset : str, optional
        Path of the dataset inside the file (``"/entry/data/data"``). May be left out
        when the file holds exactly one dataset.
    chunks : "auto", int or tuple, optional
        Block shape. ``"auto"`` gives blocks of about 32 MiB made of whole stored chunks.

    Returns
    -------
    dask.array.Array
        The dataset in its own axis order and dtype (byte order included).

    Raises
    ------
    ImportError
        If h5py is not installed.
    FileNotFoundError
        If the file does not exist.
    KeyError
        If ``dataset`` is not in the file (lists the datasets that are).
    ValueError
        If ``dataset`` is a group (lists the datasets under it), or the file holds
        several datasets and none is named.

    Notes
    -----
    Each task opens the file itself (one cached handle per worker process) and reads
    its block; no h5py object is in the graph.

    Examples
    --------
    >>> import os, tempfile, numpy as np, h5py
    >>> from bigimg.io import open_hdf5
    >>> path = os.path.join(tempfile.mkdtemp(), "scan.h5")
    >>> with h5py.File(path, "w") as f:
    ...     d = f.create_dataset("entry/data", data=np.arange(60.0).reshape(3, 4, 5), chunks=(1, 4, 5))
    >>> vol = open_hdf5(path, "/entry/data", chunks=(2, 4, 5))
    >>> vol.chunks
    ((2, 1), (4,), (5,))
    >>> float(vol.sum().compute())
    1770.0
    """
    header, reader, stored = _inspect(check_path(path), dataset)
    if isinstance(chunks, str) and chunks == "auto" and stored is not None:
        chunks = auto_chunks(header.shape, header.dtype, previous=stored)
    else:
        chunks = normalize_chunks(chunks, header.shape, header.dtype, previous=stored)
    return attach_header(reader_to_dask(reader, chunks, "open_hdf5"), header)
