"""Exact line filters: scipy's running minimum, maximum and sum across chunks, NaN included.

scipy computes the separable minimum/maximum filters (box ``minimum_filter``,
``maximum_filter`` and their 1-D forms, grey morphology by a box, rank 0 and -1 of a
box), the uniform filters, and the 1-D rank filters with algorithms that run along
each extended line and keep a state: a queue of candidates, a running sum, a sliding
heap. With NaN (and, for the sums, infinities) in the data, that state carries the
line's history into voxels whose window holds only finite values, and a block computed
on its own halo gives other numbers than scipy on the whole array. This engine gives
scipy's numbers for any chunking while finite data keep the ordinary block kernels:

* ``_replay`` - scipy's running minimum/maximum replayed from a point of known state,
  and how to find one on a line (the sync rules);
* ``_passes`` - a filter as scipy's 1-D passes (:class:`LinePass`), the extension of
  each line by its mode (from scipy itself), one pass run exactly on a box;
* ``_regions`` - reading any box of the input (a region source, in-memory blocks or a
  spill), periodic axes included;
* ``_stage`` - one separable filter on any output region: the fast path (no NaN near:
  the usual block kernel) or the exact passes, reading further back where a line needs;
* ``_prefix`` - the uniform filter's pre-pass: per line, where the running sum first
  meets a non-finite value, for every pass, in scratch;
* ``_build`` - the dask arrays: which input takes which path, and the 1-D rank filters.

Owns: every rule about scipy's line-history (NaN/inf) semantics of the running
filters, and their exact chunked evaluation.
May import: numpy, scipy, numba, dask, :mod:`bigimg._halo` (spilling), :mod:`bigimg._sources`,
:mod:`bigimg._scratch` (never :mod:`bigimg.ndimage` or the morphology engine: block
kernels are passed in).
"""

from bigimg._nonfinite._build import line_filter, needs_exact, rank1d_array, uniform_array
from bigimg._nonfinite._passes import LinePass, ext_index, scipy_passes
from bigimg._nonfinite._regions import input_source
from bigimg._nonfinite._replay import replay_rows, sync_starts
from bigimg._nonfinite._stage import CombineSource, GuardedSource, StageSource, compute_stage

__all__ = [
    "CombineSource",
    "GuardedSource",
    "LinePass",
    "StageSource",
    "compute_stage",
    "ext_index",
    "input_source",
    "line_filter",
    "needs_exact",
    "rank1d_array",
    "replay_rows",
    "scipy_passes",
    "sync_starts",
    "uniform_array",
]
