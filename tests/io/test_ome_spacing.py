"""``save_ome_zarr`` picks up the spacing of an array straight from a reader, and only then."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr

import bigimg
from bigimg import ndimage
from bigimg.io import header, open_hdf5, save_ome_zarr

nibabel = pytest.importorskip("nibabel")
ANATOMICAL = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")


def _written(path):
    """(scale of level 0, units of the axes) as the OME-Zarr metadata says."""
    attrs = zarr.open_group(str(path), mode="r").attrs.asdict()
    ms = (attrs.get("ome", attrs))["multiscales"][0]
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    return scale, [a.get("unit") for a in ms["axes"]]


def _save(arr, path, **kwargs):
    return save_ome_zarr(arr, str(path), levels=1, progress=False, **kwargs)


@pytest.fixture
def hdf5_without_unit(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "vol.h5"
    data = np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10)
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=data, chunks=(3, 4, 5)).attrs["spacing"] = [3.0, 0.5, 0.25]
    return str(path), data


def test_reader_array_brings_its_spacing_and_unit(tmp_path):
    brain = bigimg.open(ANATOMICAL)
    h = header(brain)
    assert h.spacing == (2.0, 2.0, 2.0) and h.unit == "millimeter"
    for version in ("0.5", "0.4"):
        out = _save(brain, tmp_path / f"brain{version}.zarr", ome_version=version)
        assert _written(out) == ([2.0, 2.0, 2.0], ["millimeter"] * 3)
        np.testing.assert_array_equal(bigimg.open_zarr(out).compute(), brain.compute())
    # other chunks from the reader: the same header
    out = _save(bigimg.open(ANATOMICAL, chunks=(10, 20, 11)), tmp_path / "chunked.zarr")
    assert _written(out) == ([2.0, 2.0, 2.0], ["millimeter"] * 3)


def test_header_without_unit_writes_no_unit(tmp_path, hdf5_without_unit):
    path, data = hdf5_without_unit
    vol = open_hdf5(path, "raw")
    assert header(vol).spacing == (3.0, 0.5, 0.25) and header(vol).unit is None
    out = _save(vol, tmp_path / "h5.zarr")
    assert _written(out) == ([3.0, 0.5, 0.25], [None, None, None])  # never "micrometer"
    np.testing.assert_array_equal(bigimg.open_zarr(out).compute(), data)


def test_derived_arrays_never_carry_the_readers_spacing(tmp_path):
    brain = bigimg.open(ANATOMICAL).astype(np.float32)
    derived = {
        "filtered": ndimage.gaussian_filter(bigimg.open(ANATOMICAL), 1.0),
        "cast": brain,
        "sliced": bigimg.open(ANATOMICAL)[:, :20],
        "transposed": bigimg.open(ANATOMICAL).transpose(2, 1, 0),
        "rechunked by dask": bigimg.open(ANATOMICAL).rechunk((10, 20, 11)),
    }
    for name, arr in derived.items():
        assert header(arr) is None, name
        out = _save(arr, tmp_path / f"{name}.zarr")
        # no header: the defaults of arrays without one, as before (scale 1, micrometer)
        assert _written(out) == ([1.0, 1.0, 1.0], ["micrometer"] * 3), name
        out = _save(arr, tmp_path / f"{name}-nounit.zarr", units=None)
        assert _written(out) == ([1.0, 1.0, 1.0], [None, None, None]), name


def test_given_scale_and_units_win(tmp_path):
    brain = bigimg.open(ANATOMICAL)
    out = _save(brain, tmp_path / "a.zarr", scale=(4.0, 1.0, 1.0))
    assert _written(out) == ([4.0, 1.0, 1.0], ["millimeter"] * 3)  # the file's unit
    out = _save(brain, tmp_path / "b.zarr", units="micrometer")
    assert _written(out) == ([2.0, 2.0, 2.0], ["micrometer"] * 3)
    out = _save(brain, tmp_path / "c.zarr", units=None)
    assert _written(out) == ([2.0, 2.0, 2.0], [None, None, None])
    out = _save(np.zeros((4, 5, 6), np.uint8), tmp_path / "d.zarr")
    assert _written(out) == ([1.0, 1.0, 1.0], ["micrometer"] * 3)  # a numpy array: as before


def test_incomplete_header_spacing_claims_nothing(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("raw", data=np.ones((4, 5, 6), np.uint8))
        ds.attrs["element_size_um"] = [0.0, 0.5, 0.5]  # a zero spacing is not a spacing
    vol = open_hdf5(str(path), "raw")
    out = _save(vol, tmp_path / "bad.zarr")
    assert _written(out) == ([1.0, 1.0, 1.0], [None, None, None])


def test_docs_spacing_example_runs(tmp_path, monkeypatch):
    """The example of docs/spacing.md runs as written (its asserts are its checks)."""
    import re

    doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "spacing.md")
    with open(doc) as fh:
        blocks = re.findall(r"```python\n(.*?)```", fh.read(), flags=re.S)
    assert len(blocks) == 2  # the second, "Looking at it", runs in tests/display
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "docs/spacing.md", "exec"), {})
    assert _written(tmp_path / "brain.ome.zarr") == ([2.0, 2.0, 2.0], ["millimeter"] * 3)
    assert _written(tmp_path / "labels.ome.zarr") == ([2.0, 2.0, 2.0], ["millimeter"] * 3)
    assert _written(tmp_path / "iso.ome.zarr") == ([1.0, 1.0, 1.0], ["millimeter"] * 3)
