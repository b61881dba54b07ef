"""bigimg.display in physical space: units, true shape, CT windows, 4-D series, conventions.

Real files shipped with nibabel and pydicom (``anatomical.nii``, ``example4d.nii.gz``,
``CT_small.dcm``, ``MR_small.dcm``) and small NIfTI files written here with known
affines, each with one marker voxel on the patient's left.
"""

from __future__ import annotations

import os
import re

import dask
import dask.array as da
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import bigimg  # noqa: E402
from bigimg import BigimgWarning  # noqa: E402
from bigimg.display import orthoslices, projection, summary  # noqa: E402
from bigimg.display._window import WINDOWS  # noqa: E402
from bigimg.io import Header, header  # noqa: E402
from bigimg.testing import raise_if_dask_computes  # noqa: E402

nibabel = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.pixels import apply_modality_lut  # noqa: E402

NIB_DATA = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")
ANATOMICAL = os.path.join(NIB_DATA, "anatomical.nii")  # (25, 41, 33) at 2 mm, codes "SAL"
EXAMPLE4D = os.path.join(NIB_DATA, "example4d.nii.gz")  # (2, 24, 96, 128), z at 2.2 mm


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


def _clim(ax):
    return tuple(float(c) for c in ax.images[0].get_clim())


def _lims(ax):
    return [float(v) for v in (*ax.get_xlim(), *ax.get_ylim())]


def _sides(ax):
    """The side letters by edge: {"left": "R", ...} (from their position in axes coords)."""
    out = {}
    for t in ax.texts:
        x, y = t.get_position()
        edge = "left" if x < 0.1 else "right" if x > 0.9 else "bottom" if y < 0.1 else "top"
        out[edge] = t.get_text()
    return out


def _on_screen(ax, x, y):
    """Where data point (x, y) lands, as fractions of the axes box (0..1 left-right, bottom-top)."""
    return tuple(float(v) for v in ax.transLimits.transform((x, y)))


# ------------------------------------------------------------------ physical units
def test_header_spacing_labels_axes_in_mm_with_true_shape():
    vol = bigimg.open(ANATOMICAL)  # straight from the reader: carries its header
    fig = orthoslices(vol)
    axial, coronal, sagittal = fig.axes
    assert (axial.get_xlabel(), axial.get_ylabel()) == ("x (mm)", "y (mm)")
    assert (sagittal.get_xlabel(), sagittal.get_ylabel()) == ("y (mm)", "z (mm)")
    assert _lims(axial) == [-1.0, 65.0, 81.0, -1.0]  # 33 x 41 voxels of 2 mm
    ticks = [t for t in axial.get_xticks() if -1 <= t <= 65]
    assert max(ticks) >= 60 and all(t % 10 == 0 for t in ticks)  # mm, not voxel indices
    # the crosshair sits at the point's position in mm (centre voxel 16 along x: 32 mm)
    assert list(axial.lines[1].get_xdata()) == [32.0, 32.0]
    plane = nibabel.load(ANATOMICAL).get_fdata()[:, :, 12].T  # (j, i) of slice k = 12
    np.testing.assert_array_equal(axial.images[0].get_array(), plane)

    # a derived array has no header: voxels, unless the header is passed on
    smooth = vol.astype(np.float32) + 0
    assert orthoslices(smooth).axes[0].get_xlabel() == "x (voxel)"
    fig = orthoslices(smooth, header=header(vol))
    assert fig.axes[0].get_xlabel() == "x (mm)" and _lims(fig.axes[0]) == _lims(axial)
    fig = orthoslices(smooth, spacing=(1.0, 0.5, 0.25), unit="micrometer")
    assert fig.axes[0].get_xlabel() == "x (µm)" and _lims(fig.axes[0])[:2] == [-0.125, 8.125]


def test_anisotropic_4d_series_keeps_true_shape():
    vol = bigimg.open(EXAMPLE4D)
    h = header(vol)
    dz, dy, dx = h.spacing[1:]  # 2.2, 2.0, 2.0 mm
    fig = orthoslices(vol, index=1, point=(10, 40, 60))
    assert fig.get_suptitle() == "time point 1 (of 2)"
    data = nibabel.load(EXAMPLE4D).get_fdata()[..., 1].T  # (k, j, i) of volume 1
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), data[:, 40, :])
    coronal = fig.axes[1]  # z (24 x 2.2 mm) by x (128 x 2 mm)
    coronal.figure.draw_without_rendering()
    box = coronal.get_window_extent()
    assert box.height / box.width == pytest.approx(24 * dz / (128 * dx), rel=0.02)
    assert coronal.get_ylabel() == "z (mm)" and _lims(coronal)[2] == pytest.approx(23.5 * dz)
    assert orthoslices(vol).get_suptitle() == "time point 0 (of 2)"  # the default index
    one = orthoslices(vol[1] * 1.0, header=h, point=(10, 40, 60))  # a 3-D copy, the file's grid
    assert _lims(one.axes[1]) == _lims(coronal) and one.get_suptitle() == ""
    labels = da.zeros(vol.shape, dtype=np.uint8, chunks=(1, 24, 96, 128))
    fig = orthoslices(vol, index=-1, labels=labels)
    assert fig.axes[0].images[1].get_array().shape == (96, 128, 4)


# ----------------------------------------------------------------------- windows
@pytest.mark.parametrize("name", ["lung", "bone", "brain", "soft tissue", "mediastinum"])
def test_window_presets_set_the_display_range_only(name):
    level, width = WINDOWS[name]
    vol = np.linspace(-1000, 1000, 4 * 5 * 6).reshape(4, 5, 6)
    fig = summary(vol, window=name.replace(" ", "-").upper(), title="ct")
    assert {_clim(ax) for ax in fig.axes[:6]} == {(level - width / 2, level + width / 2)}
    assert fig.get_suptitle() == f"ct\nW {width:g} / L {level:g} ({name})"
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), vol[2])  # data untouched


def test_explicit_window_and_real_ct_in_hounsfield_units():
    path = get_testdata_file("CT_small.dcm")
    ct = bigimg.open(path)
    fig = orthoslices(ct, window="lung")
    assert fig.get_suptitle() == "W 1500 / L -600 (lung)"
    assert _clim(fig.axes[0]) == (-1350.0, 150.0)
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), hu)
    fig = projection(ct, window=(40, 400.0))
    assert fig.get_suptitle() == "W 400 / L 40" and _clim(fig.axes[0]) == (-160.0, 240.0)
    assert fig.axes[0].get_xlabel() == "x (mm)"


def test_ct_preset_on_mr_warns_at_the_callers_line():
    mr = bigimg.open(get_testdata_file("MR_small.dcm"))
    with pytest.warns(BigimgWarning, match="CT preset in Hounsfield units.*series is MR") as rec:
        orthoslices(mr, window="brain")
    assert rec[0].filename == __file__


# ------------------------------------------------------------------- conventions
def _nifti(tmp_path, affine, marker=(1, 2, 2)):
    """A (i, j, k) = (6, 5, 4) volume of zeros with a 100 at voxel ``marker`` (i, j, k)."""
    data = np.zeros((6, 5, 4), dtype=np.int16)
    data[marker] = 100
    path = tmp_path / "marked.nii"
    img = nibabel.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    nibabel.save(img, str(path))
    return str(path)


@pytest.mark.parametrize("convention", ["radiological", "neurological"])
def test_convention_puts_the_patients_left_on_the_right_side(tmp_path, convention):
    # RAS affine: i grows toward the patient's right, so i = 1 lies on the left
    path = _nifti(tmp_path, np.diag([1.5, 1.0, 2.0, 1.0]))
    vol = bigimg.open(path)  # (k, j, i): codes "SAR"
    fig = orthoslices(vol, (2, 2, 1), convention=convention)
    text = f"{convention}: patient's left on screen {'right' if convention[0] == 'r' else 'left'}"
    assert fig.get_suptitle() == text
    axial, coronal, _ = fig.axes
    for ax, (x, y) in [(axial, (1 * 1.5, 2 * 1.0)), (coronal, (1 * 1.5, 2 * 2.0))]:
        ax_image = ax.images[0].get_array()
        assert ax_image.max() == 100  # the marker is in this plane
        sx, sy = _on_screen(ax, x, y)
        assert (sx > 0.5) == (convention == "radiological")  # left of the patient
        assert _sides(ax)["right"] == ("L" if convention == "radiological" else "R")
        assert _sides(ax)["top"] == ("A" if ax is axial else "S")
    assert sy > 0.5  # k = 2 of 0..3: above the middle once superior is up


def test_convention_transposes_a_panel_whose_rows_run_left_right(tmp_path):
    # file axes i -> anterior, j -> superior, k -> patient's right: (k, j, i) is "RSA"
    affine = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])
    vol = bigimg.open(_nifti(tmp_path, affine, marker=(1, 2, 0)))  # k = 0: the far left
    assert bigimg.io.header(vol).direction[0] == (1.0, 0.0, 0.0)
    ref = vol.compute()
    fig = orthoslices(vol, (0, 2, 1), convention="radiological")
    sagittal, axial, coronal = fig.axes  # the z plane is sagittal here (z runs left-right)
    np.testing.assert_array_equal(axial.images[0].get_array(), ref[:, 2, :].T)  # x by z
    assert (axial.get_xlabel(), axial.get_ylabel()) == ("z (mm)", "x (mm)")
    assert _sides(axial) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert axial.images[0].get_array()[1, 0] == 100
    assert _on_screen(axial, 0.0, 1.0)[0] > 0.75  # the patient's left on screen right
    assert _sides(coronal) == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert _sides(sagittal) == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    np.testing.assert_array_equal(sagittal.images[0].get_array(), ref[0])  # not transposed


def test_real_files_sides_and_flips():
    vol = bigimg.open(ANATOMICAL)  # codes "SAL": x grows toward the patient's left
    stored = orthoslices(vol)
    assert _sides(stored.axes[0]) == {"left": "R", "right": "L", "top": "P", "bottom": "A"}
    assert stored.get_suptitle() == ""
    radio = orthoslices(vol, convention="radiological")
    assert _lims(radio.axes[0]) == [-1.0, 65.0, -1.0, 81.0]  # only anterior turned up
    neuro = orthoslices(vol, orientation="sal", convention="neurological")
    assert _lims(neuro.axes[0]) == [65.0, -1.0, -1.0, 81.0]
    ct = bigimg.open(get_testdata_file("CT_small.dcm"))  # DICOM LPS, codes "SPL"
    fig = orthoslices(ct, convention="neurological")
    assert _sides(fig.axes[0]) == {"left": "L", "right": "R", "top": "A", "bottom": "P"}
    assert fig.axes[0].get_xlim()[0] > fig.axes[0].get_xlim()[1]  # flipped
    fig = orthoslices(ct, convention="radiological")
    assert fig.axes[0].get_xlim()[0] < fig.axes[0].get_xlim()[1]  # DICOM is radiological


# ------------------------------------------------------------------------ errors
def _xyz_header(shape):
    return Header("mrc", "m.mrc", shape, np.dtype("f4"), (1.0,) * 3, ("angstrom",) * 3,
                  direction=((0, 0, 1.0), (0, 1.0, 0), (1.0, 0, 0)), space="XYZ")  # fmt: skip


BAD = [
    (dict(window="lungs"), ValueError, "`window` must be one of 'brain', 'lung'"),
    (dict(window=(40, 0)), ValueError, "positive width"),
    (dict(window=(40, "wide")), TypeError, "two numbers"),
    (dict(window=40), TypeError, "preset name such as 'lung' or a pair"),
    (dict(window="lung", vmin=0), ValueError, "must not be combined with `vmin`"),
    (dict(convention="radiologic"), ValueError, "'radiological' or 'neurological'"),
    (dict(convention="radiological"), ValueError, "orientation, which is unknown"),
    (dict(orientation="SSL"), ValueError, "one of R/L, one of A/P and one of S/I"),
    (dict(orientation=3), TypeError, "`orientation` must be a string"),
    (dict(unit="mm"), ValueError, "`unit` names the unit of the voxel spacing"),
    (dict(index=0), ValueError, "`index` picks one volume of a 4-D series"),
    (dict(header="h"), TypeError, "`header` must be a bigimg.io.Header"),
    (dict(header=_xyz_header((2, 3, 4))), ValueError, "describes an array of shape (2, 3, 4)"),
]


@pytest.mark.parametrize("kwargs, err, match", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_arguments_raise_before_reading(kwargs, err, match):
    with raise_if_dask_computes(), pytest.raises(err, match=re.escape(match)):
        orthoslices(da.zeros((4, 5, 6), chunks=2), **kwargs)


def test_convention_without_orientation_says_why():
    with pytest.raises(ValueError, match="dask array not straight from a file reader"):
        orthoslices(bigimg.open(ANATOMICAL) + 0, convention="radiological")
    with pytest.raises(ValueError, match=r"`volume` \(ndarray\) carries no header"):
        summary(np.zeros((4, 5, 6)), convention="neurological")
    with pytest.raises(ValueError, match=r"mrc header records no patient direction \(space 'XYZ'"):
        orthoslices(np.zeros((4, 5, 6)), header=_xyz_header((4, 5, 6)), convention="radiological")
    vol = da.zeros((2, 4, 5, 6), chunks=2)
    with raise_if_dask_computes():
        with pytest.raises(ValueError, match=re.escape("`index` must be in [-2, 2)")):
            projection(vol, index=2)
        with pytest.raises(ValueError, match="or 4-D with a leading time or channel axis"):
            orthoslices(da.zeros((1, 2, 4, 5, 6), chunks=2))
        with pytest.raises(ValueError, match=re.escape("or the series' shape (2, 4, 5, 6)")):
            orthoslices(vol, labels=np.zeros((3, 4, 5, 6), int))


def test_docs_looking_at_it_example_runs():
    """The example of docs/spacing.md's "Looking at it" section runs as written."""
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "spacing.md")
    with open(doc, encoding="utf-8") as f:
        section = f.read().split("## Looking at it", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(block, "docs/spacing.md", "exec"), {})
