"""Drawing computed panels into a matplotlib figure: grid, images, overlays, crosshairs.

Everything here works on numpy images that are already computed (see
:mod:`bigimg.display._planes`); nothing reads the volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigimg.display._colors import label_rgba
from bigimg.display._mpl import new_figure, require_matplotlib
from bigimg.display._planes import Panel
from bigimg.display._validate import AXIS_NAMES

__all__ = ["check_cmap", "draw_rows", "figure_for"]

ROW_HEIGHT = 3.5  # inches per row of panels, by default
CROSSHAIR = {"color": "yellow", "linewidth": 0.8, "alpha": 0.7}


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
    """A figure with one axes per panel; columns as wide as the panels' physical shape."""
    ratios = [p.shape_ratio(shape, spacing) for p in rows[0]]
    # keep extreme shapes (a thin slab) readable: no column under 1/8 of the row height
    ratios = [min(max(r, 0.125), 8.0) for r in ratios]
    if figsize is None:
        width = min(max(sum(ratios) * ROW_HEIGHT, 6.0), 18.0)
        figsize = (width, ROW_HEIGHT * len(rows) + (0.4 if title else 0.0))
    fig = new_figure(func, figsize)
    axes = fig.subplots(
        len(rows), len(rows[0]), squeeze=False, gridspec_kw={"width_ratios": ratios}
    )
    if title:
        fig.suptitle(title)
    return fig, axes


def _crosshair(ax, panel: Panel, point: Sequence[int]) -> None:
    ax.axhline(point[panel.rows], **CROSSHAIR)
    ax.axvline(point[panel.cols], **CROSSHAIR)


def _contours(ax, image: np.ndarray, levels: Sequence[float]) -> None:
    if min(image.shape) < 2:  # matplotlib needs at least 2 x 2 samples
        return
    colors = [f"C{(i + 1) % 10}" for i in range(len(levels))]
    ax.contour(image, list(levels), colors=colors, linewidths=1.0)


def draw_rows(
    fig,
    axes,
    rows: Sequence[Sequence[Panel]],
    *,
    limits: Sequence[tuple],
    cmap,
    spacing,
    point=None,
    contours=None,
    label_seed: int = 0,
    label_alpha: float = 0.5,
    colorbar: bool = False,
) -> None:
    """Draw each row of computed panels with its own ``(vmin, vmax)``.

    The grey image is ``ax.images[0]``, the label overlay (if any) ``ax.images[1]``;
    contour lines and crosshairs through ``point`` (when given) go on plane panels.
    """
    for row_axes, row, (vmin, vmax) in zip(axes, rows, limits):
        for ax, panel in zip(row_axes, row):
            im = ax.imshow(
                panel.data, cmap=cmap, vmin=vmin, vmax=vmax, aspect=panel.aspect(spacing)
            )
            if panel.overlay is not None:
                ax.imshow(
                    label_rgba(panel.overlay, seed=label_seed, alpha=label_alpha),
                    interpolation="nearest",
                    aspect=panel.aspect(spacing),
                )
            if contours is not None and panel.plane:
                _contours(ax, panel.data, contours)
            if point is not None and panel.plane:
                _crosshair(ax, panel, point)
            ax.set_title(panel.title)
            ax.set_xlabel(AXIS_NAMES[panel.cols])
            ax.set_ylabel(AXIS_NAMES[panel.rows])
        if colorbar:
            fig.colorbar(im, ax=list(row_axes), shrink=0.8)
