"""Reusable test helpers: synthetic volumes, chunkings, assertions, laziness guards.

Shipped with the package so downstream projects can test their own pipelines the way
bigimg tests itself.
"""

from bigimg.testing._assert import (
    assert_dask_matches,
    count_computes,
    raise_if_dask_computes,
)
from bigimg.testing._data import blobs, ct_phantom, odd_chunkings, random_volume

__all__ = [
    "assert_dask_matches",
    "blobs",
    "count_computes",
    "ct_phantom",
    "odd_chunkings",
    "raise_if_dask_computes",
    "random_volume",
]
