"""A cluster that looks like a cloud cluster: no disk shared, everything on object storage.

One ``LocalCluster`` of two worker processes for the module (:class:`OwnDisk`
nannies): each worker has a local directory and a temporary directory of its own,
and nothing else on disk. The inputs are zarr stores on the tests' S3 server (moto on
127.0.0.1), the outputs are written there, and so is the scratch space
(``bigimg.scratch = s3://<bucket>/scratch``). Every spill is forced on these small
volumes by the ``bigimg.*`` config keys.

What proves that no local path is shared: a guard in the client and in every worker
(:func:`~tests.distributed._cloud.install_guard`) refuses any local scratch prefix
except under a worker's own temporary directory (``watershed_ift``'s solve task
floods there), and logs every scratch block written; after each test the S3 scratch
prefix, the client's temporary directory and the workers' are empty again.

Each global operation equals scipy (or the single-machine result); the writers
round-trip through S3; a worker killed in the middle of a sharded write or of a
label merge leaves the same result, and an interrupted write is refused by readers
until it is resumed.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import uuid
import warnings

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
import scipy.ndimage as ndi
from distributed import KilledWorker

from bigimg import IncompleteOutputError, measure, ndimage
from bigimg.io import open_zarr, save_ome_zarr, save_zarr
from bigimg.testing import blobs, random_volume
from tests.distributed import _cloud
from tests.distributed._cloud import EventKiller, NoSharedScratch, OwnDisk, done, slowly

SHAPE = (24, 26, 28)
CHUNKS = (13, 11, 15)  # 2 x 3 x 2 blocks, all of different sizes
N_WORKERS = 2
#: Per worker. A worker holds ~250 MiB once bigimg, numba, zarr and s3fs are imported
#: and well under 1 GiB at its peak here; dask pauses a worker at 80 % of its limit.
MEMORY_LIMIT = "2GiB"
#: Spilling forced on small inputs (every key is read on the client, where graphs are
#: built; the watershed budget also by the solve task on its worker).
SPILL = {
    "bigimg.halo-spill-bytes": 0,
    "bigimg.distance-spill-budgets": 0,
    "bigimg.distance-spill-min-bytes": 0,
    "bigimg.watershed-resident-bytes": -1,
}
CUSTOM = np.random.default_rng(4).random((3, 3, 3)) > 0.45  # a chamfer metric


def _data() -> dict[str, np.ndarray]:
    mask = blobs(SHAPE, sigma=1.5, fraction=0.35, seed=3)
    labels = ndi.label(mask)[0].astype(np.int32)
    rng = np.random.default_rng(0)
    relief = (ndi.gaussian_filter(rng.random(SHAPE), 1.5) * 255).astype(np.uint8)
    markers = np.zeros(SHAPE, np.int32)
    markers.flat[rng.choice(markers.size, 12, replace=False)] = np.arange(-1, 11)
    return {
        "mask": mask,
        "labels": labels,
        "smooth": ndi.gaussian_filter(random_volume(SHAPE, np.float32, seed=1), 1.0),
        "relief": relief,
        "markers": markers,
    }


DATA = _data()


@pytest.fixture(scope="module")
def cloud(s3, tmp_path_factory):
    """The cluster, its bucket and the client's settings; inputs written to S3."""
    root = tmp_path_factory.mktemp("cloud")
    client_tmp = root / "client-tmp"
    client_tmp.mkdir()
    (root / "workers").mkdir()
    bucket = s3.new_bucket("bigimg-cloud")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Port 8787 is already in use", UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            memory_limit=MEMORY_LIMIT,
            dashboard_address=None,
            worker_class=OwnDisk,
            disk_root=str(root / "workers"),
            config={"bigimg.watershed-resident-bytes": -1},  # read by the solve task
        )
    settings = {
        **SPILL,
        "bigimg.scratch": f"s3://{bucket}/scratch",
        "bigimg.scratch-options": s3.options,
        "temporary-directory": str(client_tmp),
    }
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        client.register_plugin(NoSharedScratch())
        client.run(__import__, "bigimg.ndimage")
        _cloud.install_guard(None)  # the client makes no local scratch prefix at all
        try:
            with client.as_current(), dask.config.set(settings):
                inputs = {name: f"s3://{bucket}/inputs/{name}.zarr" for name in DATA}
                writes = [
                    save_zarr(
                        arr,
                        inputs[name],
                        chunks=CHUNKS,
                        storage_options=s3.options,
                        progress=False,
                        compute=False,
                    )
                    for name, arr in DATA.items()
                ]
                dask.compute(*writes)
            yield _Cloud(client, s3, bucket, str(client_tmp), inputs, settings)
        finally:
            _cloud.uninstall_guard()


class _Cloud:
    def __init__(self, client, s3, bucket, client_tmp, inputs, settings):
        self.client, self.s3, self.bucket = client, s3, bucket
        self.client_tmp, self.inputs, self.settings = client_tmp, inputs, settings

    def open(self, name: str, chunks=None) -> da.Array:
        """An input, read from S3 by the tasks."""
        arr = open_zarr(self.inputs[name], storage_options=self.s3.options)
        return arr if chunks is None else arr.rechunk(chunks)

    def url(self, name: str) -> str:
        """A fresh output URL."""
        return f"s3://{self.bucket}/outputs/{uuid.uuid4().hex[:8]}-{name}"

    def keys(self, under: str) -> list[str]:
        return [k for k in self.s3.keys(self.bucket) if k.startswith(under)]

    def scratch_log(self) -> list[tuple[str, int, str]]:
        """("made" or "wrote", pid, path) of the client and the workers since the last call."""
        logs = [_cloud.take_log(), *self.client.run(_cloud.take_log).values()]
        return [entry for log in logs for entry in log]

    def scratch_writes(self, log) -> list[str]:
        """The scratch blocks written in ``log``."""
        return [path for what, _, path in log if what == "wrote"]


@pytest.fixture(autouse=True)
def client(cloud):
    """The cloud cluster's client as the scheduler, every spill forced, scratch on S3.

    After each test: the S3 scratch prefix, the client's temporary directory and the
    workers' own temporary directories hold nothing, and no worker paused.
    """
    cloud.client.wait_for_workers(N_WORKERS, timeout=180)
    cloud.scratch_log()  # start with empty logs
    # the current client is dask's scheduler; not dask.config's "scheduler" key: a worker
    # process restarted after a kill is started with the client process's config,
    # which must pickle (a bound Client.get does not)
    with cloud.client.as_current(), dask.config.set(cloud.settings):
        yield cloud.client
    gc.collect()  # the graphs own their scratch prefixes
    assert cloud.keys("scratch/") == []
    assert os.listdir(cloud.client_tmp) == []
    for address, disk in cloud.client.run(_cloud.disks).items():
        left = os.listdir(disk["temporary-directory"])
        assert left == [], f"left in {address}'s temporary directory: {left}"
    for address, log in cloud.client.get_worker_logs().items():
        paused = [line for _, line in log if "Pausing worker" in line]
        assert not paused, f"{address} paused: {paused}"


def test_workers_share_no_disk(cloud):
    disks = list(cloud.client.run(_cloud.disks).values())
    assert len(disks) == N_WORKERS
    roots = []
    for disk in disks:  # <workers>/worker-XXXX/{local,tmp}: one root per worker
        root = os.path.dirname(disk["temporary-directory"])
        assert disk["gettempdir"] == disk["temporary-directory"]
        assert disk["local_directory"].startswith(root + os.sep)
        roots.append(root)
    assert len(set(roots)) == N_WORKERS, f"workers share a directory: {roots}"
    assert not any(r.startswith(cloud.client_tmp) for r in roots)
    assert os.getpid() not in [d["pid"] for d in disks]
    assert [k for k in cloud.s3.keys(cloud.bucket) if k.startswith("inputs/")]


@pytest.mark.parametrize("merge", ["client", "tree"])
@pytest.mark.parametrize("rank", [1, 3], ids=["6-conn", "26-conn"])
def test_label(cloud, rank, merge):
    structure = ndi.generate_binary_structure(3, rank)
    with dask.config.set({"bigimg.label-merge": merge}):
        labels, n = ndimage.label(cloud.open("mask"), structure)
    expected, m = ndi.label(DATA["mask"], structure)
    assert n == m
    np.testing.assert_array_equal(labels.compute(), expected)


def test_measurements(cloud):
    labels, smooth = cloud.open("labels"), cloud.open("smooth")
    index = [1, 2, 5, 9, 400]  # label 400 does not exist
    properties = ("label", "area", "bbox", "centroid", "intensity_mean", "intensity_max")
    sums, centres = dask.compute(
        ndimage.sum_labels(smooth, labels, index), ndimage.center_of_mass(smooth, labels, index)
    )
    table = measure.regionprops_table(labels, smooth, properties=properties)
    with dask.config.set(scheduler="sync"):
        local = measure.regionprops_table(DATA["labels"], DATA["smooth"], properties=properties)
    np.testing.assert_allclose(sums, ndi.sum_labels(DATA["smooth"], DATA["labels"], index))
    with np.errstate(invalid="ignore"):  # nan for label 400
        ref = ndi.center_of_mass(DATA["smooth"], DATA["labels"], index)
    np.testing.assert_allclose(np.asarray(centres), np.asarray(ref), rtol=1e-6)
    assert list(table) == list(local)
    for column in local:
        np.testing.assert_allclose(table[column], local[column], rtol=1e-6, err_msg=column)


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # dask's parquet reader, pandas 3.1
def test_region_table_to_parquet_on_s3(cloud):
    """The lazy table shuffles between workers (no shared disk) and lands in S3."""
    pd = pytest.importorskip("pandas")
    labels, smooth = cloud.open("labels"), cloud.open("smooth")
    properties = ("label", "area", "bbox", "centroid", "intensity_mean", "intensity_max")
    url = f"s3://{cloud.bucket}/tables/regions.parquet"
    per = max(1, int(DATA["labels"].max()) // 4)
    with dask.config.set({"bigimg.table-partition-labels": per}):
        frame = measure.regionprops_table(labels, smooth, properties, as_dask=True)
    assert frame.npartitions >= 4
    frame.to_parquet(url, storage_options=cloud.s3.options)
    back = pd.read_parquet(url, storage_options=cloud.s3.options).sort_index()
    with dask.config.set(scheduler="sync"):
        local = measure.regionprops_table(DATA["labels"], DATA["smooth"], properties=properties)
    assert list(back.columns) == list(local)
    for column in local:
        np.testing.assert_allclose(back[column], local[column], rtol=1e-9, err_msg=column)


def test_binary_fill_holes(cloud):
    got = ndimage.binary_fill_holes(cloud.open("mask")).compute()
    np.testing.assert_array_equal(got, ndi.binary_fill_holes(DATA["mask"]))


def test_distance_transforms(cloud):
    mask = cloud.open("mask")
    sampling = (1.5, 1.0, 0.7)
    d, i = ndimage.distance_transform_edt(mask, sampling=sampling, return_indices=True)
    taxicab = ndimage.distance_transform_cdt(mask, metric="taxicab")
    chamfer = ndimage.distance_transform_cdt(mask, metric=CUSTOM)
    assert cloud.keys("scratch/") == []  # building the graphs writes nothing
    got = dask.compute(d, i, taxicab, chamfer)
    ref = [
        *ndi.distance_transform_edt(DATA["mask"], sampling=sampling, return_indices=True),
        ndi.distance_transform_cdt(DATA["mask"], metric="taxicab"),
        ndi.distance_transform_cdt(DATA["mask"], metric=CUSTOM),
    ]
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g, r)
    writes = cloud.scratch_writes(cloud.scratch_log())
    prefix = f"s3://{cloud.bucket}/scratch/bigimg-"
    assert writes and all(w.startswith(prefix) for w in writes)
    assert {w[len(prefix) :].split("-")[0] for w in writes} == {"exchange", "cdt"}


def test_watershed_ift(cloud):
    got = ndimage.watershed_ift(cloud.open("relief"), cloud.open("markers")).compute()
    np.testing.assert_array_equal(got, ndi.watershed_ift(DATA["relief"], DATA["markers"]))
    log = cloud.scratch_log()
    writes = cloud.scratch_writes(log)
    assert any(w.startswith(f"s3://{cloud.bucket}/scratch/bigimg-watershed-") for w in writes)
    # the solve flooded a mapped file in its own worker's temporary directory (the guard
    # refuses any other local prefix), and the client made none
    local = [(pid, path) for what, pid, path in log if what == "made" and "://" not in path]
    assert len(local) == 1 and "bigimg-watershed-solve-" in local[0][1]
    assert local[0][0] != os.getpid()


def _negated(block: np.ndarray) -> np.ndarray:
    return -block  # a user's function: no region source behind the result (a ufunc keeps one)


def test_spilled_halo_filter(cloud):
    smooth = cloud.open("smooth").map_blocks(_negated, dtype=np.float32)
    out = ndimage.gaussian_filter(smooth, 1.5, mode="nearest")
    assert any(str(k[0]).startswith("halo-spill-write") for k in out.__dask_graph__())
    got = out.compute()
    ref = ndi.gaussian_filter(-DATA["smooth"], 1.5, mode="nearest")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    writes = cloud.scratch_writes(cloud.scratch_log())
    assert writes and all(w.startswith(f"s3://{cloud.bucket}/scratch/bigimg-halo-") for w in writes)


def test_sharded_zarr_round_trip(cloud):
    url = cloud.url("sharded.zarr")
    filtered = ndimage.uniform_filter(cloud.open("smooth"), 3)
    save_zarr(
        filtered,
        url,
        chunks=(6, 13, 14),
        shards=(12, 26, 28),
        storage_options=cloud.s3.options,
        progress=False,
    )
    under = url.split(cloud.bucket + "/")[1]
    assert [k for k in cloud.keys(under) if "/c/" in k] == [f"{under}/c/{i}/0/0" for i in (0, 1)]
    back = open_zarr(url, storage_options=cloud.s3.options)
    assert back.chunks == ((12, 12), (26,), (28,))  # one task per shard
    with dask.config.set(scheduler="sync"):
        expected = ndimage.uniform_filter(da.from_array(DATA["smooth"], chunks=CHUNKS), 3)
        expected = expected.compute()
    np.testing.assert_array_equal(back.compute(), expected)


def test_ome_zarr(cloud):
    url = cloud.url("img.ome.zarr")
    save_ome_zarr(
        cloud.open("smooth"),
        url,
        labels={"cells": cloud.open("labels")},
        chunks=(6, 13, 14),
        shards=(12, 26, 28),
        levels=2,
        storage_options=cloud.s3.options,
        progress=False,
    )
    options = cloud.s3.options
    image = open_zarr(url, storage_options=options)
    np.testing.assert_array_equal(image.compute(), DATA["smooth"])
    cells = open_zarr(url, component="labels/cells", storage_options=options)
    np.testing.assert_array_equal(cells.compute(), DATA["labels"])
    assert open_zarr(url, component="1", storage_options=options).shape == (12, 13, 14)


# --------------------------------------------------------------------------------------
# worker loss (last: each kill restarts a worker, which imports bigimg again)
# --------------------------------------------------------------------------------------
DELAY = 0.15  # seconds per slowed block
SLOW_CHUNKS = (4, 13, 28)  # 6 x 2 blocks; with chunks (4, 13, 14): one shard each


def _assert_mid_run(killer: EventKiller, total: int) -> None:
    assert killer.killed is not None, "the computation ended before a worker was killed"
    done = killer.killed["finished"]
    assert 0 < done < total, f"killed after {done} of {total} blocks: not mid-run"


@pytest.fixture
def no_retries(cloud):
    """The scheduler gives up on a task at the first worker death."""

    def set_allowed(value, dask_scheduler=None):
        old, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, value
        return old

    old = cloud.client.run_on_scheduler(set_allowed, 0)
    yield
    cloud.client.run_on_scheduler(set_allowed, old)


def _slow_filtered(cloud, topic: str) -> tuple[da.Array, np.ndarray]:
    """A filter of a slowed S3 input (spilled to S3 scratch), and its uninterrupted
    result (computed locally)."""
    src = cloud.open("smooth", chunks=SLOW_CHUNKS)
    lazy = ndimage.gaussian_filter(slowly(src, DELAY, topic), 1.5)
    with dask.config.set(scheduler="sync"):
        reference = ndimage.gaussian_filter(da.from_array(DATA["smooth"], chunks=SLOW_CHUNKS), 1.5)
        expected = reference.compute()
    return lazy, expected


def _slow_scaled(cloud, topic: str) -> tuple[da.Array, np.ndarray]:
    """A block-by-block step of a slowed S3 input (each shard is written as soon as
    its block is done), and its result."""
    lazy = slowly(cloud.open("smooth", chunks=SLOW_CHUNKS), DELAY, topic) * 2 + 1
    return lazy, DATA["smooth"] * 2 + 1


def _write(lazy, url, cloud, resume=False):
    return save_zarr(
        lazy,
        url,
        chunks=(4, 13, 14),
        shards=SLOW_CHUNKS,
        resume=resume,
        storage_options=cloud.s3.options,
        progress=False,
    )


def test_sharded_write_completes_after_a_worker_is_killed(cloud):
    topic = f"slow-{uuid.uuid4().hex}"
    lazy, expected = _slow_filtered(cloud, topic)
    url = cloud.url("killed.zarr")
    with EventKiller(cloud.client, topic, after=4) as killer:
        _write(lazy, url, cloud)
    _assert_mid_run(killer, lazy.npartitions)
    back = open_zarr(url, storage_options=cloud.s3.options)
    np.testing.assert_array_equal(back.compute(), expected)


WROTE = r"wrote (\d+) of (\d+) blocks \((\d+) already written\)"


def test_killed_write_is_refused_until_resumed(cloud, no_retries, caplog):
    topic = f"slow-{uuid.uuid4().hex}"
    lazy, expected = _slow_scaled(cloud, topic)
    url = cloud.url("resumed.zarr")
    with EventKiller(cloud.client, topic, after=6) as killer, pytest.raises(KilledWorker):
        _write(lazy, url, cloud, resume=True)
    _assert_mid_run(killer, lazy.npartitions)
    with pytest.raises(IncompleteOutputError, match="resume=True"):
        open_zarr(url, storage_options=cloud.s3.options)
    cloud.client.wait_for_workers(N_WORKERS, timeout=180)
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        _write(lazy, url, cloud, resume=True)
    wrote, total, skipped = map(int, re.search(WROTE, caplog.text).groups())
    assert total == lazy.npartitions and wrote + skipped == total
    assert 0 < skipped <= killer.killed["finished"]  # only the missing shards were written
    back = open_zarr(url, storage_options=cloud.s3.options)
    np.testing.assert_array_equal(back.compute(), expected)


def test_label_merge_survives_a_killed_worker(cloud):
    """The kill lands in the tree merge on the workers: some of its union tasks done,
    others waiting for blocks still being read. The count and labels equal scipy's."""
    topic = f"slow-{uuid.uuid4().hex}"
    mask = slowly(cloud.open("mask", chunks=SLOW_CHUNKS), DELAY, topic)
    with (
        dask.config.set({"bigimg.label-merge": "tree"}),
        EventKiller(
            cloud.client, topic, after=1, watch="label-", until=lambda s: done(s, "label-up")
        ) as killer,
    ):
        labels, n = ndimage.label(mask)
    _assert_mid_run(killer, mask.npartitions)
    ups = killer.killed["tasks"]["label-up"]
    assert 0 < done(killer.killed["tasks"], "label-up") < sum(ups.values()), ups
    expected, m = ndi.label(DATA["mask"])
    assert n == m
    np.testing.assert_array_equal(labels.compute(), expected)
