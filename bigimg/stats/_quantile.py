"""Exact quantiles and percentiles of whole volumes: numpy's and scipy.stats' answers.

Each function finds the few order statistics its answer needs with
:func:`bigimg._tables._select.order_statistics` (bucketing passes, never a sort of the
volume) and then combines them with the arithmetic of its twin, on the same dtypes, so
the result is bit-for-bit the twin's.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bigimg._docs import DocFiller
from bigimg._tables import min_max_pass, order_statistics, run_passes
from bigimg.stats._args import as_real_dask

__all__ = ["percentile", "quantile", "scoreatpercentile"]


# ------------------------------------------------------------- numpy's index rules
def _hf_index(alpha: float, beta: float):
    """Hyndman & Fan continuous virtual index ``n q + alpha + q (1 - alpha - beta) - 1``."""
    return lambda n, q: n * q + (alpha + q * (1 - alpha - beta)) - 1


def _to_boundary(index, keep_previous):
    """A discrete method's integer index: floor or floor + 1 per ``keep_previous``."""
    prev = np.floor(index)
    take_prev = keep_previous(index - prev, index)
    res = np.where(take_prev, prev, prev + 1).astype(np.intp)
    res[res < 0] = 0
    return res


def _gamma_where(gamma, default, special, cond):
    out = np.full(np.shape(gamma), default, dtype=np.float64)
    np.copyto(out, special, where=cond, casting="unsafe")
    return out


# name -> (virtual index, gamma correction or None for methods without interpolation)
_METHODS = {
    "inverted_cdf": (lambda n, q: _to_boundary(n * q - 1, lambda g, i: g == 0), None),
    "averaged_inverted_cdf": (
        lambda n, q: n * q - 1,
        lambda g, i: _gamma_where(g, 1.0, 0.5, g == 0),
    ),
    "closest_observation": (
        lambda n, q: _to_boundary(n * q - 1 - 0.5, lambda g, i: (g == 0) & (np.floor(i) % 2 == 1)),
        None,
    ),
    "interpolated_inverted_cdf": (_hf_index(0, 1), lambda g, i: g),
    "hazen": (_hf_index(0.5, 0.5), lambda g, i: g),
    "weibull": (_hf_index(0, 0), lambda g, i: g),
    "linear": (lambda n, q: (n - 1) * q, lambda g, i: g),
    "median_unbiased": (_hf_index(1 / 3.0, 1 / 3.0), lambda g, i: g),
    "normal_unbiased": (_hf_index(3 / 8.0, 3 / 8.0), lambda g, i: g),
    "lower": (lambda n, q: np.floor((n - 1) * q).astype(np.intp), None),
    "higher": (lambda n, q: np.ceil((n - 1) * q).astype(np.intp), None),
    "midpoint": (
        lambda n, q: 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q)),
        lambda g, i: _gamma_where(g, 0.5, 0.0, i % 1 == 0),
    ),
    "nearest": (lambda n, q: np.around((n - 1) * q).astype(np.intp), None),
}


def _lerp(a, b, t):
    """numpy's interpolation between neighbours (exact at both ends)."""
    diff = b - a
    res = np.add(a, diff * t, out=...)
    np.subtract(b, diff * (1 - t), out=res, where=t >= 0.5, casting="unsafe", dtype=type(res.dtype))
    if res.ndim == 0:
        res = res[()]
    return res


class _Sorted:
    """``sorted_values[index]`` for the few indices an answer needs (negative wraps)."""

    def __init__(self, values: dict, n: int, dtype: np.dtype):
        self.values, self.n, self.dtype = values, n, dtype

    @staticmethod
    def needed(index, n: int) -> set[int]:
        return {int(i) % n for i in np.asarray(index).reshape(-1)}

    def __getitem__(self, index):
        index = np.asarray(index)
        flat = [self.values[int(i) % self.n] for i in index.reshape(-1)]
        if index.ndim == 0:
            return self.dtype.type(flat[0])
        return np.array(flat, dtype=self.dtype).reshape(index.shape)


def _validate(a, q, axis, out, method, keepdims, weights, name):
    x = as_real_dask(a, name="a")
    if axis is not None:
        raise NotImplementedError(
            f"`axis` other than None is not supported by bigimg.stats.{name}; got {axis!r}."
            " Whole-volume statistics only."
        )
    if out is not None:
        raise TypeError(
            f"`out` must be None; got {type(out).__name__}. The result is a small "
            "numpy array or scalar returned directly."
        )
    if keepdims:
        raise NotImplementedError("`keepdims=True` is not supported; got keepdims=True.")
    if weights is not None:
        raise NotImplementedError("`weights` is not supported; got weights.")
    if method not in _METHODS:
        raise ValueError(
            f"`method` must be one of {', '.join(map(repr, _METHODS))}; got {method!r}."
        )
    if x.size == 0:
        raise ValueError(f"`a` must not be empty; got shape {x.shape}.")
    if isinstance(q, np.ndarray | list | tuple) or isinstance(q, numbers.Real):
        qa = np.asanyarray(q)
    else:
        raise TypeError(f"`q` must be a number or a sequence of numbers; got {q!r}.")
    if qa.dtype.kind not in "iuf" or qa.ndim > 1:
        raise ValueError(f"`q` must be a real scalar or 1-D sequence; got {q!r}.")
    return x


def _quantile(x, q: np.ndarray, method: str, weak_q: bool):
    """numpy's quantile of the flattened ``x`` for validated quantiles ``q`` in [0, 1]."""
    n = int(x.size)
    dtype = x.dtype
    get_index, fix_gamma = _METHODS[method]
    vidx = np.asanyarray(get_index(n, q))
    (info,) = run_passes(min_max_pass(x))
    count, nan = info[0], info[1]
    discrete = fix_gamma is None or (method == "linear" and vidx.dtype.kind in "iu")
    if discrete:
        needed = _Sorted.needed(vidx, n)
    else:
        prev = np.floor(vidx, out=...)
        nxt = np.add(prev, 1, out=...)
        above = vidx >= n - 1
        prev[above] = -1
        nxt[above] = -1
        below = vidx < 0
        prev[below] = 0
        nxt[below] = 0
        prev, nxt = prev.astype(np.intp), nxt.astype(np.intp)
        needed = _Sorted.needed(prev, n) | _Sorted.needed(nxt, n)
    if nan:
        values = {}
    else:
        values = order_statistics(x, needed, info)
    arr = _Sorted(values, n, dtype)
    if nan:
        nan_value = dtype.type(np.nan)
        if discrete:
            res = np.full(vidx.shape, np.nan, dtype=dtype)
            return res[()] if res.ndim == 0 else res
        # numpy's result dtype on NaN-free data of this dtype, then filled with NaN
        probe = _Sorted(dict.fromkeys(needed, 0), n, dtype)
        res = _combine(probe, vidx, prev, nxt, fix_gamma, weak_q)
        if np.ndim(res) == 0:
            return nan_value
        res = np.array(res)
        res[...] = np.nan
        return res
    if count != n:  # pragma: no cover - defensive
        raise AssertionError("value count mismatch")
    if discrete:
        return arr[vidx]
    return _combine(arr, vidx, prev, nxt, fix_gamma, weak_q)


def _combine(arr, vidx, prev, nxt, fix_gamma, weak_q):
    gamma = np.asanyarray(vidx - prev)
    gamma = np.asanyarray(fix_gamma(gamma, vidx), dtype=vidx.dtype)
    if weak_q:
        gamma = float(gamma)
    else:
        gamma = gamma.reshape(vidx.shape)
    return _lerp(arr[prev], arr[nxt], gamma)


def _quantile_twin(name: str, doc: str):
    """``quantile``, or ``percentile`` (``q`` in percent): numpy's signature, ``doc``."""
    percent = name == "percentile"

    def twin(
        a: ArrayLike,
        q: ArrayLike,
        axis: int | tuple[int, ...] | None = None,
        out: np.ndarray | None = None,
        overwrite_input: bool = False,
        method: str = "linear",
        keepdims: bool = False,
        *,
        weights: ArrayLike | None = None,
    ) -> np.generic | np.ndarray:
        x = _validate(a, q, axis, out, method, keepdims, weights, name)
        weak_q = type(q) in (int, float)
        qa = np.true_divide(q, 100, out=...) if percent else np.asanyarray(q)
        if not (qa.size == 0 or (qa.min() >= 0 and qa.max() <= 1)):
            what, bounds = ("Percentiles", "[0, 100]") if percent else ("Quantiles", "[0, 1]")
            raise ValueError(f"{what} must be in the range {bounds}; got {q!r}.")
        return _quantile(x, qa, method, weak_q)

    return DocFiller().named(twin, name, doc)


quantile = _quantile_twin(
    "quantile",
    """Exact whole-volume quantile: the twin of :func:`numpy.quantile` with ``axis=None``.

    Computes eagerly and returns what numpy returns for the same data (a numpy scalar
    for a scalar ``q``, an array of ``q``'s shape otherwise), bit for bit, for every
    chunking and every numpy ``method``.

    Parameters
    ----------
    a : numpy or dask array
        Real-valued volume (bool, integer or float).
    q : float or sequence of float
        Quantiles in ``[0, 1]``.
    axis : None
        Only whole-volume quantiles are supported.
    out : None
        Results are returned, not written.
    overwrite_input : bool
        Ignored: the input is never modified.
    method : str, optional
        Any of numpy's methods (``"linear"``, ``"lower"``, ``"higher"``, ``"nearest"``,
        ``"midpoint"``, ``"inverted_cdf"``, ``"hazen"``, ...).
    keepdims : False
    weights : None

    Returns
    -------
    numpy scalar or ndarray

    Raises
    ------
    ValueError
        ``q`` outside ``[0, 1]``, an unknown ``method`` or an empty ``a``.
    NotImplementedError
        ``axis``, ``keepdims`` or ``weights``.

    Notes
    -----
    No sort of the volume. One pass finds the count, the NaNs and the range; bucketing
    passes (:mod:`bigimg._tables._select`) then find the needed order statistics:
    integers of at most 16 bits, or whose range spans at most 65,536 values, are
    answered by the first bucket pass (a bincount); floats usually by a bucket pass and
    one pass that gathers the few values of the bucket holding each rank. A task holds
    one block, its bucket indices (or int64 keys) and a vector of 65,536 counts (three
    such vectors during refinements); the client holds at most 4,194,304 gathered
    values at a time. Any NaN gives NaN, like numpy.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from bigimg import stats
    >>> x = np.random.default_rng(0).random((6, 7, 8))
    >>> stats.quantile(da.from_array(x, chunks=3), [0.05, 0.5]) == np.quantile(x, [0.05, 0.5])
    array([ True,  True])
    """,
)

percentile = _quantile_twin(
    "percentile",
    """Exact whole-volume percentile: the twin of :func:`numpy.percentile` with ``axis=None``.

    Same as :func:`quantile` with ``q`` in percent; bit-for-bit numpy's answer.
    Computes eagerly.

    Parameters
    ----------
    a : numpy or dask array
    q : float or sequence of float
        Percentiles in ``[0, 100]``.
    axis, out, overwrite_input, method, keepdims, weights
        As in :func:`quantile`.

    Returns
    -------
    numpy scalar or ndarray

    Notes
    -----
    See :func:`quantile` for the passes and the memory bound.

    Examples
    --------
    Contrast stretching as in the scipy tutorial, saturating 5 % at each end:

    >>> import numpy as np
    >>> from bigimg import stats
    >>> x = np.random.default_rng(0).integers(0, 4000, (8, 9, 10), dtype=np.uint16)
    >>> p5, p95 = stats.percentile(x, [5, 95])
    >>> (p5, p95) == tuple(np.percentile(x, [5, 95]))
    True
    """,
)


def scoreatpercentile(
    a: ArrayLike,
    per: ArrayLike,
    limit: tuple[float, float] | tuple[()] = (),
    interpolation_method: str = "fraction",
    axis: int | None = None,
) -> float | np.ndarray:
    """Exact whole-volume score at a percentile: the twin of :func:`scipy.stats.scoreatpercentile`.

    The tutorial's contrast stretch (``scoreatpercentile(f, 5)``, ``... 95``) on a
    volume of any size. Computes eagerly; bit-for-bit scipy's answer.

    Parameters
    ----------
    a : numpy or dask array
    per : float or sequence of float
        Percentiles in ``[0, 100]``.
    limit : tuple of two floats, optional
        Only values in ``[limit[0], limit[1]]`` count.
    interpolation_method : {"fraction", "lower", "higher"}, optional
    axis : None
        Only whole-volume scores are supported.

    Returns
    -------
    float or ndarray
        NaN for an empty ``a`` (scipy's convention); NaNs sort last, as in ``np.sort``.

    Notes
    -----
    One pass for the count and range (within ``limit``), then the bucketing passes of
    :func:`quantile`.

    Examples
    --------
    >>> import numpy as np, scipy.stats
    >>> from bigimg import stats
    >>> x = np.random.default_rng(1).normal(size=(5, 6, 7))
    >>> bool(stats.scoreatpercentile(x, 95) == scipy.stats.scoreatpercentile(x, 95))
    True
    """
    x = as_real_dask(a, name="a")
    if axis is not None:
        raise NotImplementedError(f"`axis` other than None is not supported; got {axis!r}.")
    if interpolation_method not in ("fraction", "lower", "higher"):
        raise ValueError(
            "`interpolation_method` must be 'fraction', 'lower' or 'higher'; "
            f"got {interpolation_method!r}."
        )
    pers = [per] if np.isscalar(per) else list(np.asarray(per).reshape(-1))
    for p in pers:
        if not 0 <= p <= 100:
            raise ValueError(f"percentile must be in the range [0, 100]; got {p!r}.")
    if limit:
        lo, hi = limit
        x = x[(lo <= x) & (x <= hi)]
        x.compute_chunk_sizes()
    if x.size == 0:
        if np.isscalar(per):
            return np.nan
        return np.full(np.asarray(per).shape, np.nan, dtype=np.float64)
    n = int(x.size)
    (info,) = run_passes(min_max_pass(x))
    valid = info[0]
    plans = [_score_plan(p, n, interpolation_method) for p in pers]
    needed = {i for plan in plans for i in plan[0]}
    values = order_statistics(x, [i for i in needed if i < valid], info)
    nan = x.dtype.type(np.nan) if x.dtype.kind == "f" else None
    lookup = {i: (values[i] if i < valid else nan) for i in needed}
    scores = [_score(plan, lookup, x.dtype) for plan in plans]
    if np.isscalar(per):
        return scores[0]
    return np.array(scores)


def _score_plan(per, n: int, how: str):
    idx = per / 100.0 * (n - 1)
    if int(idx) != idx:
        if how == "lower":
            idx = int(np.floor(idx))
        elif how == "higher":
            idx = int(np.ceil(idx))
    i = int(idx)
    if i == idx:
        return (i,), idx
    return (i, i + 1), idx


def _score(plan, lookup: dict, dtype: np.dtype):
    indices, idx = plan
    part = np.array([lookup[i] for i in indices], dtype=dtype)
    if len(indices) == 1:
        weights: Any = np.array(1)
        sumval = 1.0
    else:
        i = indices[0]
        j = i + 1
        weights = np.array([(j - idx), (idx - i)], float)
        sumval = weights.sum()
    return np.add.reduce(part * weights, axis=0) / sumval
