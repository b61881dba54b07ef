"""Exact out-of-core histograms: numpy's ``histogram`` and scikit-image's image histogram.

Both are one vector pass (one histogram per block, added in a tree of tasks) after, when
the range comes from the data, one min/max pass. numpy bins each value by comparing it
with the bin edges, which depend only on ``bins``, ``range`` and the dtype, so running
``np.histogram`` on every block with the whole volume's range gives counts equal to
numpy's on the whole array.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from bigimg._args import as_dask, whole_number
from bigimg._docs import STATS, DocFiller
from bigimg._tables import add_merge, min_max, run_passes, tree_pass
from bigimg.stats._args import as_real_dask, known_shape

__all__ = ["histogram", "image_histogram"]

_docs = DocFiller(STATS)

#: Largest number of per-integer bins of :func:`image_histogram` (512 MiB of counts).
MAX_INTEGER_BINS = 1 << 26


def _np_hist_block(block, wblock=None, *, bins, range, weighted):
    counts, _ = np.histogram(block, bins=bins, range=range, weights=wblock if weighted else None)
    return counts


def _data_range(x: da.Array, info=None) -> tuple:
    """numpy's autodetected ``range``: ``(a.min(), a.max())`` as numpy scalars."""
    if x.size == 0:
        return 0, 1
    n, nan, lo, hi = min_max(x) if info is None else info
    if nan:
        raise ValueError("autodetected range of [nan, nan] is not finite")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"autodetected range of [{lo}, {hi}] is not finite")
    return lo, hi


def histogram(
    a: ArrayLike,
    bins: int | ArrayLike = 10,
    range: tuple[float, float] | None = None,  # noqa: A002
    density: bool | None = None,
    weights: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact histogram of a whole volume: the twin of :func:`numpy.histogram`.

    Computes eagerly and returns numpy arrays: counts equal to numpy's on the same data
    for any chunking.

    Parameters
    ----------
    a : numpy or dask array
        The volume (flattened, as numpy does); booleans count as uint8, as in numpy.
    bins : int or sequence of scalars, optional
        Number of equal-width bins, or the bin edges (monotonically increasing).
        String estimators (``"auto"``, ...) are not supported.
    range : (float, float), optional
        Lower and upper range of the bins. If None, ``(a.min(), a.max())``, which costs
        one extra pass over the data.
    density : bool, optional
        If True, return the probability density (numpy's formula on the exact counts).
    weights : numpy or dask array, optional
        Same shape as ``a``; each value contributes its weight.

    Returns
    -------
    hist : ndarray
        Counts (``intp``), or weight sums (``weights.dtype``), or densities.
    bin_edges : ndarray
        ``len(hist) + 1`` edges, numpy's.

    Raises
    ------
    ValueError
        Whatever numpy raises for these ``bins``/``range`` (checked before any
        computation), a non-finite autodetected range, or ``weights`` of another shape.
    NotImplementedError
        String ``bins``.

    Notes
    -----
    One pass (plus one min/max pass when ``range`` is None and ``bins`` is a count).
    Each task holds one block and one vector of counts. Unweighted counts are exact;
    weighted sums are added per block, so they agree with numpy's to rounding.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from bigimg import stats
    >>> x = np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32)
    >>> h, e = stats.histogram(da.from_array(x, chunks=(2, 3, 5)), bins=16)
    >>> h0, e0 = np.histogram(x, bins=16)
    >>> bool((h == h0).all() and (e == e0).all())
    True
    """
    x = known_shape(as_dask(a, name="a"), "a")
    if x.dtype.kind == "c":
        raise TypeError(f"`a` must be real; got dtype {x.dtype}.")
    if x.dtype == bool:  # numpy converts booleans to uint8 (with a warning)
        x = x.astype(np.uint8)
    if isinstance(bins, str):
        raise NotImplementedError(
            f"string `bins` estimators are not supported; got {bins!r}. Pass a bin count "
            "or the bin edges."
        )
    w = None if weights is None else as_dask(weights, name="weights")
    if w is not None and w.shape != x.shape:
        raise ValueError(f"weights should have the same shape as a; got {w.shape} and {x.shape}.")
    if w is not None:
        w = w.rechunk(x.chunks)
    # numpy validates bins and range (and the dtype) on an empty array of the same dtype
    probe_w = None if w is None else np.empty(0, w.dtype)
    np.histogram(np.empty(0, x.dtype), bins=bins, range=range, weights=probe_w)
    rng = range
    if rng is None and np.ndim(bins) == 0:
        rng = _data_range(x)
    counts_pass = tree_pass(
        x if w is None else (x, w),
        _np_hist_block,
        add_merge,
        name="histogram",
        bins=bins,
        range=rng,
        weighted=w is not None,
    )
    (hist,) = run_passes(counts_pass)
    edges = np.histogram_bin_edges(np.empty(0, x.dtype), bins=bins, range=rng, weights=probe_w)
    if density:
        db = np.array(np.diff(edges), float)
        return hist / db / hist.sum(), edges
    return hist, edges


# ---------------------------------------------------------- scikit-image's histogram
def _bincount_block(block, *, lo: int, length: int):
    off = block.reshape(-1).astype(np.uint64) - np.uint64(lo % (1 << 64))
    return np.bincount(off.astype(np.intp), minlength=length)


def _float_hist_block(block, *, bins, range):
    return np.histogram(block, bins=bins, range=range)[0]


_DTYPE_RANGE_FLOAT = (-1, 1)


def _skimage_hist(x: da.Array, nbins: int, source_range: str, info=None) -> tuple:
    """skimage.exposure.histogram's (counts, bin centers), computed exactly.

    ``info`` is a :func:`min_max` result when the caller has one; without it, integers of
    at most 16 bits take a single pass.
    """
    if x.dtype.kind in "iu":
        if source_range == "image" and info is None and x.dtype.itemsize <= 2:
            # small integers: count the whole dtype range in one pass, then trim
            counts, centers = _skimage_hist(x, nbins, "dtype")
            nonzero = np.flatnonzero(counts)
            if nonzero.size == 0:
                raise ValueError(f"`image` must not be empty; got shape {x.shape}.")
            first, last = int(nonzero[0]), int(nonzero[-1]) + 1
            return counts[first:last].copy(), centers[first:last].copy()
        if source_range == "image":
            _, _, lo, hi = min_max(x) if info is None else info
            lo, hi = int(lo), int(hi)
        else:
            ii = np.iinfo(x.dtype)
            lo, hi = int(ii.min), int(ii.max)
        length = hi - lo + 1
        if length > MAX_INTEGER_BINS:
            raise ValueError(
                f"`image` of dtype {x.dtype} spans {length:,} integer values; scikit-image "
                f"gives every integer its own bin, which needs more than "
                f"{MAX_INTEGER_BINS:,} bins. Cast the image to float to use `nbins` bins."
            )
        p = tree_pass(x, _bincount_block, add_merge, name="bincount", lo=lo, length=length)
        (counts,) = run_passes(p)
        return counts, np.arange(lo, hi + 1)
    if source_range == "image":
        rng = _data_range(x, info)
    else:
        rng = _DTYPE_RANGE_FLOAT
    p = tree_pass(x, _float_hist_block, add_merge, name="histogram", bins=nbins, range=rng)
    (counts,) = run_passes(p)
    edges = np.histogram_bin_edges(np.empty(0, x.dtype), bins=nbins, range=rng)
    return counts, (edges[:-1] + edges[1:]) / 2.0


def check_nbins(nbins: Any) -> int:
    return whole_number(nbins, "nbins", minimum=1, requirement="a positive integer")


@_docs
def image_histogram(
    image: ArrayLike, nbins: int = 256, source_range: str = "image", normalize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact histogram with bin centers: the twin of :func:`skimage.exposure.histogram`.

    Integer images get one bin per integer value from the minimum to the maximum
    (``source_range="image"``) or over the dtype's range (``"dtype"``), ignoring
    ``nbins``; float images get ``nbins`` equal bins over their range (or ``[-1, 1]``).
    The result can be passed as ``hist=`` to the thresholds, to compute several
    thresholds from one histogram. Computes eagerly; returns numpy arrays equal to
    scikit-image's for any chunking.

    Parameters
    ----------
    image : numpy or dask array
        Integer or float volume.
    nbins : int, optional
        Number of bins for float images.
    source_range : {"image", "dtype"}, optional
    normalize : bool, optional
        Divide the counts by their sum.

    Returns
    -------
    hist : ndarray
    bin_centers : ndarray

    Raises
    ------
    TypeError
        Boolean or complex images.
    ValueError
        A bad ``source_range``, a NaN or infinite range, or an integer range of more
        than 2**26 values.

    Notes
    -----
    A min/max pass (``source_range="image"``, except for integers of at most 16 bits)
    then one histogram pass; a task holds one block and one vector of counts.

    %(exposure_example)s
    >>> x = np.random.default_rng(0).integers(10, 50, (5, 6, 7), dtype=np.uint8)
    >>> h, c = stats.image_histogram(x)
    >>> h0, c0 = exposure.histogram(x)
    >>> bool((h == h0).all() and (c == c0).all())
    True
    """
    x = as_real_dask(image)
    if x.dtype.kind == "b":
        raise TypeError(
            "`image` must be an integer or float array; got dtype bool. Cast it to uint8."
        )
    nbins = check_nbins(nbins)
    if source_range not in ("image", "dtype"):
        raise ValueError(f"Incorrect value for `source_range` argument: {source_range!r}")
    hist, centers = _skimage_hist(x, nbins, source_range)
    if normalize:
        hist = hist / np.sum(hist)
    return hist, centers
