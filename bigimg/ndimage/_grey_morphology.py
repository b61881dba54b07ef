"""Grey morphology (erosion, dilation, opening, closing, tophats, gradient, Laplace).

Every function has the name, parameters, order and defaults of its ``scipy.ndimage``
twin and gives the twin's result for any chunking. The operations are minimum and
maximum filters and their compositions, so the halo is the structuring element's
reach (erosion and dilation, gradient and Laplace) or twice that (opening, closing
and the tophats, computed in one blockwise step on a doubled halo, or in two steps
when the doubled halo would exceed ``_MAX_PASS_HALO``).

Float input by a box (``size`` or an all-True footprint) whose chunking cuts a filtered
axis runs through :mod:`bigimg._nonfinite`, which gives scipy's result with NaN too
(scipy's running extrema keep a line's history); its stages use the kernels below
wherever no NaN is near.

For a flat structuring element (``size`` or ``footprint``) on the usual dtypes the
block kernel is bigimg's whole-array numpy kernel (:func:`bigimg._morphology.grey_block`),
several times faster than scipy's; otherwise (a non-flat ``structure``, NaN in a
block, 64-bit integers, an ``output`` dtype other than the input's, ``axes`` that
reorder axes, a ``cval`` the dtype cannot hold) scipy's own kernel runs on the block.
The halo is :func:`bigimg._halo.grey_depth`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes, normalize_sequence
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._errors import BigimgWarning
from bigimg._halo import apply_blockwise, grey_depth, modes_on
from bigimg._morphology import erosion_offsets, grey_block, output_dtype, tophat_finish
from bigimg._nonfinite import (
    CombineSource,
    GuardedSource,
    StageSource,
    input_source,
    needs_exact,
    scipy_passes,
)
from bigimg._sources import from_source
from bigimg.ndimage._filters import NAN_EXTREMA

__all__ = [
    "black_tophat",
    "grey_closing",
    "grey_dilation",
    "grey_erosion",
    "grey_opening",
    "morphological_gradient",
    "morphological_laplace",
    "white_tophat",
]

#: Largest halo of one blockwise step; opening-like operations whose doubled halo
#: exceeds it run as two steps.
_MAX_PASS_HALO = 16

_FAST_DTYPES = {
    np.dtype(t)
    for t in (
        bool,
        np.int8,
        np.uint8,
        np.int16,
        np.uint16,
        np.int32,
        np.uint32,
        np.float32,
        np.float64,
    )
}
_CONSTANT = ("constant", "grid-constant")

# name -> (scipy twin, first stage, second stage, finishing step)
_OPS = {
    "grey_erosion": (ndi.grey_erosion, "erosion", None, None),
    "grey_dilation": (ndi.grey_dilation, "dilation", None, None),
    "grey_opening": (ndi.grey_opening, "erosion", "dilation", None),
    "grey_closing": (ndi.grey_closing, "dilation", "erosion", None),
    "white_tophat": (ndi.white_tophat, "erosion", "dilation", "white"),
    "black_tophat": (ndi.black_tophat, "dilation", "erosion", "black"),
    "morphological_gradient": (ndi.morphological_gradient, None, None, "gradient"),
    "morphological_laplace": (ndi.morphological_laplace, None, None, "laplace"),
}


def _holds(dtype: np.dtype, value: Any) -> bool:
    """True if ``value`` is exactly representable in ``dtype``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cast = np.asarray(value).astype(dtype)
            return bool(cast.ndim == 0 and cast.astype(np.float64) == np.float64(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _fast_geometry(
    x_dtype, dtype, size, footprint, structure, mode, cval, origins, shape, axes, ndim
):
    """Geometry for the numpy kernel, or ``None`` where scipy's kernel must run."""
    if (
        structure is not None
        or x_dtype not in _FAST_DTYPES
        or dtype != x_dtype
        or axes != tuple(range(ndim))
    ):
        return None
    modes = normalize_sequence(mode, ndim, "mode")
    if any(m in _CONSTANT for m in modes) and not _holds(x_dtype, cval):
        return None
    if footprint is None or np.asarray(footprint, dtype=bool).all():
        # scipy's separable path: axes of size <= 1 are skipped (origin unused there)
        widths = tuple(max(1, int(s)) for s in shape)
        lows = tuple(0 if w == 1 else -(w // 2) - o for w, o in zip(widths, origins))
        return ("box", (lows, widths)), tuple(modes)
    if not isinstance(mode, str):
        return None
    offsets = erosion_offsets(np.asarray(footprint, dtype=bool), origins)
    return ("offsets", offsets), tuple(modes)


@dataclass(frozen=True, eq=False)
class _GreyCall:
    """One call of a grey operation: scipy's arguments, in scipy's order, and its name."""

    size: Any
    footprint: Any
    structure: Any
    output: Any
    mode: Any
    cval: Any
    origin: Any
    axes: Any
    name: str = field(kw_only=True)  # the scipy twin, a key of _OPS


def _grey(input, call: _GreyCall) -> da.Array:
    """Shared body of every grey operation: validate, find the halo, run blockwise."""
    x = as_dask(input)
    name, size, footprint, structure = call.name, call.size, call.footprint, call.structure
    mode, cval = call.mode, call.cval
    twin, first, second, finish = _OPS[name]
    if size is not None and footprint is not None:
        warnings.warn(
            "`size` is ignored because `footprint` is set (as in scipy).",
            BigimgWarning,
            stacklevel=3,
        )
        size = None
    # scipy's keyword arguments: the call's but name and output, ``size`` as used
    kw = {f.name: getattr(call, f.name) for f in fields(call) if f.name not in ("name", "output")}
    kw["size"] = size
    dtype = output_dtype(twin, x, call.output, kw)
    axs = normalize_axes(call.axes, x.ndim)
    if footprint is not None:
        shape = np.shape(footprint)
    elif structure is not None:
        shape = np.shape(structure)
    else:
        shape = tuple(int(s) for s in normalize_sequence(size, len(axs), "size"))
    origins = tuple(int(o) for o in normalize_sequence(call.origin, len(axs), "origin"))
    separable = structure is None and (footprint is None or np.asarray(footprint, bool).all())
    depth = grey_depth(shape, origins, axs, x.ndim, separable=separable)
    geometry = dict(origins=origins, shape=shape, axes=axs, ndim=x.ndim)
    fast = _fast_geometry(x.dtype, dtype, size, footprint, structure, mode, cval, **geometry)
    if fast is not None:  # cval only matters (and is only cast) where a mode is constant
        fast = (fast[0], fast[1], cval if any(m in _CONSTANT for m in fast[1]) else 0)
    modes = modes_on(mode, axs, x.ndim)
    if separable and needs_exact(x, axs, mode, cval):
        geometry = dict(shape=shape, origins=origins, axes=axs, depth=depth, modes=modes)
        exact = _exact_grey(x, name, kw, fast, dtype, **geometry)
        if exact is not None:
            return exact
    stages = tuple(s for s in (first, second) if s)
    if len(stages) == 2 and 2 * max(depth, default=0) > _MAX_PASS_HALO:
        # two steps: scipy computes the first stage into the input's dtype
        tmp = x
        for step, (stage, stage_dtype) in enumerate(((first, x.dtype), (second, dtype)), 1):
            kernel = functools.partial(
                grey_block,
                stages=(stage,),
                finish=None,
                fast=fast,
                twin=getattr(ndi, f"grey_{stage}"),
                dtype=stage_dtype,
                **kw,
            )
            tmp = apply_blockwise(
                kernel, tmp, depth, modes, dtype=stage_dtype, name=f"{name}-{step}"
            )
        if finish is None:
            return tmp
        return da.map_blocks(tophat_finish, x, tmp, finish=finish, dtype=dtype)
    factor = len(stages) or 1
    kernel = functools.partial(
        grey_block, stages=stages, finish=finish, fast=fast, twin=twin, dtype=dtype, **kw
    )
    return apply_blockwise(
        kernel, x, tuple(factor * d for d in depth), modes, dtype=dtype, name=name
    )


def _gradient(dilated: np.ndarray, eroded: np.ndarray, *, dtype) -> np.ndarray:
    """scipy's morphological gradient from its dilation and erosion (in ``dtype``)."""
    out = np.array(eroded, dtype=dtype, copy=True)
    return np.subtract(dilated, out, out=out)


def _laplace(dilated: np.ndarray, eroded: np.ndarray, x: np.ndarray, *, dtype) -> np.ndarray:
    """scipy's morphological Laplace: dilation + erosion - input - input (in ``dtype``)."""
    out = np.array(eroded, dtype=dtype, copy=True)
    np.add(dilated, out, out=out)
    np.subtract(out, x, out=out)
    return np.subtract(out, x, out=out)


def _exact_grey(x, name, kw, fast, dtype, *, shape, origins, axes, depth, modes):
    """A grey operation by a box as scipy's running extrema, exact with NaN
    (:mod:`bigimg._nonfinite`). Each stage is a source that keeps the block kernel
    where no NaN is near; a composition of two stages (or with a finishing step) runs
    today's one-step kernel where its whole region holds no NaN. None when every size
    is 1 (no running extremum, nothing to fear)."""
    _, first, second, finish = _OPS[name]
    mode, cval, root = kw["mode"], kw["cval"], input_source(x)
    if not scipy_passes("min", x.ndim, shape, origins, mode, cval, axes, dtype):
        return None
    # grey_dilation reflects the element: the origin changes sign (one less, even sizes)
    flipped = tuple(-o - (1 - int(s) % 2) for o, s in zip(origins, shape))

    def stage(parent, which, stage_dtype):
        kind, org = ("min", origins) if which == "erosion" else ("max", flipped)
        passes = scipy_passes(kind, x.ndim, shape, org, mode, cval, axes, stage_dtype)
        twin = getattr(ndi, f"grey_{which}")
        kernel = functools.partial(
            grey_block, stages=(which,), finish=None, fast=fast, twin=twin, dtype=stage_dtype, **kw
        )
        return StageSource(parent, passes, kernel)

    if first is None:  # gradient and Laplace: both from the input
        dilated, eroded = stage(root, "dilation", x.dtype), stage(root, "erosion", dtype)
        if finish == "gradient":
            out = CombineSource([dilated, eroded], functools.partial(_gradient, dtype=dtype), dtype)
        else:
            func = functools.partial(_laplace, dtype=dtype)
            out = CombineSource([dilated, eroded, root], func, dtype)
    else:
        out = stage(root, first, dtype if second is None else x.dtype)
        if second is not None:
            out = stage(out, second, dtype)
        if finish is not None:
            out = CombineSource([root, out], functools.partial(tophat_finish, finish=finish), dtype)
    stages = tuple(s for s in (first, second) if s)
    factor = len(stages) or 1
    if (second is not None or finish is not None) and factor * max(depth) <= _MAX_PASS_HALO:
        # one read and today's one-step kernel wherever the whole region holds no NaN
        twin = _OPS[name][0]
        whole = functools.partial(
            grey_block, stages=stages, finish=finish, fast=fast, twin=twin, dtype=dtype, **kw
        )
        sizes = [0] * x.ndim
        for p in scipy_passes("min", x.ndim, shape, origins, mode, cval, axes, dtype):
            sizes[p.axis] = p.size * (2 if second is not None else 1)
        periodic = [m in ("wrap", "grid-wrap") for m in modes]
        reach = [factor * d for d in depth]
        out = GuardedSource(root, out, whole, reach, sizes, periodic)
    return from_source(out, x.chunks, name)


#: Parameters, Returns, Raises, Notes and the start of Examples, the same for every
#: grey operation but for the halo: ``%(grey_sections)s`` (one reach) or
#: ``%(grey_sections_twice)s`` (two stages); each docstring ends with its own example.
_SECTIONS = """
    %(parameters)s
    %(size_foot)s
    structure : array_like, optional
        Non-flat structuring element: added (dilation) or subtracted (erosion).
    %(output)s
        The values are those scipy writes into an output array of that dtype.
    %(mode_multiple)s
    %(cval)s
    %(origin_multiple)s
    %(axes)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    TypeError
        An array as ``output``, complex input, an ``output`` dtype scipy cannot cast to.
    ValueError
        No ``size``/``footprint``/``structure``, an invalid origin or mode
        (``ArgumentError`` where scipy raises ``RuntimeError``).

    Notes
    -----
    Halo per axis: %(halo)s.
    One task holds one block plus its halo and a few block-sized temporaries. A
    ``structure``, or a footprint other than a box, takes each voxel from its window.

    %(nan_extrema)s

    %(example)s
    >>> x = np.random.default_rng(0).integers(0, 200, (8, 9, 10)).astype(np.uint8)
"""
_REACH = "``size // 2 + |origin|``"
_docs = DocFiller(
    NDIMAGE,
    grey_sections=DocFiller(NDIMAGE, halo=_REACH, nan_extrema=NAN_EXTREMA).fill(_SECTIONS),
    grey_sections_twice=DocFiller(
        NDIMAGE,
        halo=f"twice {_REACH} (both stages in one step; two steps beyond 16 voxels)",
        nan_extrema=NAN_EXTREMA,
    ).fill(_SECTIONS),
)


def _grey_twin(name: str, doc: str):
    """The public grey operation ``name`` (a key of ``_OPS``): scipy's signature, ``doc``."""

    def twin(
        input: ArrayLike,
        size: int | Sequence[int] | None = None,
        footprint: ArrayLike | None = None,
        structure: ArrayLike | None = None,
        output: DTypeLike | None = None,
        mode: str | Sequence[str] = "reflect",
        cval: float = 0.0,
        origin: int | Sequence[int] = 0,
        *,
        axes: int | Sequence[int] | None = None,
    ) -> da.Array:
        call = _GreyCall(size, footprint, structure, output, mode, cval, origin, axes, name=name)
        return _grey(input, call)

    return _docs.named(twin, name, doc)


grey_erosion = _grey_twin(
    "grey_erosion",
    """Blockwise twin of :func:`scipy.ndimage.grey_erosion` (minimum over the element).

    %(grey_sections)s
    >>> y = ndimage.grey_erosion(x, size=(3, 2, 3))
    >>> np.array_equal(y.compute(), ndi.grey_erosion(x, size=(3, 2, 3)))
    True
    """,
)


grey_dilation = _grey_twin(
    "grey_dilation",
    """Blockwise twin of :func:`scipy.ndimage.grey_dilation` (maximum over the element).

    %(grey_sections)s
    >>> fp = ndi.generate_binary_structure(3, 1)
    >>> y = ndimage.grey_dilation(x, footprint=fp)
    >>> np.array_equal(y.compute(), ndi.grey_dilation(x, footprint=fp))
    True
    """,
)


grey_opening = _grey_twin(
    "grey_opening",
    """Blockwise twin of :func:`scipy.ndimage.grey_opening` (erosion, then dilation).

    %(grey_sections_twice)s
    >>> y = ndimage.grey_opening(x, size=(3, 1, 5), mode='wrap')
    >>> np.array_equal(y.compute(), ndi.grey_opening(x, size=(3, 1, 5), mode='wrap'))
    True
    """,
)


grey_closing = _grey_twin(
    "grey_closing",
    """Blockwise twin of :func:`scipy.ndimage.grey_closing` (dilation, then erosion).

    %(grey_sections_twice)s
    >>> y = ndimage.grey_closing(x, structure=np.ones((3, 3, 3)))
    >>> np.array_equal(y.compute(), ndi.grey_closing(x, structure=np.ones((3, 3, 3))))
    True
    """,
)


white_tophat = _grey_twin(
    "white_tophat",
    """Blockwise twin of :func:`scipy.ndimage.white_tophat` (input minus its opening).

    As in scipy, integer results wrap around where the opening exceeds the input
    (possible with ``mode='constant'``); pass ``output`` to widen the dtype.

    %(grey_sections_twice)s
    >>> y = ndimage.white_tophat(x, size=3, output=np.int16)
    >>> np.array_equal(y.compute(), ndi.white_tophat(x, size=3, output=np.int16))
    True
    """,
)


black_tophat = _grey_twin(
    "black_tophat",
    """Blockwise twin of :func:`scipy.ndimage.black_tophat` (closing minus the input).

    %(grey_sections_twice)s
    >>> y = ndimage.black_tophat(x, size=3, mode='nearest')
    >>> np.array_equal(y.compute(), ndi.black_tophat(x, size=3, mode='nearest'))
    True
    """,
)


morphological_gradient = _grey_twin(
    "morphological_gradient",
    """Blockwise twin of :func:`scipy.ndimage.morphological_gradient` (dilation - erosion).

    Computed in the input's dtype, as scipy does, unless ``output`` is given: then
    the erosion is cast to ``output`` first, as scipy does with an output array.

    %(grey_sections)s
    >>> y = ndimage.morphological_gradient(x, size=3)
    >>> np.array_equal(y.compute(), ndi.morphological_gradient(x, size=3))
    True
    """,
)


morphological_laplace = _grey_twin(
    "morphological_laplace",
    """Blockwise twin of :func:`scipy.ndimage.morphological_laplace`
    (dilation + erosion - 2 x input, in the input's dtype as in scipy).

    %(grey_sections)s
    >>> y = ndimage.morphological_laplace(x, size=3, mode='constant', cval=1)
    >>> np.array_equal(y.compute(), ndi.morphological_laplace(x, size=3, mode='constant', cval=1))
    True
    """,
)
