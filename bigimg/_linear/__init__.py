"""The linear-filter engine: exact compiled kernels for scipy's linear filters.

scipy's linear filters (``correlate1d`` and everything built on it: Gaussians of any
derivative order, ``sobel``, ``prewitt``, ``laplace``, the Gaussian Laplacian and
gradient magnitude; the N-D ``correlate``/``convolve``; the uniform filters) on one
in-memory block, bit for bit what scipy gives, several times faster. The halo engine
runs them on halo-extended blocks exactly as it runs scipy's functions. The steps, one
module each:

* :mod:`bigimg._linear._cast` — scipy's line extension per boundary mode and its C
  cast of a double into every output dtype (integer wrap-around included);
* :mod:`bigimg._linear._terms` — scipy's order of terms of a 1-D correlation
  (symmetric and antisymmetric weights folded as scipy folds them), four terms at a
  time in a register, over many contiguous lanes at once;
* :mod:`bigimg._linear._passes` — one 1-D correlation pass of a block: tiles of rows
  or blocks of lines copied into ``double`` buffers that stay in cache, summed by
  :mod:`bigimg._linear._terms` and cast into the output;
* :mod:`bigimg._linear._direct` — the N-D correlation summed four taps at a time over
  flat extended planes;
* :mod:`bigimg._linear._uniform` — scipy's running sum of the uniform filters, over
  whole rows (four lines at a time along the last axis);
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
    uniform_filter,
    uniform_filter1d,
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
    "uniform_filter",
    "uniform_filter1d",
]
