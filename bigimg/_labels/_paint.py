"""Step 5 of the tree merge: label a block again and paint it from its own plan.

A block's lookup table (local label -> object number) is built inside its paint task
from its :class:`~bigimg._labels._rank.Plan` (O(block rows + block surface)) and its
own labelling, so no table of every object ever exists, on the client or in the graph.

* :func:`paint_numbers` — object numbers (``label``'s result), or any per-object
  ``table`` indexed by them (:func:`paint_table`, the legacy ``paint`` API);
* :func:`paint_flags` — a bool per object from the border / seed flags carried
  through the tree (``binary_fill_holes``, ``binary_propagation``): no numbering at
  all is needed;
* :func:`flagged_numbers` — the numbers of flagged objects (the legacy
  ``touches_border`` / ``has_seed`` tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bigimg._labels._kernel import BlockLabeller, BlockRuns
from bigimg._labels._leaf import BORDER, SEED, Leaf, local_first
from bigimg._labels._rank import Plan, block_numbers, final_keys
from bigimg._labels._tree import Changes

__all__ = [
    "FlagSelect",
    "flagged_numbers",
    "label_flags",
    "paint_flags",
    "paint_numbers",
    "paint_table",
]


def paint_numbers(
    block: np.ndarray,
    plan: Plan,
    labeller: BlockLabeller,
    dtype: np.dtype,
    view: np.dtype | None = None,
) -> np.ndarray:
    """The block's object numbers as ``dtype`` (``view``: reinterpret the bytes)."""
    runs = labeller.runs(block)
    lut = block_numbers(runs, plan).astype(dtype)
    out = labeller.paint(runs, lut[runs.labels])
    return out.view(view) if view is not None else out


def paint_table(
    block: np.ndarray,
    plan: Plan,
    labeller: BlockLabeller,
    table: np.ndarray,
    view: np.dtype | None = None,
) -> np.ndarray:
    """``table[k]`` on object ``k``, ``table[0]`` on the background."""
    runs = labeller.runs(block)
    lut = table[block_numbers(runs, plan)]
    out = labeller.paint(runs, lut[runs.labels], lut[0])
    return out.view(view) if view is not None else out


def label_flags(runs: BlockRuns, leaf: Leaf, final: Changes) -> np.ndarray:
    """Final :data:`BORDER` / :data:`SEED` bits of each local label 0..count."""
    if runs.count != leaf.count:
        raise RuntimeError(
            f"block relabelled with {runs.count} labels but its summary had {leaf.count}; "
            "the input must give the same values every time it is computed"
        )
    flags = np.zeros(runs.count + 1, dtype=np.uint8)
    for bits, bit in ((leaf.border_bits, BORDER), (leaf.seed_bits, SEED)):
        if bits is not None:
            flags[1:] |= np.unpackbits(bits, count=runs.count) * bit
    # face labels whose object reaches further: that object's flags
    _, changed, pos = final_keys(leaf, final)
    if changed.any():
        labels = np.searchsorted(runs.first, local_first(leaf.ids[changed], leaf)) + 1
        flags[labels] = final.flags[pos[changed]]
    return flags


@dataclass(frozen=True)
class FlagSelect:
    """Paint ``(flags & bits != 0) != invert`` on objects and ``background`` elsewhere."""

    bits: int
    invert: bool
    background: bool


def paint_flags(
    block: np.ndarray, leaf: Leaf, final: Changes, labeller: BlockLabeller, select: FlagSelect
) -> np.ndarray:
    """A bool block: each object's selected flags, the background's fixed value."""
    runs = labeller.runs(block)
    value = ((label_flags(runs, leaf, final) & np.uint8(select.bits)) != 0) != select.invert
    value[0] = select.background
    value = value.view(np.uint8)
    return labeller.paint(runs, value[runs.labels], value[0]).view(bool)


def flagged_numbers(
    block: np.ndarray, plan: Plan, leaf: Leaf, final: Changes, labeller: BlockLabeller
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of the objects of this block with the :data:`BORDER` / :data:`SEED` flag."""
    runs = labeller.runs(block)
    numbers = block_numbers(runs, plan)
    flags = label_flags(runs, leaf, final)
    return (
        np.unique(numbers[(flags & BORDER) != 0]),
        np.unique(numbers[(flags & SEED) != 0]),
    )
