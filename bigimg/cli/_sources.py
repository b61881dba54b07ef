"""Telling a volume's format from its path, and opening it lazily with the io readers."""

from __future__ import annotations

import glob
import os

import dask.array as da

from bigimg._atomic import refuse_partial
from bigimg.cli._common import UsageError, parse_dtype
from bigimg.io import format_of, open_dicom, open_hdf5, open_raw, open_tiff, open_zarr
from bigimg.io import open as open_any

__all__ = ["INPUT_FORMATS", "PHYSICAL_FORMATS", "RAW_SUFFIXES", "detect_format", "open_volume"]

#: Formats whose readers return a physical header (``bigimg.io.header``).
PHYSICAL_FORMATS = ("nifti", "dicom", "hdf5", "mrc", "nrrd")
#: Formats the readers take (OME-Zarr images are zarr groups: ``open_zarr`` reads level 0).
INPUT_FORMATS = ("raw", "tiff", "zarr", *PHYSICAL_FORMATS)
RAW_SUFFIXES = (".raw", ".bin", ".dat", ".img", ".vol")
TIFF_SUFFIXES = (".tif", ".tiff")
_ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


def _is_zarr_folder(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, m)) for m in _ZARR_MARKERS)


def detect_format(path: str, given: str | None = None) -> str:
    """``"raw"``, ``"tiff"`` or ``"zarr"``: ``given`` if set, else from the path.

    A folder holding zarr metadata is zarr, a folder of ``.tif`` files a TIFF stack, a
    glob pattern a TIFF stack; files go by their suffix.
    """
    refuse_partial(path, "input")
    if given is not None:
        if given not in INPUT_FORMATS:
            raise UsageError(f"format must be one of {', '.join(INPUT_FORMATS)}; got {given!r}.")
        return given
    if os.path.isdir(path):
        if _is_zarr_folder(path):
            return "zarr"
        if any(n.lower().endswith(TIFF_SUFFIXES) for n in os.listdir(path)):
            return "tiff"
        try:
            return format_of(path)  # a DICOM folder
        except ValueError:
            raise UsageError(
                f"folder {path} holds neither a zarr store (zarr.json, .zarray or .zgroup), "
                ".tif files nor DICOM files; check the path."
            ) from None
    if glob.has_magic(path):
        return "tiff" if not os.path.exists(path) and _glob_format(path) == "tiff" else "dicom"
    lower = path.lower().rstrip("/")
    if lower.endswith(TIFF_SUFFIXES):
        return "tiff"
    if lower.endswith(".zarr"):
        return "zarr"
    if lower.endswith(RAW_SUFFIXES) and not (lower.endswith(".img") and _paired(path)):
        return "raw"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        return format_of(path)  # NIfTI, DICOM, HDF5, MRC, NRRD by suffix or magic bytes
    except ValueError:
        raise UsageError(
            f"cannot tell the format of {path} from its name or first bytes; give it as one "
            f"of {', '.join(INPUT_FORMATS)} (--format on the command line, format = ... in a "
            "pipeline file)."
        ) from None


def _glob_format(pattern: str) -> str:
    files = glob.glob(pattern)
    if not files or all(f.lower().endswith(TIFF_SUFFIXES) for f in files):
        return "tiff"  # no match: open_tiff names the pattern in its error
    return format_of(pattern)


def _paired(path: str) -> bool:
    """An ``.img`` with an ``.hdr`` beside it is the data of a NIfTI/Analyze pair."""
    return os.path.exists(path[:-4] + ".hdr")


def open_volume(
    path: str,
    fmt: str,
    *,
    shape=None,
    dtype=None,
    offset: int = 0,
    order: str = "C",
    allow_trailing: bool = False,
    component: str | None = None,
    series: int = 0,
    level: int = 0,
    chunks=None,
) -> da.Array:
    """Open ``path`` lazily (reads metadata only) with the reader of ``fmt``.

    Options that do not apply to ``fmt`` raise :class:`UsageError` rather than being
    ignored. ``chunks=None`` means the reader's default.
    """
    if fmt == "raw":
        if shape is None or dtype is None:
            raise UsageError(
                f"raw file {path} has no header, so its shape and dtype must be given "
                "(--shape 512,512,512 --dtype uint16 on the command line; shape = [...] and "
                "dtype = ... in a pipeline file)."
            )
        return open_raw(
            path,
            tuple(shape),
            parse_dtype(dtype),
            offset=offset,
            order=order,
            allow_trailing=allow_trailing,
            chunks="auto" if chunks is None else chunks,
        )
    given = [
        n
        for n, v, d in (
            ("shape", shape, None),
            ("dtype", dtype, None),
            ("offset", offset, 0),
            ("order", order, "C"),
            ("allow_trailing", allow_trailing, False),
        )
        if v != d
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)} describe raw files only; {path} is {fmt}, whose header "
            "holds them. Leave them out."
        )
    if fmt in PHYSICAL_FORMATS:
        return _open_physical(path, fmt, component=component, series=series, level=level,
                              chunks=chunks)  # fmt: skip
    if fmt == "tiff":
        if component is not None:
            raise UsageError(f"component selects inside zarr stores; {path} is a TIFF.")
        return open_tiff(
            path, series=series, level=level, chunks="auto" if chunks is None else chunks
        )
    if series or level:
        raise UsageError(
            f"series and level select inside a TIFF file; {path} is zarr: use component "
            "(e.g. component = '1' for level 1 of an OME-Zarr image)."
        )
    return open_zarr(path, component=component, chunks=chunks)


def _open_physical(path, fmt, *, component, series, level, chunks) -> da.Array:
    """NIfTI, DICOM, HDF5, MRC, NRRD: ``component`` names an HDF5 dataset, ``series``
    picks a DICOM series (1, 2, ... as the error listing them numbers them)."""
    if component is not None and fmt != "hdf5":
        raise UsageError(f"component selects inside zarr and HDF5 files; {path} is {fmt}.")
    if series and fmt != "dicom":
        raise UsageError(f"series picks a TIFF series or DICOM series; {path} is {fmt}.")
    if level:
        raise UsageError(f"level selects a TIFF pyramid level; {path} is {fmt}.")
    options = {} if chunks is None else {"chunks": chunks}
    if fmt == "hdf5":
        return open_hdf5(path, component, **options)
    if fmt == "dicom":
        return open_dicom(path, series=series or None, **options)
    return open_any(path, **options)
