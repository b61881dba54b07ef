"""What a figure shows, as data: planes, projections and contrast limits.

Planes are slices of the (numpy or dask) volume; for dask input every image of a
figure is computed in **one** ``dask.compute`` call, so a block shared by several
planes (the one holding the point, for instance) is read once and blocks that cross
no shown plane are never read. Projections are dask reductions (a tree of partial
maxima / sums): a full pass whose tasks hold about one block each.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np

from bigimg.display._validate import AXIS_NAMES

__all__ = ["Panel", "compute_together", "contrast_limits", "plane_panels", "projection_panels"]


class Panel:
    """One image panel: its lazy data, the two displayed axes and its title.

    ``rows``/``cols`` are the volume axes shown vertically / horizontally, ``through``
    the axis sliced (``plane=True``) or projected out; ``data`` becomes a numpy image
    once computed.
    """

    def __init__(self, data, through: int, title: str, plane: bool):
        self.data = data
        self.through = through
        self.plane = plane
        self.rows, self.cols = (a for a in range(3) if a != through)
        self.title = title
        self.overlay = None  # lazy or computed label plane, if any
        self.flip_x = self.flip_y = False  # shown right-to-left / bottom-to-top

    def transpose(self) -> None:
        """Show the rows horizontally and the columns vertically (a lazy transpose)."""
        self.rows, self.cols = self.cols, self.rows
        self.data = self.data.T
        if self.overlay is not None:
            self.overlay = self.overlay.T

    def extent(self, spacing: Sequence[float]) -> tuple[float, float, float, float]:
        """``(left, right, bottom, top)`` of the image in physical units (voxel 0 at 0).

        Each voxel is a ``spacing[cols]`` by ``spacing[rows]`` rectangle centred on its
        index times the spacing, so equal-aspect axes show the panel's true shape.
        """
        sy, sx = spacing[self.rows], spacing[self.cols]
        ny, nx = self.data.shape
        return (-0.5 * sx, (nx - 0.5) * sx, (ny - 0.5) * sy, -0.5 * sy)

    def shape_ratio(self, shape: Sequence[int], spacing: Sequence[float]) -> float:
        """Physical width / height of the panel (used to size the figure's columns)."""
        width = shape[self.cols] * spacing[self.cols]
        return width / (shape[self.rows] * spacing[self.rows])


def _plane_index(axis: int, index: int) -> tuple:
    key = [slice(None)] * 3
    key[axis] = index
    return tuple(key)


def plane_panels(volume, point: Sequence[int], labels=None) -> list[Panel]:
    """The three lazy planes through ``point`` (and the label planes, if ``labels``)."""
    panels = []
    for axis in range(3):
        key = _plane_index(axis, point[axis])
        panel = Panel(volume[key], axis, f"{AXIS_NAMES[axis]} = {point[axis]}", True)
        if labels is not None:
            panel.overlay = labels[key]
        panels.append(panel)
    return panels


def _project(volume, axis: int, kind: str):
    if kind == "mean":
        return volume.mean(axis=axis, dtype=np.float64)
    return volume.max(axis=axis) if kind == "max" else volume.min(axis=axis)


def projection_panels(volume, axes: Sequence[int], kind: str) -> list[Panel]:
    """Lazy ``kind`` projections of ``volume`` along each of ``axes``."""
    return [
        Panel(_project(volume, a, kind), a, f"{kind} along {AXIS_NAMES[a]}", False) for a in axes
    ]


def compute_together(panels: Sequence[Panel]) -> None:
    """Replace every panel's data and overlay by numpy arrays, in one ``dask.compute``."""
    slots = [
        (p, attr) for p in panels for attr in ("data", "overlay") if getattr(p, attr) is not None
    ]
    lazy = [(p, attr) for p, attr in slots if isinstance(getattr(p, attr), da.Array)]
    results = dask.compute(*[getattr(p, attr) for p, attr in lazy]) if lazy else ()
    for (p, attr), value in zip(lazy, results):
        setattr(p, attr, value)
    for p, attr in slots:
        value = np.asarray(getattr(p, attr))
        setattr(p, attr, value.view(np.uint8) if value.dtype == bool else value)


def contrast_limits(
    images: Sequence[np.ndarray], volume, vmin, vmax, percentiles, percentile_of: str
) -> tuple[float | None, float | None]:
    """The (vmin, vmax) shared by a group of panels.

    Explicit limits win; a missing one is the min / max of the shown images.
    ``percentiles`` are taken over the shown images (cheap, NaNs ignored) or, with
    ``percentile_of="volume"``, exactly over the whole volume by
    :func:`bigimg.stats.percentile` (which computes: a few passes over the data).
    """
    if percentiles is not None and percentile_of == "volume":
        from bigimg.stats import percentile  # computes; imported only when asked for

        lo, hi = percentile(volume, list(percentiles))
        return float(lo), float(hi)
    flat = np.concatenate([np.ravel(im) for im in images])
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:  # nothing finite to show: let matplotlib decide
        return vmin, vmax
    if percentiles is not None:
        lo, hi = np.percentile(flat, list(percentiles))
        return float(lo), float(hi)
    lo = float(flat.min()) if vmin is None else vmin
    hi = float(flat.max()) if vmax is None else vmax
    if vmin is None:  # a given vmax below every shown value still wins
        lo = min(lo, hi)
    if vmax is None:
        hi = max(lo, hi)
    return lo, hi
