"""Argument normalisers shared by every public function.

Small pure functions that turn what a user passed (a numpy or dask array, a scalar or
per-axis sequence, scipy's ``axes``, ``mode`` and ``output``) into the canonical form
the engines take, raising the error that says how to fix the call; and, at the end,
the arrays scipy lets a caller pass to be filled (``output=``, ``distances=``,
``indices=``): :func:`writes_output` and :func:`returned` store a lazy result into them
block by block and return what scipy returns. They know nothing
about dask graphs beyond wrapping an array, and import nothing else from bigimg but
its error classes.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg._errors import ArgumentError

__all__ = [
    "FILTER_MODES",
    "PERIODIC_MODES",
    "as_dask",
    "check_returns",
    "index_of",
    "is_target",
    "normalize_axes",
    "normalize_axis",
    "normalize_modes",
    "normalize_sequence",
    "probe_array",
    "resolve_output",
    "returned",
    "store_into",
    "validated_dtype",
    "whole_number",
    "writes_output",
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
            "`output` must be a dtype (e.g. np.float32) or None here; got an array. The "
            "public bigimg.ndimage functions fill an output array (writes_output); this "
            "internal call returns a lazy dask array: pass output=arr.dtype."
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


# --------------------------------------------------------------------------------------
# arrays given to fill: ``output=`` of the filters, ``distances=``/``indices=`` of the
# distance transforms (scipy fills them and returns the rest)
# --------------------------------------------------------------------------------------
#: What scipy returns when ``output`` is an array, where it is not that array.
_RETURNS = {"label": "count", "binary_fill_holes": None, "binary_hit_or_miss": None}


def is_target(value: Any) -> bool:
    """Whether ``value`` is an array to write into (not a dtype, a type or a name)."""
    if value is None or isinstance(value, type | np.dtype | str):
        return False
    return all(hasattr(value, a) for a in ("shape", "dtype", "__setitem__"))


def store_into(result: da.Array, target: Any, name: str = "output") -> None:
    """Compute ``result`` into ``target`` block by block; refuse a wrong shape first."""
    if isinstance(target, da.Array):
        raise TypeError(
            f"`{name}` must be a dtype or a writable array (numpy, np.memmap, zarr); got a "
            "dask array, which cannot be written into."
        )
    if tuple(result.shape) != tuple(target.shape):
        raise ArgumentError(
            f"`{name}` has shape {tuple(target.shape)} but the result has shape "
            f"{tuple(result.shape)}; pass an array of the result's shape."
        )
    da.store(result, target, lock=True)


def writes_output(func: Callable) -> Callable:
    """``func`` accepting an array as ``output`` (unchanged if it has no such parameter).

    scipy writes a filter's result into an ``output`` array and returns that array
    (``label`` returns only the count, ``binary_fill_holes`` and ``binary_hit_or_miss``
    return None). The wrapper calls ``func`` with the array's dtype (and, for the
    geometric transforms, its shape as ``output_shape``) and stores the lazy result
    into the array with :func:`store_into`, one block at a time: any array that takes
    slice assignment works, so an ``np.memmap`` or a zarr array is the output of an
    out-of-core run. A dtype (or None) passes through and the result stays lazy.
    """
    signature = inspect.signature(func)
    if "output" not in signature.parameters:
        return func
    first = next(iter(signature.parameters))
    returns = _RETURNS.get(func.__name__, "output")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        target = bound.arguments.get("output")
        if not is_target(target):
            return func(*args, **kwargs)
        if isinstance(target, da.Array):
            store_into(target, target)  # raises the TypeError
        bound.arguments["output"] = target.dtype
        if "output_shape" in signature.parameters and bound.arguments.get("output_shape") is None:
            bound.arguments["output_shape"] = tuple(target.shape)
        source = bound.arguments.get(first)
        if isinstance(source, np.ndarray) and np.shares_memory(source, target):
            bound.arguments[first] = source.copy()  # written while read: read a copy
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = func(*bound.args, **bound.kwargs)
        for w in caught:  # scipy promotes a real output dtype, but refuses a real array
            if "promoting specified output dtype" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        array = result[0] if returns == "count" else result
        if array.dtype.kind == "c" and np.dtype(target.dtype).kind != "c":
            raise ArgumentError(
                f"output must have complex dtype: the result is {array.dtype}; got an "
                f"`output` array of {target.dtype}."
            )
        store_into(array, target)
        if returns == "count":
            return result[1]
        return None if returns is None else target

    return wrapper


def check_returns(return_distances, return_indices, distances, indices) -> None:
    """scipy's rules for the return flags and the in-place arrays (ArgumentError)."""
    problems = []
    if not return_distances and not return_indices:
        problems.append("at least one of `return_distances`/`return_indices` must be True")
    if distances is not None and not return_distances:
        problems.append("return_distances must be True if distances is supplied")
    if indices is not None and not return_indices:
        problems.append("return_indices must be True if indices is supplied")
    if problems:
        raise ArgumentError(
            "; ".join(problems) + f"; got return_distances={return_distances!r}, "
            f"return_indices={return_indices!r}."
        )
    for name, target in (("distances", distances), ("indices", indices)):
        if target is not None and (
            isinstance(target, da.Array)
            or not all(hasattr(target, a) for a in ("shape", "dtype", "__setitem__"))
        ):
            raise TypeError(
                f"`{name}` must be None or a writable array (numpy, np.memmap, zarr); got "
                f"{type(target).__name__}."
            )


def _check_target(name: str, target: Any, result: da.Array) -> None:
    if target.dtype != result.dtype:
        raise ArgumentError(
            f"{name} array must be {result.dtype}; got dtype {target.dtype} (`{name}`)."
        )
    if tuple(target.shape) != tuple(result.shape):
        raise ArgumentError(
            f"{name} array has wrong shape: {tuple(target.shape)}, the result's is "
            f"{tuple(result.shape)} (`{name}`)."
        )


def returned(
    dist: da.Array | None,
    ind: da.Array | None,
    return_distances: bool,
    return_indices: bool,
    distances: Any = None,
    indices: Any = None,
):
    """scipy's return value; ``distances``/``indices`` arrays are filled first."""
    pairs = []
    if return_distances and distances is not None:
        _check_target("distances", distances, dist)
        pairs.append((dist, distances))
    if return_indices and indices is not None:
        _check_target("indices", indices, ind)
        pairs.append((ind, indices))
    if pairs:  # one compute: distances and indices share their graph
        da.store([p[0] for p in pairs], [p[1] for p in pairs], lock=True)
    out = []
    if return_distances and distances is None:
        out.append(dist)
    if return_indices and indices is None:
        out.append(ind)
    if len(out) == 2:
        return tuple(out)
    return out[0] if out else None
