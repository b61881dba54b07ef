"""What the client sends to the cluster pickles cheaply: no volumes, no big tables.

The graphs are pickled the way distributed ships them (cloudpickle) with a pickler
that records every numpy array it meets, so an array embedded anywhere (a task's
arguments, a partial, a reader's attributes) is seen. These tests need no cluster.
"""

from __future__ import annotations

import io as _io

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytest

from bigimg import io, measure, ndimage
from bigimg.testing import raise_if_dask_computes, random_volume

KERNEL_BYTES = 4096  # the largest thing a graph may embed: a filter's kernel or structure


class _ArrayCountingPickler(cloudpickle.CloudPickler):
    def __init__(self, file):
        super().__init__(file, protocol=5)
        self.arrays: list[int] = []

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            self.arrays.append(obj.nbytes)
        return super().reducer_override(obj)


def pickled(collection) -> tuple[int, int, list[int]]:
    """(number of tasks, pickled bytes, nbytes of each embedded numpy array)."""
    graph = dict(collection.__dask_graph__())
    buf = _io.BytesIO()
    pickler = _ArrayCountingPickler(buf)
    pickler.dump(graph)
    return len(graph), buf.tell(), pickler.arrays


def test_the_array_counter_sees_embedded_arrays():
    """The check below would catch a volume in a graph (here: a numpy input)."""
    _, size, arrays = pickled(ndimage.gaussian_filter(da.from_array(np.zeros((32,) * 3)), 1))
    assert max(arrays) == 32**3 * 8 and size > 32**3 * 8


def _sparse_raw(path, n: int) -> str:
    with open(path, "wb") as f:
        f.truncate(n**3 * 2)  # no data written: the test only builds graphs
    return str(path)


@pytest.fixture(scope="module")
def pipeline_512(tmp_path_factory):
    """A 512^3 uint16 raw volume in 128^3 blocks through a typical lazy pipeline."""
    folder = tmp_path_factory.mktemp("graph-512")
    x = io.open_raw(_sparse_raw(folder / "big.raw", 512), (512,) * 3, np.uint16, chunks=128)
    with raise_if_dask_computes():
        smooth = ndimage.gaussian_filter(x, 2.0)
        edges = ndimage.uniform_filter(ndimage.sobel(smooth, axis=0), 5)
        mask = ndimage.binary_opening(edges > ndimage.median_filter(smooth, size=3))
        distance = ndimage.distance_transform_edt(mask, sampling=(2.0, 1.0, 1.0))
        small = ndimage.zoom(distance, 0.5, order=1)
        write = io.save_zarr(distance, folder / "out.zarr", progress=False, compute=False)
    return {"distance": distance, "zoom": small, "save_zarr": write}


@pytest.mark.parametrize("stage", ["distance", "zoom", "save_zarr"])
def test_512_pipeline_graph_is_small(pipeline_512, stage):
    tasks, size, arrays = pickled(pipeline_512[stage])
    assert max(arrays, default=0) <= KERNEL_BYTES, f"embedded arrays of {sorted(arrays)[-3:]} B"
    # writes name their target and completion-record tasks by key (resumable, URL-safe
    # writers): a few key strings more per write task than da.store's 500-byte budget
    assert size / tasks < 600, f"{size / tasks:.0f} bytes per task ({tasks} tasks)"
    assert size < 4 * 2**20, f"{size / 2**20:.1f} MiB graph"


def _speckles(tmp_path_factory, n: int, chunks: int):
    """An n^3 mask of ~27% random voxels (thousands of tiny objects) as a raw file."""
    mask = random_volume((n,) * 3, np.float32, seed=3) > 60
    path = tmp_path_factory.mktemp("graph-labels") / "mask.raw"
    mask.tofile(path)
    return io.open_raw(path, mask.shape, bool, chunks=chunks)


def test_label_ships_each_block_only_its_own_table(tmp_path_factory):
    """Per-block lookup tables only: no task carries the whole label table."""
    mask = _speckles(tmp_path_factory, 48, 12)  # 64 blocks, ~8,000 objects
    with dask.config.set(scheduler="sync"):  # the graph is what matters, not where it runs
        labels, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 1))
        cleaned = measure.remove_small_objects(labels, max_size=2)
    assert n > 5000
    full_table = n * labels.dtype.itemsize
    for result in (labels, cleaned):
        _, _, arrays = pickled(result)
        assert max(arrays) < full_table / 20, f"{max(arrays)} B for a {full_table} B table"
        assert sum(arrays) < 2 * full_table


@pytest.mark.parametrize(
    "global_op",
    [ndimage.binary_fill_holes, lambda m: ndimage.binary_propagation(m[::-1], mask=m)],
    ids=["binary_fill_holes", "binary_propagation"],
)
def test_global_morphology_graphs_hold_no_tables(tmp_path_factory, global_op):
    mask = _speckles(tmp_path_factory, 24, 12)  # ~1,000 objects: a table would be > 4 KiB
    with dask.config.set(scheduler="sync"):
        result = global_op(mask)
    _, _, arrays = pickled(result)
    assert max(arrays, default=0) <= KERNEL_BYTES
