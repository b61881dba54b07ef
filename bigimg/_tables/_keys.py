"""The one order-key mapping: any real dtype onto ``int64`` keys that sort like the values.

Order statistics (:mod:`bigimg._tables._select`) bucket and compare values of any dtype
through their *keys*, with exact integer arithmetic: integers keep their value (uint64
is shifted by 2**63), floats use their sign-magnitude bit pattern with the magnitude
bits of negative numbers flipped, so ``-0.0`` sorts just below ``+0.0`` and the
infinities are ordinary keys. A NaN with the sign bit clear sorts above ``+inf`` (the
NaN numpy makes), one with the sign bit set below ``-inf``.

Also here: the min/max pass that bounds the keys of a whole array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.delayed import Delayed

from bigimg._tables._tree import tree_pass

__all__ = [
    "FLOAT_SIZES",
    "from_keys",
    "key_bounds",
    "min_max",
    "min_max_pass",
    "native_keys",
    "to_keys",
]

_SIGN64 = np.uint64(1 << 63)
_FLOAT_MASK = {2: 0x7FFF, 4: 0x7FFF_FFFF, 8: 0x7FFF_FFFF_FFFF_FFFF}
_FLOAT_VIEW = {2: np.int16, 4: np.int32, 8: np.int64}

#: Item sizes of the float dtypes that have keys.
FLOAT_SIZES = tuple(_FLOAT_MASK)


def native_keys(values: np.ndarray) -> np.ndarray:
    """:func:`to_keys` in the values' own integer width (cheaper; the same numbers).

    Floats: the bit pattern with the magnitude bits of negative numbers flipped;
    integers: the values (uint64 shifted by 2**63 into int64); booleans: 0/1.
    """
    dt = values.dtype
    if dt.kind == "f":
        bits = values.view(_FLOAT_VIEW[dt.itemsize])
        return bits ^ ((bits >> (8 * dt.itemsize - 1)) & _FLOAT_MASK[dt.itemsize])
    if dt == np.uint64:
        return (values ^ _SIGN64).view(np.int64)
    if dt.kind == "b":
        return values.view(np.uint8)
    return values


def to_keys(values: np.ndarray) -> np.ndarray:
    """Map values onto int64 keys that sort like the values (see the module docstring).

    Integers keep their value (uint64 is shifted by 2**63); floats use the bit pattern
    with the magnitude bits of negative numbers flipped, so ``-0.0`` sorts just below
    ``+0.0`` and the infinities are ordinary keys.
    """
    return native_keys(values).astype(np.int64)


def from_keys(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`to_keys`."""
    dtype = np.dtype(dtype)
    keys = np.asarray(keys, dtype=np.int64)
    if dtype.kind == "f":
        bits = np.where(keys < 0, keys ^ _FLOAT_MASK[dtype.itemsize], keys)
        return bits.astype(_FLOAT_VIEW[dtype.itemsize]).view(dtype)
    if dtype == np.uint64:
        return (keys.view(np.uint64) ^ _SIGN64).astype(dtype)
    return keys.astype(dtype)


def key_bounds(dtype: np.dtype) -> tuple[int, int] | None:
    """The key range of every value of a small integer dtype (at most 16 bits), else None."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    return None


# -------------------------------------------------------------------------- min/max
def _min_max_block(block: np.ndarray) -> tuple:
    """(count, NaN count, smallest key, largest key) of one block's non-NaN values."""
    flat = block.reshape(-1)
    if flat.size == 0:
        return 0, 0, None, None
    lo, hi = flat.min(), flat.max()
    nan = 0
    if flat.dtype.kind == "f" and (np.isnan(lo) or np.isnan(hi)):  # NaN propagates
        isnan = np.isnan(flat)
        nan = int(isnan.sum())
        flat = flat[~isnan]
        if flat.size == 0:
            return 0, nan, None, None
        lo, hi = flat.min(), flat.max()
    keys = to_keys(np.array([lo, hi], dtype=flat.dtype))
    return int(flat.size), nan, int(keys[0]), int(keys[1])


def _min_max_merge(parts: Sequence[tuple]) -> tuple:
    n = sum(p[0] for p in parts)
    nan = sum(p[1] for p in parts)
    los = [p[2] for p in parts if p[2] is not None]
    his = [p[3] for p in parts if p[3] is not None]
    return n, nan, (min(los) if los else None), (max(his) if his else None)


def min_max_pass(x: da.Array) -> Delayed:
    """Lazy ``(count, nan_count, min_key, max_key)`` of the non-NaN values of ``x``."""
    return tree_pass(x, _min_max_block, _min_max_merge, name="minmax")


def min_max(x: da.Array) -> tuple[int, int, Any, Any]:
    """Compute ``(count, nan_count, min, max)`` of the non-NaN values (one pass).

    ``min``/``max`` are numpy scalars of ``x.dtype`` (None when there is no value).
    """
    n, nan, lo, hi = min_max_pass(x).compute()
    if lo is None:
        return n, nan, None, None
    vals = from_keys(np.array([lo, hi]), x.dtype)
    return n, nan, vals[0], vals[1]
