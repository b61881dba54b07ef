"""Zarr v2/v3 and OME-Zarr: a lazy reader and a streaming, crash-safe writer.

A store written by :func:`save_zarr` carries the attribute ``"bigimg_incomplete":
true`` from its creation until the last block is written (besides living under a
partial name until then); :func:`open_zarr` refuses a store that still carries it.
"""

from __future__ import annotations

import numbers
import os
import uuid
from typing import Any

import dask.array as da
import numpy as np
import zarr
import zarr.errors

from bigimg._errors import IncompleteOutputError
from bigimg._args import as_dask
from bigimg._sources import rechunk
from bigimg.io._atomic import (
    discard,
    prepare_output,
    refuse_partial,
    resolve_progress,
    run_write,
)
from bigimg.io._reader import (
    BlockReader,
    check_path,
    normalize_chunks,
    reader_to_dask,
)

__all__ = ["INCOMPLETE_ATTR", "ZarrReader", "open_zarr", "save_zarr"]

#: Attribute that marks a store whose write has not finished.
INCOMPLETE_ATTR = "bigimg_incomplete"


class ZarrReader(BlockReader):
    """Picklable array-like wrapper of a zarr array.

    For on-disk and remote stores the array pickles as its metadata and the store's
    location, never its chunks (an in-memory ``MemoryStore`` pickles its contents).
    """

    def __init__(self, array: zarr.Array, source: str, stamp: Any) -> None:
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = _stored_dtype(array)
        self.source = source
        self.stamp = stamp

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self.array[region]).astype(self.dtype, copy=False)

    def _token(self) -> tuple:
        return (self.source, self.array.path, self.shape, self.dtype.str, self.stamp)


def _stored_dtype(array: zarr.Array) -> np.dtype:
    """The array's dtype in the byte order it is stored in.

    zarr-python decodes zarr v3 arrays to native byte order; the order lives in the
    ``bytes`` codec. Reporting the stored order makes ``save_zarr``/``open_zarr`` give
    back exactly the dtype that was written (``">u2"`` stays ``">u2"``).
    """
    dtype = np.dtype(array.dtype)
    if dtype.itemsize > 1 and array.metadata.zarr_format == 3:
        endian = getattr(getattr(array, "serializer", None), "endian", None)
        if getattr(endian, "value", endian) == "big":
            return dtype.newbyteorder(">")
    return dtype


def _describe(node) -> str:
    if isinstance(node, zarr.Array):
        return f"array {tuple(node.shape)} {node.dtype}"
    return "group"


def _members(group: zarr.Group) -> str:
    members = sorted(group.members(), key=lambda kv: kv[0])
    listed = ", ".join(f"{name!r} ({_describe(node)})" for name, node in members[:12])
    more = f" and {len(members) - 12} more" if len(members) > 12 else ""
    return f"members {listed}{more}" if members else "no members"


def _multiscale_level0(group: zarr.Group) -> str | None:
    """The path of the highest-resolution level if ``group`` is an OME-Zarr image."""
    attrs = group.attrs.asdict()
    multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    if not multiscales:
        return None
    try:
        return str(multiscales[0]["datasets"][0]["path"])
    except (KeyError, IndexError, TypeError):
        return None


def _stamp(store: str) -> Any:
    """The metadata files' mtimes for a local store; a fresh token otherwise."""
    if "://" in store or not os.path.isdir(store):
        return uuid.uuid4().hex
    names = ("zarr.json", ".zarray", ".zgroup", ".zattrs")
    return tuple(
        os.stat(os.path.join(store, n)).st_mtime_ns if os.path.exists(os.path.join(store, n)) else 0
        for n in names
    )


def _resolve(store, component: str | None):
    """Open ``store`` and walk to the array at ``component`` (or an image's level 0)."""
    label = store if isinstance(store, str) else type(store).__name__
    try:
        root = zarr.open(store, mode="r")
    except zarr.errors.NodeNotFoundError:
        raise ValueError(
            f"zarr store {label} holds no zarr array or group (no zarr.json, .zarray or "
            ".zgroup); check the path."
        ) from None
    node, where = root, ""
    if component:
        if isinstance(root, zarr.Array):
            raise ValueError(
                f"`component` must be None for zarr store {label}, which holds a single array "
                f"{tuple(root.shape)} {root.dtype} at its root; got {component!r}."
            )
        try:
            node = root[component.strip("/")]
        except KeyError:
            raise ValueError(
                f"`component` must name an array or image in zarr store {label}; got "
                f"{component!r}, which does not exist. The root group has {_members(root)}."
            ) from None
        where = component.strip("/")
    if isinstance(node, zarr.Group):
        level = _multiscale_level0(node)
        if level is None or level not in node:
            at = f"component {where!r}" if where else "its root"
            raise ValueError(
                f"zarr store {label} holds no array at {at}: it holds a group with "
                f"{_members(node)}; pass component='<name of an array or OME-Zarr image>'."
            )
        if node.attrs.get(INCOMPLETE_ATTR):
            raise _incomplete(label)
        node = node[level]
    if node.attrs.get(INCOMPLETE_ATTR) or root.attrs.get(INCOMPLETE_ATTR):
        raise _incomplete(label)
    return node


def _incomplete(label: str) -> IncompleteOutputError:
    return IncompleteOutputError(
        f"zarr store {label} is marked incomplete (attribute {INCOMPLETE_ATTR!r}): a bigimg "
        "write into it was interrupted or failed; delete it and write the output again."
    )


def open_zarr(store, *, component: str | None = None, chunks=None) -> da.Array:
    """Open an array in a zarr v2/v3 store (or an OME-Zarr image) lazily as a dask array.

    Parameters
    ----------
    store : str, os.PathLike or zarr.abc.store.Store
        A local path or URL of the store, or a zarr store object.
    component : str, optional
        Path of the array inside the store (``"0"``, ``"labels/cells/0"``). A path to
        an OME-Zarr image group, or ``None`` for a store whose root is one, selects the
        highest-resolution level.
    chunks : None, "auto", int or tuple, optional
        ``None`` (default) follows the store: one task per stored chunk (per shard for
        sharded arrays). ``"auto"`` groups whole stored chunks into blocks of about
        32 MiB; other values are used as given (keep them multiples of the stored chunks).

    Returns
    -------
    dask.array.Array
        In the store's dtype; opening reads only metadata.

    Raises
    ------
    FileNotFoundError
        If a local ``store`` does not exist.
    ValueError
        If the store or ``component`` holds no array; the message lists what it holds.
    bigimg.IncompleteOutputError
        If the store is the partial output of an interrupted bigimg write.

    Notes
    -----
    Each task reads and decompresses the stored chunks that cover its block and holds
    one copy of the block. The graph holds the array's metadata and the store's
    location, so it pickles small and workers open the store themselves.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_zarr, save_zarr
    >>> vol = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    >>> path = save_zarr(vol, os.path.join(tempfile.mkdtemp(), "v.zarr"), chunks=(2, 5, 3),
    ...                  progress=False)
    >>> arr = open_zarr(path)
    >>> arr.chunks
    ((2, 2), (5,), (3, 3))
    >>> bool((arr.compute() == vol).all())
    True
    """
    if component is not None and not isinstance(component, str):
        raise TypeError(f"`component` must be a str such as '0' or None; got {component!r}.")
    from zarr.abc.store import Store

    if isinstance(store, Store):
        source = f"{type(store).__name__}-{id(store)}"
        stamp: Any = uuid.uuid4().hex
    else:
        store = source = check_path(store, "store")
        refuse_partial(store, "zarr store")
        if "://" not in store:
            if not os.path.exists(store):
                raise FileNotFoundError(f"zarr store {store} does not exist.")
            # absolute: workers (on a cluster) may run in another working directory
            store = source = os.path.abspath(store)
        stamp = _stamp(store)
    array = _resolve(store, component)
    stored = tuple(array.shards or array.chunks)
    if chunks is None:
        chunks = da.core.normalize_chunks(stored, array.shape)
    else:
        chunks = normalize_chunks(chunks, array.shape, np.dtype(array.dtype), previous=stored)
    return reader_to_dask(ZarrReader(array, source, stamp), chunks, "open_zarr")


def _default_compressor(zarr_format: int, dtype: np.dtype):
    """Blosc-zstd level 3 with byte shuffle (bit shuffle for 1-byte types)."""
    if zarr_format == 3:
        from zarr.codecs import BloscCodec

        return BloscCodec(
            cname="zstd",
            clevel=3,
            typesize=dtype.itemsize,
            shuffle="bitshuffle" if dtype.itemsize == 1 else "shuffle",
        )
    from numcodecs import Blosc

    return Blosc(
        cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE if dtype.itemsize == 1 else Blosc.SHUFFLE
    )


def _store_chunks(arr: da.Array, chunks, was_dask: bool) -> tuple[int, ...]:
    if chunks is None:
        if was_dask:
            return tuple(max(1, c) for c in arr.chunksize)
        chunks = "auto"
    normal = normalize_chunks(chunks, arr.shape, arr.dtype)
    regular = tuple(max(1, c[0]) for c in normal)
    if normal != da.core.normalize_chunks(regular, arr.shape):
        raise ValueError(
            f"`chunks` must be one regular chunk shape for the zarr store; got {chunks!r}. "
            "Pass a tuple of ints such as (64, 64, 64)."
        )
    return regular


def _aligned(arr: da.Array, store_chunks: tuple[int, ...]) -> bool:
    """True if every dask block lies inside whole stored chunks (no two tasks share one)."""
    for axis_chunks, z in zip(arr.chunks, store_chunks, strict=True):
        edge = 0
        for c in axis_chunks[:-1]:
            edge += c
            if edge % z:
                return False
    return True


def save_zarr(
    array,
    path,
    *,
    chunks=None,
    compressor="default",
    zarr_format: int = 3,
    overwrite: bool = False,
    progress=None,
    compute: bool = True,
):
    """Write an array to a new zarr store, block by block, with compression.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        The volume; the store keeps its dtype (including byte order and bool).
    path : str or os.PathLike
        The local folder of the new store.
    chunks : None, int or tuple of int, optional
        Stored chunk shape. ``None``: the dask array's chunk size (for numpy input,
        blocks of about 32 MiB). Dask blocks that straddle stored chunks are
        rechunked first so no two tasks write the same chunk.
    compressor : "default", None or codec, optional
        ``"default"``: Blosc with zstd level 3 and shuffle. ``None``: uncompressed.
        A codec: a ``zarr.codecs`` bytes-to-bytes codec for ``zarr_format=3``, a
        numcodecs codec for ``zarr_format=2``.
    zarr_format : {3, 2}, optional
        The zarr specification to write.
    overwrite : bool, optional
        Replace an existing store (only once the new one is complete).
    progress : bool or None, optional
        Show a progress bar; by default only when stderr is a terminal.
    compute : bool, optional
        If False, return a :class:`dask.delayed.Delayed` that writes and returns the path
        (the empty, marked-incomplete store is created now).

    Returns
    -------
    str or dask.delayed.Delayed
        The absolute path of the store.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    Each task holds one block (plus its compressed bytes) and writes whole stored
    chunks. The store is created under a partial name with the attribute
    ``"bigimg_incomplete"``; the attribute is removed and the store renamed to
    ``path`` after the last block.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_zarr, save_zarr
    >>> labels = np.zeros((4, 6, 8), dtype=bool); labels[1:3, 2:4, 2:6] = True
    >>> path = save_zarr(labels, os.path.join(tempfile.mkdtemp(), "mask.zarr"),
    ...                  zarr_format=2, progress=False)
    >>> back = open_zarr(path).compute()
    >>> back.dtype, bool((back == labels).all())
    (dtype('bool'), True)
    """
    was_dask = isinstance(array, da.Array)
    arr = as_dask(array, name="array")
    path = check_path(path)
    if "://" in path:
        raise NotImplementedError(
            f"save_zarr writes local stores only (it renames the finished store into place); "
            f"got {path!r}. Write locally and upload, or use dask.array.to_zarr."
        )
    if zarr_format not in (2, 3) or isinstance(zarr_format, bool):
        raise ValueError(f"`zarr_format` must be 2 or 3; got {zarr_format!r}.")
    if not isinstance(compute, bool):
        raise TypeError(f"`compute` must be True or False; got {compute!r}.")
    if arr.dtype.hasobject:
        raise TypeError(f"`array` must have a numeric dtype; got {arr.dtype}.")
    if any(not isinstance(n, numbers.Integral) for n in arr.shape):
        raise ValueError(
            f"`array` must have a known shape; got {arr.shape}. Call compute_chunk_sizes() first."
        )
    show = resolve_progress(progress)
    store_chunks = _store_chunks(arr, chunks, was_dask)
    if isinstance(compressor, str) and compressor == "default":
        compressors = [_default_compressor(zarr_format, arr.dtype)]
    elif compressor is None:
        compressors = None
    elif isinstance(compressor, str):
        raise ValueError(
            f"`compressor` must be 'default', None or a codec object; got {compressor!r}."
        )
    else:
        compressors = [compressor]
    partial = prepare_output(path, overwrite=overwrite, kind="directory", func="save_zarr")
    path = os.path.abspath(path)
    extra = {}
    if zarr_format == 3 and arr.dtype.byteorder == ">":  # keep the dtype's own bytes
        from zarr.codecs import BytesCodec

        extra["serializer"] = BytesCodec(endian="big")
    try:
        target = zarr.create_array(
            store=partial,
            shape=arr.shape,
            chunks=store_chunks,
            dtype=arr.dtype,
            compressors=compressors,
            zarr_format=zarr_format,
            attributes={INCOMPLETE_ATTR: True},
            **extra,
        )
    except (TypeError, ValueError) as exc:
        discard(partial)
        raise TypeError(
            f"`compressor` must suit zarr_format={zarr_format} (a zarr.codecs bytes codec for 3, "
            f"a numcodecs codec for 2); got {compressor!r} ({exc})."
        ) from exc
    if not _aligned(arr, store_chunks):
        arr = rechunk(arr, store_chunks)  # from the source, when there is one
    stored = da.store(arr, target, lock=False, compute=False)
    return run_write(
        stored,
        partial,
        path,
        overwrite=overwrite,
        progress=show,
        compute=compute,
        desc="save_zarr",
        finish=_clear_marker,
    )


def _clear_marker(partial: str) -> None:
    array = zarr.open_array(partial, mode="r+")
    del array.attrs[INCOMPLETE_ATTR]
