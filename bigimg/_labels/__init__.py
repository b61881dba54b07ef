"""Connected-component labelling across dask blocks, exact for any chunking.

Three visible steps, one module each:

* :mod:`bigimg._labels._kernel` — label one block and summarise it;
  relabel a block with its own lookup table (kernel: :mod:`bigimg._labels._runs`);
* :mod:`bigimg._labels._merge` — pair labels touching across block faces, edges and
  corners; union-find and raster-order numbering;
* :mod:`bigimg._labels._engine` — the dask graph around them and the reusable entry
  point :func:`label_across_blocks`.

Owns: connected components across blocks (block labelling, face merges, numbering).
May import: numpy, scipy, numba and dask only.
"""

from bigimg._labels._engine import GlobalLabels, label_across_blocks

__all__ = ["GlobalLabels", "label_across_blocks"]
