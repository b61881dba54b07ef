"""Connected-component labelling across dask blocks, exact for any chunking.

The steps, one module each:

* :mod:`bigimg._labels._kernel` — label one block and summarise it; relabel a block
  with its own lookup table (kernel: :mod:`bigimg._labels._runs`, reading 64 voxels
  at a time with :mod:`bigimg._labels._bits`);
* :mod:`bigimg._labels._graph` — the per-block summary tasks both merges start from;
* :mod:`bigimg._labels._merge` — pair labels touching across block faces, edges and
  corners (compiled in :mod:`bigimg._labels._pairs`); the client merge: union-find
  and raster-order numbering on the client;
* the tree merge, on the workers: :mod:`bigimg._labels._leaf` (a block's face labels
  and crossings), :mod:`bigimg._labels._tree` (union in a binary tree of block boxes,
  finals and numbers down it), :mod:`bigimg._labels._rank` (scipy's numbering as a
  distributed rank over slabs of blocks), :mod:`bigimg._labels._paint` (each block
  painted from its own plan), :mod:`bigimg._labels._treegraph` (its dask graph);
* :mod:`bigimg._labels._engine` — the reusable entry point
  :func:`label_across_blocks`, choosing the merge (dask config key
  ``bigimg.label-merge``: ``"tree"``, ``"client"``, ``"auto"``).

:mod:`bigimg._labels._structure` checks a connectivity ``structure`` as scipy does
(:func:`validate_label_structure`, shared by ``label`` and ``watershed_ift``).

Owns: connected components across blocks (block labelling, face merges, numbering);
the check of a connectivity structure.
May import: numpy, scipy, numba, dask and bigimg._errors only.
"""

from bigimg._labels._engine import MERGE_KEY, GlobalLabels, label_across_blocks
from bigimg._labels._structure import StructureNotSymmetricError, validate_label_structure

__all__ = [
    "MERGE_KEY",
    "GlobalLabels",
    "StructureNotSymmetricError",
    "label_across_blocks",
    "validate_label_structure",
]
