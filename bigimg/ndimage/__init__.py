"""The drop-in for :mod:`scipy.ndimage` on chunked, larger-than-memory volumes.

``from bigimg import ndimage`` and use it like ``scipy.ndimage``: same names, same
parameters and defaults, the same numbers for any chunking. Inputs may be numpy or
dask arrays; results are lazy dask arrays with the input's chunks (numpy input gets
dask's automatic chunks). An array as ``output=`` is filled block by block and
returned, as scipy does (an ``np.memmap`` or zarr array makes an out-of-core run).
"""

from bigimg._args import writes_output
from bigimg._monitor import shows_progress
from bigimg.ndimage._derivatives import (
    gaussian_gradient_magnitude,
    gaussian_laplace,
    generic_gradient_magnitude,
    generic_laplace,
    laplace,
    prewitt,
    sobel,
)
from bigimg.ndimage._distance import (
    distance_transform_bf,
    distance_transform_cdt,
    distance_transform_edt,
)
from bigimg.ndimage._filters import (
    convolve,
    convolve1d,
    correlate,
    correlate1d,
    gaussian_filter,
    gaussian_filter1d,
    generate_binary_structure,
    iterate_structure,
    maximum_filter1d,
    minimum_filter1d,
    uniform_filter,
    uniform_filter1d,
)
from bigimg.ndimage._fourier import (
    fourier_ellipsoid,
    fourier_gaussian,
    fourier_shift,
    fourier_uniform,
)
from bigimg.ndimage._generic import generic_filter, generic_filter1d, vectorized_filter
from bigimg.ndimage._geometry import (
    affine_transform,
    geometric_transform,
    map_coordinates,
    rotate,
    shift,
    zoom,
)
from bigimg.ndimage._global_morphology import binary_fill_holes, binary_propagation
from bigimg.ndimage._grey_morphology import (
    black_tophat,
    grey_closing,
    grey_dilation,
    grey_erosion,
    grey_opening,
    morphological_gradient,
    morphological_laplace,
    white_tophat,
)
from bigimg.ndimage._label import label
from bigimg.ndimage._measure_objects import (
    find_objects,
    histogram,
    labeled_comprehension,
    median,
    value_indices,
)
from bigimg.ndimage._measurements import (
    center_of_mass,
    extrema,
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
from bigimg.ndimage._morphology import (
    binary_closing,
    binary_dilation,
    binary_erosion,
    binary_hit_or_miss,
    binary_opening,
)
from bigimg.ndimage._order_filters import (
    maximum_filter,
    median_filter,
    minimum_filter,
    percentile_filter,
    rank_filter,
)
from bigimg.ndimage._spline import spline_filter, spline_filter1d
from bigimg.ndimage._watershed import watershed_ift

__all__ = [
    "affine_transform",
    "binary_closing",
    "binary_dilation",
    "binary_erosion",
    "binary_fill_holes",
    "binary_hit_or_miss",
    "binary_opening",
    "binary_propagation",
    "black_tophat",
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
    "geometric_transform",
    "grey_closing",
    "grey_dilation",
    "grey_erosion",
    "grey_opening",
    "histogram",
    "iterate_structure",
    "label",
    "label_statistics",
    "labeled_comprehension",
    "laplace",
    "map_coordinates",
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
    "morphological_gradient",
    "morphological_laplace",
    "percentile_filter",
    "prewitt",
    "rank_filter",
    "rotate",
    "shift",
    "sobel",
    "spline_filter",
    "spline_filter1d",
    "standard_deviation",
    "sum",
    "sum_labels",
    "uniform_filter",
    "uniform_filter1d",
    "value_indices",
    "variance",
    "vectorized_filter",
    "watershed_ift",
    "white_tophat",
    "zoom",
]

# The calls that compute when called show progress as the writers do (dask config
# ``bigimg.progress``, else when stderr is a terminal).
label, find_objects, value_indices = map(shows_progress, (label, find_objects, value_indices))

# ``output=`` may be an array, as in scipy: the result is stored into it block by block
for _name in __all__:
    globals()[_name] = writes_output(globals()[_name])
del _name
