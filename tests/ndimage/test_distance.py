"""Distance transforms against scipy.ndimage on the whole array, for every chunking."""

from __future__ import annotations

import doctest
import gc
import math
import os
import pickle

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from dask.callbacks import Callback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg._distance import _chain as _distance_chain
from bigimg._distance import _exchange as _distance_spill
from bigimg._distance import _graph as _distance_graph
from bigimg._distance import _kernels as _distance_kernels
from bigimg._errors import ArgumentError
from bigimg._scratch import Scratch
from bigimg.ndimage import _distance
from bigimg.ndimage._distance import (
    distance_transform_bf,
    distance_transform_cdt,
    distance_transform_edt,
)
from bigimg.testing import (
    assert_dask_matches,
    blobs,
    raise_if_dask_computes,
    shapes_and_chunkings,
)
from tests.conftest import SHAPE

RNG = np.random.default_rng(7)
#: blobs: distances larger than the smallest chunks, and a third of the foreground is
#: equally near several background voxels (ties); random: sparse background, many ties
MASKS = {
    "blobs": blobs(SHAPE, sigma=2.0, fraction=0.7, seed=3),
    "random": RNG.random(SHAPE) > 0.12,
}
SAMPLING = (1.5, 0.7, 1.1)
#: an asymmetric custom structure, and the diagonal-only one with which scipy's two
#: scans leave reachable voxels at -1 (an iterate-to-convergence scheme would differ)
CUSTOM = RNG.random((3, 3, 3)) > 0.5
DIAGONAL_2D = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], bool)
SMALL = (9, 11, 13)


@pytest.fixture
def tiny_tasks(monkeypatch):
    """Task budget of one voxel: every stage is one axis, slabs are one plane."""
    monkeypatch.setattr(_distance_graph, "MIN_TASK_VOXELS", 1)


@pytest.fixture
def spill_always(monkeypatch):
    """Every exchange between stages goes through disk, whatever the array's size."""
    monkeypatch.setattr(_distance_spill, "SPILL_BUDGETS", 0)
    monkeypatch.setattr(_distance_spill, "SPILL_MIN_BYTES", 0)


def _spilled(result) -> bool:
    return any("exchange-read" in str(k[0] if isinstance(k, tuple) else k) for k in result.dask)


def _nearest_check(mask, ind, dist_of):
    """Every index is a background voxel at the minimal distance."""
    grid = np.indices(mask.shape)
    assert not mask[tuple(ind)].any(), "an index points at a foreground voxel"
    bg = np.argwhere(~mask)
    best = np.min([dist_of(grid - b.reshape((-1,) + (1,) * mask.ndim)) for b in bg], axis=0)
    np.testing.assert_array_equal(dist_of(grid - ind), best)


# ------------------------------------------------------------------------------------
# distance_transform_edt
# ------------------------------------------------------------------------------------
def test_edt_matches_scipy(chunks):
    a = MASKS["blobs"]
    x = da.from_array(a, chunks=chunks)
    d = distance_transform_edt(x)
    ds, i = distance_transform_edt(x, sampling=SAMPLING, return_indices=True)
    assert d.chunks == x.chunks and ds.chunks == x.chunks
    assert i.chunks == ((3,),) + x.chunks
    d, ds, i = dask.compute(d, ds, i, scheduler="sync")
    ref_ds, ref_i = ndi.distance_transform_edt(a, sampling=SAMPLING, return_indices=True)
    # unit sampling: bit-identical; indices: scipy's tie-breaking; distances from them too
    np.testing.assert_array_equal(d, ndi.distance_transform_edt(a))
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(ds, ref_ds)
    assert d.dtype == np.float64 and i.dtype == np.int32


def test_edt_ties_follow_scipy():
    # background on a lattice: most voxels are equally near several background voxels
    a = np.ones((12, 14, 16), bool)
    a[::4, ::4, ::4] = False
    a[1, 6, 9] = False
    ref_d, ref_i = ndi.distance_transform_edt(a, return_indices=True)
    grid = np.indices(a.shape).reshape(3, -1)
    bg = np.argwhere(~a)
    d2 = ((grid[:, :, None] - bg.T[:, None, :]) ** 2).sum(axis=0)
    ties = ((d2 == d2.min(axis=1, keepdims=True)).sum(axis=1) > 1).sum()
    assert ties > a.size // 3  # the test really exercises ties
    for chunks in [(5, 3, 7), (12, 1, 16), (1, 14, 2)]:
        d, i = distance_transform_edt(da.from_array(a, chunks=chunks), return_indices=True)
        np.testing.assert_array_equal(i.compute(), ref_i)
        np.testing.assert_array_equal(d.compute(), ref_d)


@pytest.mark.parametrize(
    "shape,chunks",
    [((40,), (7,)), ((40,), (1,)), ((13, 31), (4, 9)), ((13, 31), (13, 1)), ((5, 6, 4, 7), 2)],
)
@pytest.mark.parametrize("sampling", [None, 0.6, "per-axis"])
def test_edt_ranks(shape, chunks, sampling, tiny_tasks):
    a = np.random.default_rng(len(shape)).random(shape) > 0.2
    if sampling == "per-axis":
        sampling = tuple(0.5 + 0.3 * k for k in range(len(shape)))
    x = da.from_array(a, chunks=chunks)
    ref_d, ref_i = ndi.distance_transform_edt(a, sampling=sampling, return_indices=True)
    d, i, d_only = dask.compute(
        *distance_transform_edt(x, sampling=sampling, return_indices=True),
        distance_transform_edt(x, sampling=sampling),
        scheduler="sync",
    )
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
    np.testing.assert_allclose(d_only, ref_d, rtol=1e-14, atol=0)


@pytest.mark.parametrize("sampling", [None, (2.0, 0.5, 1.0)])
def test_edt_without_background(sampling):
    a = np.ones((6, 7, 5), np.uint8)
    x = da.from_array(a, chunks=(2, 3, 5))
    ref_d, ref_i = ndi.distance_transform_edt(a, sampling=sampling, return_indices=True)
    assert (ref_i[0] == -1).all()  # scipy's convention, reproduced below
    d, i = distance_transform_edt(x, sampling=sampling, return_indices=True)
    assert_dask_matches(d, ref_d, rtol=0)
    assert_dask_matches(i, ref_i)
    assert_dask_matches(distance_transform_edt(x, sampling=sampling), ref_d, rtol=1e-15)


def test_edt_all_background_empty_and_0d():
    z = np.zeros((5, 6), np.float32)
    d, i = distance_transform_edt(da.from_array(z, chunks=2), return_indices=True)
    assert_dask_matches(d, np.zeros((5, 6)))
    assert_dask_matches(i, np.indices((5, 6), dtype=np.int32))
    e = np.ones((3, 0, 2))
    d, i = distance_transform_edt(e, return_indices=True)
    assert d.shape == (3, 0, 2) and i.shape == (3, 3, 0, 2)
    for v in (0, 1):
        ref_d, ref_i = ndi.distance_transform_edt(np.array(v), return_indices=True)
        d, i = distance_transform_edt(np.array(v), return_indices=True)
        assert_dask_matches(d, ref_d)
        assert_dask_matches(i, ref_i)


def test_edt_input_kinds():
    a = np.where(MASKS["random"][:6, :7, :8], 2.5, 0.0)
    a[0, 0, 0] = np.nan  # nan is non-zero: foreground, as in scipy
    ref = ndi.distance_transform_edt(a)
    assert_dask_matches(distance_transform_edt(a), ref, rtol=0)
    assert_dask_matches(distance_transform_edt(a.tolist()), ref, rtol=0)
    ind = distance_transform_edt(
        da.from_array(a, chunks=3), return_distances=False, return_indices=True
    )
    assert_dask_matches(
        ind, ndi.distance_transform_edt(a, return_indices=True, return_distances=False)
    )


# ------------------------------------------------------------------------------------
# distance_transform_edt, exchanges through disk
# ------------------------------------------------------------------------------------
def test_edt_spilled_matches_scipy(chunks, spill_always, tmp_path):
    # (distances without indices, a separate pipeline, in test_edt_spilled_ranks)
    a = MASKS["blobs"]
    x = da.from_array(a, chunks=chunks)
    d, i = distance_transform_edt(x, sampling=SAMPLING, return_indices=True, temp_dir=tmp_path)
    assert _spilled(i) == (x.numblocks != (1, 1, 1))
    assert d.chunks == x.chunks and i.chunks == ((3,),) + x.chunks
    d, i = dask.compute(d, i, scheduler="threads")
    ref_d, ref_i = ndi.distance_transform_edt(a, sampling=SAMPLING, return_indices=True)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
    assert list(tmp_path.iterdir()) == []  # every file was read and deleted


@pytest.mark.parametrize(
    "shape,chunks",
    [
        ((13, 31), (4, 9)),
        ((13, 31), (13, 1)),
        ((5, 6, 4, 7), 2),
        ((7, 9, 11), (3, 2, 4)),
    ],
    ids=str,
)
def test_edt_spilled_ranks(shape, chunks, tiny_tasks, spill_always, tmp_path):
    # one axis per stage: several exchanges, the feature state growing along the way
    a = np.random.default_rng(len(shape)).random(shape) > 0.2
    sampling = tuple(0.5 + 0.3 * k for k in range(len(shape)))
    x = da.from_array(a, chunks=chunks)
    lazy = distance_transform_edt(x, sampling=sampling, return_indices=True, temp_dir=tmp_path)
    unit = distance_transform_edt(x, temp_dir=tmp_path)
    assert _spilled(lazy[1]) and _spilled(unit)
    d, i, d_unit = dask.compute(*lazy, unit, scheduler="sync")
    ref_d, ref_i = ndi.distance_transform_edt(a, sampling=sampling, return_indices=True)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
    np.testing.assert_array_equal(d_unit, ndi.distance_transform_edt(a))
    assert list(tmp_path.iterdir()) == []


def test_spilled_cdt_and_bf(spill_always, tmp_path):
    # the separable paths, and the scan's exchanges between chunks and slabs
    a = MASKS["random"][:, :, :11]
    x = da.from_array(a, chunks=(5, 4, 3))
    lazy = [
        distance_transform_cdt(x, metric="taxicab", temp_dir=tmp_path),
        distance_transform_cdt(x, temp_dir=tmp_path),
        *distance_transform_cdt(x, metric=CUSTOM, return_indices=True, temp_dir=tmp_path),
        *distance_transform_bf(x, "taxicab", return_indices=True, temp_dir=tmp_path),
        distance_transform_bf(x, return_indices=True, temp_dir=tmp_path)[1],
    ]
    assert all(_spilled(r) for r in lazy)
    got = dask.compute(*lazy, scheduler="threads")
    want = [
        ndi.distance_transform_cdt(a, metric="taxicab"),
        ndi.distance_transform_cdt(a),
        *ndi.distance_transform_cdt(a, metric=CUSTOM, return_indices=True),
        *ndi.distance_transform_bf(a, "taxicab", return_indices=True),
        ndi.distance_transform_bf(a, return_indices=True)[1],
    ]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    assert list(tmp_path.iterdir()) == []
    # the scan writes only the results asked for (files nobody reads would stay)
    only_d = distance_transform_cdt(x, metric=CUSTOM, temp_dir=tmp_path)
    only_i = distance_transform_cdt(
        x, metric=CUSTOM, return_distances=False, return_indices=True, temp_dir=tmp_path
    )
    for result, ref in ((only_d, want[2]), (only_i, want[3])):
        np.testing.assert_array_equal(result.compute(scheduler="sync"), ref)
        assert list(tmp_path.iterdir()) == []
    # chunks of whole planes are the scan's slabs already: nothing to exchange
    planes = da.from_array(a, chunks=(2,) + a.shape[1:])
    d, i = distance_transform_cdt(planes, metric=CUSTOM, return_indices=True, temp_dir=tmp_path)
    assert not _spilled(d) and not _spilled(i)
    np.testing.assert_array_equal(i.compute(scheduler="sync"), want[3])


def test_spill_files_are_bounded_by_layers(spill_always, tiny_tasks, tmp_path):
    # 6 layers of input chunks along axis 0: the layers are chained, so the files never
    # hold the float64 state of the whole volume (2 bytes per voxel of axis-0 indices
    # for the whole volume, plus about two layers of float64)
    a = np.random.default_rng(2).random((24, 16, 20)) > 0.05
    x = da.from_array(a, chunks=(4, 8, 10))
    d = distance_transform_edt(x, temp_dir=tmp_path)
    on_disk = []

    class Disk(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            on_disk.append(sum(f.stat().st_size for f in tmp_path.rglob("*.bin")))

    with Disk():
        got = d.compute(scheduler="sync")
    np.testing.assert_array_equal(got, ndi.distance_transform_edt(a))
    layer = 4 * 16 * 20
    assert 0 < max(on_disk) <= a.size * 2 + 3 * layer * 8 < a.size * 8


@pytest.mark.parametrize("where", ["stage", "reader"])
def test_spill_files_are_removed_on_error(where, spill_always, tmp_path, monkeypatch):
    if where == "stage":
        real, calls = _distance_kernels.edt_envelope_pass, []

        def failing(*args):
            calls.append(1)
            if len(calls) == 3:  # once files are on disk
                raise MemoryError("simulated failure in a stage")
            return real(*args)

        monkeypatch.setattr(_distance_graph.K, "edt_envelope_pass", failing)
    else:

        def failing(path):
            raise OSError(f"simulated failure deleting {path}")

        monkeypatch.setattr(_distance_spill.os, "remove", failing)
    x = da.from_array(MASKS["blobs"], chunks=(5, 8, 9))
    d = distance_transform_edt(x, temp_dir=tmp_path)
    with pytest.raises((MemoryError, OSError), match="simulated"):
        d.compute(scheduler="sync")
    assert list(tmp_path.iterdir()) == []


def test_spill_reader_that_runs_twice_says_so(tmp_path):
    x = da.from_array(np.arange(48.0).reshape(6, 8), chunks=(6, 2))
    spill = Scratch(tmp_path)
    y = _distance_spill.spill_rechunk(x, ((2, 2, 2), (8,)), spill)
    np.testing.assert_array_equal(y.compute(scheduler="sync"), x.compute())
    graph = dict(y.__dask_graph__())
    reader = graph[(y.name, 1, 0)]
    again = {"again": (reader[0], [None]) + tuple(reader[2:])}  # the reader alone
    # its writers have run and it has read (and deleted) its block's file
    with pytest.raises(RuntimeError, match="ran twice.*re-run"):
        dask.get(again, "again")
    # a file that lacks pieces (only one of its four writers ran again) is caught too
    writers = sorted(k for k in graph if isinstance(k, tuple) and "exchange-write" in k[0])
    dask.get(graph, writers[0])
    with pytest.raises(RuntimeError, match="lacks 3 of its 4 pieces"):
        dask.get(again, "again")
    assert list(tmp_path.iterdir()) == []


def test_spilled_graph_is_lazy_and_pickles(spill_always, tmp_path):
    a = MASKS["blobs"]
    x = da.from_array(a, chunks=(7, 8, 9))
    with raise_if_dask_computes():
        d, i = distance_transform_edt(x, sampling=2.0, return_indices=True, temp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # building the graph writes nothing
    graph = dict(i.__dask_graph__())
    assert len(pickle.dumps(graph)) < 400_000
    assert max(len(pickle.dumps(task)) for task in graph.values()) < 20_000
    # what a distributed scheduler does: unpickle the tasks and run them elsewhere
    restored = pickle.loads(pickle.dumps(graph))
    copy = da.Array(restored, i.name, chunks=i.chunks, dtype=i.dtype)
    ref_i = ndi.distance_transform_edt(a, sampling=2.0, return_indices=True)[1]
    np.testing.assert_array_equal(copy.compute(scheduler="sync"), ref_i)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------
# distance_transform_cdt
# ------------------------------------------------------------------------------------
def test_cdt_matches_scipy(chunks):
    a = MASKS["blobs"]
    x = da.from_array(a, chunks=chunks)
    lazy = {
        "taxicab": distance_transform_cdt(x, metric="taxicab"),
        "chessboard": distance_transform_cdt(x),
        "chessboard+ind": distance_transform_cdt(x, return_indices=True),
    }
    (out,) = dask.compute(lazy, scheduler="sync")
    refs = {
        "taxicab": ndi.distance_transform_cdt(a, metric="taxicab"),
        "chessboard": ndi.distance_transform_cdt(a),
        "chessboard+ind": ndi.distance_transform_cdt(a, return_indices=True),
    }
    for name, ref in refs.items():
        got = out[name] if isinstance(out[name], tuple) else (out[name],)
        want = ref if isinstance(ref, tuple) else (ref,)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=name)
            assert g.dtype == np.int32


def test_cdt_structures(tiny_tasks):
    a = MASKS["random"][:, :, :9]
    x = da.from_array(a, chunks=(5, 4, 3))
    taxicab = ndi.generate_binary_structure(3, 1)
    # only the first half of the structure is read (scipy's chamfer): a structure whose
    # first half is the chessboard's takes the separable path and gives scipy's result
    half_chessboard = np.ones((3, 3, 3), np.uint8)
    half_chessboard.ravel()[14:] = RNG.integers(0, 2, 13)
    for metric in (taxicab, half_chessboard):
        d = distance_transform_cdt(x, metric=metric)
        assert not any("cdt-forward" in k for k in d.dask.layers)  # separable, parallel
        assert_dask_matches(d, ndi.distance_transform_cdt(a, metric=metric))
    ref_d, ref_i = ndi.distance_transform_cdt(a, metric=CUSTOM, return_indices=True)
    d, i = distance_transform_cdt(x, metric=CUSTOM, return_indices=True)
    assert_dask_matches(d, ref_d)
    assert_dask_matches(i, ref_i)
    # two scans do not reach everything with this structure; scipy's -1s are reproduced
    b = np.ones((2, 9), bool)
    b[0, 0] = False
    d, i = distance_transform_cdt(
        da.from_array(b, chunks=(1, 4)), metric=DIAGONAL_2D, return_indices=True
    )
    ref_d, ref_i = ndi.distance_transform_cdt(b, metric=DIAGONAL_2D, return_indices=True)
    assert (ref_d == -1).sum() > 0
    assert_dask_matches(d, ref_d)
    assert_dask_matches(i, ref_i)


def test_cdt_scan_spills_to_disk_and_cleans_up(tmp_path, tiny_tasks):
    a = MASKS["blobs"][:, :, :9]
    x = da.from_array(a, chunks=(5, 4, 3))
    d, i = distance_transform_cdt(x, return_indices=True, temp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # building the graph writes nothing
    written = []

    class Watch(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            name = key[0] if isinstance(key, tuple) else key
            if str(name).startswith("cdt-forward"):  # (unfused: optimize_graph=False)
                written.append(sum(1 for _ in tmp_path.rglob("*.npy")))

    ref_d, ref_i = ndi.distance_transform_cdt(a, return_indices=True)
    with Watch():
        got_d, got_i = dask.compute(d, i, scheduler="sync", optimize_graph=False)
    np.testing.assert_array_equal(got_d, ref_d)
    np.testing.assert_array_equal(got_i, ref_i)
    # one .npy pair per forward slab (one plane each here) is on disk before the
    # backward scan starts, and nothing is left afterwards
    assert max(written) == 2 * a.shape[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exchanges", ["in memory", "on disk"])
def test_cdt_scan_removes_its_files_on_error(exchanges, tmp_path, tiny_tasks, monkeypatch):
    if exchanges == "on disk":  # the slabs of the mask, already on disk, go too
        monkeypatch.setattr(_distance_spill, "SPILL_BUDGETS", 0)
        monkeypatch.setattr(_distance_spill, "SPILL_MIN_BYTES", 0)
    real, calls = _distance_kernels.chamfer_pass, []

    def failing(dt, ft, offsets, start, stop, backward):
        calls.append(backward)
        if len(calls) == (3 if exchanges == "on disk" else 7):  # forwards / backwards
            raise MemoryError("simulated failure in the scan")
        return real(dt, ft, offsets, start, stop, backward)

    monkeypatch.setattr(_distance_chain.K, "chamfer_pass", failing)
    x = da.from_array(MASKS["blobs"][:6, :, :9], chunks=(2, 4, 3))
    d, i = distance_transform_cdt(x, metric=CUSTOM, return_indices=True, temp_dir=str(tmp_path))
    with pytest.raises(MemoryError):
        dask.compute(d, i, scheduler="sync")
    assert list(tmp_path.iterdir()) == []


def test_spill_dir_is_removed_with_the_graph(tmp_path):
    spill = Scratch(tmp_path)
    os.makedirs(spill.path)
    remote = pickle.loads(pickle.dumps(spill))  # a worker's copy does not own it
    assert remote.path == spill.path
    del remote
    assert os.path.isdir(spill.path)
    del spill
    gc.collect()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape,chunks", [((30,), (4,)), ((11, 17), (3, 5)), ((4, 5, 3, 6), 2)])
def test_cdt_ranks(shape, chunks, tiny_tasks):
    a = np.random.default_rng(3).random(shape) > 0.25
    x = da.from_array(a, chunks=chunks)
    structure = np.random.default_rng(4).random((3,) * len(shape)) > 0.4
    for metric in ("taxicab", "chessboard", structure):
        ref_d, ref_i = ndi.distance_transform_cdt(a, metric=metric, return_indices=True)
        d, i = distance_transform_cdt(x, metric=metric, return_indices=True)
        assert_dask_matches(distance_transform_cdt(x, metric=metric), ref_d)
        assert_dask_matches(d, ref_d)
        assert_dask_matches(i, ref_i)


def test_cdt_edge_cases():
    ones = np.ones((4, 5, 6), bool)
    for metric in ("taxicab", "chessboard"):
        ref_d, ref_i = ndi.distance_transform_cdt(ones, metric=metric, return_indices=True)
        x = da.from_array(ones, chunks=2)
        assert_dask_matches(distance_transform_cdt(x, metric=metric), ref_d)
        d, i = distance_transform_cdt(x, metric=metric, return_indices=True)
        assert_dask_matches(d, ref_d)
        assert_dask_matches(i, ref_i)
    zeros = np.zeros((4, 5), np.int16)
    assert_dask_matches(distance_transform_cdt(zeros), ndi.distance_transform_cdt(zeros))
    d, i = distance_transform_cdt(np.ones((0, 3)), return_indices=True)
    assert d.shape == (0, 3) and i.shape == (2, 0, 3)


# ------------------------------------------------------------------------------------
# distance_transform_bf
# ------------------------------------------------------------------------------------
def _euclidean(sampling):
    return lambda v: np.sqrt(sum((t * s) ** 2 for t, s in zip(v, sampling, strict=True)))


BF_CASES = [  # metric, sampling, scipy's own choice among equally near voxels?
    ("euclidean", None, True),
    ("euclidean", (2, 1, 3), True),
    ("euclidean", SAMPLING, False),
    ("taxicab", SAMPLING, True),  # sampling is ignored by taxicab
    ("chessboard", None, False),
]


@pytest.mark.parametrize("chunks", [SMALL, (4, 5, 3), (1, 11, 2)], ids=str)
def test_bf_matches_scipy(chunks):
    a = MASKS["blobs"][: SMALL[0], : SMALL[1], : SMALL[2]].copy()
    a[4, 5, 6] = False
    x = da.from_array(a, chunks=chunks)
    lazy = [
        (
            *distance_transform_bf(x, metric.upper(), samp, return_indices=True),
            distance_transform_bf(x, metric, samp),
        )
        for metric, samp, _ in BF_CASES
    ]
    (computed,) = dask.compute(lazy, scheduler="sync")
    for (metric, samp, exact), (d, i, d_only) in zip(BF_CASES, computed, strict=True):
        ref_d, ref_i = ndi.distance_transform_bf(a, metric, samp, return_indices=True)
        assert d.dtype == ref_d.dtype == d_only.dtype and i.dtype == np.int32
        np.testing.assert_allclose(d, ref_d, rtol=1e-15, atol=0)
        np.testing.assert_allclose(d_only, ref_d, rtol=1e-14, atol=0)
        if exact:
            np.testing.assert_array_equal(i, ref_i, err_msg=f"{metric} {samp}")
        else:  # documented: a nearest background voxel, maybe not the one scipy keeps
            dist_of = {
                "euclidean": _euclidean(samp or (1, 1, 1)),
                "chessboard": lambda v: np.abs(v).max(axis=0),
            }[metric]
            _nearest_check(a, i, dist_of)


def test_bf_ties_follow_scipy():
    a = np.ones((10, 12, 9), bool)
    a[::3, ::4, ::3] = False  # a lattice: most voxels have several nearest voxels
    for metric, samp in (("euclidean", None), ("euclidean", (1, 2, 2)), ("taxicab", None)):
        ref_d, ref_i = ndi.distance_transform_bf(a, metric, samp, return_indices=True)
        d, i = distance_transform_bf(
            da.from_array(a, chunks=(4, 5, 2)), metric, samp, return_indices=True
        )
        assert_dask_matches(i, ref_i)
        assert_dask_matches(d, ref_d, rtol=0)


def test_bf_edge_cases():
    ones = np.ones((3, 4), bool)
    x = da.from_array(ones, chunks=(2, 3))
    for metric in ("euclidean", "taxicab", "chessboard"):
        ref_d, ref_i = ndi.distance_transform_bf(ones, metric, return_indices=True)
        d, i = distance_transform_bf(x, metric, return_indices=True)
        assert_dask_matches(d, ref_d, rtol=0)
        assert_dask_matches(i, ref_i)
        assert_dask_matches(distance_transform_bf(x, metric), ref_d, rtol=0)
        for v in (0, 3):
            ref_d, ref_i = ndi.distance_transform_bf(np.array(v), metric, return_indices=True)
            d, i = distance_transform_bf(np.array(v), metric, return_indices=True)
            assert_dask_matches(d, ref_d, rtol=0)
            assert_dask_matches(i, ref_i)


# ------------------------------------------------------------------------------------
# laziness, memory, pickling, arguments
# ------------------------------------------------------------------------------------
def _all_calls(x):
    return [
        distance_transform_edt(x),
        *distance_transform_edt(x, sampling=2.0, return_indices=True),
        distance_transform_cdt(x, metric="taxicab"),
        *distance_transform_cdt(x, metric=CUSTOM, return_indices=True),
        *distance_transform_bf(x, "chessboard", return_indices=True),
        distance_transform_bf(x),
    ]


def test_lazy():
    x = da.random.default_rng(0).random(SHAPE, chunks=(7, 8, 9)) > 0.2
    with raise_if_dask_computes():
        results = _all_calls(x)
    assert all(isinstance(r, da.Array) for r in results)
    assert isinstance(distance_transform_edt(np.ones((3, 3))), da.Array)


def test_graph_pickles_cheaply():
    x = da.random.default_rng(0).random(SHAPE, chunks=(7, 8, 9)) > 0.2
    for result in _all_calls(x):
        graph = dict(result.__dask_graph__())
        assert len(pickle.dumps(graph)) < 400_000
        assert max(len(pickle.dumps(task)) for task in graph.values()) < 20_000


def test_task_memory_is_bounded():
    shape, chunks = (80, 72, 40), (20, 16, 10)
    x = da.random.default_rng(1).random(shape, chunks=chunks) > 0.05
    limit = _distance_graph.task_limit(shape, x.chunks)
    assert limit == _distance_graph.MIN_TASK_VOXELS  # chunks of 3200 voxels
    assert _distance_graph.stage_plan(shape, limit) == [(0,), (1, 2)]
    results = _all_calls(x)
    # every intermediate array in every graph has blocks of at most `limit` voxels
    for result in results:
        for name, layer in result.dask.layers.items():
            ann = layer.collection_annotations or {}
            if "chunks" not in ann:
                continue
            blocks = ann["chunks"][-3:]
            biggest = math.prod(max(c) for c in blocks)
            bound = max(limit, math.prod(shape[1:]))  # slabs of the scan path: one plane
            assert biggest <= bound, (name, biggest)
    # and the separable Euclidean path really stays within `limit` (plus its lead axis)
    sizes = []

    class Sizes(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            name = key[0] if isinstance(key, tuple) else key
            if isinstance(result, np.ndarray) and "finalize" not in str(name):
                sizes.append(result.size)

    with Sizes():
        distance_transform_edt(x, return_indices=True)[1].compute(scheduler="sync")
    assert 0 < max(sizes) <= 3 * limit


def _block_shapes(result):
    """Shapes of the blocks of every intermediate array of a graph (spatial axes).

    From the chunks of the graph layers that record them, and from the exchanges
    through disk: the target block of every reader, the source block of every writer.
    """
    for layer in result.dask.layers.values():
        chunks = (layer.collection_annotations or {}).get("chunks")
        if chunks is not None:
            yield tuple(max(c) for c in chunks[-3:])
        if not any("exchange" in str(k[0] if isinstance(k, tuple) else k) for k in layer):
            continue
        for task in layer.values():
            if not isinstance(task, tuple):
                continue
            if task[0] is _distance_spill._read_pieces:
                yield task[6][-3:]
            elif task[0] is _distance_spill._write_pieces:
                yield tuple(sum(hi - lo for _, lo, hi, *_ in row) for row in task[5][-3:])


@pytest.mark.parametrize("plane", [512, 2048])  # 8192 works too, but builds for ~2 min
def test_task_size_is_independent_of_the_plane(plane):
    # a lazy volume whose layer of chunks (128 x plane x plane) is far bigger than a
    # chunk: no block of any layer of any graph may grow with the plane; the layers'
    # exchanges go through disk
    x = da.zeros((256, plane, plane), chunks=128) > 0
    chunk = 128**3
    results = [
        distance_transform_edt(x),
        distance_transform_edt(x, return_distances=False, return_indices=True),
        distance_transform_cdt(x, metric="taxicab"),
        distance_transform_bf(x, metric="chessboard"),
    ]
    assert _spilled(results[0]) and _spilled(results[1])  # float64 / 12-byte layers
    checked = 0
    for result in results:
        for shape in _block_shapes(result):
            assert math.prod(shape) <= chunk, shape
            checked += 1
    assert checked > 200


def test_stage_plan_and_chunks():
    assert _distance_graph.stage_plan((384, 384, 384), 128**3) == [(0,), (1, 2)]
    assert _distance_graph.stage_plan((4096,) * 3, 128**3) == [(0,), (1,), (2,)]
    assert _distance_graph.stage_plan((5,), 1) == [(0,)]
    assert _distance_graph.stage_plan((5, 2), 1) == [(0,), (1,)]
    c = _distance_graph.stage_chunks((384, 384, 384), ((128,) * 3,) * 3, (1, 2), 128**3)
    assert c[1] == c[2] == (384,) and math.prod(max(k) for k in c) <= 128**3
    assert sum(c[0]) == 384 and set(np.cumsum(c[0])) >= {128, 256, 384}


def test_argument_errors():
    a = np.ones((4, 5))
    for f in (distance_transform_edt, distance_transform_cdt, distance_transform_bf):
        with pytest.raises(TypeError, match="`distances` must be None or a writable"):
            f(a, distances=da.zeros((4, 5)))
        with pytest.raises(ArgumentError, match="indices array must be int32"):
            f(a, return_indices=True, indices=np.empty((2, 4, 5), np.int64))
        with pytest.raises(ArgumentError, match="wrong shape"):
            f(a, return_indices=True, indices=np.empty((2, 4, 4), np.int32))
        with pytest.raises(RuntimeError, match="return_distances must be True"):
            f(a, return_distances=False, return_indices=True, distances=np.empty((4, 5)))
        with pytest.raises(ArgumentError, match="at least one"):
            f(a, return_distances=False)
        with pytest.raises(RuntimeError):  # scipy raises RuntimeError here: still caught
            f(a, return_distances=False)
        with pytest.raises(TypeError, match="`input`"):
            f(np.array(["a", "b"]))
    for f in (distance_transform_edt, distance_transform_bf):
        with pytest.raises(ArgumentError, match="sampling"):
            f(a, sampling=(1, 2, 3))
        with pytest.raises(ValueError, match="positive"):
            f(a, sampling=(1.0, -2.0))
        with pytest.raises(TypeError, match="sampling"):
            f(a, sampling=("a", 1))
    unknown = da.from_array(np.arange(6))[da.from_array(np.arange(6)) > 2]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        distance_transform_edt(unknown)
    with pytest.raises(ValueError, match="metric"):
        distance_transform_cdt(a, metric="euclidean")
    with pytest.raises(ValueError, match="sizes must be equal to 3"):
        distance_transform_cdt(a, metric=np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="rank"):
        distance_transform_cdt(a, metric=np.ones((3, 3, 3), bool))
    with pytest.raises(ValueError, match="at least one dimension"):
        distance_transform_cdt(np.array(1))
    with pytest.raises(ArgumentError, match="metric"):
        distance_transform_bf(a, metric="minkowski")
    with pytest.raises(TypeError, match="metric"):
        distance_transform_bf(a, metric=3)
    for f in (distance_transform_edt, distance_transform_cdt, distance_transform_bf):
        with pytest.raises(TypeError, match="`temp_dir`"):
            f(a, temp_dir=3)
        with pytest.raises(ValueError, match="existing directory"):
            f(a, temp_dir="/nonexistent/bigimg-scratch")


# ------------------------------------------------------------------------------------
# arbitrary chunkings
# ------------------------------------------------------------------------------------
@st.composite
def _mask_and_chunks(draw):
    shape, chunks = draw(shapes_and_chunkings(max_dims=3, max_side=9, max_chunks_per_axis=4))
    seed = draw(st.integers(0, 2**16))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.95, 1.0]))
    mask = np.random.default_rng(seed).random(shape) < density
    return mask, chunks


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_mask_and_chunks())
def test_arbitrary_chunkings(case, tiny_tasks):
    a, chunks = case
    x = da.from_array(a, chunks=chunks)
    lazy = (
        distance_transform_edt(x, return_indices=True),
        distance_transform_edt(x),
        distance_transform_cdt(x, metric="taxicab"),
        distance_transform_cdt(x, return_indices=True),
        distance_transform_bf(x, "taxicab", return_indices=True)[1],
        distance_transform_bf(x, return_indices=True)[1],
    )
    (ed, ei), e2, ct, (cd, ci), bt, be = dask.compute(*lazy, scheduler="sync")
    ref_d, ref_i = ndi.distance_transform_edt(a, return_indices=True)
    np.testing.assert_array_equal(ed, ref_d)
    np.testing.assert_array_equal(ei, ref_i)
    np.testing.assert_array_equal(e2, ref_d)
    np.testing.assert_array_equal(ct, ndi.distance_transform_cdt(a, metric="taxicab"))
    ref_cd, ref_ci = ndi.distance_transform_cdt(a, return_indices=True)
    np.testing.assert_array_equal(cd, ref_cd)
    np.testing.assert_array_equal(ci, ref_ci)
    np.testing.assert_array_equal(
        bt, ndi.distance_transform_bf(a, "taxicab", return_indices=True)[1]
    )
    np.testing.assert_array_equal(be, ndi.distance_transform_bf(a, return_indices=True)[1])


def test_kernels_chessboard_envelope_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        g = rng.integers(0, 8, n).astype(np.int32)
        g[rng.random(n) < 0.3] = _distance_kernels.BIG
        out = np.empty((1, n, 1), np.int32)
        _distance_kernels.chessboard_pass(g.reshape(1, n, 1), out)
        x = np.arange(n)
        want = np.minimum(
            np.max([np.broadcast_to(g, (n, n)), np.abs(x[:, None] - x[None, :])], axis=0).min(1),
            _distance_kernels.BIG,
        )
        np.testing.assert_array_equal(out.ravel(), want)


def test_docstring_examples():
    for module in (_distance, _distance_graph, _distance_spill):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["edt", "cdt", "bf"])
def test_empty_chunks_are_dropped(name):
    """Zero-size chunks (as slicing leaves them) are dropped, not divided by."""
    a = np.ones((6, 5), np.uint8)
    a[4, 2] = 0
    x = da.from_array(a, chunks=((3, 0, 3), (5, 0)))
    got = getattr(_distance, f"distance_transform_{name}")(x)
    ref = getattr(ndi, f"distance_transform_{name}")(a)
    assert 0 not in got.chunks[0]
    np.testing.assert_array_equal(got.compute(), ref)
