"""One entry point for every reader: the format from the path's suffix and magic bytes.

:func:`open` picks the reader, :func:`header` reads the physical header without
voxels, :func:`format_of` says which format a path holds.
"""

from __future__ import annotations

import builtins
import glob
import os
from typing import Any

import dask.array as da

from bigimg.io._formats import (
    Header,
    dicom_header,
    hdf5_header,
    header_of,
    mrc_header,
    nifti_header,
    nrrd_header,
    open_dicom,
    open_hdf5,
    open_mrc,
    open_nifti,
    open_nrrd,
)
from bigimg.io._raw import open_raw
from bigimg.io._reader import check_path
from bigimg.io._tiff import open_tiff
from bigimg.io._zarr import open_zarr

__all__ = ["FORMATS", "format_of", "header", "open"]

#: The formats :func:`open` reads, and the suffixes that name them.
FORMATS = {
    "nifti": (".nii", ".nii.gz", ".hdr", ".img.gz"),
    "dicom": (".dcm", ".dicom", ".ima"),
    "hdf5": (".h5", ".hdf5", ".hdf", ".he5", ".nxs", ".nx5", ".cxi"),
    "mrc": (".mrc", ".mrcs", ".rec", ".map", ".st", ".ali", ".ccp4"),
    "nrrd": (".nrrd", ".nhdr"),
    "tiff": (".tif", ".tiff"),
    "zarr": (".zarr",),
    "raw": (".raw", ".bin", ".dat", ".img", ".vol"),
}
_ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")
_OPENERS = {"nifti": open_nifti, "dicom": open_dicom, "hdf5": open_hdf5, "mrc": open_mrc,
            "nrrd": open_nrrd, "tiff": open_tiff, "zarr": open_zarr, "raw": open_raw}  # fmt: skip
_HEADERS = {"nifti": nifti_header, "dicom": dicom_header, "hdf5": hdf5_header,
            "mrc": mrc_header, "nrrd": nrrd_header}  # fmt: skip


def _magic(path: str) -> str | None:
    try:
        with builtins.open(path, "rb") as f:
            head = f.read(352)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:7] == b"NRRD000":
        return "nrrd"
    if head[344:348] in (b"n+1\0", b"ni1\0") or head[4:8] in (b"n+2\0", b"ni2\0"):
        return "nifti"
    if head[208:212] == b"MAP ":
        return "mrc"
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    return None


def _by_suffix(path: str) -> str | None:
    lower = path.lower().rstrip("/")
    if os.path.basename(lower) == "dicomdir":
        return "dicom"
    if lower.endswith(".img") and os.path.exists(path[:-4] + ".hdr"):
        return "nifti"  # the data half of an Analyze/NIfTI pair
    for fmt, suffixes in FORMATS.items():
        if lower.endswith(suffixes):
            return fmt
    return None


def _folder_format(path: str) -> str:
    if any(os.path.exists(os.path.join(path, m)) for m in _ZARR_MARKERS):
        return "zarr"
    names = sorted(os.listdir(path))
    if "DICOMDIR" in names:
        return "dicom"
    if any(n.lower().endswith(FORMATS["tiff"]) for n in names):
        return "tiff"
    looked = 0
    for folder, _, files in os.walk(path):
        for name in sorted(files)[:20]:
            looked += 1
            if _magic(os.path.join(folder, name)) == "dicom":
                return "dicom"
        if looked > 200:
            break
    raise ValueError(
        f"folder {path} holds neither a zarr store, .tif files nor DICOM files; check the path."
    )


def format_of(path) -> str:
    """The format of ``path``, from its suffix, else its first bytes.

    Parameters
    ----------
    path : str, os.PathLike or list of them
        A file, a folder, a glob pattern or a list of files (TIFF slices or DICOM).

    Returns
    -------
    str
        One of ``"nifti"``, ``"dicom"``, ``"hdf5"``, ``"mrc"``, ``"nrrd"``, ``"tiff"``,
        ``"zarr"``, ``"raw"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` names nothing.
    ValueError
        If neither the suffix nor the magic bytes tell the format.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from bigimg.io import format_of
    >>> format_of("brain.nii.gz"), format_of("tomo.rec"), format_of(get_testdata_file("CT_small.dcm"))
    ('nifti', 'mrc', 'dicom')
    """
    if isinstance(path, list | tuple):
        if path and all(str(p).lower().endswith(FORMATS["tiff"]) for p in path):
            return "tiff"
        return "dicom"
    path = check_path(path)
    if "://" in path:
        return "zarr"
    if os.path.isdir(path):
        return _folder_format(path)
    if glob.has_magic(path) and not os.path.exists(path):
        files = sorted(glob.glob(path))
        if not files:
            raise FileNotFoundError(f"no files match the pattern {path}.")
        if all(f.lower().endswith(FORMATS["tiff"]) for f in files):
            return "tiff"
        return _magic(files[0]) or "dicom"
    fmt = _by_suffix(path)
    if fmt is not None:
        return fmt
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist.")
    fmt = _magic(path)
    if fmt is None:
        known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
        raise ValueError(
            f"cannot tell the format of {path} from its name or first bytes; known suffixes: "
            f"{known}. Open it with the reader of its format (bigimg.io.open_raw for a "
            "headerless file)."
        )
    return fmt


def open(path, **kwargs: Any) -> da.Array:  # noqa: A001 - bigimg.open mirrors io.open
    """Open any volume bigimg reads, lazily: the reader follows the file's format.

    Parameters
    ----------
    path : str, os.PathLike or list of them
        A NIfTI, DICOM (file, folder, glob, list, DICOMDIR), HDF5, MRC, NRRD, TIFF,
        zarr/OME-Zarr or raw volume; see :func:`format_of`.
    **kwargs
        Passed to the format's reader (``chunks=`` for all; ``dataset=`` for HDF5,
        ``series=`` for DICOM and TIFF, ``component=`` for zarr; raw files need
        ``shape=`` and ``dtype=``).

    Returns
    -------
    dask.array.Array
        Nothing read yet. For NIfTI, DICOM, HDF5, MRC and NRRD, :func:`header` of the
        array gives its spacing.

    Raises
    ------
    ValueError
        If the format cannot be told (see :func:`format_of`); the reader's own errors.
    TypeError
        If a raw file is opened without ``shape`` and ``dtype``.

    Examples
    --------
    >>> import nibabel, os
    >>> import bigimg
    >>> path = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")
    >>> brain = bigimg.open(path)
    >>> brain.shape, bigimg.io.header(brain).spacing
    ((25, 41, 33), (2.0, 2.0, 2.0))
    """
    fmt = format_of(path)
    if fmt == "raw" and ("shape" not in kwargs or "dtype" not in kwargs):
        raise TypeError(
            f"raw file {path} has no header: pass shape= and dtype= (and offset= if it "
            "starts with a header), e.g. bigimg.open(path, shape=(512, 512, 512), dtype='<u2')."
        )
    return _OPENERS[fmt](path, **kwargs)


def header(path, **kwargs: Any) -> Header | None:
    """The physical header of a volume, read without touching a voxel.

    Parameters
    ----------
    path : str, os.PathLike, list of them, or dask.array.Array
        A NIfTI, DICOM, HDF5, MRC or NRRD file (or DICOM folder, glob, list); or an
        array returned by one of their readers.
    **kwargs
        The reader's options that pick the volume (``dataset=``, ``series=``, ...).

    Returns
    -------
    Header or None
        ``shape``, ``dtype``, ``spacing`` and ``units`` per array axis (in the array's
        order), ``origin``, ``direction`` and ``space``, and the format's ``fields``.
        For an array: its file's header if it comes straight from a reader (or a
        rechunk of one), else ``None`` -- a slice, transpose or filter result may no
        longer have that spacing, so none is claimed.

    Raises
    ------
    NotImplementedError
        For TIFF, zarr and raw paths (``bigimg info`` shows what they record).

    Notes
    -----
    Pass the spacing on: ``regionprops_table(labels, spacing=h.spacing)``,
    ``distance_transform_edt(mask, sampling=h.spacing)``, and
    ``zoom(vol, [s / 1.0 for s in h.spacing])`` for 1 mm isotropic voxels.
    ``save_ome_zarr(vol, path, scale=h.spacing, units=h.unit)`` writes it.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from bigimg.io import header
    >>> h = header(get_testdata_file("MR_small.dcm"))
    >>> h.shape, h.spacing, h.units[1], h.fields["Modality"]
    ((1, 64, 64), (0.8, 0.3125, 0.3125), 'millimeter', 'MR')
    """
    if isinstance(path, da.Array):
        if kwargs:
            raise TypeError(f"header(array) takes no options; got {sorted(kwargs)}.")
        return header_of(path)
    fmt = format_of(path)
    if fmt not in _HEADERS:
        raise NotImplementedError(
            f"header() reads NIfTI, DICOM, HDF5, MRC and NRRD files; {path} is {fmt} "
            "(`bigimg info` shows the spacing TIFF and OME-Zarr record)."
        )
    return _HEADERS[fmt](path, **kwargs)
