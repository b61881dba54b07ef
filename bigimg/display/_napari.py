"""Open a volume (and its labels) in napari, lazily, when napari is installed."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike

from bigimg.display._validate import (
    check_bool,
    check_labels,
    check_limits,
    check_spacing,
    check_volume,
)

if TYPE_CHECKING:
    import napari

__all__ = ["view"]

NAPARI_HINT = 'pip install "napari[all]"'


def _check_name(name: Any, param: str) -> str | None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`{param}` must be a string or None; got {name!r}.")
    return name


def view(
    volume: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    name: str | None = None,
    labels_name: str | None = None,
    spacing: float | Sequence[float] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    colormap: str = "gray",
    show: bool = True,
) -> napari.Viewer:
    """Open ``volume`` in a napari viewer, lazily, with ``labels`` as a Labels layer.

    napari slices dask arrays itself, reading only the blocks of the plane on screen,
    so a volume larger than memory can be browsed. Nothing is computed here (unless
    napari, given no ``vmin``/``vmax``, samples the data to guess contrast limits).

    Parameters
    ----------
    volume : numpy or dask array, 3-D, real dtype
        Axis order (plane, row, column). Other array-likes (zarr) are wrapped with
        :func:`dask.array.from_array`.
    labels : numpy or dask array of int or bool, optional
        A label volume of the same shape, added as a napari Labels layer.
    name, labels_name : str, optional
        Layer names (default ``"image"`` and ``"labels"``).
    spacing : float or (float, float, float), optional
        Physical voxel size along (z, y, x), given to napari as the layers' ``scale``.
    vmin, vmax : float, optional
        Contrast limits; give both or neither (napari then picks them).
    colormap : str, optional
        napari colormap of the image layer.
    show : bool, optional
        Show the window (False for scripts that only build the viewer).

    Returns
    -------
    napari.Viewer
        In a script, call ``napari.run()`` afterwards to keep the window open; in
        IPython or Jupyter run ``%%gui qt`` first.

    Raises
    ------
    ImportError
        If napari is not installed (install it with ``pip install "napari[all]"``).
    TypeError, ValueError
        For a bad argument (checked before napari is imported).

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg.display import view
    >>> viewer = view(np.zeros((4, 5, 6)), spacing=(2, 1, 1))  # doctest: +SKIP
    """
    vol = check_volume(volume)
    labels = check_labels(labels, vol.shape)
    name, labels_name = _check_name(name, "name"), _check_name(labels_name, "labels_name")
    spacing = check_spacing(spacing)
    vmin, vmax, _, _ = check_limits(vmin, vmax, None, "shown")
    if (vmin is None) != (vmax is None):
        raise ValueError(
            f"`vmin` and `vmax` must be given together; got vmin={vmin!r}, vmax={vmax!r}."
        )
    if not isinstance(colormap, str):
        raise TypeError(f"`colormap` must be a napari colormap name; got {colormap!r}.")
    show = check_bool(show, "show")
    try:
        napari = importlib.import_module("napari")
    except ImportError as err:
        raise ImportError(
            f"bigimg.view opens napari, which is not installed; install it with: {NAPARI_HINT}"
        ) from err
    viewer = napari.Viewer(title=name or "bigimg", show=show)
    image_kwargs = {"name": name or "image", "scale": spacing, "colormap": colormap}
    if vmin is not None:
        image_kwargs["contrast_limits"] = (vmin, vmax)
    viewer.add_image(vol, **image_kwargs)
    if labels is not None:
        viewer.add_labels(labels, name=labels_name or "labels", scale=spacing)
    return viewer
