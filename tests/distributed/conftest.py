"""One real multi-process dask.distributed cluster for the whole directory.

The cluster (2 worker processes with 1 thread each, behind nannies that restart a
killed worker) starts once per test session, so its start-up cost (a few seconds:
starting the processes and importing bigimg in each) is paid once. Its
client is the default scheduler for every test here; a test that wants the local
reference asks for it with ``dask.config.set(scheduler="sync")``.

The input volumes are raw files written once per session and opened with
:func:`bigimg.open_raw`, so every computation on the cluster starts with the
workers reading the file themselves.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import dask
import distributed
import numpy as np
import pytest
from scipy import ndimage as ndi

from bigimg.io import open_raw
from bigimg.testing import blobs, random_volume

#: Small odd volume in chunks of 13: 2 x 2 x 2 blocks of unequal sizes, so every block
#: has face, edge and corner neighbours and the graphs stay small (~100 tasks a filter).
SHAPE = (24, 25, 26)
CHUNKS = 13
N_WORKERS = 2


@pytest.fixture(scope="session")
def cluster():
    with warnings.catch_warnings():
        # without a dashboard the scheduler still serves its health routes, on 8787 if free
        warnings.filterwarnings("ignore", "Port 8787 is already in use", UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            memory_limit="1.5GiB",
            dashboard_address=None,
        )
    with cluster:
        yield cluster


@pytest.fixture(scope="session")
def _session_client(cluster):
    # not the process-wide default: pytest-xdist runs other test files in this process
    # after these, and they must keep the local scheduler (see the `client` fixture)
    with distributed.Client(cluster, set_as_default=False) as client:
        # every worker imports bigimg once, up front, rather than inside the first test
        client.run(__import__, "bigimg.ndimage")
        yield client


@pytest.fixture(autouse=True)
def client(_session_client):
    """The session's client, with all workers up (a test may have killed one).

    It is the default scheduler for the duration of each test in this folder only.
    """
    _session_client.wait_for_workers(N_WORKERS, timeout=180)
    with _session_client.as_current(), dask.config.set(scheduler=_session_client.get):
        yield _session_client


@dataclass(frozen=True)
class Volumes:
    """The session's input volumes, in memory and as raw files opened lazily."""

    folder: str
    data: dict[str, np.ndarray]

    def path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.raw")

    def open(self, name: str, chunks=CHUNKS):
        """``name`` as a dask array whose tasks read the raw file."""
        arr = self.data[name]
        return open_raw(self.path(name), arr.shape, arr.dtype, chunks=chunks)


def _make_volumes() -> dict[str, np.ndarray]:
    mask = blobs(SHAPE, sigma=1.5, fraction=0.35, seed=3)
    smooth = ndi.gaussian_filter(random_volume(SHAPE, np.float32, seed=1), 1.0)
    labels = ndi.label(mask)[0].astype(np.int32)
    return {
        "f32": random_volume(SHAPE, np.float32, seed=0),
        "smooth": smooth,
        "u8": random_volume(SHAPE, np.uint8, seed=2),
        "u16": random_volume(SHAPE, np.uint16, seed=4),
        "mask": mask,
        "labels": labels,
        # a few seeds inside the blobs (for propagation)
        "seeds": mask & (random_volume(SHAPE, np.float32, seed=5) > 250),
        "markers": _markers(labels),
    }


def _markers(labels: np.ndarray) -> np.ndarray:
    """Watershed markers: each object's first voxel carries its label, plus one background."""
    markers = np.zeros(labels.shape, np.int32)
    flat = labels.ravel()
    values, first = np.unique(flat, return_index=True)
    markers.ravel()[first[values > 0]] = values[values > 0]
    markers[0, 0, 0] = markers.max() + 1 if labels[0, 0, 0] == 0 else markers[0, 0, 0]
    return markers


@pytest.fixture(scope="session")
def volumes(tmp_path_factory) -> Volumes:
    folder = str(tmp_path_factory.mktemp("distributed-volumes"))
    data = _make_volumes()
    for name, arr in data.items():
        arr.tofile(os.path.join(folder, f"{name}.raw"))
    return Volumes(folder, data)


def pytest_collection_modifyitems(config, items):
    """Under ``pytest-xdist --dist loadgroup`` the directory runs in one process (one cluster)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.xdist_group("distributed-cluster"))
