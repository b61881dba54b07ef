"""Binary morphology (erosion, dilation, opening, closing, hit-or-miss), blockwise.

Every function has the name, parameters, order and defaults of its ``scipy.ndimage``
twin and gives the twin's result for any chunking. The pattern:

1. the structure and origin are expanded to every axis exactly as scipy does and
   checked (an origin outside the structure is a ``ValueError``; scipy may crash);
2. :func:`~bigimg._morphology._args.output_dtype` runs the twin on a one-voxel
   array with every argument, so other bad arguments raise what scipy raises before
   a graph exists;
3. the iterations are split into *passes* of bounded halo: ``iterations=k`` reaches
   ``k`` structure radii, so one pass runs at most ``_MAX_PASS_HALO // radius``
   iterations and each pass is one :func:`bigimg._halo.apply_blockwise` over the
   previous pass's output. Memory per task stays bounded for any ``k``;
4. a ``mask`` travels with the data as bit 1 of a uint8 block (bit 0 is the data), so
   its halo is always aligned with the data's.

At the volume's outer faces the halo engine adds no halo, and the kernel treats
outside voxels as ``border_value``, as scipy does. The block kernel is bigimg's
(:func:`bigimg._morphology.binary_steps`): exactly ``iterations`` applications of the
one-step operator, which is what scipy computes. ``iterations < 1`` (repeat until
nothing changes) is a fixed point computed through labels
(:func:`bigimg._morphology.until_stable`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, normalize_axes
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._errors import ArgumentError
from bigimg._halo import apply_blockwise
from bigimg._morphology import (
    binary_steps,
    border_flag,
    full_structure,
    geometry,
    into,
    iterations_count,
    output_dtype,
    pack_with_mask,
    until_stable,
)

__all__ = [
    "binary_closing",
    "binary_dilation",
    "binary_erosion",
    "binary_hit_or_miss",
    "binary_opening",
]

#: Largest halo (voxels) one pass of iterated binary morphology may need; a pass runs
#: ``max(1, _MAX_PASS_HALO // radius)`` iterations.
_MAX_PASS_HALO = 16


def _plan(pattern: tuple, reach: int) -> list[tuple]:
    """Split ``((dilate, iterations), ...)`` into passes of at most the halo budget."""
    budget = max(1, _MAX_PASS_HALO // reach) if reach else None
    passes, current, used = [], [], 0
    for dilate, k in pattern:
        while k > 0:
            take = k if budget is None else min(k, budget - used)
            current.append((dilate, take))
            used += take
            k -= take
            if budget is not None and used == budget:
                passes.append(tuple(current))
                current, used = [], 0
    if current:
        passes.append(tuple(current))
    return passes


@dataclass(frozen=True, eq=False)
class _BinaryCall:
    """One call of an iterated binary operation: scipy's arguments (in the order of
    ``binary_erosion``), its name and its pattern."""

    structure: Any
    iterations: Any
    mask: Any
    output: Any
    border_value: Any
    origin: Any
    brute_force: Any
    axes: Any
    name: str = field(kw_only=True)  # the scipy twin, e.g. "binary_opening"
    pattern: str = field(kw_only=True)  # "erosion", "dilation", "opening" or "closing"


def _binary(input, call: _BinaryCall) -> da.Array:
    """Shared body of the four iterated binary operations."""
    x = as_dask(input)
    k = iterations_count(call.iterations)
    axs = normalize_axes(call.axes, x.ndim)
    dilate_first = call.pattern in ("dilation", "closing")
    stages = (
        [dilate_first]
        if call.pattern in ("erosion", "dilation")
        else [dilate_first, not dilate_first]
    )
    # scipy's erosion-kernel view of each stage (dilation: reflected structure)
    fulls = {d: full_structure(call.structure, call.origin, axs, x.ndim, dilate=d) for d in stages}
    border = border_flag(call.border_value)
    m = None
    if call.mask is not None:
        m = call.mask if isinstance(call.mask, da.Array) else np.asarray(call.mask)
        if m.shape != x.shape:
            raise ArgumentError(f"`mask` must have the input's shape {x.shape}; got {m.shape}.")
        m = as_dask(m, name="mask") if isinstance(m, da.Array) else da.from_array(m, x.chunks)
    kw = dict(
        structure=call.structure,
        iterations=1,
        border_value=call.border_value,
        origin=call.origin,
        brute_force=call.brute_force,
        axes=call.axes,
    )
    if m is not None:
        kw["mask"] = np.ones((1,) * x.ndim, dtype=m.dtype)
    dtype = output_dtype(getattr(ndi, call.name), x, call.output, kw)
    if m is not None and m.chunks != x.chunks:
        m = m.rechunk(x.chunks)
    if k < 1:
        cur = x
        for dilate in stages:
            cur = until_stable(
                cur,
                dilate=dilate,
                structure=fulls[dilate][0],
                origin=fulls[dilate][1],
                mask=m,
                border_value=border,
                name=call.name,
            )
        return cur.astype(dtype) if cur.dtype != dtype else cur
    geometries = {d: geometry(*fulls[d]) for d in stages}
    reach = tuple(max(r) for r in zip(*(g[1] for g in geometries.values()), strict=True))
    offsets = tuple(geometries[d][0] if d in geometries else None for d in (False, True))
    passes = _plan(tuple((d, k) for d in stages), max(reach, default=0))
    packed = m is not None
    cur = da.map_blocks(pack_with_mask, x, m, dtype=np.uint8) if packed else x
    for i, steps in enumerate(passes):
        last = i == len(passes) - 1
        n_iter = sum(s[1] for s in steps)
        kernel = functools.partial(
            binary_steps,
            dtype=dtype if last else np.dtype(bool),
            keep_packed=packed and not last,
            geometry=offsets,
            steps=steps,
            border=border,
            packed=packed,
        )
        out_dtype = dtype if last else (np.dtype(np.uint8) if packed else np.dtype(bool))
        cur = apply_blockwise(
            kernel,
            cur,
            tuple(n_iter * r for r in reach),
            ("constant",) * x.ndim,
            dtype=out_dtype,
            name=call.name,
        )
    return cur


#: Parameter texts of the binary operations, on top of :data:`bigimg._docs.NDIMAGE`.
_docs = DocFiller(
    NDIMAGE,
    binary_input="""
        input : array_like or dask array
            Nonzero voxels are foreground. A numpy array is wrapped with dask's
            automatic chunks; a dask array keeps its chunks.""",
    binary_structure="""
        structure : array_like, optional
            Structuring element (nonzero = part of it); default: the cross of
            ``generate_binary_structure(len(axes), 1)``.""",
    iterations="""
        iterations : int, optional
            Number of erosions or dilations (default 1; opening and closing run that
            many of each). ``< 1`` repeats until nothing changes: this runs bigimg's
            cross-chunk ``binary_propagation`` (any structure and origin; it computes
            label tables or flood rounds when called, see there).""",
    mask="""
        mask : array_like or dask array, optional
            Only voxels where ``mask`` is nonzero change; the input's shape.""",
    binary_output="""
        output : dtype or array, optional
            Result dtype (default bool); it holds 0/1, like scipy writing into an array
            of that dtype. An array of ``input``'s shape is filled block by block and
            returned, as scipy (``binary_hit_or_miss`` then returns None, as scipy).""",
    border_value="""
        border_value : int, optional
            Value of the voxels outside the volume (default 0).""",
    brute_force="""
        brute_force : bool, optional
            Accepted for compatibility; the result does not depend on it.""",
    binary_returns="""
        dask array
            Lazy, with the input's shape and chunks (with ``iterations < 1`` label
            tables are computed when called, see ``iterations``).""",
    binary_raises="""
        TypeError
            Complex input, an array as ``output``, non-integer ``iterations``.
        ValueError
            A structure of the wrong rank or empty, an origin outside the structure, a
            mask of another shape (``ArgumentError``, a ``RuntimeError`` too, like scipy);
            ``iterations < 1`` with a structure whose centre (after ``origin``) is unset
            and steps that cycle forever, where scipy never returns
            (``NeverSettlesError``, raised when the repeat is found).""",
    binary_notes="""
        The result is exactly ``iterations`` applications of the one-step operator (what
        scipy computes; scipy's faster default algorithm differs from its own
        ``brute_force=True`` only on arrays thinner than the structure).
        ``output`` may be a dtype: the result holds 0/1 in it, like scipy writing into an
        array of that dtype.

        Halo: ``iterations`` x the structure's reach per axis (the reach is half the
        structure's size plus the origin shift), split into passes of at most
        ``_MAX_PASS_HALO`` (16) voxels, or one reach if that is larger: each pass is one
        blockwise step over the previous pass's output, so one task holds a block plus
        that halo (1 byte per voxel, plus a few bool temporaries of the block's size),
        whatever ``iterations`` is. A ``mask`` rides along in the same bytes.""",
)


#: The sections of the four iterated operations but the summary and the example's own
#: lines: erosion and dilation (``%(binary_sections)s``) and opening and closing
#: (``%(binary_pair_sections)s``) differ in scipy's order of their parameters.
_PARAMETERS = """
    %(binary_head)s
    %(mask)s
    %(binary_output)s
    %(border_value)s
    %(origin_multiple)s
    %(brute_force)s
    %(axes)s
"""
_PAIR_PARAMETERS = """
    %(binary_head)s
    %(binary_output)s
    %(origin_multiple)s
    %(mask)s
    %(border_value)s
    %(brute_force)s
    %(axes)s
"""
_TAIL = """
    Returns
    -------
    %(binary_returns)s

    Raises
    ------
    %(binary_raises)s

    Notes
    -----
    %(binary_notes)s
"""
_PAIR_NOTE = """
    When both stages fit in one pass (``2 x iterations x reach <= 16``) they run in
    one blockwise step with the doubled halo.
"""
_docs = _docs.extend(
    binary_head=_docs.fill(
        """
    Parameters
    ----------
    %(binary_input)s
    %(binary_structure)s
    %(iterations)s"""
    )
)
_docs = _docs.extend(
    binary_sections=_docs.fill(_PARAMETERS + _TAIL + "\n    %(example)s"),
    binary_pair_sections=_docs.fill(_PAIR_PARAMETERS + _TAIL + _PAIR_NOTE + "\n    %(example)s"),
)


def _binary_twin(name: str, doc: str):
    """The public iterated operation ``name``: scipy's signature, ``doc``."""
    pattern = name.removeprefix("binary_")

    def twin(
        input: ArrayLike,
        structure: ArrayLike | None = None,
        iterations: int = 1,
        mask: ArrayLike | None = None,
        output: DTypeLike | None = None,
        border_value: int = 0,
        origin: int | Sequence[int] = 0,
        brute_force: bool = False,
        *,
        axes: int | Sequence[int] | None = None,
    ) -> da.Array:
        args = (structure, iterations, mask, output, border_value, origin, brute_force, axes)
        return _binary(input, _BinaryCall(*args, name=name, pattern=pattern))

    return _docs.named(twin, name, doc)


def _binary_pair_twin(name: str, doc: str):
    """Opening or closing: scipy's other order of parameters, then :func:`_binary_twin`'s."""
    in_erosion_order = _binary_twin(name, "")

    def pair_twin(
        input: ArrayLike,
        structure: ArrayLike | None = None,
        iterations: int = 1,
        output: DTypeLike | None = None,
        origin: int | Sequence[int] = 0,
        mask: ArrayLike | None = None,
        border_value: int = 0,
        brute_force: bool = False,
        *,
        axes: int | Sequence[int] | None = None,
    ) -> da.Array:
        return in_erosion_order(
            input, structure, iterations, mask, output, border_value, origin, brute_force, axes=axes
        )

    return _docs.named(pair_twin, name, doc)


binary_erosion = _binary_twin(
    "binary_erosion",
    """Blockwise twin of :func:`scipy.ndimage.binary_erosion`.

    %(binary_sections)s
    >>> x = np.random.default_rng(0).random((8, 9, 10)) > 0.3
    >>> y = ndimage.binary_erosion(x, iterations=2)
    >>> np.array_equal(y.compute(), ndi.binary_erosion(x, iterations=2))
    True
    """,
)


binary_dilation = _binary_twin(
    "binary_dilation",
    """Blockwise twin of :func:`scipy.ndimage.binary_dilation`.

    %(binary_sections)s
    >>> x = np.random.default_rng(0).random((8, 9, 10)) > 0.9
    >>> m = np.random.default_rng(1).random((8, 9, 10)) > 0.2
    >>> y = ndimage.binary_dilation(x, iterations=3, mask=m, border_value=1)
    >>> np.array_equal(y.compute(),
    ...                ndi.binary_dilation(x, iterations=3, mask=m, border_value=1))
    True
    """,
)


binary_opening = _binary_pair_twin(
    "binary_opening",
    """Blockwise twin of :func:`scipy.ndimage.binary_opening` (erosion, then dilation).

    %(binary_pair_sections)s
    >>> x = np.random.default_rng(0).random((8, 9, 10)) > 0.3
    >>> s = ndi.generate_binary_structure(3, 2)
    >>> y = ndimage.binary_opening(x, s, iterations=2)
    >>> np.array_equal(y.compute(), ndi.binary_opening(x, s, iterations=2))
    True
    """,
)


binary_closing = _binary_pair_twin(
    "binary_closing",
    """Blockwise twin of :func:`scipy.ndimage.binary_closing` (dilation, then erosion).

    %(binary_pair_sections)s
    >>> x = np.random.default_rng(0).random((8, 9, 10)) > 0.7
    >>> y = ndimage.binary_closing(x, np.ones((2, 3, 2)), output=np.uint8)
    >>> y.dtype
    dtype('uint8')
    >>> np.array_equal(y.compute(), ndi.binary_closing(x, np.ones((2, 3, 2))))
    True
    """,
)


@_docs
def binary_hit_or_miss(
    input: ArrayLike,
    structure1: ArrayLike | None = None,
    structure2: ArrayLike | None = None,
    output: DTypeLike | None = None,
    origin1: int | Sequence[int] = 0,
    origin2: int | Sequence[int] | None = None,
    *,
    axes: int | Sequence[int] | None = None,
) -> da.Array:
    """Blockwise twin of :func:`scipy.ndimage.binary_hit_or_miss`.

    Parameters
    ----------
    %(binary_input)s
    structure1 : array_like, optional
        Part of the pattern that must be foreground (default: the cross).
    structure2 : array_like, optional
        Part that must be background (default: the complement of ``structure1``).
    %(binary_output)s
    origin1, origin2 : int or sequence of int, optional
        Placements of the two structures (``origin2`` defaults to ``origin1``).
    %(axes)s

    %(returns_raises)s

    Notes
    -----
    Halo per axis: the larger reach of the two structures (one structure radius plus
    the origin shift). One task holds a block plus its halo; scipy's kernel runs on it.

    %(example)s
    >>> x = np.random.default_rng(0).random((8, 9, 10)) > 0.5
    >>> s1 = np.zeros((3, 3, 3), bool); s1[1, 1, :] = True
    >>> y = ndimage.binary_hit_or_miss(x, s1, origin1=(0, 1, 0))
    >>> np.array_equal(y.compute(), ndi.binary_hit_or_miss(x, s1, origin1=(0, 1, 0)))
    True
    """
    x = as_dask(input)
    axs = normalize_axes(axes, x.ndim)
    s1 = ndi.generate_binary_structure(len(axs), 1) if structure1 is None else structure1
    s2 = np.logical_not(s1) if structure2 is None else structure2
    o2 = origin1 if origin2 is None else origin2
    full1, origins1 = full_structure(
        s1, origin1, axs, x.ndim, name="structure1", origin_name="origin1"
    )
    full2, origins2 = full_structure(
        s2,
        o2,
        axs,
        x.ndim,
        name="structure2",
        origin_name="origin2" if origin2 is not None else "origin1",
    )
    kw = dict(
        structure1=structure1, structure2=structure2, origin1=origin1, origin2=origin2, axes=axes
    )
    dtype = output_dtype(ndi.binary_hit_or_miss, x, output, kw)
    reach = np.maximum(geometry(full1, origins1)[1], geometry(full2, origins2)[1])
    kernel = functools.partial(into, twin=ndi.binary_hit_or_miss, dtype=dtype, **kw)
    return apply_blockwise(
        kernel,
        x,
        tuple(int(r) for r in reach),
        ("constant",) * x.ndim,
        dtype=dtype,
        name="binary_hit_or_miss",
    )
