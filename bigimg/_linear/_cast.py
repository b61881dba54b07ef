"""scipy's line buffers: the boundary extension of a line and the store of a double.

scipy's 1-D filters copy each line into a ``double`` buffer extended at both ends by
the boundary mode (``NI_ExtendLine``) and store each result with a C cast
``(type)double`` (``NI_LineBufferToArray``). :func:`extension_map` gives, for every
position of the extended line, the input index it holds (``-1``: ``cval``), and
:func:`c_cast` is the cast as scipy's x86-64 build performs it, usable in numba code.

The C cast truncates toward zero. Out-of-range values are undefined in C; scipy's
build converts to 8-, 16- and signed 32-bit types through a 32-bit ``cvttsd2si``
(whose out-of-range and NaN result is ``-2**31``) and keeps the low bits, to unsigned
32-bit and 64-bit types through the 64-bit instruction (``-2**63``), and to unsigned
64-bit through the usual split at ``2**63``. :func:`c_cast` reproduces that, so
integer outputs wrap exactly as scipy's (``tests/ndimage/test_linear_kernels.py``
checks values far outside every range against scipy).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = ["MODES", "c_cast", "extend_line", "extension_map", "fill_tile_row"]

#: scipy's boundary modes of the filters.
MODES = frozenset(
    {
        "reflect",
        "grid-mirror",
        "mirror",
        "nearest",
        "wrap",
        "grid-wrap",
        "constant",
        "grid-constant",
    }
)
_I32 = 2.0**31
_I64 = 2.0**63


def extension_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Input index of every position ``-before .. n + after - 1`` of an extended line.

    ``-1`` marks ``cval``. The rules are ``NI_ExtendLine``'s, which extend
    periodically past one reflection (a line shorter than the kernel is reflected
    again and again).

    >>> extension_map(3, 4, 2, "reflect").tolist()
    [2, 2, 1, 0, 0, 1, 2, 2, 1]
    >>> extension_map(3, 2, 2, "mirror").tolist()
    [2, 1, 0, 1, 2, 1, 0]
    >>> extension_map(2, 1, 1, "constant").tolist()
    [-1, 0, 1, -1]
    """
    pos = np.arange(-before, n + after, dtype=np.int64)
    if mode in ("constant", "grid-constant"):
        return np.where((pos >= 0) & (pos < n), pos, -1)
    if mode == "nearest":
        return np.clip(pos, 0, n - 1)
    if mode in ("wrap", "grid-wrap"):
        return pos % n
    if mode in ("reflect", "grid-mirror"):
        m = pos % (2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m)
    if mode == "mirror":
        if n == 1:
            return np.zeros_like(pos)
        m = pos % (2 * n - 2)
        return np.where(m >= n, 2 * n - 2 - m, m)
    raise ValueError(f"`mode` must be one of {sorted(MODES)}; got {mode!r}.")


def c_cast(value, out):  # pragma: no cover - replaced by the overload in numba code
    """``(out.dtype) value`` as scipy's C code casts a double (numba code only)."""
    raise NotImplementedError("c_cast runs inside numba-compiled code only")


# The out-of-range result is chosen before the conversion (a select, not a branch), so
# that the compiler vectorises a loop of casts and never converts an out-of-range value.
def _via_int32(nbtype):
    def impl(value, out):
        inside = value > -_I32 - 1.0 and value < _I32
        return nbtype(np.int32(value if inside else -_I32))

    return impl


def _via_int64(nbtype):
    def impl(value, out):
        inside = value >= -_I64 and value < _I64
        return nbtype(np.int64(value if inside else -_I64))

    return impl


def _to_uint64(value, out):
    if value >= _I64:  # false for NaN: NaN takes the signed path below
        rest = value - _I64
        if rest < _I64:
            return np.uint64(np.int64(rest)) ^ np.uint64(9223372036854775808)
        return np.uint64(0)
    if value >= -_I64:
        return np.uint64(np.int64(value))
    return np.uint64(9223372036854775808)


@overload(c_cast, jit_options={"nogil": True})
def _c_cast(value, out):
    kind = out.dtype
    if isinstance(kind, types.Float):
        if kind.bitwidth == 32:
            return lambda value, out: np.float32(value)
        return lambda value, out: np.float64(value)
    if isinstance(kind, types.Boolean):  # bool outputs are written through a uint8 view
        return None
    if isinstance(kind, types.Integer):
        if kind.bitwidth <= 16 or (kind.bitwidth == 32 and kind.signed):
            return _via_int32(kind)
        if kind.bitwidth == 64 and not kind.signed:
            return _to_uint64
        return _via_int64(kind)
    return None


@njit(nogil=True, cache=True)
def extend_line(into, line, emap, lead, cval):
    """``line`` as doubles in ``into[lead : lead + n]``, padded from it by ``emap``
    (:func:`extension_map`; -1 is ``cval``) on both sides."""
    n = line.shape[0]
    for e in range(lead):
        j = emap[e]
        into[e] = cval if j < 0 else np.float64(line[j])
    body = into[lead : lead + n]
    for k in range(n):
        body[k] = np.float64(line[k])
    for e in range(lead + n, into.shape[0]):
        j = emap[e]
        into[e] = cval if j < 0 else np.float64(line[j])


@njit(nogil=True, cache=True)
def fill_tile_row(into, src, o, j, t0, width, cval):
    """``into[:width]`` = row ``j`` of ``src[o]`` (``(outer, n, inner)``) from column
    ``t0``, as doubles; ``cval`` everywhere when ``j < 0`` (outside the line)."""
    if j < 0:
        for t in range(width):
            into[t] = cval
    else:
        row = src[o, j, t0 : t0 + width]
        for t in range(width):
            into[t] = np.float64(row[t])
