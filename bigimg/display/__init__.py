"""Look at volumes in notebooks: slices, projections and overlays, computed lazily.

Figures read only what they show: :func:`orthoslices` reads the blocks crossing three
planes, in one ``dask.compute``; :func:`projection` and :func:`summary` stream the
volume once through dask reductions. They return :class:`matplotlib.figure.Figure`
objects (matplotlib is optional: ``pip install "bigimg[display]"``; it is imported
only when a figure is drawn). :func:`view` opens napari, when installed, on the lazy
array.

Figures are drawn in physical space when the spacing is known (from ``spacing=`` or
the file's header): axes in millimetres (or the file's unit), panels of their true
shape. For medical images they take CT ``window`` presets, the ``radiological`` or
``neurological`` ``convention`` (when the header gives the patient orientation) and a
4-D series' ``index``; see ``docs/spacing.md``.

>>> from bigimg.display import orthoslices, projection, summary, view
"""

from bigimg.display._colors import label_colormap, label_colors, label_rgba
from bigimg.display._figures import orthoslices, projection, summary
from bigimg.display._napari import view

__all__ = [
    "label_colormap",
    "label_colors",
    "label_rgba",
    "orthoslices",
    "projection",
    "summary",
    "view",
]
