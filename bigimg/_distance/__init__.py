"""Exact distance transforms across dask blocks, for any chunking.

Five visible steps, one module each:

* :mod:`bigimg._distance._kernels` — the numba passes along one whole axis of one
  block (squared Euclidean envelope, Euclidean feature transform, city-block and
  chessboard min-plus passes, the raster-order chamfer pass);
* :mod:`bigimg._distance._graph` — the separable transforms' plan and dask graph:
  axis 0 in the input's chunks (column summaries and a scan, no halo), then stages of
  whole lines, and the entry points :func:`edt_distances`, :func:`ft_features`,
  :func:`chamfer_distances`, :func:`features_to_distances`;
* :mod:`bigimg._distance._exchange` — the exchanges between stages through scratch
  files when a layer of chunks is big (:func:`~bigimg._distance._exchange.spill_rechunk`),
  and the chaining of layers that bounds the disk in flight;
* :mod:`bigimg._distance._chain` — scipy's two-pass chamfer run slab by slab in
  scipy's scan order (:func:`chamfer_chain`), its forward result kept in scratch files;
* :mod:`bigimg._distance._bf` — ``distance_transform_bf``'s feature transform with
  scipy's brute-force choice among equally near voxels (:func:`bf_features`).

Everything spilled lives under a :class:`bigimg._scratch.Scratch` prefix (the
``bigimg.scratch`` setting, ``temp_dir=`` per call): a directory (one file per target
block written at disjoint offsets, one ``.npy`` pair per chamfer slab) or an object
store URL prefix with no shared disk (one object per exchanged piece, a pair of raw
objects per chamfer slab). Thresholds are ``dask.config`` keys
(``bigimg.distance-spill-budgets``, ``-spill-min-bytes``, ``-min-task-voxels``).

Owns: distance and feature transforms across blocks (per-line kernels, stage plans and
graphs, disk-backed exchanges, the chamfer slab chain).
May import: numpy, numba and dask; bigimg._scratch.
"""

from bigimg._distance._bf import bf_features, exact_ties_possible
from bigimg._distance._chain import chamfer_chain
from bigimg._distance._graph import (
    chamfer_distances,
    edt_distances,
    features_to_distances,
    ft_features,
)

__all__ = [
    "bf_features",
    "chamfer_chain",
    "chamfer_distances",
    "edt_distances",
    "exact_ties_possible",
    "features_to_distances",
    "ft_features",
]
