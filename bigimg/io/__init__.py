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

NIfTI, DICOM series, HDF5, MRC and NRRD are read by :mod:`bigimg.io._formats` (each
through its field library, an optional extra); :func:`open` picks the reader from the
file and :func:`header` gives the physical header (spacing, units, origin, direction).

>>> from bigimg.io import open_raw, open_tiff, open_zarr, save_raw, save_tiff, save_zarr
>>> from bigimg.io import header, open, open_dicom, open_hdf5, open_mrc, open_nifti, open_nrrd
"""

from bigimg.io._formats import (
    Header,
    open_dicom,
    open_hdf5,
    open_mrc,
    open_nifti,
    open_nrrd,
)
from bigimg.io._ome import save_ome_zarr
from bigimg.io._open import format_of, header, open
from bigimg.io._raw import open_raw, save_raw
from bigimg.io._tiff import open_tiff, tiff_stack_files
from bigimg.io._tiff_write import save_tiff
from bigimg.io._zarr import open_zarr, save_zarr

__all__ = [
    "Header",
    "format_of",
    "header",
    "open",
    "open_dicom",
    "open_hdf5",
    "open_mrc",
    "open_nifti",
    "open_nrrd",
    "open_raw",
    "open_tiff",
    "open_zarr",
    "save_ome_zarr",
    "save_raw",
    "save_tiff",
    "save_zarr",
    "tiff_stack_files",
]
