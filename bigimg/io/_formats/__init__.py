"""Readers of the formats CT, MRI and microscopy users hold: NIfTI, DICOM, HDF5, MRC, NRRD.

Owns: one lazy reader per format (a :class:`bigimg.io._reader.BlockReader` whose tasks
open the file themselves), the physical :class:`Header` each returns (spacing, units,
origin, direction, the format's fields) and how an array straight from a reader
carries it (:func:`header_of`, through the region-source registry), and random access
into gzip streams (``_gzip``).
May import: numpy, dask, :mod:`bigimg._sources`, :mod:`bigimg._rawfile`,
:mod:`bigimg._atomic`, :mod:`bigimg.io._reader`; the field libraries (nibabel, pydicom,
h5py, mrcfile, pynrrd, indexed_gzip) only when a file of theirs is opened, each an
optional extra named in the ImportError.

Steps, one module each: ``_header`` (the header and its registry), ``_gzip`` (indexed
gzip reads), ``_nifti``, ``_dicom_files`` (files, series, slices) and ``_dicom`` (sort,
check, read), ``_hdf5``, ``_mrc``, ``_nrrd``.
"""

from bigimg.io._formats._dicom import DicomReader, dicom_header, open_dicom
from bigimg.io._formats._hdf5 import Hdf5Reader, hdf5_header, open_hdf5
from bigimg.io._formats._header import Header, header_of
from bigimg.io._formats._mrc import MrcReader, mrc_header, open_mrc
from bigimg.io._formats._nifti import NiftiReader, nifti_header, open_nifti
from bigimg.io._formats._nrrd import NrrdReader, nrrd_header, open_nrrd

__all__ = [
    "DicomReader",
    "Hdf5Reader",
    "Header",
    "MrcReader",
    "NiftiReader",
    "NrrdReader",
    "dicom_header",
    "hdf5_header",
    "header_of",
    "mrc_header",
    "nifti_header",
    "nrrd_header",
    "open_dicom",
    "open_hdf5",
    "open_mrc",
    "open_nifti",
    "open_nrrd",
]
