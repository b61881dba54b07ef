"""Where a running sum first meets a non-finite value: the uniform filter's pre-pass.

``NI_UniformFilter1D`` keeps one running sum in double along each extended line
(``tmp += new - old``). Once a NaN or an infinity has entered it the sum never becomes
finite again (``inf - inf`` is NaN), so scipy's output at a voxel is NaN as soon as a
non-finite value came *anywhere before* its window on the line, and is decided by its
window otherwise. Which lines that is cannot be seen from a block and its halo; this
module finds it before any block is computed:

1. every block reports, per line of the first pass, its first non-finite voxel and
   whether the voxels that the mode copies into the padding are finite;
2. one task per column of blocks combines them into ``J_0``, the first non-finite
   position of each extended line (padding included);
3. one task per group of lines (a block of the axes that no pass filters: lines of
   different groups never meet) derives the later passes: pass ``q`` reads the output
   of pass ``q - 1``, non-finite exactly where its window reached ``J_{q-1}``, so
   ``J_q`` is a running minimum along the axis of pass ``q`` (:func:`derive`). It
   writes every ``J_q`` to scratch (one small array per pass, the group's shape
   without that pass's axis) and is the barrier of the blocks of its group.

A finite sum that overflows (values near the float64 maximum, or a float32 output
smaller than the sums) is outside this reasoning and stays chunk-dependent.
"""

from __future__ import annotations

import itertools

import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._nonfinite._passes import CONSTANT, LinePass, ext_index
from bigimg._nonfinite._regions import read_box
from bigimg._scratch import Scratch

__all__ = ["PrefixStore", "derive", "prefix_store"]

#: "No non-finite value on this line".
NONE = np.int64(2**62)


def _cval_nonfinite(p: LinePass) -> bool:
    return p.mode in CONSTANT and not np.isfinite(p.cval)


def _summary(block: np.ndarray, lo: int, p: LinePass, n: int):
    """Per line of ``block`` along the first pass's axis: the first non-finite voxel
    (global index or NONE), and non-finiteness of the padding's source voxels inside."""
    bad = ~np.isfinite(block)
    shape = tuple(1 if ax == p.axis else m for ax, m in enumerate(block.shape))
    ext = ext_index(n, p.left, p.right, p.mode)
    pads = np.concatenate([ext[: p.left], ext[p.left + n :]])
    inside = sorted({int(s) for s in pads if lo <= s < lo + block.shape[p.axis]})
    if not bad.any():  # the common case: nothing to find
        return np.full(shape, NONE), {s: np.zeros(shape, bool) for s in inside}
    any_bad = bad.any(axis=p.axis, keepdims=True)
    first = np.where(any_bad, bad.argmax(axis=p.axis, keepdims=True) + lo, NONE)
    flags = {s: np.take(bad, [s - lo], axis=p.axis) for s in inside}
    return first.astype(np.int64), flags


def _column(p: LinePass, n: int, *summaries) -> np.ndarray:
    """``J_0`` of the lines of one column of blocks (their summaries in any order)."""
    first = np.minimum.reduce([s[0] for s in summaries])
    flags = {k: v for s in summaries for k, v in s[1].items()}
    ext = ext_index(n, p.left, p.right, p.mode)
    out = np.full(first.shape, NONE)
    nonfinite_cval = _cval_nonfinite(p)

    def mark(position, source):
        bad = nonfinite_cval if source < 0 else flags[int(source)]
        np.copyto(out, np.int64(position), where=(out == NONE) & bad)

    for i in range(p.left):
        mark(i - p.left, ext[i])
    np.copyto(out, first, where=out == NONE)
    for i in range(p.right):
        mark(n + i, ext[p.left + n + i])
    return out


def derive(prev_first: np.ndarray, prev: LinePass, p: LinePass, shape) -> np.ndarray:
    """``J_q`` of pass ``p`` from ``J_{q-1}`` of ``prev`` (both keep their axis, length 1).

    >>> from bigimg._nonfinite._passes import LinePass
    >>> f = np.dtype(float)
    >>> p0, p1 = LinePass("uniform", 0, 3, 0, "reflect", 0.0, f), LinePass(
    ...     "uniform", 1, 3, 0, "reflect", 0.0, f)
    >>> j0 = np.array([[NONE, 2, NONE]])  # column 1 meets a non-finite value at row 2
    >>> derive(j0, p0, p1, (4, 3)).ravel().tolist()  # rows 0, 1 finite; then column 1
    [4611686018427387904, 1, 1, 1]
    """
    a, b = prev.axis, p.axis
    nonfinite_cval = _cval_nonfinite(p)
    if prev.dtype.kind == "f":  # an integer output holds no NaN for the next pass
        reach = np.where(prev_first == NONE, NONE, prev_first - prev.right)
    else:
        reach = np.full(prev_first.shape, NONE)
    lines = np.moveaxis(np.take(reach, 0, axis=a), b - (b > a), -1)
    ext = ext_index(shape[b], p.left, p.right, p.mode)
    g = np.take(lines, np.clip(ext, 0, None), axis=-1)
    g[..., ext < 0] = -NONE if nonfinite_cval else NONE
    g = np.minimum.accumulate(g, axis=-1).reshape(-1, len(ext))
    t = -np.arange(shape[a], dtype=np.int64)
    idx = np.stack([np.searchsorted(-row, t, side="left") for row in g])
    first = np.where(idx == len(ext), NONE, idx - p.left)
    first = first.reshape(lines.shape[:-1] + (shape[a],))
    rest = [ax for ax in range(len(shape)) if ax != b]
    first = np.moveaxis(first, -1, rest.index(a))
    return np.expand_dims(first, b)


def _name(group: tuple, what) -> str:
    return "prefix-" + "-".join(map(str, (*group, what))) + ".raw"


def _first_shape(shape, p: LinePass) -> tuple[int, ...]:
    return tuple(1 if ax == p.axis else n for ax, n in enumerate(shape))


def _write_group(scratch: Scratch, passes, shape, group, layout, *columns) -> int:
    """Assemble a group's ``J_0`` from its columns, derive the later passes, write them;
    ``shape`` is the group's (its own extent along the axes no pass filters)."""
    first = np.empty(_first_shape(shape, passes[0]), np.int64)
    for region, column in zip(layout, columns, strict=True):
        first[region] = column
    scratch.write_block(_name(group, 0), first)
    seen = bool((first != NONE).any())
    for q in range(1, len(passes)):
        first = derive(first, passes[q - 1], passes[q], shape)
        scratch.write_block(_name(group, q), first)
        seen = seen or bool((first != NONE).any())
    # written last, one byte: 1 if a line of this group meets a non-finite value
    scratch.write_block(_name(group, "status"), np.array([seen], np.int8))
    return 0


class PrefixStore:
    """``J_q`` of every uniform pass, in scratch once the barriers have run.

    The axes that no pass filters split the volume into *groups* (their blocks), whose
    lines never meet: each group has its own files and its own barrier, so a block
    waits only for the pre-pass of its own group (a time point of a series filtered
    along space waits for no other time point).
    """

    def __init__(self, scratch: Scratch, passes, chunks, barriers: dict) -> None:
        self.scratch = scratch
        self.passes = tuple(passes)
        self.chunks = tuple(tuple(c) for c in chunks)
        self.shape = tuple(sum(c) for c in self.chunks)
        self.free = tuple(
            ax for ax in range(len(self.shape)) if ax not in {p.axis for p in self.passes}
        )
        self.barriers = barriers  # group -> Delayed

    def __getstate__(self):
        return {**self.__dict__, "barriers": {}}  # a task needs the files, not the graph

    def __dask_tokenize__(self):
        return ("bigimg-prefix-store", self.scratch.path, self.passes)

    def barrier_keys(self, region) -> list:
        """Keys of the barriers of the groups a region (slices) touches."""
        return [self.barriers[g].key for g, _, _ in self._groups(region)]

    def _groups(self, box):
        """(group, its start, the part of ``box`` inside it) for every group touched."""
        per_axis = []
        for ax in self.free:
            lo, hi = (box[ax].start, box[ax].stop) if isinstance(box[ax], slice) else box[ax]
            starts = np.cumsum((0,) + self.chunks[ax])
            found = []
            for g in range(len(self.chunks[ax])):
                a, b = max(lo, int(starts[g])), min(hi, int(starts[g + 1]))
                if a < b or (lo == hi == a):
                    found.append((g, int(starts[g]), (a, b)))
            per_axis.append(found)
        for combo in itertools.product(*per_axis):
            yield tuple(c[0] for c in combo), [c[1] for c in combo], [c[2] for c in combo]

    def infected(self, q: int, p: LinePass, box) -> np.ndarray:
        """Lines of pass ``q``'s output ``box`` that met a non-finite value before their
        first window (the pass's axis last, as :func:`._passes.run_pass` wants)."""
        out = np.zeros([hi - lo for ax, (lo, hi) in enumerate(box) if ax != p.axis], bool)
        lines = [ax for ax in range(len(box)) if ax != p.axis]
        for group, starts, parts in self._groups(box):
            status = _name(group, "status")
            if not self.scratch.read_block(status, (1,), np.int8)[0]:
                continue  # nothing non-finite in this group: no file to read
            gshape = list(_first_shape(self.shape, p))
            local = [(0, 1) if ax == p.axis else b for ax, b in enumerate(box)]
            for ax, start, (a, b) in zip(self.free, starts, parts, strict=True):
                gshape[ax] = len(range(*self._bounds(ax, group[self.free.index(ax)])))
                local[ax] = (a - start, b - start)

            def read(region, group=group, gshape=tuple(gshape)):
                return self.scratch.read_block(_name(group, q), gshape, np.int64, region)

            first = read_box(read, local, gshape)
            where = [slice(None)] * len(lines)
            for ax, (a, b) in zip(self.free, parts, strict=True):
                where[lines.index(ax)] = slice(a - box[ax][0], b - box[ax][0])
            flags = np.moveaxis(first < box[p.axis][0] - p.left, p.axis, -1)[..., 0]
            out[tuple(where)] = flags
        return out

    def _bounds(self, ax: int, g: int) -> tuple[int, int]:
        starts = np.cumsum((0,) + self.chunks[ax])
        return int(starts[g]), int(starts[g + 1])


def prefix_store(x: da.Array, passes) -> PrefixStore:
    """The pre-pass over ``x`` for the uniform ``passes`` (computes nothing yet)."""
    p0, n = passes[0], x.shape[passes[0].axis]
    scratch = Scratch(None, "nonfinite")
    token = da.core.tokenize(x, passes, scratch)
    s_name, c_name = f"prefix-block-{token}", f"prefix-column-{token}"
    w_name = f"prefix-{token}"
    filtered = {p.axis for p in passes}
    starts = [np.cumsum((0,) + c) for c in x.chunks]
    dsk: dict = {}
    for idx in np.ndindex(*x.numblocks):
        dsk[(s_name, *idx)] = (_summary, (x.name, *idx), int(starts[p0.axis][idx[p0.axis]]), p0, n)
    groups: dict = {}
    other = [1 if ax == p0.axis else nb for ax, nb in enumerate(x.numblocks)]
    for cidx in np.ndindex(*other):
        blocks = []
        for k in range(x.numblocks[p0.axis]):
            bidx = list(cidx)
            bidx[p0.axis] = k
            blocks.append((s_name, *bidx))
        dsk[(c_name, *cidx)] = (_column, p0, n, *blocks)
        group = tuple(c for ax, c in enumerate(cidx) if ax not in filtered)
        region = tuple(
            slice(0, 1)
            if ax == p0.axis
            else slice(0, x.chunks[ax][c])
            if ax not in filtered
            else slice(int(starts[ax][c]), int(starts[ax][c + 1]))
            for ax, c in enumerate(cidx)
        )
        groups.setdefault(group, []).append((region, (c_name, *cidx)))
    barriers = {}
    for group, parts in groups.items():
        shape = list(x.shape)
        for ax, g in zip(sorted(set(range(x.ndim)) - filtered), group, strict=True):
            shape[ax] = x.chunks[ax][g]
        layout = tuple(r for r, _ in parts)
        key = (w_name, *group) if group else (w_name, 0)
        dsk[key] = (_write_group, scratch, tuple(passes), tuple(shape), group, layout)
        dsk[key] += tuple(k for _, k in parts)
        barriers[group] = key
    graph = HighLevelGraph.from_collections(w_name, dsk, dependencies=[x])
    delayed = {g: Delayed(k, graph, layer=w_name) for g, k in barriers.items()}
    return PrefixStore(scratch, passes, x.chunks, delayed)
