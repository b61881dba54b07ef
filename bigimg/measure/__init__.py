"""Region tables and segmentation clean-up on chunked label volumes.

Names and semantics follow :mod:`skimage.measure`, :mod:`skimage.morphology` and
:mod:`skimage.segmentation`; inputs may be numpy or dask arrays.

>>> from bigimg.measure import regionprops_table, remove_small_objects, clear_border
"""

from bigimg._monitor import shows_progress
from bigimg.measure._cleanup import (
    LabelMap,
    clear_border,
    keep_largest,
    relabel_sequential,
    remove_small_objects,
)
from bigimg.measure._regionprops import INTENSITY_PROPERTIES, PROPERTIES, regionprops_table

__all__ = [
    "INTENSITY_PROPERTIES",
    "PROPERTIES",
    "LabelMap",
    "clear_border",
    "keep_largest",
    "regionprops_table",
    "relabel_sequential",
    "remove_small_objects",
]

# The calls that compute when called show progress as the writers do (dask config
# ``bigimg.progress``, else when stderr is a terminal).
regionprops_table, relabel_sequential, remove_small_objects, keep_largest = map(
    shows_progress, (regionprops_table, relabel_sequential, remove_small_objects, keep_largest)
)
