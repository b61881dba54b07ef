"""The cross-block labelling engine: graph building around the kernel and merge steps.

:func:`label_across_blocks` is the reusable entry point (``label``,
``binary_fill_holes`` and ``binary_propagation`` use it). Its graph, per block:

1. ``summary``: label the block (:func:`~bigimg._labels._kernel.summarise_block`);
   keep only the small summary.
2. ``edges``: pair the labels touching across the block's upper faces with the
   neighbours' summaries (:func:`~bigimg._labels._merge.block_edges`); keep the
   block's small tables and drop its face slabs;
3. one ``collect`` task; the client then resolves the numbering
   (:func:`~bigimg._labels._merge.resolve_numbering`). Steps 1-3 run at call time.
4. the returned lazy array: per block, label again and map through that block's own
   slice of the lookup table (:func:`~bigimg._labels._kernel.relabel_block`).

Every layer has O(blocks) tasks; nothing is per label. Block labels are computed
exactly twice (once for the summaries, once when the result is computed) and never
held in memory beyond their task, so volumes larger than memory work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._labels._kernel import BlockLabeller, SummarySpec, relabel_block, summarise_block
from bigimg._labels._merge import (
    Collected,
    EdgeSpec,
    FaceSpec,
    block_edges,
    collect,
    neighbour_deltas,
    resolve_numbering,
    upper_offsets,
)

__all__ = [
    "GlobalLabels",
    "block_luts",
    "label_across_blocks",
    "relabel_blocks",
    "summarise_blocks",
]


@dataclass(frozen=True, eq=False)
class GlobalLabels:
    """Result of :func:`label_across_blocks`: the object count, per-object tables and
    what it takes to paint any per-object table lazily (:meth:`paint`, :meth:`labels`).

    Attributes
    ----------
    count : int
        Number of objects.
    touches_border : numpy.ndarray of bool, shape (count + 1,), or None
        ``touches_border[k]``: object ``k`` has a voxel on an array face selected by
        ``border``. Entry 0 (background) is False. None unless ``border`` was given.
    has_seed : numpy.ndarray of bool, shape (count + 1,), or None
        ``has_seed[k]``: object ``k`` contains, or touches under the structure, a
        voxel where ``seeds`` is nonzero (a background seed touches the objects next
        to it). None unless ``seeds`` was given.
    """

    count: int
    touches_border: np.ndarray | None
    has_seed: np.ndarray | None
    blocks: da.Array
    labeller: BlockLabeller
    luts: tuple[np.ndarray, ...]
    chunks: tuple[tuple[int, ...], ...]

    def paint(self, table: np.ndarray, *, view: Any = None) -> da.Array:
        """Lazy array holding ``table[k]`` on object ``k`` and ``table[0]`` elsewhere.

        ``table`` has ``count + 1`` entries. Each block receives only the entries of
        its own objects; the block is labelled again in its task. ``view`` reinterprets
        the painted bytes (``label`` uses it to mimic scipy's bool output).
        """
        table = np.asarray(table)
        if table.shape != (self.count + 1,):
            raise ValueError(
                f"`table` must hold count + 1 = {self.count + 1} entries; got shape {table.shape}."
            )
        if table.dtype.kind == "b":  # painted as bytes, viewed back as bool
            table, view = table.view(np.uint8), bool
        paint_dtype = table.dtype
        view = None if view is None else np.dtype(view)
        luts = [table[lut] for lut in self.luts]
        out = relabel_blocks(
            self.blocks,
            relabel_block,
            luts,
            self.labeller,
            view,
            dtype=paint_dtype if view is None else view,
        )
        return out if out.chunks == self.chunks else out.rechunk(self.chunks)

    def labels(self, dtype: Any = np.int32) -> da.Array:
        """Lazy labels numbered like ``scipy.ndimage.label`` (``bool``: scipy's bytes)."""
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            return self.paint(np.arange(self.count + 1).astype(np.uint8), view=bool)
        return self.paint(np.arange(self.count + 1).astype(dtype))


def _block_starts(chunks: Sequence[Sequence[int]]) -> list[np.ndarray]:
    return [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int) for c in chunks]


def _summary_layers(x, labeller, structure, seeds, border, token, summarise):
    """Graph of the summary and edge tasks; returns it and the key of the collect task."""
    grid, ndim = x.numblocks, x.ndim
    starts = _block_starts(x.chunks)
    s_name, e_name = f"label-summary-{token}", f"label-edges-{token}"
    c_key = f"label-collect-{token}"
    axes = []  # (axis, offsets stepping up the axis, neighbour steps they reach)
    for axis in range(ndim):
        offsets = tuple(tuple(int(v) for v in d) for d in upper_offsets(structure, axis))
        if offsets:
            axes.append((axis, offsets, neighbour_deltas(structure, axis)))
    dsk: dict = {}
    for idx in np.ndindex(*grid):
        faces = [(ax, 0) for ax in range(ndim) if idx[ax] > 0]
        faces += [(ax, 1) for ax in range(ndim) if idx[ax] < grid[ax] - 1]
        border_faces = [
            (ax, side)
            for ax in range(ndim)
            if border is not None and border[ax]
            for side in (0, 1)
            if idx[ax] == (0 if side == 0 else grid[ax] - 1)
        ]
        location = tuple(int(starts[ax][i]) for ax, i in enumerate(idx))
        spec = SummarySpec(location, x.shape, tuple(faces), tuple(border_faces))
        task = (summarise, (x.name, *idx), labeller, spec)
        if seeds is not None:
            task += ((seeds.name, *idx),)
        dsk[(s_name, *idx)] = task

        neighbour_keys: list = []
        face_specs = []
        for axis, offsets, deltas in axes:
            if idx[axis] == grid[axis] - 1:
                continue
            entries = []
            for delta in deltas:
                nidx = tuple(
                    i + d + (a == axis) for a, (i, d) in enumerate(zip(idx, delta, strict=True))
                )
                if all(0 <= i < n for i, n in zip(nidx, grid, strict=True)):
                    key = (s_name, *nidx)
                    if key not in neighbour_keys:
                        neighbour_keys.append(key)
                    block_id = int(np.ravel_multi_index(nidx, grid))
                    entries.append((delta, block_id, neighbour_keys.index(key)))
            face_specs.append(FaceSpec(axis, offsets, tuple(entries)))
        edge_spec = EdgeSpec(int(np.ravel_multi_index(idx, grid)), tuple(face_specs))
        dsk[(e_name, *idx)] = (block_edges, (s_name, *idx), neighbour_keys, edge_spec)
    dsk[c_key] = (collect, [(e_name, *idx) for idx in np.ndindex(*grid)])
    deps = [x] if seeds is None else [x, seeds]
    graph = HighLevelGraph.from_collections(c_key, dsk, dependencies=deps)
    return graph, c_key


def summarise_blocks(
    x: da.Array,
    labeller: BlockLabeller,
    *,
    seeds: da.Array | None = None,
    border: Sequence[bool] | None = None,
    summarise: Callable = summarise_block,
) -> Collected:
    """Steps 1-3: compute the block summaries and gather their tables (computes now).

    ``x`` must have no empty chunks; ``seeds`` must share its chunks. ``summarise`` is
    called as ``summarise(block, labeller, spec[, seeds_block])`` and returns a
    :class:`~bigimg._labels._kernel.BlockSummary`.
    """
    token = tokenize(x, labeller, seeds, border, summarise)
    graph, key = _summary_layers(x, labeller, labeller.structure, seeds, border, token, summarise)
    (tables,) = dask.compute(Delayed(key, graph))
    return tables


def block_luts(rank: np.ndarray, counts: np.ndarray, dtype: Any = np.int64) -> list[np.ndarray]:
    """Each block's own lookup table: local label -> final label (entry 0 is 0)."""
    lut_all = np.concatenate([[0], rank]).astype(dtype)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [
        np.concatenate([lut_all[:1], lut_all[lo + 1 : hi + 1]])
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def relabel_blocks(
    x: da.Array, func: Callable, luts: Sequence[np.ndarray], *args, dtype: np.dtype
) -> da.Array:
    """Step 4: the lazy array whose block ``i`` is ``func(x_block_i, luts[i], *args)``.

    Each task receives only its own lookup table, so the graph is O(blocks) and no
    task holds the whole table.
    """
    name = f"label-{tokenize(x, func, luts, args, dtype)}"
    dsk = {
        (name, *idx): (func, (x.name, *idx), lut, *args)
        for idx, lut in zip(np.ndindex(*x.numblocks), luts, strict=True)
    }
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    meta = np.empty((0,) * x.ndim, dtype=dtype)
    return da.Array(graph, name, chunks=x.chunks, dtype=dtype, meta=meta)


def label_across_blocks(
    x: da.Array,
    structure: np.ndarray,
    *,
    seeds: da.Array | None = None,
    border: Sequence[bool] | None = None,
) -> GlobalLabels:
    """Label the nonzero voxels of ``x`` across blocks, exactly as scipy would.

    Parameters
    ----------
    x : dask array
        Nonzero voxels are foreground. Must have ``ndim >= 1`` and ``size > 0``; it
        is computed twice (summaries now, painting later), so it must be deterministic.
    structure : ndarray of bool
        A valid scipy ``label`` structure (shape 3 on every axis, centrosymmetric).
    seeds : dask array, optional
        Same shape as ``x``; fills :attr:`GlobalLabels.has_seed`. Objects touching a
        background seed voxel count as seeded too (across blocks as well), so
        ``binary_propagation`` needs no separate dilation pass.
    border : sequence of bool, optional
        Per axis, whether the first and last planes along it count as the array
        border; fills :attr:`GlobalLabels.touches_border`.

    Returns
    -------
    GlobalLabels
        Object count and tables now; :meth:`GlobalLabels.labels` and
        :meth:`GlobalLabels.paint` build lazy arrays.

    Notes
    -----
    Computes the per-block summaries now (the input is read and labelled once), on the
    current dask scheduler; the client then holds O(provisional labels) int64 tables.
    Arrays painted from the result are lazy: one task per block, holding the block,
    its runs and its own slice of the table.

    Examples
    --------
    Fill the background components that do not touch the array border (holes):

    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> ring = np.pad(np.pad(np.zeros((1, 1), bool), 1, constant_values=True), 1)
    >>> found = label_across_blocks(da.from_array(~ring, chunks=2),
    ...                             ndi.generate_binary_structure(2, 1), border=(True, True))
    >>> found.count, found.touches_border.tolist()
    (2, [False, True, False])
    >>> filled = found.paint(np.r_[True, ~found.touches_border[1:]]).compute()
    >>> bool((filled == ndi.binary_fill_holes(ring)).all())
    True
    """
    chunks = tuple(tuple(c for c in ax if c) for ax in x.chunks)
    work = x if chunks == x.chunks else x.rechunk(chunks)
    if seeds is not None:
        seeds = seeds.rechunk(work.chunks)
    labeller = BlockLabeller(structure)
    tables = summarise_blocks(work, labeller, seeds=seeds, border=border)
    rank, count = resolve_numbering(tables.first, tables.pairs)

    def flags(ids: np.ndarray) -> np.ndarray:
        table = np.zeros(count + 1, dtype=bool)
        table[rank[ids]] = True
        return table

    return GlobalLabels(
        count=count,
        touches_border=flags(tables.border) if border is not None else None,
        has_seed=flags(tables.seeded) if seeds is not None else None,
        blocks=work,
        labeller=labeller,
        luts=tuple(block_luts(rank, tables.counts)),
        chunks=x.chunks,
    )
