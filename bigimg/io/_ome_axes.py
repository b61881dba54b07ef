"""OME-Zarr axes: which axes an image has, and its per-axis scale, translation and units.

An OME-Zarr image (OME-NGFF 0.4 and 0.5) has an optional time axis ``t``, an optional
channel axis ``c`` and two or three space axes, in that order: ``"yx"``, ``"zyx"``,
``"tzyx"``, ``"czyx"``, ``"tczyx"``, ``"tyx"``, ``"cyx"``, ``"tcyx"``. Without ``axes``
the rank decides: 2-D ``yx``, 3-D ``zyx``, 4-D ``tzyx``, 5-D ``tczyx`` (a 4-D stack of
channels must say ``axes="czyx"``).

Every per-axis argument of :func:`bigimg.io.save_ome_zarr` may be given for all axes or
for the space axes only; the time and channel axes then take their own values: scale 1
for a channel, the time step for time (the header's, else 1), translation 0, chunks 1,
downsampling factor 1 (time and channel axes are never downsampled).

Defaults from a reader's header (:func:`bigimg.io.header`), for an array straight from
a NIfTI, DICOM, HDF5, MRC or NRRD reader: the spacing of the space axes (when the header
gives all of them), the time step and its unit (NIfTI's ``pixdim[4]`` and
``xyzt_units``), and the origin as the translation. OME-Zarr has no rotation, so the
origin is written along the image's own axes: the translation of space axis ``a`` is
``origin . direction[a]`` (for axes that run along the world axes, the world position of
the first voxel, the sign following the axis's direction). The file's orientation
itself stays in the header.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import dask.array as da
import numpy as np

from bigimg.io._formats import Header, header_of

__all__ = [
    "DEFAULT_AXES",
    "SPACE_UNITS",
    "TIME_UNITS",
    "axes_metadata",
    "check_axes",
    "default_chunks",
    "physical",
    "spread_factors",
    "spread_ints",
]

#: Space units OME-NGFF 0.4/0.5 allow (UDUNITS-2 names).
SPACE_UNITS = frozenset(
    "angstrom attometer centimeter decimeter exameter femtometer foot gigameter hectometer "
    "inch kilometer megameter meter micrometer mile millimeter nanometer parsec petameter "
    "picometer terameter yard yoctometer yottameter zeptometer zettameter".split()
)
#: Time units OME-NGFF 0.4/0.5 allow (UDUNITS-2 names).
TIME_UNITS = frozenset(
    "attosecond centisecond day decisecond exasecond femtosecond gigasecond hectosecond "
    "hour kilosecond megasecond microsecond millisecond minute nanosecond petasecond "
    "picosecond second terasecond yoctosecond yottasecond zeptosecond zettasecond".split()
)
#: The axes of an image of each rank when none are given.
DEFAULT_AXES = {2: "yx", 3: "zyx", 4: "tzyx", 5: "tczyx"}
_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_VALID = tuple(lead + space for lead in ("", "t", "c", "tc") for space in ("yx", "zyx"))


def check_axes(axes, ndim: int) -> str:
    """The axis names of an ``ndim``-D image: ``axes``, or the rank's default if None."""
    if ndim not in DEFAULT_AXES:
        raise NotImplementedError(
            f"save_ome_zarr writes images of 2 to 5 dimensions (OME-Zarr: up to time, "
            f"channel and three space axes); got a {ndim}-D image. Write each of its "
            "leading slices as its own image."
        )
    if axes is None:
        return DEFAULT_AXES[ndim]
    if not isinstance(axes, str):
        raise TypeError(f"`axes` must be a str such as 'zyx' or 'tczyx'; got {axes!r}.")
    if axes not in _VALID or len(axes) != ndim:
        fits = ", ".join(repr(a) for a in _VALID if len(a) == ndim)
        raise ValueError(
            f"`axes` must be one of {fits} for a {ndim}-D image (OME-Zarr order: an optional "
            f"'t' for time, an optional 'c' for channel, then 'zyx' or 'yx'); got {axes!r}."
        )
    return axes


def _space(axes: str) -> list[int]:
    return [i for i, a in enumerate(axes) if _TYPES[a] == "space"]


def _spread(value, axes: str, fill: Sequence, name: str):
    """``value`` per axis: a scalar or a sequence for the space axes only gets the time
    and channel entries of ``fill`` (one entry per axis) in front.

    Anything else (a sequence of every axis, or a wrong one) is returned as given, for
    the caller's own check to accept or refuse.
    """
    space = _space(axes)
    n_lead = len(axes) - len(space)
    if not n_lead:
        return value
    lead = tuple(fill[:n_lead])
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (*lead, *(value,) * len(space))
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        if len(value) == len(space):
            return (*lead, *value)
        if len(value) != len(axes):
            raise ValueError(
                f"`{name}` must be one value, {len(space)} values (the space axes "
                f"{axes[n_lead:]!r}) or {len(axes)} (every axis {axes!r}); got {value!r}."
            )
    return value


def spread_ints(value, axes: str, fill: Sequence[int], name: str):
    """Chunks or shards per axis (``fill``'s on time and channel when only space is given)."""
    return _spread(value, axes, fill, name)


def spread_factors(factors, axes: str):
    """Downsampling factors per axis, 1 on time and channel (a list: one tuple per level)."""
    n_lead = len(axes) - len(_space(axes))
    ones = (1,) * len(axes)
    per_level = (
        isinstance(factors, Sequence)
        and not isinstance(factors, str)
        and len(factors) > 0
        and all(isinstance(f, Sequence) for f in factors)
    )
    steps = [_spread(f, axes, ones, "factors") for f in factors] if per_level else None
    for step in steps or [_spread(factors, axes, ones, "factors")]:
        if n_lead and isinstance(step, Sequence) and len(step) == len(axes):
            if any(f != 1 for f in step[:n_lead]):
                raise ValueError(
                    f"`factors` must be 1 on the {axes[:n_lead]!r} axes (time and channel "
                    f"are never downsampled); got {factors!r}. Give the space axes' factors "
                    "only, e.g. factors=(1, 2, 2)."
                )
    if per_level:
        return steps
    return _spread(factors, axes, ones, "factors")


def default_chunks(axes: str) -> tuple[int, ...]:
    """1 along time and channel; 128 per space axis of a volume, 1024 of a plane."""
    space = _space(axes)
    edge = 128 if len(space) == 3 else 1024
    return tuple(edge if i in space else 1 for i in range(len(axes)))


def _numbers(value, axes: str, name: str, *, positive: bool) -> tuple[float, ...]:
    ndim = len(axes)
    values = (value,) * ndim if isinstance(value, numbers.Real) else value
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(
            f"`{name}` must be a number or a sequence of {ndim} numbers; got {value!r}."
        )
    values = tuple(values)
    if len(values) != ndim or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"`{name}` must hold {ndim} numbers, one per axis; got {value!r}.")
    if not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        kind = "positive finite" if positive else "finite"
        raise ValueError(f"`{name}` must hold {kind} numbers; got {value!r}.")
    return tuple(float(v) for v in values)


def _check_units(units, axes: str) -> tuple[str | None, ...]:
    ndim = len(axes)
    values = (units,) * ndim if units is None or isinstance(units, str) else units
    if not isinstance(values, Sequence) or len(values) != ndim:
        raise ValueError(f"`units` must be a unit name, None or {ndim} of them; got {units!r}.")
    for a, u in zip(axes, values):
        kind = _TYPES[a]
        if u is None:
            continue
        if kind == "channel":
            raise ValueError(f"`units` must be None for the channel axis 'c'; got {units!r}.")
        allowed = SPACE_UNITS if kind == "space" else TIME_UNITS
        example = "'micrometer' or 'nanometer'" if kind == "space" else "'second'"
        if u not in allowed:
            raise ValueError(
                f"`units` must be OME-NGFF {kind} units such as {example} (full UDUNITS-2 "
                f"names) on the {kind} axis {a!r}; got {units!r}."
            )
    return tuple(values)


def _valid(s) -> bool:
    return isinstance(s, numbers.Real) and math.isfinite(s) and s > 0


def _origin(h: Header, axes: str) -> tuple[float, ...] | None:
    """The header's origin along each space axis (``origin . direction``), else None."""
    space = _space(axes)
    if h.origin is None or h.direction is None or len(h.direction) != len(axes):
        return None
    dirs = [h.direction[i] for i in space]
    if any(d is None or len(d) != len(h.origin) for d in dirs):
        return None
    return tuple(float(np.dot(h.origin, d)) for d in dirs)


def physical(arr: da.Array, axes: str, scale, translation, units, header=None):
    """``(scale, translation, units)`` per axis, the defaults taken from the header.

    ``scale=None``: the header's spacing of the space axes if it gives all of them,
    else 1; its time step (if valid) on ``t``; 1 on ``c``. A scale for the space axes
    only keeps the header's time step. ``units="auto"``: the header's units where its
    spacing (or a given scale) is written; without a header, ``"micrometer"`` on the
    space axes. The time axis carries the header's time unit when it carries the
    header's time step. ``translation=None``: the header's origin (see the module
    notes) when the units written on the space axes are the header's, else 0.
    ``header``: the header to take these from instead of the array's own.
    """
    if header is not None and not isinstance(header, Header):
        raise TypeError(
            f"`header` must be None or a bigimg.io.Header (from bigimg.io.header); got "
            f"{type(header).__name__}."
        )
    if header is not None and tuple(header.shape) != tuple(arr.shape):
        raise ValueError(
            f"`header` must describe an image of the image's shape {tuple(arr.shape)}; got "
            f"the header of {header.path}, shape {tuple(header.shape)}."
        )
    h = header_of(arr) if header is None else header
    space = _space(axes)
    t = axes.find("t")
    h_spacing = [s if _valid(s) else None for s in h.spacing] if h is not None else None
    space_known = h_spacing is not None and all(h_spacing[i] is not None for i in space)
    h_step = h_spacing[t] if h_spacing is not None and t >= 0 else None
    lead = [1.0] * (len(axes) - len(space))
    if t >= 0 and h_step is not None:
        lead[t] = h_step
    given = scale is not None
    if not given:
        scale = tuple(
            (h_spacing[i] if space_known else 1.0) if i in space else lead[i]
            for i in range(len(axes))
        )
    scale = _numbers(_spread(scale, axes, lead, "scale"), axes, "scale", positive=True)
    step_from_header = t >= 0 and h_step is not None and scale[t] == h_step
    h_units = [None] * len(axes)
    if h is not None:
        for i, (a, u) in enumerate(zip(axes, h.units)):
            allowed = {"space": SPACE_UNITS, "time": TIME_UNITS}.get(_TYPES[a], ())
            h_units[i] = u if u in allowed else None
    time_unit = h_units[t] if step_from_header else None
    lead_units = [time_unit if a == "t" else None for a in axes[: len(lead)]]
    if isinstance(units, str) and units == "auto":
        if h is None:
            units = ("micrometer",) * len(space)
        elif space_known or given:
            units = tuple(h_units[i] for i in space)
        else:
            units = (None,) * len(space)
        units = (*lead_units, *units)
    elif units is None or isinstance(units, str):
        units = (*lead_units, *(units,) * len(space))
    units = _check_units(_spread(units, axes, lead_units, "units"), axes)
    if translation is None:
        origin = _origin(h, axes) if h is not None else None
        same = h is not None and all(units[i] == h_units[i] for i in space)
        translation = origin if origin is not None and same else 0.0
    zeros = (0.0,) * len(lead)
    translation = _numbers(
        _spread(translation, axes, zeros, "translation"), axes, "translation", positive=False
    )
    return scale, translation, units


def axes_metadata(axes: str, units: Sequence[str | None]) -> list[dict]:
    """The ``axes`` list of OME-Zarr ``multiscales``: name, type and (if any) unit."""
    return [
        {"name": a, "type": _TYPES[a]} | ({"unit": u} if u else {})
        for a, u in zip(axes, units, strict=True)
    ]
