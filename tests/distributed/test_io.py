"""Readers and writers on the cluster: workers read and write the files themselves.

Every name in ``bigimg.io.__all__`` has a case below (a new reader or writer without
one fails ``test_every_io_name_has_a_case``). Each case runs with the local ``sync``
scheduler and with the cluster; the values, dtypes and files must agree, the client
process must not map a raw file, and no partial output may be left behind.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable

import dask
import numpy as np
import pytest
import tifffile
import zarr

from bigimg import io, ndimage
from bigimg._atomic import PARTIAL_TAG
from bigimg.testing import count_computes
from tests.distributed._cases import assert_same
from tests.distributed._cluster import (
    client_cannot_map,
    scheduler_transitions,
    worker_pids,
    workers_record_maps,
)
from tests.distributed.conftest import SHAPE


@pytest.fixture(scope="module")
def files(volumes, tmp_path_factory):
    """A multi-page TIFF, a folder of slice TIFFs and a zarr v2 store of the volumes."""
    folder = tmp_path_factory.mktemp("distributed-io")
    tifffile.imwrite(folder / "u16.tif", volumes.data["u16"], photometric="minisblack")
    (folder / "slices").mkdir()
    for z, plane in enumerate(volumes.data["u8"]):
        tifffile.imwrite(folder / "slices" / f"z{z}.tif", plane)
    store = zarr.create_array(
        store=str(folder / "f32.zarr"), shape=SHAPE, chunks=(7, 13, 26), dtype="f4", zarr_format=2
    )
    store[...] = volumes.data["f32"]
    _write_formats(folder, volumes)
    return folder


def _write_formats(folder, volumes):
    """The same volumes as DICOM, NIfTI (gzip), HDF5, MRC and NRRD (gzip) files."""
    import h5py
    import mrcfile
    import nrrd

    from tests.io.test_formats_dicom import write_series
    from tests.io.test_formats_nifti import write_nifti

    u16, f32 = volumes.data["u16"], volumes.data["f32"]
    write_series(folder / "dicom", u16)
    write_nifti(str(folder / "u16.nii.gz"), u16)
    with h5py.File(folder / "f32.h5", "w") as f:
        f.create_dataset("scan/volume", data=f32, chunks=(8, 13, 13))
    with mrcfile.new(folder / "f32.mrc") as mrc:
        mrc.set_data(f32)
    nrrd.write(str(folder / "u16.nrrd"), u16, {"encoding": "gzip"}, index_order="C")


def _filtered(volumes):
    """The array every writer stores: a filter of a raw volume (computed by the workers)."""
    return ndimage.gaussian_filter(volumes.open("f32"), 1.0)


def _read_back(path: str):
    """A written file's data: an array, or for an OME-Zarr image every array and the attributes."""
    if path.endswith(".ome.zarr"):
        root = zarr.open_group(path, mode="r")
        found = {
            name: node[...]
            for name, node in sorted(root.members(max_depth=None))
            if isinstance(node, zarr.Array)
        }
        groups = {
            name: node.attrs.asdict()
            for name, node in root.members(max_depth=None)
            if isinstance(node, zarr.Group)
        }
        return {"arrays": found, "attrs": root.attrs.asdict(), "groups": groups}
    if path.endswith(".zarr"):
        return io.open_zarr(path).compute(scheduler="sync")
    if path.endswith(".tif"):
        return tifffile.imread(path)
    return np.fromfile(path, dtype=np.float32).reshape(SHAPE)


# name -> call(func, volumes, files, out_folder); readers return arrays, writers paths.
IO: dict[str, Callable] = {
    "open_raw": lambda f, v, fl, out: f(v.path("u16"), SHAPE, np.uint16, chunks=(5, 25, 9)),
    "open_tiff": lambda f, v, fl, out: f(fl / "u16.tif", chunks=(4, 25, 26)),
    "open_zarr": lambda f, v, fl, out: f(fl / "f32.zarr"),
    "save_raw": lambda f, v, fl, out: f(_filtered(v), out / "o.raw", progress=False),
    "save_tiff": lambda f, v, fl, out: f(_filtered(v), out / "o.tif", progress=False),
    "save_zarr": lambda f, v, fl, out: f(
        _filtered(v), out / "o.zarr", chunks=(8, 9, 26), progress=False
    ),
    "save_ome_zarr": lambda f, v, fl, out: f(
        _filtered(v),
        out / "o.ome.zarr",
        labels={"blobs": v.open("labels")},
        scale=(2.0, 1.0, 1.0),
        levels=3,
        progress=False,
    ),
    "open": lambda f, v, fl, out: f(str(fl / "f32.mrc"), chunks=(5, 25, 9)),
    "open_dicom": lambda f, v, fl, out: f(str(fl / "dicom"), chunks=(3, 25, 26)),
    "open_nifti": lambda f, v, fl, out: f(str(fl / "u16.nii.gz"), chunks=(4, 25, 26)),
    "open_hdf5": lambda f, v, fl, out: f(str(fl / "f32.h5"), "scan/volume", chunks=(8, 13, 26)),
    "open_mrc": lambda f, v, fl, out: f(str(fl / "f32.mrc"), chunks=(5, 7, 26)),
    "open_nrrd": lambda f, v, fl, out: f(str(fl / "u16.nrrd"), chunks=(4, 25, 26)),
}
SOURCES = {
    "open_raw": "u16",
    "open_tiff": "u16",
    "open_zarr": "f32",
    "open": "f32",
    "open_dicom": "u16",
    "open_nifti": "u16",
    "open_hdf5": "f32",
    "open_mrc": "f32",
    "open_nrrd": "u16",
}


#: Helpers that run on the client only (they list files or read a header; no task).
CLIENT_ONLY = {"tiff_stack_files", "Header", "format_of", "header"}


def test_every_io_name_has_a_case():
    names = set(io.__all__) - CLIENT_ONLY
    assert names == set(IO), (
        f"bigimg.io exports {sorted(names - set(IO))} without a case in IO, "
        f"or IO has stale entries {sorted(set(IO) - names)}."
    )


def _run(call, name, volumes, files, out):
    """A reader's computed array, or the path a writer wrote."""
    out.mkdir()
    result = call(getattr(io, name), volumes, files, out)
    return result if isinstance(result, str) else result.compute()


def _written(path: str) -> np.ndarray:
    """What a writer left on disk: exactly its output (nothing partial), read back."""
    folder = os.path.dirname(path)
    assert os.listdir(folder) == [os.path.basename(path)], f"left behind: {os.listdir(folder)}"
    return _read_back(path)


@pytest.mark.parametrize("name", sorted(IO))
def test_same_result_as_local_scheduler(client, volumes, files, tmp_path, name):
    with dask.config.set(scheduler="sync"):
        expected = _run(IO[name], name, volumes, files, tmp_path / "sync")
    before = scheduler_transitions(client)
    with count_computes() as local, client_cannot_map(volumes.folder) as refused:
        with client_cannot_map(str(tmp_path)) as refused_out:
            got = _run(IO[name], name, volumes, files, tmp_path / "cluster")
    assert not refused and not refused_out
    assert local.tasks == 0, f"{local.tasks} tasks ran in the client process"
    assert scheduler_transitions(client) > before
    if isinstance(got, str):
        got, expected = _written(got), _written(expected)
    assert_same(got, expected, name)
    if name in SOURCES:
        np.testing.assert_array_equal(got, volumes.data[SOURCES[name]])
    if name == "save_raw":  # the very same bytes
        assert (tmp_path / "sync/o.raw").read_bytes() == (tmp_path / "cluster/o.raw").read_bytes()


def test_open_tiff_slice_folder(client, volumes, files):
    arr = io.open_tiff(files / "slices")
    assert arr.numblocks[0] == SHAPE[0]  # one file per task
    np.testing.assert_array_equal(arr.compute(), volumes.data["u8"])


def test_workers_map_the_raw_file_themselves(client, volumes):
    """Every block is mapped once, in a worker process; the client maps nothing."""
    arr = volumes.open("u16", chunks=(6, 13, 26))
    with (
        workers_record_maps(client, volumes.folder) as maps,
        client_cannot_map(volumes.folder) as refused,
    ):
        got = arr.sum(axis=0, dtype=np.int64).compute()
    np.testing.assert_array_equal(got, volumes.data["u16"].sum(axis=0, dtype=np.int64))
    assert not refused
    pids = set(worker_pids(client).values())
    assert os.getpid() not in pids
    assert len(maps) == arr.npartitions, f"{len(maps)} maps for {arr.npartitions} blocks"
    assert {pid for pid, _ in maps} <= pids
    assert {path for _, path in maps} == {os.path.abspath(volumes.path("u16"))}


def test_workers_write_raw_file_themselves(client, volumes, tmp_path):
    with (
        workers_record_maps(client, str(tmp_path)) as maps,
        client_cannot_map(str(tmp_path)) as refused,
    ):
        path = io.save_raw(volumes.open("f32"), tmp_path / "copy.raw", progress=False)
    assert not refused
    assert len(maps) == volumes.open("f32").npartitions  # one write per block, in workers
    assert {pid for pid, _ in maps} <= set(worker_pids(client).values())
    assert all(PARTIAL_TAG in p for _, p in maps)  # written under the partial name
    np.testing.assert_array_equal(np.fromfile(path, np.float32).reshape(SHAPE), volumes.data["f32"])


def test_raw_graph_does_not_grow_with_the_file(tmp_path):
    """Opening a 512^3 file builds a graph as small as opening a 16^3 one (no voxels in it)."""
    sizes = {}
    for n in (16, 512):
        path = tmp_path / f"{n}.raw"
        with open(path, "wb") as f:
            f.truncate(n**3 * 2)  # sparse: no data written
        arr = io.open_raw(path, (n,) * 3, np.uint16, chunks=n // 2)
        sizes[n] = len(pickle.dumps(dict(arr.__dask_graph__()), protocol=5))
    assert sizes[512] < 4096, sizes
    assert abs(sizes[512] - sizes[16]) < 64, sizes


@pytest.fixture
def workers_elsewhere(client, tmp_path):
    """The workers run in another working directory than the client (as on a cluster)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = client.run(os.getcwd)
    client.run(os.chdir, str(elsewhere))
    yield
    for address, cwd in before.items():
        client.run(os.chdir, cwd, workers=[address])


@pytest.mark.parametrize(
    "source", ["raw", "tiff", "tiff-folder", "tiff-glob", "zarr"], ids=lambda s: s
)
def test_relative_paths_name_the_clients_files(
    client, volumes, files, monkeypatch, workers_elsewhere, source
):
    """A relative path means the file seen from the client's working directory."""
    monkeypatch.chdir(files)
    raw = os.path.relpath(volumes.path("u16"), files)
    arr = {
        "raw": lambda: io.open_raw(raw, SHAPE, np.uint16, chunks=13),
        "tiff": lambda: io.open_tiff("u16.tif", chunks=(8, 25, 26)),
        "tiff-folder": lambda: io.open_tiff("slices"),
        "tiff-glob": lambda: io.open_tiff("slices/z*.tif"),
        "zarr": lambda: io.open_zarr("f32.zarr"),
    }[source]()
    expected = {"raw": "u16", "tiff": "u16", "zarr": "f32"}.get(source, "u8")
    np.testing.assert_array_equal(arr.compute(), volumes.data[expected])


@pytest.mark.parametrize("writer", ["save_raw", "save_tiff", "save_zarr"])
def test_relative_output_paths(client, volumes, tmp_path, monkeypatch, workers_elsewhere, writer):
    monkeypatch.chdir(tmp_path)
    os.mkdir("out")
    name = {"save_raw": "o.raw", "save_tiff": "o.tif", "save_zarr": "o.zarr"}[writer]
    path = getattr(io, writer)(volumes.open("f32"), os.path.join("out", name), progress=False)
    assert path == str(tmp_path / "out" / name)
    assert os.listdir(tmp_path / "elsewhere") == []  # nothing written where the workers run
    np.testing.assert_array_equal(_written(path), volumes.data["f32"])
