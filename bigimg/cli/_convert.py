"""``bigimg convert`` (any volume -> zarr, OME-Zarr, TIFF or raw) and ``bigimg view`` (PNG).

An OME-Zarr output is OME-Zarr 0.5 (zarr v3) unless 0.4 (zarr v2) is asked for, by
``ome_version`` or by ``zarr_format=2``; a contradictory pair is refused. An OME-Zarr
input's label images (its ``labels/`` group) are carried into an OME-Zarr output.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from bigimg._atomic import PARTIAL_TAG, commit, discard_on_error, progress_bar
from bigimg.cli._common import UsageError, shape_text
from bigimg.cli._info import array_spacing, spacing_of
from bigimg.cli._outputs import output_format, write_volume
from bigimg.cli._sources import PHYSICAL_FORMATS, detect_format, open_volume
from bigimg.io import open_zarr

__all__ = ["OME_VERSIONS", "check_new_output", "convert", "view"]

#: OME-Zarr versions ``convert`` writes, each with its zarr format.
OME_VERSIONS = {"0.4": 2, "0.5": 3}


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
    zarr_format: int | None = None,
    ome_version: str | None = None,
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

    ``zarr_format`` (default 3) is the zarr format of a zarr output. An OME-Zarr output
    is written as OME-Zarr ``ome_version`` "0.5" (zarr v3, the default) or "0.4" (zarr
    v2); ``zarr_format`` alone picks the matching version, and a version with a zarr
    format that contradicts it is refused before anything is read.

    When the input is an OME-Zarr image (a zarr group, the store's root or
    ``open_options["component"]``) with label images in its ``labels/`` group, an
    OME-Zarr output carries every one of them, under the same names, downsampled by
    the mode like any bigimg label image (unless ``ome["labels"]`` is given).
    """
    fmt = detect_format(src, in_format)
    out_fmt = output_format(dst, out_format)
    zarr_format, version = _zarr_and_ome_version(dst, out_fmt, zarr_format, ome_version)
    check_new_output(dst, overwrite)
    if os.path.abspath(src) == os.path.abspath(dst):
        raise UsageError(f"input and output are the same path {src}; write to another path.")
    read_chunks = chunks if fmt == "raw" and out_fmt in ("zarr", "ome-zarr") else None
    arr = open_volume(src, fmt, chunks=read_chunks, **open_options)
    ome = dict(ome or {})
    labels = _ome_labels(src, open_options.get("component"), arr) if fmt == "zarr" else {}
    if labels and out_fmt == "ome-zarr" and "labels" not in ome:
        ome["labels"] = labels
        log(f"labels {', '.join(labels)} from {src}")
    elif labels and out_fmt != "ome-zarr":
        log(f"note: the labels {', '.join(labels)} of {src} are carried only into OME-Zarr")
    if version is not None:
        ome.setdefault("ome_version", version)
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
    shown = out_fmt if version is None else f"OME-Zarr {ome['ome_version']}"
    log(f"{src} ({fmt}, {shape_text(arr.shape)} {arr.dtype}) -> {dst} ({shown})")
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


def _zarr_and_ome_version(
    dst: str, out_fmt: str, zarr_format: int | None, ome_version: str | None
) -> tuple[int, str | None]:
    """The zarr format to pass to the writer and the OME-Zarr version (None: not OME)."""
    if zarr_format is not None and zarr_format not in (2, 3):
        raise UsageError(f"--zarr-format must be 2 or 3; got {zarr_format!r}.")
    if ome_version is not None and ome_version not in OME_VERSIONS:
        raise UsageError(f"--ome-version must be {' or '.join(OME_VERSIONS)}; got {ome_version!r}.")
    if out_fmt != "ome-zarr":
        if ome_version is not None:
            raise UsageError(
                f"--ome-version applies to OME-Zarr outputs only; {dst} is {out_fmt} "
                "(add --ome, or name the output .ome.zarr)."
            )
        if zarr_format is not None and out_fmt != "zarr":
            raise UsageError(f"--zarr-format applies to zarr outputs only; {dst} is {out_fmt}.")
        return (3 if zarr_format is None else zarr_format), None
    implied = {z: v for v, z in OME_VERSIONS.items()}.get(zarr_format)
    if ome_version is not None and implied is not None and ome_version != implied:
        raise UsageError(
            f"--ome-version {ome_version} contradicts --zarr-format {zarr_format}: OME-Zarr "
            f"{ome_version} is stored as zarr v{OME_VERSIONS[ome_version]} (0.4 is zarr v2, "
            "0.5 is zarr v3); give one of the two, or a matching pair."
        )
    # the OME-Zarr writer picks the zarr format from the version; 3 means "not given"
    return 3, ome_version or implied or "0.5"


def _ome_labels(src: str, component: str | None, image) -> dict:
    """The label images of the OME-Zarr image ``src`` (at ``component``), opened lazily.

    Empty unless the opened node is an image group with a ``labels/`` group; every
    label image it lists must be there, of the image's shape and an integer dtype.
    """
    import zarr

    where = (component or "").strip("/")
    try:
        root = zarr.open(src, mode="r")
        node = root[where] if where else root
    except (KeyError, OSError, ValueError, zarr.errors.NodeNotFoundError):
        return {}
    if not isinstance(node, zarr.Group) or "labels" not in node:
        return {}
    group = node["labels"]
    if not isinstance(group, zarr.Group):
        return {}
    attrs = group.attrs.asdict()
    names = attrs.get("labels", attrs.get("ome", {}).get("labels", []))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError(
            f"the labels group of {src} must list its label images by name; got {names!r}."
        )
    labels = {}
    for name in names:
        path = f"{where}/labels/{name}".strip("/")
        try:
            lab = open_zarr(src, component=path)
        except ValueError as exc:
            raise UsageError(
                f"{src} lists the label image {name!r} but {path} holds none ({exc})"
            ) from None
        if lab.shape != image.shape:
            raise UsageError(
                f"label image {path} of {src} has shape {shape_text(lab.shape)} but the image "
                f"has {shape_text(image.shape)}; only labels of the image's shape are carried."
            )
        if lab.dtype.kind not in "iu":
            raise UsageError(
                f"label image {path} of {src} has dtype {lab.dtype}; label images are integers."
            )
        labels[name] = lab
    return labels


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
