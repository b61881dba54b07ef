"""The feature transform of ``distance_transform_bf``: scipy's brute-force tie-breaking.

scipy's brute force compares every foreground voxel with every background voxel on
the border of the foreground and keeps, among the nearest, the one that comes last in
C order (the largest flat index). For the Euclidean metric with integer sampling and
for the city-block metric that choice is the minimum of the key
``(distance, -flat index)`` in lexicographic order; both parts are sums over the axes,
so the key is separable like the distance itself and the same stages as the Euclidean
feature transform compute it exactly, with integer arithmetic and ties resolved by
the larger flat index. (For the chessboard metric the distance is a maximum over axes
and the key is not separable: bigimg then returns another nearest voxel.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np
from numba import njit

from bigimg._distance import _graph as G

__all__ = ["bf_features", "exact_ties_possible"]


@njit(cache=True, nogil=True)
def _euclidean_line(nsite, pos, wr, flat, n, sd, stack, choice):
    """Maurer's elimination in integers; among equally near sites the largest ``flat``."""
    top = -1
    for k in range(nsite):
        while top >= 1:
            i1 = stack[top]
            i2 = stack[top - 1]
            a = (pos[i1] - pos[i2]) * sd
            b = (pos[k] - pos[i1]) * sd
            c = a + b
            if c * wr[i1] - b * wr[i2] - a * wr[k] - a * b * c <= 0:
                break
            top -= 1
        top += 1
        stack[top] = k
    top_max = top
    top = 0
    for i in range(n):
        t = (pos[stack[top]] - i) * sd
        delta1 = wr[stack[top]] + t * t
        while top < top_max:
            t = (pos[stack[top + 1]] - i) * sd
            delta2 = wr[stack[top + 1]] + t * t
            if delta1 <= delta2:
                break
            delta1 = delta2
            top += 1
        best = stack[top]
        j = top + 1
        while j <= top_max:  # equally near sites are next to each other on the stack
            t = (pos[stack[j]] - i) * sd
            if wr[stack[j]] + t * t != delta1:
                break
            if flat[stack[j]] > flat[best]:
                best = stack[j]
            j += 1
        choice[i] = best


@njit(cache=True, nogil=True)
def _better(v1, f1, v2, f2):
    return v1 < v2 or (v1 == v2 and f1 > f2)


@njit(cache=True, nogil=True)
def _cityblock_line(nsite, pos, wr, flat, n, stack, choice):
    """Nearest site in ``wr[y] + |x - pos[y]|``; among equals the largest ``flat``."""
    k = -1  # best site at or before x: minimises wr - pos (x is added to all)
    s = 0
    for i in range(n):
        while s < nsite and pos[s] <= i:
            if k < 0 or _better(wr[s] - pos[s], flat[s], wr[k] - pos[k], flat[k]):
                k = s
            s += 1
        stack[i] = k
    k = -1  # best site at or after x: minimises wr + pos
    s = nsite - 1
    for i in range(n - 1, -1, -1):
        while s >= 0 and pos[s] >= i:
            if k < 0 or _better(wr[s] + pos[s], flat[s], wr[k] + pos[k], flat[k]):
                k = s
            s -= 1
        left = stack[i]
        if left < 0:
            choice[i] = k
        elif k < 0:
            choice[i] = left
        else:
            vl = wr[left] + i - pos[left]
            vr = wr[k] + pos[k] - i
            choice[i] = k if _better(vr, flat[k], vl, flat[left]) else left


@njit(cache=True, nogil=True)
def bf_envelope_pass(feat, coords, s, strides, cityblock, out):
    """One pass of the brute-force feature transform along the middle axis of ``feat``.

    Like :func:`bigimg._distance._kernels.ft_envelope_pass`, but distances are
    integers (integer ``s``; ``cityblock`` sums absolute offsets instead of squares)
    and ties go to the largest flat index (``strides`` are the whole array's).
    """
    d, pre, n, post = feat.shape
    pos = np.empty(n, np.int64)
    wr = np.empty(n, np.int64)
    flat = np.empty(n, np.int64)
    fc = np.empty((n, d), np.int64)
    stack = np.empty(n, np.int64)
    choice = np.empty(n, np.int64)
    sd = s[d]
    for p in range(pre):
        for q in range(post):
            nsite = 0
            for i in range(n):
                if feat[0, p, i, q] >= 0:
                    pos[nsite] = i
                    w = 0
                    fl = i * strides[d]
                    for jj in range(d):
                        f = feat[jj, p, i, q]
                        fc[nsite, jj] = f
                        t = (f - coords[p, jj]) * s[jj]
                        w += abs(t) if cityblock else t * t
                        fl += f * strides[jj]
                    wr[nsite] = w
                    flat[nsite] = fl
                    nsite += 1
            if nsite == 0:
                for i in range(n):
                    out[0, p, i, q] = -1
                    for jj in range(1, d + 1):
                        out[jj, p, i, q] = 0
                continue
            if cityblock:
                _cityblock_line(nsite, pos, wr, flat, n, stack, choice)
            else:
                _euclidean_line(nsite, pos, wr, flat, n, sd, stack, choice)
            for i in range(n):
                k = choice[i]
                for jj in range(d):
                    out[jj, p, i, q] = fc[k, jj]
                out[d, p, i, q] = pos[k]


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
        grid = np.indices(local[:d], dtype=np.int64).reshape(d, -1).T
        coords = np.ascontiguousarray(grid + np.asarray(origin[:d], np.int64))
        out = np.empty((d + 1,) + local, np.int32)
        bf_envelope_pass(
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
