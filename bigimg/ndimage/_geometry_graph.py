"""Lazy interpolation graphs: one task per output chunk, reading only its input region.

For every output chunk the builder

1. bounds the coordinates scipy would compute for it (:meth:`bounds` of the map: the
   chunk's corners for affine maps, exact per-axis ranges for zoom/shift, per-chunk
   min/max for coordinate arrays and mappings),
2. turns them, axis by axis, into an input region (:func:`axis_region`),
3. depends only on the input blocks that region overlaps, and
4. calls scipy on the region with the coordinates shifted into it.

Three kernels run a chunk. The **separable** kernel runs zoom, shift and diagonal
affine maps (scipy's ``NI_ZoomShift``) with finite coordinates: scipy's exact per-axis
coordinates, shifted into the region, go through scipy's own 1-D taps, applied one axis
at a time (:mod:`bigimg.ndimage._geometry_taps`); every tie and boundary decision is
scipy's, and only the rounding of the sums differs. The **exact** kernel recomputes
scipy's coordinates with scipy's own floating-point operations, subtracts the region
start (an exact operation here: integer start ``a <= c``), and calls
:func:`scipy.ndimage.map_coordinates`; every rounding, tie and boundary decision is then
scipy's. The **fast** kernel (other affine maps) calls
:func:`scipy.ndimage.affine_transform` with a shifted offset; its coordinates may differ
from scipy's in the last bit, which only matters where the interpolant jumps: everywhere
for ``order=0`` (ties), and at the faces for ``constant`` (to ``cval``) and ``wrap`` (its
seam). So the fast kernel runs for ``order >= 1`` on chunks whose region is interior on
every axis and on every chunk in the other modes; on face chunks in ``constant`` mode
it runs too, and the few voxels whose coordinate lies within rounding of a face are then
redone exactly (``near_faces``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from scipy import ndimage as ndi

from bigimg.ndimage._geometry_maps import (
    CoordinateMap,
    MappingMap,
    Params,
    SeparableMap,
    ShiftedMapping,
)
from bigimg.ndimage._geometry_regions import axis_region
from bigimg.ndimage._geometry_taps import separable_interpolate

__all__ = ["build_interpolation"]

#: coordinates per map_coordinates call in the exact kernel (bounds a task's scratch)
_SLAB = 1 << 20
#: modes whose interpolant (order >= 1) is continuous across the array's faces, so the
#: fast kernel's last-bit coordinate differences stay last-bit differences there too;
#: ``constant`` jumps to ``cval`` and ``wrap`` jumps at its seam
_CONTINUOUS = {"nearest", "mirror", "reflect", "grid-mirror", "grid-constant", "grid-wrap"}


# ----------------------------------------------------------------------- the kernel
def _assemble(blocks, local) -> np.ndarray:
    """The region ``local`` of the nested list of blocks, copying only what it needs."""
    nd = len(local)

    def pick(path):
        node = blocks
        for i in path:
            node = node[i]
        return node

    counts, node = [], blocks
    for _ in range(nd):
        counts.append(len(node))
        node = node[0]
    window = tuple(slice(a, b) for a, b in local)
    if all(c == 1 for c in counts):
        return node[window]
    edges = []
    for d in range(nd):
        sizes = [pick((0,) * d + (j,) + (0,) * (nd - d - 1)).shape[d] for j in range(counts[d])]
        edges.append(np.concatenate([[0], np.cumsum(sizes)]))
    out = np.empty(tuple(b - a for a, b in local), dtype=node.dtype)
    for path in itertools.product(*(range(c) for c in counts)):
        src, dst = [], []
        for d, j in enumerate(path):
            lo, hi = max(edges[d][j], local[d][0]), min(edges[d][j + 1], local[d][1])
            src.append(slice(lo - edges[d][j], hi - edges[d][j]))
            dst.append(slice(lo - local[d][0], hi - local[d][0]))
        out[tuple(dst)] = pick(path)[tuple(src)]
    return out


class _Chunk:
    """Everything one output chunk's task needs, as one opaque (cheaply pickled) object."""

    __slots__ = (
        "extent",
        "fast",
        "local",
        "map",
        "nbatch",
        "o0",
        "params",
        "patch",
        "separable",
        "shape",
        "start",
    )

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)


def _run_chunk(blocks, task: _Chunk, coords=None) -> np.ndarray:
    """Compute one output chunk from the input blocks its region overlaps."""
    region = _assemble(blocks, task.local)
    p: Params = task.params
    shape, nbatch, o0, start, tmap = task.shape, task.nbatch, task.o0, task.start, task.map
    out = np.empty(shape, dtype=p.dtype)
    planes = region.reshape((-1, *region.shape[nbatch:]))
    outs = out.reshape((-1, *shape[nbatch:]))
    if task.separable:
        # scipy's coordinates, then ``+ npad`` and ``- start`` as in the exact kernel
        coords = [(c + q) - a for c, q, a in zip(tmap.coords, p.npad, start)]
        return separable_interpolate(region, coords, p.order, p.mode, p.cval, p.dtype)
    if isinstance(tmap, ShiftedMapping):
        ndi.geometric_transform(
            planes[0],
            tmap,
            output_shape=outs.shape[1:],
            output=outs[0],
            order=p.order,
            mode=p.mode,
            cval=p.cval,
            prefilter=False,
        )
        return out
    if task.fast or task.patch:
        if task.patch:  # the same voxels in every plane
            idx, near = tmap.near_faces(o0, shape[nbatch:], start, task.extent, p)
        for plane, o in zip(planes, outs):
            tmap.fast(plane, o, o0, start, p)
            if task.patch and len(idx[0]):
                o[idx] = ndi.map_coordinates(
                    plane,
                    near,
                    output=p.dtype,
                    order=p.order,
                    mode=p.mode,
                    cval=p.cval,
                    prefilter=False,
                )
        return out
    pshape = shape[nbatch:]
    rows = max(1, _SLAB // max(1, len(start) * math.prod(pshape[1:])))
    view = (-1,) + (1,) * len(pshape)
    npad = np.asarray(p.npad, dtype=np.float64).reshape(view)
    first = np.asarray(start, dtype=np.float64).reshape(view)
    for r0 in range(0, pshape[0], rows):
        r1 = min(pshape[0], r0 + rows)
        if coords is not None:
            c = coords[:, r0:r1].astype(np.float64)
        else:
            c = tmap.coordinates((o0[0] + r0, *o0[1:]), (r1 - r0, *pshape[1:]))
        # ``+ npad`` rounds exactly like scipy's ``cc = icoor + nprepad``; ``- start`` is
        # exact (an integer no larger than any coordinate it is taken from)
        if any(p.npad):
            c += npad
        if any(start):
            c -= first
        for plane, o in zip(planes, outs):
            ndi.map_coordinates(
                plane, c, output=o[r0:r1], order=p.order, mode=p.mode, cval=p.cval, prefilter=False
            )
    return out


# ------------------------------------------------------------------------ the graph
def _starts(chunks: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def _block_keys(name: str, ranges: list[range], prefix=()) -> Any:
    if not ranges:
        return (name, *prefix)
    return [_block_keys(name, ranges[1:], (*prefix, i)) for i in ranges[0]]


def build_interpolation(
    coef: da.Array,
    tmap,
    out_shape: tuple[int, ...],
    out_chunks: tuple[tuple[int, ...], ...],
    *,
    order: int,
    mode: str,
    cval,
    dtype: np.dtype,
    npad: int = 0,
    nbatch: int = 0,
    cval_fill=None,
    name: str = "interpolate",
) -> da.Array:
    """The lazy array whose chunks are scipy's interpolation of ``coef``.

    ``coef`` is what scipy reads (input or prefiltered coefficients, pre-padded by
    ``npad`` on the transformed axes). Its first ``nbatch`` axes map to the output's
    first ``nbatch`` axes one to one (``rotate``'s untouched axes); ``tmap`` maps the
    remaining output axes to the remaining input axes. ``cval_fill`` is the value scipy
    writes for ``cval`` in ``dtype`` (used for chunks that fall wholly outside).
    """
    dtype = np.dtype(dtype)
    ndim_t = coef.ndim - nbatch
    params = Params(order, mode, cval, dtype, (npad,) * ndim_t)
    in_starts = [_starts(c) for c in coef.chunks]
    out_starts = [_starts(c) for c in out_chunks]
    extra = [tmap.array] if isinstance(tmap, CoordinateMap) else []
    token = tokenize(
        coef.name,
        getattr(tmap, "__dict__", tmap),
        out_chunks,
        order,
        mode,
        cval,
        dtype,
        npad,
        nbatch,
        [a.name for a in extra],
    )
    oname = f"{name}-{token}"
    dsk = {}
    for idx in itertools.product(*(range(len(c)) for c in out_chunks)):
        o0 = tuple(int(s[i]) for s, i in zip(out_starts, idx))
        o1 = tuple(int(s[i + 1]) for s, i in zip(out_starts, idx))
        shape = tuple(e - s for s, e in zip(o0, o1))
        if isinstance(tmap, CoordinateMap):
            lo, hi = tmap.bounds_of_block(idx)
        else:
            lo, hi = tmap.bounds(o0[nbatch:], o1[nbatch:])
        regions = [
            axis_region(
                float(lo[h]) + npad, float(hi[h]) + npad, coef.shape[nbatch + h], order, mode
            )
            for h in range(ndim_t)
        ]
        key = (oname, *idx)
        if any(r is None for r in regions):
            dsk[key] = (np.full, shape, cval_fill, dtype)
            continue
        spans = [(s, e) for s, e in zip(o0[:nbatch], o1[:nbatch])]
        spans += [(r.start, r.stop) for r in regions]
        ranges, local = [], []
        for (a, b), st in zip(spans, in_starts):
            i0 = int(np.searchsorted(st, a, side="right")) - 1
            i1 = int(np.searchsorted(st, b, side="left")) - 1
            ranges.append(range(i0, i1 + 1))
            local.append((a - int(st[i0]), b - int(st[i0])))
        separable = isinstance(tmap, SeparableMap) and tmap.finite
        fast = order > 0 and tmap.fast_ok and not separable
        interior = all(r.interior for r in regions)
        start = tuple(r.start for r in regions)
        if isinstance(tmap, MappingMap):
            chunk_map = ShiftedMapping(tmap.mapping, tmap.args, tmap.kwargs, o0, params.npad, start)
        elif isinstance(tmap, CoordinateMap):
            chunk_map = None
        else:
            chunk_map = tmap.chunk(o0[nbatch:], o1[nbatch:])
        task = _Chunk(
            params=params,
            shape=shape,
            nbatch=nbatch,
            o0=o0[nbatch:],
            start=start,
            local=tuple(local),
            map=chunk_map,
            fast=fast and (mode in _CONTINUOUS or interior),
            patch=fast and not interior and mode in tmap.patch_modes,
            separable=separable,
            extent=coef.shape[nbatch:],
        )
        args = [_block_keys(coef.name, ranges), task]
        if extra:
            args.append((extra[0].name, 0, *idx))
        dsk[key] = (_run_chunk, *args)
    graph = HighLevelGraph.from_collections(oname, dsk, dependencies=[coef, *extra])
    meta = np.empty((0,) * len(out_shape), dtype=dtype)
    return da.Array(graph, oname, chunks=out_chunks, dtype=dtype, meta=meta)
