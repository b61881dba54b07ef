"""Exact order statistics out of core: window refinement by gathering and bucketing passes.

The one selection behind per-label ``median`` (:func:`region_median`) and whole-volume
quantiles (:func:`order_statistics`). To find the value of rank ``r`` (0-based) among
the values of a *row* (one label, or the whole volume) without sorting, each rank is
searched in a window ``[lo, hi]`` of order keys (:mod:`bigimg._tables._keys`) that
starts at the row's [min, max] and shrinks every pass:

* windows holding few values (all such windows together within ``GATHER_LIMIT``
  values, smallest first) are *gathered*: blocks send the keys inside them and the
  rank is read off exactly;
* larger windows are *bucketed*: blocks count their values in ``B`` contiguous buckets
  per window (``B`` at most ``NBUCKETS``, fewer when many windows share the
  ``_BUCKET_BUDGET`` counters) and record each bucket's smallest and largest key; the
  window becomes the bucket holding the rank, shrunk to the keys present.

Floats are bucketed linearly in value for up to three levels, then (or for badly
conditioned ranges, or once one linear bucket held most of its window) by equal key
ranges, which needs at most ``ceil(64 / log2 B)`` more levels; integers by equal key ranges, so a range of at most ``B`` values is
answered by the first bucket pass (a bincount). Ranks of one row that fall in the same
window share it. A window known to hold every value of its row (the first pass of
:func:`order_statistics`) needs no range test and no extremes. Each pass is one tree
reduction (:func:`bigimg._tables._tree.tree_reduce`, O(chunks) tasks); its state
(windows and rules) enters the graph once. Memory per task: its input blocks, the keys
and bucket codes of one slab of the block (at most ``SLAB_VOXELS`` voxels, about 25
bytes each) and at most one count, minimum and maximum per bucket; a merge task holds
the gathered keys of its blocks (at most ``GATHER_LIMIT`` in all: 16 bytes each with
their windows) and their tallies; the client holds at most ``GATHER_LIMIT`` gathered
keys per pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np

from bigimg._tables import _block
from bigimg._tables._args import Regions
from bigimg._tables._block import SINGLE, block_codes, slab_boxes
from bigimg._tables._keys import from_keys, key_bounds, min_max_pass, native_keys, to_keys
from bigimg._tables._reduce import lookup, make_spec, reduce_tables
from bigimg._tables._tree import run_passes, tree_reduce

__all__ = ["GATHER_LIMIT", "NBUCKETS", "order_statistics", "region_median", "select_keys"]

#: Largest number of values gathered to the client in one pass (all windows together).
GATHER_LIMIT = 1 << 22
#: Most buckets one window is split into in one pass.
NBUCKETS = 1 << 16
#: Most bucket counters in one pass, all windows together.
_BUCKET_BUDGET = 1 << 22
#: Linear (value) bucketing levels of floats before switching to key bucketing.
_LINEAR_LEVELS = 3
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min
_GATHER, _KEY, _LINEAR = 1, 2, 3


# ----------------------------------------------------------------------- block side
def _lin_bucket(values, vlo, scale, nb):
    """Linear bucket of each value (monotone in the value), in ``[0, nb)``."""
    f = np.floor((values.astype(np.float64) - vlo) * scale)
    np.clip(f, 0, nb - 1, out=f)
    return f.astype(np.int64)


def _block_rows(spec, args, labels):
    """(row of each measured voxel or None when all are row 0, their values)."""
    flat = np.ascontiguousarray(args[0]).reshape(-1)
    if spec.mode == "all":
        return None, flat
    lab = args[1] if "l" in spec.inputs else None
    bkeys, codes = block_codes(lab, spec, flat.size)
    at = np.minimum(np.searchsorted(labels, bkeys), max(labels.size - 1, 0))
    rowmap = np.where(labels[at] == bkeys, at, -1) if labels.size else np.full(bkeys.size, -1)
    vrow = np.where(codes >= 0, rowmap[np.maximum(codes, 0)] if rowmap.size else -1, -1)
    sel = vrow >= 0
    return vrow[sel], flat[sel]


def _block_keys(vals, st):
    keys = native_keys(vals)
    if st["nan"]:  # a window reaches NaN: every NaN sorts last, as in np.sort
        keys = np.where(keys < st["nan"][0], st["nan"][1], keys)
    return keys


def _emit(st, kind, w, vals, keys, out):
    """Gathered keys or bucket codes of the values ``vals`` of windows ``w`` of one kind."""
    if kind == _GATHER:
        out["g_w"].append(np.broadcast_to(np.asarray(w, np.int64), keys.shape))
        out["g_k"].append(keys.astype(np.int64))
        return
    nb = st["nb"]
    if kind == _KEY:
        off = keys.astype(np.int64).view(np.uint64) - np.asarray(st["lo"][w]).view(np.uint64)
        b = (off // st["width"][w]).astype(np.int64)
    else:
        b = _lin_bucket(vals, st["vlo"][w], st["scale"][w], nb)
    out["h_c"].append(st["hpos"][w] * nb + b)
    if st["extremes"]:
        out["h_k"].append(keys.astype(np.int64))


def _select_block(spec, *args, block_id=None):
    """Gathered keys and bucket tallies of one block, slab by slab: a slab's keys and
    bucket codes (about 25 bytes per voxel) are tallied before the next slab's are made."""
    boxes = slab_boxes(args[0].shape, _block.SLAB_VOXELS)
    if len(boxes) == 1:
        return _select_box(spec, args)
    arrays, st = args[:-1], args[-1]
    return _select_merge(spec, [_select_box(spec, [a[b] for a in arrays] + [st]) for b in boxes])


def _select_box(spec, args):
    st = args[-1]
    vrow, vals = _block_rows(spec, args, st["labels"])
    keys = None
    out: dict = {"g_w": [], "g_k": [], "h_c": [], "h_k": []}
    for layer in st["layers"]:
        if vrow is None:  # one row: scalar window, no per-voxel lookups
            w = int(layer[0])
            if w < 0:
                continue
            kind = int(st["kind"][w])
            if st["full"][w] and kind == _LINEAR and not st["extremes"]:
                _emit(st, kind, w, vals, None, out)
                continue
            keys = _block_keys(vals, st) if keys is None else keys
            if st["full"][w]:
                _emit(st, kind, w, vals, keys, out)
                continue
            m = (keys >= st["lo"][w]) & (keys <= st["hi"][w])
            _emit(st, kind, w, vals[m], keys[m], out)
            continue
        keys = _block_keys(vals, st) if keys is None else keys
        wv = layer[vrow]
        w0 = np.maximum(wv, 0)
        m = (wv >= 0) & (st["full"][w0] | ((keys >= st["lo"][w0]) & (keys <= st["hi"][w0])))
        wv, wk, wx = wv[m], keys[m], vals[m]
        kinds = st["kind"][wv]
        for kind in (_GATHER, _KEY, _LINEAR):
            s = kinds == kind
            if s.any():
                _emit(st, kind, wv[s], wx[s], wk[s], out)
    codes = _cat(out["h_c"])
    ext = _cat(out["h_k"]) if st["extremes"] else None
    return {
        "g_w": _cat(out["g_w"]),
        "g_k": _cat(out["g_k"]),
        **_tally(codes, None, ext, ext, st["ncodes"]),
        "ncodes": st["ncodes"],
    }


def _cat(parts: list) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _tally(code, n, lo, hi, ncodes) -> dict:
    """Per distinct code (sorted): the total of ``n`` (ones when None), the minimum of
    ``lo`` and the maximum of ``hi`` (both None: not kept)."""
    code = code.astype(np.int64, copy=False)
    if 8 * code.size >= ncodes:  # dense: a bincount beats a sort
        tot = np.bincount(code, weights=n, minlength=ncodes).astype(np.int64)
        nz = np.flatnonzero(tot)
        out = {"h_code": nz, "h_n": tot[nz], "h_lo": None, "h_hi": None}
        if lo is not None:
            dense = np.full(ncodes, _I64_MAX, np.int64)
            np.minimum.at(dense, code, lo)
            out["h_lo"] = dense[nz]
            dense = np.full(ncodes, _I64_MIN, np.int64)
            np.maximum.at(dense, code, hi)
            out["h_hi"] = dense[nz]
        return out
    order = np.argsort(code, kind="stable")
    sc = code[order]
    starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]]) if sc.size else sc
    if n is None:
        tot = np.diff(np.r_[starts, sc.size]).astype(np.int64)
    else:
        tot = np.add.reduceat(n[order], starts) if sc.size else n[:0]
    out = {"h_code": sc[starts], "h_n": tot, "h_lo": None, "h_hi": None}
    if lo is not None:
        out["h_lo"] = np.minimum.reduceat(lo[order], starts) if sc.size else lo[:0]
        out["h_hi"] = np.maximum.reduceat(hi[order], starts) if sc.size else hi[:0]
    return out


def _select_merge(spec, parts):
    ncodes = parts[0]["ncodes"]
    ext = parts[0]["h_lo"] is not None
    return {
        "g_w": np.concatenate([p["g_w"] for p in parts]),
        "g_k": np.concatenate([p["g_k"] for p in parts]),
        **_tally(
            np.concatenate([p["h_code"] for p in parts]),
            np.concatenate([p["h_n"] for p in parts]),
            np.concatenate([p["h_lo"] for p in parts]) if ext else None,
            np.concatenate([p["h_hi"] for p in parts]) if ext else None,
            ncodes,
        ),
        "ncodes": ncodes,
    }


# ---------------------------------------------------------------------- client side
def _rules(lo, hi, level, dtype, nb):
    """Bucketing rule of each window: kind, key width, linear origin and scale."""
    n = lo.size
    kind = np.full(n, _KEY, np.int8)
    vlo = np.zeros(n)
    scale = np.zeros(n)
    lin = level < _LINEAR_LEVELS
    if dtype.kind == "f" and lin.any():
        a = from_keys(lo, dtype).astype(np.float64)
        b = from_keys(hi, dtype).astype(np.float64)
        with np.errstate(all="ignore"):
            d = b - a
            sc = nb / d
            ok = lin & np.isfinite(a) & np.isfinite(b) & np.isfinite(d) & (b > a)
            ok &= np.isfinite(sc) & (sc > 0)
        kind[ok], vlo[ok], scale[ok] = _LINEAR, a[ok], sc[ok]
    width = (hi.view(np.uint64) - lo.view(np.uint64)) // np.uint64(nb) + np.uint64(1)
    return kind, width, vlo, scale


def _bucket_range(st, w, t, dtype):
    """The keys of full window ``w`` whose bucket is ``t`` (a contiguous key range)."""
    klo, khi = int(st["lo"][w]), int(st["hi"][w])
    if st["kind"][w] == _KEY:
        width = int(st["width"][w])
        return klo + t * width, min(klo + (t + 1) * width - 1, khi)

    def first_at_least(target: int) -> int:
        """Smallest key in [klo, khi + 1] whose bucket is >= target (khi + 1: none)."""
        a, b = klo, khi + 1
        while a < b:
            mid = (a + b) // 2
            v = from_keys(np.array([mid], np.int64), dtype)
            if int(_lin_bucket(v, st["vlo"][w], st["scale"][w], st["nb"])[0]) >= target:
                b = mid
            else:
                a = mid + 1
        return a

    return first_at_least(t), first_at_least(t + 1) - 1


def _nan_keys(dtype, lo, hi):
    """(key of -inf, key of NaN) when a float window reaches a NaN key, else None."""
    if dtype.kind != "f":
        return None
    ninf, inf, nan = to_keys(np.array([-np.inf, np.inf, np.nan], dtype))
    if (hi > inf).any() or (lo < ninf).any():
        return int(ninf), int(nan)
    return None


def _pass_state(w_row, w_lo, w_hi, w_cnt, w_level, w_full, *, labels, dtype):
    """The state of one pass over windows (sorted by row, then key), and which gather.

    Windows are gathered smallest first while their values fit ``GATHER_LIMIT``; the
    others are bucketed. ``layers[j, row]`` is the ``j``-th window of ``row`` (windows
    of one row are disjoint), so blocks find each voxel's window one layer at a time.
    """
    n = w_row.size
    order = np.argsort(w_cnt, kind="stable")
    gathered = np.zeros(n, bool)
    gathered[order[np.cumsum(w_cnt[order]) <= GATHER_LIMIT]] = True
    hist = np.flatnonzero(~gathered)
    per_window = _BUCKET_BUDGET // max(1, hist.size)  # many windows: fewer buckets each
    nb = max(2, int(min(NBUCKETS, 2 ** int(np.log2(max(1, per_window))))))
    kind = np.full(n, _GATHER, np.int8)
    width = np.ones(n, np.uint64)
    vlo, scale = np.zeros(n), np.zeros(n)
    kind[hist], width[hist], vlo[hist], scale[hist] = _rules(
        w_lo[hist], w_hi[hist], w_level[hist], dtype, nb
    )
    hpos = np.full(n, -1, np.int64)
    hpos[hist] = np.arange(hist.size)
    slot = np.arange(n) - np.searchsorted(w_row, w_row)  # window's layer
    layers = np.full((int(slot.max()) + 1, max(np.asarray(labels).size, 1)), -1, np.int64)
    layers[slot, w_row] = np.arange(n)
    st = {
        "labels": np.asarray(labels),
        "layers": layers,
        "lo": w_lo,
        "hi": w_hi,
        "kind": kind,
        "width": width,
        "vlo": vlo,
        "scale": scale,
        "hpos": hpos,
        "full": w_full,
        "extremes": not w_full.any(),
        "nb": nb,
        "ncodes": max(1, hist.size * nb),
        "nan": _nan_keys(dtype, w_lo, w_hi),
    }
    return st, gathered


def select_keys(arrays, spec, *, labels, lo, hi, count, rows, ranks, full=False):
    """Keys (int64) of the values of rank ``ranks[i]`` among the values of row ``rows[i]``.

    ``arrays`` are the aligned value (and label) arrays and ``spec`` the
    :class:`~bigimg._tables._reduce.BlockSpec` that maps voxels to the rows ``labels``
    (sorted). Row ``j`` holds ``count[j]`` values with keys in ``[lo[j], hi[j]]``;
    ``full`` says those windows hold every value of their row. Computes (several
    passes; see the module docstring).
    """
    dtype = np.dtype(arrays[0].dtype)
    lo, hi, count = (np.asarray(a, np.int64) for a in (lo, hi, count))
    rows = np.asarray(rows, np.int64)
    inner = np.asarray(ranks, np.int64).copy()
    wlo, whi, cnt = lo[rows], hi[rows], count[rows]
    level = np.zeros(rows.size, np.int64)
    isfull = np.full(rows.size, bool(full))
    done = wlo >= whi
    result = wlo.copy()
    while not done.all():
        act = np.flatnonzero(~done)
        trip = np.stack([rows[act], wlo[act], whi[act]], axis=1)
        win, first, winv = np.unique(trip, axis=0, return_index=True, return_inverse=True)
        winv = winv.reshape(-1)
        w_row, w_lo, w_hi = (np.ascontiguousarray(c) for c in win.T)
        w_cnt, w_full = cnt[act][first], isfull[act][first]
        st, gathered = _pass_state(
            w_row, w_lo, w_hi, w_cnt, level[act][first], w_full, labels=labels, dtype=dtype
        )
        hist = np.flatnonzero(~gathered)
        nb = st["nb"]
        out = tree_reduce(
            arrays, _select_block, _select_merge, spec, dask.delayed(st, pure=True), name="select"
        ).compute()
        # gathered windows: read each rank off its window's keys
        g_req = act[gathered[winv]]
        if g_req.size:
            result[g_req] = _read_off(out["g_w"], out["g_k"], winv[gathered[winv]], inner[g_req])
            done[g_req] = True
        # bucketed windows: keep the bucket holding the rank
        h_req = act[~gathered[winv]]
        if h_req.size:
            hw = winv[~gathered[winv]]
            counts = np.zeros((hist.size, nb), np.int64)
            counts.reshape(-1)[out["h_code"]] = out["h_n"]
            hp = st["hpos"][hw]
            b, below = _bucket_of(counts, hp, inner[h_req])
            inner[h_req] -= below
            cnt[h_req] = counts[hp, b]
            if st["extremes"]:
                ext_lo = np.full(hist.size * nb, _I64_MAX, np.int64)
                ext_hi = np.full(hist.size * nb, _I64_MIN, np.int64)
                ext_lo[out["h_code"]], ext_hi[out["h_code"]] = out["h_lo"], out["h_hi"]
                wlo[h_req], whi[h_req] = ext_lo[hp * nb + b], ext_hi[hp * nb + b]
            else:
                ranges: dict = {}
                for i, wt in enumerate(zip(hw.tolist(), b.tolist(), strict=True)):
                    if wt not in ranges:
                        ranges[wt] = _bucket_range(st, *wt, dtype)
                    wlo[h_req[i]], whi[h_req[i]] = ranges[wt]
            # a linear bucket holding most of its window: values far from uniform in
            # range (heavy tails); key buckets from now on
            skew = (st["kind"][hw] == _LINEAR) & (2 * cnt[h_req] > w_cnt[hw])
            level[h_req] = np.where(skew, _LINEAR_LEVELS, level[h_req] + 1)
            isfull[h_req] = False
            fin = h_req[wlo[h_req] >= whi[h_req]]
            result[fin] = wlo[fin]
            done[fin] = True
    return result


def _bucket_of(counts: np.ndarray, hp: np.ndarray, inner: np.ndarray):
    """Bucket of window row ``hp[i]`` holding rank ``inner[i]``, and the count below it."""
    nh, nb = counts.shape
    cum = np.cumsum(counts, axis=1)
    big = int(cum[:, -1].max()) + 1
    # rows offset by `big` make one sorted vector: one searchsorted finds every bucket
    flat = (cum + np.arange(nh, dtype=np.int64)[:, None] * big).reshape(-1)
    at = np.searchsorted(flat, hp * big + np.minimum(inner, big - 1), side="right")
    b = np.minimum(at - hp * nb, nb - 1)
    below = np.where(b > 0, cum[hp, np.maximum(b - 1, 0)], 0)
    return b, below


def _read_off(g_w, g_k, windows, inner) -> np.ndarray:
    """Key of rank ``inner[i]`` among the gathered keys ``g_k`` of window ``windows[i]``."""
    found = np.zeros(windows.size, np.int64)
    if not g_k.size:
        return found
    if np.unique(windows).size <= 16:  # few windows: a partition each (no full sort)
        for w in np.unique(windows).tolist():
            req = np.flatnonzero(windows == w)
            keys = g_k[g_w == w]
            if not keys.size:
                continue
            at = np.minimum(inner[req], keys.size - 1)
            found[req] = np.partition(keys, np.unique(at))[at]
        return found
    o = np.lexsort((g_k, g_w))
    g_w, g_k = g_w[o], g_k[o]
    start = np.searchsorted(g_w, windows)
    end = np.searchsorted(g_w, windows, side="right")
    return g_k[np.clip(start + inner, 0, np.maximum(end - 1, 0))]


# ------------------------------------------------------------------ whole volumes
def order_statistics(x: da.Array, ranks: Sequence[int], info: tuple | None = None) -> dict:
    """Values (numpy scalars of ``x.dtype``) at the given ranks among non-NaN values.

    ``info`` is the result of :func:`bigimg._tables._keys.min_max_pass` when the caller
    has it already; integers of at most 16 bits need none (their first bucket pass
    covers the whole dtype). Ranks must lie in ``[0, count)``. Computes (several passes).
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
    keys = select_keys(
        [x],
        make_spec(x, "x", mode="all"),
        labels=SINGLE,
        lo=[kmin],
        hi=[kmax],
        count=[n],
        rows=np.zeros(len(ranks), np.int64),
        ranks=ranks,
        full=nan == 0,
    )
    values = from_keys(keys, dtype)
    return {r: values[i] for i, r in enumerate(ranks)}


# ------------------------------------------------------------------- per-label median
def _window_keys(vmin: np.ndarray, vmax: np.ndarray, dtype: np.dtype):
    """Each row's starting key window [min, max]; the whole key range when NaN hides it."""
    a, b = vmin.astype(dtype), vmax.astype(dtype)
    lo, hi = to_keys(a), to_keys(b)
    if dtype.kind == "f":
        bad = np.isnan(a) | np.isnan(b)
        ninf, nan = to_keys(np.array([-np.inf, np.nan], dtype))
        lo, hi = np.where(bad, ninf, lo), np.where(bad, nan, hi)
    return lo, hi


def _midpoint(a: np.ndarray, b: np.ndarray, dtype: np.dtype, same: np.ndarray):
    if dtype.kind == "f":
        a, b = a.astype(dtype), b.astype(dtype)
        return np.where(same, a, (a + b) / dtype.type(2))
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.where(same, a, (a + b) / 2.0)


def region_median(r: Regions):
    """scipy's ``median`` of the regions ``r``, exact. Computes.

    A scalar for one region (NaN when it is empty), else an array of ``r.index``'s
    shape; float64 for integer and bool input, the input's dtype for floats. An absent
    label gets the smallest value found under the smallest label of ``labels``
    (scipy's sort-based result).

    Passes, each an O(chunks)-task tree reduction: a counting pass (count, min, max
    per label), then selection passes (:func:`select_keys`) that narrow each label's
    key window around its middle rank(s). Memory per task, however large a label is:
    a block task holds its input blocks, one slab's keys and bucket codes and at most
    ``_BUCKET_BUDGET`` bucket counters (2 buckets per label when there are more
    labels); a merge task at most ``GATHER_LIMIT`` gathered values (see the module
    docstring).
    """
    dtype = np.dtype(r.x.dtype)
    extra = {"extrema": True, "first": r.mode == "labels"}
    lazy = reduce_tables(r.x, r.labels, {"mode": r.mode, **r.filters, **extra})
    table = lazy.compute()
    n = table["count"]
    ranks = np.stack([(n - 1) // 2, n // 2], axis=1)
    a = b = np.zeros(0, dtype)
    if n.size:
        lo, hi = _window_keys(table["vmin"], table["vmax"], dtype)
        keys = select_keys(
            [v for v in (r.x, r.labels) if v is not None],
            lazy.spec,
            labels=table["labels"],
            lo=lo,
            hi=hi,
            count=n,
            rows=np.repeat(np.arange(n.size), 2),
            ranks=ranks.reshape(-1),
        ).reshape(-1, 2)
        a, b = from_keys(keys[:, 0], dtype), from_keys(keys[:, 1], dtype)
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
