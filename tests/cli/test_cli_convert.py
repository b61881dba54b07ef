"""``bigimg convert`` (values and chunks) and ``bigimg view`` (a PNG)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from bigimg._atomic import PARTIAL_TAG
from bigimg.cli import main
from bigimg.io import open_raw, open_tiff, open_zarr
from bigimg.testing import ct_phantom, random_volume

VOL = random_volume((13, 17, 19), np.uint16)
RAW = ["--shape", "13,17,19", "--dtype", "uint16"]


def test_raw_to_zarr_with_rechunk(tmp_path, capsys):
    VOL.tofile(tmp_path / "v.raw")
    out = tmp_path / "v.zarr"
    assert (
        main(
            [
                "convert",
                str(tmp_path / "v.raw"),
                str(out),
                *RAW,
                "--chunks",
                "5,17,8",
                "--no-progress",
            ]
        )
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    arr = open_zarr(out)
    assert arr.chunks == ((5, 5, 3), (17,), (8, 8, 3)) and arr.dtype == VOL.dtype
    np.testing.assert_array_equal(arr.compute(), VOL)


def test_big_endian_fortran_raw_with_header(tmp_path):
    data = VOL.astype(">u2")
    with open(tmp_path / "v.dat", "wb") as fh:
        fh.write(b"H" * 64)
        fh.write(np.asfortranarray(data).tobytes(order="F"))
    out = tmp_path / "v.zarr"
    assert (
        main(
            [
                "convert",
                str(tmp_path / "v.dat"),
                str(out),
                "--shape",
                "13,17,19",
                "--dtype",
                ">u2",
                "--offset",
                "64",
                "--order",
                "F",
                "--zarr-format",
                "2",
            ]
        )
        == 0
    )
    back = open_zarr(out).compute()
    assert back.dtype.str == ">u2"
    np.testing.assert_array_equal(back, data)


def test_tiff_to_zarr_and_zarr_to_tiff_and_raw(tmp_path):
    tifffile.imwrite(tmp_path / "v.tif", VOL)
    assert (
        main(["convert", str(tmp_path / "v.tif"), str(tmp_path / "v.zarr"), "--chunks", "8"]) == 0
    )
    arr = open_zarr(tmp_path / "v.zarr")
    assert arr.chunksize == (8, 8, 8)
    np.testing.assert_array_equal(arr.compute(), VOL)
    assert main(["convert", str(tmp_path / "v.zarr"), str(tmp_path / "w.tif")]) == 0
    np.testing.assert_array_equal(open_tiff(tmp_path / "w.tif").compute(), VOL)
    assert main(["convert", str(tmp_path / "v.zarr"), str(tmp_path / "w.bin")]) == 0
    np.testing.assert_array_equal(open_raw(tmp_path / "w.bin", VOL.shape, VOL.dtype).compute(), VOL)


def test_tiff_stack_to_zarr(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    for z in range(VOL.shape[0]):
        tifffile.imwrite(folder / f"slice_{z}.tif", VOL[z])
    assert main(["convert", str(folder), str(tmp_path / "v.zarr"), "--chunks", "4,17,19"]) == 0
    np.testing.assert_array_equal(open_zarr(tmp_path / "v.zarr").compute(), VOL)


def test_existing_output_needs_overwrite(tmp_path, capsys):
    VOL.tofile(tmp_path / "v.raw")
    out = tmp_path / "v.zarr"
    args = ["convert", str(tmp_path / "v.raw"), str(out), *RAW]
    assert main(args) == 0
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    (VOL + 1).tofile(tmp_path / "v.raw")
    assert main([*args, "--overwrite"]) == 0
    np.testing.assert_array_equal(open_zarr(out).compute(), VOL + 1)
    assert not [n for n in os.listdir(tmp_path) if PARTIAL_TAG in n]


def test_interrupted_convert_leaves_nothing(tmp_path, monkeypatch, capsys):
    from bigimg.io._raw import RawReader

    VOL.tofile(tmp_path / "v.raw")
    real_read = RawReader._read

    def read(self, region):
        if region[0].start >= 10:  # Ctrl-C while the last blocks are read
            raise KeyboardInterrupt
        return real_read(self, region)

    monkeypatch.setattr(RawReader, "_read", read)
    args = ["convert", str(tmp_path / "v.raw"), str(tmp_path / "v.zarr"), *RAW, "--chunks", "5"]
    assert main(args) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["v.raw"]
    monkeypatch.undo()
    assert main(args) == 0
    np.testing.assert_array_equal(open_zarr(tmp_path / "v.zarr").compute(), VOL)


@pytest.mark.parametrize(
    "args, message",
    [
        (["v.raw", "v.zarr"], "shape and dtype must be given"),
        (["v.raw", "v.png", *RAW], "cannot tell which format"),
        (["v.raw", "v.zarr", *RAW, "--chunks", "0"], "--chunks must be integers >= 1"),
        (["v.raw", "v.tif", *RAW, "--chunks", "4"], "chunks applies to zarr outputs"),
        (["v.raw", "v.zarr", *RAW, "--compression", "zlib"], "compression applies to TIFF"),
        (["v.raw", "v.raw", *RAW, "--overwrite"], "same path"),
        (["v.raw", "nofolder/v.zarr", *RAW], "does not exist; create it first"),
        (
            ["v.raw", "v.zarr", *RAW, "--scheduler", "processes", "--workers", "0"],
            "--workers must be >= 1",
        ),
    ],
)
def test_bad_convert_is_exit_2(tmp_path, monkeypatch, args, message, capsys):
    monkeypatch.chdir(tmp_path)
    VOL.tofile("v.raw")
    assert main(["convert", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bigimg convert: error: ") and message in err, err
    assert sorted(os.listdir(tmp_path)) == ["v.raw"]


def test_view_writes_png_with_labels_and_spacing(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    ct = ct_phantom((12, 20, 22))
    tifffile.imwrite(
        tmp_path / "ct.tif",
        ct,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"spacing": 2.0, "unit": "um"},
    )
    labels = (ct > 1500).astype(np.uint8)
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    png = tmp_path / "view.png"
    assert (
        main(
            [
                "view",
                str(tmp_path / "ct.tif"),
                "--out",
                str(png),
                "--labels",
                str(tmp_path / "labels.tif"),
                "--projection",
                "mean",
                "--dpi",
                "40",
            ]
        )
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in capsys.readouterr().out
    assert main(["view", str(tmp_path / "ct.tif"), "--out", str(png)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "ct.tif"), "--out", str(tmp_path / "v.jpg")]) == 2
    assert "--out must end in .png" in capsys.readouterr().err
    assert (
        main(
            [
                "view",
                str(tmp_path / "ct.tif"),
                "--out",
                str(tmp_path / "p.png"),
                "--point",
                "12,0,0",
            ]
        )
        == 2
    )
    assert "point" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["ct.tif", "labels.tif", "view.png"]


def test_view_takes_spacing_from_the_file(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import sys

    import bigimg.display  # noqa: F401
    from bigimg.cli._convert import view

    # patch the module the CLI imports from (other tests may have re-imported it)
    display = sys.modules["bigimg.display"]

    tifffile.imwrite(
        tmp_path / "ct.tif",
        ct_phantom((8, 16, 16)),
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"spacing": 3.0, "unit": "um"},
    )
    seen = []
    real = display.summary

    def spy(*args, **kwargs):
        seen.append(kwargs["spacing"])
        return real(*args, **kwargs)

    monkeypatch.setattr(display, "summary", spy)
    view(str(tmp_path / "ct.tif"), str(tmp_path / "a.png"), open_options={})
    view(
        str(tmp_path / "ct.tif"), str(tmp_path / "b.png"), open_options={}, spacing=(1.0, 1.0, 1.0)
    )
    assert seen == [(3.0, 0.5, 0.5), (1.0, 1.0, 1.0)]


def test_convert_to_ome_zarr_keeps_the_spacing(tmp_path, capsys):
    ct = ct_phantom((10, 24, 26))
    tifffile.imwrite(
        tmp_path / "ct.tif",
        ct,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"spacing": 3.0, "unit": "um"},
    )
    out = tmp_path / "ct.ome.zarr"
    assert (
        main(
            [
                "convert",
                str(tmp_path / "ct.tif"),
                str(out),
                "--factors",
                "1,2,2",
                "--levels",
                "2",
                "--chunks",
                "8",
            ]
        )
        == 0
    )
    assert "scale 3 x 0.5 x 0.5 micrometer from" in capsys.readouterr().out
    np.testing.assert_array_equal(open_zarr(out).compute(), ct)
    assert open_zarr(out, component="1").shape == (10, 12, 13)
    assert main(["info", str(out), "--json"]) == 0
    info = __import__("json").loads(capsys.readouterr().out)
    assert info["spacing"] == [3.0, 0.5, 0.5] and info["unit"] == "micrometer"
    assert len(info["levels"]) == 2 and info["chunks"] == [8, 8, 8]
    # --ome with a .zarr name, an explicit scale and a reduction
    assert (
        main(
            [
                "convert",
                str(tmp_path / "ct.tif"),
                str(tmp_path / "b.zarr"),
                "--ome",
                "--scale",
                "1,1,1",
                "--reduce",
                "max",
                "--levels",
                "2",
            ]
        )
        == 0
    )
    assert open_zarr(tmp_path / "b.zarr", component="1").compute().max() == ct.max()
