"""The feature transform of ``distance_transform_bf``: scipy's brute-force tie-breaking.

scipy's brute force compares every foreground voxel with every background voxel on
the border of the foreground and keeps, among the nearest, the one that comes last in
C order (the largest flat index). For the Euclidean metric with integer sampling and
for the city-block metric that choice is the minimum of the key
``(distance, -flat index)`` in lexicographic order; both parts are sums over the axes,
so the key is separable like the distance itself and the same stages as the Euclidean
feature transform compute it exactly, with integer arithmetic and ties resolved by
the larger flat index. (For the chessboard metric the distance is a maximum over axes
and the key is not separable: bigimg then returns another nearest voxel.) The
per-line kernel is the feature transform's, given the strides:
:func:`bigimg._distance._kernels.features_pass`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np

from bigimg._distance import _graph as G
from bigimg._distance import _kernels as K

__all__ = ["bf_features", "exact_ties_possible"]


def _line_coords(local, origin, d) -> np.ndarray:
    """Global coordinates along axes ``0..d-1`` of the block's lines along axis ``d``."""
    grid = np.indices(local[:d], dtype=np.int64).reshape(d, -1).T
    return np.ascontiguousarray(grid + np.asarray(origin[:d], np.int64))


def _bf_stage(block, axes, first, last, sampling, shape, cityblock, block_info=None):
    """The brute-force feature passes of one stage; returns (axes[-1]+1,) + block."""
    lead = 0 if first else 1
    local = block.shape[lead:]
    origin = G._origin(block_info, lead, which=0)
    s = np.asarray(sampling, np.int64)
    strides = np.array([math.prod(shape[k + 1 :]) for k in range(len(shape))], np.int64)
    feat = block[None].astype(np.int32) if first else block
    for d in axes:
        pre, n, post = G._line_view(local, d)
        coords = _line_coords(local, origin, d)
        out = np.empty((d + 1,) + local, np.int32)
        K.features_pass(
            np.ascontiguousarray(feat).reshape(d, pre, n, post),
            coords,
            s,
            strides,
            cityblock,
            out.reshape(d + 1, pre, n, post),
        )
        feat = out
    return feat


def exact_ties_possible(
    metric: str, sampling: Sequence[float] | None, shape: Sequence[int]
) -> bool:
    """Whether :func:`bf_features` can reproduce scipy's choice (integers that fit int64)."""
    if metric == "taxicab":
        return True
    if metric != "euclidean":
        return False
    s = [1.0] * len(shape) if sampling is None else list(sampling)
    if any(v != int(v) for v in s):
        return False
    reach = [n * int(v) for n, v in zip(shape, s, strict=True)]
    return sum(r * r for r in reach) * 4 * max(reach) < 2**62


def bf_features(
    mask: da.Array, metric: str, sampling: Sequence[float] | None, temp_dir=None
) -> da.Array:
    """Feature transform with scipy's brute-force choice among equally near voxels.

    Only for the cases :func:`exact_ties_possible` accepts. Big exchanges between
    stages spill under ``temp_dir``.
    """
    if metric == "taxicab" or sampling is None:  # bf ignores sampling for taxicab
        ints = (1,) * mask.ndim
    else:
        ints = tuple(int(v) for v in sampling)
    return G.run_stages(
        mask,
        _bf_stage,
        lambda last: np.int32,
        lambda axes: (axes[-1] + 1) if axes else 1,
        later=True,
        temp_dir=temp_dir,
        sampling=ints,
        shape=tuple(mask.shape),
        cityblock=metric == "taxicab",
    )
