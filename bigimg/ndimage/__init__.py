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
from bigimg.ndimage._distance import (
    distance_transform_bf,
    distance_transform_cdt,
    distance_transform_edt,
)
from bigimg.ndimage._fourier import (
    fourier_ellipsoid,
    fourier_gaussian,
    fourier_shift,
    fourier_uniform,
)
from bigimg.ndimage._global_morphology import binary_fill_holes, binary_propagation
from bigimg.ndimage._label import label
from bigimg.ndimage._measure_gather import labeled_comprehension, value_indices
from bigimg.ndimage._measure_select import median
from bigimg.ndimage._measurements import (
    center_of_mass,
    extrema,
    find_objects,
    histogram,
    label_statistics,
    maximum,
    maximum_position,
    mean,
    minimum,
    minimum_position,
    standard_deviation,
    sum,
    sum_labels,
    variance,
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
    "binary_fill_holes",
    "binary_propagation",
    "center_of_mass",
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "distance_transform_bf",
    "distance_transform_cdt",
    "distance_transform_edt",
    "extrema",
    "find_objects",
    "fourier_ellipsoid",
    "fourier_gaussian",
    "fourier_shift",
    "fourier_uniform",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "generate_binary_structure",
    "generic_filter",
    "generic_filter1d",
    "generic_gradient_magnitude",
    "generic_laplace",
    "histogram",
    "iterate_structure",
    "label",
    "label_statistics",
    "labeled_comprehension",
    "laplace",
    "maximum",
    "maximum_filter",
    "maximum_filter1d",
    "maximum_position",
    "mean",
    "median",
    "median_filter",
    "minimum",
    "minimum_filter",
    "minimum_filter1d",
    "minimum_position",
    "percentile_filter",
    "prewitt",
    "rank_filter",
    "sobel",
    "standard_deviation",
    "sum",
    "sum_labels",
    "uniform_filter",
    "uniform_filter1d",
    "value_indices",
    "variance",
    "vectorized_filter",
]
