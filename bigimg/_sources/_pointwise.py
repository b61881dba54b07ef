"""Keep the streaming region source through element-wise dask operations.

Halo operations stream from a :class:`~bigimg._sources.RegionSource` when their input
has one (see :mod:`bigimg._halo`): each output block reads its own halo-extended
region, so no task waits for its neighbours and memory stays at a few blocks per
thread. A threshold or any other element-wise step written with plain dask
(``smooth > 1500``, ``np.where(mask, ct, 0)``, ``x.astype(np.uint8)``) makes a new
dask array that does not carry a source, and the next halo operation would fall back
to dask's overlap path, whose scheduler holds a whole layer of blocks.

:func:`source_of` recovers a source for such arrays by reading the top of their dask
graph. A ``Blockwise`` layer qualifies when

* its function is known to work voxel by voxel (numpy ufuncs, the ``operator``
  functions behind Python's arithmetic and comparison operators, ``np.where``,
  ``np.clip``, ``np.round``, ``np.nan_to_num``, ``np.real``/``np.imag`` and dask's
  ``astype``, also behind dask's dtype-enforcing wrapper). A user's ``map_blocks`` function may look at the whole block (say
  ``b - b.mean()``), so it never qualifies;
* every array argument has the output's shape and indices (no broadcasting, no
  transposes, no new or contracted axes) and itself has a source, directly or through
  another qualifying layer;
* every other argument is a scalar literal.

Anything else returns ``None`` and the caller uses the overlap path, which gives the
same values; only the memory bound is lost. Both paths are exact: a voxel-by-voxel
function gives the same value on any region as on the whole array.
"""

from __future__ import annotations

import operator
from typing import Any

import dask.array as da
import dask.array.chunk
import numpy as np

from bigimg._sources._region import RegionSource, known_source

__all__ = ["resolve_source", "source_of"]

_OPERATORS = {
    getattr(operator, name)
    for name in (
        "abs add and_ eq floordiv ge gt inv invert le lshift lt mod mul ne neg not_ "
        "or_ pos pow rshift sub truediv xor"
    ).split()
}
_NUMPY_POINTWISE = {np.where, np.clip, np.round, np.around, np.nan_to_num, np.real, np.imag}
_DASK_POINTWISE = {dask.array.chunk.astype}
_PLACEHOLDER = "__dask_blockwise__"


def source_of(x: da.Array) -> RegionSource | None:
    """The region source that regenerates ``x``, or ``None`` if there is none.

    A graph layout this reader does not understand gives ``None`` (the caller then takes
    the overlap path: same values, more memory). The test suite calls
    :func:`resolve_source` on known element-wise chains instead, which raises, so a dask
    release that lays graphs out differently fails the tests rather than silently
    turning streaming off.
    """
    try:
        return resolve_source(x)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def resolve_source(x: da.Array) -> RegionSource | None:
    """Like :func:`source_of`, but an unexpected graph layout raises."""
    source = getattr(x, "_bigimg_source", None)
    if source is not None:
        return source
    return _resolve(x.__dask_graph__().layers, x.name, x.shape, np.dtype(x.dtype), {})


def _is_pointwise(func: Any) -> bool:
    if isinstance(func, np.ufunc):
        return True
    try:
        return func in _OPERATORS or func in _NUMPY_POINTWISE or func in _DASK_POINTWISE
    except TypeError:  # unhashable callables
        return False


def _resolve(layers, name: str, shape: tuple, dtype: np.dtype, seen: dict):
    if name in seen:
        return seen[name]
    seen[name] = None
    source = known_source(name)
    if source is None:
        source = _pointwise_layer(layers, name, shape, dtype, seen)
    elif tuple(source.shape) != tuple(shape):
        source = None
    seen[name] = source
    return source


def _pointwise_layer(layers, name, shape, dtype, seen):
    layer = layers.get(name)
    task = getattr(layer, "task", None)
    if task is None or type(layer).__name__ != "Blockwise":
        return None
    if layer.new_axes or layer.concatenate or layer.io_deps or layer.output_blocks:
        return None
    func = task.func
    if func is getattr(da.core, "_enforce_dtype", None):  # a ufunc called with dtype=
        func = task.kwargs.get("enforce_dtype_function")
    if not _is_pointwise(func):
        return None
    out_ind = tuple(layer.output_indices)
    if len(out_ind) != len(shape) or len(set(out_ind)) != len(out_ind):
        return None
    inputs = []
    for value, ind in layer.indices:
        if ind is None:
            if not _is_scalar_literal(value, layer):
                return None
            inputs.append(value)
            continue
        if tuple(ind) != out_ind:
            return None
        meta = _collection_meta(layers, value)
        if meta is None or tuple(meta[0]) != tuple(shape):
            return None
        parent = _resolve(layers, value, shape, meta[1], seen)
        if parent is None:
            return None
        inputs.append(parent)
    args = [_argument(a, inputs) for a in task.args]
    kwargs = {k: _argument(v, inputs) for k, v in task.kwargs.items()}
    if any(a is _UNKNOWN for a in args) or any(v is _UNKNOWN for v in kwargs.values()):
        return None
    parents = {i: src for i, src in enumerate(inputs) if isinstance(src, RegionSource)}
    return _PointwiseSource(task.func, args, kwargs, parents, shape, dtype)


def _collection_meta(layers, name):
    """(shape, dtype) of the array a layer makes, from dask's layer annotations."""
    ann = getattr(layers.get(name), "collection_annotations", None) or {}
    if "shape" not in ann or "dtype" not in ann:
        return None
    return ann["shape"], np.dtype(ann["dtype"])


def _is_scalar_literal(value, layer) -> bool:
    if isinstance(value, str) and value in layer.numblocks:
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return isinstance(value, bool | int | float | complex | np.generic | type(None))


class _Unknown:
    pass


_UNKNOWN = _Unknown()


class _Input:
    """Placeholder for the i-th Blockwise input inside the stored call."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"_Input({self.index})"

    def __dask_tokenize__(self):
        return ("bigimg-input", self.index)


def _argument(arg, inputs):
    """A task argument as a literal or an :class:`_Input` (or ``_UNKNOWN``)."""
    key = getattr(arg, "key", None)
    if type(arg).__name__ == "TaskRef" and isinstance(key, str) and key.startswith(_PLACEHOLDER):
        index = int(key[len(_PLACEHOLDER) :])
        if not 0 <= index < len(inputs):
            return _UNKNOWN
        value = inputs[index]
        return _Input(index) if isinstance(value, RegionSource) else value
    if type(arg).__module__.startswith("dask"):
        return _UNKNOWN  # a nested task or container: not a plain element-wise call
    if isinstance(arg, np.ndarray) and arg.ndim:
        return _UNKNOWN
    return arg


class _PointwiseSource(RegionSource):
    """Regions of ``func(*args, **kwargs)`` where some arguments are region sources."""

    def __init__(self, func, args, kwargs, parents, shape, dtype) -> None:
        self.func = func
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self.parents = dict(parents)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        barriers = {b.key: b for p in self.parents.values() for b in p.barriers}
        self.barriers = tuple(barriers.values())
        self._token = da.core.tokenize(
            "bigimg-pointwise", func, self.args, self.kwargs, self.parents, self.dtype
        )

    def _read(self, region):
        data = {i: parent[region] for i, parent in self.parents.items()}

        def value(a):
            return data[a.index] if isinstance(a, _Input) else a

        block = self.func(
            *(value(a) for a in self.args), **{k: value(v) for k, v in self.kwargs.items()}
        )
        return np.asarray(block, dtype=self.dtype)
