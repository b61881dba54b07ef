"""bigimg: scipy.ndimage for 3-D volumes larger than memory, on dask.

>>> from bigimg import ndimage          # the drop-in for scipy.ndimage
>>> from bigimg import open_raw, save_zarr
"""

from bigimg._errors import ArgumentError, BigimgWarning, IncompleteOutputError

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "BigimgWarning",
    "IncompleteOutputError",
    "__version__",
]
