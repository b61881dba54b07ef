"""``binary_fill_holes`` and ``binary_propagation`` across chunks.

Both are scipy's ``binary_dilation`` iterated to convergence inside a mask. The
functions here check scipy's arguments; the fixed points are computed by
:mod:`bigimg._morphology` (``fill_holes``, ``propagate``), which picks one of three
engines from the neighbourhood the structure, origin and axes give: the label engine
when it is centred, centrosymmetric and within one voxel (a mask voxel ends up set iff
its connected component of the mask contains a voxel the first step reaches; one pass
with small per-object tables), rounds of block floods exchanging thin face slabs for
any other neighbourhood holding its centre (also directed and long-reaching ones), and
scipy's own loop run pass by pass through scratch space when the centre is missing.
Each is exact for any chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes, resolve_output
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._errors import ArgumentError
from bigimg._morphology import fill_holes, full_structure, propagate

__all__ = ["binary_fill_holes", "binary_propagation"]

#: Returns and the start of Raises, the same for both operations.
_docs = DocFiller(
    NDIMAGE,
    bool_returns="""
        Returns
        -------
        dask.array.Array of bool
            Lazy, with ``input``'s chunks.

        Raises
        ------
        TypeError
            Complex input or an array as ``output``.""",
    propagation_engines="""
    What computes depends on the neighbourhood one dilation step reaches (from
    ``structure``, ``origin`` and ``axes``, exactly as scipy's kernel reads them):

    * centred, centrosymmetric and within one voxel (e.g.
      ``generate_binary_structure(ndim, c)`` with ``origin=0``): the label engine
      labels the (mask or background) blocks and computes small per-block summaries
      now, reading the inputs once; the client holds an int64 table of all
      block-local labels. One task holds a block of each input, its run tables and
      its output;
    * any other neighbourhood holding its centre (a 5x5x5 ball, an off-centre
      ``origin``, a one-sided structure: propagation is then directed): rounds of
      block floods compute now. Chunks are first merged to at least 32 voxels and
      the structure's reach per axis; each round floods the blocks whose
      neighbours' face slabs changed (reading those blocks of the inputs again), and
      a chain that crosses ``k`` block faces needs about ``k`` rounds. One task holds
      a block plus a halo of the structure's reach, one byte per voxel, and a queue
      of up to 4 bytes per voxel; the client holds the bit-packed face slabs (the
      reach thick) of every block;
    * a neighbourhood without its centre (and, for ``binary_propagation``, voxels set
      inside ``mask`` at the start): the steps can unset voxels, so scipy's loop
      itself runs, pass by pass: the inputs are written once to scratch space (one
      byte per voxel, :mod:`bigimg._scratch`'s location), and each pass reads and
      rewrites them, running ``16 // reach`` steps, until a step changes nothing.
      One task holds a block plus that halo.

    In every case the result is lazy and reads the inputs once more (the last case:
    the scratch space).""",
)


def _validate(func, x: da.Array, output: Any, **kwargs) -> None:
    """Raise what scipy raises for these arguments, before any graph is built.

    The origin is checked first (scipy does not, and may crash on one outside the
    structure). scipy fails with an IndexError when ``structure`` has fewer axes than
    ``axes`` asks for; that becomes the rank error scipy gives for too many axes.
    """
    if np.iscomplexobj(np.empty(0, dtype=x.dtype)):
        raise TypeError(
            f"`input` must be real; got dtype {x.dtype} (complex type not supported). "
            "Use np.abs(input) or input.real instead."
        )
    axes = normalize_axes(kwargs.get("axes"), x.ndim)
    structure = kwargs.get("structure")
    if structure is None or np.ndim(structure) == len(axes):
        # the origin first: scipy may crash on one outside the structure
        full_structure(structure, kwargs.get("origin", 0), axes, x.ndim, dilate=True)
    tiny = np.zeros((1,) * x.ndim, dtype=x.dtype)
    if "mask" in kwargs and kwargs["mask"] is not None:
        kwargs["mask"] = np.ones_like(tiny, dtype=bool)

    def probe(out):
        try:
            return func(tiny, output=out, **kwargs)
        except IndexError as exc:
            raise ArgumentError(
                "`structure` must have one axis per entry of `axes` (or per input axis); "
                f"got shape {np.shape(kwargs.get('structure'))} for a {x.ndim}-d input "
                "(structure and input must have same dimensionality)."
            ) from exc

    resolve_output(output, probe)


@_docs
def binary_fill_holes(
    input: ArrayLike,
    structure: ArrayLike | None = None,
    output: DTypeLike | None = None,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Fill the holes of binary objects across chunks; twin of ``scipy.ndimage.binary_fill_holes``.

    A hole is a connected component of the background (under ``structure``) that
    does not reach the array border. The result equals scipy's for any chunking.

    Parameters
    ----------
    %(input)s
        Nonzero voxels are the objects.
    structure : array_like, optional
        Connectivity of the background; default ``generate_binary_structure(ndim, 1)``
        (over ``axes``).
    output : dtype or array, optional
        Ignored like scipy does for a dtype: the result is bool. An array of
        ``input``'s shape is filled block by block and None is returned, as scipy.
    %(origin_multiple)s
    %(axes)s

    %(bool_returns)s
    ArgumentError
        Invalid ``structure``, ``origin`` or ``axes`` (scipy's ``RuntimeError``).
    ValueError
        An ``origin`` outside ``structure`` (scipy may crash on it).

    Notes
    -----
    %(propagation_engines)s

    %(dask_example)s
    >>> from bigimg.ndimage import binary_fill_holes
    >>> a = np.zeros((5, 6), dtype=bool)
    >>> a[1:4, 1:5] = True
    >>> a[2, 2:4] = False
    >>> filled = binary_fill_holes(da.from_array(a, chunks=(2, 3)))
    >>> filled.compute().astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 0, 0, 0, 0, 0]])
    >>> bool((filled.compute() == ndi.binary_fill_holes(a)).all())
    True
    """
    x = as_dask(input, name="input")
    _validate(ndi.binary_fill_holes, x, output, structure=structure, origin=origin, axes=axes)
    return fill_holes(x, structure=structure, origin=origin, axes=axes)


@_docs
def binary_propagation(
    input: ArrayLike,
    structure: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    output: DTypeLike | None = None,
    border_value: int = 0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Propagate ``input`` inside ``mask`` across chunks; twin of ``scipy.ndimage.binary_propagation``.

    Every connected component of ``mask`` (under ``structure``) that one dilation of
    ``input`` reaches (or the border, with ``border_value=1``) is set, as scipy's
    dilation repeated until nothing changes would set it. The result equals scipy's
    for any chunking.

    Parameters
    ----------
    %(input)s
        Seeds: nonzero voxels.
    structure : array_like, optional
        Connectivity; default ``generate_binary_structure(ndim, 1)`` (over ``axes``).
    mask : array_like or dask array, optional
        Where propagation may go (nonzero voxels); default everywhere. Voxels outside
        it keep their ``input`` value.
    output : dtype or array, optional
        Ignored like scipy does for a dtype: the result is bool. An array of
        ``input``'s shape is filled block by block and returned, as scipy.
    border_value : int, optional
        Value of the voxels outside the array (default 0; 1 propagates in from the
        border).
    %(origin_multiple)s
    %(axes)s

    %(bool_returns)s
    ArgumentError
        Invalid ``structure``, ``origin`` or ``axes``, or ``mask`` of another shape
        (scipy's ``RuntimeError``).
    ValueError
        An ``origin`` outside ``structure`` (scipy may crash on it); or, for a
        neighbourhood without its centre, steps that cycle forever, where scipy never
        returns (``NeverSettlesError``, raised when a state repeats).

    Notes
    -----
    %(propagation_engines)s

    %(dask_example)s
    >>> from bigimg.ndimage import binary_propagation
    >>> mask = np.array([[1, 1, 0, 1, 1, 1],
    ...                  [0, 1, 0, 0, 0, 1],
    ...                  [1, 1, 0, 1, 0, 0]], dtype=bool)
    >>> seed = np.zeros_like(mask)
    >>> seed[0, 0] = True
    >>> grown = binary_propagation(da.from_array(seed, chunks=2), mask=mask)
    >>> grown.compute().astype(int)
    array([[1, 1, 0, 0, 0, 0],
           [0, 1, 0, 0, 0, 0],
           [1, 1, 0, 0, 0, 0]])
    >>> bool((grown.compute() == ndi.binary_propagation(seed, mask=mask)).all())
    True
    """
    x = as_dask(input, name="input")
    kwargs = dict(structure=structure, border_value=border_value, origin=origin, axes=axes)
    if mask is not None:
        mask = as_dask(mask, name="mask")
        if mask.shape != x.shape:
            raise ArgumentError(
                f"`mask` must have the shape of `input` {x.shape}; got {mask.shape}. "
                "(scipy: mask and input must have equal sizes)"
            )
    _validate(ndi.binary_propagation, x, output, mask=mask, **kwargs)
    return propagate(x, mask=mask, **kwargs)
