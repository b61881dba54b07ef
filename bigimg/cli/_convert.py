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
from bigimg.cli._info import array_spacing, ome_image, spacing_of
from bigimg.cli._outputs import output_format, write_volume
from bigimg.cli._sources import PHYSICAL_FORMATS, detect_format, open_volume
from bigimg.io import header, open_zarr

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

    Time and channel axes: an OME-Zarr input keeps its axes, its time unit and its
    translation; other inputs follow the writer's rule (4-D ``tzyx``, 5-D ``tczyx``)
    unless ``ome["axes"]`` is given. A 4-D NIfTI's time step and unit come from its
    header; ``ome["time_unit"]`` names the time unit of an input that records none.
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
    if out_fmt == "ome-zarr":
        _ome_physics(ome, arr, src, fmt, open_options, log)
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


def _ome_physics(ome: dict, arr, src: str, fmt: str, open_options: dict, log) -> None:
    """Fill ``ome``'s axes, scale, units and translation from the input where not given.

    Axes: an OME-Zarr input's own (``tczyx`` names), else the writer's rule from the
    rank. A NIfTI, DICOM, HDF5, MRC or NRRD array comes straight from its reader, so the
    writer takes its header's spacing, time step, units and origin itself. For other
    inputs the scale recorded (OME, TIFF) is the scale (a scale for the space axes only
    keeps an OME input's time step) and its unit the unit; an OME input's time unit and
    translation are carried. ``ome["time_unit"]`` (``--time-unit``) names the time
    axis's unit.
    """
    component = open_options.get("component")
    image = ome_image(src, component) if fmt == "zarr" else None
    if "axes" not in ome and image and image["axes"]:
        ome["axes"] = image["axes"]
    axes = ome.get("axes") or {2: "yx", 3: "zyx", 4: "tzyx", 5: "tczyx"}.get(arr.ndim, "")
    n_space = sum(a in "zyx" for a in axes) or arr.ndim
    lead = len(axes) - n_space if len(axes) == arr.ndim else 0
    time_unit = ome.pop("time_unit", None)
    if time_unit is not None and "t" not in axes[:lead]:
        raise UsageError(
            f"--time-unit names the unit of a time axis; {src} ({shape_text(arr.shape)}) is "
            f"written with axes {axes or '?'!r} (give --axes tzyx for a time series)."
        )
    if fmt in PHYSICAL_FORMATS:
        h = header(arr)
        spacing, unit = array_spacing(arr)
        if spacing is not None and not all(s > 0 for s in spacing[len(spacing) - n_space :]):
            spacing = None  # the writer takes no spacing that is not positive either
        if "scale" not in ome and spacing is not None:
            log(f"scale {_scale_text(spacing, axes, lead, unit, h.units)} from {src}")
        if time_unit is not None:  # the space axes keep what the writer would give them
            space = ome.get("units", "auto")
            if isinstance(space, str) and space == "auto":
                known = spacing is not None or "scale" in ome
                space = unit if known else None
            ome["units"] = _per_axis_units(axes, lead, space, time_unit)
        return
    if "scale" in ome and "units" in ome and not lead:
        return
    spacing, unit = spacing_of(src, fmt, component, open_options.get("series", 0))
    if spacing is not None and len(spacing) not in (arr.ndim, n_space):
        spacing = None
    if "scale" not in ome and spacing is not None:
        ome["scale"] = spacing
        recorded = image["units"] if image and image["units"] else None
        log(f"scale {_scale_text(spacing, axes, lead, unit, recorded)} from {src}")
    elif "scale" in ome and spacing is not None and len(spacing) == arr.ndim > n_space:
        if len(ome["scale"]) == n_space:  # --scale z,y,x: keep the input's time step
            ome["scale"] = (*spacing[:lead], *ome["scale"])
    # the file's unit labels a scale (its own or --scale); none is ever invented:
    # a file without a unit, or without a complete spacing, gets no unit
    space = ome["units"] if "units" in ome else (unit if "scale" in ome else None)
    if lead:
        t = axes.find("t")
        if time_unit is None and t >= 0 and image and image["units"]:
            time_unit = image["units"][t]
        space = _per_axis_units(axes, lead, space, time_unit)
    ome["units"] = space
    if "translation" in ome or not (image and image["translation"] and image["units"]):
        return
    written = space if isinstance(space, tuple) else (space,) * arr.ndim
    if all(w == u for a, w, u in zip(axes, written, image["units"]) if a in "zyx"):
        ome["translation"] = image["translation"]  # in the same units: carried


def _per_axis_units(axes: str, lead: int, space, time_unit) -> tuple:
    """One unit per axis: ``time_unit`` on t, none on c, ``space`` on the space axes."""
    if not lead:
        return space
    if space is not None and not isinstance(space, str):
        raise UsageError(f"--unit must name one space unit; got {space!r}.")
    return tuple(time_unit if a == "t" else None if a == "c" else space for a in axes)


def _scale_text(spacing, axes: str, lead: int, unit, units) -> str:
    """``"2.2 x 2 x 2 millimeter, time step 2000 second"`` for a log line."""
    space = spacing[-(len(spacing) - lead) :] if lead and len(spacing) == len(axes) else spacing
    text = f"{' x '.join(f'{s:g}' for s in space)} {unit or ''}".rstrip()
    t = axes.find("t") if lead and len(spacing) == len(axes) else -1
    if t >= 0 and spacing[t] > 0:
        step_unit = units[t] if units else None
        text += f", time step {spacing[t]:g} {step_unit or ''}".rstrip()
    elif t >= 0:  # the writer writes 1, without a unit
        text += ", no time step"
    return text


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
    percentiles=None,
    window=None,
    spacing=None,
    unit: str | None = None,
    convention: str | None = None,
    index: int | None = None,
    dpi: float = 100.0,
    title: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> str:
    """Draw orthogonal slices over projections of ``src`` into the PNG ``out``.

    The PNG is written under a partial name and renamed when complete. The spacing and
    unit the file records (a NIfTI, DICOM, HDF5, MRC or NRRD header, an OME-Zarr's
    scale, a TIFF's resolution tags) set the panels' true shape and label the axes in
    that unit, unless ``spacing``/``unit`` are given. A header with a patient frame
    (NIfTI, DICOM, NRRD) labels the panel edges and allows ``convention``
    (``"radiological"``/``"neurological"``). Contrast: ``window`` (a CT preset name or
    ``(level, width)``) or ``percentiles`` (default 1, 99). A 4-D input shows volume
    ``index`` (default 0) of its leading axis.
    """
    from bigimg.display import summary
    from bigimg.io import header as header_of

    if not out.lower().endswith(".png"):
        raise UsageError(f"--out must end in .png; got {out!r}.")
    if window is not None and percentiles is not None:
        raise UsageError(
            f"--window and --percentiles both set the display range; give one (got "
            f"--window {window!r} and --percentiles {percentiles!r})."
        )
    out = check_new_output(out, overwrite)
    fmt = detect_format(src, in_format)
    vol = open_volume(src, fmt, **open_options)
    if index is not None and vol.ndim != 4:
        raise UsageError(
            f"--index picks one volume of a 4-D input; {src} has shape {shape_text(vol.shape)}."
        )
    lab = None
    if labels is not None:
        lab = open_volume(labels, detect_format(labels))
        if lab.shape not in (vol.shape, vol.shape[-3:]):
            raise UsageError(
                f"--labels {labels} has shape {shape_text(lab.shape)} but {src} has "
                f"{shape_text(vol.shape)}; they must match."
            )
    head = header_of(vol) if fmt in PHYSICAL_FORMATS else None  # spacing and orientation
    if head is None and spacing is None:
        recorded, recorded_unit = spacing_of(
            src, fmt, open_options.get("component"), open_options.get("series", 0)
        )
        if recorded is not None and len(recorded) >= 3:
            spacing, unit = recorded[-3:], unit or recorded_unit
    if unit is not None and spacing is None and (head is None or None in head.spacing[-3:]):
        raise UsageError(
            f"--unit names the unit of the voxel spacing, which {src} does not record; "
            "give --spacing too."
        )
    with progress_bar(progress, "view"):
        fig = summary(
            vol,
            point,
            kind=projection,
            labels=lab,
            percentiles=(1.0, 99.0) if window is None and percentiles is None else percentiles,
            window=window,
            spacing=spacing,
            unit=unit,
            header=head,
            index=index,
            convention=convention,
            title=title or os.path.basename(src.rstrip("/")),
        )
    partial = f"{out}{PARTIAL_TAG}{uuid.uuid4().hex[:10]}"
    with discard_on_error(partial):
        fig.savefig(partial, format="png", dpi=dpi)
        return commit(partial, out, overwrite)
