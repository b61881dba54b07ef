"""A worker process killed (SIGKILL) in the middle of a computation.

dask reschedules the killed worker's tasks and recomputes the results it held; the
nanny starts a fresh worker. Because bigimg's tasks are pure and idempotent (a block
read, filtered or written twice gives the same bytes), the run completes with exactly
the reference result, and the writers leave only the finished output.

A task that was running on a killed worker counts as "suspicious"; the scheduler gives
up on it after ``distributed.scheduler.allowed-failures`` (default 3) such deaths and
the computation raises ``KilledWorker``. Then the writers delete their partial output.

Each test holds every block up a little (:func:`slowly`) so that the kill lands while
some tasks are finished and others are not; the killer asserts that it did.
"""

from __future__ import annotations

import os
import time

import dask
import distributed
import numpy as np
import pytest
import scipy.ndimage as ndi
from distributed import KilledWorker

from bigimg import io, ndimage
from tests.distributed._cluster import WorkerKiller, slowly

BLOCKS = (6, 13, 13)  # 4 x 2 x 2 = 16 blocks


@pytest.fixture(autouse=True)
def client():
    """A fresh 2-process cluster per test: a test here kills one of its workers.

    (Replaces the folder's shared cluster, whose other tests must not depend on a
    killed worker coming back.)
    """
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="1.5GiB",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as fresh,
    ):
        fresh.wait_for_workers(2, timeout=120)
        with fresh.as_current(), dask.config.set(scheduler=fresh.get):
            yield fresh


DELAY = 0.15  # seconds per block: ~1.2 s of work per worker


def _fail_first_block(block: np.ndarray, seconds: float, block_info=None) -> np.ndarray:
    if block_info[0]["chunk-location"] == (0,) * block.ndim:
        raise ValueError("this block cannot be computed")
    time.sleep(seconds)
    return block


@pytest.mark.parametrize("writer", [io.save_zarr, io.save_raw], ids=["zarr", "raw"])
def test_failing_task_leaves_nothing_behind(client, volumes, tmp_path, writer):
    """A task fails while the other worker is still writing: once the error reaches the
    caller, nothing is written any more, and the partial output is gone."""
    src = volumes.open("f32", chunks=(12, 25, 13))  # 4 blocks: 1 fails, 3 take a while
    bad = src.map_blocks(_fail_first_block, 4 * DELAY, dtype=src.dtype)
    with pytest.raises(ValueError, match="cannot be computed"):
        writer(bad, tmp_path / "out", progress=False)
    assert os.listdir(tmp_path) == [], "partial output left right after the error"
    time.sleep(6 * DELAY)  # longer than the other blocks take
    assert os.listdir(tmp_path) == [], f"written after the error: {os.listdir(tmp_path)}"


def _assert_mid_run(killer: WorkerKiller, total: int) -> None:
    assert killer.killed is not None, "the computation ended before a worker was killed"
    done = killer.killed["finished"]
    assert 0 < done < total, f"killed after {done} of {total} blocks: not mid-run"


def test_save_zarr_completes_after_a_worker_is_killed(client, volumes, tmp_path):
    src = volumes.open("f32", chunks=BLOCKS)
    filtered = ndimage.gaussian_filter(slowly(src, DELAY, tmp_path / "log"), 1.5)
    with dask.config.set(scheduler="sync"):
        expected = ndimage.gaussian_filter(src, 1.5).compute()

    out = tmp_path / "out"
    out.mkdir()
    with WorkerKiller(client, tmp_path / "log", after=4) as killer:
        path = io.save_zarr(filtered, out / "v.zarr", chunks=BLOCKS, progress=False)
    _assert_mid_run(killer, src.npartitions)

    assert os.listdir(out) == ["v.zarr"]  # no partial store left next to it
    back = io.open_zarr(path)  # a reader accepts it: complete, unmarked
    assert back.dtype == expected.dtype
    np.testing.assert_array_equal(back.compute(), expected)


def test_label_completes_after_a_worker_is_killed(client, volumes, tmp_path):
    """The kill lands in label's eager step (block summaries); the count and labels hold."""
    mask = slowly(volumes.open("mask", chunks=BLOCKS), DELAY, tmp_path / "log")
    with WorkerKiller(client, tmp_path / "log", after=4) as killer:
        labels, n = ndimage.label(mask)
    _assert_mid_run(killer, mask.npartitions)
    expected, m = ndi.label(volumes.data["mask"])
    assert n == m
    np.testing.assert_array_equal(labels.compute(), expected)


@pytest.fixture
def no_retries(client):
    """The running scheduler gives up on a task at the first worker death."""

    def set_allowed(value, dask_scheduler=None):
        old, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, value
        return old

    old = client.run_on_scheduler(set_allowed, 0)
    yield
    client.run_on_scheduler(set_allowed, old)


def test_failed_write_leaves_nothing_behind(client, volumes, tmp_path, no_retries):
    src = volumes.open("f32", chunks=BLOCKS)
    filtered = ndimage.gaussian_filter(slowly(src, DELAY, tmp_path / "log"), 1.5)
    out = tmp_path / "out"
    out.mkdir()
    with WorkerKiller(client, tmp_path / "log", after=4) as killer, pytest.raises(KilledWorker):
        io.save_zarr(filtered, out / "v.zarr", chunks=BLOCKS, progress=False)
    _assert_mid_run(killer, src.npartitions)
    # tasks still running on the surviving worker must not recreate the partial store
    time.sleep(4 * DELAY)
    assert os.listdir(out) == [], f"left behind after the failed write: {os.listdir(out)}"
