"""The drop-in for :mod:`scipy.ndimage` on chunked, larger-than-memory volumes.

``from bigimg import ndimage`` and use it like ``scipy.ndimage``: same names, same
parameters and defaults, the same numbers for any chunking. Inputs may be numpy or
dask arrays; results are lazy dask arrays with the input's chunks (numpy input gets
dask's automatic chunks).
"""

from bigimg.ndimage._filters import (
    convolve,
    convolve1d,
    correlate,
    correlate1d,
    gaussian_filter,
    gaussian_filter1d,
    gaussian_gradient_magnitude,
    gaussian_laplace,
    generate_binary_structure,
    generic_filter,
    generic_filter1d,
    generic_gradient_magnitude,
    generic_laplace,
    iterate_structure,
    laplace,
    prewitt,
    sobel,
    uniform_filter,
    uniform_filter1d,
    vectorized_filter,
)
from bigimg.ndimage._order_filters import (
    maximum_filter,
    maximum_filter1d,
    median_filter,
    minimum_filter,
    minimum_filter1d,
    percentile_filter,
    rank_filter,
)

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "generate_binary_structure",
    "generic_filter",
    "generic_filter1d",
    "generic_gradient_magnitude",
    "generic_laplace",
    "iterate_structure",
    "laplace",
    "maximum_filter",
    "maximum_filter1d",
    "median_filter",
    "minimum_filter",
    "minimum_filter1d",
    "percentile_filter",
    "prewitt",
    "rank_filter",
    "sobel",
    "uniform_filter",
    "uniform_filter1d",
    "vectorized_filter",
]
