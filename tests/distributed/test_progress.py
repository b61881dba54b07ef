"""``progress`` on a dask.distributed cluster: a bar over the tasks behind the client's
futures, for the writers and for the calls that compute when called."""

from __future__ import annotations

import time

import dask
import dask.array as da
import numpy as np
import pytest

import bigimg
from bigimg import _monitor, ndimage


def _slow(block):
    time.sleep(0.02)
    return block


@pytest.fixture
def slow_volume(monkeypatch):
    monkeypatch.setattr(_monitor, "CLUSTER_POLL_SECONDS", 0.02)
    rng = np.random.default_rng(1)
    return da.from_array(rng.random((24, 24, 24)), chunks=8).map_blocks(_slow)


def test_label_shows_progress_on_the_cluster(slow_volume, capsys):
    with dask.config.set({"bigimg.progress": True}):
        _, n = ndimage.label(slow_volume > 0.5)
    err = capsys.readouterr().err
    assert "label:" in err and "task" in err
    with dask.config.set(scheduler="sync"):
        assert n == ndimage.label(slow_volume > 0.5)[1]


def test_writer_shows_progress_on_the_cluster(slow_volume, tmp_path, capsys):
    bigimg.save_zarr(slow_volume, tmp_path / "quiet.zarr", progress=False)
    assert "save_zarr" not in capsys.readouterr().err
    path = bigimg.save_zarr(slow_volume, tmp_path / "shown.zarr", progress=True)
    assert "save_zarr:" in capsys.readouterr().err
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(bigimg.open_zarr(path).compute(), slow_volume.compute())
