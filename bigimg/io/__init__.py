"""Lazy readers and streaming, crash-safe writers for raw, TIFF and zarr volumes.

Readers return dask arrays whose tasks each read their own block, so opening reads
no voxels and the graph pickles small. Writers stream block by block into a partial
output that is renamed into place only when complete; readers refuse partial outputs
with :class:`bigimg.IncompleteOutputError`.

>>> from bigimg.io import open_raw, open_tiff, open_zarr, save_raw, save_tiff, save_zarr
"""

from bigimg.io._ome import save_ome_zarr
from bigimg.io._raw import open_raw, save_raw
from bigimg.io._tiff import open_tiff
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
]
