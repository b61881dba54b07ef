"""Reusable test helpers: synthetic volumes, chunkings, assertions, laziness guards.

Shipped with the package so downstream projects can test their own pipelines the way
bigimg tests itself:

* data — :func:`blobs`, :func:`ct_phantom`, :func:`random_volume`, and
  :func:`odd_chunkings`, the named chunkings every blockwise test should pass;
* hypothesis strategies — :func:`chunkings` (every way to cut a given shape into
  blocks) and :func:`shapes_and_chunkings` (a shape and a chunking together);
* assertions — :func:`assert_dask_matches`, :func:`raise_if_dask_computes`,
  :func:`count_computes`;
* :class:`ReaderConformance` — the tests every lazy reader passes; subclass it to
  test a reader of your own.

Optional dependencies are imported only when used: hypothesis when a strategy is
built (``import bigimg.testing`` works without it) and pytest when a
:class:`ReaderConformance` test runs.
"""

from bigimg.testing._assert import (
    assert_dask_matches,
    count_computes,
    raise_if_dask_computes,
)
from bigimg.testing._conformance import ReaderConformance
from bigimg.testing._data import blobs, ct_phantom, odd_chunkings, random_volume
from bigimg.testing._strategies import chunkings, shapes_and_chunkings

__all__ = [
    "ReaderConformance",
    "assert_dask_matches",
    "blobs",
    "chunkings",
    "count_computes",
    "ct_phantom",
    "odd_chunkings",
    "raise_if_dask_computes",
    "random_volume",
    "shapes_and_chunkings",
]
