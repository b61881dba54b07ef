"""``bigimg info`` on every format: header facts, spacing, JSON, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr

from bigimg.cli import main
from bigimg.io import save_zarr
from bigimg.testing import random_volume

VOL = random_volume((6, 7, 8), np.uint16)


def _info(capsys, *args) -> dict:
    assert main(["info", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_raw_without_and_with_shape(tmp_path, capsys):
    cube = np.zeros((8, 8, 8), np.uint16)
    cube.tofile(tmp_path / "cube.raw")
    info = _info(capsys, tmp_path / "cube.raw")
    assert info["format"] == "raw" and info["size_on_disk"] == 1024
    assert info["fits"] == ["8,8,8 uint16"] and "shape" not in info
    info = _info(capsys, tmp_path / "cube.raw", "--shape", "8x8x8", "--dtype", "uint16")
    assert info["shape"] == [8, 8, 8] and info["dtype"] == "uint16"
    assert main(["info", str(tmp_path / "cube.raw")]) == 0
    text = capsys.readouterr().out
    assert "size on disk  1.0 KiB" in text and "pass --shape and --dtype" in text


def test_raw_size_mismatch_is_exit_2(tmp_path, capsys):
    VOL.tofile(tmp_path / "v.raw")
    assert main(["info", str(tmp_path / "v.raw"), "--shape", "6,7,9", "--dtype", "uint16"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bigimg info: error: raw file") and "check shape, dtype" in err
    assert err.count("\n") == 1


def test_tiff_file_with_imagej_spacing(tmp_path, capsys):
    path = tmp_path / "v.tif"
    tifffile.imwrite(
        path,
        VOL,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"spacing": 2.0, "unit": "um"},
    )
    info = _info(capsys, path)
    assert info["format"] == "tiff" and info["shape"] == [6, 7, 8]
    assert info["dtype"] == "uint16" and info["chunks"] == [1, 7, 8]
    assert info["spacing"] == [2.0, 0.25, 0.25] and info["unit"] == "micrometer"
    assert info["nbytes"] == VOL.nbytes and info["size_on_disk"] == path.stat().st_size


def test_ome_tiff_spacing_and_tiles(tmp_path, capsys):
    path = tmp_path / "v.ome.tif"
    vol = random_volume((3, 40, 48), np.uint8)
    tifffile.imwrite(
        path,
        vol,
        tile=(16, 16),
        compression="zlib",
        metadata={
            "axes": "ZYX",
            "PhysicalSizeZ": 3.0,
            "PhysicalSizeY": 0.5,
            "PhysicalSizeX": 0.5,
            "PhysicalSizeXUnit": "nm",
        },
    )
    info = _info(capsys, path)
    assert info["chunks"] == [1, 16, 16] and info["compression"] == "adobe_deflate"
    assert info["spacing"] == [3.0, 0.5, 0.5] and info["unit"] == "nanometer"


def test_tiff_stack(tmp_path, capsys):
    for z in range(VOL.shape[0]):
        tifffile.imwrite(tmp_path / f"s_{z}.tif", VOL[z])
    info = _info(capsys, tmp_path)
    assert info["files"] == 6 and info["shape"] == [6, 7, 8] and info["spacing"] is None
    assert _info(capsys, tmp_path / "s_*.tif")["shape"] == [6, 7, 8]


def test_zarr_array(tmp_path, capsys):
    path = save_zarr(VOL, tmp_path / "v.zarr", chunks=(3, 7, 4), zarr_format=2, progress=False)
    info = _info(capsys, path)
    assert info["format"] == "zarr" and info["zarr_format"] == 2
    assert info["shape"] == [6, 7, 8] and info["chunks"] == [3, 7, 4]
    assert info["compressor"].startswith("blosc") and info["spacing"] is None
    assert main(["info", path]) == 0
    assert "(4 chunks)" in capsys.readouterr().out


def _ome_zarr(path, version="0.4"):
    """A two-level OME-Zarr image with a label image, metadata written by hand."""
    root = zarr.open_group(path, mode="w", zarr_format=2)
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    datasets = []
    for level, factor in enumerate((1, 2)):
        root.create_array(str(level), data=VOL[:, ::factor, ::factor], chunks=(2, 4, 4))
        datasets.append(
            {
                "path": str(level),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [2.0, 0.5 * factor, 0.5 * factor]}
                ],
            }
        )
    root.attrs["multiscales"] = [{"version": version, "axes": axes, "datasets": datasets}]
    root.create_group("labels").attrs["labels"] = ["cells"]
    return path


def test_ome_zarr_levels_spacing_labels(tmp_path, capsys):
    path = _ome_zarr(str(tmp_path / "img.zarr"))
    info = _info(capsys, path)
    assert info["format_detail"] == "OME-Zarr image" and info["shape"] == [6, 7, 8]
    assert [lev["shape"] for lev in info["levels"]] == [[6, 7, 8], [6, 4, 4]]
    assert info["spacing"] == [2.0, 0.5, 0.5] and info["unit"] == "micrometer"
    assert info["labels"] == ["cells"]
    assert _info(capsys, path, "--component", "1")["shape"] == [6, 4, 4]
    assert main(["info", path]) == 0
    text = capsys.readouterr().out
    assert "spacing       2 x 0.5 x 0.5 micrometer" in text and "level 1" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.zarr"], "does not exist"),
        (["v.raw", "--dtype", "uint16"], "shape and dtype must be given"),
        (["v.raw", "--shape", "a,b", "--dtype", "uint16"], "--shape must be integers"),
        (["v.raw", "--shape", "6,7,8", "--dtype", "complex64"], "--dtype must be a numeric"),
        (["v.zarr", "--shape", "6,7,8"], "do not apply to zarr input"),
        (["v.unknown"], "cannot tell the format"),
        (["folder"], "holds neither a zarr store"),
        (["v.zarr", "--component", "nope"], "`component` must name an array"),
        (["v.bigimg-partial-123"], "is incomplete"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    VOL.tofile("v.raw")
    VOL.tofile("v.unknown")
    VOL.tofile("v.bigimg-partial-123")
    (tmp_path / "folder").mkdir()
    zarr.open_group("v.zarr", mode="w").create_array("a", data=VOL)
    assert main(["info", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bigimg info: error: ") and err.count("\n") == 1, err
    assert message in err


def test_axis_names_follow_the_rank(tmp_path, capsys):
    """A 4-D volume's leading axis is not called a plane (only the last three are named)."""
    save_zarr(np.zeros((2, 3, 4, 5), np.uint8), tmp_path / "t.zarr", progress=False)
    save_zarr(np.zeros((4, 5), np.uint8), tmp_path / "p.zarr", progress=False)
    assert main(["info", str(tmp_path / "t.zarr")]) == 0
    assert "2 x 3 x 4 x 5  (axis 0, plane, row, column)" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "p.zarr")]) == 0
    assert "4 x 5  (row, column)" in capsys.readouterr().out


def test_raw_with_trailing_bytes_needs_allow_trailing(tmp_path, capsys):
    path = tmp_path / "v.raw"
    path.write_bytes(VOL.tobytes() + b"footer")
    args = ["info", str(path), "--shape", "6,7,8", "--dtype", "uint16"]
    assert main(args) == 2
    assert "allow_trailing" in capsys.readouterr().err
    assert main([*args, "--allow-trailing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [6, 7, 8]
    assert main(["convert", *args[1:], str(tmp_path / "v.zarr"), "--allow-trailing"]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "v.zarr")[...], VOL)
    save_zarr(VOL, tmp_path / "z.zarr")
    assert main(["info", str(tmp_path / "z.zarr"), "--allow-trailing"]) == 2
    assert "--allow-trailing do not apply to zarr input" in capsys.readouterr().err
