"""Argument checks shared by the whole-volume statistics.

The statistics themselves are passes of the table engine (:mod:`bigimg._tables`): one
small result per block merged in a tree of tasks (:func:`bigimg._tables.tree_pass`),
order keys and min/max (:mod:`bigimg._tables._keys`) and the selection of order
statistics (:mod:`bigimg._tables._select`). Here: what every statistic checks first.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np

from bigimg._args import as_dask
from bigimg._tables import FLOAT_SIZES

__all__ = ["as_real_dask", "known_shape"]


def known_shape(x: da.Array, name: str) -> da.Array:
    """``x`` itself, after checking that its chunk sizes are known."""
    if any(np.isnan(c) for cs in x.chunks for c in cs):
        raise ValueError(
            f"`{name}` has unknown chunk sizes (e.g. after boolean indexing); "
            f"call {name}.compute_chunk_sizes() first."
        )
    return x


def as_real_dask(x: Any, name: str = "image") -> da.Array:
    """``x`` as a dask array of a real (bool, integer or float) dtype and known shape."""
    x = known_shape(as_dask(x, name=name), name)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must have a real dtype (bool, integer or float); got {x.dtype}.")
    if x.dtype.kind == "f" and x.dtype.itemsize not in FLOAT_SIZES:
        raise NotImplementedError(
            f"`{name}` of dtype {x.dtype} is not supported; cast it to float64 first."
        )
    return x
