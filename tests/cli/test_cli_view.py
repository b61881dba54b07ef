"""``bigimg view`` in physical space: the file's spacing and orientation, CT windows, 4-D input."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
nibabel = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402

import bigimg.display  # noqa: E402, F401
from bigimg.cli import main  # noqa: E402
from bigimg.io import save_ome_zarr  # noqa: E402

NIB_DATA = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")
CT = get_testdata_file("CT_small.dcm")  # one CT slice, LPS, 5 x 0.66 x 0.66 mm


@pytest.fixture
def figures(monkeypatch):
    """The figures ``bigimg view`` draws (patched where the CLI imports ``summary`` from)."""
    display = sys.modules["bigimg.display"]
    real, drawn = display.summary, []

    def spy(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(display, "summary", spy)
    return drawn


def _view(path, out, *options):
    return main(["view", str(path), "--out", str(out), "--dpi", "30", *options])


def test_4d_nifti_shows_one_time_point_in_mm(tmp_path, figures, capsys):
    path = os.path.join(NIB_DATA, "example4d.nii.gz")
    assert _view(path, tmp_path / "a.png", "--index", "1", "--convention", "radiological") == 0
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    (fig,) = figures
    assert fig.get_suptitle() == (
        "example4d.nii.gz\ntime point 1 (of 2)  |  radiological: patient's left on screen right"
    )
    axial = fig.axes[0]
    assert (axial.get_xlabel(), axial.get_ylabel()) == ("x (mm)", "y (mm)")
    assert {t.get_text() for t in axial.texts} == {"R", "L", "A", "P"}
    volume1 = nibabel.load(path).get_fdata()[..., 1].T
    np.testing.assert_allclose(axial.images[0].get_array(), volume1[12])
    capsys.readouterr()
    assert _view(os.path.join(NIB_DATA, "anatomical.nii"), tmp_path / "c.png", "--index", "1") == 2
    assert "--index picks one volume of a 4-D input" in capsys.readouterr().err


def test_dicom_window_and_convention(tmp_path, figures, capsys):
    assert _view(CT, tmp_path / "a.png", "--window", "lung", "--convention", "neurological") == 0
    (fig,) = figures
    assert fig.get_suptitle() == (
        "CT_small.dcm\nW 1500 / L -600 (lung)  |  neurological: patient's left on screen left"
    )
    assert {tuple(im.get_clim()) for ax in fig.axes[:6] for im in ax.images} == {(-1350, 150)}
    left, right = fig.axes[0].get_xlim()
    assert left > right  # DICOM columns run to the patient's left: flipped for neurological
    assert _view(CT, tmp_path / "b.png", "--window=40,400") == 0
    assert figures[1].axes[0].images[0].get_clim() == (-160.0, 240.0)
    assert "W 400 / L 40" in figures[1].get_suptitle()
    capsys.readouterr()
    for options, message in [
        (["--window", "lungs"], "`window` must be one of 'brain', 'lung'"),
        (["--window=1,2,3"], "--window must be a preset name or LEVEL,WIDTH"),
        (["--window", "lung", "--percentiles", "1,99"], "--window and --percentiles both"),
    ]:
        assert _view(CT, tmp_path / "c.png", *options) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_spacing_from_ome_zarr_scale_and_mrc_header(tmp_path, figures, capsys):
    mrcfile = pytest.importorskip("mrcfile")
    vol = np.arange(4 * 6 * 8, dtype=np.float32).reshape(4, 6, 8)
    save_ome_zarr(vol, tmp_path / "v.ome.zarr", scale=(3.0, 1.0, 0.5), units="millimeter",
                  progress=False)  # fmt: skip
    assert _view(tmp_path / "v.ome.zarr", tmp_path / "a.png", "--unit", "um") == 0
    coronal = figures[0].axes[1]  # the file's scale, in the unit given
    assert (coronal.get_xlabel(), coronal.get_ylabel()) == ("x (um)", "z (um)")
    assert [float(v) for v in coronal.get_ylim()] == [10.5, -1.5]  # 4 planes of 3
    with mrcfile.new(tmp_path / "t.mrc") as mrc:
        mrc.set_data(vol)
        mrc.voxel_size = (2.0, 2.0, 5.0)  # x, y, z in angstrom
    assert _view(tmp_path / "t.mrc", tmp_path / "b.png") == 0
    assert figures[1].axes[1].get_ylabel() == "z (Å)"
    assert [float(v) for v in figures[1].axes[1].get_ylim()] == [17.5, -2.5]
    capsys.readouterr()
    assert _view(tmp_path / "t.mrc", tmp_path / "c.png", "--convention", "radiological") == 2
    assert "mrc header records no patient direction" in capsys.readouterr().err
