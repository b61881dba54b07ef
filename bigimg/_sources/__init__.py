"""Streaming region sources: regenerate any region of a lazy array, halo included.

Owns: :class:`RegionSource` and its registry (which dask array a source regenerates),
the element-wise chain reader that finds a source behind thresholds, ``np.where``,
``astype`` and arithmetic (:mod:`bigimg._sources._pointwise`), and the dask arrays read
from sources (:func:`from_source`, a source-aware :func:`rechunk`).
May import: numpy, dask and :mod:`bigimg._errors`; knows nothing of filters or files.

Steps, one module each: ``_region`` (the source protocol and registry),
``_pointwise`` (sources through element-wise dask layers), ``_arrays`` (arrays from
sources).
"""

from bigimg._sources._arrays import from_source, rechunk
from bigimg._sources._pointwise import resolve_source, source_of
from bigimg._sources._region import RegionSource, attach_source, region_source, register_source

__all__ = [
    "RegionSource",
    "attach_source",
    "from_source",
    "rechunk",
    "region_source",
    "resolve_source",
    "register_source",
    "source_of",
]
