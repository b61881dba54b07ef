"""The physical frame (voxel spacing and unit) a pipeline carries from its inputs to its outputs.

Each input's frame comes from its file (the NIfTI, DICOM, HDF5, MRC or NRRD header;
OME-Zarr ``multiscales``; OME, ImageJ or resolution tags of a TIFF), or from
``spacing``/``unit`` in the pipeline file, which win; a headerless raw input has none
unless the file gives one. A step's result keeps its input's frame when it keeps its
grid (same shape), ``ndimage.zoom`` rescales it, and any other change of shape drops
it: a frame is never claimed where it may no longer hold. OME-Zarr outputs are
labelled with their volume's frame, and region tables get physical columns beside
scikit-image's voxel ones (:func:`physical_columns`).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from bigimg.cli._info import array_spacing, spacing_of, unit_name
from bigimg.cli._sources import PHYSICAL_FORMATS

__all__ = [
    "Frame",
    "check_spacing",
    "describe_frame",
    "input_frame",
    "ome_options",
    "physical_columns",
    "step_frame",
]

_SYMBOLS = {"meter": "m", "decimeter": "dm", "centimeter": "cm", "millimeter": "mm",
            "micrometer": "um", "nanometer": "nm", "picometer": "pm", "kilometer": "km",
            "inch": "in", "foot": "ft"}  # fmt: skip
_AREAS = ("area", "area_bbox", "area_convex", "area_filled")
_CENTROIDS = ("centroid", "centroid_local", "centroid_weighted", "centroid_weighted_local")


class Frame(NamedTuple):
    """Voxel spacing per axis, its unit (``None``: not known) and where both came from."""

    spacing: tuple[float, ...]
    unit: str | None
    source: str


def check_spacing(value, ndim: int | None = None) -> tuple[float, ...]:
    """``value`` as a tuple of positive finite numbers (``ndim`` of them if given).

    Raises ``ValueError`` saying what is wrong.
    """
    values = value if isinstance(value, list | tuple) else None
    if (
        values is None
        or not values
        or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in values
        )
    ):
        raise ValueError(
            f"spacing must be a list of positive numbers, one per axis (z, y, x); got {value!r}."
        )
    if ndim is not None and len(values) != ndim:
        raise ValueError(
            f"spacing must hold {ndim} numbers, one per axis of the {ndim}-D volume; "
            f"got {len(values)}: {list(values)}."
        )
    return tuple(float(v) for v in values)


def input_frame(array, fmt: str, path: str, options: dict, spacing=None, unit=None):
    """The frame of an input: its file's, with ``spacing``/``unit`` of the pipeline winning.

    ``None`` when the spacing of some axis is known neither from the file nor from the
    pipeline (then no unit is claimed either).
    """
    found, found_unit, source = None, None, f"the {fmt} file"
    if fmt in PHYSICAL_FORMATS:
        found, found_unit = array_spacing(array)
        source = f"the {fmt.upper() if fmt != 'nifti' else 'NIfTI'} header"
    elif fmt in ("tiff", "zarr"):
        try:
            found, found_unit = spacing_of(
                path, fmt, options.get("component"), options.get("series", 0)
            )
        except (OSError, ValueError, KeyError, TypeError):  # unreadable metadata: no frame
            found, found_unit = None, None
        source = "its OME-Zarr metadata" if fmt == "zarr" else "its TIFF tags"
    if found is not None and len(found) != array.ndim:
        found = None
    if spacing is not None:
        found, source = check_spacing(spacing, array.ndim), "the pipeline file"
    if unit is not None:
        found_unit = unit_name(unit)
    if found is None:
        return None
    return Frame(found, found_unit, source)


def step_frame(
    frame: Frame | None, op_name: str, shapes: tuple, grid_mode: bool = False
) -> Frame | None:
    """The frame of a step's result, from its input's: kept on the same grid, else dropped.

    ``shapes`` are the input's and the result's shapes. ``ndimage.zoom`` maps the
    corner voxels' centres onto each other (scipy's default ``grid_mode=False``), so
    its spacing is ``s (n_in - 1) / (n_out - 1)``; with ``grid_mode=True`` the
    corners' edges, so ``s n_in / n_out``.
    """
    in_shape, out_shape = (tuple(s) for s in shapes)
    if frame is None or len(in_shape) != len(out_shape):
        return None
    if in_shape == out_shape:
        return frame
    if op_name == "ndimage.zoom" and (grid_mode or all(m > 1 for m in out_shape)):
        spacing = tuple(
            s * n / m if grid_mode else s * (n - 1) / (m - 1) if n > 1 else s
            for s, n, m in zip(frame.spacing, in_shape, out_shape)
        )
        return Frame(spacing, frame.unit, f"{frame.source}, rescaled by ndimage.zoom")
    return None


def describe_frame(frame: Frame | None) -> str:
    """``"2 x 0.5 x 0.5 millimeter (from the NIfTI header)"`` or ``"not known"``."""
    if frame is None:
        return "not known: OME-Zarr outputs carry no unit, tables are in voxels"
    values = " x ".join(f"{s:g}" for s in frame.spacing)
    return f"{values} {frame.unit or '(no unit)'} (from {frame.source})"


def ome_options(frame: Frame | None, given: dict) -> dict:
    """``scale`` and ``units`` for an OME-Zarr output, unless the output names them.

    Without a frame the scale is 1 and no unit is written (never an invented one).
    """
    out = {}
    if "scale" not in given:
        out["scale"] = 1.0 if frame is None else frame.spacing
    if "units" not in given:
        out["units"] = None if frame is None else frame.unit
    return out


def _suffix(unit: str | None) -> str:
    return "physical" if unit is None else _SYMBOLS.get(unit, unit)


def physical_columns(columns: dict, frame: Frame | None) -> dict:
    """``columns`` (a ``regionprops_table`` dict in voxels) with physical columns beside.

    Areas (volumes in 3-D) become ``area_<unit><ndim>`` (``area_mm3``: voxels times the
    voxel volume), each centroid coordinate ``centroid-<axis>_<unit>`` (times that
    axis's spacing), ``equivalent_diameter_area_<unit>`` follows from the physical
    area; the unit is ``physical`` when the frame has none. The same numbers as
    scikit-image's ``regionprops_table(..., spacing=frame.spacing)``. Other columns
    (bbox, moments, axis lengths, ...) stay in voxels only.
    """
    if frame is None:
        return dict(columns)
    ndim = len(frame.spacing)
    suffix = _suffix(frame.unit)
    power = "" if frame.unit is None else str(ndim)
    voxel = math.prod(frame.spacing)
    out = {}
    for key, values in columns.items():
        out[key] = values
        name, _, axis = key.partition("-")
        if key in _AREAS:
            out[f"{key}_{suffix}{power}"] = np.asarray(values, dtype=np.float64) * voxel
        elif name in _CENTROIDS and axis.isdigit() and int(axis) < ndim:
            out[f"{key}_{suffix}"] = np.asarray(values, dtype=np.float64) * frame.spacing[int(axis)]
        elif key == "equivalent_diameter_area":
            # (2 ndim area / pi) ** (1 / ndim) of the physical area
            out[f"{key}_{suffix}"] = np.asarray(values, dtype=np.float64) * voxel ** (1 / ndim)
    return out
