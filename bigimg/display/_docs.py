"""Parameter descriptions shared by the figure functions (written once, filled in)."""

from __future__ import annotations

from bigimg._docs import DocFiller

__all__ = ["fill_doc"]

_DOCS = {
    "volume": """
        volume : numpy or dask array, 3-D, real dtype
            Axis order (plane, row, column), shown as (z, y, x). Other array-likes with
            ``shape``, ``dtype`` and slicing (a zarr array) are wrapped with
            :func:`dask.array.from_array`.""",
    "contrast": """
        vmin, vmax : float, optional
            Intensities mapped to the ends of ``cmap``. A missing one is the minimum /
            maximum of the images shown, shared by the panels of a row.
        percentiles : (float, float), optional
            Contrast from percentiles instead, e.g. ``(1, 99)``; not with ``vmin``/``vmax``.
        percentile_of : {"shown", "volume"}, optional
            ``"shown"`` (default, cheap): percentiles of the images in the figure, NaNs
            ignored. ``"volume"``: exact percentiles of the whole volume by
            :func:`bigimg.stats.percentile`, which reads the whole volume a few times.
        cmap : str or matplotlib Colormap, optional
            Colormap of the intensities (default ``"gray"``).""",
    "spacing": """
        spacing : float or (float, float, float), optional
            Physical voxel size along (z, y, x). Sets each panel's aspect ratio
            (``spacing[row axis] / spacing[column axis]``) and the relative panel widths.""",
    "overlays": """
        labels : numpy or dask array of int or bool, optional
            A label volume of the same shape, drawn over the planes: one random but
            deterministic colour per label id (see :func:`label_colors`), 0 transparent.
            It is read on the shown planes only, in the same compute as the image.
        contours : float or sequence of float, optional
            Increasing intensity levels drawn as contour lines on the planes, like
            ``plt.contour(f, [50, 200])``.
        label_alpha : float, optional
            Opacity of the label overlay (default 0.5).
        label_seed : int, optional
            Seed of the label colours.""",
    "figure": """
        colorbar : bool, optional
            Add a colour bar to each row of panels.
        figsize : (float, float), optional
            Figure size in inches; by default from the panels' physical shapes.
        title : str, optional
            Figure title.""",
    "returns": """
        matplotlib.figure.Figure
            Not managed by pyplot: it is shown when it is a notebook cell's value and
            freed when dropped; save it with ``fig.savefig(...)``. Each panel's image is
            ``ax.images[0]`` (its data: ``ax.images[0].get_array()``).""",
}


#: Fills ``%(name)s`` in the figure functions' docstrings (see :mod:`bigimg._docs`).
fill_doc = DocFiller(_DOCS)
fill_doc = fill_doc.extend(
    # the Returns and Raises sections of every figure function
    returns_raises=fill_doc.fill(
        """
    Returns
    -------
    %(returns)s

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    TypeError, ValueError
        For a bad argument, before anything is read."""
    )
)
