"""Distance transforms whose exchanges and chamfer slabs go through the scratch space.

Spilling is forced on small volumes with the ``dask.config`` keys (no monkeypatching):
``bigimg.distance-spill-budgets`` and ``bigimg.distance-spill-min-bytes`` at 0 send
every exchange through scratch, ``bigimg.distance-min-task-voxels`` at 1 makes every
stage one axis and every chamfer slab one plane. The scratch space is a local
directory or a ``memory://`` object-store prefix (one object per exchanged piece, raw
objects for the chamfer slabs). Results equal scipy's, and the prefix is empty after
the compute.
"""

from __future__ import annotations

import gc

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg._distance import _exchange
from bigimg._distance import _kernels as K
from bigimg._scratch import Scratch
from bigimg.ndimage import (
    distance_transform_bf,
    distance_transform_cdt,
    distance_transform_edt,
)
from bigimg.testing import blobs, odd_chunkings
from tests.test_scratch import LOCATIONS, WITH_S3, Peak, scratch_location

SHAPE = (11, 13, 9)
MASK = blobs(SHAPE, sigma=1.5, fraction=0.7, seed=5)
CUSTOM = np.random.default_rng(4).random((3, 3, 3)) > 0.45
SPILL = {"bigimg.distance-spill-budgets": 0, "bigimg.distance-spill-min-bytes": 0}
TINY = {**SPILL, "bigimg.distance-min-task-voxels": 1}


@pytest.fixture(params=LOCATIONS)
def scratch_at(request, tmp_path):
    yield from scratch_location(request.param, tmp_path)


def _spilled(result) -> bool:
    return any("exchange-read" in str(k[0] if isinstance(k, tuple) else k) for k in result.dask)


def test_the_keys_decide(tmp_path):
    x = da.from_array(MASK, chunks=5)
    assert not _spilled(distance_transform_edt(x, temp_dir=tmp_path))  # small: in memory
    with dask.config.set(SPILL):
        assert _spilled(distance_transform_edt(x, temp_dir=tmp_path))
    # a layer of 5 x 13 x 9 float64 voxels is 4,680 bytes
    with dask.config.set({**SPILL, "bigimg.distance-spill-min-bytes": 4680}):
        assert not _spilled(distance_transform_edt(x, temp_dir=tmp_path))
    with dask.config.set({**SPILL, "bigimg.distance-spill-min-bytes": 4679}):
        assert _spilled(distance_transform_edt(x, temp_dir=tmp_path))
    fewer = len(distance_transform_edt(x, temp_dir=tmp_path).dask)
    with dask.config.set({"bigimg.distance-min-task-voxels": 1}):  # more, smaller stages
        assert len(distance_transform_edt(x, temp_dir=tmp_path).dask) > fewer


@pytest.mark.parametrize(
    "scratch_at,chunking,settings",
    [
        *(
            (where, c, s)
            for where in LOCATIONS
            for c in ("halves", "remainder", "irregular", "smaller_than_halo")
            for s in ("spill", "tiny")
        ),
        ("s3", "halves", "spill"),  # every request a round trip: few blocks
    ],
    indirect=["scratch_at"],
)
def test_every_transform_through_scratch(scratch_at, chunking, settings):
    x = da.from_array(MASK, chunks=odd_chunkings(SHAPE)[chunking])
    sampling = (1.5, 0.7, 1.1)
    with dask.config.set({"spill": SPILL, "tiny": TINY}[settings]):
        lazy = [
            *distance_transform_edt(
                x, sampling=sampling, return_indices=True, temp_dir=scratch_at.url
            ),
            distance_transform_edt(x, temp_dir=scratch_at.url),
            distance_transform_cdt(x, metric="taxicab", temp_dir=scratch_at.url),
            *distance_transform_cdt(x, metric=CUSTOM, return_indices=True, temp_dir=scratch_at.url),
            distance_transform_bf(x, "chessboard", temp_dir=scratch_at.url),
        ]
    assert all(_spilled(r) for r in lazy)
    assert scratch_at.contents() == []  # building the graphs writes nothing
    with Peak(scratch_at) as peak:
        got = dask.compute(*lazy, scheduler="sync")
    assert peak.most > 0
    ref = [
        *ndi.distance_transform_edt(MASK, sampling=sampling, return_indices=True),
        ndi.distance_transform_edt(MASK),
        ndi.distance_transform_cdt(MASK, metric="taxicab"),
        *ndi.distance_transform_cdt(MASK, metric=CUSTOM, return_indices=True),
        ndi.distance_transform_bf(MASK, "chessboard"),
    ]
    for g, r, lz in zip(got, ref, lazy, strict=True):
        np.testing.assert_array_equal(g, r)
        assert g.dtype == lz.dtype
    assert scratch_at.contents() == []  # every piece and slab was read and deleted


def test_chamfer_chain_slabs_through_scratch(scratch_at):
    # the exchanges stay in memory; only the forward slabs go to scratch
    x = da.from_array(MASK, chunks=(4, 7, 5))
    with dask.config.set({"bigimg.distance-min-task-voxels": 1}):
        d, i = distance_transform_cdt(
            x, metric=CUSTOM, return_indices=True, temp_dir=scratch_at.url
        )
    assert not _spilled(d)
    with Peak(scratch_at) as peak:
        got_d, got_i = dask.compute(d, i, scheduler="sync", optimize_graph=False)
    ref_d, ref_i = ndi.distance_transform_cdt(MASK, metric=CUSTOM, return_indices=True)
    np.testing.assert_array_equal(got_d, ref_d)
    np.testing.assert_array_equal(got_i, ref_i)
    if scratch_at.url.startswith("memory://"):  # a pair of objects per one-plane slab
        assert peak.most == 2 * SHAPE[0]
    assert scratch_at.contents() == []


@pytest.mark.parametrize("where", ["stage", "scan"])
def test_failure_leaves_nothing(scratch_at, monkeypatch, where):
    name = "edt_envelope_pass" if where == "stage" else "chamfer_pass"
    real, calls = getattr(K, name), []

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:  # once pieces are stored
            raise MemoryError("simulated failure")
        return real(*args)

    x = da.from_array(MASK, chunks=(4, 5, 6))
    with dask.config.set(TINY):
        if where == "stage":
            out = distance_transform_edt(x, temp_dir=scratch_at.url)
        else:
            out = distance_transform_cdt(x, metric=CUSTOM, temp_dir=scratch_at.url)
    monkeypatch.setattr(K, name, failing)
    with pytest.raises(MemoryError, match="simulated"):
        out.compute(scheduler="sync")
    assert scratch_at.contents() == []
    del out
    gc.collect()


@pytest.mark.parametrize("scratch_at", WITH_S3, indirect=True)
def test_object_reader_that_runs_twice_says_so(scratch_at):
    x = da.from_array(np.arange(48.0).reshape(6, 8), chunks=(6, 2))
    spill = Scratch(scratch_at.url)
    y = _exchange.spill_rechunk(x, ((2, 2, 2), (8,)), spill)
    np.testing.assert_array_equal(y.compute(scheduler="sync"), x.compute())
    graph = dict(y.__dask_graph__())
    reader = graph[(y.name, 1, 0)]
    again = {"again": (reader[0], [None]) + tuple(reader[2:])}  # the reader alone
    with pytest.raises(RuntimeError, match="ran twice.*re-run"):
        dask.get(again, "again")
    writers = sorted(k for k in graph if isinstance(k, tuple) and "exchange-write" in k[0])
    dask.get(graph, writers[0])  # one of its four writers runs again
    with pytest.raises(RuntimeError, match="lacks 3 of its 4 pieces"):
        dask.get(again, "again")
    assert scratch_at.contents() == []
