"""The halo engine: the one place that turns kernel geometry into overlap depths.

Every local (neighbourhood) operation in bigimg runs through :func:`apply_blockwise`.
Each output block is computed by calling an in-memory kernel (normally the
``scipy.ndimage`` twin itself) on the block extended by a halo of its neighbours' data;
the halo is then cut away. The halo engine guarantees that the kept core is exactly
what the kernel gives on the whole array:

* inside the volume the halo holds the true neighbouring voxels;
* at the volume's outer faces no halo is added (dask ``boundary="none"``), so the
  kernel's own boundary handling (``mode``/``cval``) applies there, exactly as on the
  whole array. Reflections never reach past the extended block because every chunk
  is at least as long as the halo;
* ``wrap``/``grid-wrap`` axes get a periodic halo taken from the opposite face;
* an axis whose halo would span the whole axis is computed as one chunk with no halo;
* chunks shorter than the halo are merged with their neighbours for the computation
  and the result is rechunked back, so callers always get their own chunks back.

Depth 0 on every axis means a plain ``map_blocks``.

**Streaming from a source.** When the input is an array that bigimg can regenerate
region by region (a lazy reader from :mod:`bigimg.io`, or the output of an earlier
halo operation on one, or an element-wise dask expression of those such as a
threshold, see :mod:`bigimg._pointwise`), each output block is computed by one task that reads its own
halo-extended region straight from that source and runs the whole chain of kernels on
it. No task waits for its neighbours' blocks, so the scheduler never holds a wavefront
of blocks and peak memory stays at a few extended blocks per thread, whatever the
volume size. The price is that halo regions are read (and earlier kernels in a chain
computed) more than once. Periodic (``wrap``) axes use the dask overlap path.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from bigimg._errors import ArgumentError

__all__ = [
    "FILTER_MODES",
    "RegionSource",
    "attach_source",
    "region_source",
    "from_source",
    "apply_blockwise",
    "as_dask",
    "footprint_depth",
    "merge_small_chunks",
    "normalize_axes",
    "normalize_modes",
    "normalize_sequence",
    "rechunk",
    "resolve_output",
]

#: Boundary modes accepted by scipy.ndimage filters.
FILTER_MODES = (
    "reflect",
    "constant",
    "nearest",
    "mirror",
    "wrap",
    "grid-constant",
    "grid-mirror",
    "grid-wrap",
)
_PERIODIC = {"wrap", "grid-wrap"}


def as_dask(x: Any, *, name: str = "input") -> da.Array:
    """Return ``x`` as a dask array (numpy input gets dask's automatic chunks)."""
    if isinstance(x, da.Array):
        return x
    if hasattr(x, "__array__") or isinstance(x, list | tuple | numbers.Number):
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"`{name}` must be a numeric array; got dtype object.")
        return da.from_array(arr, chunks="auto")
    raise TypeError(f"`{name}` must be a numpy or dask array; got {type(x).__name__}.")


def normalize_sequence(value: Any, ndim: int, name: str) -> tuple:
    """Broadcast a scalar to ``ndim`` entries or check a sequence has ``ndim`` entries."""
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        return (value,) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise ArgumentError(
            f"`{name}` sequence argument must have length equal to input rank "
            f"({ndim}); got {len(value)} entries."
        )
    return value


def normalize_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    """Normalise scipy's ``axes`` argument to a tuple of non-negative axis numbers."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, numbers.Integral):
        axes = (axes,)
    out = []
    for ax in axes:
        if not isinstance(ax, numbers.Integral):
            raise TypeError(f"`axes` must hold integers; got {ax!r}.")
        if not -ndim <= ax < ndim:
            raise ValueError(f"`axes` entries must be in [{-ndim}, {ndim}); got {ax}.")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"`axes` must be unique; got {tuple(axes)}.")
    return tuple(out)


def normalize_modes(mode: Any, ndim: int) -> tuple[str, ...]:
    """Per-axis boundary modes; a bad name raises like scipy but as a ValueError too."""
    modes = normalize_sequence(mode, ndim, "mode")
    for m in modes:
        if m not in FILTER_MODES:
            raise ArgumentError(
                f"`mode` must be one of {', '.join(repr(x) for x in FILTER_MODES)}; got {m!r}."
            )
    return modes


def footprint_depth(shape: Sequence[int], origin: Sequence[int]) -> tuple[int, ...]:
    """Halo depth per axis for a correlation kernel of ``shape`` shifted by ``origin``.

    scipy places a kernel of length ``s`` with origin ``o`` so that it reads from
    ``s // 2 + o`` voxels before to ``s - s // 2 - 1 - o`` voxels after the output voxel.
    The halo is the larger of the two reaches.
    """
    depth = []
    for s, o in zip(shape, origin, strict=True):
        s, o = int(s), int(o)
        if s <= 0:
            depth.append(0)
            continue
        depth.append(max(s // 2 + o, s - s // 2 - 1 - o, 0))
    return tuple(depth)


def merge_small_chunks(chunks: Sequence[int], minimum: int) -> tuple[int, ...]:
    """Merge neighbouring chunks so that every chunk is at least ``minimum`` long.

    >>> merge_small_chunks((5, 1, 1, 1, 5, 2), 3)
    (5, 3, 7)
    >>> merge_small_chunks((5, 1, 1, 1, 5, 2), 4)
    (5, 10)
    >>> merge_small_chunks((1, 1, 1, 1, 1), 2)
    (2, 3)
    """
    if minimum <= 1 or min(chunks) >= minimum:
        return tuple(chunks)
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += c
        if acc >= minimum:
            out.append(acc)
            acc = 0
    if acc:
        if out and acc < minimum:
            out[-1] += acc
        else:
            out.append(acc)
    return tuple(out)


def resolve_output(output: Any, probe: Callable[[Any], np.ndarray]) -> np.dtype:
    """The output dtype of a filter, found by running ``probe`` on a one-voxel array.

    ``probe(output)`` calls the in-memory twin on a tiny array with every argument the
    user gave, so invalid arguments raise exactly what scipy raises, before any graph is
    built, and the dtype rules (integer stays integer, complex promotion) are scipy's.
    """
    if isinstance(output, np.ndarray | da.Array):
        raise TypeError(
            "`output` must be a dtype (e.g. np.float32) or None; got an array. bigimg "
            "returns a lazy dask array, so it cannot write into one: pass "
            "output=arr.dtype and store the result with bigimg.save_zarr or da.store."
        )
    if output is not None:
        try:
            output = np.dtype(output)
        except TypeError as exc:
            raise TypeError(f"`output` must be a dtype or None; got {output!r}.") from exc
    try:
        result = probe(output)
    except RuntimeError as exc:
        # NotImplementedError is a RuntimeError too: a valid but unsupported request
        if isinstance(exc, ArgumentError | NotImplementedError):
            raise
        raise ArgumentError(str(exc)) from exc
    return np.asarray(result).dtype


def probe_array(dtype: np.dtype, ndim: int) -> np.ndarray:
    """The tiny array on which argument validation runs the in-memory twin."""
    return np.zeros((1,) * ndim, dtype=dtype)


class RegionSource:
    """An array-like that produces any region of a lazy array on demand (picklable).

    ``source[region]`` (one slice per axis, step 1) returns that region as a numpy
    array. Subclasses hold no voxels, only how to make them.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    #: Delayed tasks that must finish before any region is read (files being written).
    barriers: tuple = ()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getstate__(self):
        # a task needs the source's data, not the graph behind its barriers
        state = self.__dict__.copy()
        state.pop("barriers", None)
        return state

    def __getitem__(self, region):
        region = tuple(slice(*r.indices(n)[:2]) for r, n in zip(region, self.shape, strict=True))
        return self._read(region)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __dask_tokenize__(self):
        return self._token


class _ArraySource(RegionSource):
    """Regions of an array-like that indexes cheaply (a bigimg.io reader)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.shape = tuple(reader.shape)
        self.dtype = np.dtype(reader.dtype)
        self._token = da.core.tokenize("bigimg-source", reader)

    def _read(self, region):
        return np.asarray(self.reader[region])


class _FilteredSource(RegionSource):
    """Regions of ``func(parent)``: read the region plus its halo, filter, crop."""

    def __init__(
        self, parent: RegionSource, func: Callable, depth: Sequence[int], dtype: np.dtype
    ) -> None:
        self.parent = parent
        self.func = func
        self.depth = tuple(int(d) for d in depth)
        self.shape = parent.shape
        self.dtype = np.dtype(dtype)
        self.barriers = parent.barriers
        self._token = da.core.tokenize("bigimg-filtered", parent, func, self.depth, self.dtype)

    def _read(self, region):
        ext = tuple(
            slice(max(0, r.start - d), min(n, r.stop + d))
            for r, d, n in zip(region, self.depth, self.shape)
        )
        block = self.func(self.parent[ext])
        crop = tuple(slice(r.start - e.start, r.stop - e.start) for r, e in zip(region, ext))
        return np.asarray(block[crop], dtype=self.dtype)


def attach_source(array: da.Array, reader: Any) -> da.Array:
    """Mark ``array`` (built from ``reader`` block by block) as regenerable by region.

    Halo operations on a marked array stream from ``reader`` instead of sharing halo
    slices between tasks; see the module docstring.
    """
    from bigimg._pointwise import register_source

    source = region_source(reader)
    array._bigimg_source = source
    register_source(array, source)
    return array


def region_source(reader: Any) -> RegionSource:
    """``reader`` as a :class:`RegionSource` (an array-like that indexes cheaply)."""
    return reader if isinstance(reader, RegionSource) else _ArraySource(reader)


def from_source(source: RegionSource, chunks, name: str | None = None) -> da.Array:
    """A dask array with one task per block, each reading its block from ``source``."""
    name = f"{name or 'bigimg-region'}-{da.core.tokenize(source, chunks)}"
    if source.barriers:
        return attach_source(_after_barriers(source, chunks, name), source)
    y = da.from_array(
        source,
        chunks=chunks,
        name=name,
        asarray=False,
        fancy=False,
        meta=np.empty((0,) * source.ndim, dtype=source.dtype),
        inline_array=True,
    )
    return attach_source(y, source)


def rechunk(x: da.Array, chunks) -> da.Array:
    """``x.rechunk(chunks)``; on an array with a region source, one read per new block.

    dask's rechunk makes each new block wait for the old blocks it overlaps, which
    the scheduler may then hold by the layer; a new block read straight from the source
    waits for nothing (see the module docstring).
    """
    from bigimg._pointwise import source_of

    chunks = da.core.normalize_chunks(chunks, x.shape, dtype=x.dtype)
    if chunks == x.chunks:
        return x
    source = source_of(x)
    if source is not None and source.shape == x.shape:
        return from_source(source, chunks, "rechunk")
    return x.rechunk(chunks)


def _read_region(source: RegionSource, region: tuple[slice, ...], *barriers) -> np.ndarray:
    return source[region]


def _after_barriers(source: RegionSource, chunks, name: str) -> da.Array:
    """Like :func:`from_source`, with every task waiting for the source's barriers."""
    chunks = da.core.normalize_chunks(chunks, source.shape)
    starts = [np.cumsum((0,) + c) for c in chunks]
    keys = [b.key for b in source.barriers]
    dsk = {
        (name, *idx): (
            _read_region,
            source,
            tuple(slice(int(st[i]), int(st[i + 1])) for st, i in zip(starts, idx, strict=True)),
            *keys,
        )
        for idx in np.ndindex(*(len(c) for c in chunks))
    }
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=list(source.barriers))
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    return da.Array(graph, name, chunks=chunks, dtype=source.dtype, meta=meta)


def apply_blockwise(
    func: Callable[..., np.ndarray],
    x: da.Array,
    depth: Sequence[int],
    modes: Sequence[str],
    *,
    dtype: np.dtype,
    name: str | None = None,
    **kwargs: Any,
) -> da.Array:
    """Run ``func(block, **kwargs)`` on every block with a halo of ``depth`` voxels.

    Parameters
    ----------
    func : callable
        In-memory kernel; must return an array of the block's shape and give, on any
        sub-array, the same values as on the whole array wherever its reach stays
        inside the sub-array. It is called with the ``mode`` the user asked for, which
        applies at the volume's outer faces.
    x : dask array
    depth : sequence of int
        Reach of the kernel per axis (see :func:`footprint_depth`).
    modes : sequence of str
        Boundary mode per axis; ``wrap`` axes get a periodic halo.
    dtype : numpy dtype
        Output dtype.
    name : str, optional
        Prefix of the task names.
    **kwargs
        Passed to ``func``. Keep them small: they are pickled into the graph.

    Returns
    -------
    dask array with ``x``'s chunks.
    """
    ndim = x.ndim
    depth = [int(d) for d in depth]
    if len(depth) != ndim or len(modes) != ndim:
        raise ValueError(f"depth and modes need {ndim} entries; got {depth}, {modes}.")
    dtype = np.dtype(dtype)
    meta = np.empty((0,) * ndim, dtype=dtype)
    if x.size == 0:
        return da.zeros(x.shape, chunks=x.chunks, dtype=dtype)
    from bigimg._pointwise import source_of

    source = source_of(x)  # also found through thresholds and other element-wise steps
    periodic = any(d and m in _PERIODIC for d, m in zip(depth, modes))
    if source is None and not periodic and any(d and len(c) > 1 for d, c in zip(depth, x.chunks)):
        from bigimg._halo_spill import should_spill, spill_source

        if should_spill(x):  # the overlap path's memory grows with x
            source = spill_source(x)
    if source is not None and not periodic and source.shape == x.shape:
        kernel = functools.partial(func, **kwargs) if kwargs else func
        return from_source(_FilteredSource(source, kernel, depth, dtype), x.chunks, name)
    if name is not None:
        name = f"{name}-{da.core.tokenize(func, x, depth, modes, dtype, kwargs)}"

    work_chunks = list(x.chunks)
    for ax in range(ndim):
        d, n, chunks = depth[ax], x.shape[ax], x.chunks[ax]
        if d == 0:
            continue
        if len(chunks) == 1:
            depth[ax] = 0  # whole axis in one block: the kernel handles both faces
        elif d >= n:
            work_chunks[ax] = (n,)  # the halo would be the whole axis anyway
            depth[ax] = 0
        else:
            work_chunks[ax] = merge_small_chunks(chunks, d)
            if len(work_chunks[ax]) == 1:
                depth[ax] = 0

    work = x.rechunk(tuple(work_chunks)) if tuple(work_chunks) != x.chunks else x
    if not any(depth):
        y = work.map_blocks(func, dtype=dtype, meta=meta, name=name, **kwargs)
    else:
        boundary = {ax: ("periodic" if modes[ax] in _PERIODIC else "none") for ax in range(ndim)}
        y = work.map_overlap(
            func,
            depth={ax: depth[ax] for ax in range(ndim)},
            boundary=boundary,
            trim=True,
            allow_rechunk=False,
            dtype=dtype,
            meta=meta,
            name=name,
            **kwargs,
        )
    if y.chunks != x.chunks:
        y = y.rechunk(x.chunks)
    return y
