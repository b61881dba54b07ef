"""Interpolation of chunked arrays at scipy's coordinates, and the spline prefilter.

The engine behind ``shift``, ``zoom``, ``rotate``, ``affine_transform``,
``map_coordinates``, ``geometric_transform`` and ``spline_filter``/``spline_filter1d``
of :mod:`bigimg.ndimage`. Five visible steps, one module each:

* :mod:`bigimg._geometry._setup` — scipy's dtype and errors from a one-voxel probe,
  output chunks, zoom/shift coordinates, and the entry point :func:`interpolate`;
* :mod:`bigimg._geometry._spline` — the B-spline prefilter with a halo derived from a
  documented tolerance (kernel: :mod:`bigimg._geometry._spline_kernel`);
* :mod:`bigimg._geometry._maps` — coordinate maps (output voxel -> scipy's input
  coordinate, bit for bit) and the bounds of an output chunk's coordinates;
* :mod:`bigimg._geometry._regions` — the input region one output chunk reads, axis by
  axis, given the boundary mode;
* :mod:`bigimg._geometry._graph` — one task per output chunk, reading only the blocks
  of its region, and the choice of kernel: scipy's 1-D taps applied axis by axis or
  shared by all planes (:mod:`bigimg._geometry._taps`), numba for affine maps of
  volumes (:mod:`bigimg._geometry._affine`), scipy itself for the rest.

Owns: interpolation at scipy's coordinates (maps, input regions, kernels, the graph)
and the B-spline prefilter with its error bound (``SPLINE_TOL``, the halo depth).
May import: numpy, scipy, numba and dask; bigimg._args, bigimg._halo and
bigimg._sources. Never bigimg.ndimage (the public names there import this engine).
"""

from bigimg._geometry._maps import AffineMap, MappingMap
from bigimg._geometry._setup import (
    coordinate_map,
    interpolate,
    output_chunks_for,
    scipy_dtype,
    separable,
    sequence,
)
from bigimg._geometry._spline import (
    SPLINE_TOL,
    coefficients,
    filter_axes,
    spline_error_bound,
    spline_halo,
)

__all__ = [
    "SPLINE_TOL",
    "AffineMap",
    "MappingMap",
    "coefficients",
    "coordinate_map",
    "filter_axes",
    "interpolate",
    "output_chunks_for",
    "scipy_dtype",
    "separable",
    "sequence",
    "spline_error_bound",
    "spline_halo",
]
