"""Large inputs without a region source are spilled to disk and streamed back.

``bigimg.halo-spill-bytes`` is set to 0 here so that small test arrays take the spill
path; the values must equal scipy's for any chunking, and the graph must stay lazy,
small and self-cleaning.
"""

from __future__ import annotations

import gc
import os

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

from bigimg import ndimage
from bigimg._args import FILTER_MODES
from bigimg.testing import odd_chunkings, raise_if_dask_computes, random_volume

SHAPE = (17, 13, 11)


@pytest.fixture
def spill_dir(tmp_path):
    folder = tmp_path / "spill"
    folder.mkdir()
    with dask.config.set({"bigimg.halo-spill-bytes": 0, "temporary-directory": str(folder)}):
        yield folder


def _sourceless(data, chunks):
    """A dask array bigimg cannot regenerate by region (a user's block function)."""
    return da.from_array(data, chunks=chunks).map_blocks(np.copy, dtype=data.dtype)


def _spills(result) -> bool:
    return any(str(k).startswith("halo-spill-barrier") for k in result.__dask_graph__())


@pytest.mark.parametrize("chunking", sorted(odd_chunkings(SHAPE)))
def test_filters_match_scipy_through_the_spill(spill_dir, chunking):
    data = random_volume(SHAPE, np.float32, seed=11)
    x = _sourceless(data, odd_chunkings(SHAPE)[chunking])
    out = ndimage.gaussian_filter(x, 1.7, mode="nearest")
    assert _spills(out) == (chunking != "single")  # one block has no neighbours to wait for
    np.testing.assert_allclose(
        out.compute(), ndi.gaussian_filter(data, 1.7, mode="nearest"), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("mode", [m for m in FILTER_MODES if "wrap" not in m])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64])
def test_every_mode_and_dtype(spill_dir, mode, dtype):
    data = random_volume(SHAPE, dtype, seed=5)
    x = _sourceless(data, (4, 5, 3))
    out = ndimage.median_filter(x, size=(3, 5, 2), mode=mode, cval=7)
    assert _spills(out)
    expected = ndi.median_filter(data, size=(3, 5, 2), mode=mode, cval=7)
    np.testing.assert_array_equal(out.compute(), expected)


def test_chains_spill_once_and_stream_after(spill_dir):
    data = random_volume(SHAPE, np.float32, seed=2)
    x = _sourceless(data, (3, 7, 4))
    smooth = ndimage.uniform_filter(x, 3)
    opened = ndimage.binary_opening(smooth > 0.5 * data.max(), iterations=2)
    writes = [k for k in opened.__dask_graph__() if str(k[0]).startswith("halo-spill-write")]
    assert len(writes) == x.npartitions  # the input is written once, nothing after it
    expected = ndi.binary_opening(ndi.uniform_filter(data, 3) > 0.5 * data.max(), iterations=2)
    np.testing.assert_array_equal(opened.compute(), expected)


def test_periodic_modes_and_small_inputs_keep_the_overlap_path(spill_dir):
    data = random_volume(SHAPE, np.float32, seed=3)
    x = _sourceless(data, 5)
    wrapped = ndimage.uniform_filter(x, 3, mode="wrap")
    assert not _spills(wrapped)
    np.testing.assert_allclose(wrapped.compute(), ndi.uniform_filter(data, 3, mode="wrap"))
    with dask.config.set({"bigimg.halo-spill-bytes": data.nbytes}):
        assert not _spills(ndimage.uniform_filter(x, 3))
    # blocks that are in memory already (from a numpy array, or persisted) stay there
    assert not _spills(ndimage.uniform_filter(da.from_array(data, chunks=5), 3))
    assert not _spills(ndimage.uniform_filter(x.persist(scheduler="sync"), 3))


def test_lazy_small_and_cleaned_up(spill_dir):
    data = random_volume(SHAPE, np.uint16, seed=4)
    x = _sourceless(data, 6)
    with raise_if_dask_computes():
        out = ndimage.maximum_filter(x, size=3)
    assert os.listdir(spill_dir) == []  # building the graph writes nothing
    reads = [v for k, v in out.__dask_graph__().items() if str(k[0]).startswith(out.name)]
    assert max(len(cloudpickle.dumps(task)) for task in reads) < 4096
    np.testing.assert_array_equal(out.compute(), ndi.maximum_filter(data, size=3))
    assert len(os.listdir(spill_dir)) == 1  # the blocks stay for a recompute
    np.testing.assert_array_equal(out.compute(), ndi.maximum_filter(data, size=3))
    del out, reads
    gc.collect()
    assert os.listdir(spill_dir) == []  # ... and go with the graph


def test_a_failing_input_block_raises_and_leaves_no_files(spill_dir):
    def fail_on_last(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 1, 1):
            raise ValueError("input block broken")
        return block

    data = random_volume(SHAPE, np.float32, seed=6)
    x = da.from_array(data, chunks=9).map_blocks(fail_on_last, dtype=data.dtype)
    out = ndimage.uniform_filter(x, 3)

    def error_of(array) -> str:
        # the message only: a kept traceback's frames would keep the graph (and the
        # spill directory it owns) alive
        try:
            array.compute()
        except ValueError as exc:
            return str(exc)
        return ""

    assert "input block broken" in error_of(out)
    del out
    gc.collect()
    assert os.listdir(spill_dir) == []
