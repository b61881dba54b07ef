"""scipy.ndimage's Fourier filters on chunked FFT output (e.g. from ``dask.array.fft``).

Each filter multiplies the transform by an analytic kernel whose value at a voxel
depends only on that voxel's *global* frequency index along each axis (and, along the
axis of a real transform, on the original length ``n``). Every block is therefore
filtered independently (``map_blocks`` with ``block_info`` giving its position): no
halo and no communication, and the result equals scipy's for any chunking.

The kernel is evaluated as scipy's C code does: per-axis tables (for the separable
Gaussian and box kernels, the tables come from scipy itself, applied to a 1-D vector of
ones, so ``exp``/``sin`` are scipy's), combined per voxel in axis order in float64.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi
from scipy import special

from bigimg._args import as_dask, probe_array, resolve_output
from bigimg._docs import NDIMAGE, DocFiller

__all__ = ["fourier_ellipsoid", "fourier_gaussian", "fourier_shift", "fourier_uniform"]


def _frequency_index(length: int, real_axis: bool) -> np.ndarray:
    """Index ``k`` of each position: 0.. for a real-FFT axis, FFT order otherwise."""
    if real_axis:
        return np.arange(length)
    return np.concatenate([np.arange((length + 1) // 2), np.arange(-(length // 2), 0)])


def _table(kind: str, length: int, param: float, n: int, real_axis: bool) -> np.ndarray:
    """Per-axis factor table of one filter over the whole axis (float64)."""
    if kind in ("gaussian", "uniform"):
        twin = ndi.fourier_gaussian if kind == "gaussian" else ndi.fourier_uniform
        return twin(np.ones(length), param, n=n if real_axis else -1, axis=0)
    denom = n if real_axis else length
    k = _frequency_index(length, real_axis).astype(np.float64)
    if kind == "ellipsoid":
        return k * (math.pi * param / denom)
    return (-2.0 * math.pi * param / denom) * k  # shift: phase per index


def _block_tables(kind, params, n, axis, shape, location):
    tables = []
    for ax, (length, (start, stop)) in enumerate(zip(shape, location)):
        real_axis = ax == axis and n >= 0
        if length > 1 or kind == "ellipsoid":
            t = _table(kind, length, params[ax], n, real_axis)[start:stop]
        else:
            t = None
        tables.append(t)
    return tables


def _outer(tables, op, start):
    """``start op t0 op t1 ...`` broadcast over the block (None tables skipped)."""
    ndim = len(tables)
    acc = start
    for ax, t in enumerate(tables):
        if t is None:
            continue
        acc = op(acc, t.reshape((1,) * ax + (-1,) + (1,) * (ndim - ax - 1)))
    return acc


def _ellipsoid_factor(tables) -> np.ndarray:
    ndim = len(tables)
    squares = [t * t for t in tables]
    r = np.sqrt(_outer(squares, np.add, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        if ndim == 1:
            f = np.sin(r) / r
        elif ndim == 2:
            f = 2.0 * special.j1(r) / r
        else:
            f = 3.0 * (np.sin(r) - r * np.cos(r))
            f /= r * r * r
    return np.where(r > 0.0, f, 1.0)


def _fourier_block(block, *, kind, params, n, axis, shape, out_dtype, block_info=None):
    location = block_info[0]["array-location"]
    tables = _block_tables(kind, params, n, axis, shape, location)
    out = np.empty(block.shape, out_dtype)
    if kind == "shift":
        phase = _outer(tables, np.add, np.zeros((1,) * block.ndim))
        sin, cos = np.sin(phase), np.cos(phase)
        if block.dtype.kind == "c":
            re = block.real.astype(np.float64)
            im = block.imag.astype(np.float64)
            out.real = re * cos - im * sin
            out.imag = re * sin + im * cos
        else:
            v = block.astype(np.float64)
            out.real = v * cos
            out.imag = v * sin
        return out
    if kind == "ellipsoid":
        factor = _ellipsoid_factor(tables)
    else:
        factor = _outer(tables, np.multiply, np.ones((1,) * block.ndim))
    if block.dtype.kind == "c":
        out.real = block.real.astype(np.float64) * factor
        out.imag = block.imag.astype(np.float64) * factor
    else:
        out[...] = block.astype(np.float64) * factor
    return out


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"`n` must be an integer; got {n!r}.")
    return int(n)


def _apply(kind, twin, input, param, n, axis, output):
    x = as_dask(input)
    n = _check_n(n)
    if kind == "ellipsoid" and x.ndim > 3:
        raise NotImplementedError(
            f"fourier_ellipsoid supports 1-D, 2-D and 3-D inputs (as scipy); got {x.ndim}-D."
        )
    probe = probe_array(x.dtype, x.ndim)
    dtype = resolve_output(
        output,
        lambda out: twin(probe, param, n=n, axis=axis, output=None if out is None else out.type),
    )
    ax = int(axis) % x.ndim
    params = tuple(float(p) for p in np.broadcast_to(np.asarray(param, float), (x.ndim,)))
    if n == 0:
        raise ValueError(
            "`n` must be -1 (complex FFT) or the positive length of the signal "
            "before a real FFT; got 0."
        )
    if x.size == 0:  # nothing to filter (and no frequency step to divide by)
        return x.astype(dtype)
    return x.map_blocks(
        _fourier_block,
        kind=kind,
        params=params,
        n=n,
        axis=ax,
        shape=tuple(int(s) for s in x.shape),
        out_dtype=dtype,
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype),
        name=f"fourier_{kind}",
    )


_docs = DocFiller(
    NDIMAGE,
    transform="""
        input : array_like or dask array
            The Fourier transform (complex, or real), in any chunking.""",
    n="""
        n : int, optional
            ``-1`` (default): the input is a complex FFT; ``n >= 0``: a real FFT along
            ``axis`` of a signal of length ``n``.""",
    real_axis="""
        axis : int, optional
            Axis of the real transform (default -1).""",
    fourier_output="""
        output : dtype or array, optional
            ``float32``, ``float64``, ``complex64`` or ``complex128`` (scipy's rules). An
            array of the result's shape (numpy, ``np.memmap``, zarr) is filled block by
            block and returned, as scipy.""",
    fourier_raises="""
        TypeError
            ``output`` given as an array, or a non-integer ``n``.
        ValueError
            What scipy rejects (a parameter sequence of the wrong length, an
            unsupported ``output``, a bad ``axis``), and ``n == 0``.""",
    fourier_notes="""
        No halo: each block is multiplied by the kernel at its own global frequency
        indices (``n >= 0`` means the input is a real FFT along ``axis`` of a signal of
        length ``n``). A task holds one block and a few per-axis tables. Any chunking of
        the FFT output works (``dask.array.fft`` needs the transformed axes in one chunk,
        this filter does not).""",
    fourier_example="""
        Examples
        --------
        >>> import numpy as np, scipy.ndimage as ndi, dask.array as da
        >>> from bigimg import ndimage""",
)
#: The sections after the filter's own parameter, for fourier_gaussian and fourier_uniform.
_docs = _docs.extend(
    fourier_sections=_docs.fill(
        """
    %(n)s
    %(real_axis)s
    %(fourier_output)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(fourier_raises)s

    Notes
    -----
    %(fourier_notes)s"""
    )
)


@_docs
def fourier_gaussian(
    input: ArrayLike,
    sigma: float | Sequence[float],
    n: int = -1,
    axis: int = -1,
    output: DTypeLike | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.fourier_gaussian` (Gaussian in Fourier space).

    Parameters
    ----------
    %(transform)s
    sigma : float or sequence of float
        Standard deviation of the Gaussian, per axis.
    %(fourier_sections)s

    %(fourier_example)s
    >>> f = np.fft.fftn(np.random.default_rng(0).random((6, 7, 8)))
    >>> y = ndimage.fourier_gaussian(da.from_array(f, chunks=(2, 3, 5)), sigma=1.5)
    >>> np.array_equal(y.compute(), ndi.fourier_gaussian(f, sigma=1.5))
    True
    """
    return _apply("gaussian", ndi.fourier_gaussian, input, sigma, n, axis, output)


@_docs
def fourier_uniform(
    input: ArrayLike,
    size: float | Sequence[float],
    n: int = -1,
    axis: int = -1,
    output: DTypeLike | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.fourier_uniform` (box filter in Fourier space).

    Parameters
    ----------
    %(transform)s
    size : float or sequence of float
        Box size per axis.
    %(fourier_sections)s

    %(fourier_example)s
    >>> f = np.fft.rfftn(np.random.default_rng(0).random((6, 7, 8)))
    >>> y = ndimage.fourier_uniform(da.from_array(f, chunks=3), size=3, n=8, axis=-1)
    >>> np.array_equal(y.compute(), ndi.fourier_uniform(f, size=3, n=8, axis=-1))
    True
    """
    return _apply("uniform", ndi.fourier_uniform, input, size, n, axis, output)


@_docs
def fourier_ellipsoid(
    input: ArrayLike,
    size: float | Sequence[float],
    n: int = -1,
    axis: int = -1,
    output: DTypeLike | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.fourier_ellipsoid` (1-D to 3-D, like scipy).

    Parameters
    ----------
    %(transform)s
    size : float or sequence of float
        Ellipsoid size per axis.
    %(n)s
    %(real_axis)s
    %(fourier_output)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    NotImplementedError
        More than 3 dimensions (as scipy).
    %(fourier_raises)s

    Notes
    -----
    %(fourier_notes)s

    The non-separable kernel uses numpy's ``sin``/``cos`` and scipy's Bessel ``j1``;
    they agree with scipy's C math library to the last bit on common platforms (the
    tests allow 1e-14 relative).

    %(fourier_example)s
    >>> f = np.fft.fftn(np.random.default_rng(0).random((6, 7, 8)))
    >>> y = ndimage.fourier_ellipsoid(da.from_array(f, chunks=4), size=(2, 3, 2.5))
    >>> np.allclose(y.compute(), ndi.fourier_ellipsoid(f, size=(2, 3, 2.5)), rtol=1e-14)
    True
    """
    return _apply("ellipsoid", ndi.fourier_ellipsoid, input, size, n, axis, output)


@_docs
def fourier_shift(
    input: ArrayLike,
    shift: float | Sequence[float],
    n: int = -1,
    axis: int = -1,
    output: DTypeLike | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.fourier_shift` (phase ramp of a shift).

    Parameters
    ----------
    %(transform)s
    shift : float or sequence of float
        Shift per axis, in voxels.
    %(n)s
    %(real_axis)s
    output : dtype or array, optional
        ``complex64`` or ``complex128`` (scipy's rules). An array of the result's shape
        is filled block by block and returned, as scipy.

    Returns
    -------
    dask array (complex)
        Lazy, with the input's shape and chunks; nothing is computed until asked.

    Raises
    ------
    %(fourier_raises)s

    Notes
    -----
    %(fourier_notes)s

    %(fourier_example)s
    >>> f = np.fft.fftn(np.random.default_rng(0).random((6, 7, 8)))
    >>> y = ndimage.fourier_shift(da.from_array(f, chunks=(3, 7, 4)), shift=(1.5, -2, 0.25))
    >>> np.allclose(y.compute(), ndi.fourier_shift(f, shift=(1.5, -2, 0.25)), rtol=1e-14)
    True
    """
    return _apply("shift", ndi.fourier_shift, input, shift, n, axis, output)
