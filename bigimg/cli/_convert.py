"""``bigimg convert`` (any volume -> zarr, OME-Zarr, TIFF or raw) and ``bigimg view`` (PNG)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from bigimg._atomic import PARTIAL_TAG, commit, discard_on_error, progress_bar
from bigimg.cli._common import UsageError, shape_text
from bigimg.cli._info import array_spacing, spacing_of
from bigimg.cli._outputs import output_format, write_volume
from bigimg.cli._sources import PHYSICAL_FORMATS, detect_format, open_volume

__all__ = ["check_new_output", "convert", "view"]


def check_new_output(path: str, overwrite: bool) -> str:
    """Refuse an existing output unless ``--overwrite``; the folder must exist."""
    path = os.path.abspath(path)
    if os.path.lexists(path) and not overwrite:
        raise UsageError(
            f"{path} already exists; pass --overwrite to replace it (only once "
            "the new output is complete) or choose another path."
        )
    if not os.path.isdir(os.path.dirname(path)):
        raise UsageError(
            f"the folder {os.path.dirname(path)} of {path} does not exist; create it first."
        )
    return path


def convert(
    src: str,
    dst: str,
    *,
    in_format: str | None = None,
    out_format: str | None = None,
    open_options: dict,
    chunks=None,
    zarr_format: int = 3,
    compression: str | None = None,
    ome: dict | None = None,
    overwrite: bool = False,
    progress=None,
    log: Callable[[str], None] = print,
) -> str:
    """Copy a volume into another format, streaming block by block; return the output path.

    For zarr outputs ``chunks`` sets the stored chunk shape (rechunking on the way); a
    raw input is then read in blocks of exactly that shape. For OME-Zarr outputs the
    voxel spacing recorded in the input (OME or TIFF metadata; the NIfTI, DICOM, HDF5,
    MRC or NRRD header) becomes the scale, and its unit the units, unless
    ``ome["scale"]`` is given. A file that records no unit (a raw file, a TIFF without
    resolution tags) gets none unless ``ome["units"]`` is given; "micrometer" is never
    assumed.
    """
    fmt = detect_format(src, in_format)
    out_fmt = output_format(dst, out_format)
    check_new_output(dst, overwrite)
    if os.path.abspath(src) == os.path.abspath(dst):
        raise UsageError(f"input and output are the same path {src}; write to another path.")
    read_chunks = chunks if fmt == "raw" and out_fmt in ("zarr", "ome-zarr") else None
    arr = open_volume(src, fmt, chunks=read_chunks, **open_options)
    ome = dict(ome or {})
    if out_fmt == "ome-zarr" and not ("scale" in ome and "units" in ome):
        if fmt in PHYSICAL_FORMATS:
            spacing, unit = array_spacing(arr)
        else:
            spacing, unit = spacing_of(
                src, fmt, open_options.get("component"), open_options.get("series", 0)
            )
        if "scale" not in ome and spacing is not None and len(spacing) == arr.ndim:
            ome["scale"] = spacing
            log(f"scale {' x '.join(f'{s:g}' for s in spacing)} {unit or ''} from {src}")
        if "units" not in ome:
            # the file's unit labels a scale (its own or --scale); none is ever invented:
            # a file without a unit, or without a complete spacing, gets no unit
            ome["units"] = unit if "scale" in ome else None
    log(f"{src} ({fmt}, {shape_text(arr.shape)} {arr.dtype}) -> {dst} ({out_fmt})")
    return write_volume(
        arr,
        dst,
        out_fmt,
        chunks=chunks,
        zarr_format=zarr_format,
        compression=compression,
        ome=ome or None,
        overwrite=overwrite,
        progress=progress,
    )


def view(
    src: str,
    out: str,
    *,
    in_format: str | None = None,
    open_options: dict,
    labels: str | None = None,
    point=None,
    projection: str = "max",
    percentiles=(1.0, 99.0),
    spacing=None,
    dpi: float = 100.0,
    title: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> str:
    """Draw orthogonal slices over projections of ``src`` into the PNG ``out``.

    The PNG is written under a partial name and renamed when complete. The spacing
    recorded in the file sets the panels' aspect ratios unless ``spacing`` is given.
    """
    from bigimg.display import summary

    if not out.lower().endswith(".png"):
        raise UsageError(f"--out must end in .png; got {out!r}.")
    out = check_new_output(out, overwrite)
    fmt = detect_format(src, in_format)
    vol = open_volume(src, fmt, **open_options)
    lab = None
    if labels is not None:
        lab = open_volume(labels, detect_format(labels))
        if lab.shape != vol.shape:
            raise UsageError(
                f"--labels {labels} has shape {shape_text(lab.shape)} but {src} has "
                f"{shape_text(vol.shape)}; they must match."
            )
    if spacing is None:
        spacing, _ = spacing_of(
            src, fmt, open_options.get("component"), open_options.get("series", 0)
        )
    with progress_bar(progress, "view"):
        fig = summary(
            vol,
            point,
            kind=projection,
            labels=lab,
            percentiles=percentiles,
            spacing=spacing,
            title=title or os.path.basename(src.rstrip("/")),
        )
    partial = f"{out}{PARTIAL_TAG}{uuid.uuid4().hex[:10]}"
    with discard_on_error(partial):
        fig.savefig(partial, format="png", dpi=dpi)
        return commit(partial, out, overwrite)
