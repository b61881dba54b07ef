"""scipy's image foresting transform (``watershed_ift``) as a resumable numba kernel.

The kernel follows scipy's ``NI_WatershedIFT`` step by step, because its result
depends on details a textbook watershed does not have:

* a bucket queue over the costs ``0 .. maxval`` (``maxval`` = the input's maximum),
  each bucket a doubly linked list with a ``first`` and a ``last`` pointer;
* markers (voxels whose marker, read as a C ``int``, is nonzero) start in bucket 0 in
  raster order: the first one found starts the list, later positive markers go to the
  front, negative ones to the back;
* buckets are visited in increasing order and popped from the front; a neighbour is
  ``voxel + offset`` on the *flat* index, skipped only outside ``[0, size)``, so
  neighbours wrap around row and plane ends;
* a neighbour that gets a lower cost takes the popped voxel's label, leaves its bucket
  and goes to the front of its new bucket (the back when the label is negative).

It also reproduces scipy's list bookkeeping exactly, quirks included, because they
change results: a voxel alone in its bucket (both links null) is not unlinked when it
moves, so the bucket keeps pointing at it; popping the last voxel of a bucket does not
reset the bucket's ``last`` pointer. Later inserts then follow those stale pointers
the way scipy's C code does (dropping or re-ordering queued voxels). Voxels are never
checked for being done when popped.

State lives in arrays the caller provides (numpy arrays or memory maps of files):

``inp``   the input, uint8 or uint16, flat;
``cost``  uint16 (uint8 input) or uint32 (uint16 input); the top bit is scipy's
          ``done`` flag; voxels never reached hold :func:`unreached_cost` (any value
          above ``maxval`` compares the same);
``nxt``, ``prv``  links as flat index + 1 (0 is null, so fresh zero-filled files need
          no initialisation), int32 when the volume has fewer than 2**31 - 1 voxels;
``out``   the labels in the output dtype.

The queue heads (``first``, ``last``, one entry per cost level) and the current level
are small arrays the caller keeps between calls, so the work can be split into bursts
of a bounded number of pops.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "POSITIVE_MARKER",
    "NEGATIVE_MARKER",
    "cost_dtype",
    "link_dtype",
    "marker_codes",
    "neighbour_offsets",
    "propagate",
    "seed_queue",
    "unreached_cost",
    "watershed_in_memory",
]

_JIT = dict(nogil=True, cache=True)

#: Codes the marker pass writes into ``cost`` before :func:`seed_queue` runs.
POSITIVE_MARKER = 0
NEGATIVE_MARKER = 1


def cost_dtype(input_dtype: np.dtype) -> np.dtype:
    """Costs reach ``maxval + 1`` at most: 257 for uint8, 65536 for uint16 input."""
    return np.dtype(np.uint16 if np.dtype(input_dtype).itemsize == 1 else np.uint32)


def unreached_cost(cost: np.dtype) -> int:
    """The cost of a voxel no marker reached yet: above any input value, below ``done``."""
    return (1 << (8 * np.dtype(cost).itemsize - 1)) - 1


def link_dtype(size: int) -> np.dtype:
    """Links hold a flat index + 1."""
    return np.dtype(np.int32 if size < 2**31 - 1 else np.int64)


def marker_codes(markers: np.ndarray, cost: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """scipy's reading of a block of markers: ``(labels as C int, cost codes)``.

    scipy reads each marker into a C ``int`` (64-bit markers wrap to 32 bits); nonzero
    ones are markers. The codes are :data:`POSITIVE_MARKER`, :data:`NEGATIVE_MARKER`
    or :func:`unreached_cost`.
    """
    labels = markers.astype(np.int64, copy=False).astype(np.int32)
    codes = np.full(labels.shape, unreached_cost(cost), dtype=cost)
    codes[labels > 0] = POSITIVE_MARKER
    codes[labels < 0] = NEGATIVE_MARKER
    return labels, codes


def neighbour_offsets(structure: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat-index offsets of the structure's elements in raster order, zeros dropped.

    Like scipy, an element whose flat offset is 0 (the centre, or a combination that
    cancels on an axis of length 1) is skipped; duplicates are kept.
    """
    strides = np.ones(len(shape), dtype=np.int64)
    for ax in range(len(shape) - 2, -1, -1):
        strides[ax] = strides[ax + 1] * shape[ax + 1]
    offsets = [
        int(np.dot(np.asarray(idx, dtype=np.int64) - 1, strides))
        for idx in np.ndindex(*structure.shape)
        if structure[idx]
    ]
    return np.array([o for o in offsets if o != 0], dtype=np.int64)


@numba.njit(**_JIT)
def seed_queue(cost, nxt, prv, first, last, start, stop):
    """Queue the markers of ``[start, stop)`` in bucket 0, as scipy does, in raster order.

    ``cost`` holds the marker codes; markers get cost 0. Call over consecutive ranges.
    """
    for j in range(start, stop):
        code = cost[j]
        if code != POSITIVE_MARKER and code != NEGATIVE_MARKER:
            continue
        cost[j] = 0
        node = j + 1
        if first[0] == 0:
            first[0] = node
            last[0] = node
            nxt[j] = 0
            prv[j] = 0
        elif code == POSITIVE_MARKER:
            nxt[j] = first[0]
            prv[j] = 0
            prv[first[0] - 1] = node
            first[0] = node
        else:
            nxt[j] = 0
            prv[j] = last[0]
            nxt[last[0] - 1] = node
            last[0] = node


@numba.njit(**_JIT)
def propagate(inp, cost, nxt, prv, out, offsets, first, last, state, max_pops):
    """Run scipy's propagation for at most ``max_pops`` pops; return how many ran.

    ``state[0]`` is the current cost level (start at 0), ``state[1]`` is ``maxval``;
    the work is finished when ``state[0] > state[1]``.
    """
    size = inp.size
    level = state[0]
    maxval = state[1]
    done = cost.dtype.type(1 << (8 * cost.itemsize - 1))
    value = cost.dtype.type(done - 1)
    pops = 0
    while level <= maxval:
        node = first[level]
        if node == 0:
            level += 1
            continue
        if pops >= max_pops:
            break
        pops += 1
        v = node - 1
        first[level] = nxt[v]
        if first[level] != 0:
            prv[first[level] - 1] = 0
        prv[v] = 0
        nxt[v] = 0
        vcost = np.int64(cost[v] & value)
        cost[v] = cost[v] | done
        vval = np.int64(inp[v])
        for k in range(offsets.size):
            p = v + offsets[k]
            if p < 0 or p >= size:
                continue
            pc = cost[p]
            if pc & done:
                continue
            pcost = np.int64(pc)
            w = np.int64(inp[p]) - vval
            if w < 0:
                w = -w
            new = vcost if vcost > w else w
            if new >= pcost:
                continue
            cost[p] = new
            label = out[v]
            out[p] = label
            pnode = p + 1
            before = prv[p]
            after = nxt[p]
            if (before != 0 or after != 0) and pcost <= maxval:
                if first[pcost] == pnode:
                    first[pcost] = after
                if last[pcost] == pnode:
                    last[pcost] = before
                if before != 0:
                    nxt[before - 1] = after
                if after != 0:
                    prv[after - 1] = before
            if label < 0:
                prv[p] = last[new]
                nxt[p] = 0
                if last[new] != 0:
                    nxt[last[new] - 1] = pnode
                last[new] = pnode
                if first[new] == 0:
                    first[new] = pnode
            else:
                nxt[p] = first[new]
                prv[p] = 0
                if first[new] != 0:
                    prv[first[new] - 1] = pnode
                first[new] = pnode
                if last[new] == 0:
                    last[new] = pnode
    state[0] = level
    return pops


def watershed_in_memory(
    input: np.ndarray, markers: np.ndarray, structure: np.ndarray, dtype: np.dtype
) -> np.ndarray:
    """The whole algorithm on in-memory arrays (the reference the out-of-core run follows).

    ``input`` uint8/uint16, ``markers`` integer, ``dtype`` the output's (a signed
    integer type, as scipy requires).
    """
    inp = np.ascontiguousarray(input).reshape(-1)
    cdt = cost_dtype(inp.dtype)
    labels, cost = marker_codes(np.asarray(markers).reshape(-1), cdt)
    out = labels.astype(dtype)
    links = link_dtype(inp.size)
    nxt = np.zeros(inp.size, links)
    prv = np.zeros(inp.size, links)
    maxval = int(inp.max()) if inp.size else 0
    first = np.zeros(maxval + 1, links)
    last = np.zeros(maxval + 1, links)
    seed_queue(cost, nxt, prv, first, last, 0, inp.size)
    offsets = neighbour_offsets(np.asarray(structure, bool), np.shape(input))
    state = np.array([0, maxval], dtype=np.int64)
    while state[0] <= maxval:
        propagate(inp, cost, nxt, prv, out, offsets, first, last, state, 1 << 62)
    return out.reshape(np.shape(input))
