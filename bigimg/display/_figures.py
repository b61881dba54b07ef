"""Figures of a volume: orthogonal slices, projections, and both in one summary.

Each function validates every argument, builds the lazy images
(:mod:`bigimg.display._planes`), computes them in one ``dask.compute`` and draws them
(:mod:`bigimg.display._draw`). matplotlib is imported only here, when a figure is made.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike

from bigimg.display._colors import _check_alpha, _check_seed
from bigimg.display._docs import fill_doc
from bigimg.display._draw import check_cmap, draw_rows, figure_for
from bigimg.display._orient import orient_panel
from bigimg.display._planes import (
    Panel,
    compute_together,
    contrast_limits,
    plane_panels,
    projection_panels,
)
from bigimg.display._space import Frame, place
from bigimg.display._validate import (
    KINDS,
    check_bool,
    check_contours,
    check_figsize,
    check_labels,
    check_limits,
    check_png_path,
    check_point,
    check_positive,
    check_title,
)
from bigimg.display._window import check_window, warn_if_not_ct

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

    from bigimg.io import Header

__all__ = ["orthoslices", "projection", "summary"]


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of 'max', 'mean', 'min'; got {kind!r}.")
    return kind


def _check_axis(axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an integer; got {axis!r}.")
    if not -3 <= axis < 3:
        raise ValueError(f"`axis` must be in [-3, 3) for a 3-D volume; got {axis!r}.")
    return int(axis) % 3


def _setup(volume, title, *, vmin, vmax, percentiles, percentile_of, window, **space) -> tuple:
    """The shown volume, its :class:`Frame`, contrast limits and the figure's title.

    ``space`` holds the keywords of :func:`place`. The title's second line states the
    series index, the window and the convention. Every figure function calls this
    first, from its own body (the window's warning points at the caller's line).
    """
    vol, frame, header = place(volume, **space)
    window = check_window(window)
    limits = check_limits(vmin, vmax, percentiles, percentile_of)
    if window is not None:
        if limits[:3] != (None, None, None):
            raise ValueError(
                f"`window` sets the display range; it must not be combined with `vmin`, "
                f"`vmax` or `percentiles`; got window={window}, vmin={limits[0]!r}, "
                f"vmax={limits[1]!r}, percentiles={limits[2]!r}. Give one of them."
            )
        limits = (*window.limits, None, limits[3])
        warn_if_not_ct(window, header, stacklevel=3)
    title = check_title(title)
    said = (frame.series_text, None if window is None else str(window), frame.convention_text)
    notes = [text for text in said if text]
    lines = ([title] if title else []) + (["  |  ".join(notes)] if notes else [])
    return vol, frame, limits, "\n".join(lines) or None


def _layout(func, cmap, colorbar, figsize) -> tuple:
    """Colormap, colour bar and size, validated (every figure takes them)."""
    return check_cmap(cmap, func), check_bool(colorbar, "colorbar"), check_figsize(figsize)


def _orient(panels: list[Panel], frame: Frame) -> None:
    """Turn each panel for the frame's convention (nothing without one)."""
    if frame.convention is not None:
        for panel in panels:
            orient_panel(panel, frame.codes, frame.convention)


def _overlays(frame: Frame, shape, labels, contours, label_alpha, label_seed) -> tuple:
    """The label volume and the overlay options of ``draw_rows``, validated."""
    labels = check_labels(labels, shape, frame.index, frame.series)
    style = dict(
        contours=check_contours(contours),
        label_alpha=_check_alpha(label_alpha),
        label_seed=_check_seed(label_seed),
    )
    return labels, style


def _limits(rows, vol, limits) -> list[tuple]:
    return [contrast_limits([p.data for p in row], vol, *limits) for row in rows]


@fill_doc
def orthoslices(
    volume: ArrayLike,
    point: Sequence[int] | None = None,
    *,
    labels: ArrayLike | None = None,
    contours: float | Sequence[float] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: tuple[float, float] | None = None,
    percentile_of: str = "shown",
    window: str | tuple[float, float] | None = None,
    cmap: str | Colormap = "gray",
    spacing: float | Sequence[float] | None = None,
    unit: str | None = None,
    header: Header | None = None,
    index: int | None = None,
    orientation: str | None = None,
    convention: str | None = None,
    label_alpha: float = 0.5,
    label_seed: int = 0,
    colorbar: bool = False,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Three orthogonal planes through a point, with crosshairs and optional overlays.

    The panels show the z plane (y by x), the y plane (z by x) and the x plane (z by
    y) through ``point``, with crosshair lines at the point. Only these planes are
    read: for dask input the three planes (and the label planes) are computed in one
    ``dask.compute`` call, so each block crossing them is read once and no other block
    is read.

    Parameters
    ----------
    %(volume)s
    point : (int, int, int), optional
        Voxel (z, y, x) the planes go through; negative indices count from the end.
        Default: the centre, ``shape // 2``.
    %(overlays)s
    %(contrast)s
    %(spacing)s
    %(figure)s

    %(returns_raises)s

    Notes
    -----
    Memory: the three planes (and label planes) in numpy, plus the blocks dask holds
    while slicing them. ``percentile_of="volume"`` adds a few whole-volume passes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from bigimg.display import orthoslices
    >>> vol = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    >>> fig = orthoslices(vol, (1, 2, 3), spacing=(2.0, 1.0, 1.0), unit="mm")
    >>> [ax.get_title() for ax in fig.axes]
    ['z = 1', 'y = 2', 'x = 3']
    >>> bool((fig.axes[1].images[0].get_array() == vol[:, 2, :]).all())
    True
    >>> fig.axes[1].get_ylabel(), [float(v) for v in fig.axes[1].get_ylim()]  # 2 mm tall
    ('z (mm)', [7.0, -1.0])

    A CT window and the radiological convention, for a volume whose orientation is
    known (from its file's header, or given as axis codes):

    >>> ct = np.full((4, 5, 6), -1000.0)
    >>> fig = orthoslices(ct, window="lung", orientation="SPL", convention="radiological")
    >>> print(fig.get_suptitle())
    W 1500 / L -600 (lung)  |  radiological: patient's left on screen right
    >>> fig.axes[0].images[0].get_clim()
    (-1350.0, 150.0)
    >>> sorted(t.get_text() for t in fig.axes[0].texts)  # the panel's edges
    ['A', 'L', 'P', 'R']
    """
    vol, frame, limits, title = _setup(
        volume,
        title,
        vmin=vmin,
        vmax=vmax,
        percentiles=percentiles,
        percentile_of=percentile_of,
        window=window,
        index=index,
        header=header,
        spacing=spacing,
        unit=unit,
        orientation=orientation,
        convention=convention,
    )
    cmap, colorbar, figsize = _layout("orthoslices", cmap, colorbar, figsize)
    point = check_point(point, vol.shape)
    labels, overlays = _overlays(frame, vol.shape, labels, contours, label_alpha, label_seed)
    rows = [plane_panels(vol, point, labels)]
    _orient(rows[0], frame)
    compute_together(rows[0])
    style = dict(cmap=cmap, frame=frame, colorbar=colorbar, point=point, **overlays)
    fig, axes = figure_for(rows, vol.shape, frame.spacing, figsize, title, "orthoslices")
    draw_rows(fig, axes, rows, limits=_limits(rows, vol, limits), **style)
    return fig


@fill_doc
def projection(
    volume: ArrayLike,
    axis: int = 0,
    *,
    kind: str = "max",
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: tuple[float, float] | None = None,
    percentile_of: str = "shown",
    window: str | tuple[float, float] | None = None,
    cmap: str | Colormap = "gray",
    spacing: float | Sequence[float] | None = None,
    unit: str | None = None,
    header: Header | None = None,
    index: int | None = None,
    orientation: str | None = None,
    convention: str | None = None,
    colorbar: bool = False,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """A maximum, mean or minimum intensity projection along one axis.

    Reads the whole volume once, streaming: for dask input the projection is a dask
    reduction (partial results of a few blocks merged in a tree), so no task holds
    much more than a block, whatever the volume's size.

    Parameters
    ----------
    %(volume)s
    axis : int, optional
        Axis projected out: 0 (z, default), 1 (y) or 2 (x).
    kind : {"max", "mean", "min"}, optional
        Maximum (MIP, default), mean or minimum intensity projection.
    %(contrast)s
    %(spacing)s
    %(figure)s

    %(returns_raises)s

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import dask.array as da
    >>> import numpy as np
    >>> from bigimg.display import projection
    >>> vol = np.random.default_rng(0).random((6, 7, 8))
    >>> fig = projection(da.from_array(vol, chunks=3), axis=1, kind="mean")
    >>> fig.axes[0].get_title(), fig.axes[0].get_xlabel()
    ('mean along y', 'x (voxel)')
    >>> np.allclose(fig.axes[0].images[0].get_array(), vol.mean(axis=1))
    True
    """
    vol, frame, limits, title = _setup(
        volume,
        title,
        vmin=vmin,
        vmax=vmax,
        percentiles=percentiles,
        percentile_of=percentile_of,
        window=window,
        index=index,
        header=header,
        spacing=spacing,
        unit=unit,
        orientation=orientation,
        convention=convention,
    )
    cmap, colorbar, figsize = _layout("projection", cmap, colorbar, figsize)
    axis, kind = _check_axis(axis), _check_kind(kind)
    rows = [projection_panels(vol, [axis], kind)]
    _orient(rows[0], frame)
    compute_together(rows[0])
    fig, axes = figure_for(rows, vol.shape, frame.spacing, figsize, title, "projection")
    limits = _limits(rows, vol, limits)
    draw_rows(fig, axes, rows, limits=limits, cmap=cmap, frame=frame, colorbar=colorbar)
    return fig


@fill_doc
def summary(
    volume: ArrayLike,
    point: Sequence[int] | None = None,
    *,
    kind: str = "max",
    labels: ArrayLike | None = None,
    contours: float | Sequence[float] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: tuple[float, float] | None = None,
    percentile_of: str = "shown",
    window: str | tuple[float, float] | None = None,
    cmap: str | Colormap = "gray",
    spacing: float | Sequence[float] | None = None,
    unit: str | None = None,
    header: Header | None = None,
    index: int | None = None,
    orientation: str | None = None,
    convention: str | None = None,
    label_alpha: float = 0.5,
    label_seed: int = 0,
    colorbar: bool = True,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    dpi: float = 100.0,
) -> Figure:
    """Orthogonal slices over projections in one figure, optionally saved as a PNG.

    Top row: :func:`orthoslices` through ``point``. Bottom row: ``kind`` projections
    along z, y and x, under the plane of the same orientation. The planes, label
    planes and the three projections are computed in one ``dask.compute`` call, so the
    volume is read once. This is what ``bigimg view PATH --out view.png`` draws.

    Parameters
    ----------
    %(volume)s
    point : (int, int, int), optional
        Voxel the planes go through (default: the centre).
    kind : {"max", "mean", "min"}, optional
        Projection of the bottom row (default maximum intensity).
    %(overlays)s
    %(contrast)s
    %(spacing)s
    %(figure)s
    path : str or os.PathLike, optional
        Where to save the figure as PNG (the name must end in ``.png`` and its
        directory exist).
    dpi : float, optional
        Resolution of the saved PNG.

    %(returns_raises)s

    Notes
    -----
    Each row gets its own contrast limits from its own images (a maximum projection is
    brighter than a plane) unless ``vmin``/``vmax``, ``window`` or
    ``percentile_of="volume"`` fix them for both. ``colorbar`` defaults to True here.
    Memory: three planes and three projections in numpy, plus about one block per
    running task.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import os, tempfile
    >>> from bigimg.data import synthetic_ct
    >>> from bigimg.display import summary
    >>> ct = synthetic_ct((32, 32, 32), chunks=16)
    >>> png = os.path.join(tempfile.mkdtemp(), "view.png")
    >>> fig = summary(ct, percentiles=(1, 99), path=png, dpi=50)
    >>> [ax.get_title() for ax in fig.axes[:6]]
    ['z = 16', 'y = 16', 'x = 16', 'max along z', 'max along y', 'max along x']
    >>> open(png, "rb").read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    vol, frame, limits, title = _setup(
        volume,
        title,
        vmin=vmin,
        vmax=vmax,
        percentiles=percentiles,
        percentile_of=percentile_of,
        window=window,
        index=index,
        header=header,
        spacing=spacing,
        unit=unit,
        orientation=orientation,
        convention=convention,
    )
    cmap, colorbar, figsize = _layout("summary", cmap, colorbar, figsize)
    point = check_point(point, vol.shape)
    kind = _check_kind(kind)
    labels, overlays = _overlays(frame, vol.shape, labels, contours, label_alpha, label_seed)
    path, dpi = check_png_path(path), check_positive(dpi, "dpi")
    rows = [plane_panels(vol, point, labels), projection_panels(vol, range(3), kind)]
    _orient(rows[0] + rows[1], frame)
    compute_together(rows[0] + rows[1])
    if limits[2] is not None and limits[3] == "volume":  # one exact pass, shared by rows
        shared = contrast_limits([], vol, *limits)
        row_limits = [shared, shared]
    else:
        row_limits = _limits(rows, vol, limits)
    style = dict(cmap=cmap, frame=frame, colorbar=colorbar, point=point, **overlays)
    fig, axes = figure_for(rows, vol.shape, frame.spacing, figsize, title, "summary")
    draw_rows(fig, axes, rows, limits=row_limits, **style)
    if path is not None:
        fig.savefig(path, format="png", dpi=dpi)
    return fig
