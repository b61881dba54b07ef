"""The cross-block labelling engine: the entry point and its two merges.

:func:`label_across_blocks` is the reusable entry point (``label``,
``binary_fill_holes`` and ``binary_propagation`` use it). Both merges start with the
same per-block ``summary`` tasks (:func:`~bigimg._labels._graph.summary_tasks`: label
the block, keep only a small summary) and end with one paint task per block that
labels the block again and paints it from that block's own lookup table. They differ
in where the labels touching across blocks are merged and numbered, chosen by the
dask config key ``bigimg.label-merge`` (:data:`MERGE_KEY`):

``"client"`` (:class:`ClientLabels`)
    per block, ``edges`` pairs the labels touching across its upper faces
    (:func:`~bigimg._labels._pairs.block_edges`); one ``collect`` task gathers every
    block's tables and the client resolves the numbering
    (:func:`~bigimg._labels._merge.resolve_numbering`) at call time; every block's
    lookup table is embedded in the painted array's graph. Client memory and graph
    bytes grow with the number of provisional labels.
``"tree"`` (:class:`~bigimg._labels._treegraph.TreeLabels`)
    the union-find runs in a binary tree of tasks over boxes of blocks, the numbering
    in a distributed rank over slabs of blocks, and each block's lookup table is built
    inside its paint task: client memory and graph bytes are O(blocks), whatever the
    number of objects. Nothing computes until the count or an array is asked for.
``"auto"`` (default)
    ``"client"`` when the input is expected to hold at most :data:`AUTO_CLIENT_LABELS`
    block-local labels (then the client merge is faster: one merge task, no second
    summary pass, and its tables and graph stay small: about 4 bytes per label in
    the graph), ``"tree"`` above. Inputs of more voxels than that are sampled first:
    :data:`AUTO_SAMPLE_BLOCKS` blocks spread over the grid are labelled at call time
    and their label density extrapolated.

Both give scipy's labels and numbering exactly. Every layer has O(blocks) tasks;
nothing is per label. Block labels are never held in memory beyond their task, so
volumes larger than memory work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._labels._graph import summary_tasks
from bigimg._labels._kernel import BlockLabeller, relabel_block, summarise_block
from bigimg._labels._leaf import BORDER, SEED
from bigimg._labels._merge import Collected, collect, resolve_numbering
from bigimg._labels._paint import FlagSelect
from bigimg._labels._pairs import block_edges
from bigimg._labels._treegraph import TreeLabels

__all__ = [
    "AUTO_CLIENT_LABELS",
    "AUTO_SAMPLE_BLOCKS",
    "MERGE_KEY",
    "ClientLabels",
    "GlobalLabels",
    "block_luts",
    "expected_labels",
    "label_across_blocks",
    "merge_mode",
    "relabel_blocks",
    "summarise_blocks",
]

#: The ``dask.config`` key choosing the merge: ``"tree"``, ``"client"`` or ``"auto"``.
MERGE_KEY = "bigimg.label-merge"
#: ``"auto"`` merges on the client up to this many expected block-local labels (the
#: client merge's graph then stays under about 16 MiB), in the tree above.
AUTO_CLIENT_LABELS = 2**22
#: How many blocks ``"auto"`` labels to estimate the number of block-local labels.
AUTO_SAMPLE_BLOCKS = 8


def _label_count(block: np.ndarray, labeller: BlockLabeller) -> int:
    return labeller.runs(block).count


def expected_labels(x: da.Array, labeller: BlockLabeller) -> float:
    """Block-local labels of ``x`` extrapolated from :data:`AUTO_SAMPLE_BLOCKS` blocks
    spread over its grid (computes those blocks now)."""
    grid = x.numblocks
    picks = np.unique(np.linspace(0, np.prod(grid) - 1, AUTO_SAMPLE_BLOCKS).round().astype(int))
    blocks = [x.blocks[np.unravel_index(p, grid)] for p in picks.tolist()]
    counts = dask.compute(*[dask.delayed(_label_count)(b, labeller) for b in blocks])
    return sum(counts) * x.size / max(sum(b.size for b in blocks), 1)


def merge_mode(x: da.Array, labeller: BlockLabeller) -> str:
    """``"tree"`` or ``"client"``: the merge :data:`MERGE_KEY` picks for labelling ``x``
    (``"auto"`` may label a few of its blocks now, see the module)."""
    mode = dask.config.get(MERGE_KEY, "auto")
    if mode not in ("tree", "client", "auto"):
        raise ValueError(
            f"dask config {MERGE_KEY!r} must be 'tree', 'client' or 'auto'; got {mode!r}."
        )
    if mode != "auto":
        return mode
    if x.size <= AUTO_CLIENT_LABELS:  # never more labels than voxels
        return "client"
    return "client" if expected_labels(x, labeller) <= AUTO_CLIENT_LABELS else "tree"


class GlobalLabels:
    """Result of :func:`label_across_blocks`: the object count, per-object flags and
    what it takes to paint per-object values lazily (:meth:`labels`,
    :meth:`paint_flags`, :meth:`paint`).

    Attributes
    ----------
    count : int
        Number of objects (with the tree merge, computed on first access: one
        integer comes back to the client).
    touches_border : numpy.ndarray of bool, shape (count + 1,), or None
        ``touches_border[k]``: object ``k`` has a voxel on an array face selected by
        ``border``. Entry 0 (background) is False. None unless ``border`` was given.
        O(objects) on the client: prefer :meth:`paint_flags`.
    has_seed : numpy.ndarray of bool, shape (count + 1,), or None
        ``has_seed[k]``: object ``k`` contains, or touches under the structure, a
        voxel where ``seeds`` is nonzero (a background seed touches the objects next
        to it). None unless ``seeds`` was given. O(objects) on the client: prefer
        :meth:`paint_flags`.
    merge : str
        ``"client"`` or ``"tree"``: the merge that was used (see the module).
    """

    def __init__(self, numbering: ClientLabels | TreeLabels, chunks) -> None:
        self._numbering = numbering
        self._chunks = chunks
        self.merge = "tree" if isinstance(numbering, TreeLabels) else "client"

    @property
    def count(self) -> int:
        return self._numbering.count

    @property
    def touches_border(self) -> np.ndarray | None:
        return self._numbering.flag_table(BORDER)

    @property
    def has_seed(self) -> np.ndarray | None:
        return self._numbering.flag_table(SEED)

    def _rechunk(self, out: da.Array) -> da.Array:
        return out if out.chunks == self._chunks else out.rechunk(self._chunks)

    def paint(self, table: np.ndarray, *, view: Any = None) -> da.Array:
        """Lazy array holding ``table[k]`` on object ``k`` and ``table[0]`` elsewhere.

        ``table`` has ``count + 1`` entries. Each block receives only the entries of
        its own objects (client merge) or reads them from the one copy in the graph
        (tree merge); the block is labelled again in its task. ``view`` reinterprets
        the painted bytes (``label`` uses it to mimic scipy's bool output).
        """
        table = np.asarray(table)
        if table.shape != (self.count + 1,):
            raise ValueError(
                f"`table` must hold count + 1 = {self.count + 1} entries; got shape {table.shape}."
            )
        if table.dtype.kind == "b":  # painted as bytes, viewed back as bool
            table, view = table.view(np.uint8), bool
        view = None if view is None else np.dtype(view)
        return self._rechunk(self._numbering.paint_table(table, view))

    def labels(self, dtype: Any = np.int32) -> da.Array:
        """Lazy labels numbered like ``scipy.ndimage.label`` (``bool``: scipy's bytes)."""
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            return self._rechunk(self._numbering.labels(np.dtype(np.uint8), np.dtype(bool)))
        return self._rechunk(self._numbering.labels(dtype, None))

    def paint_flags(
        self,
        *,
        border: bool = False,
        seed: bool = False,
        invert: bool = False,
        background: bool = False,
    ) -> da.Array:
        """Lazy bool array: on object ``k``, ``(border and touches_border[k]) or (seed and
        has_seed[k])``, negated if ``invert``; ``background`` elsewhere.

        Needs no per-object table: with the tree merge the flags travel with the
        objects through the tree and nothing computes before the array does.
        """
        asked = (("border", border, BORDER, "border"), ("seed", seed, SEED, "seeds"))
        for name, flag, bit, arg in asked:
            if flag and not self._numbering.has_flag(bit):
                raise ValueError(
                    f"`{name}=True` needs the {name} flags; pass `{arg}=` to label_across_blocks."
                )
        bits = (BORDER if border else 0) | (SEED if seed else 0)
        select = FlagSelect(int(bits), bool(invert), bool(background))
        return self._rechunk(self._numbering.paint_flags(select))


class ClientLabels:
    """The client merge (see the module): numbering resolved at construction."""

    def __init__(
        self,
        x: da.Array,
        labeller: BlockLabeller,
        *,
        seeds: da.Array | None = None,
        border: Sequence[bool] | None = None,
    ) -> None:
        tables = summarise_blocks(x, labeller, seeds=seeds, border=border)
        rank, count = resolve_numbering(tables.first, tables.pairs)

        def flags(ids: np.ndarray) -> np.ndarray:
            table = np.zeros(count + 1, dtype=bool)
            table[rank[ids]] = True
            return table

        self.count = count
        self._flags = {
            BORDER: flags(tables.border) if border is not None else None,
            SEED: flags(tables.seeded) if seeds is not None else None,
        }
        self.x, self.labeller = x, labeller
        self.luts = tuple(block_luts(rank, tables.counts))

    def has_flag(self, bit: int) -> bool:
        return self._flags[bit] is not None

    def flag_table(self, bit: int) -> np.ndarray | None:
        return self._flags[bit]

    def paint_table(self, table: np.ndarray, view: np.dtype | None) -> da.Array:
        luts = [table[lut] for lut in self.luts]
        dtype = table.dtype if view is None else view
        return relabel_blocks(self.x, relabel_block, luts, self.labeller, view, dtype=dtype)

    def labels(self, dtype: np.dtype, view: np.dtype | None) -> da.Array:
        return self.paint_table(np.arange(self.count + 1).astype(dtype), view)

    def paint_flags(self, select: FlagSelect) -> da.Array:
        value = np.zeros(self.count + 1, dtype=bool)
        for bit in (BORDER, SEED):
            if select.bits & bit:
                value |= self._flags[bit]
        value = value != select.invert
        value[0] = select.background
        return self.paint_table(value.view(np.uint8), np.dtype(bool))


def _client_layers(x, labeller, seeds, border, token, summarise):
    """Graph of the summary and edge tasks; returns it and the key of the collect task."""
    s_name, e_name = f"label-summary-{token}", f"label-edges-{token}"
    c_key = f"label-collect-{token}"
    dsk, blocks = summary_tasks(
        x, labeller, seeds=seeds, border=border, name=s_name, summarise=summarise
    )
    for block in blocks:
        summary = (s_name, *block.index)
        dsk[(e_name, *block.index)] = (block_edges, summary, list(block.neighbour_keys), block.edge)
    dsk[c_key] = (collect, [(e_name, *block.index) for block in blocks])
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
    graph, key = _client_layers(x, labeller, seeds, border, token, summarise)
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
        is computed more than once (summaries, painting), so it must be deterministic.
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
        The object count and flag tables; :meth:`GlobalLabels.labels`,
        :meth:`GlobalLabels.paint_flags` and :meth:`GlobalLabels.paint` build lazy
        arrays.

    Raises
    ------
    ValueError
        The dask config key ``bigimg.label-merge`` is not ``"tree"``, ``"client"`` or
        ``"auto"``.

    Notes
    -----
    The merge is chosen by ``bigimg.label-merge`` (see :mod:`bigimg._labels._engine`;
    ``"auto"`` labels a few blocks of a large input now to estimate its labels).
    The client merge computes the per-block summaries now (the input is read and
    labelled once), on the current dask scheduler; the client then holds
    O(provisional labels) int64 tables and each painted array's graph embeds every
    block's lookup table. The tree merge computes nothing now: the count computes the
    summaries and the union tree and returns one integer; a painted array labels each
    block twice in its own graph (summary, paint). Client memory and graph bytes are
    then O(blocks). Arrays painted from either are lazy: one task per block, holding
    the block, its runs and its own lookup table.

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
    >>> filled = found.paint_flags(border=True, invert=True, background=True).compute()
    >>> bool((filled == ndi.binary_fill_holes(ring)).all())
    True

    The same with a per-object table on the client (``touches_border``), and with the
    tree merge:

    >>> import dask
    >>> with dask.config.set({"bigimg.label-merge": "tree"}):
    ...     found = label_across_blocks(da.from_array(~ring, chunks=2),
    ...                                 ndi.generate_binary_structure(2, 1), border=(True, True))
    ...     filled = found.paint(np.r_[True, ~found.touches_border[1:]]).compute()
    >>> found.merge, bool((filled == ndi.binary_fill_holes(ring)).all())
    ('tree', True)
    """
    chunks = tuple(tuple(c for c in ax if c) for ax in x.chunks)
    work = x if chunks == x.chunks else x.rechunk(chunks)
    if seeds is not None:
        seeds = seeds.rechunk(work.chunks)
    labeller = BlockLabeller(structure)
    merge = TreeLabels if merge_mode(work, labeller) == "tree" else ClientLabels
    return GlobalLabels(merge(work, labeller, seeds=seeds, border=border), x.chunks)
