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

State lives in arrays the caller provides (numpy arrays or memory maps of files), in
the *brick layout* a :func:`layout` array describes: the volume is seen as 3-D
``(Z, Y, X)`` (leading axes merged into ``Z``, missing ones of length 1), cut into
bricks of ``2**kz x 2**ky x 2**kx`` voxels (:func:`brick_bits`: 8 x 8 x 8 for a large
volume) stored one after the other in C order of the bricks, each brick's voxels in C
order. Every axis is padded to whole bricks; padding voxels are never visited. A voxel
and its neighbours along every axis then usually share a page of a mapped file, where
in C order a neighbour along the first axis is a whole plane away. Bricks of one voxel
(``bits`` 0, 0, 0) are plain C order. The kernels find the voxel of a scipy neighbour
from its coordinates (the flat offset split into per-axis steps with carries, so rows
and planes wrap exactly as flat indices do) and hold *addresses* (positions in the
layout) in the queue links and heads: one bijection of scipy's flat indices, so every
comparison of links gives scipy's answer.

``inp``   the input, uint8 or uint16, flat;
``cost``  uint16 (uint8 input) or uint32 (uint16 input); the top bit is scipy's
          ``done`` flag; voxels never reached hold :func:`unreached_cost` (any value
          above ``maxval`` compares the same);
``nxt``, ``prv``  links as address + 1 (0 is null, so fresh zero-filled files need
          no initialisation), int32 when the layout has fewer than 2**31 - 1 voxels;
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
    "addresses",
    "brick_bits",
    "cost_dtype",
    "gather",
    "layout",
    "link_dtype",
    "marker_codes",
    "neighbour_offsets",
    "neighbour_steps",
    "propagate",
    "propagate_bricks",
    "scatter",
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


#: Voxels per brick of a large volume (8 x 8 x 8): about two pages of records.
BRICK_BITS = 9


def brick_bits(shape: tuple[int, ...], total: int = BRICK_BITS) -> tuple[int, int, int]:
    """Bits of the brick sides ``(kz, ky, kx)`` for a volume of ``shape``.

    Up to ``total`` bits are handed out one at a time to the axis of ``(Z, Y, X)`` (see
    :func:`layout`) with the fewest so far (``X`` first on ties), skipping an axis that
    is already covered by one brick or that would be padded by more than an eighth.
    """
    extents, bits = view_shape(shape), [0, 0, 0]
    for _ in range(total):
        best = None
        for ax in (2, 1, 0):
            n, k = extents[ax], bits[ax] + 1
            if (1 << bits[ax]) >= n or -(-n >> k) << k > n + n // 8:
                continue
            if best is None or bits[ax] < bits[best]:
                best = ax
        if best is None:
            break
        bits[best] += 1
    return bits[0], bits[1], bits[2]


def view_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``shape`` seen as 3-D: leading axes merged, missing ones of length 1."""
    shape = tuple(int(n) for n in shape)
    lead = 1
    for n in shape[:-2]:
        lead *= n
    return (lead, *((1,) * max(0, 2 - len(shape)) + shape[-2:]))


def layout(shape: tuple[int, ...], bits: tuple[int, int, int] | None = None) -> np.ndarray:
    """The brick layout of a volume: ``[Z, Y, X, kz, ky, kx, GZ, GY, GX, size]``.

    ``(Z, Y, X)`` is :func:`view_shape`, ``bits`` the brick sides' bits (default
    :func:`brick_bits`), ``G*`` the bricks along each axis and ``size`` the voxels of the
    layout, padding included.
    """
    extents = view_shape(shape)
    bits = brick_bits(shape) if bits is None else tuple(int(b) for b in bits)
    grid = [-(-n >> k) for n, k in zip(extents, bits, strict=True)]
    size = grid[0] * grid[1] * grid[2] << sum(bits)
    return np.array([*extents, *bits, *grid, size], dtype=np.int64)


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


def neighbour_steps(offsets: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat offsets as steps ``(dz, dy, dx)`` on :func:`view_shape` with ``0 <= dy < Y``
    and ``0 <= dx < X``: adding them with carries gives the flat sum, wrap included."""
    _, ny, nx = view_shape(shape)
    steps = np.zeros((len(offsets), 3), dtype=np.int64)
    for k, o in enumerate(int(o) for o in offsets):
        dx = (o + nx // 2) % nx - nx // 2
        dy = ((o - dx) // nx + ny // 2) % ny - ny // 2
        steps[k] = ((o - dx) // nx - dy) // ny, dy, dx
    return steps


@numba.njit(inline="always")
def _address(z, y, x, kz, ky, kx, gy, gx):
    brick = (((z >> kz) * gy + (y >> ky)) * gx + (x >> kx)) << (kz + ky + kx)
    mz, my, mx = (1 << kz) - 1, (1 << ky) - 1, (1 << kx) - 1
    return brick | ((z & mz) << (ky + kx)) | ((y & my) << kx) | (x & mx)


@numba.njit(inline="always")
def _divide(a, b, reciprocal):
    """``a // b`` for ``0 <= a < 2**52`` from ``reciprocal = 1.0 / b`` (an integer
    division costs several times more)."""
    q = np.int64(a * reciprocal)
    if q * b > a:
        q -= 1
    elif (q + 1) * b <= a:
        q += 1
    return q


@numba.njit(**_JIT)
def addresses(lay, start, stop):
    """Addresses of the flat indices ``[start, stop)``."""
    ny, nx, kz, ky, kx, gy, gx = lay[1], lay[2], lay[3], lay[4], lay[5], lay[7], lay[8]
    out = np.empty(max(stop - start, 0), dtype=np.int64)
    z, rest = divmod(start, ny * nx)
    y, x = divmod(rest, nx)
    for j in range(out.size):
        out[j] = _address(z, y, x, kz, ky, kx, gy, gx)
        x += 1
        if x == nx:
            x = 0
            y += 1
            if y == ny:
                y = 0
                z += 1
    return out


@numba.njit(**_JIT)
def scatter(dst, src, zs, y0, x0, lay, base):
    """``dst[address(zs[i], y0 + j, x0 + k) - base] = src[i, j, k]`` (3-D ``src``)."""
    kz, ky, kx, gy, gx = lay[3], lay[4], lay[5], lay[7], lay[8]
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            for k in range(src.shape[2]):
                dst[_address(zs[i], y0 + j, x0 + k, kz, ky, kx, gy, gx) - base] = src[i, j, k]


@numba.njit(**_JIT)
def gather(dst, src, zs, y0, x0, lay, base):
    """``dst[i, j, k] = src[address(zs[i], y0 + j, x0 + k) - base]`` (3-D ``dst``)."""
    kz, ky, kx, gy, gx = lay[3], lay[4], lay[5], lay[7], lay[8]
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            for k in range(dst.shape[2]):
                dst[i, j, k] = src[_address(zs[i], y0 + j, x0 + k, kz, ky, kx, gy, gx) - base]


@numba.njit(**_JIT)
def seed_queue(cost, nxt, prv, first, last, lay, start, stop):
    """Queue the markers of flat indices ``[start, stop)`` in bucket 0, as scipy does,
    in raster order.

    ``cost`` holds the marker codes; markers get cost 0. Call over consecutive ranges.
    """
    ny, nx, kz, ky, kx, gy, gx = lay[1], lay[2], lay[3], lay[4], lay[5], lay[7], lay[8]
    z, rest = divmod(start, ny * nx)
    y, x = divmod(rest, nx)
    for _ in range(start, stop):
        j = _address(z, y, x, kz, ky, kx, gy, gx)
        x += 1
        if x == nx:
            x = 0
            y += 1
            if y == ny:
                y = 0
                z += 1
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

    For the C order layout (addresses are flat indices; ``offsets`` are
    :func:`neighbour_offsets`). ``state[0]`` is the current cost level (start at 0), ``state[1]`` is ``maxval``;
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


@numba.njit(**_JIT)
def propagate_bricks(inp, cost, nxt, prv, out, steps, lay, first, last, state, max_pops):
    """:func:`propagate` on a layout of bricks (``lay``, see :func:`layout`).

    Neighbours are found from ``steps`` (:func:`neighbour_steps`) on the popped voxel's
    coordinates, which costs more arithmetic per pop than :func:`propagate` (a
    separate kernel, so that the in-memory C-order run keeps its speed).
    """
    nz, ny, nx, kz, ky, kx, gy, gx = lay[0], lay[1], lay[2], lay[3], lay[4], lay[5], lay[7], lay[8]
    kb, kyx = kz + ky + kx, ky + kx
    mb, my, mx = (1 << kb) - 1, (1 << ky) - 1, (1 << kx) - 1
    rgx, rgy = 1.0 / gx, 1.0 / gy
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
        # the coordinates of v from its address
        brick = np.int64(v) >> kb
        inner = np.int64(v) & mb
        rows = _divide(brick, gx, rgx)
        bz = _divide(rows, gy, rgy)
        z = (bz << kz) | (inner >> kyx)
        y = ((rows - bz * gy) << ky) | ((inner >> kx) & my)
        x = ((brick - rows * gx) << kx) | (inner & mx)
        for k in range(steps.shape[0]):
            # scipy's flat neighbour from coordinates, carrying across axes
            px = x + steps[k, 2]
            py = y + steps[k, 1]
            pz = z + steps[k, 0]
            if px >= nx:
                px -= nx
                py += 1
            elif px < 0:
                px += nx
                py -= 1
            if py >= ny:
                py -= ny
                pz += 1
            elif py < 0:
                py += ny
                pz -= 1
            if pz < 0 or pz >= nz:
                continue
            p = _address(pz, py, px, kz, ky, kx, gy, gx)
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
    input: np.ndarray,
    markers: np.ndarray,
    structure: np.ndarray,
    dtype: np.dtype,
    bits: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """The whole algorithm on in-memory arrays (the reference the out-of-core run follows).

    ``input`` uint8/uint16, ``markers`` integer, ``dtype`` the output's (a signed
    integer type, as scipy requires), ``bits`` the bricks of the layout the kernels run
    on (default C order).
    """
    shape = np.shape(input)
    lay = layout(shape, bits)
    where = addresses(lay, 0, int(np.prod(shape)))
    cdt = cost_dtype(np.asarray(input).dtype)
    labels, codes = marker_codes(np.asarray(markers).reshape(-1), cdt)
    inp = np.zeros(lay[-1], np.asarray(input).dtype)
    inp[where] = np.asarray(input).reshape(-1)
    cost = np.zeros(lay[-1], cdt)
    cost[where] = codes
    out = np.zeros(lay[-1], dtype)
    out[where] = labels.astype(dtype)
    links = link_dtype(int(lay[-1]))
    nxt = np.zeros(inp.size, links)
    prv = np.zeros(inp.size, links)
    maxval = int(inp.max()) if inp.size else 0
    first = np.zeros(maxval + 1, links)
    last = np.zeros(maxval + 1, links)
    seed_queue(cost, nxt, prv, first, last, lay, 0, where.size)
    offsets = neighbour_offsets(np.asarray(structure, bool), shape)
    steps = neighbour_steps(offsets, shape)
    state = np.array([0, maxval], dtype=np.int64)
    queue = {"first": first, "last": last, "state": state, "max_pops": 1 << 62}
    while state[0] <= maxval:
        if lay[3:6].any():
            propagate_bricks(inp, cost, nxt, prv, out, steps, lay, **queue)
        else:
            propagate(inp, cost, nxt, prv, out, offsets, **queue)
    return out[where].reshape(shape)
