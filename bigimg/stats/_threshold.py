"""Global thresholds of whole volumes with scikit-image's values.

scikit-image computes most thresholds from a histogram of the image: one bin per
integer for integer images, ``nbins`` equal bins over ``[min, max]`` for floats
(:func:`bigimg.stats.image_histogram` reproduces it exactly, out of core). Each
threshold here computes that histogram in two passes (min/max, counts) and then runs
the same arithmetic on it, in the same dtypes, so the value is scikit-image's.
Li's method on float images iterates over the data itself: one pass per iteration.

Every function computes eagerly and returns a Python ``float``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage as ndi

from bigimg._docs import STATS, DocFiller
from bigimg._errors import ArgumentError
from bigimg._tables import add_merge, min_max, run_passes, tree_pass
from bigimg.stats._args import as_real_dask
from bigimg.stats._histogram import _skimage_hist, check_nbins

__all__ = [  # in the order of the module: the histogram methods first
    "threshold_otsu",
    "threshold_yen",
    "threshold_isodata",
    "threshold_minimum",
    "threshold_triangle",
    "threshold_mean",
    "threshold_li",
]


_docs = DocFiller(
    STATS,
    histogram_notes="""
        Notes
        -----
        Two passes (min/max, histogram; just the histogram for integers of at most 16
        bits), then scikit-image's arithmetic on the histogram.""",
)


# ------------------------------------------------------------------------- helpers
def _image(image, name: str = "image"):
    x = as_real_dask(image, name=name)
    if x.dtype.kind == "b":
        raise TypeError(
            f"`{name}` must be an integer or float array; got dtype bool. Cast it to uint8."
        )
    if x.size == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {x.shape}.")
    return x


def _given_hist(hist):
    """skimage's handling of a user histogram: counts (+ centers), zero ends trimmed."""
    if isinstance(hist, tuple | list):
        counts, centers = (np.asarray(h) for h in hist)
    else:
        counts = np.asarray(hist)
        centers = np.arange(counts.size)
    if counts.ndim != 1 or counts.shape != centers.shape or counts.size == 0:
        raise ValueError(
            "`hist` must be a 1-D array of counts or a (counts, bin_centers) "
            f"pair of equal length; got shapes {counts.shape}, {centers.shape}."
        )
    if counts[0] == 0 or counts[-1] == 0:
        nonzero = counts > 0
        start = np.argmax(nonzero)
        end = nonzero.size - np.argmax(nonzero[::-1])
        counts, centers = counts[start:end], centers[start:end]
    return counts, centers


def _histogram(image, hist, nbins, *, constant=False):
    """(float32 counts, centers), or ``("constant", value)`` for a constant image."""
    if hist is not None:
        counts, centers = _given_hist(hist)
        return counts.astype("float32", copy=False), centers
    if image is None:
        raise TypeError("Either `image` or `hist` must be provided; got neither.")
    x = _image(image)
    nbins = check_nbins(nbins)
    if x.dtype.kind in "iu" and x.dtype.itemsize <= 2:  # one pass, no min/max needed
        counts, centers = _skimage_hist(x, nbins, "image")
        if constant and counts.size == 1:
            return "constant", centers[0]
        return counts.astype("float32", copy=False), centers
    info = min_max(x)
    if constant and not info[1] and info[2] == info[3]:
        return "constant", info[2]
    counts, centers = _skimage_hist(x, nbins, "image", info)
    return counts.astype("float32", copy=False), centers


# ------------------------------------------------------------- histogram methods
def threshold_otsu(
    image: ArrayLike | None = None,
    nbins: int = 256,
    *,
    hist: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
) -> float:
    """Otsu's threshold of a whole volume: the twin of :func:`skimage.filters.threshold_otsu`.

    Computes eagerly (two passes) and returns scikit-image's value as a Python float.

    Parameters
    ----------
    image : numpy or dask array, optional
        Grey-level volume (integer or float).
    nbins : int, optional
        Number of histogram bins; ignored for integer images (one bin per integer).
    hist : array or (counts, bin_centers), optional
        A histogram to use instead of the image, e.g. from
        :func:`bigimg.stats.image_histogram`.

    Returns
    -------
    float
        Pixels brighter than this are foreground.

    Raises
    ------
    TypeError
        Neither ``image`` nor ``hist``, or a boolean image.
    ValueError
        An empty image, or NaN/infinite values (as numpy's histogram).

    Notes
    -----
    A min/max pass, then the histogram pass of :func:`bigimg.stats.image_histogram`
    (integers of at most 16 bits: the histogram pass alone); a task holds one block and
    one vector of counts. A constant image returns its value.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import filters
    >>> from bigimg import stats
    >>> x = np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32)
    >>> bool(stats.threshold_otsu(x) == filters.threshold_otsu(x))
    True
    """
    got = _histogram(image, hist, nbins, constant=image is not None)
    if isinstance(got[0], str):
        return float(got[1])
    counts, centers = got
    below = np.cumsum(counts)
    above = np.cumsum(counts[::-1])[::-1]
    moment = counts * centers
    mean_below = np.cumsum(moment) / below
    mean_above = (np.cumsum(moment[::-1]) / above[::-1])[::-1]
    between = below[:-1] * above[1:] * (mean_below[:-1] - mean_above[1:]) ** 2
    return float(centers[np.argmax(between)])


@_docs
def threshold_yen(
    image: ArrayLike | None = None,
    nbins: int = 256,
    *,
    hist: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
) -> float:
    """Yen's threshold of a whole volume: the twin of :func:`skimage.filters.threshold_yen`.

    Parameters
    ----------
    image, nbins, hist
        As in :func:`threshold_otsu`.

    Returns
    -------
    float

    %(histogram_notes)s

    %(filters_example)s
    >>> x = np.random.default_rng(0).integers(0, 200, (6, 7, 8), dtype=np.uint8)
    >>> bool(stats.threshold_yen(x) == filters.threshold_yen(x))
    True
    """
    counts, centers = _histogram(image, hist, nbins)
    if centers.size == 1:
        return float(centers[0])
    pmf = counts.astype("float32", copy=False) / counts.sum()
    cum = np.cumsum(pmf)
    sq_below = np.cumsum(pmf**2)
    sq_above = np.cumsum(pmf[::-1] ** 2)[::-1]
    with np.errstate(divide="ignore"):
        crit = np.log(((sq_below[:-1] * sq_above[1:]) ** -1) * (cum[:-1] * (1.0 - cum[:-1])) ** 2)
    return float(centers[crit.argmax()])


@_docs
def threshold_isodata(
    image: ArrayLike | None = None,
    nbins: int = 256,
    return_all: bool = False,
    *,
    hist: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
) -> float | np.ndarray:
    """ISODATA (Ridler-Calvard) threshold: the twin of :func:`skimage.filters.threshold_isodata`.

    Parameters
    ----------
    image, nbins, hist
        As in :func:`threshold_otsu`.
    return_all : bool, optional
        Return every threshold satisfying the ISODATA equality (a numpy array), not
        only the lowest.

    Returns
    -------
    float or ndarray

    %(histogram_notes)s

    %(filters_example)s
    >>> x = np.random.default_rng(0).normal(size=(6, 7, 8))
    >>> bool(stats.threshold_isodata(x) == filters.threshold_isodata(x))
    True
    """
    counts, centers = _histogram(image, hist, nbins)
    if len(centers) == 1:
        return centers if return_all else float(centers[0])
    counts = counts.astype("float32", copy=False)
    n_low = np.cumsum(counts)
    n_high = n_low[-1] - n_low
    weighted = np.cumsum(counts * centers)
    mean_low = weighted[:-1] / n_low[:-1]
    mean_high = (weighted[-1] - weighted[:-1]) / n_high[:-1]
    midpoint = (mean_low + mean_high) / 2.0
    width = centers[1] - centers[0]
    dist = midpoint - centers[:-1]
    found = centers[:-1][(dist >= 0) & (dist < width)]
    if return_all:
        return found
    if found.size == 0:
        raise ArgumentError("No ISODATA threshold: no bin center is a fixed point.")
    return float(found[0])


def _local_maxima(h: np.ndarray) -> np.ndarray:
    """Indices where the histogram turns from rising (or the start) to falling.

    Plateaus keep the current direction, so a flat top counts once at its end.
    """
    step = np.sign(np.diff(h))
    where = np.flatnonzero(step)
    signs = step[where]
    before = np.concatenate(([1.0], signs[:-1]))
    return where[(signs < 0) & (before > 0)]


@_docs
def threshold_minimum(
    image: ArrayLike | None = None,
    nbins: int = 256,
    max_num_iter: int = 10000,
    *,
    hist: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
) -> float:
    """Minimum-method threshold: the twin of :func:`skimage.filters.threshold_minimum`.

    The histogram is smoothed with a running mean of 3 bins until it has two maxima;
    the threshold is the lowest bin between them.

    Parameters
    ----------
    image, nbins, hist
        As in :func:`threshold_otsu`.
    max_num_iter : int, optional
        Largest number of smoothing steps.

    Returns
    -------
    float

    Raises
    ------
    ArgumentError
        (a ``ValueError`` and a ``RuntimeError``, which is what scikit-image raises) when
        the histogram never shows exactly two maxima.

    Notes
    -----
    Two passes (min/max, histogram; just the histogram for integers of at most 16
    bits); the smoothing runs on the histogram only.

    %(filters_example)s
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(50, 5, 500), rng.normal(150, 10, 500)]).reshape(10, 10, 10)
    >>> bool(stats.threshold_minimum(x) == filters.threshold_minimum(x))
    True
    """
    if isinstance(max_num_iter, bool) or not isinstance(max_num_iter, numbers.Integral):
        raise TypeError(f"`max_num_iter` must be an integer; got {max_num_iter!r}.")
    if max_num_iter < 1:
        raise ValueError(f"`max_num_iter` must be positive; got {max_num_iter}.")
    counts, centers = _histogram(image, hist, nbins)
    smooth = counts.astype("float32", copy=False)
    steps = 0
    while True:
        smooth = ndi.uniform_filter1d(smooth, 3)
        maxima = _local_maxima(smooth)
        steps += 1
        if len(maxima) < 3 or steps == max_num_iter:
            break
    if len(maxima) != 2:
        raise ArgumentError("Unable to find two maxima in histogram")
    if steps == max_num_iter:
        raise ArgumentError("Maximum iteration reached for histogram smoothing")
    lowest = np.argmin(smooth[maxima[0] : maxima[1] + 1])
    return float(centers[maxima[0] + lowest])


@_docs
def threshold_triangle(image: ArrayLike, nbins: int = 256) -> float:
    """Triangle threshold: the twin of :func:`skimage.filters.threshold_triangle`.

    Parameters
    ----------
    image : numpy or dask array
    nbins : int, optional
        Number of bins for float images.

    Returns
    -------
    float

    Notes
    -----
    Two passes (min/max, histogram; just the histogram for integers of at most 16
    bits); the geometry runs on the histogram only.

    %(filters_example)s
    >>> x = np.random.default_rng(0).gamma(2.0, 10.0, (6, 7, 8))
    >>> bool(stats.threshold_triangle(x) == filters.threshold_triangle(x))
    True
    """
    x = _image(image)
    nbins = check_nbins(nbins)
    small_int = x.dtype.kind in "iu" and x.dtype.itemsize <= 2
    info = None if small_int else min_max(x)
    hist, centers = _skimage_hist(x, nbins, "image", info)
    nbins = len(hist)
    peak = np.argmax(hist)
    peak_height = hist[peak]
    low, high = np.flatnonzero(hist)[[0, -1]]
    if low == high:
        return float(centers[low] if info is None else info[2])
    flip = peak - low < high - peak
    if flip:
        hist = hist[::-1]
        low = nbins - high - 1
        peak = nbins - peak - 1
    width = peak - low
    x1 = np.arange(width)
    y1 = hist[x1 + low]
    norm = np.sqrt(peak_height**2 + width**2)
    peak_height = peak_height / norm
    width = width / norm
    level = np.argmax(peak_height * x1 - width * y1) + low
    if flip:
        level = nbins - level - 1
    return float(centers[level])


@_docs
def threshold_mean(image: ArrayLike) -> float:
    """Mean threshold: the twin of :func:`skimage.filters.threshold_mean`.

    Parameters
    ----------
    image : numpy or dask array

    Returns
    -------
    float
        The mean, accumulated per block in float64 (numpy accumulates float32 images in
        float32), so it agrees with scikit-image to rounding.

    %(filters_example)s
    >>> x = np.random.default_rng(0).integers(0, 99, (6, 7, 8))
    >>> bool(stats.threshold_mean(x) == filters.threshold_mean(x))
    True
    """
    x = _image(image)
    return float(x.mean(dtype=np.float64).compute())


# ---------------------------------------------------------------------------- Li
def _li_block(block, *, lo, t):
    """(count, sum) of the shifted finite values above and at-or-below ``t``."""
    flat = block.reshape(-1)
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    shifted = flat - lo
    fore = shifted > t
    up = shifted[fore]
    down = shifted[~fore]
    return np.array([up.size, down.size]), np.array(
        [up.sum(dtype=np.float64), down.sum(dtype=np.float64)]
    )


@_docs
def threshold_li(
    image: ArrayLike,
    *,
    tolerance: float | None = None,
    initial_guess: float | Callable[[da.Array], float] | None = None,
    iter_callback: Callable[[float], Any] | None = None,
) -> float:
    """Li's minimum cross-entropy threshold: the twin of :func:`skimage.filters.threshold_li`.

    Integer images iterate on the exact per-integer histogram and give scikit-image's
    value exactly. Float images iterate on the data: every iteration is one pass that
    sums the values above and below the current threshold (in float64).

    Parameters
    ----------
    image : numpy or dask array
    tolerance : float, optional
        Stop when the threshold moves by less than this. Default: 0.5 for integer
        images (scikit-image's); for float images ``(max - min) * 2**-20`` (scikit-image
        uses half the smallest gap between distinct values, which needs a sort of the
        whole volume).
    initial_guess : float or callable, optional
        Starting threshold (inside the image's range), or a callable that receives
        the volume minus its minimum as a dask array (for float images, its finite
        values as a 1-D array, which costs one pass) and returns one, e.g.
        ``lambda a: bigimg.stats.quantile(a, 0.95)``. Default: the mean.
    iter_callback : callable, optional
        Called with the threshold at every iteration.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``initial_guess`` outside the image's range.
    TypeError
        ``initial_guess`` of another kind.

    Notes
    -----
    NaNs are ignored and infinities dropped, as scikit-image does. Integer images: two
    passes. Float images: two passes plus one per iteration (each task holds one block).
    With the same ``tolerance`` the float result agrees with scikit-image to rounding
    (scikit-image accumulates float32 images in float32).

    %(filters_example)s
    >>> x = np.random.default_rng(0).integers(0, 255, (6, 7, 8), dtype=np.uint8)
    >>> bool(stats.threshold_li(x) == filters.threshold_li(x))
    True
    """
    x = _image(image)
    if initial_guess is not None and not (
        callable(initial_guess) or isinstance(initial_guess, numbers.Real)
    ):
        raise TypeError(
            "Incorrect type for `initial_guess`; should be a floating point value, "
            f"or a function mapping an array to a floating point value; got "
            f"{initial_guess!r}."
        )
    if tolerance is not None and not isinstance(tolerance, numbers.Real):
        raise TypeError(f"`tolerance` must be a number or None; got {tolerance!r}.")
    n, _, lo, hi = min_max(x)
    if n == 0:
        return float("nan")
    if lo == hi:
        return float(lo)
    if x.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
        x = da.where(da.isfinite(x), x, np.nan)
        n, _, lo, hi = min_max(x)
        if n == 0:
            return 0.0
    shifted_max = hi - lo
    if x.dtype.kind in "iu":
        return _li_integer(x, lo, tolerance, initial_guess, iter_callback, shifted_max)
    return _li_float(x, lo, n, tolerance, initial_guess, iter_callback, shifted_max)


def _li_start(x, lo, initial_guess, shifted_max, default):
    if initial_guess is None:
        return default()
    if callable(initial_guess):
        shifted = x - lo
        if x.dtype.kind == "f":
            shifted = shifted[da.isfinite(shifted)]
            shifted.compute_chunk_sizes()
        return initial_guess(shifted)
    t = initial_guess - float(lo)
    if not 0 < t < shifted_max:
        raise ValueError(
            "The initial guess for threshold_li must be within the range of the image. "
            f"Got {initial_guess} for image min {lo} and max {lo + shifted_max}."
        )
    return x.dtype.type(t)


def _li_integer(x, lo, tolerance, initial_guess, iter_callback, shifted_max) -> float:
    counts, _ = _skimage_hist(x, 256, "image", (None, 0, lo, lo + shifted_max))
    centers = np.arange(counts.size)
    tolerance = tolerance or 0.5
    total = int(np.dot(counts.astype(object), centers.astype(object)))
    t_next = _li_start(
        x, lo, initial_guess, shifted_max, lambda: np.float64(total) / np.float64(counts.sum())
    )
    t_curr = -2 * tolerance
    if iter_callback is not None:
        iter_callback(t_next + lo)
    hist = counts.astype("float32", copy=False)
    while abs(t_next - t_curr) > tolerance:
        t_curr = t_next
        fore = centers > t_curr
        mean_fore = np.average(centers[fore], weights=hist[fore])
        mean_back = np.average(centers[~fore], weights=hist[~fore])
        if mean_back == 0:
            break
        t_next = (mean_back - mean_fore) / (np.log(mean_back) - np.log(mean_fore))
        if iter_callback is not None:
            iter_callback(t_next + lo)
    return float(t_next + lo)


def _li_float(x, lo, n, tolerance, initial_guess, iter_callback, shifted_max) -> float:
    tolerance = tolerance or float(shifted_max) * 2.0**-20

    def sums(t: float):
        p = tree_pass(x, _li_block, add_merge, name="li", lo=lo, t=float(t))
        ((cnt, tot),) = run_passes(p)
        return cnt, tot

    def mean():
        cnt, tot = sums(np.inf)
        return tot[1] / cnt[1]

    t_next = float(_li_start(x, lo, initial_guess, shifted_max, mean))
    t_curr = -2 * tolerance
    if iter_callback is not None:
        iter_callback(t_next + float(lo))
    while abs(t_next - t_curr) > tolerance:
        t_curr = t_next
        cnt, tot = sums(t_curr)
        mean_fore = tot[0] / cnt[0] if cnt[0] else np.nan
        mean_back = tot[1] / cnt[1] if cnt[1] else np.nan
        if mean_back == 0.0:
            break
        t_next = float((mean_back - mean_fore) / (np.log(mean_back) - np.log(mean_fore)))
        if iter_callback is not None:
            iter_callback(t_next + float(lo))
    return float(t_next + float(lo))
