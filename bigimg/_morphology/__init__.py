"""The morphology engine: binary, grey and rank kernels and the fixed points across chunks.

The public functions of :mod:`bigimg.ndimage` (``binary_*``, ``grey_*``, the tophats,
``binary_fill_holes``, ``binary_propagation``, and the rank filters for their block
kernel) validate their arguments, find the halo (:mod:`bigimg._halo`, which owns every
structuring-element geometry -> depth rule) and run these steps, one module each:

* :mod:`bigimg._morphology._args` — scipy's arguments as the kernels need them: the
  structure and origins expanded to every axis as scipy does (with the reflection of a
  dilation), the kernel geometry (a box or a list of offsets), and the result dtype
  found by running the scipy twin on one voxel;
* :mod:`bigimg._morphology._kernels` — the in-memory kernels on one halo-extended
  block: iterated binary erosion/dilation with a mask riding in the same bytes, flat
  grey erosion/dilation and their compositions, scipy's kernel where those are not
  exact;
* :mod:`bigimg._morphology._rank` — exact rank filters (median, percentile) of one
  block by selection networks;
* :mod:`bigimg._morphology._propagate` — dilation to a fixed point inside a mask
  (fill holes, propagation, ``iterations < 1``): chooses among the label engine (a
  centred, symmetric one-voxel neighbourhood), rounds of block floods
  (:mod:`bigimg._morphology._reach`: any neighbourhood holding its centre) and
  scipy's loop run pass by pass through scratch space
  (:mod:`bigimg._morphology._iterate`: the rest).

Owns: the morphology block kernels, the rank-filter kernel, scipy's structure/origin
expansion for morphology, and fixed points of dilation across chunks.
May import: numpy, scipy, numba, dask, :mod:`bigimg._args`, :mod:`bigimg._errors`,
:mod:`bigimg._halo`, :mod:`bigimg._labels`, :mod:`bigimg._scratch` (never
:mod:`bigimg.ndimage`).
"""

from bigimg._morphology._args import (
    border_flag,
    full_structure,
    geometry,
    iterations_count,
    output_dtype,
)
from bigimg._morphology._iterate import NeverSettlesError
from bigimg._morphology._kernels import (
    binary_steps,
    erosion_offsets,
    fits_fast_path,
    grey_block,
    grey_flat,
    into,
    pack_with_mask,
    tophat_finish,
)
from bigimg._morphology._propagate import dilation_reach, fill_holes, propagate, until_stable
from bigimg._morphology._rank import rank_filter_block

__all__ = [
    "NeverSettlesError",
    "binary_steps",
    "border_flag",
    "dilation_reach",
    "erosion_offsets",
    "fill_holes",
    "fits_fast_path",
    "full_structure",
    "geometry",
    "grey_block",
    "grey_flat",
    "into",
    "iterations_count",
    "output_dtype",
    "pack_with_mask",
    "propagate",
    "rank_filter_block",
    "tophat_finish",
    "until_stable",
]
