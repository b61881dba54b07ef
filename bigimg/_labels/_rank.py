"""Step 4 of the tree merge: number the objects in scipy's order without a global table.

scipy numbers objects 1, 2, ... in raster order of their first voxel. After the tree
merge every component has a final key, the raster index of its first voxel, and
exactly one block *owns* it: the block holding that voxel (its owning label is the one
whose own id equals the final key; every label touching no shared face owns itself).
The number of an owned key ``K`` is one plus the count of owned keys before it:

* keys in earlier *slabs* (blocks sharing their index along axis 0): one scalar per
  slab, summed in :func:`slab_offsets`;
* keys in earlier rows of the same slab (a *row* is a line along the last axis),
  and keys in the same row in blocks to the left: :func:`slab_ranks` sums the
  per-row histograms of owned keys of the slab's blocks and hands each block that
  count for each of its rows; :func:`block_base` adds the slab's offset
  (a :class:`RowBase`);
* owned keys earlier in the same row of the block itself: counted locally, from the
  face labels' positions (:func:`owned_numbers`) or from the block's labels when it
  is painted (:func:`block_numbers`).

Every array here is O(block rows + block surface) per block and O(slab rows) per slab;
nothing is O(objects). A 1-D array is one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bigimg._labels._kernel import BlockRuns
from bigimg._labels._leaf import MULTI, Leaf, local_first
from bigimg._labels._tree import Changes, Numbers, lookup

__all__ = [
    "Plan",
    "RowBase",
    "SlabSpec",
    "block_base",
    "block_numbers",
    "final_keys",
    "foreign_labels",
    "number_plan",
    "owned_numbers",
    "slab_offsets",
    "slab_ranks",
]


@dataclass(frozen=True)
class SlabSpec:
    """The rows of one slab (``rows``: its shape over all axes but the last) and, per
    block of the slab in C order, the box of rows it covers (``(start, stop)`` per
    axis, relative to the slab)."""

    rows: tuple[int, ...]
    boxes: tuple[tuple[tuple[int, int], ...], ...]


def final_keys(leaf: Leaf, final: Changes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final key of each face label, whether it was changed, and where in ``final``."""
    pos, hit = lookup(leaf.ids, final.keys)
    keys = np.where(hit, final.new[pos], leaf.ids) if hit.any() else leaf.ids
    return keys, hit, pos


def _within_row(rows: np.ndarray) -> np.ndarray:
    """For sorted ``rows``: how many entries before each one share its row."""
    start = np.ones(rows.size, dtype=bool)
    start[1:] = rows[1:] != rows[:-1]
    first = np.flatnonzero(start)
    index = np.arange(rows.size)
    return index - np.repeat(first, np.diff(np.append(first, rows.size)))


def _owned(leaf: Leaf, final: Changes) -> np.ndarray:
    """Which face labels own their component (final key is their own id)."""
    return final_keys(leaf, final)[0] == leaf.ids


def slab_ranks(
    leaves: Sequence[Leaf], finals: Sequence[Changes], spec: SlabSpec
) -> tuple[int, list[RowBase]]:
    """Owned keys in the slab, and each block's :class:`RowBase` without the slab's
    offset: owned keys in earlier rows of the slab and earlier in the row, left of it.

    Each base keeps only the rows holding one of its block's labels when they are
    few (:meth:`RowBase.keep`): the result waits in memory until every block of the
    slab has taken its base, and dense bases were 8 bytes per row of the slab's
    blocks (128 MiB for a slab of 256 blocks of 256³; with several slabs waiting, a
    worker of a 4096-block run spiked by 1.6 GiB).
    """
    totals = np.zeros(spec.rows, dtype=np.int64)
    hists = []
    for leaf, final, box in zip(leaves, finals, spec.boxes, strict=True):
        rows = leaf.hist.astype(np.int32)  # labels starting in a row: at most its width
        rows += np.bincount(leaf.rows[_owned(leaf, final)], minlength=rows.size).astype(np.int32)
        region = tuple(slice(a, b) for a, b in box)
        rows = rows.reshape(tuple(b - a for a, b in box))
        totals[region] += rows
        hists.append((region, rows))
    flat = totals.reshape(-1)
    prefix = (np.cumsum(flat) - flat).reshape(spec.rows)
    left: dict[tuple, np.ndarray] = {}
    bases = []
    for leaf, (region, rows) in zip(leaves, hists, strict=True):
        # blocks sharing rows come left to right (C order)
        key = tuple((s.start, s.stop) for s in region)
        before = left.get(key, 0)
        base = (prefix[region] + before).reshape(-1)
        left[key] = before + rows
        first = int(base[0]) if base.size else 0
        base -= first
        dense = RowBase(first, base.astype(np.min_scalar_type(int(base.max(initial=0)))))
        bases.append(dense.keep(np.union1d(np.flatnonzero(leaf.hist), leaf.rows)))
    return int(flat.sum()), bases


def slab_offsets(totals: Sequence[int]) -> np.ndarray:
    """Owned keys in all earlier slabs, per slab (the total is the object count)."""
    totals = np.asarray(totals, dtype=np.int64)
    return np.cumsum(totals) - totals


class RowBase(NamedTuple):
    """Owned keys before each row of a block: ``start + rows[r]`` (``rows`` is
    non-decreasing, so it is stored from 0 in the smallest dtype).

    A block's numbering plan stays on the workers until the labels are painted, so
    :func:`number_plan` keeps only the rows holding a first voxel of one of the
    block's labels when they are few: then ``at`` lists them (sorted) and ``rows[i]``
    is the value of row ``at[i]``. Dense, a 256³ block's table is 256 KiB (1 GiB for
    4096 blocks); kept sparse, about 8 bytes per row holding a label.
    """

    start: int
    rows: np.ndarray
    at: np.ndarray | None = None

    def values(self, rows: np.ndarray) -> np.ndarray:
        """``start + base`` of each of ``rows`` (block-local rows), as int64."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.at is None:
            return self.start + self.rows[rows].astype(np.int64)
        pos = np.searchsorted(self.at, rows)
        if rows.size and (pos.max() >= self.at.size or np.any(self.at[pos] != rows)):
            raise RuntimeError(
                "a label starts in a row its block's plan does not know; the input must "
                "give the same values every time it is computed"
            )
        return self.start + self.rows[pos].astype(np.int64)

    def keep(self, rows: np.ndarray) -> RowBase:
        """The same base, keeping only ``rows`` (sorted, unique) when that is smaller."""
        if self.at is not None or 2 * rows.size >= self.rows.size:
            return self
        at = rows.astype(np.min_scalar_type(max(int(self.rows.size) - 1, 0)))
        return RowBase(self.start, self.rows[rows], at)


def block_base(slab: tuple[int, list[RowBase]], k: int, offsets: np.ndarray, s: int):
    """The :class:`RowBase` of block ``k`` of slab ``s`` (result of :func:`slab_ranks`)."""
    base = slab[1][k]
    return base._replace(start=int(offsets[s]) + base.start)


def owned_numbers(leaf: Leaf, final: Changes, base: RowBase) -> Numbers:
    """Object numbers of the components of several labels this block owns whose
    first voxel is on one of its faces (the only ones other blocks may need)."""
    keys, changed, pos = final_keys(leaf, final)
    if not changed.any():  # nothing here joins another label
        return Numbers(np.empty(0, np.int64), np.empty(0, np.int64))
    owned = np.flatnonzero(keys == leaf.ids)
    rows = leaf.rows[owned].astype(np.int64)
    within = _within_row(rows)
    multi = changed[owned] & ((final.flags[pos[owned]] & MULTI) != 0)
    numbers = base.values(rows) + leaf.before[owned] + within + 1
    return Numbers(leaf.ids[owned][multi], numbers[multi])


class Plan(NamedTuple):
    """What painting a block with object numbers needs: ``count`` labels; its
    :class:`RowBase`; the first voxels (block flat indices, sorted) of its labels
    owned elsewhere and their ``numbers``."""

    count: int
    base: RowBase
    foreign: np.ndarray
    numbers: np.ndarray


def number_plan(leaf: Leaf, final: Changes, known: Sequence[Numbers], base: RowBase) -> Plan:
    """A block's :class:`Plan` from its resolved face labels and the numbers it was
    sent (``known``: its own owned numbers and those spread down the tree)."""
    keys, _, _ = final_keys(leaf, final)
    foreign = keys != leaf.ids
    table = np.concatenate([k.keys for k in known])
    numbers = np.concatenate([k.numbers for k in known])
    order = np.argsort(table, kind="stable")
    pos, hit = lookup(keys[foreign], table[order])
    if not hit.all():
        raise RuntimeError("a component's number did not reach a block holding part of it")
    firsts = local_first(leaf.ids[foreign], leaf)
    labelled = np.union1d(np.flatnonzero(leaf.hist), leaf.rows)  # rows holding a label
    return Plan(leaf.count, base.keep(labelled), firsts, numbers[order][pos])


def foreign_labels(runs: BlockRuns, plan: Plan) -> np.ndarray:
    """The local labels (1..count) of the block's labels owned elsewhere."""
    labels = np.searchsorted(runs.first, plan.foreign)
    if plan.foreign.size and (
        labels.max() >= runs.count or np.any(runs.first[labels] != plan.foreign)
    ):
        raise RuntimeError("the input must give the same values every time it is computed")
    return labels + 1


def block_numbers(runs: BlockRuns, plan: Plan) -> np.ndarray:
    """Object number of each local label 0..count (0 for the background)."""
    if runs.count != plan.count:
        raise RuntimeError(
            f"block relabelled with {runs.count} labels but its summary had {plan.count}; "
            "the input must give the same values every time it is computed"
        )
    width = runs.shape[-1] if runs.shape else 1
    rows = runs.first // max(width, 1)
    foreign = foreign_labels(runs, plan)
    owned = np.ones(runs.count, dtype=bool)
    owned[foreign - 1] = False
    index = np.flatnonzero(owned)
    rows = rows[index]
    within = _within_row(rows)
    values = np.zeros(runs.count + 1, dtype=np.int64)
    values[index + 1] = plan.base.values(rows) + within + 1
    values[foreign] = plan.numbers
    return values
