"""DICOM series, step 2: sort and check the slices, then read each one in its own task.

Slices are sorted by their position along the slice normal (ImagePositionPatient ·
(row direction × column direction)), never by file name; a series whose slices differ
in shape or orientation, repeat a position, or leave a gap is refused with the files
and the numbers before anything is read. Each task decodes only the slices (or frames)
its block covers with pydicom (compressed transfer syntaxes where a pydicom plugin is
installed) and applies the rescale slope/intercept.
"""

from __future__ import annotations

import math
import os

import dask.array as da
import numpy as np

from bigimg.io._formats._dicom_files import (
    Slice,
    choose_series,
    collect_files,
    read_headers,
    slices_of,
)
from bigimg.io._formats._header import Header, attach_header, need
from bigimg.io._reader import BlockReader, normalize_chunks, reader_to_dask

__all__ = ["DicomReader", "dicom_header", "open_dicom"]

#: Relative deviation of one slice step from the series' median step that counts as a gap.
GAP_TOLERANCE = 0.05


class DicomReader(BlockReader):
    """Picklable array-like view of a sorted series: one (file, frame) per plane."""

    def __init__(self, files, frames, *, shape, stored, slopes, intercepts, dtype):
        self.files = tuple(files)
        self.frames = None if frames is None else tuple(frames)
        self.shape = tuple(shape)
        self.stored = np.dtype(stored)
        self.slopes = slopes  # one float for every plane, a tuple per plane, or None
        self.intercepts = intercepts
        self.dtype = np.dtype(dtype)

    def _plane(self, k: int) -> np.ndarray:
        pixels = need("pydicom.pixels", "dicom", f"DICOM file {self.files[0]}")
        path = self.files[k if len(self.files) > 1 else 0]
        frame = None if self.frames is None else self.frames[k]
        image = pixels.pixel_array(path, index=frame)
        if image.shape[-2:] != self.shape[1:] or image.size != math.prod(self.shape[1:]):
            raise OSError(
                f"DICOM file {path} decodes to shape {image.shape}, not {self.shape[1:]} as "
                "when the series was opened; it changed: open it again."
            )
        return image.reshape(self.shape[1:])

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        planes = range(region[0].start, region[0].stop, region[0].step)
        out = np.empty((len(planes), *(len(range(s.start, s.stop, s.step)) for s in region[1:])),
                       self.dtype)  # fmt: skip
        for i, k in enumerate(planes):
            plane = self._plane(k)[region[1:]]
            if self.slopes is None:
                out[i] = plane
                continue
            slope = self.slopes if isinstance(self.slopes, float) else self.slopes[k]
            inter = self.intercepts if isinstance(self.intercepts, float) else self.intercepts[k]
            values = plane.astype(np.float64) * slope + inter
            if self.dtype.kind == "i" and values.size:
                info = np.iinfo(self.dtype)
                if values.min() < info.min or values.max() > info.max:
                    raise ValueError(
                        f"DICOM file {self.files[k if len(self.files) > 1 else 0]} holds values "
                        f"outside its BitsStored range ({values.min():g}..{values.max():g} after "
                        f"rescale, {self.dtype} expected); open it with rescale=False."
                    )
            out[i] = values
        return out


def _stored_dtype(ds) -> np.dtype:
    bits = int(ds.get("BitsAllocated", 16))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    # Float Pixel Data has no BitsStored/PixelRepresentation (and the pixel element
    # itself is not read when only headers are)
    floats = "BitsStored" not in ds and "PixelRepresentation" not in ds and bits in (32, 64)
    if floats or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return np.dtype("f4" if bits == 32 else "f8")
    if bits == 1:
        return np.dtype("u1")
    if bits not in (8, 16, 32, 64):
        raise NotImplementedError(f"DICOM file {ds.filename} has BitsAllocated {bits}.")
    return np.dtype(f"{'i' if signed else 'u'}{bits // 8}")


def _rescaled_dtype(stored: np.dtype, bits: int, slopes, intercepts) -> np.dtype:
    """The narrowest dtype that holds every rescaled value exactly (integers where exact).

    The stored values span ``bits`` (BitsStored) bits, so 12-bit CT with intercept
    -1024 stays int16.
    """
    exact = stored.kind in "iu" and all(float(v).is_integer() for v in (*slopes, *intercepts))
    if exact:
        bits = min(bits, stored.itemsize * 8)
        low, high = (
            (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if stored.kind == "i" else (0, 2**bits - 1)
        )
        ends = [e * s + b for s, b in zip(slopes, intercepts) for e in (low, high)]
        for name in ("i2", "i4", "i8"):
            if np.iinfo(name).min <= min(ends) and max(ends) <= np.iinfo(name).max:
                return np.dtype(name)
    return np.dtype("f4" if stored.itemsize <= 2 else "f8")


def _where(s: Slice) -> str:
    return os.path.basename(s.path) + ("" if s.frame is None else f" frame {s.frame + 1}")


def _check_shapes(slices: list[Slice], where: str) -> None:
    first = slices[0]
    for s in slices[1:]:
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise ValueError(
                f"DICOM series in {where}: slice {s.path} is {s.rows} x {s.columns} but "
                f"{first.path} is {first.rows} x {first.columns}; the slices of a series "
                "must share one shape (remove that file or pick another series)."
            )
        if (s.orientation is None) != (first.orientation is None) or (
            s.orientation is not None
            and not np.allclose(s.orientation, first.orientation, atol=1e-4)
        ):
            raise ValueError(
                f"DICOM series in {where}: slice {s.path} has orientation {s.orientation} but "
                f"{first.path} has {first.orientation}; a volume needs parallel slices "
                "(a localizer or multi-plane series cannot be stacked)."
            )


def _sorted(slices: list[Slice], where: str, allow_gaps: bool):
    """Slices along the normal, the step between them (or None) and the normal."""
    first = slices[0]
    if first.orientation is None or any(s.position is None for s in slices):
        known = all(s.instance is not None for s in slices)
        ordered = sorted(slices, key=lambda s: s.instance) if known else list(slices)
        return ordered, None, None
    r, c = np.asarray(first.orientation[:3]), np.asarray(first.orientation[3:])
    normal = np.cross(r, c)
    depth = {id(s): float(np.dot(s.position, normal)) for s in slices}
    ordered = sorted(slices, key=lambda s: depth[id(s)])
    if len(ordered) == 1:
        return ordered, None, tuple(float(v) for v in normal)
    z = np.array([depth[id(s)] for s in ordered])
    steps = np.diff(z)
    for k, d in enumerate(steps):
        if abs(d) < 1e-6:
            raise ValueError(
                f"DICOM series in {where}: {_where(ordered[k])} and {_where(ordered[k + 1])} lie "
                f"at the same position {z[k]:.4g} mm along the slice normal (repeated slices, "
                "or several echoes/time points in one series); remove the duplicates."
            )
    step = float(np.median(steps))
    bad = np.flatnonzero(np.abs(steps - step) > GAP_TOLERANCE * step)
    if bad.size and not allow_gaps:
        shown = "; ".join(
            f"{steps[k]:.4g} mm between slice {k} ({_where(ordered[k])}, at {z[k]:.4g} mm) "
            f"and slice {k + 1} ({_where(ordered[k + 1])}, at {z[k + 1]:.4g} mm)"
            + (f", about {round(steps[k] / step) - 1} slice(s) missing" if steps[k] > step else "")
            for k in bad[:3]
        )
        raise ValueError(
            f"DICOM series in {where} ({len(ordered)} slices) is unevenly spaced: the step is "
            f"{step:.4g} mm but {len(bad)} gap(s) differ: {shown}. Find the missing files, or "
            "pass allow_gaps=True to stack the slices as they are (spacing then the median step)."
        )
    return ordered, step, tuple(float(v) for v in normal)


def _inspect(path, series, allow_gaps: bool, rescale: bool):
    files, strict = collect_files(path)
    where = str(path) if not isinstance(path, list | tuple) else f"the {len(files)} files given"
    headers = read_headers(files, strict)
    uid, chosen = choose_series(headers, series, where)
    slices = slices_of(chosen)
    _check_shapes(slices, where)
    ordered, step, normal = _sorted(slices, where, allow_gaps)
    first_ds = chosen[0]
    if int(first_ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise NotImplementedError(
            f"DICOM series in {where} is colour ({first_ds.SamplesPerPixel} samples per pixel, "
            f"{first_ds.get('PhotometricInterpretation')}); bigimg reads grey-level series."
        )
    meta = getattr(first_ds, "file_meta", None)
    syntax = None if meta is None else meta.get("TransferSyntaxUID")
    if syntax is not None and syntax.is_compressed:
        decoder = need("pydicom.pixels", "dicom", "DICOM").get_decoder(syntax)
        if not decoder.is_available:
            raise ImportError(
                f"DICOM series in {where} is compressed as {syntax.name}, which no installed "
                f"pydicom plugin decodes; install one of: {'; '.join(decoder.missing_dependencies)}."
            )
    stored = _stored_dtype(first_ds)
    slopes = [s.slope for s in ordered]
    inters = [s.intercept for s in ordered]
    if not rescale or all((a, b) == (1.0, 0.0) for a, b in zip(slopes, inters)):
        dtype, slopes_arg, inters_arg = stored, None, None
    else:
        bits = int(first_ds.get("BitsStored", stored.itemsize * 8) or stored.itemsize * 8)
        dtype = _rescaled_dtype(stored, bits, slopes, inters)
        same = len(set(zip(slopes, inters))) == 1
        slopes_arg = slopes[0] if same else tuple(slopes)
        inters_arg = inters[0] if same else tuple(inters)
    first = ordered[0]
    shape = (len(ordered), first.rows, first.columns)
    pixel = first.pixel_spacing
    if step is None and len(ordered) == 1:
        thickness = first_ds.get("SpacingBetweenSlices") or first_ds.get("SliceThickness")
        step = float(thickness) if thickness else None
    spacing = (step, *(pixel if pixel else (None, None)))
    direction = None
    if first.orientation is not None:
        direction = (normal, tuple(first.orientation[3:]), tuple(first.orientation[:3]))
    fields = {
        "SeriesInstanceUID": uid,
        "StudyInstanceUID": str(first_ds.get("StudyInstanceUID", "")),
        "Modality": str(first_ds.get("Modality", "")),
        "SeriesDescription": str(first_ds.get("SeriesDescription", "")),
        "SeriesNumber": first_ds.get("SeriesNumber"),
        "TransferSyntax": None if syntax is None else syntax.name,
        "files": len({s.path for s in ordered}),
        "stored_dtype": stored.str,
        "RescaleSlope": slopes[0],
        "RescaleIntercept": inters[0],
        "SliceThickness": first_ds.get("SliceThickness"),
        "first_file": first.path,
        "positions": [list(s.position) for s in ordered] if first.position else None,
    }
    header = Header(
        format="dicom",
        path=os.path.abspath(files[0] if isinstance(path, list | tuple) else str(path)),
        shape=shape,
        dtype=np.dtype(dtype).newbyteorder("="),
        spacing=spacing,
        units=tuple("millimeter" if s is not None else None for s in spacing),
        origin=first.position,
        direction=direction,
        space="LPS",
        fields=fields,
    )
    multi = ordered[0].frame is not None
    reader = DicomReader(
        [ordered[0].path] if multi else [s.path for s in ordered],
        [s.frame for s in ordered] if multi else None,
        shape=shape,
        stored=stored,
        slopes=slopes_arg,
        intercepts=inters_arg,
        dtype=header.dtype,
    )
    return header, reader


def dicom_header(path, *, series=None, allow_gaps: bool = False, rescale: bool = True) -> Header:
    """The physical header of a DICOM series (see :func:`bigimg.io.header`)."""
    return _inspect(path, series, allow_gaps, rescale)[0]


def open_dicom(path, *, series=None, allow_gaps=False, rescale=True, chunks="auto") -> da.Array:
    """Open a DICOM series (folder, glob, list of files, DICOMDIR or one file) lazily.

    Parameters
    ----------
    path : str, os.PathLike or list of them
        A folder (searched recursively), a glob pattern, a list of files, a DICOMDIR,
        or one (multi-frame) file.
    series : int or str, optional
        Which series when there are several: its number in the listing the error
        shows (1, 2, ...) or its SeriesInstanceUID.
    allow_gaps : bool, optional
        Stack unevenly spaced slices anyway (the spacing is then the median step).
    rescale : bool, optional
        Apply RescaleSlope/RescaleIntercept (default); False gives the stored values.
    chunks : "auto", int or tuple, optional
        Block shape; ``"auto"``: one slice per block along the first axis.

    Returns
    -------
    dask.array.Array
        ``(slice, row, column)``, slices sorted by their position along the slice
        normal. Rescaled values come as the narrowest integer type that holds them
        when slope and intercept are whole numbers (e.g. CT in int16), else float32
        (float64 for 32-bit data). Spacing (slice step, row spacing, column spacing)
        in mm, origin and directions (LPS) are in ``bigimg.io.header(array)``.

    Raises
    ------
    ImportError
        If pydicom, or a plugin for a compressed transfer syntax, is missing.
    FileNotFoundError
        If nothing is found at ``path``.
    ValueError
        Several series and no ``series`` (lists them); slices of different shapes or
        orientations; repeated positions; gaps in the spacing (says where).

    Notes
    -----
    Opening reads every file's header (not its pixels). Each task decodes the slices
    or frames its block covers; the graph holds the file list and no pixel data.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from bigimg.io import header, open_dicom
    >>> ct = open_dicom(get_testdata_file("CT_small.dcm"))
    >>> ct.shape, ct.dtype, header(ct).spacing[1:]  # 16 bits stored, intercept -1024
    ((1, 128, 128), dtype('int32'), (0.661468, 0.661468))
    """
    if not isinstance(allow_gaps, bool) or not isinstance(rescale, bool):
        raise TypeError(
            f"`allow_gaps` and `rescale` must be True or False; got {allow_gaps!r}, {rescale!r}."
        )
    header, reader = _inspect(path, series, allow_gaps, rescale)
    if isinstance(chunks, str) and chunks == "auto":
        chunks = normalize_chunks((1, *header.shape[1:]), header.shape, header.dtype)
    else:
        chunks = normalize_chunks(chunks, header.shape, header.dtype)
    return attach_header(reader_to_dask(reader, chunks, "open_dicom"), header)
