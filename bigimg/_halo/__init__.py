"""The halo engine: kernel geometry -> halo depth, and blockwise execution with a halo.

Every local (neighbourhood) operation in bigimg runs through :func:`apply_blockwise`.
Each output block is computed by calling an in-memory kernel (normally the
``scipy.ndimage`` twin itself) on the block extended by a halo of its neighbours' data;
the halo is then cut away. The engine guarantees that the kept core is exactly what the
kernel gives on the whole array:

* inside the volume the halo holds the true neighbouring voxels;
* at the volume's outer faces no halo is added (dask ``boundary="none"``), so the
  kernel's own boundary handling (``mode``/``cval``) applies there, exactly as on the
  whole array. Reflections never reach past the extended block because every chunk
  is at least as long as the halo;
* ``wrap``/``grid-wrap`` axes get a periodic halo taken from the opposite face;
* an axis whose halo would span the whole axis is computed as one chunk with no halo;
* chunks shorter than the halo are merged with their neighbours for the computation
  and the result is rechunked back, so callers always get their own chunks back.

Depth 0 on every axis means a plain ``map_blocks``.

**Streaming from a source.** When the input is an array that bigimg can regenerate
region by region (a lazy reader from :mod:`bigimg.io`, or the output of an earlier
halo operation on one, or an element-wise dask expression of those such as a
threshold, see :mod:`bigimg._sources`), each output block is computed by one task that
reads its own halo-extended region straight from that source and runs the whole chain
of kernels on it. No task waits for its neighbours' blocks, so the scheduler never
holds a wavefront of blocks and peak memory stays at a few extended blocks per thread,
whatever the volume size. The price is that halo regions are read (and earlier kernels
in a chain computed) more than once. Periodic (``wrap``) axes use the dask overlap path.

**Spilling.** A large input with no source is written once to scratch block files
and streamed back from them (:mod:`bigimg._halo._spill`).

Owns: every kernel-geometry -> depth rule (``_geometry``: footprints, sizes and
origins, convolution flips, Gaussian radii, impulse responses, per-axis modes and the
periodic-mode mix of the composite filters), blockwise execution (``_blockwise``),
running a ``scipy.ndimage`` twin blockwise (``_twin``), the halo spill (``_spill``).
May import: :mod:`bigimg._args`, :mod:`bigimg._sources`, :mod:`bigimg._scratch`.
"""

from bigimg._halo._blockwise import apply_blockwise
from bigimg._halo._geometry import (
    depth_on,
    footprint_depth,
    footprint_geometry,
    gaussian_reach,
    impulse_reach,
    kernel_depth,
    merge_small_chunks,
    mixes_periodic,
    modes_on,
    uniform_modes,
)
from bigimg._halo._spill import should_spill, spill_source
from bigimg._halo._structures import (
    footprint_pads,
    grey_depth,
    kernel_reach,
    unit_neighbourhood,
)
from bigimg._halo._twin import run_twin

__all__ = [
    "apply_blockwise",
    "depth_on",
    "footprint_depth",
    "footprint_geometry",
    "footprint_pads",
    "gaussian_reach",
    "grey_depth",
    "impulse_reach",
    "kernel_depth",
    "kernel_reach",
    "merge_small_chunks",
    "mixes_periodic",
    "modes_on",
    "run_twin",
    "should_spill",
    "spill_source",
    "uniform_modes",
    "unit_neighbourhood",
]
