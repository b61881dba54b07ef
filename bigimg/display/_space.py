"""Where the shown volume sits in space: which volume of a series, voxel size, unit, orientation.

:func:`place` turns a figure function's arguments into the 3-D volume it shows and a
:class:`Frame`: the voxel size and unit its axes are labelled in, the patient direction
of each axis (when known) and the display convention. Explicit arguments win; the rest
comes from the file's header -- the array's own (``bigimg.io.header(volume)``, for an
array straight from a reader) or one given as ``header=``. Nothing is read.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg.display._orient import CONVENTIONS, axis_codes, check_convention, check_orientation
from bigimg.display._validate import AXIS_NAMES, check_spacing, check_volume
from bigimg.io import Header
from bigimg.io import header as header_of_array

__all__ = ["Frame", "place", "unit_symbol"]

_SYMBOLS = {"millimeter": "mm", "micrometer": "µm", "nanometer": "nm", "centimeter": "cm",
            "meter": "m", "angstrom": "Å"}  # fmt: skip
_TIME = ("second", "millisecond", "microsecond")


def unit_symbol(unit: str | None) -> str | None:
    """The short form of a UDUNITS-2 name (``"millimeter"`` -> ``"mm"``); others unchanged."""
    return None if unit is None else _SYMBOLS.get(unit, unit)


@dataclasses.dataclass(frozen=True)
class Frame:
    """How the shown volume maps to space.

    ``spacing`` is along (z, y, x), ``(1, 1, 1)`` with ``physical=False`` when unknown
    (the axes are then in voxels); ``unit`` is the symbol axes are labelled with;
    ``codes`` the axis codes (``"SAL"``) or ``None``; ``index`` the volume shown of a
    4-D series of ``series`` volumes (both ``None`` for a 3-D volume), which
    ``series_text`` states ("time point 0 (of 2)").
    """

    spacing: tuple[float, float, float]
    unit: str | None
    physical: bool
    codes: str | None
    convention: str | None
    index: int | None = None
    series: int | None = None
    series_text: str | None = None

    @property
    def convention_text(self) -> str | None:
        """The convention as the figure states it, e.g. "radiological: patient's left ..."."""
        if self.convention is None:
            return None
        return f"{self.convention}: {CONVENTIONS[self.convention]}"

    def axis_label(self, axis: int) -> str:
        """``"z (mm)"``; ``"z"`` if the unit is unknown; ``"z (voxel)"`` without spacing."""
        name = AXIS_NAMES[axis]
        if not self.physical:
            return f"{name} (voxel)"
        return f"{name} ({self.unit})" if self.unit else name


def _check_header(header: Any, shape: tuple[int, ...]) -> Header | None:
    if header is None:
        return None
    if not isinstance(header, Header):
        raise TypeError(
            f"`header` must be a bigimg.io.Header (from bigimg.io.header(path)); got {header!r}."
        )
    one_of_series = len(header.shape) == 4 and len(shape) == 3
    if tuple(header.shape[1:] if one_of_series else header.shape) != tuple(shape):
        raise ValueError(
            f"`header` describes an array of shape {tuple(header.shape)} but `volume` has shape "
            f"{tuple(shape)}; pass the header of the file this volume has the grid of."
        )
    return header


def _check_index(index: Any, shape: tuple[int, ...]) -> int | None:
    if len(shape) == 3:
        if index is not None:
            raise ValueError(
                f"`index` picks one volume of a 4-D series; `volume` is 3-D (shape {shape}), "
                f"so leave it out; got index={index!r}."
            )
        return None
    if index is None:
        return 0
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"`index` must be an integer; got {index!r}.")
    if not -shape[0] <= index < shape[0]:
        raise ValueError(
            f"`index` must be in [{-shape[0]}, {shape[0]}) for a series of {shape[0]} volumes "
            f"(shape {shape}); got {index!r}."
        )
    return int(index) % shape[0]


def _check_unit(unit: Any) -> str | None:
    if unit is None:
        return None
    if not isinstance(unit, str) or not unit.strip():
        raise TypeError(f"`unit` must be a unit name such as 'mm' or 'millimeter'; got {unit!r}.")
    return unit.strip()


def _header_spacing(header: Header | None) -> tuple[tuple[float, float, float] | None, str | None]:
    """The header's spatial spacing (if every axis has one) and their shared unit."""
    if header is None:
        return None, None
    spacing, units = header.spacing[-3:], header.units[-3:]
    unit = units[0] if len(set(units)) == 1 else None
    if any(s is None or not s > 0 for s in spacing):
        return None, unit
    return tuple(float(s) for s in spacing), unit


def _series_note(index: int, shape: tuple[int, ...], header: Header | None) -> str:
    if header is not None and header.units[0] in _TIME:
        return f"time point {index} (of {shape[0]})"
    return f"volume {index} (of {shape[0]}) along axis 0"


def _unknown_orientation(volume: Any, header: Header | None) -> str:
    if header is not None:
        return (
            f"its {header.format} header records no patient direction (space {header.space!r}, "
            f"direction {header.direction!r})"
        )
    if isinstance(volume, da.Array):
        return "`volume` is a dask array not straight from a file reader, so it has no header"
    return f"`volume` ({type(volume).__name__}) carries no header"


def place(
    volume: Any,
    *,
    index: Any = None,
    header: Any = None,
    spacing: float | Sequence[float] | None = None,
    unit: Any = None,
    orientation: Any = None,
    convention: Any = None,
) -> tuple[np.ndarray | da.Array, Frame, Header | None]:
    """The 3-D volume to show, its :class:`Frame` and the header it was placed with."""
    full = check_volume(volume, series=True)
    given = _check_header(header, full.shape)
    if given is None and isinstance(full, da.Array):
        given = header_of_array(full)  # None unless straight from a reader
    index = _check_index(index, full.shape)
    vol = full if index is None else full[index]
    spacing = None if spacing is None else check_spacing(spacing)
    unit = _check_unit(unit)
    from_header, header_unit = _header_spacing(given)
    physical = spacing is not None or from_header is not None
    if unit is not None and not physical:
        raise ValueError(
            f"`unit` names the unit of the voxel spacing, which is not known here; give "
            f"spacing= too; got unit={unit!r}."
        )
    codes = check_orientation(orientation)
    if codes is None and given is not None and given.direction is not None:
        codes = axis_codes(given.direction[-3:], given.space)
    convention = check_convention(convention, codes, _unknown_orientation(volume, given))
    frame = Frame(
        spacing=spacing or from_header or (1.0, 1.0, 1.0),
        unit=unit_symbol(unit or header_unit) if physical else None,
        physical=physical,
        codes=codes,
        convention=convention,
        index=index,
        series=None if index is None else full.shape[0],
        series_text=None if index is None else _series_note(index, full.shape, given),
    )
    return vol, frame, given
