"""Argument checks shared by the display functions: all run before anything is read.

Each checker returns the normalised value (a tuple, a float, a dask or numpy array) or
raises ``TypeError`` / ``ValueError`` with a message of the form
"`param` requirement; got value.".
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

__all__ = [
    "check_bool",
    "check_contours",
    "check_figsize",
    "check_labels",
    "check_limits",
    "check_png_path",
    "check_point",
    "check_positive",
    "check_spacing",
    "check_title",
    "check_volume",
]

# The axis names used in titles and axis labels, in bigimg's (plane, row, column) order.
AXIS_NAMES = ("z", "y", "x")
KINDS = ("max", "mean", "min")
PERCENTILE_OF = ("shown", "volume")


def check_volume(volume: Any, name: str = "volume", series: bool = False) -> np.ndarray | da.Array:
    """A 3-D numpy or dask array of a real dtype; other array-likes (zarr) become dask.

    numpy arrays (and memmaps) stay numpy: slicing a plane out of them is free, and a
    memmap reads only the pages of that plane. ``series=True`` also takes a 4-D array
    (a leading time or channel axis, one volume of which is shown).
    """
    if isinstance(volume, np.ndarray | da.Array):
        arr = volume
    elif all(hasattr(volume, a) for a in ("shape", "dtype", "ndim", "__getitem__")):
        arr = da.from_array(volume)  # zarr, h5py...: dask uses the array's own chunks
    else:
        raise TypeError(f"`{name}` must be a numpy or dask array; got {type(volume).__name__}.")
    if arr.ndim != 3 and not (series and arr.ndim == 4):
        if series:
            raise ValueError(
                f"`{name}` must be 3-D (plane, row, column), or 4-D with a leading time or "
                f"channel axis whose volume `index` picks; got shape {arr.shape}."
            )
        raise ValueError(
            f"`{name}` must be 3-D (plane, row, column); got shape {arr.shape}. "
            "Select one channel or time point first, e.g. volume[0]."
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"`{name}` must have a real dtype (bool, integer or float); got {arr.dtype}."
        )
    if 0 in arr.shape:
        raise ValueError(f"`{name}` must not be empty; got shape {arr.shape}.")
    return arr


def check_labels(
    labels: Any, shape: tuple[int, ...], index: int | None = None, series: int | None = None
) -> np.ndarray | da.Array | None:
    """``None`` or an integer / bool volume of the image's shape.

    When the image is volume ``index`` of a 4-D series of ``series`` volumes, the labels
    may be that series' labels too (shape ``(series, *shape)``): volume ``index`` is used.
    """
    if labels is None:
        return None
    arr = check_volume(labels, "labels", series=index is not None)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"`labels` must have an integer or bool dtype; got {arr.dtype}.")
    if arr.ndim == 4 and arr.shape == (series, *shape):
        return arr[index]
    if arr.shape != tuple(shape):
        either = "" if index is None else f" (or the series' shape {(series, *shape)})"
        raise ValueError(
            f"`labels` must have the volume's shape {tuple(shape)}{either}; got {arr.shape}."
        )
    return arr


def check_point(point: Any, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Three voxel indices inside ``shape`` (negative ones count from the end); default centre."""
    if point is None:
        return tuple(n // 2 for n in shape)
    if isinstance(point, str) or not isinstance(point, Sequence | np.ndarray):
        raise TypeError(f"`point` must be a sequence of 3 integers; got {point!r}.")
    point = tuple(point)
    if len(point) != 3:
        raise ValueError(f"`point` must hold 3 indices (plane, row, column); got {point!r}.")
    if not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in point):
        raise TypeError(f"`point` must hold integers; got {point!r}.")
    out = []
    for p, n in zip(point, shape):
        if not -n <= p < n:
            raise ValueError(
                f"`point` must lie inside the volume of shape {tuple(shape)}; got {point!r}."
            )
        out.append(int(p) % n)
    return tuple(out)


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return value


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0."""
    value = _real(value, name)
    if value <= 0:
        raise ValueError(f"`{name}` must be positive; got {value!r}.")
    return value


def check_spacing(spacing: Any) -> tuple[float, float, float]:
    """Voxel size along (plane, row, column): a positive number or three of them."""
    if spacing is None:
        return (1.0, 1.0, 1.0)
    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        return (check_positive(spacing, "spacing"),) * 3
    if isinstance(spacing, str) or not isinstance(spacing, Sequence | np.ndarray):
        raise TypeError(f"`spacing` must be a number or a sequence of 3 numbers; got {spacing!r}.")
    if len(spacing) != 3:
        raise ValueError(f"`spacing` must hold 3 numbers (plane, row, column); got {spacing!r}.")
    return tuple(check_positive(s, "spacing") for s in spacing)


def check_limits(vmin: Any, vmax: Any, percentiles: Any, percentile_of: Any):
    """Contrast settings: ``(vmin, vmax, percentiles, percentile_of)``, normalised."""
    vmin = None if vmin is None else _real(vmin, "vmin")
    vmax = None if vmax is None else _real(vmax, "vmax")
    if vmin is not None and vmax is not None and vmin > vmax:
        raise ValueError(f"`vmin` must not exceed `vmax`; got vmin={vmin!r}, vmax={vmax!r}.")
    if percentile_of not in PERCENTILE_OF:
        raise ValueError(f"`percentile_of` must be 'shown' or 'volume'; got {percentile_of!r}.")
    if percentiles is None:
        return vmin, vmax, None, percentile_of
    if vmin is not None or vmax is not None:
        raise ValueError(
            "`percentiles` must not be combined with `vmin`/`vmax`; got percentiles="
            f"{percentiles!r}, vmin={vmin!r}, vmax={vmax!r}. Give one or the other."
        )
    if isinstance(percentiles, str) or not isinstance(percentiles, Sequence | np.ndarray):
        raise TypeError(f"`percentiles` must be a pair (low, high); got {percentiles!r}.")
    if len(percentiles) != 2:
        raise ValueError(f"`percentiles` must be a pair (low, high); got {percentiles!r}.")
    lo, hi = (_real(p, "percentiles") for p in percentiles)
    if not 0 <= lo < hi <= 100:
        raise ValueError(f"`percentiles` must satisfy 0 <= low < high <= 100; got {percentiles!r}.")
    return None, None, (lo, hi), percentile_of


def check_contours(contours: Any) -> tuple[float, ...] | None:
    """``None`` or a non-empty increasing sequence of contour levels."""
    if contours is None:
        return None
    if isinstance(contours, numbers.Real) and not isinstance(contours, bool):
        contours = (contours,)
    if isinstance(contours, str) or not isinstance(contours, Sequence | np.ndarray):
        raise TypeError(f"`contours` must be a sequence of levels; got {contours!r}.")
    levels = tuple(_real(c, "contours") for c in contours)
    if not levels or any(b <= a for a, b in zip(levels, levels[1:])):
        raise ValueError(f"`contours` must be a non-empty increasing sequence; got {contours!r}.")
    return levels


def check_figsize(figsize: Any) -> tuple[float, float] | None:
    """``None`` or (width, height) in inches."""
    if figsize is None:
        return None
    if isinstance(figsize, str) or not isinstance(figsize, Sequence | np.ndarray):
        raise TypeError(f"`figsize` must be a pair (width, height) in inches; got {figsize!r}.")
    if len(figsize) != 2:
        raise ValueError(f"`figsize` must be a pair (width, height) in inches; got {figsize!r}.")
    return tuple(check_positive(f, "figsize") for f in figsize)


def check_title(title: Any) -> str | None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"`title` must be a string or None; got {title!r}.")
    return title


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"`{name}` must be True or False; got {value!r}.")
    return bool(value)


def check_png_path(path: Any) -> str | None:
    """``None`` or a ``.png`` path whose directory exists."""
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`path` must be a str or os.PathLike; got {type(path).__name__}.")
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"`path` must end in .png; got {path!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(
            f"`path` must be in an existing directory; got {path!r} ({folder} is missing)."
        )
    return path
