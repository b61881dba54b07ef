"""CT window/level: named presets and explicit ``(level, width)``, for the display range only.

A window of width ``W`` centred on level ``L`` maps ``L - W/2`` to black and ``L + W/2``
to white; the data are never changed. The presets are the usual values in Hounsfield
units (as tabulated by Radiopaedia's "Windowing (CT)" article), so they fit CT volumes
whose rescale slope/intercept have been applied (bigimg's DICOM reader applies them).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from bigimg._errors import BigimgWarning

__all__ = ["WINDOWS", "Window", "check_window", "warn_if_not_ct"]

#: CT window presets: name -> (level, width) in Hounsfield units.
WINDOWS = {
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "soft tissue": (50.0, 400.0),
    "abdomen": (50.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
}


class Window:
    """A display window: ``level``, ``width`` and the preset's name (``None`` if explicit)."""

    def __init__(self, level: float, width: float, name: str | None):
        self.level, self.width, self.name = level, width, name

    @property
    def limits(self) -> tuple[float, float]:
        """``(vmin, vmax) = (level - width / 2, level + width / 2)``."""
        return self.level - self.width / 2, self.level + self.width / 2

    def __str__(self) -> str:
        text = f"W {self.width:g} / L {self.level:g}"
        return f"{text} ({self.name})" if self.name else text


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError
    return float(value)


def check_window(window: Any) -> Window | None:
    """``None``, a preset name (case, ``-`` and ``_`` ignored) or ``(level, width)``."""
    if window is None:
        return None
    if isinstance(window, str):
        name = " ".join(window.lower().replace("-", " ").replace("_", " ").split())
        if name not in WINDOWS:
            raise ValueError(
                f"`window` must be one of {', '.join(repr(w) for w in WINDOWS)} or a pair "
                f"(level, width); got {window!r}."
            )
        return Window(*WINDOWS[name], name)
    if not isinstance(window, Sequence | np.ndarray) or len(window) != 2:
        raise TypeError(
            f"`window` must be a preset name such as 'lung' or a pair (level, width); got {window!r}."
        )
    try:
        level, width = (_number(v) for v in window)
    except TypeError:
        raise TypeError(f"`window` (level, width) must hold two numbers; got {window!r}.") from None
    if not (np.isfinite(level) and np.isfinite(width)) or width <= 0:
        raise ValueError(
            f"`window` (level, width) must be finite with a positive width; got {window!r}."
        )
    return Window(level, width, None)


def warn_if_not_ct(window: Window | None, header, stacklevel: int) -> None:
    """Warn when a named CT preset meets a DICOM series that says it is not CT."""
    if window is None or window.name is None or header is None or header.format != "dicom":
        return
    modality = str(header.fields.get("Modality") or "").upper()
    if modality and modality != "CT":
        warnings.warn(
            f"window {window.name!r} is a CT preset in Hounsfield units, but this DICOM "
            f"series is {modality}: the display range {window.limits} may hide everything; "
            "pass window=(level, width) or vmin/vmax for it.",
            BigimgWarning,
            stacklevel=stacklevel + 1,
        )
