"""The linear ``scipy.ndimage`` filters on one in-memory block, bit for bit scipy's.

Each function has its scipy twin's signature and gives exactly the twin's array,
using the compiled passes (:mod:`bigimg._linear._passes`, :mod:`bigimg._linear._direct`,
:mod:`bigimg._linear._uniform` for the uniform filters)
where it covers the case and scipy's own function where it does not (complex data or
weights, float16 and other dtypes scipy's C code does not take, 0-d arrays, more than
three dimensions for ``correlate``/``convolve``, bad arguments: scipy then raises its
own error). :func:`covered` says which case is which.

The composite filters repeat scipy's Python steps with the compiled pass in place of
scipy's: ``gaussian_filter``, ``sobel`` and ``prewitt`` run their 1-D passes in scipy's
order, each storing into the output dtype as scipy's do; ``laplace``,
``gaussian_laplace`` and ``gaussian_gradient_magnitude`` hand these derivatives to
scipy's own ``generic_laplace``/``generic_gradient_magnitude``, so the sums, squares
and roots between the terms are scipy's numpy operations.

The Gaussian weights are scipy's: read off its response to an impulse (one short line,
once per sigma/order/radius), which returns every weight bit for bit as scipy's
correlation uses it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable

import numpy as np
from scipy import ndimage as ndi

from bigimg._linear._cast import MODES
from bigimg._linear._direct import correlate_direct
from bigimg._linear._passes import correlate_pass
from bigimg._linear._uniform import uniform_passes

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "covered",
    "derivative_kernel",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "laplace",
    "prewitt",
    "sobel",
    "uniform_filter",
    "uniform_filter1d",
]


def covered(input_dtype, output_dtype) -> bool:
    """Whether the compiled passes take this pair of dtypes (else scipy runs).

    Booleans, integers of up to 64 bits and float32/float64, any byte order.

    >>> covered(np.uint16, np.float32), covered(np.float16, np.float32)
    (True, False)
    >>> covered(np.complex64, np.complex64)
    False
    """
    for dt in (np.dtype(input_dtype), np.dtype(output_dtype)):
        if dt.kind not in "biuf" or (dt.kind == "f" and dt.itemsize not in (4, 8)):
            return False
    return True


def _output(output, input):
    """scipy's output array (``_get_output``): a new array of the dtype, or ``output``.

    New arrays are left uninitialised: every voxel is written.
    """
    if output is None:
        return np.empty(input.shape, dtype=input.dtype.name)
    if isinstance(output, np.ndarray):
        return output
    return np.empty(input.shape, dtype=np.dtype(output))


def _native(a: np.ndarray) -> np.ndarray:
    """``a`` C-ordered in native byte order (the same values); booleans as their bytes,
    which scipy reads as ``unsigned char`` (a bool output may hold 2 or 255)."""
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    a = np.ascontiguousarray(a)
    return a.view(np.uint8) if a.dtype == np.bool_ else a


def _run(input, output, passes, cval):
    """Run ``passes`` ((axis, weights, mode, origin), ...) one after another, each
    stored into the output dtype as scipy's are; return scipy's output array."""
    out = _output(output, input)
    src = _native(input)
    direct = out.flags.c_contiguous and out.dtype.isnative and not np.may_share_memory(out, src)
    final = out if direct else np.empty(out.shape, out.dtype.newbyteorder("="))
    view = final.view(np.uint8) if final.dtype == np.bool_ else final
    for axis, weights, mode, origin in passes:  # the second pass on runs in place
        correlate_pass(src, view, axis, weights, mode, cval, origin)
        src = view
    if not direct:
        out[...] = final
    return out


def _simple(input, output) -> bool:
    """A real, non-0-d array and an output the compiled passes can write."""
    if input.ndim == 0 or not covered(input.dtype, input.dtype):
        return False
    if output is None:
        return True
    try:
        out_dtype = output.dtype if isinstance(output, np.ndarray) else np.dtype(output)
    except TypeError:
        return False
    if isinstance(output, str) and not issubclass(out_dtype.type, np.number):
        return False  # scipy refuses a dtype named by a string unless numeric
    if isinstance(output, np.ndarray) and output.shape != input.shape:
        return False
    return covered(input.dtype, out_dtype)


def _mode(mode, n):
    """scipy's modes for ``n`` axes, or None where scipy would refuse them."""
    if isinstance(mode, str):
        modes = [mode] * n
    elif isinstance(mode, Iterable):
        modes = list(mode)
        if len(modes) != n:
            return None
    else:
        return None
    return modes if all(isinstance(m, str) and m in MODES for m in modes) else None


def _real_cval(cval) -> bool:
    return np.isrealobj(cval) and np.ndim(cval) == 0


def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """:func:`scipy.ndimage.correlate1d` on one block (see the module docstring)."""
    input = np.asarray(input)
    w = np.asarray(weights)
    fits = _simple(input, output) and w.ndim == 1 and len(w) > 0 and w.dtype.kind in "biuf"
    fits = fits and isinstance(mode, str) and mode in MODES and _real_cval(cval)
    if fits:
        try:
            axis = operator.index(axis)
            origin = operator.index(origin)
        except TypeError:
            fits = False
    if fits:
        fits = -input.ndim <= axis < input.ndim and -(len(w) // 2) <= origin <= (len(w) - 1) // 2
    if not fits:
        return ndi.correlate1d(input, weights, axis, output, mode, cval, origin)
    w = w.astype(np.float64)
    return _run(input, output, [(axis % input.ndim, w, mode, origin)], cval)


def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """:func:`scipy.ndimage.convolve1d` on one block: ``correlate1d`` of the reversed
    weights with the origin mirrored (one further for an even length), as scipy."""
    w = np.asarray(weights)
    if w.ndim != 1 or w.dtype.kind not in "biuf":
        return ndi.convolve1d(input, weights, axis, output, mode, cval, origin)
    origin = -operator.index(origin) - (0 if len(w) & 1 else 1)
    return correlate1d(input, w[::-1], axis, output, mode, cval, origin)


@functools.lru_cache(maxsize=256)
def _gaussian_weights(sigma: float, order: int, truncate: float, radius) -> np.ndarray:
    """scipy's correlation weights of ``gaussian_filter1d``, from its impulse response."""
    lw = int(truncate * sigma + 0.5) if radius is None else int(radius)
    delta = np.zeros(2 * lw + 1)
    delta[lw] = 1.0
    response = ndi.gaussian_filter1d(
        delta, sigma, 0, order, None, "constant", 0.0, truncate, radius=radius
    )
    weights = response[::-1].copy()
    weights.flags.writeable = False
    return weights


def _gaussian_pass(sigma, order, truncate, radius):
    """The weights of one Gaussian pass, or None where scipy would refuse the values."""
    try:
        sd, order = float(sigma), operator.index(order)
        if radius is not None:
            radius = operator.index(radius)
            if radius < 0:
                return None
        elif int(truncate * sd + 0.5) < 0:
            return None
        if order < 0:
            return None
        return _gaussian_weights(sd, order, float(truncate), radius)
    except (TypeError, ValueError, OverflowError):
        return None


def gaussian_filter1d(
    input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
    radius=None,
):  # fmt: skip
    """:func:`scipy.ndimage.gaussian_filter1d` on one block."""
    weights = _gaussian_pass(sigma, order, truncate, radius)
    if weights is None:
        return ndi.gaussian_filter1d(
            input, sigma, axis, order, output, mode, cval, truncate, radius=radius
        )
    return correlate1d(input, weights, axis, output, mode, cval, 0)


def _axes(axes, ndim):
    """scipy's ``_check_axes``: the filtered axes, or None where scipy would refuse."""
    if axes is None:
        return tuple(range(ndim))
    try:
        axs = (operator.index(axes),) if np.isscalar(axes) else tuple(map(operator.index, axes))
    except TypeError:
        return None
    if any(not -ndim <= a < ndim for a in axs):
        return None
    axs = tuple(a % ndim for a in axs)
    return axs if len(set(axs)) == len(axs) else None


def _per_axis(value, n):
    """scipy's ``_normalize_sequence``: ``value`` for each of ``n`` axes, or None."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value] * n
    values = list(value)
    return values if len(values) == n else None


def gaussian_filter(
    input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
    radius=None, axes=None,
):  # fmt: skip
    """:func:`scipy.ndimage.gaussian_filter` on one block: scipy's passes, in its order."""
    input = np.asarray(input)
    passes = None
    axs = _axes(axes, input.ndim) if _simple(input, output) and _real_cval(cval) else None
    if axs is not None:
        n = len(axs)
        sigmas, orders = _per_axis(sigma, n), _per_axis(order, n)
        radii, modes = _per_axis(radius, n), _mode(mode, n)
        if None not in (sigmas, orders, radii, modes):
            passes = []
            for ax, sd, od, md, rd in zip(axs, sigmas, orders, modes, radii):
                if not sd > 1e-15:
                    continue
                weights = _gaussian_pass(sd, od, truncate, rd)
                if weights is None:
                    passes = None
                    break
                passes.append((ax, weights, md, 0))
    if not passes:  # nothing to filter (scipy copies) or not covered: scipy
        return ndi.gaussian_filter(
            input, sigma, order, output, mode, cval, truncate, radius=radius, axes=axes
        )
    return _run(input, output, passes, cval)


_DIFF = np.array([-1.0, 0.0, 1.0])


def _derivative3(twin, smooth, input, axis, output, mode, cval):
    """sobel/prewitt: the difference along ``axis``, then ``smooth`` along each other axis."""
    input = np.asarray(input)
    modes = _mode(mode, input.ndim) if _simple(input, output) and _real_cval(cval) else None
    try:
        axis = operator.index(axis)
    except TypeError:
        modes = None
    if modes is None or not -input.ndim <= axis < input.ndim:
        return twin(input, axis, output, mode, cval)
    axis %= input.ndim
    passes = [(axis, _DIFF, modes[axis], 0)]
    passes += [(ax, smooth, modes[ax], 0) for ax in range(input.ndim) if ax != axis]
    return _run(input, output, passes, cval)


def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """:func:`scipy.ndimage.sobel` on one block."""
    return _derivative3(ndi.sobel, np.array([1.0, 2.0, 1.0]), input, axis, output, mode, cval)


def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """:func:`scipy.ndimage.prewitt` on one block."""
    return _derivative3(ndi.prewitt, np.array([1.0, 1.0, 1.0]), input, axis, output, mode, cval)


def derivative_kernel(func):
    """The compiled kernel standing for a derivative function scipy's
    ``generic_gradient_magnitude``/``generic_laplace`` may be given (``sobel``,
    ``prewitt``), or ``func`` itself.

    >>> derivative_kernel(ndi.sobel) is sobel, derivative_kernel(np.gradient) is np.gradient
    (True, True)
    """
    return sobel if func is ndi.sobel else prewitt if func is ndi.prewitt else func


def _second_difference(input, axis, output, mode, cval):
    return correlate1d(input, [1.0, -2.0, 1.0], axis, output, mode, cval, 0)


def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """:func:`scipy.ndimage.laplace` on one block: scipy's ``generic_laplace`` over the
    compiled second differences."""
    return ndi.generic_laplace(input, _second_difference, output, mode, cval, axes=axes)


def _gaussian_order(order):
    def derivative(input, axis, output, mode, cval, sigma, **kwargs):
        orders = [0] * np.ndim(input)
        orders[axis] = order
        return gaussian_filter(input, sigma, orders, output, mode, cval, **kwargs)

    return derivative


def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """:func:`scipy.ndimage.gaussian_laplace` on one block."""
    input = np.asarray(input)
    axs = _axes(axes, input.ndim)
    sigmas = None if axs is None else _per_axis(sigma, len(axs))
    if sigmas is None:
        return ndi.gaussian_laplace(input, sigma, output, mode, cval, axes=axes, **kwargs)
    if len(axs) < input.ndim:  # scipy leaves the other axes unsmoothed (sigma 0)
        full = [0] * input.ndim
        for ax, sd in zip(axs, sigmas):
            full[ax] = sd
        sigmas = full
    return ndi.generic_laplace(
        input, _gaussian_order(2), output, mode, cval, (sigmas,), kwargs, axes=axes
    )


def gaussian_gradient_magnitude(
    input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs
):
    """:func:`scipy.ndimage.gaussian_gradient_magnitude` on one block."""
    return ndi.generic_gradient_magnitude(
        input, _gaussian_order(1), output, mode, cval, (sigma,), kwargs, axes=axes
    )


def _weights_nd(input, weights, origin, axes, convolution):
    """scipy's expanded weights and origins for ``correlate``, or None if not covered."""
    w = np.asarray(weights)
    if not 1 <= input.ndim <= 3 or w.dtype.kind not in "biuf":
        return None
    axs = _axes(axes, input.ndim)
    if axs is None or w.ndim != len(axs) or 0 in w.shape:
        return None
    origins = _per_axis(origin, len(axs))
    if origins is None:
        return None
    try:
        origins = [operator.index(o) for o in origins]
    except TypeError:
        return None
    w = w.astype(np.float64)
    if len(axs) < input.ndim:
        w = np.expand_dims(w, tuple(a for a in range(input.ndim) if a not in axs))
        full = [0] * input.ndim
        for ax, o in zip(axs, origins):
            full[ax] = o
        origins = full
    if convolution:
        w = w[(slice(None, None, -1),) * w.ndim]
        origins = [-o - (0 if size & 1 else 1) for o, size in zip(origins, w.shape)]
    if any(not -(n // 2) <= o <= (n - 1) // 2 for o, n in zip(origins, w.shape)):
        return None
    return np.ascontiguousarray(w), origins


def _correlate_nd(twin, convolution, input, weights, output, mode, cval, origin, axes):
    input = np.asarray(input)
    spec = None
    if _simple(input, output) and isinstance(mode, str) and mode in MODES and _real_cval(cval):
        spec = _weights_nd(input, weights, origin, axes, convolution)
    if spec is None:
        return twin(input, weights, output, mode, cval, origin, axes=axes)
    w, origins = spec
    out = _output(output, input)
    final = out
    if not (out.flags.c_contiguous and out.dtype.isnative) or np.may_share_memory(out, input):
        final = np.empty(out.shape, out.dtype.newbyteorder("="))
    view = final.view(np.uint8) if final.dtype == np.bool_ else final
    correlate_direct(_native(input), view, w, origins, mode, cval)
    if final is not out:
        out[...] = final
    return out


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """:func:`scipy.ndimage.correlate` on one block (up to three dimensions)."""
    return _correlate_nd(ndi.correlate, False, input, weights, output, mode, cval, origin, axes)


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """:func:`scipy.ndimage.convolve` on one block (up to three dimensions)."""
    return _correlate_nd(ndi.convolve, True, input, weights, output, mode, cval, origin, axes)


def _uniform_pass(size, axis, mode, origin, ndim):
    """One uniform pass ``(axis, size, mode, origin)`` as scipy's C code runs it, or
    None where scipy would refuse the values."""
    try:
        size, axis, origin = operator.index(size), operator.index(axis), operator.index(origin)
    except TypeError:
        return None
    if size < 1 or not -ndim <= axis < ndim or not 0 <= size // 2 + origin < size:
        return None
    if not (isinstance(mode, str) and mode in MODES):
        return None
    return axis % ndim, size, mode, origin


def _uniform_fits(input, output, cval) -> bool:
    """A non-empty array, an output and a ``cval`` the uniform passes take."""
    if not (input.size and _simple(input, output) and _real_cval(cval)):
        return False
    try:
        float(cval)
    except (TypeError, ValueError):
        return False
    return True


def _run_uniform(input, output, passes, cval):
    """scipy's output array after the uniform ``passes``, each stored into its dtype."""
    out = _output(output, input)
    src = _native(input)
    direct = out.flags.c_contiguous and out.dtype.isnative and not np.may_share_memory(out, src)
    final = out if direct else np.empty(out.shape, out.dtype.newbyteorder("="))
    view = final.view(np.uint8) if final.dtype == np.bool_ else final
    uniform_passes(src, view, passes, float(cval))
    if not direct:
        out[...] = final
    return out


def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """:func:`scipy.ndimage.uniform_filter1d` on one block."""
    input = np.asarray(input)
    spec = None
    if _uniform_fits(input, output, cval):
        spec = _uniform_pass(size, axis, mode, origin, input.ndim)
    if spec is None:
        return ndi.uniform_filter1d(input, size, axis, output, mode, cval, origin)
    return _run_uniform(input, output, [spec], cval)


def _uniform_passes(axs, size, mode, origin, ndim):
    """scipy's uniform passes along ``axs`` (axes of size 1 skipped, sizes cut to
    ``int``), or None where scipy would refuse the values."""
    n = len(axs)
    try:
        sizes, origins, modes = _per_axis(size, n), _per_axis(origin, n), _per_axis(mode, n)
    except TypeError:
        return None
    if None in (sizes, origins, modes):
        return None
    passes = []
    for ax, sz, org, md in zip(axs, sizes, origins, modes):
        try:
            if not sz > 1:
                continue
            sz = int(sz)
        except (TypeError, ValueError, OverflowError):
            return None
        spec = _uniform_pass(sz, ax, md, org, ndim)
        if spec is None:
            return None
        passes.append(spec)
    return passes


def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """:func:`scipy.ndimage.uniform_filter` on one block: scipy's passes, in its order."""
    input = np.asarray(input)
    passes = None
    axs = _axes(axes, input.ndim) if _uniform_fits(input, output, cval) else None
    if axs is not None:
        passes = _uniform_passes(axs, size, mode, origin, input.ndim)
    if not passes:  # nothing to filter (scipy copies) or not covered: scipy
        return ndi.uniform_filter(input, size, output, mode, cval, origin, axes=axes)
    return _run_uniform(input, output, passes, cval)
