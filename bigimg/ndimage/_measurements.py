"""scipy.ndimage's per-label measurements on chunked arrays, from one tree reduction.

``sum_labels``, ``mean``, ``variance``, ``minimum_position``, ``center_of_mass``, ...
each build the same kind of graph (the table engine, :mod:`bigimg._tables`): one task
per block that measures every label present in the block, a tree of merge tasks, and
one small task that answers for ``index``. They return lazy dask arrays: shape
``index.shape`` for an array ``index``, 0-d for a scalar (or absent) ``index``.
Positions and centres of mass are lazy too (a dask ``Delayed``) and compute to scipy's
structure: a tuple per region, a list of tuples for an array ``index``. :func:`label_statistics` returns many of
them from ONE pass over the data.

``find_objects``, ``histogram``, ``median``, ``labeled_comprehension`` and
``value_indices`` are in :mod:`bigimg.ndimage._measure_objects`. Here, as there, only
the public signatures, docstrings (:mod:`bigimg._docs`) and argument checks; the
machinery is the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed, delayed
from numpy.typing import ArrayLike

from bigimg._docs import NDIMAGE, DocFiller
from bigimg._tables import extract, measure_table, regions

__all__ = [
    "STATISTICS",
    "center_of_mass",
    "extrema",
    "label_statistics",
    "maximum",
    "maximum_position",
    "mean",
    "minimum",
    "minimum_position",
    "standard_deviation",
    "sum",
    "sum_labels",
    "variance",
]

#: The statistics :func:`label_statistics` can return, with the scipy function each equals.
STATISTICS = {
    "count": "the number of voxels (``sum_labels(ones, labels, index)``)",
    "sum": "sum_labels",
    "mean": "mean",
    "variance": "variance",
    "standard_deviation": "standard_deviation",
    "minimum": "minimum",
    "maximum": "maximum",
    "minimum_position": "minimum_position",
    "maximum_position": "maximum_position",
    "center_of_mass": "center_of_mass",
}

_docs = DocFiller(NDIMAGE)
#: minimum and maximum: every section but the summary and the example's own lines.
_docs = _docs.extend(
    extremum_sections=_docs.fill(
        """
    %(measure_parameters)s

    Returns
    -------
    dask array
        Lazy, ``input``'s dtype, ``index``'s shape (0-d for one region); 0 where a
        label is not present, as scipy. For one empty region, computing raises
        ``ValueError`` as scipy does.

    %(measure_raises_notes)s

    %(dask_example)s"""
    )
)


def _one(
    name: str, input: ArrayLike, labels: ArrayLike | None, index: ArrayLike | None
) -> da.Array | Delayed:
    r = regions(input, labels, index)
    return _scipy_structure(name, extract(name, measure_table(r, [name]), r), r)


def _tuples(coords: np.ndarray, index_shape: tuple[int, ...] | None) -> tuple | list:
    """scipy's structure of positions or centres: ``coords`` holds one row per region.

    One region (``index_shape`` None): a tuple of numpy scalars. An array ``index``: a
    list of tuples, built as scipy builds it (``[tuple(v) for v in results.T]`` for
    ``center_of_mass``, whose multi-dimensional ``index`` gives tuples of arrays).
    """
    if index_shape is None:
        return tuple(coords.reshape(coords.shape[-1]))
    results = np.moveaxis(coords.reshape(*index_shape, coords.shape[-1]), -1, 0)
    return [tuple(v) for v in results.T]


def _scipy_structure(name: str, arr: da.Array, r) -> da.Array | Delayed:
    """Positions and centres as scipy returns them, lazily: tuples, lists of tuples."""
    if name not in ("minimum_position", "maximum_position", "center_of_mass"):
        return arr
    index_shape = tuple(r.index.shape) if r.mode == "labels" else None
    if index_shape == ():  # a 0-d index array: one region, as scipy
        index_shape = None
    if index_shape is not None and name != "center_of_mass":
        index_shape = (int(np.prod(index_shape)),)  # scipy flattens positions
    key = f"{name}-tuples-{tokenize(arr, index_shape)}"
    return delayed(_tuples, pure=True)(arr, index_shape, dask_key_name=key)


def _measurement(name: str, doc: str, *, statistic: str | None = None):
    """The public measurement ``name``: the table engine's ``statistic`` (default: ``name``)."""
    statistic = statistic or name

    def measurement(
        input: ArrayLike, labels: ArrayLike | None = None, index: ArrayLike | None = None
    ) -> da.Array:
        return _one(statistic, input, labels, index)

    return _docs.named(measurement, name, doc)


# ------------------------------------------------------------------------ public API
@_docs
def label_statistics(
    input: ArrayLike,
    labels: ArrayLike | None = None,
    index: ArrayLike | None = None,
    *,
    statistics: Sequence[str] = ("count", "sum", "mean", "minimum", "maximum", "center_of_mass"),
    split_every: int = 16,
) -> dict[str, da.Array]:
    """Many per-label statistics from ONE pass over the data (no scipy twin).

    %(measure_parameters)s
    statistics : str or sequence of str, optional
        Keyword-only. Names from :data:`STATISTICS`: ``count``, ``sum``, ``mean``,
        ``variance``, ``standard_deviation``, ``minimum``, ``maximum``,
        ``minimum_position``, ``maximum_position``, ``center_of_mass``.
    split_every : int, optional
        Keyword-only. Fan-in of the merge tree (tables merged per task; default 16).

    Returns
    -------
    dict of str to dask array
        Each value equals the scipy.ndimage function of that name (``count`` is the
        voxel count) as described in :func:`sum_labels` and :func:`minimum_position`.
        They share one graph: ``dask.compute(*stats.values())`` reads ``input`` and
        ``labels`` once.

    Raises
    ------
    %(measure_raises)s
        Also ``ValueError`` for an unknown statistic.

    Notes
    -----
    %(measure_notes)s

    Examples
    --------
    >>> import numpy as np, dask, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import label_statistics
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> lab = np.array([[1, 1, 0, 2], [0, 2, 2, 0], [3, 0, 0, 3]])
    >>> stats = label_statistics(da.from_array(x, chunks=2), lab, [1, 2, 3],
    ...                          statistics=("sum", "center_of_mass"))
    >>> s, com = dask.compute(stats["sum"], stats["center_of_mass"])
    >>> s
    array([ 1., 14., 19.])
    >>> np.allclose(com, ndi.center_of_mass(x, lab, [1, 2, 3]))
    True
    """
    if isinstance(statistics, str):
        statistics = (statistics,)
    statistics = tuple(statistics)
    bad = [s for s in statistics if s not in STATISTICS]
    if bad:
        raise ValueError(f"`statistics` entries must be among {sorted(STATISTICS)}; got {bad!r}.")
    r = regions(input, labels, index)
    table = measure_table(r, statistics, split_every=split_every)
    return {name: extract(name, table, r) for name in statistics}


sum_labels = _measurement(
    "sum_labels",
    """Sum of ``input`` per labelled region; twin of ``scipy.ndimage.sum_labels``.

    %(measure_parameters)s

    Returns
    -------
    dask array
        Lazy. For an array ``index``, float64 of ``index``'s shape (0 for labels not
        present), as scipy. For one region, 0-d with numpy's sum dtype for
        ``input`` (int64/uint64/float32/float64), as scipy.

    %(measure_raises_notes)s
    Integer inputs are summed exactly in 64 bits; floats in float64.

    %(dask_example)s
    >>> from bigimg.ndimage import sum_labels
    >>> x = np.array([1, 2, 3, 4]); lab = np.array([1, 1, 2, 2])
    >>> s = sum_labels(da.from_array(x, chunks=3), lab, [1, 2, 5])
    >>> s.compute()
    array([3., 7., 0.])
    >>> bool((s.compute() == ndi.sum_labels(x, lab, [1, 2, 5])).all())
    True
    """,
    statistic="sum",
)

sum = _measurement(  # noqa: A001
    "sum",
    """Alias of :func:`sum_labels`; twin of ``scipy.ndimage.sum``.

    %(measure_parameters)s

    Returns
    -------
    dask array
        Lazy, as :func:`sum_labels`.

    %(measure_raises_notes)s

    %(dask_example)s
    >>> from bigimg import ndimage
    >>> x = np.array([1, 2, 3, 4]); lab = np.array([1, 1, 2, 2])
    >>> bool(ndimage.sum(x, lab, 2).compute() == ndi.sum(x, lab, 2))
    True
    """,
)

mean = _measurement(
    "mean",
    """Mean of ``input`` per labelled region; twin of ``scipy.ndimage.mean``.

    %(measure_parameters)s

    Returns
    -------
    dask array
        Lazy float64, ``index``'s shape (0-d for one region); NaN where a label is
        not present, as scipy.

    %(measure_raises_notes)s

    %(dask_example)s
    >>> from bigimg.ndimage import mean
    >>> x = np.array([1., 2., 3., 6.]); lab = np.array([1, 1, 2, 2])
    >>> mean(da.from_array(x, chunks=3), lab, [1, 2]).compute()
    array([1.5, 4.5])
    >>> bool(mean(x, lab).compute() == ndi.mean(x, lab))
    True
    """,
)

variance = _measurement(
    "variance",
    """Population variance per labelled region; twin of ``scipy.ndimage.variance``.

    %(measure_parameters)s

    Returns
    -------
    dask array
        Lazy float64, ``index``'s shape (0-d for one region); NaN where a label is
        not present.

    %(measure_raises_notes)s
    Each block sums squared deviations from its own per-label mean (two passes over
    the block, slab by slab); blocks combine with Chan's parallel formula, which keeps
    the result as accurate as scipy's centred computation.

    %(dask_example)s
    >>> from bigimg.ndimage import variance
    >>> x = np.array([1., 2., 3., 6.]); lab = np.array([1, 1, 2, 2])
    >>> v = variance(da.from_array(x, chunks=1), lab, [1, 2]).compute()
    >>> v
    array([0.25, 2.25])
    >>> np.allclose(v, ndi.variance(x, lab, [1, 2]))
    True
    """,
)

standard_deviation = _measurement(
    "standard_deviation",
    """Standard deviation per region; twin of ``scipy.ndimage.standard_deviation``.

    %(measure_parameters)s

    Returns
    -------
    dask array
        Lazy float64, the square root of :func:`variance`: ``index``'s shape (0-d
        for one region); NaN where a label is not present.

    %(measure_raises_notes)s

    %(dask_example)s
    >>> from bigimg.ndimage import standard_deviation
    >>> x = np.array([1., 2., 3., 6.]); lab = np.array([1, 1, 2, 2])
    >>> s = standard_deviation(x, lab, [1, 2]).compute()
    >>> np.allclose(s, ndi.standard_deviation(x, lab, [1, 2]))
    True
    """,
)

minimum = _measurement(
    "minimum",
    """Minimum of ``input`` per labelled region; twin of ``scipy.ndimage.minimum``.

    %(extremum_sections)s
    >>> from bigimg.ndimage import minimum
    >>> x = np.array([5, 2, 3, 6]); lab = np.array([1, 1, 2, 2])
    >>> minimum(da.from_array(x, chunks=3), lab, [1, 2, 9]).compute()
    array([2, 3, 0])
    >>> list(ndi.minimum(x, lab, [1, 2, 9]))
    [np.int64(2), np.int64(3), np.int64(0)]
    """,
)

maximum = _measurement(
    "maximum",
    """Maximum of ``input`` per labelled region; twin of ``scipy.ndimage.maximum``.

    %(extremum_sections)s
    >>> from bigimg.ndimage import maximum
    >>> x = np.array([5, 2, 3, 6]); lab = np.array([1, 1, 2, 2])
    >>> maximum(x, lab, [1, 2, 9]).compute()
    array([5, 6, 0])
    >>> bool((maximum(x, lab, [1, 2]).compute() == ndi.maximum(x, lab, [1, 2])).all())
    True
    """,
)

minimum_position = _measurement(
    "minimum_position",
    """Position of the minimum per region; twin of ``scipy.ndimage.minimum_position``.

    %(measure_parameters)s

    Returns
    -------
    dask Delayed
        Lazy; computes to scipy's structure: a tuple of ``ndim`` integers for one
        region, a list of such tuples (one per entry of the flattened ``index``) for
        an array ``index``. One small task turns the table's coordinates into
        tuples, so ``dask.compute`` of it with other measurements still reads the
        data once. Absent labels give the origin, as scipy. Ties give the first
        voxel in C order (scipy's choice for one region; for an array ``index``
        scipy's unstable sort may pick another of the tied voxels).

    %(measure_raises_notes)s

    %(dask_example)s
    >>> from bigimg.ndimage import minimum_position
    >>> x = np.array([[5, 2], [3, 6]]); lab = np.array([[1, 1], [2, 2]])
    >>> minimum_position(da.from_array(x, chunks=1), lab, [1, 2]).compute()
    [(np.int64(0), np.int64(1)), (np.int64(1), np.int64(0))]
    >>> minimum_position(x, lab, [1, 2]).compute() == ndi.minimum_position(x, lab, [1, 2])
    True
    """,
)

maximum_position = _measurement(
    "maximum_position",
    """Position of the maximum per region; twin of ``scipy.ndimage.maximum_position``.

    %(measure_parameters)s

    Returns
    -------
    dask Delayed
        Lazy, as :func:`minimum_position`: computes to a tuple for one region, a list
        of tuples for an array ``index``; the origin for absent labels; the first of
        tied voxels in C order.

    %(measure_raises_notes)s

    %(dask_example)s
    >>> from bigimg.ndimage import maximum_position
    >>> x = np.array([[5, 2], [3, 6]]); lab = np.array([[1, 1], [2, 2]])
    >>> maximum_position(x, lab, 2).compute()
    (np.int64(1), np.int64(1))
    >>> maximum_position(x, lab, 2).compute() == ndi.maximum_position(x, lab, 2)
    True
    """,
)


@_docs
def extrema(
    input: ArrayLike, labels: ArrayLike | None = None, index: ArrayLike | None = None
) -> tuple[da.Array, da.Array, da.Array, da.Array]:
    """Minima, maxima and their positions per region; twin of ``scipy.ndimage.extrema``.

    %(measure_parameters)s

    Returns
    -------
    minimums, maximums, min_positions, max_positions : tuple
        Lazy, as :func:`minimum`, :func:`maximum` (dask arrays),
        :func:`minimum_position` and :func:`maximum_position` (dask Delayed that
        compute to scipy's tuples or lists of tuples), all from one pass over the
        data: ``dask.compute(*extrema(...))`` gives what scipy returns.

    %(measure_raises_notes)s

    Examples
    --------
    >>> import numpy as np, dask
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import extrema
    >>> x = np.array([[5, 2], [3, 6]]); lab = np.array([[1, 1], [2, 2]])
    >>> lo, hi, lo_pos, hi_pos = dask.compute(*extrema(x, lab, [1, 2]))
    >>> lo, hi
    (array([2, 3]), array([5, 6]))
    >>> ref = ndi.extrema(x, lab, [1, 2])
    >>> bool((lo == ref[0]).all()) and lo_pos == ref[2] and hi_pos == ref[3]
    True
    """
    r = regions(input, labels, index)
    names = ("minimum", "maximum", "minimum_position", "maximum_position")
    table = measure_table(r, names)
    return tuple(_scipy_structure(n, extract(n, table, r), r) for n in names)


@_docs
def center_of_mass(
    input: ArrayLike, labels: ArrayLike | None = None, index: ArrayLike | None = None
) -> da.Array:
    """Centre of mass of ``input`` per region; twin of ``scipy.ndimage.center_of_mass``.

    %(measure_parameters)s

    Returns
    -------
    dask Delayed
        Lazy; computes to scipy's structure: a tuple of ``ndim`` floats for one
        region, a list of tuples for a 1-D ``index`` (scipy's transposed nest for a
        multi-dimensional one); NaN for absent labels. One small task builds the
        tuples from the table's float64 coordinates.

    %(measure_raises_notes)s

    %(dask_example)s
    >>> from bigimg.ndimage import center_of_mass
    >>> x = np.array([[1., 0.], [1., 2.]]); lab = np.array([[1, 1], [2, 2]])
    >>> c = center_of_mass(da.from_array(x, chunks=1), lab, [1, 2]).compute()
    >>> [tuple(round(float(v), 3) for v in t) for t in c]
    [(0.0, 0.0), (1.0, 0.667)]
    >>> np.allclose(c, ndi.center_of_mass(x, lab, [1, 2]))
    True
    """
    return _one("center_of_mass", input, labels, index)
