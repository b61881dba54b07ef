"""DICOM series, step 1: which files, which series, one record per slice or frame.

Headers only (pixel data deferred: never read): the files a folder, glob, list or DICOMDIR names;
their series (grouped by SeriesInstanceUID, listed for the user to pick when there are
several); and for the chosen series one :class:`Slice` per 2-D image, with its position,
orientation, pixel spacing and rescale, for single-frame files and for the frames of a
multi-frame (enhanced, RT dose) object alike.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

from bigimg._atomic import refuse_partial
from bigimg.io._formats._header import need
from bigimg.io._reader import check_path

__all__ = ["Slice", "choose_series", "collect_files", "read_headers", "slices_of"]


@dataclasses.dataclass(frozen=True)
class Slice:
    """One 2-D image of a series: where it is stored and where it lies."""

    path: str
    frame: int | None
    rows: int
    columns: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slope: float
    intercept: float
    instance: int | None


def _natural(path: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


def _dicomdir_files(path: str, pydicom) -> list[str]:
    ds = pydicom.dcmread(path)
    root = os.path.dirname(os.path.abspath(path))
    files = []
    for record in ds.get("DirectoryRecordSequence", []):
        parts = record.get("ReferencedFileID")
        if record.get("DirectoryRecordType") != "IMAGE" or not parts:
            continue
        parts = [parts] if isinstance(parts, str) else list(parts)
        files.append(os.path.join(root, *parts))
    if not files:
        raise ValueError(f"DICOMDIR {path} references no image files.")
    return files


def collect_files(source) -> tuple[list[str], bool]:
    """The candidate files and whether each must be DICOM (a list) or may be skipped."""
    pydicom = need("pydicom", "dicom", "DICOM files")
    if isinstance(source, list | tuple):
        if not source:
            raise ValueError("`path` must name at least one DICOM file; got an empty list.")
        files = [check_path(p, "path") for p in source]
        strict = True
    else:
        path = check_path(source, "path")
        refuse_partial(path, "DICOM input")
        if os.path.isdir(path):
            if os.path.isfile(os.path.join(path, "DICOMDIR")):
                return _dicomdir_files(os.path.join(path, "DICOMDIR"), pydicom), True
            files = sorted(
                (
                    os.path.join(d, n)
                    for d, _, names in os.walk(path)
                    for n in names
                    if not n.startswith(".") and n != "DICOMDIR"
                ),
                key=_natural,
            )
            if not files:
                raise FileNotFoundError(f"DICOM folder {path} holds no files.")
            return files, False
        if os.path.basename(path).upper() == "DICOMDIR" and os.path.isfile(path):
            return _dicomdir_files(path, pydicom), True
        if glob.has_magic(path):
            files = sorted((p for p in glob.glob(path) if os.path.isfile(p)), key=_natural)
            if not files:
                raise FileNotFoundError(f"no files match the pattern {path}.")
            return files, False
        files, strict = [path], True
    for p in files:
        refuse_partial(p, "DICOM file")
        if not os.path.isfile(p):
            raise FileNotFoundError(f"DICOM file {p} does not exist.")
    return files, strict


def read_headers(files: list[str], strict: bool) -> list:
    """Each image file's header (pixels not read); non-images skipped unless ``strict``."""
    pydicom = need("pydicom", "dicom", "DICOM files")
    out = []
    for path in files:
        refuse_partial(path, "DICOM file")
        try:
            ds = pydicom.dcmread(path, defer_size=256)  # pixel data left on disk
        except (pydicom.errors.InvalidDicomError, OSError, ValueError) as exc:
            if strict:
                raise ValueError(f"{path} is not a readable DICOM file ({exc}).") from None
            continue
        if "Rows" not in ds or "Columns" not in ds:
            if strict:
                raise ValueError(f"DICOM file {path} holds no image (no Rows/Columns).")
            continue
        ds.filename = os.path.abspath(path)
        _check_length(ds, path)
        out.append(ds)
    if not out:
        raise FileNotFoundError(
            f"none of the {len(files)} files ({files[0]}, ...) is a DICOM image."
        )
    return out


def _check_length(ds, path: str) -> None:
    """Refuse a file whose pixel data element runs past its end (a truncated copy)."""
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        if tag in ds:
            raw = ds.get_item(tag, keep_deferred=True)
            length, at = getattr(raw, "length", None), getattr(raw, "value_tell", None)
            size = os.path.getsize(path)
            if length is not None and at is not None and length != 0xFFFFFFFF:
                if at + length > size:
                    raise ValueError(
                        f"DICOM file {path} is truncated: its pixel data needs {length:,} bytes "
                        f"from byte {at:,} but the file ends at byte {size:,}."
                    )
            return


def _describe(uid: str, headers: list) -> str:
    first = headers[0]
    frames = sum(int(h.get("NumberOfFrames", 1) or 1) for h in headers)
    text = (
        f"{first.get('Modality', '?')} series {first.get('SeriesNumber', '?')} "
        f"{str(first.get('SeriesDescription', '')).strip()!r}: {len(headers)} files, "
        f"{frames} images of {first.Rows} x {first.Columns}, folder "
        f"{os.path.dirname(first.filename)}, SeriesInstanceUID {uid}"
    )
    return text


def choose_series(headers: list, series, where: str) -> tuple[str, list]:
    """The one series to read: the only one, or the one ``series`` names."""
    groups: dict[str, list] = {}
    for ds in headers:
        groups.setdefault(str(ds.get("SeriesInstanceUID", "(no SeriesInstanceUID)")), []).append(ds)
    order = sorted(groups, key=lambda u: (int(groups[u][0].get("SeriesNumber", 0) or 0), u))
    listing = "".join(f"\n  {i}: {_describe(u, groups[u])}" for i, u in enumerate(order, 1))
    if series is None:
        if len(order) > 1:
            raise ValueError(
                f"{where} holds {len(order)} DICOM series; pass series=N (1..{len(order)}, "
                f"--series N on the command line) or a SeriesInstanceUID to pick one:{listing}"
            )
        return order[0], groups[order[0]]
    if isinstance(series, str):
        if series not in groups:
            raise ValueError(f"`series` {series!r} is not among the series in {where}:{listing}")
        return series, groups[series]
    if isinstance(series, bool) or not isinstance(series, int):
        raise TypeError(
            f"`series` must be an int (1, 2, ...) or a SeriesInstanceUID; got {series!r}."
        )
    if not 1 <= series <= len(order):
        raise ValueError(
            f"`series` must be in 1..{len(order)} for {where}, which holds {len(order)} "
            f"series; got {series}:{listing}"
        )
    return order[series - 1], groups[order[series - 1]]


def _floats(value, n: int):
    if value is None:
        return None
    values = [float(v) for v in (value if isinstance(value, list | tuple) else list(value))]
    return tuple(values) if len(values) == n else None


def _item(ds, sequence: str, inner: str, frame_item=None):
    """``inner`` of the first item of ``sequence`` (per-frame first, then shared)."""
    for holder in (frame_item, _shared(ds)):
        if holder is not None and sequence in holder and len(holder.get(sequence)):
            item = holder.get(sequence)[0]
            if inner in item:
                return item.get(inner)
    return None


def _shared(ds):
    seq = ds.get("SharedFunctionalGroupsSequence")
    return seq[0] if seq else None


def _rescale(ds, frame_item=None) -> tuple[float, float]:
    slope = _item(ds, "PixelValueTransformationSequence", "RescaleSlope", frame_item)
    inter = _item(ds, "PixelValueTransformationSequence", "RescaleIntercept", frame_item)
    if slope is None:
        slope, inter = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return float(1.0 if slope is None else slope), float(0.0 if inter is None else inter)


def slices_of(headers: list) -> list[Slice]:
    """One :class:`Slice` per image of the series, in the files' order."""
    multi = [ds for ds in headers if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi and len(headers) > 1:
        raise NotImplementedError(
            f"the series mixes {len(multi)} multi-frame file(s) ({multi[0].filename}, ...) with "
            f"{len(headers) - len(multi)} other file(s); open a multi-frame file on its own."
        )
    if multi:
        return _frames(multi[0])
    out = []
    for ds in headers:
        out.append(
            Slice(
                path=ds.filename,
                frame=None,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                position=_floats(ds.get("ImagePositionPatient"), 3),
                orientation=_floats(ds.get("ImageOrientationPatient"), 6),
                pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
                slope=_rescale(ds)[0],
                intercept=_rescale(ds)[1],
                instance=None if ds.get("InstanceNumber") is None else int(ds.InstanceNumber),
            )
        )
    return out


def _frames(ds) -> list[Slice]:
    """The frames of one multi-frame object (enhanced per-frame groups or a dose grid)."""
    n = int(ds.NumberOfFrames)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    offsets = ds.get("GridFrameOffsetVector")
    base_pos = _floats(ds.get("ImagePositionPatient"), 3)
    base_ori = _floats(ds.get("ImageOrientationPatient"), 6)
    out = []
    for k in range(n):
        item = per_frame[k] if per_frame is not None and k < len(per_frame) else None
        position = _floats(_item(ds, "PlanePositionSequence", "ImagePositionPatient", item), 3)
        orientation = _floats(
            _item(ds, "PlaneOrientationSequence", "ImageOrientationPatient", item), 6
        )
        spacing = _floats(_item(ds, "PixelMeasuresSequence", "PixelSpacing", item), 2)
        orientation = orientation or base_ori
        if position is None and base_pos is not None and offsets is not None and orientation:
            normal = _normal(orientation)
            step = float(offsets[k]) - float(offsets[0])
            position = tuple(p + step * c for p, c in zip(base_pos, normal, strict=True))
        slope, inter = _rescale(ds, item)
        out.append(
            Slice(
                path=ds.filename,
                frame=k,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                position=position,
                orientation=orientation,
                pixel_spacing=spacing or _floats(ds.get("PixelSpacing"), 2),
                slope=slope,
                intercept=inter,
                instance=k + 1,
            )
        )
    return out


def _normal(orientation) -> tuple[float, float, float]:
    r, c = orientation[:3], orientation[3:]
    return (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
