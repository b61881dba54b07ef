"""Readers on a real multi-process dask.distributed cluster: workers read the files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bigimg.io import open_raw, open_tiff, save_zarr
from bigimg.testing import random_volume

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _pids(block):
    return np.full((1,) * block.ndim, os.getpid(), dtype=np.int64)


def test_workers_read_raw_file_themselves(client, tmp_path):
    data = random_volume((12, 13, 14), np.uint16).astype(">u2")
    path = tmp_path / "v.raw"
    data.tofile(path)
    arr = open_raw(path, data.shape, ">u2", chunks=(3, 13, 7))
    out = client.compute(arr).result()
    assert out.dtype.str == ">u2"
    np.testing.assert_array_equal(out, data)
    pids = arr.map_blocks(_pids, chunks=(1, 1, 1), dtype=np.int64).compute()
    assert os.getpid() not in set(pids.ravel())  # every block was read in a worker process
    assert int(client.compute(arr.sum(dtype=np.int64)).result()) == int(data.sum(dtype=np.int64))


def test_workers_read_tiff_and_write_zarr(client, tmp_path):
    import tifffile

    data = random_volume((6, 7, 8), np.float32)
    tifffile.imwrite(tmp_path / "v.tif", data, photometric="minisblack")
    arr = open_tiff(tmp_path / "v.tif", chunks=(2, 7, 8))
    path = save_zarr(arr * 2, tmp_path / "o.zarr", progress=False)  # runs on the cluster
    import zarr

    np.testing.assert_array_equal(zarr.open_array(path)[...], data * 2)
