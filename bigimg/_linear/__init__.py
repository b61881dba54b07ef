"""The linear-filter engine: exact compiled kernels for scipy's linear filters.

scipy's linear filters (``correlate1d`` and everything built on it: Gaussians of any
derivative order, ``sobel``, ``prewitt``, ``laplace``, the Gaussian Laplacian and
gradient magnitude; and the N-D ``correlate``/``convolve``) on one in-memory block,
bit for bit what scipy gives, several times faster. The halo engine runs them on
halo-extended blocks exactly as it runs scipy's functions. The steps, one module each:

* :mod:`bigimg._linear._cast` — scipy's line extension per boundary mode and its C
  cast of a double into every output dtype (integer wrap-around included);
* :mod:`bigimg._linear._passes` — one 1-D correlation pass in scipy's order of terms
  (symmetric and antisymmetric weights folded as scipy folds them), vectorised along
  contiguous memory and tiled to stay in cache;
* :mod:`bigimg._linear._direct` — the N-D correlation summed tap by tap over whole rows;
* :mod:`bigimg._linear._twins` — the filters with scipy's signatures on a block,
  falling back to scipy where a case is not covered (:func:`covered`).

Owns: the compiled linear-filter block kernels and scipy's rules they reproduce (term
order, symmetry test, boundary extension, output casts).
May import: numpy, scipy, numba only.
"""

from bigimg._linear._twins import (
    convolve,
    convolve1d,
    correlate,
    correlate1d,
    covered,
    derivative_kernel,
    gaussian_filter,
    gaussian_filter1d,
    gaussian_gradient_magnitude,
    gaussian_laplace,
    laplace,
    prewitt,
    sobel,
)

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "covered",
    "derivative_kernel",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "laplace",
    "prewitt",
    "sobel",
]
