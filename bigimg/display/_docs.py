"""Parameter descriptions shared by the figure functions (written once, filled in)."""

from __future__ import annotations

from bigimg._docs import DocFiller

__all__ = ["fill_doc"]

_DOCS = {
    "volume": """
        volume : numpy or dask array, 3-D or 4-D, real dtype
            Axis order (plane, row, column), shown as (z, y, x); a 4-D array has a
            leading time or channel axis, of which volume ``index`` is shown. Other
            array-likes with ``shape``, ``dtype`` and slicing (a zarr array) are wrapped
            with :func:`dask.array.from_array`. An array straight from a file reader
            (``bigimg.open``) brings its header: spacing, unit and orientation.""",
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
        window : str or (float, float), optional
            CT window/level for the display range only (the data are not changed): a
            preset -- ``"brain"`` (W 80 / L 40), ``"lung"`` (W 1500 / L -600),
            ``"mediastinum"`` (W 350 / L 50), ``"soft tissue"`` and ``"abdomen"`` (W 400
            / L 50), ``"liver"`` (W 150 / L 30), ``"bone"`` (W 1800 / L 400), in
            Hounsfield units -- or ``(level, width)``. Maps ``level - width / 2`` to
            black and ``level + width / 2`` to white and is stated in the figure's
            title, e.g. "W 1500 / L -600 (lung)". Not with ``vmin``/``vmax``/``percentiles``.
        cmap : str or matplotlib Colormap, optional
            Colormap of the intensities (default ``"gray"``).""",
    "spacing": """
        spacing : float or (float, float, float), optional
            Physical voxel size along (z, y, x); default: the header's (see ``header``),
            else none (axes in voxels). Panels are drawn in physical coordinates, voxel
            ``i`` at ``i * spacing`` (0 at the first voxel's centre), on equal-aspect
            axes: anisotropic voxels keep their true shape and ticks are in the unit.
        unit : str, optional
            Unit of the spacing for the axis labels, e.g. ``"mm"`` ("z (mm)"); default:
            the header's (``"millimeter"`` is shown as mm). Needs a spacing.
        header : bigimg.io.Header, optional
            The file header the volume's grid comes from, for a volume that does not
            carry it (a filtered or numpy copy): ``header=bigimg.io.header(path)``. Its
            shape must be the volume's (or, for one volume of a 4-D file, the file's
            shape without its leading axis). Default: ``bigimg.io.header(volume)``,
            which an array straight from a reader has.
        index : int, optional
            Which volume of a 4-D series (leading axis) to show; default 0, stated in
            the title. Only for 4-D input; only that volume is read.
        orientation : str, optional
            Three axis codes (z, y, x): the patient direction each index increases
            toward, R/L, A/P, S/I (nibabel's ``aff2axcodes`` letters), e.g. ``"SPL"``
            for a usual axial DICOM series. Default: from the header's direction and
            world frame (NIfTI RAS, DICOM LPS, NRRD). When known, each panel edge is
            labelled with its patient direction.
        convention : {"radiological", "neurological"}, optional
            Show the planes the medical way: the patient's left on screen right
            (radiological) or left (neurological), anterior up on axial and superior up
            on coronal and sagittal panels (sagittal: anterior on the left). Panels are
            transposed when the left-right axis lies along their rows; the convention is
            stated in the title. Needs the orientation: without it (no header, or one
            without a patient frame) a ``ValueError`` is raised rather than a guess.""",
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
        For a bad argument (an unknown window preset, a convention for a volume of
        unknown orientation, ...), before anything is read."""
    )
)
