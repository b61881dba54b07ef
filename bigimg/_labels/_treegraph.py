"""The tree merge's dask graph: every step on the workers, O(blocks) tasks and bytes.

:class:`TreeLabels` builds, once per :func:`~bigimg._labels.label_across_blocks`
call, the graph

1. ``summary`` per block (:func:`~bigimg._labels._kernel.summarise_block`) and
   ``leaf`` per block (:func:`~bigimg._labels._leaf.block_leaf`, split into ``info``
   and ``cross``);
2. ``merged`` per tree node (:func:`~bigimg._labels._tree.merge_node`, split into
   ``up``, ``changes`` and ``multi``), each receiving the crossings of the pairs of
   touching blocks its split separates; ``count`` (one integer) at the root; then
   ``final`` per node (:func:`~bigimg._labels._tree.resolve_child`): final keys and
   flags of the face labels that change;
3. for numbers: ``slab`` per slab of blocks, one ``offsets`` and ``base`` per block
   (:mod:`bigimg._labels._rank`), ``up2`` / ``down2`` per node (numbers of components
   crossing box faces), ``plan`` per block;
4. one task per block in each painted array (:mod:`bigimg._labels._paint`), reading
   its own copy of the input (:func:`_copy_of`).

Nothing runs at build time. On the local schedulers the count
(:attr:`TreeLabels.count`) computes steps 1-2 and brings back one integer, and a
painted array's graph holds steps 1-4: each block is labelled once for the count and
twice for a painted array (summary, paint). On a distributed cluster the count keeps
every block's plan on the workers (:meth:`TreeLabels._persist`), so a painted array
only paints. No task holds, and the graph embeds, anything of the size of the number
of objects; the legacy :meth:`TreeLabels.flag_table` and :meth:`TreeLabels.paint_table`
are the only O(objects) paths, for callers that want a per-object table.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Sequence
from functools import cached_property

import dask
import dask.array as da
import numpy as np
from dask._task_spec import DataNode, convert_legacy_graph
from dask.base import get_scheduler, tokenize
from dask.core import flatten
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from bigimg._labels._graph import block_starts, summary_tasks
from bigimg._labels._kernel import BlockLabeller, summarise_block
from bigimg._labels._leaf import BORDER, SEED, LeafSpec, block_leaf
from bigimg._labels._paint import (
    FlagSelect,
    flagged_numbers,
    paint_flags,
    paint_numbers,
    paint_table,
)
from bigimg._labels._rank import (
    SlabSpec,
    block_base,
    number_plan,
    owned_numbers,
    slab_offsets,
    slab_ranks,
)
from bigimg._labels._tree import (
    Box,
    NodeSpec,
    build_tree,
    gather_numbers,
    merge_node,
    no_changes,
    no_numbers,
    resolve_child,
    route_pairs,
    spread_numbers,
    total_count,
)

__all__ = ["TreeLabels"]


def _slab_specs(x: da.Array) -> list[tuple[SlabSpec, list[tuple[int, ...]]]]:
    """Per slab (blocks sharing their index along axis 0; one slab in 1-D): its rows
    and the row box of each of its blocks, and the blocks' grid indices."""
    grid, chunks = x.numblocks, x.chunks
    if x.ndim == 1:
        blocks = [(i,) for i in range(grid[0])]
        return [(SlabSpec((1,), (((0, 1),),) * len(blocks)), blocks)]
    starts = block_starts(chunks)
    out = []
    for s in range(grid[0]):
        rows = (chunks[0][s], *x.shape[1:-1])
        blocks = [(s, *rest) for rest in np.ndindex(*grid[1:])]
        boxes = tuple(
            ((0, chunks[0][s]),)
            + tuple(
                (int(starts[a][idx[a]]), int(starts[a][idx[a]] + chunks[a][idx[a]]))
                for a in range(1, x.ndim - 1)
            )
            for idx in blocks
        )
        out.append((SlabSpec(rows, boxes), blocks))
    return out


def _copy_of(x: da.Array, seed: str) -> da.Array:
    """``x`` from tasks of its own: every task of its graph under a new key.

    The paint tasks read this copy, so that dask computes the input blocks again rather
    than holding every block from the summary step until the painting step. Data
    (constants, futures of a persisted input) keep their keys: they are held anyway.
    (``dask.graph_manipulation.clone`` would do, but in dask 2026.8 it leaves the old
    key inside some tasks, which breaks the low-level fusion of the result.)
    """
    graph = convert_legacy_graph(dict(x.__dask_graph__()))
    names: dict[str, str] = {}

    def rename(key):
        name = key[0] if isinstance(key, tuple) else key
        new = names.get(name)
        if new is None:
            new = names[name] = f"{name.rsplit('-', 1)[0]}-{tokenize(name, seed)}"
        return (new, *key[1:]) if isinstance(key, tuple) else new

    keys = {key: rename(key) for key, node in graph.items() if not isinstance(node, DataNode)}
    if any(key not in keys for key in flatten(x.__dask_keys__())):
        return x  # its blocks are data already
    dsk = {keys.get(k, k): node.substitute(keys, key=keys.get(k, k)) for k, node in graph.items()}
    name = rename(x.name)
    return da.Array(HighLevelGraph({name: dsk}, {name: set()}), name, x.chunks, meta=x._meta)


def _distributed_client():
    """The ``distributed`` client behind dask's current scheduler, or None."""
    owner = getattr(get_scheduler(), "__self__", None)
    return owner if type(owner).__module__.partition(".")[0] == "distributed" else None


class TreeLabels:
    """The tree-merge backend of :class:`~bigimg._labels.GlobalLabels` (see module)."""

    def __init__(
        self,
        x: da.Array,
        labeller: BlockLabeller,
        *,
        seeds: da.Array | None = None,
        border: Sequence[bool] | None = None,
    ) -> None:
        self.x, self.labeller = x, labeller
        self.has_border, self.has_seeds = border is not None, seeds is not None
        self.token = tokenize(x, labeller, seeds, border, "tree")
        self._keys: dict[tuple, tuple] = {}
        self._held: HighLevelGraph | None = None
        self.tree = build_tree(x.numblocks)
        corner = [[*map(int, s), n] for s, n in zip(block_starts(x.chunks), x.shape, strict=True)]

        def box(lo, hi):
            return Box(
                tuple(c[i] for c, i in zip(corner, lo, strict=True)),
                tuple(c[i] for c, i in zip(corner, hi, strict=True)),
                x.shape,
            )

        self._boxes = [box(lo, hi) for lo, hi in zip(self.tree.lo.tolist(), self.tree.hi.tolist())]
        name = self._key("summary")[0]
        dsk, self.blocks = summary_tasks(
            x, labeller, seeds=seeds, border=border, name=name, summarise=summarise_block
        )
        wanted = (BORDER if self.has_border else 0) | (SEED if self.has_seeds else 0)
        self._merge_tasks(dsk, int(wanted))
        self._tree_layer = f"label-tree-{self.token}"
        self._numbers_layer = f"label-numbers-{self.token}"
        deps = [x] if seeds is None else [x, seeds]
        self._merge_graph = HighLevelGraph.from_collections(self._tree_layer, dsk, deps)
        # on a cluster, the count's tasks go first (see _persist)
        layer = MaterializedLayer(self._number_tasks(), annotations={"priority": -1})
        numbers = HighLevelGraph(
            {self._numbers_layer: layer}, {self._numbers_layer: {self._tree_layer}}
        )
        self._number_graph = HighLevelGraph.merge(self._merge_graph, numbers)

    def _key(self, step: str, *index) -> tuple:
        """The key of a step's task; the same object every time, so that a pickled
        graph stores each key once and refers to it after (graph bytes per block)."""
        key = self._keys.get((step, *index))
        if key is None:
            name = self._keys[(step,)][0] if (step,) in self._keys else f"label-{step}-{self.token}"
            key = self._keys[(step, *index)] = (name, *index)
        return key

    def _up(self, node: int) -> tuple:
        """What a node hands its parent: a block's leaf table, or the node's outer table."""
        block = int(self.tree.block[node])
        return self._key("info", block) if block >= 0 else self._key("up", node)

    def _final(self, block: int) -> tuple:
        return self._key("final", int(self.tree.leaf_of[block]))

    def _merge_tasks(self, dsk: dict, wanted: int) -> None:
        """Steps 1-2: leaves, the union up the tree, finals down it, the count."""
        tree, key = self.tree, self._key
        for block in self.blocks:
            b = block.block_id
            spec = LeafSpec(block.edge, block.location, block.shape, self.x.shape, wanted)
            summary, neighbours = key("summary", *block.index), list(block.neighbour_keys)
            dsk[key("leaf", b)] = (block_leaf, summary, neighbours, spec)
            dsk[key("info", b)] = (operator.getitem, key("leaf", b), 0)
            dsk[key("cross", b)] = (operator.getitem, key("leaf", b), 1)
        pairs = {
            (block.block_id, other)
            for block in self.blocks
            for face in block.edge.faces
            for _, other, _ in face.neighbours
        }
        pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        routed: dict[int, list[tuple[int, int]]] = {}
        for node, (b, other) in zip(route_pairs(tree, pairs[:, 0], pairs[:, 1]), pairs.tolist()):
            routed.setdefault(int(node), []).append((b, other))
        for node in np.flatnonzero(tree.axis >= 0).tolist():
            crossing = routed.get(node, [])
            c1, c2 = tree.children[node].tolist()
            spec = NodeSpec(
                lo=tuple(tree.lo[node].tolist()),
                hi=tuple(tree.hi[node].tolist()),
                grid=tree.grid,
                child_blocks=(int(tree.block[c1]), int(tree.block[c2])),
                others=tuple(other for _, other in crossing),
            )
            crosses = [key("cross", b) for b, _ in crossing]
            dsk[key("merged", node)] = (merge_node, self._up(c1), self._up(c2), crosses, spec)
            for k, step in enumerate(("up", "changes", "multi")):
                dsk[key(step, node)] = (operator.getitem, key("merged", node), k)
        dsk[key("count")] = (total_count, self._up(0))
        dsk[key("final", 0)] = (no_changes,)
        for node in range(1, tree.size):
            p = int(tree.parent[node])
            box = self._boxes[node]
            dsk[key("final", node)] = (resolve_child, key("changes", p), key("final", p), box)

    def _number_tasks(self) -> dict:
        """Step 3: the distributed rank and each block's numbering plan."""
        tree, key, dsk = self.tree, self._key, {}
        slabs = _slab_specs(self.x)
        totals = []
        for s, (spec, blocks) in enumerate(slabs):
            ids = [int(np.ravel_multi_index(idx, self.x.numblocks)) for idx in blocks]
            infos, finals = [key("info", b) for b in ids], [self._final(b) for b in ids]
            dsk[key("slab", s)] = (slab_ranks, infos, finals, spec)
            dsk[key("total", s)] = (operator.getitem, key("slab", s), 0)
            totals.append(key("total", s))
            for k, b in enumerate(ids):
                dsk[key("base", b)] = (block_base, key("slab", s), k, key("offsets"), s)
        dsk[key("offsets")] = (slab_offsets, totals)
        for node in range(tree.size):
            b = int(tree.block[node])
            final = key("final", node)
            if b >= 0:
                dsk[key("up2", node)] = (owned_numbers, key("info", b), final, key("base", b))
            else:
                c1, c2 = (key("up2", c) for c in tree.children[node].tolist())
                multi, box = key("multi", node), self._boxes[node]
                dsk[key("up2", node)] = (gather_numbers, c1, c2, multi, final, box)
        dsk[key("down2", 0)] = (no_numbers,)
        for node in range(1, tree.size):
            p = int(tree.parent[node])
            sibling = int(np.setdiff1d(tree.children[p], [node])[0])
            up2, down2 = key("up2", sibling), key("down2", p)
            box = self._boxes[node]
            dsk[key("down2", node)] = (spread_numbers, up2, down2, key("final", node), box)
        for block in self.blocks:
            b, node = block.block_id, int(tree.leaf_of[block.block_id])
            known = [key("up2", node), key("down2", node)]
            info, final, base = key("info", b), key("final", node), key("base", b)
            dsk[key("plan", b)] = (number_plan, info, final, known, base)
        return dsk

    def _persist(self, client) -> None:
        """On a distributed cluster: keep every block's plan (and, for flags, its leaf
        table and finals) on the workers, so that painting labels each block once.

        Their results stay in the workers' memory (O(block rows + block surface) per
        block) while a painted array or this object holds them. The numbering tasks
        have a lower priority, so the count comes back as soon as the union is done
        and the plans are finished in the background.
        """
        keys = [self._key("count")] + [self._key("plan", b.block_id) for b in self.blocks]
        if self.has_border or self.has_seeds:
            keys += [self._key("info", b.block_id) for b in self.blocks]
            keys += [self._final(b.block_id) for b in self.blocks]
        wanted = [Delayed(k, self._number_graph, layer=self._numbers_layer) for k in keys]
        futures = {k: v for d in dask.persist(*wanted) for k, v in d.__dask_graph__().items()}
        self._held = HighLevelGraph({self._numbers_layer: futures}, {self._numbers_layer: set()})

    @cached_property
    def count(self) -> int:
        """Number of objects. Computes steps 1-2 and brings back one integer; on a
        distributed cluster, steps 1-3, keeping each block's plan on the workers."""
        client = _distributed_client()
        if client is not None:
            self._persist(client)
            graph, layer = self._held, self._numbers_layer
        else:
            graph, layer = self._merge_graph, self._tree_layer
        (count,) = dask.compute(Delayed(self._key("count"), graph, layer=layer))
        if client is not None:
            # Accepting a graph leaves its dependency maps in reference cycles on the
            # scheduler (few objects, many bytes, so Python's collector waits): 1.1 GB
            # for the 70,000 tasks of 4096 blocks, on top of 0.5 GB of live state.
            client.run_on_scheduler(gc.collect)
        return int(count)

    def _per_block(self, numbers: bool, layer: str, make_task, extra=None) -> HighLevelGraph:
        """The graph a layer of one task per block, ``make_task(block, input_key)``,
        needs (merge only, or numbers too), plus that layer.

        The tasks read a copy of the input (:func:`_copy_of`: same values, other keys).
        """
        if self._held is not None and (numbers or self.has_border or self.has_seeds):
            graph = self._held
        else:
            graph = self._number_graph if numbers else self._merge_graph
        source = _copy_of(self.x, self.token)
        dsk = {(layer, *b.index): make_task(b, (source.name, *b.index)) for b in self.blocks}
        deps = {*graph.layers, *source.__dask_layers__()}
        parts = [graph, source.__dask_graph__()]
        if extra is not None:
            parts.append(extra)
            deps |= set(extra.layers)
        return HighLevelGraph.merge(*parts, HighLevelGraph({layer: dsk}, {layer: deps}))

    def _paint(self, numbers: bool, layer: str, make_task, dtype, extra=None) -> da.Array:
        full = self._per_block(numbers, layer, make_task, extra)
        meta = np.empty((0,) * self.x.ndim, dtype=dtype)
        return da.Array(full, layer, chunks=self.x.chunks, dtype=dtype, meta=meta)

    def labels(self, dtype: np.dtype, view: np.dtype | None = None) -> da.Array:
        """Object numbers as ``dtype`` (``view``: reinterpret the painted bytes)."""
        layer = f"label-paint-{tokenize(self.token, dtype, view)}"

        def task(block, source):
            plan = self._key("plan", block.block_id)
            return (paint_numbers, source, plan, self.labeller, dtype, view)

        return self._paint(True, layer, task, view or dtype)

    def paint_table(self, table: np.ndarray, view: np.dtype | None = None) -> da.Array:
        """``table[k]`` on object ``k`` (the table is one key of the graph)."""
        token = tokenize(self.token, table, view)
        layer, table_key = f"label-paint-{token}", f"label-table-{token}"

        def task(block, source):
            plan = self._key("plan", block.block_id)
            return (paint_table, source, plan, self.labeller, table_key, view)

        extra = HighLevelGraph({table_key: {table_key: table}}, {table_key: set()})
        return self._paint(True, layer, task, view or table.dtype, extra)

    def paint_flags(self, select: FlagSelect) -> da.Array:
        """A bool array of the selected flags of each object (no numbering needed)."""
        layer = f"label-flags-{tokenize(self.token, select)}"

        def task(block, source):
            b = block.block_id
            leaf, final = self._key("info", b), self._final(b)
            return (paint_flags, source, leaf, final, self.labeller, select)

        return self._paint(False, layer, task, np.dtype(bool))

    @cached_property
    def _flag_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``touches_border`` and ``has_seed`` of every object (O(objects) on the client)."""
        layer = f"label-flagged-{self.token}"
        count = self.count  # first: on a cluster, the plans are then kept there

        def task(block, source):
            b = block.block_id
            plan, info, final = self._key("plan", b), self._key("info", b), self._final(b)
            return (flagged_numbers, source, plan, info, final, self.labeller)

        graph = self._per_block(True, layer, task)
        keys = [Delayed((layer, *block.index), graph, layer=layer) for block in self.blocks]
        found = dask.compute(*keys)
        tables = []
        for k in range(2):
            table = np.zeros(count + 1, dtype=bool)
            for numbers in found:
                table[numbers[k]] = True
            table[0] = False
            tables.append(table)
        return tables[0], tables[1]

    def has_flag(self, bit: int) -> bool:
        return self.has_border if bit == BORDER else self.has_seeds

    def flag_table(self, bit: int) -> np.ndarray | None:
        """The legacy per-object table of one flag (``None`` if it was not asked for)."""
        if bit == BORDER:
            return self._flag_tables[0] if self.has_border else None
        return self._flag_tables[1] if self.has_seeds else None
