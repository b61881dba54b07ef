"""Step 3 of the tree merge: union the face labels in a binary tree of block boxes.

:func:`build_tree` splits the block grid in two along its longest axis (in blocks),
recursively, down to single blocks; :func:`route_pairs` sends each pair of touching
blocks to the node whose split separates them (their lowest common ancestor).

Keys: a label's id is the global raster index of its first voxel; a component's key
is the smallest id of its labels, so it lies inside any box holding the component and,
at the root, it is the first voxel scipy numbers the object by.

Up the tree (:func:`merge_node`) every node makes an :class:`Outer` table: the face
labels of its blocks on the node's *outer* faces (faces shared with blocks outside
it), each with the key and flags of its component inside the node. A node unions its
children's outer components along the pairs routed to it (``scipy.sparse.csgraph``
on that small graph) and ORs their flags (:data:`MULTI` marks components of more than
one label). It keeps only the *changes*: the children's keys whose component merged
or whose flags changed, with their new key and flags. A component that reaches
outside a box has a label on the box's outer faces, so every table is O(surface of
the node), never O(objects); changes are sparser still.

Down the tree (:func:`resolve_child`) every node learns the final key and flags of
those of its outer keys that change above it; whether a key belongs to a child is
read from its position (the voxel it names lies in the child's box). At a block this
gives the final key and flags of its face labels that change; every other label of
the block keeps its own id as key.

Numbers travel the same way (:func:`gather_numbers` up, :func:`spread_numbers`
down): the block that *owns* a component (its final key lies in the block) knows its
number from the distributed rank (:mod:`bigimg._labels._rank`); only components of
several labels that cross a box's faces are sent through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from bigimg._labels._leaf import MULTI, SEED, Crossing, Leaf, face_bit_dtype

__all__ = [
    "Box",
    "Changes",
    "NodeSpec",
    "Numbers",
    "Outer",
    "Tree",
    "Up",
    "build_tree",
    "gather_numbers",
    "inside",
    "lookup",
    "merge_node",
    "no_changes",
    "no_numbers",
    "resolve_child",
    "route_pairs",
    "spread_numbers",
    "total_count",
]


@dataclass(frozen=True, eq=False)
class Tree:
    """A binary tree of boxes of blocks (node 0 is the root, children after parents).

    Per node: ``lo``/``hi`` its box in block units (``hi`` exclusive), ``axis`` and
    ``mid`` the split (``axis`` -1 for a leaf), ``children`` ``(n, 2)`` (-1 for a
    leaf), ``parent`` (-1 for the root), ``block`` the flat block id of a leaf (-1
    otherwise). ``leaf_of[b]`` is the node of block ``b``.
    """

    grid: tuple[int, ...]
    lo: np.ndarray
    hi: np.ndarray
    axis: np.ndarray
    mid: np.ndarray
    children: np.ndarray
    parent: np.ndarray
    block: np.ndarray
    leaf_of: np.ndarray

    @property
    def size(self) -> int:
        return int(self.axis.size)


def build_tree(grid: Sequence[int]) -> Tree:
    """Split ``grid`` (blocks per axis) in halves along its longest axis, recursively."""
    grid = tuple(int(g) for g in grid)
    lo, hi, axis, mid, parent = [], [], [], [], []
    stack = [((0,) * len(grid), grid, -1)]
    while stack:
        box_lo, box_hi, up = stack.pop()
        node = len(lo)
        lo.append(box_lo), hi.append(box_hi), parent.append(up)
        sizes = np.subtract(box_hi, box_lo)
        if sizes.prod() == 1:
            axis.append(-1), mid.append(-1)
            continue
        a = int(np.argmax(sizes))
        m = box_lo[a] + int(sizes[a]) // 2
        axis.append(a), mid.append(m)
        upper_lo = tuple(m if b == a else v for b, v in enumerate(box_lo))
        lower_hi = tuple(m if b == a else v for b, v in enumerate(box_hi))
        stack.append((upper_lo, box_hi, node))  # popped second: larger id
        stack.append((box_lo, lower_hi, node))
    n = len(lo)
    lo_arr, hi_arr = np.array(lo, np.int64), np.array(hi, np.int64)
    parent_arr = np.array(parent, np.int64)
    children = np.full((n, 2), -1, dtype=np.int64)
    for node in range(1, n):
        p = parent_arr[node]
        children[p, 0 if children[p, 0] < 0 else 1] = node
    axis_arr = np.array(axis, np.int64)
    block = np.full(n, -1, dtype=np.int64)
    leaves = np.flatnonzero(axis_arr < 0)
    block[leaves] = np.ravel_multi_index(tuple(lo_arr[leaves].T), grid)
    leaf_of = np.empty(int(np.prod(grid)), dtype=np.int64)
    leaf_of[block[leaves]] = leaves
    mid_arr = np.array(mid, np.int64)
    return Tree(grid, lo_arr, hi_arr, axis_arr, mid_arr, children, parent_arr, block, leaf_of)


def route_pairs(tree: Tree, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The node separating blocks ``a[i]`` and ``b[i]`` (flat ids, ``a != b``)."""
    ca = np.stack(np.unravel_index(a, tree.grid), axis=1)
    cb = np.stack(np.unravel_index(b, tree.grid), axis=1)
    node = np.zeros(a.size, dtype=np.int64)
    live = np.arange(a.size)
    while live.size:
        n = node[live]
        ax, m = tree.axis[n], tree.mid[n]
        side_a = ca[live, ax] >= m
        side_b = cb[live, ax] >= m
        same = side_a == side_b
        node[live[same]] = tree.children[n[same], side_a[same].astype(np.int64)]
        live = live[same]
    return node


@dataclass(frozen=True)
class Box:
    """A node's box in voxels (``lo``, ``hi`` exclusive) in an array of ``shape``."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    shape: tuple[int, ...]


def inside(keys: np.ndarray, box: Box) -> np.ndarray:
    """Whether the voxel each key (global raster index) names lies in ``box``."""
    coords = np.unravel_index(keys, box.shape)
    hit = np.ones(keys.size, dtype=bool)
    for c, lo, hi in zip(coords, box.lo, box.hi, strict=True):
        hit &= (c >= lo) & (c < hi)
    return hit


@dataclass(frozen=True)
class NodeSpec:
    """A node's box in blocks (``lo``, ``hi``) in a ``grid``; the block id of each child
    that is a single block (-1 otherwise); the other block of each crossing it receives
    (in the order of the crossing arguments)."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    grid: tuple[int, ...]
    child_blocks: tuple[int, int]
    others: tuple[int, ...] = ()


class Outer(NamedTuple):
    """Face labels on a box's outer faces: ``ids`` (sorted), their ``blocks`` and
    ``faces`` bits, and the ``keys`` and ``flags`` of their components in the box."""

    ids: np.ndarray
    blocks: np.ndarray
    faces: np.ndarray
    keys: np.ndarray
    flags: np.ndarray


class Up(NamedTuple):
    """A node's :class:`Outer` table and, over its subtree, the number of labels and
    of merges (labels - merges = components)."""

    outer: Outer
    labels: int
    merges: int


class Changes(NamedTuple):
    """Sorted ``keys`` whose component has another key (``new``) or other ``flags``
    higher up: a node's changes to its children's keys, or the final ones of its own."""

    keys: np.ndarray
    new: np.ndarray
    flags: np.ndarray


class Numbers(NamedTuple):
    """Object ``numbers`` of final ``keys`` (sorted)."""

    keys: np.ndarray
    numbers: np.ndarray


def no_changes() -> Changes:
    """Nothing changes above the root."""
    empty = np.empty(0, np.int64)
    return Changes(empty, empty, np.empty(0, np.uint8))


def no_numbers() -> Numbers:
    """Nothing comes from above the root."""
    return Numbers(np.empty(0, np.int64), np.empty(0, np.int64))


def lookup(keys: np.ndarray, table_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in the sorted ``table_keys`` and whether each is there
    (positions of misses are clipped to a valid index, or 0 in an empty table)."""
    if not table_keys.size:
        return np.zeros(keys.size, dtype=np.int64), np.zeros(keys.size, dtype=bool)
    pos = np.minimum(np.searchsorted(table_keys, keys), table_keys.size - 1)
    return pos, table_keys[pos] == keys


def _as_up(child: Up | Leaf, block: int) -> Up:
    if isinstance(child, Up):
        return child
    ids = child.ids
    blocks = np.full(ids.size, block, dtype=np.int32)
    return Up(Outer(ids, blocks, child.faces, ids, child.flags), child.count, 0)


def _on_outer_faces(blocks, faces, spec: NodeSpec) -> np.ndarray:
    """Rows whose block face bits include a face of the box ``spec`` that has a block
    beyond it (bits exist only for faces shared with another block)."""
    coords = np.unravel_index(blocks, spec.grid)
    keep = np.zeros(blocks.size, dtype=bool)
    for axis, c in enumerate(coords):
        for side, edge in ((0, spec.lo[axis]), (1, spec.hi[axis] - 1)):
            bit = faces.dtype.type(1 << (2 * axis + side))
            keep |= ((faces & bit) != 0) & (c == edge)
    return keep


def _rows_of(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    rows, hit = lookup(ids, sorted_ids)
    if not hit.all():
        raise RuntimeError("a label touching another block is missing from its outer table")
    return rows


def merge_node(
    first: Up | Leaf, second: Up | Leaf, crossings: Sequence[dict[int, Crossing]], spec: NodeSpec
) -> tuple[Up, Changes, np.ndarray]:
    """Union two children's outer components along the pairs between them.

    A child that is a single block comes as its :class:`~bigimg._labels._leaf.Leaf`.
    ``crossings[i]`` is a block's crossings (from
    :func:`~bigimg._labels._leaf.block_leaf`); only its entry for ``spec.others[i]``
    is used. Returns the node's :class:`Up`, its :class:`Changes` to the children's
    keys, and the sorted keys of its outer components of several labels.
    """
    ups = [_as_up(c, b) for c, b in zip((first, second), spec.child_blocks, strict=True)]
    cat = [np.concatenate([a, b]) for a, b in zip(ups[0].outer, ups[1].outer, strict=True)]
    order = np.argsort(cat[0], kind="stable")
    ids, blocks, faces, keys, flags = (c[order] for c in cat)
    faces = faces.astype(face_bit_dtype(len(spec.grid)), copy=False)
    pick = [c[o] for c, o in zip(crossings, spec.others, strict=True) if o in c]
    pairs = np.concatenate([c.pairs for c in pick] or [np.empty((0, 2), np.int64)])
    seeded = np.concatenate([c.seeded for c in pick] or [np.empty(0, np.int64)])
    old, inverse = np.unique(keys, return_inverse=True)
    old_flags = np.zeros(old.size, dtype=np.uint8)
    old_flags[inverse] = flags
    flags_in = old_flags.copy()
    if seeded.size:
        old_flags[inverse[_rows_of(ids, seeded)]] |= SEED
    edges = inverse[_rows_of(ids, pairs.ravel())].reshape(-1, 2)
    graph = sparse.coo_matrix(
        (np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])),
        shape=(old.size, old.size),
    )
    n_comp, comp = csgraph.connected_components(graph, directed=True, connection="weak")
    _, first_of, sizes = np.unique(comp, return_index=True, return_counts=True)
    comp_flags = np.zeros(n_comp, dtype=np.uint8)
    np.bitwise_or.at(comp_flags, comp, old_flags)
    comp_flags[sizes > 1] |= MULTI
    new, new_flags = old[first_of][comp], comp_flags[comp]  # ``old`` is sorted: first = min
    changed = (new != old) | (new_flags != flags_in)
    keep = _on_outer_faces(blocks, faces, spec)
    out_keys, out_flags = new[inverse[keep]], new_flags[inverse[keep]]
    outer = Outer(ids[keep], blocks[keep], faces[keep], out_keys, out_flags)
    merges = ups[0].merges + ups[1].merges + int(old.size - n_comp)
    up = Up(outer, ups[0].labels + ups[1].labels, merges)
    multi = np.unique(out_keys[(out_flags & MULTI) != 0])
    return up, Changes(old[changed], new[changed], new_flags[changed]), multi


def total_count(root: Up | Leaf) -> int:
    """Number of objects: labels minus merges over the whole tree."""
    return int(root.count if isinstance(root, Leaf) else root.labels - root.merges)


def resolve_child(changes: Changes, parent: Changes, box: Box) -> Changes:
    """The final changes of a child's outer keys (the child's voxel ``box``): from its
    parent's changes to its keys and the parent's own final changes."""
    mine = changes.keys[inside(changes.keys, box)]
    above = parent.keys[inside(parent.keys, box)]
    keys = np.union1d(mine, above)
    new, flags = keys, np.zeros(keys.size, np.uint8)
    pos, hit = lookup(keys, changes.keys)
    if hit.any():  # keys not changed here are in ``parent``: their flags come from there
        new = np.where(hit, changes.new[pos], keys)
        flags = changes.flags[pos]
    pos, hit = lookup(new, parent.keys)
    if hit.any():
        new = np.where(hit, parent.new[pos], new)
        flags = np.where(hit, parent.flags[pos], flags)
    return Changes(keys, new, flags.astype(np.uint8, copy=False))


def _merge_numbers(parts: Sequence[Numbers]) -> Numbers:
    keys = np.concatenate([p.keys for p in parts])
    numbers = np.concatenate([p.numbers for p in parts])
    order = np.argsort(keys, kind="stable")
    return Numbers(keys[order], numbers[order])


def gather_numbers(first: Numbers, second: Numbers, multi: np.ndarray, final: Changes, box: Box):
    """Numbers known in a node's subtree of the components that cross its outer faces:
    its outer keys of several labels (``multi``), and the final keys inside its box of
    its outer keys that change above it."""
    known = _merge_numbers([first, second])
    wanted = np.union1d(multi, final.new[inside(final.new, box)])
    _, hit = lookup(known.keys, wanted)
    return Numbers(known.keys[hit], known.numbers[hit])


def spread_numbers(sibling: Numbers, parent: Numbers, final: Changes, box: Box) -> Numbers:
    """Numbers, known to the sibling or from above, of the final keys outside a node's
    ``box`` that its outer keys change to (keys inside come up from below)."""
    need = np.unique(final.new[~inside(final.new, box)])
    known = _merge_numbers([sibling, parent])
    pos, hit = lookup(need, known.keys)
    if not hit.all():
        raise RuntimeError("a component's number did not reach a box holding part of it")
    return Numbers(need, known.numbers[pos])
