"""Per-label tables and whole-volume statistics from one tree reduction, any chunking.

Every per-label measurement (scipy's ``sum_labels`` ... ``find_objects``, region
tables, clean-up) and every global statistics pass (histograms, thresholds, quantiles)
is a small result per block merged in a tree of tasks. The steps, one module each:

* :mod:`bigimg._tables._args` — scipy's ``labels``/``index`` rules: which regions to
  measure, validated before any graph is built;
* :mod:`bigimg._tables._kernels` — numba passes over one block that fill a table;
* :mod:`bigimg._tables._block` — the table of one block (label slots, columns), the
  block walked in slabs so that a task's temporaries stay at a slab's worth;
* :mod:`bigimg._tables._reduce` — the merge of tables; :func:`reduce_tables`;
* :mod:`bigimg._tables._tree` — the one tree reduction (:func:`tree_reduce`) and
  statistics passes built on it (:func:`tree_pass`);
* :mod:`bigimg._tables._extract` — scipy's answers read off a merged table;
* :mod:`bigimg._tables._objects` — bounding boxes and per-label histograms, the
  structures of ``find_objects`` and ``histogram``;
* :mod:`bigimg._tables._keys` — the one order-key mapping of any real dtype, and the
  min/max pass that bounds it;
* :mod:`bigimg._tables._select` — the one selection of order statistics (per-label
  ``median``, whole-volume ranks) by gathering and bucketing passes;
* :mod:`bigimg._tables._frame` — the same tables as a dask DataFrame partitioned by
  label range (:func:`label_frame`), for tables too large for the client;
* :mod:`bigimg._tables._gather` — ``labeled_comprehension`` and ``value_indices``:
  every value of a label brought into one task.

The public twins (signatures, docstrings, argument checks) are in
:mod:`bigimg.ndimage`; they call :func:`regions` to validate and then the engine
functions here (:func:`extract`, :func:`region_median`, :func:`comprehension`, ...).

Owns: per-block tables and their tree reduction, order keys, order-statistic
selection, per-label gathers.
May import: numpy, numba and dask (pandas and dask.dataframe in `_frame`, when a lazy
table is asked for), and :mod:`bigimg._args`.
"""

from bigimg._tables._args import Regions, regions
from bigimg._tables._block import BlockSpec
from bigimg._tables._extract import extract, measure_table
from bigimg._tables._frame import label_frame
from bigimg._tables._gather import comprehension, gather_apply, value_positions
from bigimg._tables._keys import FLOAT_SIZES, from_keys, min_max, min_max_pass, to_keys
from bigimg._tables._objects import bounding_slices, region_histograms
from bigimg._tables._reduce import (
    LazyTable,
    align,
    make_spec,
    merge_tables,
    reduce_tables,
    shift_moments,
)
from bigimg._tables._select import order_statistics, region_median
from bigimg._tables._tree import add_merge, run_passes, tree_pass, tree_reduce

__all__ = [
    "FLOAT_SIZES",
    "BlockSpec",
    "LazyTable",
    "Regions",
    "add_merge",
    "align",
    "bounding_slices",
    "comprehension",
    "extract",
    "from_keys",
    "gather_apply",
    "label_frame",
    "make_spec",
    "measure_table",
    "merge_tables",
    "min_max",
    "min_max_pass",
    "order_statistics",
    "reduce_tables",
    "region_histograms",
    "region_median",
    "regions",
    "run_passes",
    "shift_moments",
    "to_keys",
    "tree_pass",
    "tree_reduce",
    "value_positions",
]
