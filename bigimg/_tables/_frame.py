"""Per-label tables as a dask DataFrame partitioned by label range: no table on the client.

:func:`reduce_tables` merges every block's table into one, on the client. At 10⁸–10⁹
labels that table does not fit there, so :func:`label_frame` keeps it on the workers:

1. every block's partial table (:func:`bigimg._tables._reduce.block_table`) becomes a
   pandas frame, one row per label present in the block, array columns flattened;
2. the rows are shuffled by label into partitions of consecutive label ranges (dask's
   own shuffle: tasks on local schedulers, peer-to-peer through each worker's local disk
   on a ``distributed`` cluster, so nothing needs a shared disk);
3. each partition merges the rows of each label (:func:`merge_tables`, the same merge
   as the tree reduction) and turns the merged table into the caller's columns.

Client memory and graph size grow with the numbers of blocks and partitions, not with
the number of labels. The result can be written with ``to_parquet`` (any fsspec URL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np

from bigimg._tables._block import block_table
from bigimg._tables._reduce import make_spec, merge_tables

__all__ = ["label_frame"]

#: dask config key: labels per output partition of :func:`label_frame`.
PARTITION_KEY = "bigimg.table-partition-labels"
DEFAULT_PARTITION_LABELS = 2**18


def _dataframe():
    try:
        import dask.dataframe as dd
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "a lazy table (`as_dask=True`) needs pandas and pyarrow: "
            "`pip install 'bigimg[measure]'`."
        ) from exc
    return dd, pd


def _layout(table: dict) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """Name, per-row shape and dtype of every column of a table (``labels`` first)."""
    return tuple(
        (name, tuple(col.shape[1:]), col.dtype.str)
        for name, col in table.items()
        if not name.startswith("first")
    )


def _to_frame(table: dict, layout) -> Any:
    _, pd = _dataframe()
    cols = {}
    for name, shape, _ in layout:
        col = table[name]
        if not shape:
            cols[name] = col
            continue
        flat = col.reshape(col.shape[0], int(np.prod(shape)))
        for j in range(flat.shape[1]):
            cols[f"{name}/{j}"] = flat[:, j]
    return pd.DataFrame(cols)


def _from_frame(df: Any, layout) -> dict:
    table = {"labels": df.index.to_numpy()}
    for name, shape, dtype in layout[1:]:
        if not shape:
            table[name] = df[name].to_numpy(dtype=dtype)
            continue
        size = int(np.prod(shape))
        parts = [df[f"{name}/{j}"].to_numpy(dtype=dtype) for j in range(size)]
        flat = np.stack(parts, axis=1) if parts else np.zeros((len(df), 0), dtype)
        table[name] = flat.reshape((len(df),) + shape)
    return table


def _block_frame(spec, layout, *blocks, block_id=None):
    return _to_frame(block_table(spec, *blocks, block_id=block_id), layout)


def _finish(df, spec, layout, finish: Callable, finish_kwargs: dict, top=None):
    _, pd = _dataframe()
    merged = merge_tables(spec, [_from_frame(df, layout)])
    if top is not None and merged["labels"].size and merged["labels"][-1] > top:
        raise ValueError(
            f"`label_image` holds label {merged['labels'][-1]}, above `max_label={top}`; "
            "pass the largest label (or leave `max_label` out to have it computed)."
        )
    columns = finish(merged, **finish_kwargs)
    return pd.DataFrame(columns, index=pd.Index(merged["labels"]))


def label_frame(
    x: da.Array | None,
    lab: da.Array,
    spec_kwargs: dict,
    *,
    finish: Callable,
    finish_kwargs: dict,
    top: int | None = None,
) -> Any:
    """A dask DataFrame of ``finish(merged_table, **finish_kwargs)`` per label range.

    ``x`` (values, may be ``None``) and ``lab`` are aligned dask arrays; ``spec_kwargs``
    are :class:`BlockSpec` fields (``mode`` must be ``"labels"``, ``lo >= 1``). ``top``
    is the largest label if known (checked when each partition computes); otherwise it
    is computed (one pass over ``lab``). It fixes the partitions' label ranges: each
    holds at most ``bigimg.table-partition-labels`` labels (dask config, default 2**18).
    ``finish`` runs per partition on a merged table (a dict of columns, sorted by label)
    and returns a dict of 1-D columns; the frame's index is the label.
    """
    dd, pd = _dataframe()
    inputs = ("x" if x is not None else "") + "l"
    arrays = [a for a in (x, lab) if a is not None]
    spec = make_spec(arrays[0], inputs, **spec_kwargs)
    ndim = lab.ndim
    probe = [np.zeros((1,) * ndim, a.dtype) for a in arrays]
    empty = block_table(spec, *probe, block_id=(0,) * ndim)
    layout = _layout(empty)
    meta_out = _finish(
        _to_frame(empty, layout).set_index("labels"), spec, layout, finish, finish_kwargs
    )
    checked = top is not None
    top = int(top) if checked else int(lab.max().compute())
    lowest = max(int(spec.lo), 1)
    if top < lowest:
        return dd.from_pandas(meta_out, npartitions=1)
    per = max(1, int(dask.config.get(PARTITION_KEY, DEFAULT_PARTITION_LABELS)))
    edges = list(range(lowest, top + 1, per))
    divisions = [*edges, top] if edges[-1] != top or len(edges) == 1 else edges
    parts = da.map_blocks(
        _block_frame,
        spec,
        layout,
        *arrays,
        dtype=object,
        meta=np.empty((0,) * ndim, object),
        name=f"label-table-block-{dask.base.tokenize(spec, layout, *arrays)}",
    )
    meta_rows = _to_frame(empty, layout)
    rows = dd.from_delayed(list(parts.to_delayed().ravel()), meta=meta_rows, verify_meta=False)
    by_label = rows.set_index("labels", divisions=divisions)
    return by_label.map_partitions(
        _finish,
        spec,
        layout,
        finish,
        finish_kwargs,
        top if checked else None,
        meta=meta_out,
        align_dataframes=False,
    )
