"""scipy.ndimage filters, blockwise with exact halos: the linear and Gaussian filters.

Every public function in this module and its siblings :mod:`bigimg.ndimage._derivatives`
(gradients and Laplacians), :mod:`bigimg.ndimage._generic` (user-function filters) and
:mod:`bigimg.ndimage._order_filters` has the name, parameters, order and defaults of its
``scipy.ndimage`` twin and gives the twin's result for any chunking. The pattern is
the same everywhere, and :func:`filter_twin` is its one body:

1. :func:`bigimg._args.validated_dtype` runs the twin on a one-voxel array with all the
   user's arguments: bad arguments raise what scipy raises (``ArgumentError`` where
   scipy says ``RuntimeError``) before a graph exists, and the output dtype is scipy's.
2. The kernel's reach per axis (its halo) is derived from the same arguments by the
   halo engine's geometry rules (:mod:`bigimg._halo`).
3. :func:`bigimg._halo.run_twin` runs the twin on halo-extended blocks; the linear
   filters run the compiled, bit-identical kernel of :mod:`bigimg._linear` instead.

The 1-D filters along one axis live here too (``minimum_filter1d`` and
``maximum_filter1d`` beside ``uniform_filter1d``: one signature, one body). Twins that
share scipy's signature are made by one factory each (``_size1d_twin``, ...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg import _linear
from bigimg._args import (
    as_dask,
    normalize_axes,
    normalize_axis,
    normalize_sequence,
    validated_dtype,
)
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._halo import (
    depth_on,
    footprint_depth,
    footprint_geometry,
    gaussian_reach,
    kernel_depth,
    modes_on,
    run_twin,
)
from bigimg._nonfinite import line_filter, needs_exact

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "generate_binary_structure",
    "iterate_structure",
    "maximum_filter1d",
    "minimum_filter1d",
    "uniform_filter",
    "uniform_filter1d",
]

generate_binary_structure = ndi.generate_binary_structure
iterate_structure = ndi.iterate_structure

#: Depth per axis of the whole array, given the filtered axes and the array's rank.
DepthOf = Callable[[tuple[int, ...], int], tuple[int, ...]]


def filter_twin(
    twin, input, *, output, depth_of: DepthOf, kernel=None, lines=None, **kw
) -> da.Array:
    """scipy's ``twin`` on every halo-extended block: the one body of the filters.

    ``twin(probe, output=..., **kw)`` first runs on a one-voxel probe, so bad arguments
    raise what scipy raises and the output dtype is scipy's; then
    ``depth_of(axes, ndim)`` gives the halo for the filtered axes (``kw["axis"]``, or
    ``kw["axes"]``: all when absent or None). The tasks are named after the twin.
    ``kernel`` (same signature, same results) runs on the blocks in the twin's place.

    ``lines`` marks a filter that scipy computes as running 1-D passes (``"min"``,
    ``"max"`` or ``"uniform"``; ``kw`` then holds ``size`` or an all-True
    ``footprint``, ``origin``, ``mode`` and ``cval``):
    where NaN or infinities can carry a line's history across blocks
    (:func:`bigimg._nonfinite.needs_exact`), the exact line engine runs instead, with
    the block kernel wherever no such value is near.
    """
    x = as_dask(input)
    dtype = validated_dtype(twin, x, output, kw)
    if "axis" in kw:
        axs = (normalize_axis(kw["axis"], x.ndim),)
    else:
        axs = normalize_axes(kw.get("axes"), x.ndim)
    block = twin if kernel is None else kernel
    if lines is not None and needs_exact(x, axs, kw["mode"], kw["cval"]):
        footprint = kw.get("footprint")
        out = line_filter(
            lines,
            x,
            dtype,
            axs,
            size=kw["size"] if footprint is None else np.shape(footprint),
            origin=kw["origin"],
            mode=kw["mode"],
            cval=kw["cval"],
            kernel=lambda out, cval: functools.partial(block, output=out, **{**kw, "cval": cval}),
            name=twin.__name__,
            one_dimensional="axis" in kw,
        )
        if out is not None:
            return out
    depth, modes = depth_of(axs, x.ndim), modes_on(kw["mode"], axs, x.ndim)
    return run_twin(block, x, depth, modes, dtype=dtype, name=twin.__name__, **kw)


def reach_on(reach: Callable[[int], Sequence[int]]) -> DepthOf:
    """``depth_of`` for a kernel whose reach along the filtered axes is ``reach(n_axes)``."""
    return lambda axs, ndim: depth_on(reach(len(axs)), axs, ndim)


def footprint_on(size, footprint, origin) -> DepthOf:
    """``depth_of`` for a kernel given by ``size`` or ``footprint``, and origins."""

    def depth_of(axs, ndim):
        shape, origins = footprint_geometry(size, footprint, origin, len(axs))
        return kernel_depth(shape, origins, axs, ndim)

    return depth_of


#: The sections of the families of twins, but the summary and the example's own lines:
#: the 1-D filters (``weights1d_sections``, ``size1d_*_sections``) differ in their kernel
#: parameter and halo; correlate and convolve share ``weights_sections``.
_SECTIONS_1D = """
    %(parameters)s
    %(kernel)s
    %(axis)s
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin)s

    %(returns_raises)s

    Notes
    -----
    %(halo)s

    %(example)s"""
_WEIGHTS_1D = """
    weights : array_like
        1-D sequence of weights."""
_HALO_WEIGHTS_1D = """
    Halo: ``len(weights) // 2 + |origin|`` voxels along ``axis`` only (one more for an
    even length in ``convolve1d``). One task holds a block plus its halo."""
_HALO_SIZE_1D = """
    Halo: ``size // 2 + |origin|`` voxels along ``axis`` only."""
#: NaN in scipy's running extrema (the minimum/maximum filters by a box, their 1-D
#: forms, grey morphology by a box, rank 0 and -1 of a box): the shared Notes text.
NAN_EXTREMA = """
    NaN: scipy's running minimum/maximum along a box's lines keeps a line's history (a
    NaN stays among its candidates until it leaves the window and keeps older
    candidates alive), so a voxel's value can depend on NaNs before its window. The
    result is still scipy's for any chunking: a block with NaN near reads further back
    along its lines, to a point where scipy's state is known (``2 * size`` voxels
    without NaN, ``size`` NaNs in a row, or the line's start), and replays scipy's
    algorithm from there; a block with no NaN near runs the usual kernel, reading
    ``size`` voxels more before it. Float input without a region source (a reader, a
    spill, blocks in memory) is first spilled to scratch; one task per block, and the
    result streams into the next halo operation."""
#: Non-finite values in scipy's running sums (the uniform filters).
NAN_SUMS = """
    Non-finite values: scipy's running sum stays NaN (or infinite) for the rest of a
    line once a NaN or an infinity has entered it. For float input a pre-pass finds
    where each line first meets one: one small task per block, one per column of
    blocks, and one per block of the axes not filtered, which writes a few arrays (the
    volume's shape without one axis) to scratch; integers, or integers cast to float,
    need none. NaN and infinities are exactly where scipy has them; finite values equal
    scipy's to rounding (the running sum rounds differently where a block starts)."""
_SECTIONS_WEIGHTS = """
    %(parameters)s
    weights : array_like
        Array of weights, with one dimension per filtered axis.
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: ``weights.shape[i] // 2 + |origin[i]|`` (one more for an even size
    in ``convolve``). Each task holds one block plus its halo and the weights.

    %(example)s"""
_docs = DocFiller(NDIMAGE)
_docs = _docs.extend(
    weights1d_sections=_docs.extend(kernel=_WEIGHTS_1D, halo=_HALO_WEIGHTS_1D).fill(_SECTIONS_1D),
    size1d_extremum_sections=_docs.extend(
        kernel=NDIMAGE["size1d"], halo=_HALO_SIZE_1D + "\n" + NAN_EXTREMA
    ).fill(_SECTIONS_1D),
    size1d_uniform_sections=_docs.extend(
        kernel=NDIMAGE["size1d"], halo=_HALO_SIZE_1D + "\n" + NAN_SUMS
    ).fill(_SECTIONS_1D),
    weights_sections=_docs.fill(_SECTIONS_WEIGHTS),
    nan_sums=NAN_SUMS,
)


def _weights1d_twin(name: str, doc: str):
    """``correlate1d`` or ``convolve1d``: scipy's signature, ``doc``."""
    twin, convolve = getattr(ndi, name), name == "convolve1d"

    def weights1d(
        input: ArrayLike,
        weights: ArrayLike,
        axis: int = -1,
        output: DTypeLike | None = None,
        mode: str = "reflect",
        cval: float = 0.0,
        origin: int = 0,
    ) -> da.Array:
        def reach(n_axes):  # the weights are only read once scipy has accepted them
            if convolve:
                return kernel_depth((len(np.asarray(weights)),), (origin,), (0,), 1, convolve=True)
            return footprint_depth(np.asarray(weights).shape, (origin,))

        kw = dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin)
        depth_of, kernel = reach_on(reach), getattr(_linear, name)
        return filter_twin(twin, input, output=output, depth_of=depth_of, kernel=kernel, **kw)

    return _docs.named(weights1d, name, doc)


correlate1d = _weights1d_twin(
    "correlate1d",
    """Blockwise twin of :func:`scipy.ndimage.correlate1d`.

    %(weights1d_sections)s
    >>> x = np.arange(10.0)
    >>> y = ndimage.correlate1d(x, [1, 2, 3], origin=1)
    >>> np.allclose(y.compute(), ndi.correlate1d(x, [1, 2, 3], origin=1))
    True
    """,
)

convolve1d = _weights1d_twin(
    "convolve1d",
    """Blockwise twin of :func:`scipy.ndimage.convolve1d`.

    %(weights1d_sections)s
    >>> x = np.arange(10.0)
    >>> np.allclose(ndimage.convolve1d(x, [1, 0, -1]).compute(), ndi.convolve1d(x, [1, 0, -1]))
    True
    """,
)


def _weights_twin(name: str, doc: str):
    """``correlate`` or ``convolve``: scipy's signature, ``doc``."""
    twin = getattr(ndi, name)

    def weights_filter(
        input: ArrayLike,
        weights: ArrayLike,
        output: DTypeLike | None = None,
        mode: str = "reflect",
        cval: float = 0.0,
        origin: int | Sequence[int] = 0,
        *,
        axes: int | Sequence[int] | None = None,
    ) -> da.Array:
        def depth_of(axs, ndim):  # the weights are only read once scipy has accepted them
            origins = normalize_sequence(origin, len(axs), "origin")
            shape = np.asarray(weights).shape
            return kernel_depth(shape, origins, axs, ndim, convolve=twin is ndi.convolve)

        kw = dict(weights=weights, mode=mode, cval=cval, origin=origin, axes=axes)
        kernel = getattr(_linear, name)
        return filter_twin(twin, input, output=output, depth_of=depth_of, kernel=kernel, **kw)

    return _docs.named(weights_filter, name, doc)


correlate = _weights_twin(
    "correlate",
    """Blockwise twin of :func:`scipy.ndimage.correlate` (multidimensional correlation).

    %(weights_sections)s
    >>> x = np.arange(64.0).reshape(4, 4, 4)
    >>> w = np.ones((3, 3, 3)) / 27
    >>> y = ndimage.correlate(x, w, mode="nearest")
    >>> np.allclose(y.compute(), ndi.correlate(x, w, mode="nearest"))
    True
    """,
)

convolve = _weights_twin(
    "convolve",
    """Blockwise twin of :func:`scipy.ndimage.convolve` (multidimensional convolution).

    %(weights_sections)s
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> w = np.array([[0, 1], [1, 0]])
    >>> np.allclose(ndimage.convolve(x, w, mode="wrap").compute(), ndi.convolve(x, w, mode="wrap"))
    True
    """,
)


#: The running 1-D algorithm behind each size-based 1-D filter (see ``filter_twin``).
_LINES = {"uniform_filter1d": "uniform", "minimum_filter1d": "min", "maximum_filter1d": "max"}


def _size1d_twin(name: str, doc: str):
    """A size-based 1-D filter (uniform, minimum, maximum): scipy's signature, ``doc``."""
    twin, lines = getattr(ndi, name), _LINES[name]
    kernel = _linear.uniform_filter1d if lines == "uniform" else None

    def size1d(
        input: ArrayLike,
        size: int,
        axis: int = -1,
        output: DTypeLike | None = None,
        mode: str = "reflect",
        cval: float = 0.0,
        origin: int = 0,
    ) -> da.Array:
        kw = dict(size=size, axis=axis, mode=mode, cval=cval, origin=origin)
        depth_of = reach_on(lambda n_axes: footprint_depth((size,), (origin,)))
        return filter_twin(
            twin, input, output=output, depth_of=depth_of, kernel=kernel, lines=lines, **kw
        )

    return _docs.named(size1d, name, doc)


uniform_filter1d = _size1d_twin(
    "uniform_filter1d",
    """Blockwise twin of :func:`scipy.ndimage.uniform_filter1d` (running mean).

    %(size1d_uniform_sections)s
    >>> x = np.arange(10.0) ** 2
    >>> np.allclose(ndimage.uniform_filter1d(x, 4).compute(), ndi.uniform_filter1d(x, 4))
    True
    """,
)

minimum_filter1d = _size1d_twin(
    "minimum_filter1d",
    """Blockwise twin of :func:`scipy.ndimage.minimum_filter1d` (running minimum).

    %(size1d_extremum_sections)s
    >>> x = np.array([2, 8, 0, 4, 1, 9, 9, 0])
    >>> np.array_equal(ndimage.minimum_filter1d(x, 3).compute(), ndi.minimum_filter1d(x, 3))
    True
    """,
)

maximum_filter1d = _size1d_twin(
    "maximum_filter1d",
    """Blockwise twin of :func:`scipy.ndimage.maximum_filter1d` (running maximum).

    %(size1d_extremum_sections)s
    >>> x = np.array([2, 8, 0, 4, 1, 9, 9, 0])
    >>> y = ndimage.maximum_filter1d(x, 3, mode="nearest")
    >>> np.array_equal(y.compute(), ndi.maximum_filter1d(x, 3, mode="nearest"))
    True
    """,
)


@_docs
def uniform_filter(
    input: ArrayLike,
    size: int | Sequence[int] = 3,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.uniform_filter` (box mean).

    Parameters
    ----------
    %(input)s
    size : int or sequence of int, optional
        Edge length of the box, one for every axis or one per filtered axis (default 3).
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``. ``mode`` may be a sequence, one per axis.
    %(nan_sums)s

    %(example)s
    >>> x = np.random.default_rng(0).random((6, 7, 8))
    >>> y = ndimage.uniform_filter(x, size=(3, 1, 5), mode=["wrap", "reflect", "nearest"])
    >>> np.allclose(y.compute(), ndi.uniform_filter(x, size=(3, 1, 5),
    ...                                             mode=["wrap", "reflect", "nearest"]))
    True
    """
    kw = dict(size=size, mode=mode, cval=cval, origin=origin, axes=axes)
    depth_of = footprint_on(size, None, origin)
    kernel, twin = _linear.uniform_filter, ndi.uniform_filter
    return filter_twin(
        twin, input, output=output, depth_of=depth_of, kernel=kernel, lines="uniform", **kw
    )


@_docs
def gaussian_filter1d(
    input: ArrayLike,
    sigma: float,
    axis: int = -1,
    order: int = 0,
    output: DTypeLike | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
    *,
    radius: int | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.gaussian_filter1d`.

    Parameters
    ----------
    %(input)s
    sigma : scalar
        Standard deviation of the Gaussian kernel.
    %(axis)s
    order : int, optional
        0 (default) smooths; 1, 2 or 3 convolve with that derivative of the Gaussian.
    %(output)s
    %(mode_reflect)s
    %(cval)s
    %(truncate)s
    radius : int, optional
        Keyword-only. Radius of the kernel; overrides ``truncate`` (default None), as
        in scipy.

    %(returns_raises)s

    Notes
    -----
    Halo: ``int(truncate * sigma + 0.5)`` (or ``radius``) voxels along ``axis``.

    %(example)s
    >>> x = np.random.default_rng(0).random(50)
    >>> y = ndimage.gaussian_filter1d(x, 3, order=1)
    >>> np.allclose(y.compute(), ndi.gaussian_filter1d(x, 3, order=1))
    True
    """
    kw = dict(
        sigma=sigma, axis=axis, order=order, mode=mode, cval=cval, truncate=truncate, radius=radius
    )
    depth_of = reach_on(lambda n_axes: gaussian_reach(sigma, truncate, radius, n_axes))
    kernel, twin = _linear.gaussian_filter1d, ndi.gaussian_filter1d
    return filter_twin(twin, input, output=output, depth_of=depth_of, kernel=kernel, **kw)


@_docs
def gaussian_filter(
    input: ArrayLike,
    sigma: float | Sequence[float],
    order: int | Sequence[int] = 0,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
    *,
    radius: int | Sequence[int] | None = None,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.gaussian_filter`.

    ``sigma``, ``order``, ``mode`` and ``radius`` may be sequences, one entry per axis.

    Parameters
    ----------
    %(input)s
    %(sigma)s
    order : int or sequence of int, optional
        0 (default) smooths; 1, 2 or 3 convolve with that derivative of the Gaussian,
        one for every axis or one per filtered axis.
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: ``int(truncate * sigma + 0.5)`` voxels, or ``radius``. One task holds
    one block plus its halo (and scipy's float64 line buffers). With 128³ float32 chunks
    and sigma 2 that is about 12 MB.

    %(example)s
    >>> import dask.array as da
    >>> x = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    >>> y = ndimage.gaussian_filter(da.from_array(x, chunks=7), sigma=2)
    >>> y.chunks[0]
    (7, 7, 6)
    >>> np.allclose(y.compute(), ndi.gaussian_filter(x, sigma=2))
    True
    """
    kw = dict(
        sigma=sigma, order=order, mode=mode, cval=cval, truncate=truncate, radius=radius, axes=axes
    )
    depth_of = reach_on(lambda n_axes: gaussian_reach(sigma, truncate, radius, n_axes))
    kernel, twin = _linear.gaussian_filter, ndi.gaussian_filter
    return filter_twin(twin, input, output=output, depth_of=depth_of, kernel=kernel, **kw)
