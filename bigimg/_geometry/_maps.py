"""Coordinate maps of the geometric transforms: output voxel -> scipy's input coordinate.

Each map bounds the coordinates of an output chunk (to find its input region), and
reproduces scipy's coordinates bit for bit, in scipy's own floating-point operation
order, for the exact kernel: ``AffineMap`` (``NI_GeometricTransform`` with a matrix:
``offset`` first, then ``o_0 m_0``, ``o_1 m_1``, ...), ``SeparableMap`` (``NI_ZoomShift``:
zoom, shift, diagonal affine), ``CoordinateMap`` (``map_coordinates``) and ``MappingMap``
(``geometric_transform``). Maps that allow the fast kernel also find the few voxels
whose coordinate lies within rounding of a face (``near_faces``), to redo them exactly.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable, Sequence

import dask.array as da
import numpy as np
from scipy import LowLevelCallable
from scipy import ndimage as ndi

__all__ = [
    "SLACK",
    "AffineMap",
    "CoordinateMap",
    "LowLevelMapping",
    "MappingMap",
    "Params",
    "SeparableMap",
    "ShiftedMapping",
]

#: slack (voxels) around corner-derived bounds and face bands: covers the rounding
#: differences between scipy's sums and any other evaluation order
SLACK = 1e-6


class Params:
    """What every chunk's kernel needs besides the map (small, pickled per task)."""

    __slots__ = ("cval", "dtype", "mode", "npad", "order")

    def __init__(self, order, mode, cval, dtype, npad):
        self.order, self.mode, self.cval = order, mode, cval
        self.dtype, self.npad = np.dtype(dtype), tuple(npad)


class AffineMap:
    """``c = offset + matrix @ o`` with scipy's summation order (offset first)."""

    patch_modes = frozenset({"constant"})

    def __init__(self, matrix: np.ndarray, offset: np.ndarray):
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        self.offset = np.ascontiguousarray(offset, dtype=np.float64)
        self.fast_ok = bool(np.isfinite(self.matrix).all() and np.isfinite(self.offset).all())

    def bounds(self, o0, o1):
        corners = np.array(list(itertools.product(*zip(o0, (e - 1 for e in o1)))), float)
        with np.errstate(all="ignore"):
            c = self.offset[None, :] + corners @ self.matrix.T
        lo, hi = c.min(axis=0), c.max(axis=0)
        slack = SLACK * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
        return lo - slack, hi + slack

    def chunk(self, o0, o1):
        return self

    def coordinates(self, o0, shape):
        """scipy's coordinates for the output box at ``o0`` of ``shape``.

        ``((offset + o_0 m_0) + o_1 m_1) + ...`` in scipy's order; all but the last sum
        are broadcast (small), so the full box is written once per input axis.
        """
        grids = [
            g.astype(np.float64)
            for g in np.ogrid[tuple(slice(s, s + n) for s, n in zip(o0, shape))]
        ]
        out = np.empty((len(self.offset), *shape))
        for h in range(len(self.offset)):
            partial = self.offset[h]
            for g, m in zip(grids[:-1], self.matrix[h, :-1]):
                partial = partial + g * m
            np.add(partial, grids[-1] * self.matrix[h, -1], out=out[h])
        return out

    def near_faces(self, o0, shape, start, extent, p: Params):
        """Output voxels whose coordinate lies within rounding of a face, and their
        exact (scipy's) coordinates in the region.

        Along the last output axis each coordinate is linear, so every line of the chunk
        meets the band ``|c - t| <= slack`` around a face ``t`` in one short run of
        voxels (one voxel of margin each side); only those runs are visited. A voxel in
        two runs is listed twice, harmlessly.
        """
        lead = [
            g.astype(np.float64)
            for g in np.ogrid[tuple(slice(s, s + n) for s, n in zip(o0[:-1], shape[:-1]))]
        ]
        length, first = shape[-1], o0[-1]
        rows, starts, stops = [], [], []
        for h in range(len(self.offset)):
            base = self.offset[h] + p.npad[h]
            for g, m in zip(lead, self.matrix[h, :-1]):
                base = base + g * m
            base = np.broadcast_to(base, shape[:-1]).reshape(-1)
            m = self.matrix[h, -1]
            for t in (0.0, extent[h] - 1.0):
                eps = SLACK * (1.0 + abs(t))
                if m == 0:
                    k0 = np.where(np.abs(base - t) <= eps, 0, length)
                    k1 = np.full(len(base), length)
                else:
                    a, b = (t - eps - base) / m, (t + eps - base) / m
                    k0 = np.floor(np.minimum(a, b)) - first - 1
                    k1 = np.ceil(np.maximum(a, b)) - first + 2
                k0 = np.clip(k0, 0, length).astype(np.int64)
                k1 = np.clip(k1, 0, length).astype(np.int64)
                hit = np.flatnonzero(k1 > k0)
                rows.append(hit)
                starts.append(k0[hit])
                stops.append(k1[hit])
        rows, starts, stops = (np.concatenate(v) for v in (rows, starts, stops))
        counts = stops - starts
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        last = np.arange(int(counts.sum())) - offsets + np.repeat(starts, counts)
        lead_idx = np.unravel_index(np.repeat(rows, counts), shape[:-1]) if lead else ()
        idx = (*lead_idx, last)
        return idx, self.exact_at(idx, o0, start, p)

    def exact_at(self, idx, o0, start, p: Params) -> np.ndarray:
        """scipy's coordinates of the output voxels ``idx`` (indices in the box at ``o0``),
        in the frame of the region starting at ``start``."""
        coords = np.empty((len(self.offset), len(idx[0])))
        for h in range(len(self.offset)):
            c = self.offset[h]
            for i, s, m in zip(idx, o0, self.matrix[h]):
                c = c + (i + s).astype(np.float64) * m
            coords[h] = (c + p.npad[h]) - start[h]
        return coords

    def fast(self, plane, out, o0, start, p: Params):
        offset = self.offset + self.matrix @ np.asarray(o0, float) + np.subtract(p.npad, start)
        ndi.affine_transform(
            plane,
            self.matrix,
            offset,
            output_shape=out.shape,
            output=out,
            order=p.order,
            mode=p.mode,
            cval=p.cval,
            prefilter=False,
        )


class SeparableMap:
    """Per-axis coordinates ``c_h = coords[h][o_h]`` (zoom, shift, diagonal affine).

    ``coords`` holds scipy's exact per-axis coordinates over the whole output axis
    (computed by the caller with scipy's operations). When they are all finite, chunks
    run the separable kernel (:mod:`bigimg._geometry._taps`); otherwise the
    exact kernel.
    """

    fast_ok = False
    patch_modes = frozenset()

    def __init__(self, coords: Sequence[np.ndarray], *, _o0=None):
        self.coords = [np.asarray(c, dtype=np.float64) for c in coords]
        self._o0 = _o0
        self.finite = all(bool(np.isfinite(c).all()) for c in self.coords)

    def bounds(self, o0, o1):
        lo, hi = [], []
        for c, s, e in zip(self.coords, o0, o1):
            part = c[s:e]
            ok = np.isfinite(part).all()
            lo.append(part.min() if ok else np.nan)
            hi.append(part.max() if ok else np.nan)
        return np.array(lo), np.array(hi)

    def chunk(self, o0, o1):
        """The slice of this map one task needs (keeps tasks small)."""
        parts = [c[s:e] for c, s, e in zip(self.coords, o0, o1)]
        return SeparableMap(parts, _o0=tuple(o0))

    def coordinates(self, o0, shape):
        rel = [s - b for s, b in zip(o0, self._o0)]
        out = np.empty((len(self.coords), *shape))
        for h, (c, r, n) in enumerate(zip(self.coords, rel, shape)):
            view = [1] * len(shape)
            view[h] = n
            out[h] = c[r : r + n].reshape(view)
        return out


class CoordinateMap:
    """Explicit coordinates (``map_coordinates``): a dask array ``(irank, *out_shape)``."""

    fast_ok = False
    patch_modes = frozenset()

    def __init__(self, coords: da.Array, block_bounds: np.ndarray):
        self.array = coords
        self.block_bounds = block_bounds  # (2 * irank, *numblocks of the output)
        self.irank = coords.shape[0]

    def bounds_of_block(self, idx):
        b = self.block_bounds[(slice(None), *idx)]
        return b[: self.irank], b[self.irank :]


#: scipy's C mapping of ``geometric_transform``:
#: ``int f(npy_intp *out, double *in, int out_rank, int in_rank, void *user_data)``
_C_MAPPING = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_ssize_t),
    ctypes.POINTER(ctypes.c_double),
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_void_p,
)
_capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
    ("PyCapsule_GetName", ctypes.pythonapi)
)
_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi)
)
_capsule_context = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(
    ("PyCapsule_GetContext", ctypes.pythonapi)
)


def _is_low_level(mapping) -> bool:
    """What scipy runs as compiled code: a ``LowLevelCallable`` or a bare PyCapsule."""
    return isinstance(mapping, LowLevelCallable) or type(mapping).__name__ == "PyCapsule"


class LowLevelMapping:
    """A compiled ``geometric_transform`` mapping (scipy ``LowLevelCallable`` or
    PyCapsule), callable from Python like a Python mapping.

    The chunked transform calls its mapping from Python (every output voxel for the
    bounds, then shifted to each chunk's region); this calls the same C function with
    the same user data as scipy does, so the coordinates are scipy's doubles. scipy
    passes no ``extra_arguments``/``extra_keywords`` to a compiled mapping, nor does
    this. A compiled function lives in its process: the graph runs on the threaded or
    synchronous scheduler, not on distributed workers (pickling raises ``TypeError``).
    """

    def __init__(self, mapping, irank: int):
        # scipy's own resolution of function pointer and user data (the raw capsule
        # that scipy's C code reads), kept alive with the objects that own them
        self._callable = (
            mapping if isinstance(mapping, LowLevelCallable) else LowLevelCallable(mapping)
        )
        raw = tuple.__getitem__(self._callable, 0)
        self._pointer = _capsule_pointer(raw, _capsule_name(raw))
        self._context = _capsule_context(raw)
        self._function = _C_MAPPING(self._pointer)
        self.irank = int(irank)

    def __call__(self, out, *args, **kwargs):
        coords = (ctypes.c_ssize_t * len(out))(*(int(o) for o in out))
        result = (ctypes.c_double * self.irank)()
        if not self._function(coords, result, len(out), self.irank, self._context):
            raise RuntimeError("unknown error in mapping function")  # scipy's words
        return tuple(result)

    def __dask_tokenize__(self):
        return ("bigimg-low-level-mapping", self._pointer, self._context, self.irank)

    def __reduce__(self):
        raise TypeError(
            "a compiled (LowLevelCallable) `mapping` cannot be sent to another process; "
            "compute with the threaded or synchronous scheduler, or pass a Python mapping."
        )


class MappingMap:
    """A mapping ``output coords -> input coords`` (``geometric_transform``): a Python
    callable, or a compiled one (:class:`LowLevelMapping`)."""

    fast_ok = False
    patch_modes = frozenset()

    def __init__(self, mapping: Callable, args: tuple, kwargs: dict, irank: int):
        if _is_low_level(mapping):
            mapping = LowLevelMapping(mapping, irank)
        self.mapping, self.args, self.kwargs, self.irank = mapping, args, kwargs, irank

    def bounds(self, o0, o1):
        """Exact bounds: the mapping evaluated on every voxel of the chunk."""
        lo = np.full(self.irank, np.inf)
        hi = np.full(self.irank, -np.inf)
        for o in itertools.product(*(range(s, e) for s, e in zip(o0, o1))):
            c = np.asarray(self.mapping(o, *self.args, **self.kwargs), dtype=np.float64)
            lo, hi = np.minimum(lo, c), np.maximum(hi, c)
        return lo, hi


class ShiftedMapping:
    """The user's mapping seen from one chunk: outputs shifted by ``o0``, inputs by the region."""

    def __init__(self, mapping, args, kwargs, o0, npad, start):
        self.mapping, self.args, self.kwargs = mapping, args, kwargs
        self.o0, self.npad, self.start = tuple(o0), tuple(npad), tuple(start)

    def __call__(self, out):
        full = tuple(int(o) + s for o, s in zip(out, self.o0))
        c = self.mapping(full, *self.args, **self.kwargs)
        # scipy adds the pre-padding to the float; the integer start comes off exactly
        return tuple((float(v) + p) - a for v, p, a in zip(c, self.npad, self.start))
