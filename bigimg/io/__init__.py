"""Lazy readers and streaming, crash-safe writers for raw, TIFF and zarr volumes.

Readers return dask arrays whose tasks each read their own block, so opening reads
no voxels and the graph pickles small. Writers stream block by block into a partial
output that is renamed into place only when complete; readers refuse partial outputs
with :class:`bigimg.IncompleteOutputError`.

Zarr and OME-Zarr stores may also live at fsspec URLs (``s3://``, ``gs://``,
``memory://``, ... with ``storage_options=``). Object stores have no rename, so there
a store is written in place and an incomplete-marker attribute, removed last, is what
every reader checks. Zarr writes can be sharded (zarr v3, ``shards=``, one task per
whole shard; OME-Zarr 0.5 is the default) and resumed (``resume=True``: blocks with a
completion record are skipped; see :mod:`bigimg.io._target` and
:mod:`bigimg.io._blocks`).

>>> from bigimg.io import open_raw, open_tiff, open_zarr, save_raw, save_tiff, save_zarr
"""

from bigimg.io._ome import save_ome_zarr
from bigimg.io._raw import open_raw, save_raw
from bigimg.io._tiff import open_tiff, tiff_stack_files
from bigimg.io._tiff_write import save_tiff
from bigimg.io._zarr import open_zarr, save_zarr

__all__ = [
    "open_raw",
    "open_tiff",
    "open_zarr",
    "save_ome_zarr",
    "save_raw",
    "save_tiff",
    "save_zarr",
    "tiff_stack_files",
]
