"""bigimg: scipy.ndimage for 3-D volumes larger than memory, on dask.

>>> from bigimg import ndimage          # the drop-in for scipy.ndimage
>>> from bigimg import open_raw, save_zarr
"""

from bigimg import data, display, io, measure, ndimage, restoration, stats
from bigimg._errors import ArgumentError, BigimgWarning, IncompleteOutputError
from bigimg.display import view
from bigimg.io import (
    open,
    open_dicom,
    open_hdf5,
    open_mrc,
    open_nifti,
    open_nrrd,
    open_raw,
    open_tiff,
    open_zarr,
    save_ome_zarr,
    save_raw,
    save_tiff,
    save_zarr,
)

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "BigimgWarning",
    "IncompleteOutputError",
    "__version__",
    "data",
    "display",
    "io",
    "measure",
    "ndimage",
    "open",
    "open_dicom",
    "open_hdf5",
    "open_mrc",
    "open_nifti",
    "open_nrrd",
    "open_raw",
    "open_tiff",
    "open_zarr",
    "restoration",
    "save_ome_zarr",
    "save_raw",
    "save_tiff",
    "save_zarr",
    "stats",
    "view",
]
