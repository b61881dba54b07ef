"""Grey morphology (erosion, dilation, opening, closing, tophats, gradient, Laplace).

Every function has the name, parameters, order and defaults of its ``scipy.ndimage``
twin and gives the twin's result for any chunking. The operations are minimum and
maximum filters and their compositions, so the halo is the structuring element's
reach (erosion and dilation, gradient and Laplace) or twice that (opening, closing
and the tophats, computed in one blockwise step on a doubled halo, or in two steps
when the doubled halo would exceed ``_MAX_PASS_HALO``).

For a flat structuring element (``size`` or ``footprint``) on the usual dtypes the
block kernel is bigimg's whole-array numpy kernel (:mod:`._morph_kernels`), several
times faster than scipy's; otherwise (a non-flat ``structure``, NaN in a block,
64-bit integers, an ``output`` dtype other than the input's, ``axes`` that reorder
axes, a ``cval`` the dtype cannot hold) scipy's own kernel runs on the block.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._errors import BigimgWarning
from bigimg._args import as_dask, normalize_axes, normalize_sequence
from bigimg._halo import apply_blockwise, footprint_depth
from bigimg.ndimage import _morph_kernels as mk
from bigimg.ndimage._filters import _modes_on
from bigimg.ndimage._morph_args import into, output_dtype

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
    offsets = mk.erosion_offsets(np.asarray(footprint, dtype=bool), origins)
    return ("offsets", offsets), tuple(modes)


def _stage(block, stage, fast):
    geometry, modes, cval = fast
    return mk.grey_flat(
        block, geometry=geometry, dilate=stage == "dilation", modes=modes, cval=cval
    )


def _finish(finish: str, x: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """scipy's last step of the tophats (``tmp`` is the opening or closing)."""
    both_bool = x.dtype == np.bool_ and tmp.dtype == np.bool_
    if finish == "white":
        return np.bitwise_xor(x, tmp, out=tmp) if both_bool else np.subtract(x, tmp, out=tmp)
    return np.bitwise_xor(tmp, x, out=tmp) if both_bool else np.subtract(tmp, x, out=tmp)


def _grey_block(
    block: np.ndarray, *, stages: tuple, finish: str | None, fast, twin, dtype, **kwargs
) -> np.ndarray:
    """One block of a grey operation: bigimg's numpy kernel where exact, else scipy's."""
    if fast is None or not mk.fits_fast_path(block, fast[0]):
        return into(block, twin=twin, dtype=dtype, **kwargs)
    if finish == "gradient":
        return np.subtract(_stage(block, "dilation", fast), _stage(block, "erosion", fast))
    if finish == "laplace":
        out = _stage(block, "erosion", fast)
        np.add(_stage(block, "dilation", fast), out, out=out)
        np.subtract(out, block, out=out)
        return np.subtract(out, block, out=out)
    tmp = block
    for stage in stages:
        tmp = _stage(tmp, stage, fast)
    return _finish(finish, block, tmp) if finish else tmp


def _tophat_finish(x: np.ndarray, tmp: np.ndarray, *, finish: str) -> np.ndarray:
    return _finish(finish, x, tmp.copy())


def _grey(
    name: str, input, size, footprint, structure, output, mode, cval, origin, axes
) -> da.Array:
    """Shared body of every grey operation: validate, find the halo, run blockwise."""
    x = as_dask(input)
    twin, first, second, finish = _OPS[name]
    if size is not None and footprint is not None:
        warnings.warn(
            "`size` is ignored because `footprint` is set (as in scipy).",
            BigimgWarning,
            stacklevel=3,
        )
        size = None
    kw = dict(
        size=size,
        footprint=footprint,
        structure=structure,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
    )
    dtype = output_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    if footprint is not None:
        shape = np.shape(footprint)
    elif structure is not None:
        shape = np.shape(structure)
    else:
        shape = tuple(int(s) for s in normalize_sequence(size, len(axs), "size"))
    origins = tuple(int(o) for o in normalize_sequence(origin, len(axs), "origin"))
    separable = structure is None and (footprint is None or np.asarray(footprint, bool).all())
    per_axis = [
        0 if (separable and s <= 1) else footprint_depth((s,), (o,))[0]
        for s, o in zip(shape, origins)
    ]
    depth = [0] * x.ndim
    if axs == tuple(range(x.ndim)):
        depth = per_axis
    else:  # scipy maps shapes and origins to axes differently per path: take a bound
        # (+1: a dilation's reflected origin may land on an odd-sized axis)
        bound = max([max(s // 2 + abs(o) + 1 for s in shape) for o in origins] + [0])
        for ax in axs:
            depth[ax] = bound
    fast = _fast_geometry(
        x.dtype, dtype, size, footprint, structure, mode, cval, origins, shape, axs, x.ndim
    )
    if fast is not None:  # cval only matters (and is only cast) where a mode is constant
        fast = (fast[0], fast[1], cval if any(m in _CONSTANT for m in fast[1]) else 0)
    modes = _modes_on(mode, axs, x.ndim)
    stages = tuple(s for s in (first, second) if s)
    if len(stages) == 2 and 2 * max(depth, default=0) > _MAX_PASS_HALO:
        # two steps: scipy computes the first stage into the input's dtype
        one = functools.partial(
            _grey_block,
            stages=(first,),
            finish=None,
            fast=fast,
            twin=getattr(ndi, f"grey_{first}"),
            dtype=x.dtype,
            **kw,
        )
        tmp = apply_blockwise(one, x, depth, modes, dtype=x.dtype, name=f"{name}-1")
        two = functools.partial(
            _grey_block,
            stages=(second,),
            finish=None,
            fast=fast,
            twin=getattr(ndi, f"grey_{second}"),
            dtype=dtype,
            **kw,
        )
        tmp = apply_blockwise(two, tmp, depth, modes, dtype=dtype, name=f"{name}-2")
        if finish is None:
            return tmp
        return da.map_blocks(_tophat_finish, x, tmp, finish=finish, dtype=dtype)
    factor = len(stages) or 1
    kernel = functools.partial(
        _grey_block, stages=stages, finish=finish, fast=fast, twin=twin, dtype=dtype, **kw
    )
    return apply_blockwise(
        kernel, x, tuple(factor * d for d in depth), modes, dtype=dtype, name=name
    )


_PARAMS = """
    Parameters
    ----------
    input : array_like or dask array
    size : int or sequence of int, optional
        Shape of a flat, full structuring element (ignored if ``footprint`` is given).
    footprint : array_like, optional
        Flat structuring element (nonzero = part of it).
    structure : array_like, optional
        Non-flat structuring element: added (dilation) or subtracted (erosion).
    output : dtype, optional
        Result dtype, as if scipy wrote into an array of that dtype.
    mode : str or sequence of str, optional
        Boundary handling at the volume's faces (scipy's filter modes).
    cval : scalar, optional
        Value outside the volume for ``mode='constant'``.
    origin : int or sequence of int, optional
        Placement of the structuring element.
    axes : sequence of int, optional
        Axes to filter (keyword-only).

    Returns
    -------
    dask array
        Lazy, with the input's chunks.

    Raises
    ------
    TypeError
        An array as ``output``, complex input, an ``output`` dtype scipy cannot cast to.
    ValueError
        No ``size``/``footprint``/``structure``, an invalid origin or mode
        (``ArgumentError`` where scipy raises ``RuntimeError``).
"""


def _doc(summary: str, halo: str, example: str) -> str:
    return (
        f"{summary}\n{_PARAMS}\n    Notes\n    -----\n    Halo per axis: {halo}. One "
        "task holds one block plus its halo and a few block-sized temporaries.\n\n"
        f"    Examples\n    --------\n{example}"
    )


def _example(name: str, args: str) -> str:
    return (
        "    >>> import numpy as np, scipy.ndimage as ndi\n"
        "    >>> from bigimg import ndimage\n"
        "    >>> x = np.random.default_rng(0).integers(0, 200, (8, 9, 10)).astype(np.uint8)\n"
        f"    >>> y = ndimage.{name}(x, {args})\n"
        f"    >>> np.array_equal(y.compute(), ndi.{name}(x, {args}))\n"
        "    True\n"
    )


_REACH = "``size // 2 + |origin|``"


def grey_erosion(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "grey_erosion", input, size, footprint, structure, output, mode, cval, origin, axes
    )


def grey_dilation(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "grey_dilation", input, size, footprint, structure, output, mode, cval, origin, axes
    )


def grey_opening(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "grey_opening", input, size, footprint, structure, output, mode, cval, origin, axes
    )


def grey_closing(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "grey_closing", input, size, footprint, structure, output, mode, cval, origin, axes
    )


def white_tophat(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "white_tophat", input, size, footprint, structure, output, mode, cval, origin, axes
    )


def black_tophat(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "black_tophat", input, size, footprint, structure, output, mode, cval, origin, axes
    )


def morphological_gradient(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "morphological_gradient",
        input,
        size,
        footprint,
        structure,
        output,
        mode,
        cval,
        origin,
        axes,
    )


def morphological_laplace(
    input,
    size=None,
    footprint=None,
    structure=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    *,
    axes=None,
):
    return _grey(
        "morphological_laplace", input, size, footprint, structure, output, mode, cval, origin, axes
    )


_TWICE = f"twice {_REACH} (erosion then dilation in one step; two steps beyond 16 voxels)"
grey_erosion.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.grey_erosion` (minimum over the element).",
    _REACH,
    _example("grey_erosion", "size=3"),
)
grey_dilation.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.grey_dilation` (maximum over the element).",
    _REACH,
    _example("grey_dilation", "footprint=ndi.generate_binary_structure(3, 1)"),
)
grey_opening.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.grey_opening` (erosion, then dilation).",
    _TWICE,
    _example("grey_opening", "size=(3, 1, 5), mode='wrap'"),
)
grey_closing.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.grey_closing` (dilation, then erosion).",
    _TWICE,
    _example("grey_closing", "structure=np.ones((3, 3, 3))"),
)
white_tophat.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.white_tophat` (input minus its opening).\n\n"
    "    As in scipy, integer results wrap around where the opening exceeds the input\n"
    "    (possible with ``mode='constant'``); pass ``output`` to widen the dtype.",
    _TWICE,
    _example("white_tophat", "size=3"),
)
black_tophat.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.black_tophat` (closing minus the input).",
    _TWICE,
    _example("black_tophat", "size=3, mode='nearest'"),
)
morphological_gradient.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.morphological_gradient` (dilation - erosion).\n\n"
    "    Computed in the input's dtype, as scipy does, unless ``output`` is given: then\n"
    "    the erosion is cast to ``output`` first, as scipy does with an output array.",
    _REACH,
    _example("morphological_gradient", "size=3"),
)
morphological_laplace.__doc__ = _doc(
    "Blockwise twin of :func:`scipy.ndimage.morphological_laplace`\n"
    "    (dilation + erosion - 2 x input, in the input's dtype as in scipy).",
    _REACH,
    _example("morphological_laplace", "size=3, mode='constant', cval=1"),
)
