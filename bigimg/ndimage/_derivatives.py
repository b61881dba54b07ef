"""Derivative filters, blockwise with exact halos: gradients and Laplacians.

The Gaussian gradient magnitude and Laplacian, the fixed 3-tap derivatives (sobel,
prewitt, laplace) and the generic gradient magnitude and Laplacian built from a
user's derivative function. Each has the name, parameters, order and defaults of its
``scipy.ndimage`` twin and follows the pattern of :mod:`bigimg.ndimage._filters`.

scipy's composite filters apply the mode of axis ``a`` on *every* axis while
differentiating along ``a``. When a per-axis ``mode`` mixes periodic and non-periodic
modes (:func:`bigimg._halo.mixes_periodic`) no single halo fits, and the filter is
computed as scipy's own loop: one blockwise term per axis, each with one consistent
halo (:class:`_AxisTerms`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg import _linear
from bigimg._args import (
    as_dask,
    normalize_axes,
    normalize_axis,
    normalize_modes,
    normalize_sequence,
    validated_dtype,
)
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._halo import (
    apply_blockwise,
    depth_on,
    gaussian_reach,
    impulse_reach,
    mixes_periodic,
    modes_on,
    run_twin,
    uniform_modes,
)
from bigimg.ndimage._filters import filter_twin, reach_on

__all__ = [
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "generic_gradient_magnitude",
    "generic_laplace",
    "laplace",
    "prewitt",
    "sobel",
]

#: generic_gradient_magnitude and generic_laplace: the parameters after their own.
_GENERIC = """
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(extra)s
    %(axes)s"""
#: The Gaussian derivatives' Parameters, Returns and Raises.
_GAUSSIAN = """
    %(parameters)s
    %(sigma)s
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(axes)s
    **kwargs
        ``truncate`` and ``radius``, passed to the Gaussian as in scipy.

    %(returns_raises)s"""
#: sobel and prewitt: every section but the summary and the example's own lines.
_DERIVATIVE3 = """
    %(parameters)s
    axis : int, optional
        The axis to differentiate along (default -1); the others are smoothed.
    %(output)s
    %(mode_multiple)s
    %(cval)s

    %(returns_raises)s

    Notes
    -----
    Halo: 1 voxel on every axis (derivative along ``axis``, smoothing on the others).

    %(example)s
    >>> x = np.random.default_rng(0).integers(0, 255, (9, 10, 11)).astype(np.int32)"""
_docs = DocFiller(NDIMAGE)
_docs = _docs.extend(
    gaussian_sections=_docs.fill(_GAUSSIAN),
    derivative3_sections=_docs.fill(_DERIVATIVE3),
    generic_sections=_docs.fill(_GENERIC),
)


def _derivative_term(
    block, *, derivative, axis, output, mode, cval, extra_arguments, extra_keywords
):
    out = derivative(block, axis, output, mode, cval, *extra_arguments, **extra_keywords)
    return np.asarray(out, dtype=output)


@dataclass(frozen=True)
class _AxisTerms:
    """scipy's generic gradient-magnitude/Laplace loop, one blockwise term per axis.

    ``derivative(block, axis, output, mode, cval, *extra_arguments, **extra_keywords)``
    runs along each of ``axes`` with that axis's mode (and its halo kind) on every
    axis, with a halo of ``depth``. The terms are summed (Laplacians) or, when
    ``magnitude`` is true, squared, summed and square-rooted (gradient magnitudes).
    """

    derivative: Callable
    axes: tuple[int, ...]
    mode: Any
    cval: Any
    extra_arguments: tuple
    extra_keywords: dict | None
    depth: tuple[int, ...]
    dtype: np.dtype
    magnitude: bool
    name: str

    def apply(self, x: da.Array) -> da.Array:
        modes = normalize_modes(self.mode, len(self.axes))
        total = None
        for ax, m in zip(self.axes, modes):
            kernel = functools.partial(
                _derivative_term,
                derivative=self.derivative,
                axis=ax,
                output=self.dtype,
                mode=m,
                cval=self.cval,
                extra_arguments=tuple(self.extra_arguments),
                extra_keywords=dict(self.extra_keywords or {}),
            )
            term = apply_blockwise(
                kernel, x, self.depth, (m,) * x.ndim, dtype=self.dtype, name=self.name
            )
            if self.magnitude:
                term = term * term
            total = term if total is None else total + term
        if self.magnitude:
            total = da.sqrt(total).astype(self.dtype)
        return total


# ----------------------------------------------------------------- gaussian family
def _gauss_d1(input, axis, output, mode, cval, sigma, **kwargs):
    order = [0] * input.ndim
    order[axis] = 1
    return _linear.gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)


def _gauss_d2(input, axis, output, mode, cval, sigma, **kwargs):
    order = [0] * input.ndim
    order[axis] = 2
    return _linear.gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)


def _gaussian_derivative(twin, input, *, name, sigma, output, mode, cval, axes, kwargs):
    """gaussian_gradient_magnitude/gaussian_laplace: the Gaussian's radius is the halo."""
    x = as_dask(input)
    kw = dict(sigma=sigma, mode=mode, cval=cval, axes=axes, **kwargs)
    dtype = validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    truncate, radius = kwargs.get("truncate", 4.0), kwargs.get("radius")
    # by name: `twin` is the scipy function this module imported, which need not be
    # the one `ndi` holds now (scipy.ndimage patched, as by tests/conformance)
    magnitude = name == "gaussian_gradient_magnitude"
    if magnitude:
        # scipy smooths every axis, also those not listed in `axes`
        reach_axes = tuple(range(x.ndim))
    else:
        reach_axes = axs
    reach = gaussian_reach(sigma, truncate, radius, len(reach_axes))
    # scipy smooths with sigma on every axis; the per-axis depth covers that
    depth = depth_on(reach, reach_axes, x.ndim)
    if mixes_periodic(mode):
        sigmas = [0.0] * x.ndim
        for ax, sg in zip(axs, normalize_sequence(sigma, len(axs), "sigma")):
            sigmas[ax] = sg
        terms = _AxisTerms(
            derivative=_gauss_d1 if magnitude else _gauss_d2,
            axes=axs,
            mode=mode,
            cval=cval,
            extra_arguments=(sigma if magnitude else sigmas,),
            extra_keywords=kwargs,
            depth=depth,
            dtype=dtype,
            magnitude=magnitude,
            name=name,
        )
        return terms.apply(x)
    kernel, modes = getattr(_linear, name), uniform_modes(mode, x.ndim)
    return run_twin(kernel, x, depth, modes, dtype=dtype, name=name, **kw)


def _gaussian_twin(name: str, doc: str):
    """``gaussian_gradient_magnitude`` or ``gaussian_laplace``: scipy's signature, ``doc``."""
    twin = getattr(ndi, name)

    def gaussian_derivative(
        input: ArrayLike,
        sigma: float | Sequence[float],
        output: DTypeLike | None = None,
        mode: str | Sequence[str] = "reflect",
        cval: float = 0.0,
        *,
        axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> da.Array:
        return _gaussian_derivative(
            twin,
            input,
            name=name,
            sigma=sigma,
            output=output,
            mode=mode,
            cval=cval,
            axes=axes,
            kwargs=kwargs,
        )

    return _docs.named(gaussian_derivative, name, doc)


gaussian_gradient_magnitude = _gaussian_twin(
    "gaussian_gradient_magnitude",
    """Blockwise twin of :func:`scipy.ndimage.gaussian_gradient_magnitude`.

    %(gaussian_sections)s

    Notes
    -----
    Halo: the Gaussian's, ``int(truncate * sigma + 0.5)`` voxels (or ``radius``), on
    every axis (scipy smooths along all of them).

    %(example)s
    >>> x = np.random.default_rng(0).random((12, 12, 12))
    >>> y = ndimage.gaussian_gradient_magnitude(x, 1.5)
    >>> np.allclose(y.compute(), ndi.gaussian_gradient_magnitude(x, 1.5))
    True
    """,
)

gaussian_laplace = _gaussian_twin(
    "gaussian_laplace",
    """Blockwise twin of :func:`scipy.ndimage.gaussian_laplace` (Laplacian of Gaussian).

    %(gaussian_sections)s

    %(example)s
    >>> x = np.random.default_rng(0).random((12, 12, 12))
    >>> np.allclose(ndimage.gaussian_laplace(x, 2).compute(), ndi.gaussian_laplace(x, 2))
    True
    """,
)


# --------------------------------------------------------------- derivative filters
def _derivative3(twin, input, *, name, axis, output, mode, cval):
    """sobel/prewitt: a 3-tap derivative along ``axis``, 3-tap smoothing on the others."""
    x = as_dask(input)
    kw = dict(axis=axis, mode=mode, cval=cval)
    dtype = validated_dtype(twin, x, output, kw)
    normalize_axis(axis, x.ndim)
    axs = tuple(range(x.ndim))
    modes = modes_on(mode, axs, x.ndim)
    kernel = getattr(_linear, name)
    return run_twin(kernel, x, (1,) * x.ndim, modes, dtype=dtype, name=name, **kw)


def _derivative3_twin(name: str, doc: str):
    """``sobel`` or ``prewitt``: scipy's signature, ``doc``."""
    twin = getattr(ndi, name)

    def derivative3(
        input: ArrayLike,
        axis: int = -1,
        output: DTypeLike | None = None,
        mode: str | Sequence[str] = "reflect",
        cval: float = 0.0,
    ) -> da.Array:
        return _derivative3(twin, input, name=name, axis=axis, output=output, mode=mode, cval=cval)

    return _docs.named(derivative3, name, doc)


sobel = _derivative3_twin(
    "sobel",
    """Blockwise twin of :func:`scipy.ndimage.sobel`.

    %(derivative3_sections)s
    >>> np.array_equal(ndimage.sobel(x, axis=0).compute(), ndi.sobel(x, axis=0))
    True
    """,
)

prewitt = _derivative3_twin(
    "prewitt",
    """Blockwise twin of :func:`scipy.ndimage.prewitt`.

    %(derivative3_sections)s
    >>> np.array_equal(ndimage.prewitt(x).compute(), ndi.prewitt(x))
    True
    """,
)


@_docs
def laplace(
    input: ArrayLike,
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.laplace` (second differences).

    The sum over the axes of the second differences ``[1, -2, 1]`` along each.

    Parameters
    ----------
    %(input)s
    %(output)s
    %(mode_multiple)s
    %(cval)s
    %(axes)s

    %(returns_raises)s

    %(example)s
    >>> x = np.random.default_rng(0).random((9, 10, 11))
    >>> np.allclose(ndimage.laplace(x, mode="wrap").compute(), ndi.laplace(x, mode="wrap"))
    True
    """
    depth_of = reach_on(lambda n_axes: (1,) * n_axes)
    kw = dict(mode=mode, cval=cval, axes=axes)
    kernel = _linear.laplace
    return filter_twin(ndi.laplace, input, output=output, depth_of=depth_of, kernel=kernel, **kw)


# ------------------------------------------------------- generic derivative filters
def _generic_derivative(twin, input, derivative, *, magnitude, output, depth, axes, **kw):
    """generic_gradient_magnitude (``magnitude``) or generic_laplace: the halo is
    ``depth`` or measured.

    ``kw`` are scipy's ``mode``, ``cval``, ``extra_arguments`` and ``extra_keywords``.
    """
    x = as_dask(input)
    name = "generic_gradient_magnitude" if magnitude else "generic_laplace"
    argname = "derivative" if magnitude else "derivative2"  # scipy's name of the function
    mode, cval = kw["mode"], kw["cval"]
    extra_arguments, extra_keywords = kw["extra_arguments"], kw["extra_keywords"]
    kw = {argname: derivative, **kw, "axes": axes}
    dtype = validated_dtype(twin, x, output, kw)
    axs = normalize_axes(axes, x.ndim)
    if depth is None:
        probe_kw = dict(kw, mode="constant", cval=0.0)
        reach = impulse_reach(lambda delta: twin(delta, **probe_kw), x.ndim)
    else:
        reach = tuple(int(d) for d in normalize_sequence(depth, x.ndim, "depth"))
        if any(r < 0 for r in reach):
            raise ValueError(f"`depth` must be non-negative integers; got {depth!r}.")
    derivative = _linear.derivative_kernel(derivative)  # sobel, prewitt: compiled
    kw[argname] = derivative
    if mixes_periodic(mode):
        terms = _AxisTerms(
            derivative=derivative,
            axes=axs,
            mode=mode,
            cval=cval,
            extra_arguments=extra_arguments,
            extra_keywords=extra_keywords,
            depth=reach,
            dtype=dtype,
            magnitude=magnitude,
            name=name,
        )
        return terms.apply(x)
    modes = uniform_modes(mode, x.ndim)
    return run_twin(twin, x, reach, modes, dtype=dtype, name=name, **kw)


@_docs
def generic_gradient_magnitude(
    input: ArrayLike,
    derivative: Callable[..., Any],
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    extra_arguments: Sequence[Any] = (),
    extra_keywords: Mapping[str, Any] | None = None,
    *,
    axes: int | Sequence[int] | None = None,
    depth: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.generic_gradient_magnitude`.

    The root of the sum over the axes of the squared first derivatives that
    ``derivative`` computes along each.

    Parameters
    ----------
    %(input)s
    derivative : callable
        ``derivative(input, axis, output, mode, cval, *extra_arguments,
        **extra_keywords)``: the first derivative along ``axis``, as in scipy (e.g.
        :func:`scipy.ndimage.sobel`). It runs on halo-extended numpy blocks and is
        pickled into the graph.
    %(generic_sections)s
    depth : int or sequence of int, optional (bigimg only, keyword-only)
        Halo per axis. By default it is measured from the response of the whole
        filter to an impulse, which is exact for linear ``derivative`` functions (such
        as ``scipy.ndimage.sobel``). Pass it for non-linear derivative functions.

    %(returns_raises)s

    %(example)s
    >>> x = np.random.default_rng(0).random((8, 9, 10))
    >>> y = ndimage.generic_gradient_magnitude(x, ndi.sobel)
    >>> np.allclose(y.compute(), ndi.generic_gradient_magnitude(x, ndi.sobel))
    True
    """
    twin = ndi.generic_gradient_magnitude
    kw = dict(mode=mode, cval=cval, extra_arguments=extra_arguments, extra_keywords=extra_keywords)
    return _generic_derivative(
        twin, input, derivative, magnitude=True, output=output, depth=depth, axes=axes, **kw
    )


@_docs
def generic_laplace(
    input: ArrayLike,
    derivative2: Callable[..., Any],
    output: DTypeLike | None = None,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    extra_arguments: Sequence[Any] = (),
    extra_keywords: Mapping[str, Any] | None = None,
    *,
    axes: int | Sequence[int] | None = None,
    depth: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.generic_laplace`.

    The sum over the axes of the second derivatives that ``derivative2`` computes
    along each.

    Parameters
    ----------
    %(input)s
    derivative2 : callable
        ``derivative2(input, axis, output, mode, cval, *extra_arguments,
        **extra_keywords)``: the second derivative along ``axis``, as in scipy. It runs
        on halo-extended numpy blocks and is pickled into the graph.
    %(generic_sections)s
    depth : int or sequence of int, optional (bigimg only, keyword-only)
        Halo per axis; measured from the impulse response when omitted (exact for
        linear ``derivative2`` functions). Pass it for non-linear ones.

    %(returns_raises)s

    %(example)s
    >>> def d2(input, axis, output, mode, cval):
    ...     return ndi.correlate1d(input, [1, -2, 1], axis, output, mode, cval, 0)
    >>> x = np.random.default_rng(0).random((8, 9, 10))
    >>> np.allclose(ndimage.generic_laplace(x, d2).compute(), ndi.generic_laplace(x, d2))
    True
    """
    twin = ndi.generic_laplace
    kw = dict(mode=mode, cval=cval, extra_arguments=extra_arguments, extra_keywords=extra_keywords)
    return _generic_derivative(
        twin, input, derivative2, magnitude=False, output=output, depth=depth, axes=axes, **kw
    )
