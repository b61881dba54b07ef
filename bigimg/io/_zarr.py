"""Zarr v2/v3 and OME-Zarr: a lazy reader and a streaming, crash-safe, resumable writer.

Stores live at local paths or fsspec URLs (:mod:`bigimg.io._stores`). A store written
by :func:`save_zarr` carries the attribute ``"bigimg_incomplete"`` from its creation
until the last block is written (locally it also lives under a partial name until
then; see :mod:`bigimg.io._target`); :func:`open_zarr` refuses a store that carries it.
"""

from __future__ import annotations

import asyncio
import numbers
import os
import uuid
from collections.abc import Mapping
from itertools import product
from typing import Any

import dask.array as da
import numpy as np
import zarr
import zarr.errors
from dask.base import tokenize
from zarr.core.sync import sync

from bigimg._args import as_dask
from bigimg._atomic import refuse_partial, resolve_progress
from bigimg._errors import IncompleteOutputError
from bigimg._sources import rechunk
from bigimg.io._blocks import Records, write_blocks
from bigimg.io._reader import BlockReader, reader_to_dask
from bigimg.io._shards import aligned, normalize_shards, read_chunks, store_chunks
from bigimg.io._stores import check_reachable, locate
from bigimg.io._target import INCOMPLETE_ATTR, open_target, resume_identity

__all__ = [
    "EVERY_CHUNK_ATTR",
    "INCOMPLETE_ATTR",
    "ZarrReader",
    "default_compressor",
    "open_zarr",
    "save_zarr",
    "stored_codecs",
]


#: Array attribute of the arrays bigimg writes: every chunk (or shard) is stored, even
#: one holding only the fill value, so a missing chunk is damage, never zeros.
EVERY_CHUNK_ATTR = "bigimg_every_chunk_stored"


class ZarrReader(BlockReader):
    """Picklable array-like wrapper of a zarr array.

    For on-disk and remote stores the array pickles as its metadata and the store's
    location, never its chunks (an in-memory ``MemoryStore`` pickles its contents).

    Each read checks, before and after, that the array's metadata object is the one
    that was opened (``watch``: the store's location, the metadata key and its stamp),
    and for arrays written by bigimg (:data:`EVERY_CHUNK_ATTR`) that every stored chunk
    the block covers exists; chunks that fail to decode (a checksum mismatch, a chunk
    cut short) raise ``OSError`` naming the store and the chunks.
    """

    def __init__(self, array: zarr.Array, source: str, stamp: Any, watch=None) -> None:
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = _stored_dtype(array)
        self.source = source
        self.stamp = stamp
        self.watch = watch
        self.every_chunk = bool(array.attrs.get(EVERY_CHUNK_ATTR, False))

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        self._check_unchanged()
        if self.every_chunk:
            self._check_stored(region)
        try:
            block = np.asarray(self.array[region])
        except (ValueError, RuntimeError) as exc:  # codecs: checksum, decompression
            self._check_unchanged()
            keys = ", ".join(self._chunk_keys(region)[:4])
            raise OSError(
                f"zarr store {self.source}: stored chunk(s) {keys} of voxels "
                f"{_region_text(region)} cannot be decoded ({type(exc).__name__}: {exc}); "
                "the store is damaged (a chunk cut short or altered): copy or write it again."
            ) from exc
        self._check_unchanged()  # a rewrite during the read would mix old and new voxels
        return block.astype(self.dtype, copy=False)

    def _check_unchanged(self) -> None:
        if self.watch is None:
            return
        location, key, stamp = self.watch
        if location.file_stamp(key) != stamp:
            raise OSError(
                f"zarr store {self.source} changed after it was opened (its {key} was "
                "rewritten, replaced or removed), so its blocks could mix old and new "
                "voxels; open it again."
            )

    def _chunk_keys(self, region: tuple[slice, ...]) -> list[str]:
        """The keys of the stored chunks (shards, when sharded) that cover ``region``."""
        unit = self.array.shards or self.array.chunks
        ranges = [range(s.start // u, (s.stop - 1) // u + 1) for s, u in zip(region, unit)]
        encode = self.array.metadata.encode_chunk_key
        return [encode(idx) for idx in product(*ranges)]

    def _check_stored(self, region: tuple[slice, ...]) -> None:
        keys = self._chunk_keys(region)
        store, prefix = self.array.store_path.store, self.array.store_path.path
        full = [f"{prefix}/{k}" if prefix else k for k in keys]
        found = sync(_exist(store, full))
        missing = [k for k, ok in zip(keys, found, strict=True) if not ok]
        if missing:
            self._check_unchanged()
            shown = ", ".join(missing[:4]) + (
                f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            )
            raise FileNotFoundError(
                f"zarr store {self.source}: chunk {shown} (voxels {_region_text(region)}) "
                f"is missing, but bigimg stored every chunk of this array (attribute "
                f"{EVERY_CHUNK_ATTR!r}): the store is damaged or was copied incompletely, "
                "so these voxels are lost, not zeros. Copy or write it again."
            )

    def _token(self) -> tuple:
        watched = None if self.watch is None else self.watch[2]
        return (self.source, self.array.path, self.shape, self.dtype.str, self.stamp, watched)


async def _exist(store, keys: list[str]) -> list[bool]:
    return list(await asyncio.gather(*(store.exists(k) for k in keys)))


def _region_text(region: tuple[slice, ...]) -> str:
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in region) + "]"


def _watch(loc, array: zarr.Array):
    """What a task checks to know the array was not rewritten: (location, key, stamp)."""
    name = "zarr.json" if array.metadata.zarr_format == 3 else ".zarray"
    key = f"{array.path}/{name}" if array.path else name
    return (loc.bare(), key, loc.file_stamp(key))


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


def _resolve(store, component: str | None, label: str):
    """Open ``store`` and walk to the array at ``component`` (or an image's level 0)."""
    try:
        root = zarr.open(store, mode="r")
    except (zarr.errors.NodeNotFoundError, FileNotFoundError):
        raise ValueError(
            f"zarr store {label} holds no zarr array or group (no zarr.json, .zarray or "
            ".zgroup); check the path."
        ) from None
    if root.attrs.get(INCOMPLETE_ATTR):
        raise _incomplete(label)
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
    if node.attrs.get(INCOMPLETE_ATTR):
        raise _incomplete(label)
    return node


def _incomplete(label: str) -> IncompleteOutputError:
    return IncompleteOutputError(
        f"zarr store {label} is marked incomplete (attribute {INCOMPLETE_ATTR!r}): a bigimg "
        "write into it was interrupted or failed (or is still running). Continue it with "
        "resume=True (the same computation; `bigimg run --resume` for a pipeline), or "
        "delete it and write the output again (overwrite=True)."
    )


def open_zarr(
    store,
    *,
    component: str | None = None,
    chunks=None,
    storage_options: Mapping | None = None,
) -> da.Array:
    """Open an array in a zarr v2/v3 store (or an OME-Zarr image) lazily as a dask array.

    Parameters
    ----------
    store : str, os.PathLike or zarr.abc.store.Store
        A local path, an fsspec URL (``s3://bucket/x.zarr``, ``gs://...``,
        ``file://...``, ``memory://...``), or a zarr store object.
    component : str, optional
        Path of the array inside the store (``"0"``, ``"labels/cells/0"``). A path to
        an OME-Zarr image group, or ``None`` for a store whose root is one, selects the
        highest-resolution level.
    chunks : None, "auto", int or tuple, optional
        ``None`` (default) follows the store: one task per stored chunk (per shard for
        sharded arrays). ``"auto"`` groups whole stored chunks or shards into blocks of
        about 32 MiB (a shard larger than that is read in groups of its inner chunks,
        never across two shards); other values are used as given (keep them multiples
        of the stored chunks).
    storage_options : dict, optional
        Options of the URL's filesystem, e.g. ``{"key": ..., "secret": ...,
        "client_kwargs": {"endpoint_url": ...}}`` for ``s3://`` (s3fs). They stay
        inside the store object, which the graph needs to read; they never appear in
        messages or task names.

    Returns
    -------
    dask.array.Array
        In the store's dtype and axis order (an OME-Zarr image's ``t``, ``c``, ``z``,
        ``y``, ``x`` as written; ``bigimg info`` names them); opening reads only metadata.

    Raises
    ------
    FileNotFoundError
        If ``store`` (or its bucket) does not exist.
    PermissionError
        If the object store refuses the credentials.
    ImportError, ValueError
        For a URL scheme whose filesystem package is not installed (the message names
        it) or that no filesystem knows.
    ValueError
        If the store or ``component`` holds no array; the message lists what it holds.
    bigimg.IncompleteOutputError
        If the store is the partial output of an interrupted bigimg write (it carries
        the ``"bigimg_incomplete"`` attribute, or a local partial name).
    OSError, FileNotFoundError
        When computed: the store changed after it was opened, a chunk is damaged, or
        a chunk of a bigimg-written array is missing (see Notes).

    Notes
    -----
    Each task reads and decompresses the stored chunks that cover its block and holds
    one copy of the block. The graph holds the array's metadata and the store's
    location, so it pickles small and workers open the store themselves.

    Integrity: each task checks, before and after its read, that the array's metadata
    object (``zarr.json`` or ``.zarray``) is the one opened, so a store rewritten or
    replaced during a computation raises ``OSError`` instead of mixing old and new
    voxels (chunks rewritten in place without touching the metadata are not seen). A
    chunk that fails to decode (the CRC32C checksum :func:`save_zarr` writes, or a
    decompression error) raises ``OSError`` naming the store and the chunks. In an
    array written by bigimg, which stores every chunk, a missing chunk raises
    ``FileNotFoundError`` (one existence check per stored chunk of the block); other
    stores keep zarr's rule that a missing chunk holds the fill value.

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

    loc = None
    if isinstance(store, Store):
        if storage_options is not None:
            raise ValueError("`storage_options` apply to URLs; got a zarr store object.")
        source = label = f"{type(store).__name__}-{id(store)}"
        stamp: Any = uuid.uuid4().hex
    else:
        loc = locate(store, storage_options, name="store")
        refuse_partial(loc.url, "zarr store")
        label = source = loc.shown
        if loc.local:
            if not os.path.exists(loc.path):
                raise FileNotFoundError(f"zarr store {loc.path} does not exist.")
            # absolute: workers (on a cluster) may run in another working directory
            stamp = loc.stamp() if os.path.isdir(loc.path) else uuid.uuid4().hex
        else:
            check_reachable(loc, "open_zarr")
            if not loc.exists():
                raise FileNotFoundError(f"zarr store {loc.shown} does not exist.")
            stamp = loc.stamp()
        store = loc.zarr_store(read_only=True)
    array = _resolve(store, component, label)
    watch = None if loc is None else _watch(loc, array)
    chunks = read_chunks(array, chunks)
    return reader_to_dask(ZarrReader(array, source, stamp, watch), chunks, "open_zarr")


def default_compressor(zarr_format: int, dtype: np.dtype):
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


def stored_codecs(zarr_format: int, dtype: np.dtype, compressor="default", checksum=True) -> dict:
    """The ``zarr.create_array`` keywords of every array bigimg writes.

    ``compressors`` (``"default"``: :func:`default_compressor`) followed, with
    ``checksum``, by a CRC32C checksum of each stored chunk: zarr v3's ``crc32c``
    codec after the compressor (it checks the compressed bytes); zarr v2 has one
    compressor slot, so there numcodecs' ``CRC32C`` is a filter (it checks the
    decompressed bytes; a chunk cut short fails to decompress first). ``config``
    stores every chunk, even one equal to the fill value, and the attribute
    :data:`EVERY_CHUNK_ATTR` says so: :func:`open_zarr` then refuses a missing chunk.
    """
    out: dict = {
        "compressors": _compressors(compressor, zarr_format, dtype),
        "attributes": {EVERY_CHUNK_ATTR: True},
        "config": {"write_empty_chunks": True},
    }
    if checksum and zarr_format == 3:
        from zarr.codecs import Crc32cCodec

        out["compressors"] = [*(out["compressors"] or []), Crc32cCodec()]
    elif checksum:
        from numcodecs import CRC32C

        out["filters"] = [CRC32C()]
    return out


def save_zarr(
    array,
    path,
    *,
    chunks=None,
    shards=None,
    compressor="default",
    checksum: bool = True,
    zarr_format: int = 3,
    overwrite: bool = False,
    resume: bool | str = False,
    storage_options: Mapping | None = None,
    progress=None,
    compute: bool = True,
):
    """Write an array to a new zarr store, block by block, with compression.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        The volume; the store keeps its dtype (including byte order and bool).
    path : str or os.PathLike
        The new store: a local folder or an fsspec URL (``s3://bucket/x.zarr``,
        ``gs://...``, ``memory://...``; ``file://`` URLs are local folders).
    chunks : None, int or tuple of int, optional
        Stored chunk shape (the inner chunks when sharded). ``None``: the dask array's
        chunk size (for numpy input, blocks of about 32 MiB). Dask blocks that straddle
        stored chunks (or shards) are rechunked first so no two tasks write the same
        chunk (or shard).
    shards : None, int or tuple of int, optional
        Shard shape for zarr v3's sharding codec: each shard is one stored object
        holding a grid of ``chunks``; must be a multiple of ``chunks`` along every axis.
        ``None``: unsharded. Each task writes whole shards.
    compressor : "default", None or codec, optional
        ``"default"``: Blosc with zstd level 3 and shuffle. ``None``: uncompressed.
        A codec: a ``zarr.codecs`` bytes-to-bytes codec for ``zarr_format=3``, a
        numcodecs codec for ``zarr_format=2``.
    checksum : bool, optional
        Store a CRC32C checksum with every chunk (zarr v3: the ``crc32c`` codec after
        the compressor; zarr v2: numcodecs' ``CRC32C`` filter), so that a damaged
        chunk is an error when read instead of wrong voxels. Readers need zarr-python
        3 or numcodecs 0.14 or later (``crc32c``); pass False for older readers.
    zarr_format : {3, 2}, optional
        The zarr specification to write.
    overwrite : bool, optional
        Replace an existing store: locally only once the new one is complete; at a URL
        (no rename there) the old store is deleted when the new write starts.
    resume : bool or str, optional
        Continue an interrupted write of the same computation at ``path``: blocks
        already written (each has a completion record) are skipped and never
        computed, the rest are written. The computation is the dask graph's token
        (``array.name``); pass a str to name it yourself when the graph's name is not
        stable between runs. A failed resumable write keeps its partial output.
    storage_options : dict, optional
        Options of the URL's filesystem (for ``s3://``: ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``, ...). They stay inside the store
        object; messages and task names never show them.
    progress : bool or None, optional
        Show a progress bar; by default only when stderr is a terminal.
    compute : bool, optional
        If False, return a :class:`dask.delayed.Delayed` that writes and returns the path
        (the empty, marked-incomplete store is created now).

    Returns
    -------
    str or dask.delayed.Delayed
        The absolute path (or the URL) of the store.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        For bad ``chunks``/``shards`` (shards not multiples of chunks, shards with zarr
        v2), or ``resume`` into the partial output of another computation.
    FileNotFoundError, PermissionError, ImportError
        For a missing folder or bucket, refused credentials, or a URL scheme whose
        filesystem package is not installed; all before anything is written.

    Notes
    -----
    Each task holds one block (plus its compressed bytes) and writes whole stored
    chunks, or whole shards; every chunk is stored, even one holding only zeros, and
    the array carries the attribute ``"bigimg_every_chunk_stored"``, so that
    :func:`open_zarr` refuses a store that lost a chunk. The store is created with the attribute
    ``"bigimg_incomplete"``; after its last block the completion records are
    deleted and the attribute is removed, last. A local store also lives under a
    partial name until then and is renamed to ``path``; at a URL (object stores
    cannot rename) the store is written in place and the attribute alone marks it
    incomplete: every bigimg reader refuses it. The log ``bigimg.io`` says how many
    blocks a write computed and how many were already written.

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

    Sharded (zarr v3): chunks of 2 x 3 x 4 voxels, stored 2 x 2 x 2 per shard object.

    >>> vol = np.arange(8 * 6 * 8).reshape(8, 6, 8)
    >>> path = save_zarr(vol, os.path.join(tempfile.mkdtemp(), "sharded.zarr"),
    ...                  chunks=(2, 3, 4), shards=(4, 6, 8), progress=False)
    >>> open_zarr(path).chunks  # one task per shard
    ((4, 4), (6,), (8,))
    >>> bool((open_zarr(path).compute() == vol).all())
    True
    """
    was_dask = isinstance(array, da.Array)
    arr = as_dask(array, name="array")
    if zarr_format not in (2, 3) or isinstance(zarr_format, bool):
        raise ValueError(f"`zarr_format` must be 2 or 3; got {zarr_format!r}.")
    if not isinstance(compute, bool):
        raise TypeError(f"`compute` must be True or False; got {compute!r}.")
    if not isinstance(checksum, bool):
        raise TypeError(f"`checksum` must be True or False; got {checksum!r}.")
    if arr.dtype.hasobject:
        raise TypeError(f"`array` must have a numeric dtype; got {arr.dtype}.")
    if any(not isinstance(n, numbers.Integral) for n in arr.shape):
        raise ValueError(
            f"`array` must have a known shape; got {arr.shape}. Call compute_chunk_sizes() first."
        )
    resume, computation = resume_identity(resume, arr.name)
    show = resolve_progress(progress)
    chunk_shape = store_chunks(arr, chunks, was_dask)
    shard_shape = normalize_shards(shards, chunk_shape, zarr_format)
    codecs = stored_codecs(zarr_format, arr.dtype, compressor, checksum)
    every_chunk, config = codecs.pop("attributes"), codecs.pop("config")
    spec = {
        "shape": arr.shape,
        "dtype": arr.dtype,
        "chunks": chunk_shape,
        "shards": shard_shape,
        **codecs,
        "zarr_format": zarr_format,
    }
    if zarr_format == 3 and arr.dtype.byteorder == ">":  # keep the dtype's own bytes
        from zarr.codecs import BytesCodec

        spec["serializer"] = BytesCodec(endian="big")
    try:  # every argument zarr checks, checked in memory before anything is written
        zarr.create_array(zarr.storage.MemoryStore(), **spec)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"`compressor` must suit zarr_format={zarr_format} (a zarr.codecs bytes codec for 3, "
            f"a numcodecs codec for 2); got {compressor!r} ({exc})."
        ) from exc
    loc = locate(path, storage_options)
    marker = {
        "writer": "save_zarr",
        "computation": computation,
        "layout": tokenize(*(repr(v) for v in spec.values())),
    }
    target = open_target(loc, overwrite=overwrite, resume=resume, marker=marker, func="save_zarr")
    unit = shard_shape or chunk_shape
    if not aligned(arr, unit):
        arr = rechunk(arr, unit)  # from the source, when there is one
    with target.creating():
        store = target.store.zarr_store(read_only=False)
        if target.resumed:
            zarray = zarr.open_array(store, mode="r+")
            done = Records(target.store.bare()).covered(unit)
        else:
            attrs = target.create_attrs(zarr_format) | every_chunk
            zarray = zarr.create_array(store, attributes=attrs, config=config, **spec)
            done = set()
    counts, _, written, total = write_blocks(arr, zarray, Records(target.store.bare()), unit, done)
    return target.run(
        [counts], progress=show, compute=compute, desc="save_zarr", blocks=(written, total)
    )


def _compressors(compressor, zarr_format: int, dtype: np.dtype):
    if isinstance(compressor, str) and compressor == "default":
        return [default_compressor(zarr_format, dtype)]
    if compressor is None:
        return None
    if isinstance(compressor, str):
        raise ValueError(
            f"`compressor` must be 'default', None or a codec object; got {compressor!r}."
        )
    return [compressor]
