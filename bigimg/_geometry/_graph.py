"""Lazy interpolation graphs: one task per output chunk, reading only its input region.

For every output chunk the builder

1. bounds the coordinates scipy would compute for it (:meth:`bounds` of the map: the
   chunk's corners for affine maps, exact per-axis ranges for zoom/shift, per-chunk
   min/max for coordinate arrays and mappings),
2. turns them, axis by axis, into an input region (:func:`axis_region`),
3. depends only on the input blocks that region overlaps, and
4. interpolates the region with the coordinates shifted into it, by one of five kernels.

* **separable** (zoom, shift, diagonal matrices: scipy's ``NI_ZoomShift``, finite
  coordinates): scipy's exact per-axis coordinates go through scipy's own 1-D taps,
  applied one axis at a time (:mod:`bigimg._geometry._taps`). Every tie and
  boundary decision is scipy's; only the rounding of the sums differs.
* **planes** (``rotate`` of volumes): the 2-D taps of the chunk's pixels are found once
  and shared by every plane of the untouched axes (same module).
* **affine** (other affine maps of volumes, 3-D in and out, ``order >= 1``; chunks
  inside the array, and every chunk in ``constant`` mode): numba sums where no boundary
  rule applies; the voxels within rounding of a face are redone at scipy's exact
  coordinates by :func:`scipy.ndimage.map_coordinates`
  (:mod:`bigimg._geometry._affine`).
* **exact**: scipy's coordinates recomputed with scipy's own floating-point operations,
  the region start subtracted (exact here: an integer ``a <= c``), and
  :func:`scipy.ndimage.map_coordinates`; every rounding, tie and boundary decision is
  scipy's. Coordinate arrays, ``order=0`` and what no other kernel takes.
* **fast** (the remaining affine maps, ``order >= 1``):
  :func:`scipy.ndimage.affine_transform` with a shifted offset. Its coordinates may
  differ from scipy's in the last bit, which only matters where the interpolant jumps
  (``constant`` and ``wrap`` faces), so it runs on chunks inside the array and on every
  chunk of the continuous modes; in ``constant`` mode it runs on face chunks too, and
  the voxels within rounding of a face are redone exactly (``near_faces``).

``geometric_transform`` calls scipy with the user's mapping, shifted into the region.
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

from bigimg._geometry._affine import affine_volume
from bigimg._geometry._maps import (
    AffineMap,
    CoordinateMap,
    MappingMap,
    Params,
    SeparableMap,
    ShiftedMapping,
)
from bigimg._geometry._regions import axis_region
from bigimg._geometry._taps import plane_interpolate, scipy_cast, separable_interpolate

__all__ = ["build_interpolation"]

#: coordinates per map_coordinates call in the exact kernel, values per slab of the
#: planes kernel (bounds a task's scratch)
_SLAB = 1 << 20
#: pixels per slab of the planes kernel (their taps take about 100 bytes each)
_PIXELS = 1 << 16
#: modes whose interpolant (order >= 1) is continuous across the array's faces, so the
#: fast kernel's last-bit coordinate differences stay last-bit differences there too;
#: ``constant`` jumps to ``cval`` and ``wrap`` jumps at its seam
_CONTINUOUS = {"nearest", "mirror", "reflect", "grid-mirror", "grid-constant", "grid-wrap"}


# ----------------------------------------------------------------------- the kernel
def _assemble(blocks, local) -> np.ndarray:
    """The window ``local`` of the nested list of blocks, copying only what it needs."""
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
    touched = [
        [j for j in range(counts[d]) if edges[d][j] < local[d][1] and edges[d][j + 1] > local[d][0]]
        for d in range(nd)
    ]
    if all(len(t) == 1 for t in touched):  # inside one block: a view
        path = [t[0] for t in touched]
        return pick(path)[
            tuple(slice(a - e[j], b - e[j]) for (a, b), e, j in zip(local, edges, path))
        ]
    out = np.empty(tuple(b - a for a, b in local), dtype=node.dtype)
    for path in itertools.product(*(range(c) for c in counts)):
        src, dst = [], []
        for d, j in enumerate(path):
            lo, hi = max(edges[d][j], local[d][0]), min(edges[d][j + 1], local[d][1])
            src.append(slice(lo - edges[d][j], hi - edges[d][j]))
            dst.append(slice(lo - local[d][0], hi - local[d][0]))
        if all(d.stop > d.start for d in dst):  # a window may miss some of the blocks
            out[tuple(dst)] = pick(path)[tuple(src)]
    return out


class _Chunk:
    """Everything one output chunk's task needs, as one opaque (cheaply pickled) object."""

    __slots__ = (
        "batch",
        "extent",
        "kernel",
        "local",
        "map",
        "o0",
        "params",
        "patch",
        "shape",
        "start",
    )

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)


def _run_planes(region: np.ndarray, task: _Chunk) -> np.ndarray:
    """The plane kernel: one 2-D map shared by every plane along the ``batch`` axes."""
    p: Params = task.params
    plane = [a for a in range(region.ndim) if a not in task.batch]
    order = (*plane, *task.batch)
    src = region.transpose(order)
    src = src.reshape(*src.shape[:2], -1)
    out = np.empty(task.shape, dtype=p.dtype)
    view = out.transpose(order)
    my, mx = view.shape[:2]
    # values per slab, and pixels (each with its taps along both axes) per slab
    rows = max(1, min(_SLAB // max(1, mx * src.shape[2]), _PIXELS // max(1, mx)))
    for r0 in range(0, my, rows):
        r1 = min(my, r0 + rows)
        c = task.map.coordinates((task.o0[0] + r0, task.o0[1]), (r1 - r0, mx))
        cy, cx = (((c[h] + task.params.npad[h]) - task.start[h]).ravel() for h in (0, 1))
        values = plane_interpolate(src, cy, cx, p.order, p.mode, p.cval)
        view[r0:r1] = scipy_cast(values, p.dtype).reshape(view[r0:r1].shape)
    return out


def _run_affine(region: np.ndarray, task: _Chunk) -> np.ndarray:
    """The affine kernel (volumes): numba inside the array, scipy at its faces."""
    p: Params = task.params
    tmap, o0, start = task.map, task.o0, task.start
    offset = tmap.offset + tmap.matrix @ np.asarray(o0, float) + np.subtract(p.npad, start)
    low = -np.asarray(start, dtype=np.float64)
    high = np.asarray(task.extent, dtype=np.float64) - 1 + low
    values, flag = affine_volume(
        region,
        tmap.matrix,
        offset,
        order=p.order,
        low=low,
        high=high,
        constant=p.mode == "constant",
        cval=p.cval,
        shape=task.shape,
    )
    idx = np.nonzero(flag)
    if len(idx[0]):
        values[idx] = ndi.map_coordinates(
            region,
            tmap.exact_at(idx, o0, start, p),
            output=np.float64,
            order=p.order,
            mode=p.mode,
            cval=p.cval,
            prefilter=False,
        )
    return scipy_cast(values, p.dtype)


def _run_chunk(blocks, task: _Chunk, coords=None) -> np.ndarray:
    """Compute one output chunk from the input blocks its region overlaps."""
    p: Params = task.params
    shape, o0, start, tmap = task.shape, task.o0, task.start, task.map
    if task.kernel == "separable":
        # scipy's coordinates, then ``+ npad`` and ``- start`` as in the exact kernel
        coords = [(c + q) - a for c, q, a in zip(tmap.coords, p.npad, start)]

        def read(window):
            return _assemble(
                blocks, tuple((s + a, s + b) for (s, _), (a, b) in zip(task.local, window))
            )

        size = tuple(b - a for a, b in task.local)
        return separable_interpolate(read, size, coords, p.order, p.mode, p.cval, p.dtype)
    region = _assemble(blocks, task.local)
    if task.kernel == "planes":
        return _run_planes(region, task)
    if task.kernel == "affine":
        return _run_affine(region, task)
    out = np.empty(shape, dtype=p.dtype)
    if isinstance(tmap, ShiftedMapping):
        ndi.geometric_transform(
            region,
            tmap,
            output_shape=shape,
            output=out,
            order=p.order,
            mode=p.mode,
            cval=p.cval,
            prefilter=False,
        )
        return out
    if task.kernel == "fast":
        tmap.fast(region, out, o0, start, p)
        if task.patch:
            idx, near = tmap.near_faces(o0, shape, start, task.extent, p)
            if len(idx[0]):
                out[idx] = ndi.map_coordinates(
                    region,
                    near,
                    output=p.dtype,
                    order=p.order,
                    mode=p.mode,
                    cval=p.cval,
                    prefilter=False,
                )
        return out
    rows = max(1, _SLAB // max(1, len(start) * math.prod(shape[1:])))
    view = (-1,) + (1,) * len(shape)
    npad = np.asarray(p.npad, dtype=np.float64).reshape(view)
    first = np.asarray(start, dtype=np.float64).reshape(view)
    for r0 in range(0, shape[0], rows):
        r1 = min(shape[0], r0 + rows)
        if coords is not None:
            c = coords[:, r0:r1].astype(np.float64)
        else:
            c = tmap.coordinates((o0[0] + r0, *o0[1:]), (r1 - r0, *shape[1:]))
        # ``+ npad`` rounds exactly like scipy's ``cc = icoor + nprepad``; ``- start`` is
        # exact (an integer no larger than any coordinate it is taken from)
        if any(p.npad):
            c += npad
        if any(start):
            c -= first
        ndi.map_coordinates(
            region, c, output=out[r0:r1], order=p.order, mode=p.mode, cval=p.cval, prefilter=False
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
    batch: tuple[int, ...] = (),
    cval_fill=None,
    name: str = "interpolate",
) -> da.Array:
    """The lazy array whose chunks are scipy's interpolation of ``coef``.

    ``coef`` is what scipy reads (input or prefiltered coefficients, pre-padded by
    ``npad`` on the transformed axes). Its ``batch`` axes map to the same output axes one
    to one (``rotate``'s untouched axes; ``tmap`` is then a 2-D :class:`AffineMap`);
    ``tmap`` maps the other output axes to the other input axes, in order. ``cval_fill``
    is the value scipy writes for ``cval`` in ``dtype`` (for chunks wholly outside).
    """
    dtype = np.dtype(dtype)
    batch = tuple(batch)
    axes_in = [a for a in range(coef.ndim) if a not in batch]
    axes_out = [a for a in range(len(out_shape)) if a not in batch]
    params = Params(order, mode, cval, dtype, (npad,) * len(axes_in))
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
        batch,
        [a.name for a in extra],
    )
    oname = f"{name}-{token}"
    extent = tuple(coef.shape[a] for a in axes_in)
    affine_ok = (
        isinstance(tmap, AffineMap)
        and tmap.fast_ok
        and order > 0
        and coef.ndim == len(out_shape) == 3
        and coef.dtype.kind != "c"
        and not np.iscomplexobj(cval)
    )
    dsk = {}
    for idx in itertools.product(*(range(len(c)) for c in out_chunks)):
        o0 = tuple(int(s[i]) for s, i in zip(out_starts, idx))
        o1 = tuple(int(s[i + 1]) for s, i in zip(out_starts, idx))
        shape = tuple(e - s for s, e in zip(o0, o1))
        t0, t1 = tuple(o0[a] for a in axes_out), tuple(o1[a] for a in axes_out)
        if isinstance(tmap, CoordinateMap):
            lo, hi = tmap.bounds_of_block(idx)
        else:
            lo, hi = tmap.bounds(t0, t1)
        regions = [
            axis_region(float(lo[h]) + npad, float(hi[h]) + npad, n, order, mode)
            for h, n in enumerate(extent)
        ]
        key = (oname, *idx)
        if any(r is None for r in regions):
            dsk[key] = (np.full, shape, cval_fill, dtype)
            continue
        spans = {a: (o0[a], o1[a]) for a in batch}
        spans.update({a: (r.start, r.stop) for a, r in zip(axes_in, regions)})
        spans = [spans[a] for a in range(coef.ndim)]
        ranges, local = [], []
        for (a, b), st in zip(spans, in_starts):
            i0 = int(np.searchsorted(st, a, side="right")) - 1
            i1 = int(np.searchsorted(st, b, side="left")) - 1
            ranges.append(range(i0, i1 + 1))
            local.append((a - int(st[i0]), b - int(st[i0])))
        interior = all(r.interior for r in regions)
        start = tuple(r.start for r in regions)
        patch = False
        if batch:
            kernel = "planes"
        elif isinstance(tmap, SeparableMap) and tmap.finite:
            kernel = "separable"
        elif affine_ok and (interior or mode == "constant"):
            kernel = "affine"
        elif order > 0 and tmap.fast_ok and (mode in _CONTINUOUS or interior):
            kernel = "fast"
        elif order > 0 and tmap.fast_ok and mode in tmap.patch_modes:
            kernel, patch = "fast", True
        else:
            kernel = "exact"
        if isinstance(tmap, MappingMap):
            chunk_map = ShiftedMapping(tmap.mapping, tmap.args, tmap.kwargs, o0, params.npad, start)
        elif isinstance(tmap, CoordinateMap):
            chunk_map = None
        else:
            chunk_map = tmap.chunk(t0, t1)
        task = _Chunk(
            local=tuple(local),
            map=chunk_map,
            params=params,
            shape=shape,
            batch=batch,
            o0=t0,
            start=start,
            kernel=kernel,
            patch=patch,
            extent=extent,
        )
        args = [_block_keys(coef.name, ranges), task]
        if extra:
            args.append((extra[0].name, 0, *idx))
        dsk[key] = (_run_chunk, *args)
    graph = HighLevelGraph.from_collections(oname, dsk, dependencies=[coef, *extra])
    meta = np.empty((0,) * len(out_shape), dtype=dtype)
    return da.Array(graph, oname, chunks=out_chunks, dtype=dtype, meta=meta)
