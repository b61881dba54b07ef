"""scipy's watershed (image foresting transform) on volumes larger than memory.

scipy's algorithm is sequential, so this engine is not chunk-parallel: the blocks are
streamed into one file in the scratch space, one task floods it in scipy's order and
the labels are read back block by block. When the scratch space is an object store
(no disk shared between the workers) each block's records and labels are one object,
and the solve task assembles the state in memory or, over its resident budget
(``bigimg.watershed-resident-bytes``), in a file under its own worker's temporary
directory. Three visible steps, one module each:

* :mod:`bigimg._watershed._kernel` — scipy's ``NI_WatershedIFT`` as a resumable numba
  kernel (marker pass, propagation in bursts), on a C-order or brick layout;
* :mod:`bigimg._watershed._tasks` — the tasks around it: write a block into the
  scratch file, solve (in memory, or in the mapped file under a resident-memory
  budget), read a block of labels back and remove the file after the last one;
* :mod:`bigimg._watershed._graph` — the dask graph write -> solve -> read and the
  entry point :func:`watershed_on_disk`.

Owns: the watershed flood (kernel, scratch-file layout and its tasks, the solve's
resident-memory budget).
May import: numpy, numba, psutil, dask (distributed, optionally) and bigimg._scratch.
"""

from bigimg._watershed._graph import watershed_on_disk

__all__ = ["watershed_on_disk"]
