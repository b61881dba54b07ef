"""Argument normalisers shared by every public function.

Small pure functions that turn what a user passed (a numpy or dask array, a scalar or
per-axis sequence, scipy's ``axes``, ``mode`` and ``output``) into the canonical form
the engines take, raising the error that says how to fix the call. They know nothing
about dask graphs beyond wrapping an array, and import nothing else from bigimg but
its error classes.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg._errors import ArgumentError

__all__ = [
    "FILTER_MODES",
    "PERIODIC_MODES",
    "as_dask",
    "index_of",
    "normalize_axes",
    "normalize_axis",
    "normalize_modes",
    "normalize_sequence",
    "probe_array",
    "resolve_output",
    "validated_dtype",
    "whole_number",
]

#: Boundary modes accepted by scipy.ndimage filters.
FILTER_MODES = (
    "reflect",
    "constant",
    "nearest",
    "mirror",
    "wrap",
    "grid-constant",
    "grid-mirror",
    "grid-wrap",
)
#: Modes whose halo is periodic (taken from the opposite face).
PERIODIC_MODES = frozenset({"wrap", "grid-wrap"})


def as_dask(x: Any, *, name: str = "input") -> da.Array:
    """Return ``x`` as a dask array (numpy input gets dask's automatic chunks)."""
    if isinstance(x, da.Array):
        return x
    if hasattr(x, "__array__") or isinstance(x, list | tuple | numbers.Number):
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"`{name}` must be a numeric array; got dtype object.")
        return da.from_array(arr, chunks="auto")
    raise TypeError(f"`{name}` must be a numpy or dask array; got {type(x).__name__}.")


def normalize_sequence(value: Any, ndim: int, name: str) -> tuple:
    """Broadcast a scalar to ``ndim`` entries or check a sequence has ``ndim`` entries."""
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        return (value,) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise ArgumentError(
            f"`{name}` sequence argument must have length equal to input rank "
            f"({ndim}); got {len(value)} entries."
        )
    return value


def normalize_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    """Normalise scipy's ``axes`` argument to a tuple of non-negative axis numbers."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, numbers.Integral):
        axes = (axes,)
    out = []
    for ax in axes:
        if not isinstance(ax, numbers.Integral):
            raise TypeError(f"`axes` must hold integers; got {ax!r}.")
        if not -ndim <= ax < ndim:
            raise ValueError(f"`axes` entries must be in [{-ndim}, {ndim}); got {ax}.")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"`axes` must be unique; got {tuple(axes)}.")
    return tuple(out)


def normalize_axis(axis: Any, ndim: int) -> int:
    """Normalise scipy's single ``axis`` argument to a non-negative axis number.

    >>> normalize_axis(-1, 3)
    2
    """
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an integer; got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(f"`axis` must be in [{-ndim}, {ndim}) for a {ndim}-D input; got {axis}.")
    return int(axis) % ndim


def normalize_modes(mode: Any, ndim: int) -> tuple[str, ...]:
    """Per-axis boundary modes; a bad name raises like scipy but as a ValueError too."""
    modes = normalize_sequence(mode, ndim, "mode")
    for m in modes:
        if m not in FILTER_MODES:
            raise ArgumentError(
                f"`mode` must be one of {', '.join(repr(x) for x in FILTER_MODES)}; got {m!r}."
            )
    return modes


def resolve_output(output: Any, probe: Callable[[Any], np.ndarray]) -> np.dtype:
    """The output dtype of a filter, found by running ``probe`` on a one-voxel array.

    ``probe(output)`` calls the in-memory twin on a tiny array with every argument the
    user gave, so invalid arguments raise exactly what scipy raises, before any graph is
    built, and the dtype rules (integer stays integer, complex promotion) are scipy's.
    """
    if isinstance(output, np.ndarray | da.Array):
        raise TypeError(
            "`output` must be a dtype (e.g. np.float32) or None; got an array. bigimg "
            "returns a lazy dask array, so it cannot write into one: pass "
            "output=arr.dtype and store the result with bigimg.save_zarr or da.store."
        )
    if output is not None:
        try:
            output = np.dtype(output)
        except TypeError as exc:
            raise TypeError(f"`output` must be a dtype or None; got {output!r}.") from exc
    try:
        result = probe(output)
    except RuntimeError as exc:
        # NotImplementedError is a RuntimeError too: a valid but unsupported request
        if isinstance(exc, ArgumentError | NotImplementedError):
            raise
        raise ArgumentError(str(exc)) from exc
    return np.asarray(result).dtype


def probe_array(dtype: np.dtype, ndim: int) -> np.ndarray:
    """The tiny array on which argument validation runs the in-memory twin."""
    return np.zeros((1,) * ndim, dtype=dtype)


def validated_dtype(
    twin: Callable, x: da.Array, output: Any, kwargs: dict, probe_shape: Any = None
) -> np.dtype:
    """Run ``twin`` on a tiny array with the user's arguments; return the output dtype.

    ``twin(probe, output=..., **kwargs)`` runs on :func:`probe_array` (or on zeros of
    ``probe_shape``) through :func:`resolve_output`: bad arguments raise what scipy
    raises before a graph exists, and the output dtype is scipy's.

    >>> import dask.array as da, numpy as np
    >>> from scipy import ndimage as ndi
    >>> x = da.zeros((4, 4), dtype=np.uint8)
    >>> validated_dtype(ndi.uniform_filter, x, np.float32, {"size": 3})
    dtype('float32')
    """
    probe = probe_array(x.dtype, x.ndim) if probe_shape is None else np.zeros(probe_shape, x.dtype)
    return resolve_output(output, lambda out: twin(probe, output=out, **kwargs))


def index_of(value: Any, name: str) -> int:
    """``value`` as an int by :func:`operator.index` (numpy integers pass), else a
    ``TypeError`` naming the parameter.

    >>> index_of(np.int16(3), "bins")
    3
    """
    try:
        return operator.index(value)
    except TypeError as exc:
        raise TypeError(f"`{name}` must be an integer; got {value!r}.") from exc


def whole_number(value: Any, name: str, *, minimum: int, requirement: str) -> int:
    """``value`` as an int of at least ``minimum`` (a bool is refused), else a
    ``TypeError`` or ``ValueError`` "`name` must be <requirement>; got value."

    >>> whole_number(2, "nbins", minimum=1, requirement="a positive integer")
    2
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {requirement}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be {requirement}; got {value!r}.")
    return int(value)
