"""What one block task of the measurement engine holds (issue 12, §5).

A block task used to widen its whole block's values to 64 bits and make int32 slot
codes for all of it (16 bytes per voxel, 4x an int32 label block), which killed
workers of 500 MB running ``regionprops_table`` with the readers' default 32 MiB
blocks. It now walks the block in slabs of ``SLAB_VOXELS`` voxels; the tables must be
exactly those of one pass over the block. ``benchmarks/bench_task_memory.py``
measures every global operation.
"""

from __future__ import annotations

import tracemalloc

import dask
import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

from bigimg._tables import _block
from bigimg.measure import regionprops_table
from bigimg.ndimage import histogram, label_statistics, median
from bigimg.ndimage._measurements import STATISTICS
from bigimg.testing import blobs, odd_chunkings

SHAPE = (19, 23, 29)
LAB = ndi.label(blobs(SHAPE, sigma=1.2, fraction=0.3, seed=2))[0]
X = np.random.default_rng(3).normal(size=SHAPE).astype(np.float32)
TABLE_PROPS = ("label", "area", "bbox", "centroid", "inertia_tensor", "moments",
               "intensity_mean", "intensity_std", "intensity_min", "intensity_max",
               "centroid_weighted", "moments_weighted_central")  # fmt: skip


def _everything(chunks):
    lab, x = da.from_array(LAB, chunks=chunks), da.from_array(X, chunks=chunks)
    idx = np.arange(0, LAB.max() + 2)
    stats = label_statistics(x, lab, idx, statistics=tuple(STATISTICS))
    with dask.config.set(scheduler="synchronous"):
        out = dict(zip(stats, dask.compute(*stats.values()), strict=True))
        out.update(regionprops_table(lab, x, TABLE_PROPS))
        out["histogram"] = np.stack(histogram(x, -2, 2, 7, lab, idx[1:-1]))
        out["median"] = median(x, lab, idx)
    return out


@pytest.mark.parametrize("slab", [5, 40, 23 * 29 + 5, 2000])
@pytest.mark.parametrize("chunking", ["single", "remainder"])
def test_slabs_give_exactly_the_one_pass_tables(monkeypatch, slab, chunking):
    """Slabs of a run, of part of a row, of rows, of a plane and more: same bits."""
    chunks = odd_chunkings(SHAPE)[chunking]
    whole = _everything(chunks)
    monkeypatch.setattr(_block, "SLAB_VOXELS", slab)
    slabbed = _everything(chunks)
    assert slabbed.keys() == whole.keys()
    for name, value in whole.items():
        np.testing.assert_array_equal(slabbed[name], value, err_msg=name)


def test_sorted_slots_give_the_same_tables(monkeypatch):
    """Labels spanning more than ``DENSE_SPAN`` values are sorted, slab by slab."""
    chunks = odd_chunkings(SHAPE)["remainder"]
    whole = _everything(chunks)
    monkeypatch.setattr(_block, "DENSE_SPAN", 0)
    monkeypatch.setattr(_block, "SLAB_VOXELS", 40)
    sorted_ = _everything(chunks)
    for name, value in whole.items():
        np.testing.assert_array_equal(sorted_[name], value, err_msg=name)


@pytest.mark.parametrize("shape", [(4, 3, 2), (2, 5, 7), (3, 3), (1000,), (5, 1, 9)])
@pytest.mark.parametrize("budget", [1, 6, 10, 35, 10**6])
def test_slab_boxes_tile_the_block_in_c_order(shape, budget):
    boxes = _block.slab_boxes(shape, budget)
    flat = np.concatenate([np.arange(np.prod(shape)).reshape(shape)[b].ravel() for b in boxes])
    np.testing.assert_array_equal(flat, np.arange(np.prod(shape)))  # every voxel once, in order
    assert all(np.prod([s.stop - s.start for s in b]) <= max(budget, shape[-1]) for b in boxes)


def test_a_block_task_holds_a_slab_of_temporaries_not_a_block():
    """One 128³ block (8 MiB of int32 labels, 8 MiB of float32 values): the region
    table's numpy temporaries stay at a slab's worth (they were 24 MiB)."""
    side = 128
    lab = np.zeros((side,) * 3, np.int32)
    lab[8:120, 8:120, 8:120] = 1 + np.arange(side - 16)[:, None, None] // 16
    x = np.random.default_rng(0).random(lab.shape, dtype=np.float32)
    props = ("label", "area", "centroid", "inertia_tensor", "intensity_mean", "intensity_max")
    lab_d, x_d = da.from_array(lab, chunks=side), da.from_array(x, chunks=side)
    with dask.config.set(scheduler="synchronous"):
        regionprops_table(lab_d, x_d, props)  # numba compilation, imports
        tracemalloc.start()
        try:
            table = regionprops_table(lab_d, x_d, props)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert table["area"].tolist() == [16 * 112 * 112] * 7
    slab_bytes = _block.SLAB_VOXELS * (8 + 4)  # float64 values + a copy of the labels
    assert peak < slab_bytes + 2 * 2**20, f"{peak / 2**20:.1f} MiB"
