"""Whole-volume statistics: exact histograms, quantiles, thresholds and reductions.

Everything that returns numbers (histograms, quantiles, thresholds, granulometry,
radial profiles) **computes** when called, in a few passes over the data, with the
memory of one block per task; everything that returns a volume (``rescale_intensity``,
``block_reduce``) is lazy. Results equal numpy's, scipy's and scikit-image's on the
same data for any chunking (see each function for the rare exceptions).
"""

from bigimg._monitor import shows_progress
from bigimg.stats._exposure import rescale_intensity
from bigimg.stats._granulometry import ball, granulometry, radial_profile
from bigimg.stats._histogram import histogram, image_histogram
from bigimg.stats._quantile import percentile, quantile, scoreatpercentile
from bigimg.stats._reduce import block_reduce, mode_reduce
from bigimg.stats._threshold import (
    threshold_isodata,
    threshold_li,
    threshold_mean,
    threshold_minimum,
    threshold_otsu,
    threshold_triangle,
    threshold_yen,
)

__all__ = [
    "ball",
    "block_reduce",
    "granulometry",
    "histogram",
    "image_histogram",
    "mode_reduce",
    "percentile",
    "quantile",
    "radial_profile",
    "rescale_intensity",
    "scoreatpercentile",
    "threshold_isodata",
    "threshold_li",
    "threshold_mean",
    "threshold_minimum",
    "threshold_otsu",
    "threshold_triangle",
    "threshold_yen",
]

# Everything returning numbers computes when called: it shows progress as the writers
# do (dask config ``bigimg.progress``, else when stderr is a terminal).
for _name in __all__:
    if _name not in ("ball", "block_reduce", "mode_reduce", "rescale_intensity"):  # arrays
        globals()[_name] = shows_progress(globals()[_name])
del _name
