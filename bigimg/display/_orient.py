"""Which anatomical direction each axis points to, and how panels turn for a convention.

An orientation is three *axis codes*, one letter per axis (z, y, x): the patient
direction the axis's index increases toward -- ``R``/``L`` (right, left), ``A``/``P``
(anterior, posterior), ``S``/``I`` (superior, inferior). nibabel calls these
``aff2axcodes``; nibabel's ``anatomical.nii``, read in bigimg's (plane, row, column)
order, is ``"SAL"``, a usual axial DICOM series ``"SPL"``.

They come from a file's header (each axis's direction vector in an anatomical world
frame: NIfTI's RAS, DICOM's LPS) by assigning every axis the world axis it is closest
to; an oblique volume is labelled by its nearest anatomical axes. Nothing here reads a
voxel; a convention only transposes panels (lazily) and reverses matplotlib axes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CONVENTIONS",
    "axis_codes",
    "check_convention",
    "check_orientation",
    "orient_panel",
    "side_letters",
]

OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
_PAIR = {"R": "LR", "L": "LR", "A": "AP", "P": "AP", "S": "SI", "I": "SI"}

#: The conventions and what each means on screen (stated on the figure).
CONVENTIONS = {
    "radiological": "patient's left on screen right",
    "neurological": "patient's left on screen left",
}


def _codes_ok(codes: Any) -> bool:
    return (
        isinstance(codes, str)
        and len(codes) == 3
        and all(c in OPPOSITE for c in codes)
        and len({_PAIR[c] for c in codes}) == 3
    )


def check_orientation(orientation: Any) -> str | None:
    """``None`` or three axis codes (z, y, x), upper-cased, e.g. ``"SPL"``."""
    if orientation is None:
        return None
    if not isinstance(orientation, str):
        raise TypeError(
            "`orientation` must be a string of three axis codes (z, y, x) such as 'SPL'; "
            f"got {orientation!r}."
        )
    codes = orientation.upper()
    if not _codes_ok(codes):
        raise ValueError(
            "`orientation` must hold one of R/L, one of A/P and one of S/I, in axis order "
            f"(z, y, x): the direction each index increases toward, e.g. 'SPL'; got {orientation!r}."
        )
    return codes


def axis_codes(direction: Sequence | None, space: str | None) -> str | None:
    """The axis codes of three axes whose ``direction`` vectors are given in ``space``.

    ``space`` names the world frame by where its +x, +y, +z point (``"RAS"`` for NIfTI,
    ``"LPS"`` for DICOM). ``None`` when the frame is not anatomical (``"XYZ"``, a
    scanner frame) or a direction is missing: the orientation is then unknown.
    """
    if direction is None or not isinstance(space, str) or not _codes_ok(space.upper()):
        return None
    if len(direction) != 3 or any(d is None or len(d) != 3 for d in direction):
        return None
    world = space.upper()
    weight = [[abs(float(c)) for c in d] for d in direction]
    # each axis its nearest world axis, all three different (an oblique volume too)
    best = max(
        itertools.permutations(range(3)), key=lambda p: sum(weight[a][p[a]] for a in range(3))
    )
    letters = []
    for axis, w in enumerate(best):
        if weight[axis][w] == 0:
            return None
        toward = world[w] if float(direction[axis][w]) > 0 else OPPOSITE[world[w]]
        letters.append(toward)
    return "".join(letters)


def check_convention(convention: Any, codes: str | None, why: str) -> str | None:
    """``None`` or a convention name; refused when the orientation is unknown (``why``)."""
    if convention is None:
        return None
    if convention not in CONVENTIONS:
        raise ValueError(
            f"`convention` must be 'radiological' or 'neurological'; got {convention!r}."
        )
    if codes is None:
        raise ValueError(
            f"`convention={convention!r}` needs the volume's orientation, which is unknown: "
            f"{why}. Give it with orientation='SPL'-style axis codes (z, y, x) or "
            "header=bigimg.io.header(path), or leave `convention` out to show the voxels as "
            "stored."
        )
    return convention


def orient_panel(panel, codes: str, convention: str) -> None:
    """Transpose and flip ``panel`` so it reads the standard way in ``convention``.

    A panel showing the patient's left-right axis shows it horizontally, the patient's
    left on screen right (radiological) or left (neurological), with anterior (axial)
    or superior (coronal) up; a sagittal panel shows superior up and anterior on the
    left. The data are transposed (lazily) only when the left-right axis, or for a
    sagittal panel the superior-inferior axis, lies along the panel's rows; flips only
    reverse the matplotlib axes, so pixel values stay where they are in the array.
    """
    pairs = {_PAIR[codes[panel.rows]], _PAIR[codes[panel.cols]]}
    horizontal = "LR" if "LR" in pairs else "AP"
    if _PAIR[codes[panel.cols]] != horizontal:
        panel.transpose()
    want_right = {"radiological": "L", "neurological": "R"}[convention]
    if horizontal == "AP":  # sagittal: anterior on the left in both conventions
        want_right = "P"
    want_up = "A" if pairs == {"LR", "AP"} else "S"
    # unflipped, the column index grows to the right and the row index downwards
    panel.flip_x = codes[panel.cols] != want_right
    panel.flip_y = codes[panel.rows] == want_up


def side_letters(panel, codes: str) -> dict[str, str]:
    """The patient direction at each edge of the displayed ``panel``: left, right, top, bottom."""
    right = codes[panel.cols] if not panel.flip_x else OPPOSITE[codes[panel.cols]]
    bottom = codes[panel.rows] if not panel.flip_y else OPPOSITE[codes[panel.rows]]
    return {"left": OPPOSITE[right], "right": right, "top": OPPOSITE[bottom], "bottom": bottom}
