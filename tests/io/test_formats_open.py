"""bigimg.open / bigimg.io.header across formats, spacing that never goes wrong, the CLI.

Every reader also runs on a two-process cluster in tests/distributed/test_io.py."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
nibabel = pytest.importorskip("nibabel")
nrrd = pytest.importorskip("nrrd")
pydicom = pytest.importorskip("pydicom")

import bigimg  # noqa: E402
from bigimg import ndimage  # noqa: E402
from bigimg.cli import main  # noqa: E402
from bigimg.io import format_of, header, open_zarr  # noqa: E402
from tests.io.test_formats_dicom import MR2, write_series  # noqa: E402
from tests.io.test_formats_nifti import write_nifti  # noqa: E402

NIB = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")


def test_format_of_suffix_and_magic(tmp_path):
    assert format_of("a.nii.gz") == "nifti" and format_of("x.st") == "mrc"
    assert format_of("s.nhdr") == "nrrd" and format_of("f.nxs") == "hdf5"
    assert format_of(MR2) == "dicom"  # a folder of files without a suffix
    with h5py.File(tmp_path / "noext", "w") as f:
        f.create_dataset("d", data=[1])
    assert format_of(str(tmp_path / "noext")) == "hdf5"
    (tmp_path / "mystery").write_bytes(b"\0" * 400)
    with pytest.raises(ValueError, match="cannot tell the format of .*mystery"):
        bigimg.open(str(tmp_path / "mystery"))
    with pytest.raises(TypeError, match="shape= and dtype="):
        bigimg.open(str(tmp_path / "v.raw"))
    with pytest.raises(NotImplementedError, match="bigimg info"):
        header(str(tmp_path / "v.tif"))


def test_only_arrays_straight_from_a_reader_carry_a_header(tmp_path):
    data = np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8)
    path = write_nifti(str(tmp_path / "v.nii"), data, zooms=(0.5, 0.7, 3.0))
    arr = bigimg.open(path, chunks=(2, 7, 8))
    assert header(arr).spacing == pytest.approx((3.0, 0.7, 0.5))
    from bigimg._sources import rechunk

    assert header(rechunk(arr, (3, 4, 4))).spacing == header(arr).spacing  # same voxels
    for derived in (arr[::2], arr.T, arr[1:], arr + 1, arr > 3, arr.rechunk((3, 7, 8)),
                    ndimage.gaussian_filter(arr, 1), ndimage.zoom(arr, 0.5)):  # fmt: skip
        assert header(derived) is None
    with pytest.raises(TypeError, match="`path` must be a str"):
        header(np.zeros(3))  # a numpy array has no file behind it


def test_filter_label_regionprops_in_physical_units(tmp_path):
    """The issue's 'done when': header spacing -> areas in mm^3, centroids in mm."""
    pytest.importorskip("skimage")
    data = np.zeros((6, 8, 10), np.int16)
    data[1:4, 2:5, 3:9] = 100
    folder = write_series(tmp_path / "s", data, step=2.0)  # pixels 0.5 x 0.75 mm
    vol = bigimg.open(str(folder), chunks=(2, 8, 10))
    spacing = header(vol).spacing
    labels, n = ndimage.label(ndimage.median_filter(vol, size=1) > 50)
    table = bigimg.measure.regionprops_table(
        labels, properties=["label", "area", "centroid"], spacing=spacing
    )
    assert n == 1 and float(table["area"][0]) == pytest.approx(3 * 3 * 6 * 2.0 * 0.5 * 0.75)
    assert float(table["centroid-0"][0]) == pytest.approx(2.0 * 2.0)


def test_cli_info_and_convert_write_the_header_spacing(tmp_path, capsys):
    path = os.path.join(NIB, "anatomical.nii")
    assert main(["info", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "nifti" and info["shape"] == [25, 41, 33]
    assert info["spacing"] == [2.0, 2.0, 2.0] and info["unit"] == "millimeter"
    assert info["space"] == "RAS" and len(info["direction"]) == 3
    out = tmp_path / "a.ome.zarr"
    assert main(["convert", path, str(out), "--no-progress"]) == 0
    attrs = open_zarr_attrs(out)
    scale = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [2.0, 2.0, 2.0]
    assert {a["unit"] for a in attrs["multiscales"][0]["axes"]} == {"millimeter"}
    want = np.asanyarray(nibabel.load(path).dataobj).T
    np.testing.assert_array_equal(open_zarr(out).compute(), want)


def open_zarr_attrs(path) -> dict:
    import zarr

    attrs = zarr.open_group(str(path), mode="r").attrs.asdict()
    return attrs.get("ome", attrs)


def test_cli_dicom_series_pick_and_hdf5_dataset(tmp_path, capsys):
    assert main(["info", MR2]) == 2  # an input error
    err = capsys.readouterr().err
    assert "holds 3 DICOM series" in err and "--series N" in err
    assert main(["info", MR2, "--series", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [1, 16, 16]
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    folder = write_series(tmp_path / "ct", data, step=1.5)
    out = tmp_path / "ct.ome.zarr"
    assert main(["convert", str(folder), str(out), "--no-progress"]) == 0
    attrs = open_zarr_attrs(out)
    scale = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [1.5, 0.5, 0.75]
    assert "scale 1.5 x 0.5 x 0.75 millimeter" in capsys.readouterr().out
    np.testing.assert_array_equal(open_zarr(out).compute(), data)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f.create_dataset("a/b", data=data)
        f.create_dataset("c", data=data[:2])
    assert main(["info", str(tmp_path / "t.h5"), "--component", "/a/b", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [4, 5, 6]
    assert main(["convert", str(tmp_path / "t.h5"), str(tmp_path / "t.zarr"),
                 "--component", "c", "--no-progress"]) == 0  # fmt: skip
    np.testing.assert_array_equal(open_zarr(tmp_path / "t.zarr").compute(), data[:2])
