"""Exact order statistics of a chunked volume by bucketing passes (radix selection).

To find the value of rank ``r`` (0-based, NaN excluded) without sorting the volume:

1. one pass buckets every value into at most ``NBUCKETS`` contiguous value ranges and
   counts them (refinement passes, which touch few values, also record each bucket's
   smallest and largest value present);
2. the cumulative counts say which bucket holds rank ``r`` and its rank inside it, and
   the bucket's value range follows from the bucketing rule (or its recorded extremes);
3. if that bucket holds one distinct value, that value is the answer; if it holds at
   most ``GATHER_LIMIT`` values, one more pass gathers exactly those values and a
   ``np.partition`` selects; otherwise the bucket's value range is bucketed again.

Integers (and every dtype of at most 16 bits) are bucketed by exact integer offsets,
so when the value range spans at most ``NBUCKETS`` values the first pass already
answers (a bincount). Floats are bucketed linearly in value for up to three levels;
after that, or for badly conditioned ranges, they bucket the monotone integer *keys* of
the floats (:func:`bigimg.stats._passes.to_keys`), which needs at most four more levels.
Ranks that fall in the same bucket share the passes. Memory: a block, its bucket indices
or keys and one vector of ``NBUCKETS`` counts per task (three during refinements); a
gather holds at most ``GATHER_LIMIT`` values per pass on the client.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np

from bigimg.stats._passes import (
    from_keys,
    key_bounds,
    min_max_pass,
    native_keys,
    run_passes,
    to_keys,
    tree_pass,
)

__all__ = ["GATHER_LIMIT", "NBUCKETS", "order_statistics"]

#: Buckets per histogram pass.
NBUCKETS = 1 << 16
#: Largest number of values gathered to the client in one pass.
GATHER_LIMIT = 1 << 22
#: Linear (value) bucketing levels before switching to key bucketing.
_LINEAR_LEVELS = 3
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min


# ----------------------------------------------------------------------- block side
def _bucket_index(keys: np.ndarray, values: np.ndarray, spec: tuple) -> np.ndarray:
    """Bucket of each value: monotone in the value, in ``[0, spec[-1])``."""
    if spec[0] == "lin":
        _, lo, scale, nb = spec
        f = np.floor((values.astype(np.float64) - lo) * scale)
        np.clip(f, 0, nb - 1, out=f)
        return f.astype(np.intp)
    _, klo, width, nb = spec
    off = keys.view(np.uint64) - np.uint64(klo % (1 << 64))
    return (off // np.uint64(width)).astype(np.intp)


def _select(block: np.ndarray, klo: int, khi: int, full: bool, need_keys: bool = True):
    """(int64 keys or None, values) of the block's values whose keys lie in [klo, khi]."""
    flat = block.reshape(-1)
    if full:
        return (to_keys(flat) if need_keys else None), flat
    native = native_keys(flat)
    m = (native >= klo) & (native <= khi)
    return (native[m].astype(np.int64) if need_keys else None), flat[m]


def _hist_block(block: np.ndarray, ranges: tuple) -> list:
    """Per range: bucket counts, and (refinements only) each bucket's smallest/largest key.

    A full-volume range only counts (its buckets' key ranges are found on the client);
    a refinement range touches few values, so it also records the actual extremes,
    which resolves a bucket holding one repeated value at once.
    """
    out = []
    for klo, khi, spec, full in ranges:
        keys, vals = _select(block, klo, khi, full, need_keys=not (full and spec[0] == "lin"))
        nb = spec[-1]
        if spec[0] == "key" and spec[2] == 1:  # one key per bucket: a bincount is enough
            out.append((np.bincount(keys - klo, minlength=nb).astype(np.int64), None, None))
            continue
        idx = _bucket_index(keys, vals, spec)
        counts = np.bincount(idx, minlength=nb).astype(np.int64)
        if full:
            out.append((counts, None, None))
            continue
        lo = np.full(nb, _I64_MAX, np.int64)
        hi = np.full(nb, _I64_MIN, np.int64)
        np.minimum.at(lo, idx, keys)
        np.maximum.at(hi, idx, keys)
        out.append((counts, lo, hi))
    return out


def _hist_merge(parts: Sequence[list]) -> list:
    merged = []
    for items in zip(*parts):
        counts = sum(it[0] for it in items)
        if items[0][1] is None:
            merged.append((counts, None, None))
            continue
        lo = np.minimum.reduce([it[1] for it in items])
        hi = np.maximum.reduce([it[2] for it in items])
        merged.append((counts, lo, hi))
    return merged


def _gather_block(block: np.ndarray, ranges: tuple) -> list:
    return [_select(block, klo, khi, False)[0] for klo, khi in ranges]


def _gather_merge(parts: Sequence[list]) -> list:
    return [np.concatenate(items) for items in zip(*parts)]


# ---------------------------------------------------------------------- client side
def _spec(klo: int, khi: int, dtype: np.dtype, level: int) -> tuple:
    """How to bucket the values whose keys lie in ``[klo, khi]``."""
    if dtype.kind == "f" and level < _LINEAR_LEVELS:
        lo, hi = (float(v) for v in from_keys(np.array([klo, khi]), dtype))
        if math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo) and hi > lo:
            scale = NBUCKETS / (hi - lo)
            if math.isfinite(scale) and scale > 0:
                return ("lin", lo, scale, NBUCKETS)
    span = khi - klo + 1
    width = -(-span // NBUCKETS)
    return ("key", klo, width, -(-span // width))


def _bucket_keys(spec: tuple, t: int, klo: int, khi: int, dtype: np.dtype) -> tuple[int, int]:
    """The keys in ``[klo, khi]`` whose bucket is ``t`` (a contiguous key range)."""
    if spec[0] == "key":
        width = spec[2]
        return klo + t * width, min(klo + (t + 1) * width - 1, khi)

    def first_at_least(target: int) -> int:
        """Smallest key in [klo, khi + 1] whose bucket is >= target (khi + 1: none)."""
        a, b = klo, khi + 1
        while a < b:
            mid = (a + b) // 2
            key = np.array([mid], np.int64)
            if int(_bucket_index(key, from_keys(key, dtype), spec)[0]) >= target:
                b = mid
            else:
                a = mid + 1
        return a

    return first_at_least(t), first_at_least(t + 1) - 1


def order_statistics(x: da.Array, ranks: Sequence[int], info: tuple | None = None) -> dict:
    """Values (numpy scalars of ``x.dtype``) at the given ranks among non-NaN values.

    ``info`` is the result of :func:`bigimg.stats._passes.min_max_pass` when the caller
    has it already. Ranks must lie in ``[0, count)``. Computes (several passes).
    """
    dtype = x.dtype
    ranks = sorted({int(r) for r in ranks})
    if not ranks:
        return {}
    bounds = key_bounds(dtype)
    if info is None and bounds is None:
        (info,) = run_passes(min_max_pass(x))
    if info is not None:
        n, nan, kmin, kmax = info
    else:  # small integer dtypes: bucket the whole dtype range in the first pass
        n, nan, (kmin, kmax) = x.size, 0, bounds
    if not ranks[0] >= 0 or not ranks[-1] < n:
        raise ValueError(f"ranks must lie in [0, {n}); got {ranks[0]}..{ranks[-1]}.")
    # state per rank: [klo, khi, count, rank inside the range, level]
    state = {r: [kmin, kmax, n, r, 0] for r in ranks}
    found: dict[int, int] = {}
    while state:
        for r, (klo, khi, _, _, _) in list(state.items()):
            if klo == khi:
                found[r] = klo
                del state[r]
        if not state:
            break
        groups: dict[tuple, list[int]] = {}
        for r, (klo, khi, count, _, level) in state.items():
            groups.setdefault((klo, khi, count, level), []).append(r)
        gather, hist, budget = [], [], GATHER_LIMIT
        for key in groups:
            if key[2] <= budget:
                gather.append(key)
                budget -= key[2]
            elif key[2] > GATHER_LIMIT:
                hist.append(key)
        passes = []
        if gather:
            g_ranges = tuple((klo, khi) for klo, khi, _, _ in gather)
            passes.append(
                tree_pass(x, _gather_block, _gather_merge, name="gather", ranges=g_ranges)
            )
        if hist:
            specs = [_spec(klo, khi, dtype, level) for klo, khi, _, level in hist]
            h_ranges = tuple(
                (klo, khi, spec, bool(klo <= kmin and khi >= kmax and nan == 0))
                for (klo, khi, _, _), spec in zip(hist, specs)
            )
            passes.append(tree_pass(x, _hist_block, _hist_merge, name="bucket", ranges=h_ranges))
        results = list(run_passes(*passes))
        if gather:
            for key, keys in zip(gather, results.pop(0)):
                inner = sorted({state[r][3] for r in groups[key]})
                part = np.partition(keys, inner)
                for r in groups[key]:
                    found[r] = int(part[state[r][3]])
                    del state[r]
        if hist:
            for key, (counts, lo, hi) in zip(hist, results.pop(0)):
                spec = specs[hist.index(key)]
                cum = np.cumsum(counts)
                for r in groups[key]:
                    inner = state[r][3]
                    t = int(np.searchsorted(cum, inner, side="right"))
                    before = int(cum[t - 1]) if t else 0
                    if lo is None:
                        b_lo, b_hi = _bucket_keys(spec, t, key[0], key[1], dtype)
                    else:
                        b_lo, b_hi = int(lo[t]), int(hi[t])
                    state[r] = [b_lo, b_hi, int(counts[t]), inner - before, key[3] + 1]
    keys = np.array([found[r] for r in ranks], np.int64)
    values = from_keys(keys, dtype)
    return {r: values[i] for i, r in enumerate(ranks)}
