"""Region sources: array-likes that produce any region of a lazy array on demand.

A :class:`RegionSource` holds no voxels, only how to make them (a reader's path and
layout, a chain of kernels over another source, a spill's block files). A dask array
built from one (:func:`attach_source`, :func:`~bigimg._sources.from_source`) is
recorded in a registry by its dask name, so later operations can regenerate any
region of it, halo included, without waiting for its neighbouring blocks.
"""

from __future__ import annotations

import weakref
from typing import Any

import dask.array as da
import numpy as np

__all__ = ["RegionSource", "attach_source", "known_source", "region_source", "register_source"]

# name of a dask array -> the source that regenerates it. Weak: the source is kept
# alive by the graphs that hold it (every source-backed array's tasks reference it).
_SOURCES: weakref.WeakValueDictionary[str, RegionSource] = weakref.WeakValueDictionary()


class RegionSource:
    """An array-like that produces any region of a lazy array on demand (picklable).

    ``source[region]`` (one slice per axis, step 1) returns that region as a numpy
    array. Subclasses hold no voxels, only how to make them.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    #: Delayed tasks that must finish before any region is read (files being written).
    barriers: tuple = ()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getstate__(self):
        # a task needs the source's data, not the graph behind its barriers
        state = self.__dict__.copy()
        state.pop("barriers", None)
        return state

    def __getitem__(self, region):
        region = tuple(slice(*r.indices(n)[:2]) for r, n in zip(region, self.shape, strict=True))
        return self._read(region)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __dask_tokenize__(self):
        return self._token


class _ArraySource(RegionSource):
    """Regions of an array-like that indexes cheaply (a bigimg.io reader)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.shape = tuple(reader.shape)
        self.dtype = np.dtype(reader.dtype)
        self._token = da.core.tokenize("bigimg-source", reader)

    def _read(self, region):
        return np.asarray(self.reader[region])


def register_source(array: da.Array, source: RegionSource) -> None:
    """Record that ``array`` (by its dask name) can be regenerated from ``source``."""
    _SOURCES[array.name] = source


def known_source(name: str) -> RegionSource | None:
    """The source registered for the dask array named ``name``, if any."""
    return _SOURCES.get(name)


def attach_source(array: da.Array, reader: Any) -> da.Array:
    """Mark ``array`` (built from ``reader`` block by block) as regenerable by region.

    Halo operations on a marked array stream from ``reader`` instead of sharing halo
    slices between tasks; see the module docstring.
    """
    source = region_source(reader)
    array._bigimg_source = source
    register_source(array, source)
    return array


def region_source(reader: Any) -> RegionSource:
    """``reader`` as a :class:`RegionSource` (an array-like that indexes cheaply)."""
    return reader if isinstance(reader, RegionSource) else _ArraySource(reader)
