"""scipy.ndimage filters, blockwise with exact halos.

Every public function here has the name, parameters, order and defaults of its
``scipy.ndimage`` twin and gives the twin's result for any chunking. The pattern is
the same everywhere:

1. ``_validated_dtype`` runs the twin on a one-voxel array with all the user's
   arguments: bad arguments raise what scipy raises (``ArgumentError`` where scipy
   says ``RuntimeError``) before a graph exists, and the output dtype is scipy's.
2. The kernel's reach per axis (its halo) is derived from the same arguments.
3. :func:`bigimg._halo.apply_blockwise` runs the twin on halo-extended blocks.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes, normalize_modes, normalize_sequence, probe_array, resolve_output
from bigimg._halo import apply_blockwise, footprint_depth

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "generate_binary_structure",
    "generic_filter",
    "generic_filter1d",
    "generic_gradient_magnitude",
    "generic_laplace",
    "iterate_structure",
    "laplace",
    "prewitt",
    "sobel",
    "uniform_filter",
    "uniform_filter1d",
    "vectorized_filter",
]

generate_binary_structure = ndi.generate_binary_structure
iterate_structure = ndi.iterate_structure


# --------------------------------------------------------------------------- helpers
def _validated_dtype(
    twin: Callable, x: da.Array, output: Any, kwargs: dict, probe_shape=None
) -> np.dtype:
    """Run ``twin`` on a tiny array with the user's arguments; return the output dtype."""
    probe = probe_array(x.dtype, x.ndim) if probe_shape is None else np.zeros(probe_shape, x.dtype)
    return resolve_output(output, lambda out: twin(probe, output=out, **kwargs))


def _axis(axis: int, ndim: int) -> int:
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an integer; got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(f"`axis` must be in [{-ndim}, {ndim}) for a {ndim}-D input; got {axis}.")
    return int(axis) % ndim


def _modes_on(mode: Any, axes: Sequence[int], ndim: int) -> tuple[str, ...]:
    """Per-axis modes of the full array, given scipy's ``mode`` for the filtered ``axes``."""
    per_axis = normalize_modes(mode, len(axes)) if len(axes) else ()
    modes = ["reflect"] * ndim
    for ax, m in zip(axes, per_axis):
        modes[ax] = m
    return tuple(modes)


def _depth_on(reach: Sequence[int], axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    depth = [0] * ndim
    for ax, r in zip(axes, reach):
        depth[ax] = max(depth[ax], int(r))
    return tuple(depth)


def _run(twin: Callable, x: da.Array, depth, modes, dtype, name: str, **kwargs) -> da.Array:
    kernel = functools.partial(twin, output=dtype, **kwargs)
    return apply_blockwise(kernel, x, depth, modes, dtype=dtype, name=name)


def _footprint_geometry(size, footprint, origin, n_axes: int) -> tuple[tuple, tuple]:
    """Kernel shape and origins (for ``n_axes`` filtered axes) of size/footprint filters."""
    if footprint is not None:
        shape = np.asarray(footprint).shape
    else:
        shape = tuple(int(s) for s in normalize_sequence(size, n_axes, "size"))
    origins = tuple(int(o) for o in normalize_sequence(origin, n_axes, "origin"))
    return shape, origins


def _filter1d(twin, name, input, size, axis, output, mode, cval, origin):
    """A size-based 1-D filter (uniform, minimum, maximum) along ``axis``."""
    x = as_dask(input)
    kw = dict(size=size, axis=axis, mode=mode, cval=cval, origin=origin)
    dtype = _validated_dtype(twin, x, output, kw)
    ax = _axis(axis, x.ndim)
    reach = footprint_depth((size,), (origin,))
    return _run(
        twin, x, _depth_on(reach, (ax,), x.ndim), _modes_on(mode, (ax,), x.ndim), dtype, name, **kw
    )


def _kernel_depth(
    shape, origins, axes: Sequence[int], ndim: int, *, convolve: bool = False
) -> tuple[int, ...]:
    """Halo per axis of a kernel given on the filtered ``axes``.

    scipy is not consistent about which array axis a kernel dimension lands on when
    ``axes`` is not in increasing order: sizes and origins follow ``axes`` in the
    separable filters, while footprints keep their order (``np.expand_dims``) and
    origins may stay positional. The halo is the larger reach over every such
    reading, so it is exact for all of them (a larger halo never changes results).
    """
    axes = tuple(axes)
    placements = {axes, tuple(sorted(axes))}
    if len(axes) == ndim:
        placements.add(tuple(range(ndim)))
    depth = [0] * ndim
    for shape_axes in placements:
        for origin_axes in placements:
            where = dict(zip(origin_axes, origins))
            for ax, s in zip(shape_axes, shape):
                o = where.get(ax, 0)
                reach = footprint_depth((s,), (o,))[0]
                if convolve:
                    reach = max(reach, footprint_depth((s,), (-o - 1 + int(s) % 2,))[0])
                depth[ax] = max(depth[ax], reach)
    return tuple(depth)


def _gaussian_reach(sigma, truncate, radius, n_axes: int) -> tuple[int, ...]:
    sigmas = normalize_sequence(sigma, n_axes, "sigma")
    radii = normalize_sequence(radius, n_axes, "radius")
    reach = []
    for s, r in zip(sigmas, radii):
        if float(s) <= 1e-15:
            reach.append(0)
        elif r is not None:
            reach.append(int(r))
        else:
            reach.append(int(float(truncate) * float(s) + 0.5))
    return tuple(reach)


# ------------------------------------------------------------------ linear filters
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Blockwise twin of :func:`scipy.ndimage.correlate1d`.

    Notes
    -----
    Halo: ``len(weights) // 2 + |origin|`` voxels along ``axis`` only. One task holds a
    block plus its halo.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(10.0)
    >>> y = ndimage.correlate1d(x, [1, 2, 3], origin=1)
    >>> np.allclose(y.compute(), ndi.correlate1d(x, [1, 2, 3], origin=1))
    True
    """
    x = as_dask(input)
    kw = dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin)
    dtype = _validated_dtype(ndi.correlate1d, x, output, kw)
    ax = _axis(axis, x.ndim)
    w = np.asarray(weights)
    reach = footprint_depth(w.shape, (origin,))
    return _run(
        ndi.correlate1d,
        x,
        _depth_on(reach, (ax,), x.ndim),
        _modes_on(mode, (ax,), x.ndim),
        dtype,
        "correlate1d",
        **kw,
    )


def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Blockwise twin of :func:`scipy.ndimage.convolve1d`.

    Notes
    -----
    Halo: ``len(weights) // 2 + |origin| (+1 for even lengths)`` voxels along ``axis``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(10.0)
    >>> np.allclose(ndimage.convolve1d(x, [1, 0, -1]).compute(), ndi.convolve1d(x, [1, 0, -1]))
    True
    """
    x = as_dask(input)
    kw = dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin)
    dtype = _validated_dtype(ndi.convolve1d, x, output, kw)
    ax = _axis(axis, x.ndim)
    s = len(np.asarray(weights))
    reach = max(
        footprint_depth((s,), (origin,))[0], footprint_depth((s,), (-origin - 1 + s % 2,))[0]
    )
    return _run(
        ndi.convolve1d,
        x,
        _depth_on((reach,), (ax,), x.ndim),
        _modes_on(mode, (ax,), x.ndim),
        dtype,
        "convolve1d",
        **kw,
    )


def _nd_linear(twin, name, input, weights, output, mode, cval, origin, axes):
    x = as_dask(input)
    kw = dict(weights=weights, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = _validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    origins = normalize_sequence(origin, len(axs), "origin")
    depth = _kernel_depth(
        np.asarray(weights).shape, origins, axs, x.ndim, convolve=twin is ndi.convolve
    )
    return _run(twin, x, depth, _modes_on(mode, axs, x.ndim), dtype, name, **kw)


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """Blockwise twin of :func:`scipy.ndimage.correlate` (multidimensional correlation).

    Notes
    -----
    Halo per axis: ``weights.shape[i] // 2 + |origin[i]|``. Each task holds one block
    plus its halo and the weights.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(64.0).reshape(4, 4, 4)
    >>> w = np.ones((3, 3, 3)) / 27
    >>> y = ndimage.correlate(x, w, mode="nearest")
    >>> np.allclose(y.compute(), ndi.correlate(x, w, mode="nearest"))
    True
    """
    return _nd_linear(ndi.correlate, "correlate", input, weights, output, mode, cval, origin, axes)


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """Blockwise twin of :func:`scipy.ndimage.convolve` (multidimensional convolution).

    Notes
    -----
    Halo per axis: ``weights.shape[i] // 2 + |origin[i]|`` (+1 for even sizes).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> w = np.array([[0, 1], [1, 0]])
    >>> np.allclose(ndimage.convolve(x, w, mode="wrap").compute(), ndi.convolve(x, w, mode="wrap"))
    True
    """
    return _nd_linear(ndi.convolve, "convolve", input, weights, output, mode, cval, origin, axes)


def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Blockwise twin of :func:`scipy.ndimage.uniform_filter1d`.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.arange(10.0) ** 2
    >>> np.allclose(ndimage.uniform_filter1d(x, 4).compute(), ndi.uniform_filter1d(x, 4))
    True
    """
    return _filter1d(
        ndi.uniform_filter1d, "uniform_filter1d", input, size, axis, output, mode, cval, origin
    )


def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """Blockwise twin of :func:`scipy.ndimage.uniform_filter` (box mean).

    Notes
    -----
    Halo per axis: ``size // 2 + |origin|``. ``mode`` may be a sequence, one per axis.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((6, 7, 8))
    >>> y = ndimage.uniform_filter(x, size=(3, 1, 5), mode=["wrap", "reflect", "nearest"])
    >>> np.allclose(y.compute(), ndi.uniform_filter(x, size=(3, 1, 5),
    ...                                             mode=["wrap", "reflect", "nearest"]))
    True
    """
    x = as_dask(input)
    kw = dict(size=size, mode=mode, cval=cval, origin=origin, axes=axes)
    dtype = _validated_dtype(ndi.uniform_filter, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = _footprint_geometry(size, None, origin, len(axs))
    return _run(
        ndi.uniform_filter,
        x,
        _kernel_depth(shape, origins, axs, x.ndim),
        _modes_on(mode, axs, x.ndim),
        dtype,
        "uniform_filter",
        **kw,
    )


# ----------------------------------------------------------------- gaussian family
def gaussian_filter1d(
    input,
    sigma,
    axis=-1,
    order=0,
    output=None,
    mode="reflect",
    cval=0.0,
    truncate=4.0,
    *,
    radius=None,
):
    """Blockwise twin of :func:`scipy.ndimage.gaussian_filter1d`.

    Notes
    -----
    Halo: ``int(truncate * sigma + 0.5)`` (or ``radius``) voxels along ``axis``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random(50)
    >>> y = ndimage.gaussian_filter1d(x, 3, order=1)
    >>> np.allclose(y.compute(), ndi.gaussian_filter1d(x, 3, order=1))
    True
    """
    x = as_dask(input)
    kw = dict(
        sigma=sigma, axis=axis, order=order, mode=mode, cval=cval, truncate=truncate, radius=radius
    )
    dtype = _validated_dtype(ndi.gaussian_filter1d, x, output, kw)
    ax = _axis(axis, x.ndim)
    reach = _gaussian_reach(sigma, truncate, radius, 1)
    return _run(
        ndi.gaussian_filter1d,
        x,
        _depth_on(reach, (ax,), x.ndim),
        _modes_on(mode, (ax,), x.ndim),
        dtype,
        "gaussian_filter1d",
        **kw,
    )


def gaussian_filter(
    input,
    sigma,
    order=0,
    output=None,
    mode="reflect",
    cval=0.0,
    truncate=4.0,
    *,
    radius=None,
    axes=None,
):
    """Blockwise twin of :func:`scipy.ndimage.gaussian_filter`.

    ``sigma``, ``order``, ``mode`` and ``radius`` may be sequences, one entry per axis.

    Notes
    -----
    Halo per axis: ``int(truncate * sigma + 0.5)`` voxels, or ``radius``. One task holds
    one block plus its halo (and scipy's float64 line buffers). With 128³ float32 chunks
    and sigma 2 that is about 12 MB.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> import dask.array as da
    >>> x = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    >>> y = ndimage.gaussian_filter(da.from_array(x, chunks=7), sigma=2)
    >>> y.chunks[0]
    (7, 7, 6)
    >>> np.allclose(y.compute(), ndi.gaussian_filter(x, sigma=2))
    True
    """
    x = as_dask(input)
    kw = dict(
        sigma=sigma, order=order, mode=mode, cval=cval, truncate=truncate, radius=radius, axes=axes
    )
    dtype = _validated_dtype(ndi.gaussian_filter, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    reach = _gaussian_reach(sigma, truncate, radius, len(axs))
    return _run(
        ndi.gaussian_filter,
        x,
        _depth_on(reach, axs, x.ndim),
        _modes_on(mode, axs, x.ndim),
        dtype,
        "gaussian_filter",
        **kw,
    )


_PERIODIC_MODES = ("wrap", "grid-wrap")


def _mixes_periodic(mode: Any) -> bool:
    """True for a per-axis mode sequence that mixes periodic and non-periodic modes.

    The composite filters (gradient magnitudes and Laplacians) apply the mode of axis
    ``a`` on *every* axis while differentiating along ``a``. A mixed sequence therefore
    asks for both a periodic and a plain halo on the same axis, and such filters are
    computed as a sum of per-axis terms, each with one consistent halo.
    """
    if isinstance(mode, str):
        return False
    kinds = {m in _PERIODIC_MODES for m in mode}
    return len(kinds) > 1


def _uniform_modes(mode: Any, ndim: int) -> tuple[str, ...]:
    """Halo modes for the composite filters when ``mode`` does not mix periodic kinds.

    The derivative along axis ``a`` applies ``mode[a]`` on every axis, so the halo of
    every axis follows the (shared) kind of all the modes.
    """
    first = mode if isinstance(mode, str) else tuple(mode)[0]
    return (first,) * ndim


def _derivative_term(
    block, *, derivative, axis, output, mode, cval, extra_arguments, extra_keywords
):
    out = derivative(block, axis, output, mode, cval, *extra_arguments, **extra_keywords)
    return np.asarray(out, dtype=output)


def _sum_of_terms(
    x, derivative, axs, mode, cval, extra_arguments, extra_keywords, depth, dtype, square, name
):
    """scipy's generic gradient-magnitude/Laplace loop, one blockwise term per axis."""
    modes = normalize_modes(mode, len(axs))
    total = None
    for ax, m in zip(axs, modes):
        kernel = functools.partial(
            _derivative_term,
            derivative=derivative,
            axis=ax,
            output=dtype,
            mode=m,
            cval=cval,
            extra_arguments=tuple(extra_arguments),
            extra_keywords=dict(extra_keywords or {}),
        )
        term = apply_blockwise(kernel, x, depth, (m,) * x.ndim, dtype=dtype, name=name)
        if square:
            term = term * term
        total = term if total is None else total + term
    if square:
        total = da.sqrt(total).astype(dtype)
    return total


def _gauss_d1(input, axis, output, mode, cval, sigma, **kwargs):
    order = [0] * input.ndim
    order[axis] = 1
    return ndi.gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)


def _gauss_d2(input, axis, output, mode, cval, sigma, **kwargs):
    order = [0] * input.ndim
    order[axis] = 2
    return ndi.gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)


def _gaussian_derivative(twin, name, input, sigma, output, mode, cval, axes, kwargs):
    x = as_dask(input)
    kw = dict(sigma=sigma, mode=mode, cval=cval, axes=axes, **kwargs)
    dtype = _validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    truncate, radius = kwargs.get("truncate", 4.0), kwargs.get("radius")
    if twin is ndi.gaussian_gradient_magnitude:
        # scipy smooths every axis, also those not listed in `axes`
        reach_axes = tuple(range(x.ndim))
    else:
        reach_axes = axs
    reach = _gaussian_reach(sigma, truncate, radius, len(reach_axes))
    if _mixes_periodic(mode):
        sigmas = [0.0] * x.ndim
        for ax, sg in zip(axs, normalize_sequence(sigma, len(axs), "sigma")):
            sigmas[ax] = sg
        square = twin is ndi.gaussian_gradient_magnitude
        # scipy smooths with sigma on every axis; the per-axis depth covers that
        depth = _depth_on(reach, reach_axes, x.ndim)
        return _sum_of_terms(
            x,
            _gauss_d1 if square else _gauss_d2,
            axs,
            mode,
            cval,
            (sigmas if not square else sigma,),
            kwargs,
            tuple(depth),
            dtype,
            square,
            name,
        )
    return _run(
        twin,
        x,
        _depth_on(reach, reach_axes, x.ndim),
        _uniform_modes(mode, x.ndim),
        dtype,
        name,
        **kw,
    )


def gaussian_gradient_magnitude(
    input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs
):
    """Blockwise twin of :func:`scipy.ndimage.gaussian_gradient_magnitude`.

    ``kwargs`` (``truncate``, ``radius``) go to the Gaussian as in scipy.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((12, 12, 12))
    >>> y = ndimage.gaussian_gradient_magnitude(x, 1.5)
    >>> np.allclose(y.compute(), ndi.gaussian_gradient_magnitude(x, 1.5))
    True
    """
    return _gaussian_derivative(
        ndi.gaussian_gradient_magnitude,
        "gaussian_gradient_magnitude",
        input,
        sigma,
        output,
        mode,
        cval,
        axes,
        kwargs,
    )


def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Blockwise twin of :func:`scipy.ndimage.gaussian_laplace` (Laplacian of Gaussian).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((12, 12, 12))
    >>> np.allclose(ndimage.gaussian_laplace(x, 2).compute(), ndi.gaussian_laplace(x, 2))
    True
    """
    return _gaussian_derivative(
        ndi.gaussian_laplace, "gaussian_laplace", input, sigma, output, mode, cval, axes, kwargs
    )


# --------------------------------------------------------------- derivative filters
def _derivative3(twin, name, input, axis, output, mode, cval):
    x = as_dask(input)
    kw = dict(axis=axis, mode=mode, cval=cval)
    dtype = _validated_dtype(twin, x, output, kw)
    _axis(axis, x.ndim)
    axs = tuple(range(x.ndim))
    return _run(twin, x, (1,) * x.ndim, _modes_on(mode, axs, x.ndim), dtype, name, **kw)


def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Blockwise twin of :func:`scipy.ndimage.sobel`.

    Notes
    -----
    Halo: 1 voxel on every axis (derivative along ``axis``, smoothing on the others).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).integers(0, 255, (9, 10, 11)).astype(np.int32)
    >>> np.array_equal(ndimage.sobel(x, axis=0).compute(), ndi.sobel(x, axis=0))
    True
    """
    return _derivative3(ndi.sobel, "sobel", input, axis, output, mode, cval)


def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Blockwise twin of :func:`scipy.ndimage.prewitt`.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).integers(0, 255, (9, 10, 11)).astype(np.int32)
    >>> np.array_equal(ndimage.prewitt(x).compute(), ndi.prewitt(x))
    True
    """
    return _derivative3(ndi.prewitt, "prewitt", input, axis, output, mode, cval)


def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """Blockwise twin of :func:`scipy.ndimage.laplace` (second differences).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((9, 10, 11))
    >>> np.allclose(ndimage.laplace(x, mode="wrap").compute(), ndi.laplace(x, mode="wrap"))
    True
    """
    x = as_dask(input)
    kw = dict(mode=mode, cval=cval, axes=axes)
    dtype = _validated_dtype(ndi.laplace, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    return _run(
        ndi.laplace,
        x,
        _depth_on((1,) * len(axs), axs, x.ndim),
        _modes_on(mode, axs, x.ndim),
        dtype,
        "laplace",
        **kw,
    )


def _impulse_reach(call: Callable[[np.ndarray], np.ndarray], ndim: int) -> tuple[int, ...]:
    """Reach per axis of a linear filter, read off its response to a centred impulse."""
    half = 8
    while True:
        n = 2 * half + 1
        if n**ndim > 8_000_000:
            raise ValueError(
                "`depth` could not be measured: the derivative's impulse response reaches "
                f"beyond {half} voxels. Pass depth=<voxels per axis> explicitly."
            )
        delta = np.zeros((n,) * ndim)
        delta[(half,) * ndim] = 1.0
        support = np.nonzero(np.asarray(call(delta)))
        if not support[0].size:
            return (0,) * ndim
        reach = tuple(int(np.abs(s - half).max()) for s in support)
        if max(reach) < half:
            return reach
        half *= 2


def _generic_derivative(
    twin,
    argname,
    input,
    derivative,
    output,
    mode,
    cval,
    extra_arguments,
    extra_keywords,
    axes,
    depth,
):
    x = as_dask(input)
    kw = {
        argname: derivative,
        "mode": mode,
        "cval": cval,
        "extra_arguments": extra_arguments,
        "extra_keywords": extra_keywords,
        "axes": axes,
    }
    dtype = _validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    if depth is None:
        probe_kw = dict(kw, mode="constant", cval=0.0)
        reach = _impulse_reach(lambda delta: twin(delta, **probe_kw), x.ndim)
    else:
        reach = tuple(int(d) for d in normalize_sequence(depth, x.ndim, "depth"))
        if any(r < 0 for r in reach):
            raise ValueError(f"`depth` must be non-negative integers; got {depth!r}.")
    if _mixes_periodic(mode):
        return _sum_of_terms(
            x,
            derivative,
            axs,
            mode,
            cval,
            extra_arguments,
            extra_keywords,
            reach,
            dtype,
            argname == "derivative",
            twin.__name__,
        )
    return _run(twin, x, reach, _uniform_modes(mode, x.ndim), dtype, twin.__name__, **kw)


def generic_gradient_magnitude(
    input,
    derivative,
    output=None,
    mode="reflect",
    cval=0.0,
    extra_arguments=(),
    extra_keywords=None,
    *,
    axes=None,
    depth=None,
):
    """Blockwise twin of :func:`scipy.ndimage.generic_gradient_magnitude`.

    Parameters
    ----------
    depth : int or sequence of int, optional (bigimg only, keyword-only)
        Halo per axis. By default it is measured from the response of the whole
        filter to an impulse, which is exact for linear ``derivative`` functions (such
        as ``scipy.ndimage.sobel``). Pass it for non-linear derivative functions.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((8, 9, 10))
    >>> y = ndimage.generic_gradient_magnitude(x, ndi.sobel)
    >>> np.allclose(y.compute(), ndi.generic_gradient_magnitude(x, ndi.sobel))
    True
    """
    return _generic_derivative(
        ndi.generic_gradient_magnitude,
        "derivative",
        input,
        derivative,
        output,
        mode,
        cval,
        extra_arguments,
        extra_keywords,
        axes,
        depth,
    )


def generic_laplace(
    input,
    derivative2,
    output=None,
    mode="reflect",
    cval=0.0,
    extra_arguments=(),
    extra_keywords=None,
    *,
    axes=None,
    depth=None,
):
    """Blockwise twin of :func:`scipy.ndimage.generic_laplace`.

    Parameters
    ----------
    depth : int or sequence of int, optional (bigimg only, keyword-only)
        Halo per axis; measured from the impulse response when omitted (exact for
        linear ``derivative2`` functions). Pass it for non-linear ones.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> def d2(input, axis, output, mode, cval):
    ...     return ndi.correlate1d(input, [1, -2, 1], axis, output, mode, cval, 0)
    >>> x = np.random.default_rng(0).random((8, 9, 10))
    >>> np.allclose(ndimage.generic_laplace(x, d2).compute(), ndi.generic_laplace(x, d2))
    True
    """
    return _generic_derivative(
        ndi.generic_laplace,
        "derivative2",
        input,
        derivative2,
        output,
        mode,
        cval,
        extra_arguments,
        extra_keywords,
        axes,
        depth,
    )


# -------------------------------------------------------------------- generic filters
def generic_filter1d(
    input,
    function,
    filter_size,
    axis=-1,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    extra_arguments=(),
    extra_keywords=None,
):
    """Blockwise twin of :func:`scipy.ndimage.generic_filter1d`.

    ``function`` is pickled into the graph; on a distributed cluster it must be
    importable or picklable by cloudpickle.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> def running_sum(iline, oline):
    ...     oline[...] = iline[:-2] + iline[1:-1] + iline[2:]
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> y = ndimage.generic_filter1d(x, running_sum, 3)
    >>> np.allclose(y.compute(), ndi.generic_filter1d(x, running_sum, 3))
    True
    """
    x = as_dask(input)
    kw = dict(
        function=function,
        filter_size=filter_size,
        axis=axis,
        mode=mode,
        cval=cval,
        origin=origin,
        extra_arguments=extra_arguments,
        extra_keywords=extra_keywords,
    )
    dtype = _validated_dtype(ndi.generic_filter1d, x, output, kw)
    ax = _axis(axis, x.ndim)
    reach = footprint_depth((filter_size,), (origin,))
    return _run(
        ndi.generic_filter1d,
        x,
        _depth_on(reach, (ax,), x.ndim),
        _modes_on(mode, (ax,), x.ndim),
        dtype,
        "generic_filter1d",
        **kw,
    )


def generic_filter(
    input,
    function,
    size=None,
    footprint=None,
    output=None,
    mode="reflect",
    cval=0.0,
    origin=0,
    extra_arguments=(),
    extra_keywords=None,
    *,
    axes=None,
):
    """Blockwise twin of :func:`scipy.ndimage.generic_filter`.

    ``function`` is called as in scipy, once per voxel (slow, as in scipy; prefer
    :func:`vectorized_filter`). It is pickled into the graph.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((6, 7))
    >>> y = ndimage.generic_filter(x, np.ptp, size=3, mode="mirror")
    >>> np.allclose(y.compute(), ndi.generic_filter(x, np.ptp, size=3, mode="mirror"))
    True
    """
    x = as_dask(input)
    kw = dict(
        function=function,
        size=size,
        footprint=footprint,
        mode=mode,
        cval=cval,
        origin=origin,
        extra_arguments=extra_arguments,
        extra_keywords=extra_keywords,
        axes=axes,
    )
    dtype = _validated_dtype(ndi.generic_filter, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    shape, origins = _footprint_geometry(size, footprint, origin, len(axs))
    return _run(
        ndi.generic_filter,
        x,
        _kernel_depth(shape, origins, axs, x.ndim),
        _modes_on(mode, axs, x.ndim),
        dtype,
        "generic_filter",
        **kw,
    )


def _vectorized_block(block, *, output, **kwargs):
    return np.asarray(ndi.vectorized_filter(block, **kwargs), dtype=output)


def vectorized_filter(
    input,
    function,
    *,
    size=None,
    footprint=None,
    output=None,
    mode="reflect",
    cval=None,
    origin=None,
    axes=None,
    batch_memory=2**30,
):
    """Blockwise twin of :func:`scipy.ndimage.vectorized_filter`.

    ``function(window, axis=...)`` receives a batch of windows per block, as in scipy.
    ``mode="valid"`` returns the smaller array scipy returns (edge chunks shrink).

    Notes
    -----
    ``batch_memory`` bounds the windows' memory inside each task, as in scipy.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import ndimage
    >>> x = np.random.default_rng(0).random((7, 8, 9))
    >>> y = ndimage.vectorized_filter(x, np.std, size=3)
    >>> np.allclose(y.compute(), ndi.vectorized_filter(x, np.std, size=3))
    True
    """
    x = as_dask(input)
    axs = normalize_axes(axes, x.ndim)
    if footprint is not None:
        window = np.asarray(footprint).shape
    elif size is not None:
        window = normalize_sequence(size, len(axs), "size")
    else:
        window = (1,) * len(axs)
    window = tuple(int(w) if isinstance(w, numbers.Integral) and w > 0 else 1 for w in window)
    probe_shape = [1] * x.ndim
    if mode == "valid":
        for ax, w in zip(axs, window):
            probe_shape[ax] = w
    kw = dict(
        function=function,
        size=size,
        footprint=footprint,
        mode=mode,
        cval=cval,
        origin=origin,
        axes=axes,
        batch_memory=batch_memory,
    )
    probe = np.zeros(probe_shape, x.dtype)
    # scipy's vectorized_filter takes only an array as `output`; bigimg takes a dtype
    dtype = resolve_output(
        output,
        lambda out: (
            ndi.vectorized_filter(probe, **kw).astype(out or probe.dtype)
            if out is not None
            else ndi.vectorized_filter(probe, **kw)
        ),
    )
    shape = window
    origins = (
        (0,) * len(axs)
        if origin is None
        else tuple(int(o) for o in normalize_sequence(origin, len(axs), "origin"))
    )
    depth = _kernel_depth(shape, origins, axs, x.ndim)
    if mode != "valid":
        return _run(
            _vectorized_block,
            x,
            depth,
            _modes_on(mode, axs, x.ndim),
            dtype,
            "vectorized_filter",
            **kw,
        )
    kw.update(mode="nearest", cval=None)
    full = _run(
        _vectorized_block, x, depth, ("nearest",) * x.ndim, dtype, "vectorized_filter", **kw
    )
    index = [slice(None)] * x.ndim
    for ax, s in zip(axs, shape):
        index[ax] = slice(s // 2, x.shape[ax] - (s - 1) // 2)
    return full[tuple(index)]
