"""Drawing computed panels into a matplotlib figure: grid, images, overlays, crosshairs.

Everything here works on numpy images that are already computed (see
:mod:`bigimg.display._planes`); nothing reads the volume. Panels are drawn in physical
coordinates (voxel ``i`` of an axis at ``i * spacing``, see :class:`Frame`) on
equal-aspect axes, so anisotropic voxels keep their true shape and ticks are in the
spacing's unit; a convention's flips reverse the axes' limits, never the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigimg.display._colors import label_rgba
from bigimg.display._mpl import new_figure, require_matplotlib
from bigimg.display._orient import side_letters
from bigimg.display._planes import Panel
from bigimg.display._space import Frame

__all__ = ["check_cmap", "draw_rows", "figure_for"]

ROW_HEIGHT = 3.5  # inches per row of panels, by default
TITLE_LINE = 0.3  # inches per line of the figure title
CROSSHAIR = {"color": "yellow", "linewidth": 0.8, "alpha": 0.7}
SIDE = {"color": "yellow", "fontsize": 9, "fontweight": "bold"}
_EDGES = {  # where each side letter sits, in axes coordinates, and how it is aligned
    "left": (0.02, 0.5, "left", "center"),
    "right": (0.98, 0.5, "right", "center"),
    "top": (0.5, 0.98, "center", "top"),
    "bottom": (0.5, 0.02, "center", "bottom"),
}


def check_cmap(cmap: Any, func: str):
    """A colormap name known to matplotlib or a Colormap instance."""
    mpl = require_matplotlib(func)
    if isinstance(cmap, mpl.colors.Colormap):
        return cmap
    if not isinstance(cmap, str):
        raise TypeError(f"`cmap` must be a colormap name or a Colormap; got {cmap!r}.")
    if cmap not in mpl.colormaps:
        raise ValueError(f"`cmap` must name a matplotlib colormap (e.g. 'gray'); got {cmap!r}.")
    return mpl.colormaps[cmap]


def figure_for(rows: Sequence[Sequence[Panel]], shape, spacing, figsize, title, func: str):
    """A figure with one axes per panel; columns as wide as the panels' physical shape.

    ``title`` may hold several lines (the caller's title, then what the figure states:
    window, convention, time point).
    """
    ratios = [p.shape_ratio(shape, spacing) for p in rows[0]]
    # keep extreme shapes (a thin slab) readable: no column under 1/8 of the row height
    ratios = [min(max(r, 0.125), 8.0) for r in ratios]
    if figsize is None:
        lines = len(title.splitlines()) if title else 0
        width = min(max(sum(ratios) * ROW_HEIGHT, 6.0), 18.0)
        figsize = (width, ROW_HEIGHT * len(rows) + TITLE_LINE * lines + (0.1 if lines else 0))
    fig = new_figure(func, figsize)
    axes = fig.subplots(
        len(rows), len(rows[0]), squeeze=False, gridspec_kw={"width_ratios": ratios}
    )
    if title:
        fig.suptitle(title)
    return fig, axes


def _crosshair(ax, panel: Panel, point: Sequence[int], spacing) -> None:
    ax.axhline(point[panel.rows] * spacing[panel.rows], **CROSSHAIR)
    ax.axvline(point[panel.cols] * spacing[panel.cols], **CROSSHAIR)


def _contours(ax, panel: Panel, levels: Sequence[float], spacing) -> None:
    image = panel.data
    if min(image.shape) < 2:  # matplotlib needs at least 2 x 2 samples
        return
    ys = np.arange(image.shape[0]) * spacing[panel.rows]
    xs = np.arange(image.shape[1]) * spacing[panel.cols]
    colors = [f"C{(i + 1) % 10}" for i in range(len(levels))]
    ax.contour(xs, ys, image, list(levels), colors=colors, linewidths=1.0)


def _frame_axes(ax, panel: Panel, frame: Frame, extent) -> None:
    """Limits (reversed where the panel is flipped), axis labels and the side letters."""
    left, right, bottom, top = extent
    ax.set_xlim((right, left) if panel.flip_x else (left, right))
    ax.set_ylim((top, bottom) if panel.flip_y else (bottom, top))
    ax.set_xlabel(frame.axis_label(panel.cols))
    ax.set_ylabel(frame.axis_label(panel.rows))
    if frame.codes is None:
        return
    for edge, letter in side_letters(panel, frame.codes).items():
        x, y, ha, va = _EDGES[edge]
        ax.text(x, y, letter, transform=ax.transAxes, ha=ha, va=va, **SIDE)


def draw_rows(
    fig,
    axes,
    rows: Sequence[Sequence[Panel]],
    *,
    limits: Sequence[tuple],
    cmap,
    frame: Frame,
    point=None,
    contours=None,
    label_seed: int = 0,
    label_alpha: float = 0.5,
    colorbar: bool = False,
) -> None:
    """Draw each row of computed panels with its own ``(vmin, vmax)``.

    The grey image is ``ax.images[0]``, the label overlay (if any) ``ax.images[1]``;
    contour lines and crosshairs through ``point`` (when given) go on plane panels;
    the patient direction of each edge, when ``frame`` knows it, is ``ax.texts``.
    """
    spacing = frame.spacing
    for row_axes, row, (vmin, vmax) in zip(axes, rows, limits):
        for ax, panel in zip(row_axes, row):
            extent = panel.extent(spacing)
            im = ax.imshow(
                panel.data, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, aspect="equal"
            )
            if panel.overlay is not None:
                ax.imshow(
                    label_rgba(panel.overlay, seed=label_seed, alpha=label_alpha),
                    interpolation="nearest",
                    extent=extent,
                    aspect="equal",
                )
            if contours is not None and panel.plane:
                _contours(ax, panel, contours, spacing)
            if point is not None and panel.plane:
                _crosshair(ax, panel, point, spacing)
            ax.set_title(panel.title)
            _frame_axes(ax, panel, frame, extent)
        if colorbar:
            fig.colorbar(im, ax=list(row_axes), shrink=0.8)
