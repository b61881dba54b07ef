"""NIfTI-1/2 volumes (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pairs), read lazily.

nibabel parses the header (it reads only the header when loading); the voxels are read
by bigimg's own positional reads of the data block, which nibabel describes: a
Fortran-ordered array of ``(i, j, k[, t])`` ``vox_offset`` bytes in. Read in C order
that is the array ``(t, k, j, i)``: the file's axes reversed, so the last (column) axis
is the file's fastest, a 4-D series has its volumes along the leading axis, and
nothing is reoriented (the affine records where each axis points).
``scl_slope``/``scl_inter`` are applied with nibabel's own rule (the output dtype is
the one nibabel's array proxy gives). ``.nii.gz`` is read through an index into the
gzip stream (:mod:`bigimg.io._formats._gzip`).
"""

from __future__ import annotations

import os

import dask.array as da
import numpy as np

from bigimg._atomic import refuse_partial
from bigimg._rawfile import read_runs
from bigimg.io._formats._gzip import gzip_size_check, read_gzip_region, require_indexed_gzip
from bigimg.io._formats._header import Header, attach_header, need
from bigimg.io._reader import BlockReader, check_path, normalize_chunks, reader_to_dask

__all__ = ["NiftiReader", "nifti_header", "open_nifti"]

_UNITS = {"mm": "millimeter", "micron": "micrometer", "meter": "meter", "sec": "second",
          "msec": "millisecond", "usec": "microsecond"}  # fmt: skip


class NiftiReader(BlockReader):
    """Picklable array-like view of a NIfTI data block; indexing reads only those voxels."""

    def __init__(self, path, *, gz, stamp, shape, raw_dtype, offset, slope, inter, dtype):
        self.path = path
        self.gz = gz
        self.stamp = tuple(stamp)
        self.shape = tuple(shape)
        self.raw_dtype = np.dtype(raw_dtype)
        self.offset = int(offset)
        self.slope = slope
        self.inter = inter
        self.dtype = np.dtype(dtype)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        whole = tuple(slice(s.start, s.stop) for s in region)
        if self.gz:
            raw = read_gzip_region(
                self.path, 0, self.stamp, self.offset, self.shape, whole, self.raw_dtype
            )
        else:
            raw = read_runs(self.path, self.offset, self.shape, whole, self.raw_dtype)
        raw = raw[tuple(slice(None, None, s.step) for s in region)]
        if self.slope is None:
            return raw
        volumeutils = need("nibabel.volumeutils", "nifti", f"NIfTI file {self.path}")
        scaled = volumeutils.apply_read_scaling(raw, self.slope, self.inter)
        return np.ascontiguousarray(scaled, dtype=self.dtype)


def _load(path: str):
    nib = need("nibabel", "nifti", f"NIfTI file {path}")
    refuse_partial(path, "NIfTI file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"NIfTI file {path} does not exist.")
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises many kinds for a damaged header
        raise ValueError(f"{path} is not a readable NIfTI file ({exc}).") from None
    proxy = getattr(img, "dataobj", None)
    if not hasattr(proxy, "offset") or getattr(proxy, "order", "F") != "F":
        raise ValueError(
            f"{path} is a {type(img).__name__}, not a NIfTI-1/2 or Analyze volume bigimg reads."
        )
    return img, proxy


def _scaling(proxy, raw_dtype: np.dtype):
    """nibabel's (slope, inter) as it applies them, and the output dtype; None if 1, 0."""
    slope = np.asanyarray(proxy.slope)
    inter = np.asanyarray(proxy.inter)
    if np.can_cast(inter, slope.dtype):
        inter = inter.astype(slope.dtype)
    if (float(slope), float(inter)) == (1.0, 0.0):
        return None, None, raw_dtype
    from nibabel.volumeutils import apply_read_scaling

    out = apply_read_scaling(np.zeros(1, raw_dtype), slope, inter).dtype
    return slope, inter, out


def _inspect(path: str):
    img, proxy = _load(path)
    hdr = img.header
    data_path = os.path.abspath(img.file_map["image"].filename)
    if not os.path.exists(data_path):
        raise FileNotFoundError(f"NIfTI image file {data_path} (the data of {path}) is missing.")
    file_shape = tuple(int(n) for n in proxy.shape)
    raw_dtype = np.dtype(hdr.get_data_dtype())
    shape = file_shape[::-1]
    needed = int(proxy.offset) + int(np.prod(shape, dtype=np.int64)) * raw_dtype.itemsize
    gz = data_path.endswith(".gz")
    if gz:
        require_indexed_gzip(data_path, "nifti")
        gzip_size_check(data_path, 0, needed, "NIfTI file")
    elif os.path.getsize(data_path) < needed:
        raise ValueError(
            f"NIfTI file {data_path} holds {os.path.getsize(data_path):,} bytes but its header "
            f"(shape {file_shape}, {raw_dtype}, data at byte {int(proxy.offset):,}) needs "
            f"{needed:,}: the file is truncated."
        )
    slope, inter, dtype = _scaling(proxy, raw_dtype)
    zooms = [abs(float(z)) for z in hdr.get_zooms()][: len(file_shape)]
    zooms += [None] * (len(file_shape) - len(zooms))
    units_xyzt = hdr.get_xyzt_units() if hasattr(hdr, "get_xyzt_units") else ("unknown",) * 2
    units = [_UNITS.get(units_xyzt[0]) if a < 3 else _UNITS.get(units_xyzt[1]) for a in range(3)]
    units += [_UNITS.get(units_xyzt[1])] + [None] * max(0, len(file_shape) - 4)
    affine = np.asarray(img.affine, dtype=float)
    direction = []
    for axis in range(len(file_shape)):
        if axis < 3:
            v = affine[:3, axis]
            norm = float(np.linalg.norm(v))
            direction.append(tuple(float(c) / norm for c in v) if norm else None)
        else:
            direction.append(None)
    fields = {"class": type(img).__name__, "vox_offset": int(proxy.offset),
              "file_dtype": raw_dtype.str, "affine": affine.tolist(), "data_file": data_path}  # fmt: skip
    if slope is not None:
        fields.update(scl_slope=float(slope), scl_inter=float(inter))
    for key in ("qform_code", "sform_code", "intent_code", "descrip", "dim_info"):
        if key in hdr:
            fields[key] = np.asarray(hdr[key]).item()
    header = Header(
        format="nifti",
        path=os.path.abspath(path),
        shape=shape,
        dtype=np.dtype(dtype),
        spacing=tuple(zooms[::-1]),
        units=tuple(units[: len(file_shape)][::-1]),
        origin=tuple(float(c) for c in affine[:3, 3]),
        direction=tuple(direction[::-1]),
        space="RAS",
        fields=fields,
    )
    st = os.stat(data_path)
    reader = NiftiReader(
        data_path,
        gz=gz,
        stamp=(st.st_size, st.st_mtime_ns),
        shape=shape,
        raw_dtype=raw_dtype,
        offset=proxy.offset,
        slope=slope,
        inter=inter,
        dtype=dtype,
    )
    return header, reader


def nifti_header(path) -> Header:
    """The physical header of a NIfTI file (see :func:`bigimg.io.header`)."""
    return _inspect(check_path(path))[0]


def open_nifti(path, *, chunks="auto") -> da.Array:
    """Open a NIfTI-1/2 volume (``.nii``, ``.nii.gz``, ``.hdr``/``.img``) lazily.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nii``/``.nii.gz`` file, or the ``.hdr`` of a pair.
    chunks : "auto", int or tuple, optional
        Block shape. ``"auto"`` gives blocks of about 32 MiB; for ``.nii.gz`` whole
        planes, so each task decompresses one contiguous span.

    Returns
    -------
    dask.array.Array
        The file's axes reversed: ``(k, j, i)`` for a volume, ``(t, k, j, i)`` for a 4-D
        series, so the last axis is the file's fastest. ``scl_slope``/``scl_inter``
        are applied as nibabel applies them. The spacing, affine and units are in
        ``bigimg.io.header(array)``, in the same axis order.

    Raises
    ------
    ImportError
        If nibabel (or, for ``.nii.gz``, indexed_gzip) is not installed.
    FileNotFoundError
        If the file (or the ``.img`` of a pair) does not exist.
    ValueError
        If the file is truncated (names the file, its size and what the header needs).

    Notes
    -----
    Each task reads its block's bytes with positional reads (``.nii``) or from an
    index into the gzip stream kept once per worker process (``.nii.gz``). The graph
    holds the path and layout only.

    Examples
    --------
    >>> import os, tempfile, numpy as np, nibabel
    >>> from bigimg.io import header, open_nifti
    >>> data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (i, j, k)
    >>> path = os.path.join(tempfile.mkdtemp(), "vol.nii")
    >>> nibabel.save(nibabel.Nifti1Image(data, np.diag([0.5, 0.6, 2.0, 1.0])), path)
    >>> vol = open_nifti(path)
    >>> vol.shape, header(vol).spacing
    ((6, 5, 4), (2.0, 0.6000000238418579, 0.5))
    >>> bool((vol.compute() == data.T).all())
    True
    """
    header, reader = _inspect(check_path(path))
    if isinstance(chunks, str) and chunks == "auto" and reader.gz:
        planes = (1,) * (len(header.shape) - 2) + header.shape[-2:]
        chunks = normalize_chunks(chunks, header.shape, header.dtype, previous=planes)
    else:
        chunks = normalize_chunks(chunks, header.shape, header.dtype)
    return attach_header(reader_to_dask(reader, chunks, "open_nifti"), header)
