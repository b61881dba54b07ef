"""Exact per-label ``median`` out of core: order-statistic selection by window refinement.

A median is one or two order statistics (ranks ``(n - 1) // 2`` and ``n // 2``). Values
are mapped to order-preserving unsigned 64-bit keys; each label's rank is searched in
a key window ``[lo, hi]`` that starts at the label's [min, max] and shrinks every pass:

* a window holding few values (all such windows together within a budget of
  ``_GATHER_BUDGET`` values) is *gathered*: blocks send the keys inside it and the
  rank is read off exactly;
* a larger window is *bucketed*: blocks count their keys in ``B`` equal key buckets
  (``B`` chosen so all labels together stay within ``_BUCKET_BUDGET`` counters) and the
  window becomes the bucket holding the rank.

Each pass is one tree reduction (O(chunks) tasks). A window shrinks by a factor
``B`` per bucketed pass, so at most ``ceil(64 / log2 B) + 1`` passes follow the first
(counting) pass; typical label sizes need one or two.
"""

from __future__ import annotations

from typing import Any

import dask
import numpy as np

from bigimg.ndimage import _measure_kernels as K
from bigimg.ndimage._measure_args import regions
from bigimg.ndimage._measure_reduce import block_codes, lookup, reduce_tables, tree_reduce

__all__ = ["median", "order_keys", "values_from_keys"]

_GATHER_BUDGET = 1 << 22
_BUCKET_BUDGET = 1 << 22
_SIGN = np.uint64(1 << 63)


def order_keys(vals: np.ndarray) -> np.ndarray:
    """Canonical values (int64/uint64/float64) -> uint64 keys with the same order.

    NaN sorts last, as in ``np.sort``.
    """
    if vals.dtype == np.uint64:
        return vals
    if vals.dtype == np.int64:
        return vals.view(np.uint64) ^ _SIGN
    v = np.where(np.isnan(vals), np.nan, vals)  # one NaN bit pattern, positive
    bits = v.view(np.uint64)
    return np.where(bits >> np.uint64(63), ~bits, bits | _SIGN)


def values_from_keys(keys: np.ndarray, canonical: np.dtype) -> np.ndarray:
    """Inverse of :func:`order_keys`."""
    keys = np.asarray(keys, np.uint64)
    if canonical == np.uint64:
        return keys
    if canonical == np.int64:
        return (keys ^ _SIGN).view(np.int64)
    bits = np.where(keys >> np.uint64(63), keys & ~_SIGN, ~keys)
    return bits.view(np.float64)


# ----------------------------------------------------------------------- one pass
def _select_block(spec, *args, block_id=None):
    state = args[-1]
    x = args[0]
    lab = args[1] if "l" in spec.inputs else None
    keys = order_keys(K.canonical_values(x))
    bkeys, codes = block_codes(lab, spec, keys.size)
    rows_of = np.searchsorted(state["labels"], bkeys)
    nrows = state["labels"].size
    ok = rows_of < nrows
    ok[ok] = state["labels"][rows_of[ok]] == bkeys[ok]
    rowmap = np.where(ok, rows_of, -1)
    vrow = np.where(codes >= 0, rowmap[np.maximum(codes, 0)] if rowmap.size else -1, -1)
    sel = vrow >= 0
    r_all, k_all = vrow[sel], keys[sel]
    g_q, g_k, h_code = [], [], []
    nb = state["buckets"]
    for s in range(2):
        mode, lo, hi = state["mode"][s][r_all], state["lo"][s][r_all], state["hi"][s][r_all]
        inwin = (mode > 0) & (k_all >= lo) & (k_all <= hi)
        r, k, mode, lo = r_all[inwin], k_all[inwin], mode[inwin], lo[inwin]
        q = s * nrows + r
        g = mode == 1
        g_q.append(q[g])
        g_k.append(k[g])
        h = ~g
        bucket = (k[h] - lo[h]) // state["width"][s][r[h]]
        h_code.append(q[h].astype(np.int64) * nb + bucket.astype(np.int64))
    hc, hn = np.unique(np.concatenate(h_code), return_counts=True)
    return {"g_q": np.concatenate(g_q), "g_k": np.concatenate(g_k), "h_code": hc, "h_n": hn}


def _select_merge(spec, parts):
    hc = np.concatenate([p["h_code"] for p in parts])
    hn = np.concatenate([p["h_n"] for p in parts])
    codes, inv = np.unique(hc, return_inverse=True)
    counts = np.bincount(inv.reshape(-1), weights=hn, minlength=codes.size).astype(np.int64)
    return {
        "g_q": np.concatenate([p["g_q"] for p in parts]),
        "g_k": np.concatenate([p["g_k"] for p in parts]),
        "h_code": codes,
        "h_n": counts,
    }


# ----------------------------------------------------------------------- the loop
def _select(r, spec, table, ranks: np.ndarray, canonical) -> np.ndarray:
    """Keys of order statistics ``ranks`` (shape (n, 2)) of every table row."""
    n = table["labels"].size
    lo0 = order_keys(table["vmin"].astype(canonical))
    hi0 = order_keys(table["vmax"].astype(canonical))
    lo = np.stack([lo0, lo0]).copy()
    hi = np.stack([hi0, hi0]).copy()
    k = ranks.T.astype(np.int64).copy()
    cnt = np.stack([table["count"], table["count"]]).astype(np.int64)
    done = lo == hi
    done[1] |= ranks[:, 0] == ranks[:, 1]  # odd counts: one order statistic
    result = np.where(done, lo, np.uint64(0))
    arrays = [a for a in (r.x, r.labels) if a is not None]
    while not done.all():
        active = np.flatnonzero(~done.reshape(-1))
        order = active[np.argsort(cnt.reshape(-1)[active], kind="stable")]
        cum = np.cumsum(cnt.reshape(-1)[order])
        gather = order[cum <= _GATHER_BUDGET]
        hist = np.setdiff1d(active, gather)
        nb = int(max(2, min(256, 2 ** int(np.log2(max(1, _BUCKET_BUDGET // max(1, hist.size)))))))
        mode = np.zeros(2 * n, np.int8)
        mode[gather] = 1
        mode[hist] = 2
        mode = mode.reshape(2, n)
        width = (hi - lo) // np.uint64(nb) + np.uint64(1)
        state = {
            "labels": table["labels"],
            "mode": mode,
            "lo": lo,
            "hi": hi,
            "width": width,
            "buckets": nb,
        }
        out = tree_reduce(
            arrays,
            _select_block,
            _select_merge,
            spec,
            dask.delayed(state, pure=True),
            name="median-select",
        ).compute()
        # gathered windows: read the rank off the sorted keys
        q, gk = out["g_q"], out["g_k"]
        o = np.lexsort((gk, q))
        q, gk = q[o], gk[o]
        first = np.searchsorted(q, gather)
        flat_k = k.reshape(-1)
        result.reshape(-1)[gather] = gk[first + flat_k[gather]]
        done.reshape(-1)[gather] = True
        # bucketed windows: keep the bucket holding the rank
        if hist.size:
            counts = np.zeros((2 * n, nb), np.int64)
            counts.reshape(-1)[out["h_code"]] = out["h_n"]
            counts = counts[hist]
            cum = np.cumsum(counts, axis=1)
            kk = flat_k[hist]
            b = (cum <= kk[:, None]).sum(axis=1)
            below = np.where(b > 0, cum[np.arange(hist.size), np.maximum(b - 1, 0)], 0)
            w = width.reshape(-1)[hist]
            blo = lo.reshape(-1)[hist] + b.astype(np.uint64) * w
            bhi = blo + np.minimum(w - np.uint64(1), hi.reshape(-1)[hist] - blo)
            lo.reshape(-1)[hist], hi.reshape(-1)[hist] = blo, bhi
            flat_k[hist] = kk - below
            cnt.reshape(-1)[hist] = counts[np.arange(hist.size), b]
            fin = blo == bhi
            result.reshape(-1)[hist[fin]] = blo[fin]
            done.reshape(-1)[hist[fin]] = True
    result[1] = np.where(ranks[:, 0] == ranks[:, 1], result[0], result[1])
    return result.T


def _midpoint(a: np.ndarray, b: np.ndarray, dtype: np.dtype, same: np.ndarray):
    if dtype.kind == "f":
        a, b = a.astype(dtype), b.astype(dtype)
        return np.where(same, a, (a + b) / dtype.type(2))
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.where(same, a, (a + b) / 2.0)


def median(input: Any, labels: Any = None, index: Any = None):
    """Exact median of ``input`` per region; twin of ``scipy.ndimage.median``. Computes.

    Parameters
    ----------
    input : array_like or dask array
        Values.
    labels, index : optional
        As in :func:`bigimg.ndimage._measurements.sum_labels` (scipy's rules).

    Returns
    -------
    float or ndarray
        What scipy returns, computed: a scalar for one region (NaN when it is empty),
        else an array of ``index``'s shape; float64 for integer and bool input, the
        input's dtype for floats. An absent label gets the smallest value found under
        the smallest label of ``labels`` (scipy's sort-based result).

    Raises
    ------
    ValueError
        ``labels`` that do not broadcast to ``input``.
    TypeError
        Non-numeric ``input``, ``labels`` or ``index``.

    Notes
    -----
    Computes, in several passes over the data (each an O(chunks)-task tree reduction):
    a counting pass (count, min, max per label), then selection passes that narrow
    each label's key window around its middle rank(s) (see the module docstring).
    Memory bound per task: one block plus at most ``2**22`` gathered values and
    ``2**22`` bucket counters (or 2 buckets per label when there are more labels),
    however large a label is. The number of selection passes is at most
    ``ceil(64 / log2 B) + 1`` with ``B`` buckets per label (8 for 64-bit values with
    256 buckets); small labels finish after one.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage._measure_select import median
    >>> x = np.array([1., 7., 3., 5., 2., 9.]); lab = np.array([1, 1, 1, 2, 2, 0])
    >>> median(da.from_array(x, chunks=2), lab, [1, 2])
    array([3. , 3.5])
    >>> ndi.median(x, lab, [1, 2])
    array([3. , 3.5])
    """
    r = regions(input, labels, index)
    dtype = np.dtype(r.x.dtype)
    canonical = K.canonical_values(np.zeros(1, dtype)).dtype
    extra = {"extrema": True, "first": r.mode == "labels"}
    lazy = reduce_tables(r.x, r.labels, {"mode": r.mode, **r.filters, **extra})
    table = lazy.compute()
    n = table["count"]
    ranks = np.stack([(n - 1) // 2, n // 2], axis=1)
    keys = _select(r, lazy.spec, table, ranks, canonical) if n.size else np.zeros((0, 2))
    a = values_from_keys(keys[:, 0], canonical) if n.size else np.zeros(0, canonical)
    b = values_from_keys(keys[:, 1], canonical) if n.size else np.zeros(0, canonical)
    med = _midpoint(a, b, dtype, ranks[:, 0] == ranks[:, 1])
    out_dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
    if r.mode != "labels":
        return med[0] if med.size else out_dtype.type(np.nan)
    pos, found = lookup(table, r.index)
    if table["first_value"].size:
        fv = table["first_value"][:1]
        missing = _midpoint(fv, fv, dtype, np.zeros(1, bool))[0]
    else:
        missing = out_dtype.type(0)
    res = np.where(found, med[pos] if med.size else missing, missing).astype(out_dtype)
    return res.reshape(r.index.shape)
