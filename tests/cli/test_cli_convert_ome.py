"""``bigimg convert`` to OME-Zarr: the OME version / zarr format pair, and labels carried."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr

from bigimg.cli import main
from bigimg.io import open_zarr, save_ome_zarr
from bigimg.testing import random_volume

VOL = random_volume((6, 10, 12), np.uint16)
CELLS = (VOL // 9000).astype(np.uint32)
NUCLEI = (VOL % 3).astype(np.uint8)
SMALL = ["--levels", "2", "--factors", "1,2,2", "--chunks", "4"]


def _ome(path):
    """(zarr format, OME attributes) of the OME-Zarr image at ``path``."""
    group = zarr.open_group(str(path), mode="r")
    attrs = group.attrs.asdict()
    return group.metadata.zarr_format, attrs.get("ome", attrs)


@pytest.fixture
def src(tmp_path):
    return save_ome_zarr(
        VOL,
        tmp_path / "in.ome.zarr",
        labels={"cells": CELLS, "nuclei": NUCLEI},
        scale=(2.0, 0.5, 0.5),
        units="micrometer",
        levels=2,
        factors=(1, 2, 2),
        chunks=4,
        progress=False,
    )


@pytest.mark.parametrize(
    ("flags", "zarr_format", "version"),
    [
        ([], 3, "0.5"),
        (["--zarr-format", "3"], 3, "0.5"),
        (["--ome-version", "0.5", "--zarr-format", "3"], 3, "0.5"),
        (["--ome-version", "0.4"], 2, "0.4"),
        (["--zarr-format", "2"], 2, "0.4"),
        (["--ome-version", "0.4", "--zarr-format", "2"], 2, "0.4"),
    ],
)
def test_ome_version_and_zarr_format_agree(tmp_path, capsys, flags, zarr_format, version):
    out = tmp_path / "out.zarr"
    VOL.tofile(tmp_path / "v.raw")
    raw = ["--shape", "6,10,12", "--dtype", "uint16"]
    assert main(["convert", str(tmp_path / "v.raw"), str(out), *raw, "--ome", *SMALL, *flags]) == 0
    assert f"OME-Zarr {version}" in capsys.readouterr().out
    stored, attrs = _ome(out)
    assert stored == zarr_format
    ms = attrs["multiscales"][0]
    if version == "0.5":
        assert attrs["version"] == "0.5" and "version" not in ms
    else:
        assert ms["version"] == "0.4"
    assert open_zarr(out, component="0").dtype == np.uint16
    np.testing.assert_array_equal(open_zarr(out).compute(), VOL)


def test_contradictory_version_and_format_are_refused_before_anything(tmp_path, capsys):
    VOL.tofile(tmp_path / "v.raw")
    raw = ["--shape", "6,10,12", "--dtype", "uint16"]
    for flags in (
        ["--ome-version", "0.4", "--zarr-format", "3"],
        ["--ome-version", "0.5", "--zarr-format", "2"],
    ):
        code = main(
            ["convert", str(tmp_path / "v.raw"), str(tmp_path / "o.ome.zarr"), *raw, *flags]
        )
        err = capsys.readouterr().err
        assert code == 2
        assert f"--ome-version {flags[1]} contradicts --zarr-format {flags[3]}" in err
        assert "0.4 is zarr v2" in err and "Traceback" not in err
    # --ome-version needs an OME-Zarr output; --zarr-format a zarr one
    code = main(
        ["convert", str(tmp_path / "v.raw"), str(tmp_path / "o.zarr"), *raw, "--ome-version", "0.4"]
    )
    assert code == 2 and "--ome-version applies to OME-Zarr outputs only" in capsys.readouterr().err
    code = main(
        ["convert", str(tmp_path / "v.raw"), str(tmp_path / "o.tif"), *raw, "--zarr-format", "2"]
    )
    assert code == 2 and "--zarr-format applies to zarr outputs only" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["v.raw"]  # nothing left behind


def test_plain_zarr_keeps_its_zarr_format(tmp_path):
    VOL.tofile(tmp_path / "v.raw")
    raw = ["--shape", "6,10,12", "--dtype", "uint16"]
    for fmt in ("2", "3"):
        out = tmp_path / f"v{fmt}.zarr"
        assert main(["convert", str(tmp_path / "v.raw"), str(out), *raw, "--zarr-format", fmt]) == 0
        assert zarr.open_array(str(out), mode="r").metadata.zarr_format == int(fmt)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_labels_are_carried_with_their_names(tmp_path, capsys, src, version):
    out = tmp_path / "out.ome.zarr"
    code = main(["convert", src, str(out), *SMALL, "--ome-version", version])
    assert code == 0
    assert f"labels cells, nuclei from {src}" in capsys.readouterr().out
    stored, _ = _ome(out)
    assert stored == (2 if version == "0.4" else 3)
    labels = zarr.open_group(str(out / "labels"), mode="r").attrs.asdict()
    assert (labels if version == "0.4" else labels["ome"])["labels"] == ["cells", "nuclei"]
    np.testing.assert_array_equal(open_zarr(out).compute(), VOL)
    for name, want in (("cells", CELLS), ("nuclei", NUCLEI)):
        back = open_zarr(out, component=f"labels/{name}")
        assert back.dtype == want.dtype
        np.testing.assert_array_equal(back.compute(), want)
        _, attrs = _ome(out / "labels" / name)
        assert "image-label" in attrs
        level1 = open_zarr(out, component=f"labels/{name}/1").compute()
        np.testing.assert_array_equal(
            level1, open_zarr(src, component=f"labels/{name}/1").compute()
        )
    # the scale recorded in the input travels too
    _, attrs = _ome(out)
    scale = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert scale["scale"] == [2.0, 0.5, 0.5]


def test_labels_of_an_image_inside_a_store(tmp_path, src):
    # the image is a component of a bigger store: its labels come with it
    outer = zarr.open_group(str(tmp_path / "plate.zarr"), mode="w", zarr_format=3)
    outer.create_group("well")
    os.rename(src, tmp_path / "plate.zarr" / "well" / "img")
    out = tmp_path / "img.ome.zarr"
    code = main(
        ["convert", str(tmp_path / "plate.zarr"), str(out), "--component", "well/img", *SMALL]
    )
    assert code == 0
    np.testing.assert_array_equal(open_zarr(out, component="labels/nuclei").compute(), NUCLEI)


def test_labels_are_not_carried_into_plain_zarr(tmp_path, capsys, src):
    out = tmp_path / "plain.zarr"
    assert main(["convert", src, str(out)]) == 0
    assert "carried only into OME-Zarr" in capsys.readouterr().out
    assert isinstance(zarr.open(str(out), mode="r"), zarr.Array)


def test_a_missing_or_misfit_label_image_is_a_clear_error(tmp_path, capsys, src):
    group = zarr.open_group(os.path.join(src, "labels"), mode="r+")
    group.attrs["ome"] = {"version": "0.5", "labels": ["cells", "ghost"]}
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", src, str(out)]) == 2
    err = capsys.readouterr().err
    assert "lists the label image 'ghost' but labels/ghost holds none" in err
    assert not out.exists()
    # a label image at another resolution
    save_ome_zarr(CELLS[:, :5], os.path.join(src, "labels", "ghost"), levels=1, progress=False)
    assert main(["convert", src, str(out)]) == 2
    err = capsys.readouterr().err
    assert "label image labels/ghost" in err and "shape 6 x 5 x 12" in err
    assert not out.exists()


def test_help_says_labels_are_carried(capsys):
    assert main(["convert", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "label images (its labels/ group) are carried" in text
    assert "--ome-version {0.4,0.5}" in text
