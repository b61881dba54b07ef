"""``bigimg info`` and ``bigimg convert`` with time and channel axes (issue 14): nibabel's
4-D ``example4d.nii.gz`` to OME-Zarr with a t axis (time step and unit from the header),
OME-Zarr to OME-Zarr keeping axes, time unit and translation, ``--axes``,
``--time-unit``, and clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import zarr

from bigimg.cli import main
from bigimg.io import header, open_nifti, open_zarr
from tests.io.test_ome_4d import check_ome_spec

nibabel = pytest.importorskip("nibabel")
EXAMPLE4D = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")


def _info(capsys, path, *args) -> dict:
    assert main(["info", str(path), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _multiscale(path) -> dict:
    attrs = zarr.open_group(str(path), mode="r").attrs.asdict()
    return attrs.get("ome", attrs)["multiscales"][0]


def test_info_of_a_4d_nifti_names_the_time_axis(capsys):
    info = _info(capsys, EXAMPLE4D)
    assert info["axes"] == "tzyx" and info["shape"] == [2, 24, 96, 128]
    assert info["time_step"] == 2000.0 and info["time_unit"] == "second"
    assert info["unit"] == "millimeter"
    assert main(["info", EXAMPLE4D]) == 0
    text = capsys.readouterr().out
    assert "2 x 24 x 96 x 128  (time, plane, row, column)" in text
    assert "spacing       2.2 x 2 x 2 millimeter" in text
    assert "time step     2000 second" in text


def test_convert_4d_nifti_to_ome_zarr_with_a_time_axis(tmp_path, capsys):
    out = tmp_path / "series.ome.zarr"
    args = ["convert", EXAMPLE4D, str(out), "--factors", "1,2,2", "--levels", "2"]
    assert main([*args, "--chunks", "8,32,32"]) == 0
    assert "scale 2.2 x 2 x 2 millimeter, time step 2000 second from" in capsys.readouterr().out
    ms = check_ome_spec(out, "0.5")
    h = header(open_nifti(EXAMPLE4D))
    assert [(a["name"], a["type"], a.get("unit")) for a in ms["axes"]] == [
        ("t", "time", "second"),
        *[(n, "space", "millimeter") for n in "zyx"],
    ]
    scale, shift = ms["datasets"][0]["coordinateTransformations"]
    assert scale["scale"] == list(h.spacing)
    assert shift["translation"] == [0.0, *(float(np.dot(h.origin, d)) for d in h.direction[1:])]
    assert zarr.open_array(str(out / "0"), mode="r").chunks == (1, 8, 32, 32)
    np.testing.assert_array_equal(open_zarr(out).compute(), open_nifti(EXAMPLE4D).compute())
    assert open_zarr(out, component="1").shape == (2, 24, 48, 64)
    info = _info(capsys, out)
    assert info["axes"] == "tzyx" and info["time_step"] == 2000.0
    assert info["time_unit"] == "second" and info["spacing"][1:] == list(h.spacing[1:])
    assert info["translation"] == shift["translation"]
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(time, plane, row, column)" in text and "time step     2000 second" in text
    assert "translation   " in text

    # OME-Zarr to OME-Zarr 0.4: the axes, the time unit and the translation are carried
    again = tmp_path / "again.ome.zarr"
    assert main(["convert", str(out), str(again), "--ome-version", "0.4"]) == 0
    back = check_ome_spec(again, "0.4")
    assert back["axes"] == ms["axes"]
    assert back["datasets"][0]["coordinateTransformations"] == [scale, shift]
    # a scale for the space axes keeps the input's time step
    third = tmp_path / "third.ome.zarr"
    assert main(["convert", str(out), str(third), "--scale", "1,1,1", "--levels", "1"]) == 0
    (scale3, _) = _multiscale(third)["datasets"][0]["coordinateTransformations"]
    assert scale3["scale"] == [2000.0, 1.0, 1.0, 1.0]


def test_convert_with_axes_czyx_writes_channels(tmp_path, capsys):
    out = tmp_path / "channels.ome.zarr"
    assert main(["convert", EXAMPLE4D, str(out), "--axes", "czyx", "--levels", "1"]) == 0
    ms = check_ome_spec(out, "0.5")
    assert ms["axes"][0] == {"name": "c", "type": "channel"}
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"][0] == 1.0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(channel, plane, row, column)" in text and "channels      2" in text


def test_raw_series_with_scale_unit_and_time_unit(tmp_path, capsys):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    data.tofile(tmp_path / "s.raw")
    out = tmp_path / "s.ome.zarr"
    raw = ["--shape", "2,3,4,5", "--dtype", "uint8"]
    physical = ["--scale", "2.5,1,0.5,0.5", "--unit", "micrometer", "--time-unit", "second"]
    assert main(["convert", str(tmp_path / "s.raw"), str(out), *raw, *physical]) == 0
    ms = check_ome_spec(out, "0.5")
    assert [a.get("unit") for a in ms["axes"]] == ["second", *["micrometer"] * 3]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.5, 1.0, 0.5, 0.5]
    np.testing.assert_array_equal(open_zarr(out).compute(), data)


@pytest.mark.parametrize(
    ("shape", "args", "message"),
    [
        ((3, 4, 5), ["--time-unit", "second"], "--time-unit names the unit of a time axis"),
        ((3, 4, 5), ["--axes", "tzyx"], "`axes` must be one of 'zyx', 'tyx', 'cyx' for a 3-D"),
        ((2, 3, 4, 5), ["--time-unit", "fortnight"], "time units such as 'second'"),
    ],
)
def test_bad_4d_options_are_one_line_and_exit_2(tmp_path, capsys, shape, args, message):
    np.zeros(shape, np.uint8).tofile(tmp_path / "v.raw")
    call = ["convert", str(tmp_path / "v.raw"), str(tmp_path / "o.ome.zarr")]
    raw = ["--shape", ",".join(map(str, shape)), "--dtype", "uint8"]
    assert main([*call, *raw, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bigimg convert: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "o.ome.zarr").exists()


def test_convert_says_when_a_series_records_no_time_step(tmp_path, capsys):
    data = np.zeros((5, 4, 3, 2), np.int16)  # (i, j, k, t)
    img = nibabel.Nifti1Image(data, np.diag([0.5, 0.5, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 0.0
    nibabel.save(img, str(tmp_path / "no_tr.nii"))
    out = tmp_path / "o.ome.zarr"
    assert main(["convert", str(tmp_path / "no_tr.nii"), str(out), "--levels", "1"]) == 0
    assert "scale 2 x 0.5 x 0.5 millimeter, no time step from" in capsys.readouterr().out
    assert _multiscale(out)["datasets"][0]["coordinateTransformations"][0]["scale"][0] == 1.0
