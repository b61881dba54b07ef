"""``bigimg run`` keeps its input's spacing and unit through every output and table."""

from __future__ import annotations

import csv
import os
import textwrap

import numpy as np
import pytest
import zarr
from scipy import ndimage as ndi

import bigimg
from bigimg.cli import main
from bigimg.cli._physical import Frame, physical_columns
from bigimg.io import save_ome_zarr
from bigimg.testing import ct_phantom

SHAPE = (18, 22, 24)
SPACING = (2.0, 0.25, 0.5)  # z, y, x in mm
PROPS = ["label", "area", "area_bbox", "centroid", "equivalent_diameter_area", "bbox"]

STEPS = """\
[[steps]]
name = "smooth"
op = "ndimage.gaussian_filter"
input = "{input}"
sigma = 1.0
output = "float32"

[[steps]]
name = "bone"
op = "threshold"
value = 1400

[[steps]]
name = "labels"
op = "ndimage.label"

[outputs]
smooth = {{ path = "out/smooth.ome.zarr", labels = ["labels"], levels = 2, factors = [1, 2, 2] }}
labels = "out/labels.zarr"

[table]
labels = "labels"
intensity = "{input}"
properties = {props}
path = "out/objects.csv"
"""


@pytest.fixture(scope="module")
def ct():
    return ct_phantom(SHAPE, seed=3)


@pytest.fixture(scope="module")
def labels(ct):
    smooth = ndi.gaussian_filter(ct, 1.0, output=np.float32)
    lab, n = ndi.label(smooth > 1400)
    assert n > 2
    return lab


def _pipeline(tmp_path, head: str, *, input_name="input", props=PROPS, tail="") -> str:
    steps = STEPS.format(input=input_name, props=repr(props + ["intensity_mean"]))
    (tmp_path / "p.toml").write_text(textwrap.dedent(head) + "\n" + steps + tail)
    return str(tmp_path / "p.toml")


def _ome(path, level=0):
    """(scale of a level, units of the axes) as written."""
    attrs = zarr.open_group(str(path), mode="r").attrs.asdict()
    ms = attrs.get("ome", attrs)["multiscales"][0]
    scale = ms["datasets"][level]["coordinateTransformations"][0]["scale"]
    return scale, [a.get("unit") for a in ms["axes"]]


def _table(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return {k: np.array([float(r[i]) for r in rows[1:]]) for i, k in enumerate(rows[0])}


def _check_table(path, labels, ct, spacing, suffix, power="3"):
    """Voxel columns as scikit-image without spacing, physical ones as it with spacing."""
    from skimage.measure import regionprops_table

    table = _table(path)
    voxel = regionprops_table(labels, ct, properties=[*PROPS, "intensity_mean"])
    physical = regionprops_table(labels, ct, properties=PROPS, spacing=spacing)
    for key, want in voxel.items():
        np.testing.assert_allclose(table[key], want, rtol=1e-12, err_msg=key)
    renamed = {"area": f"area_{suffix}{power}", "area_bbox": f"area_bbox_{suffix}{power}"}
    renamed |= {f"centroid-{i}": f"centroid-{i}_{suffix}" for i in range(3)}
    renamed["equivalent_diameter_area"] = f"equivalent_diameter_area_{suffix}"
    for key, name in renamed.items():
        np.testing.assert_allclose(table[name], physical[key], rtol=1e-10, err_msg=name)
    # each physical column sits right after its voxel column; bbox has none
    keys = list(table)
    for key, name in renamed.items():
        assert keys[keys.index(key) + 1] == name
    assert not any(k.startswith("bbox") and k.endswith(suffix) for k in keys)
    return table


def _check_ome(out, scale, unit):
    half = [scale[0], scale[1] * 2, scale[2] * 2]
    for image in (out / "smooth.ome.zarr", out / "smooth.ome.zarr" / "labels" / "labels"):
        assert _ome(image) == (list(scale), [unit] * 3)
        assert _ome(image, 1) == (half, [unit] * 3)


def test_imagej_tiff_in_mm(tmp_path, ct, labels, capsys):
    import tifffile

    tifffile.imwrite(
        tmp_path / "ct.tif",
        ct,
        imagej=True,
        resolution=(1 / SPACING[2], 1 / SPACING[1]),
        metadata={"spacing": SPACING[0], "unit": "mm", "axes": "ZYX"},
    )
    path = _pipeline(tmp_path, '[input]\npath = "ct.tif"\n')
    assert main(["run", path]) == 0
    assert (
        "spacing input: 2 x 0.25 x 0.5 millimeter (from its TIFF tags)" in capsys.readouterr().out
    )
    _check_ome(tmp_path / "out", SPACING, "millimeter")
    _check_table(tmp_path / "out" / "objects.csv", labels, ct, SPACING, "mm")
    np.testing.assert_array_equal(bigimg.open_zarr(tmp_path / "out" / "labels.zarr"), labels)


@pytest.mark.parametrize("component", [None, "0", "1"])
def test_ome_zarr_input(tmp_path, ct, labels, component):
    scale = (3.0, 0.4, 0.4)
    save_ome_zarr(ct, str(tmp_path / "ct.ome.zarr"), scale=scale, units="nanometer",
                  factors=(1, 2, 2), levels=2, progress=False)  # fmt: skip
    head = '[input]\npath = "ct.ome.zarr"\n'
    if component is not None:
        head += f'component = "{component}"\n'
    if component == "1":  # level 1: half the voxels in y and x, twice the spacing
        assert main(["run", _pipeline(tmp_path, head), "-q"]) == 0
        assert _ome(tmp_path / "out" / "smooth.ome.zarr") == ([3.0, 0.8, 0.8], ["nanometer"] * 3)
        return
    assert main(["run", _pipeline(tmp_path, head), "-q"]) == 0
    _check_ome(tmp_path / "out", scale, "nanometer")
    _check_table(tmp_path / "out" / "objects.csv", labels, ct, scale, "nm")


def test_nifti_input_keeps_its_header_spacing(tmp_path, ct, labels):
    nibabel = pytest.importorskip("nibabel")
    # NIfTI stores (i, j, k) = (x, y, z): the array bigimg reads is the transpose
    image = nibabel.Nifti1Image(ct.T.copy(), np.diag([*SPACING[::-1], 1.0]))
    image.header.set_xyzt_units("mm")
    nibabel.save(image, tmp_path / "ct.nii")
    assert main(["run", _pipeline(tmp_path, '[input]\npath = "ct.nii"\n'), "-q"]) == 0
    _check_ome(tmp_path / "out", SPACING, "millimeter")
    _check_table(tmp_path / "out" / "objects.csv", labels, ct, SPACING, "mm")


RAW = """\
[input]
path = "ct.raw"
shape = [18, 22, 24]
dtype = "uint16"
"""


def test_headerless_raw_gets_no_invented_unit(tmp_path, ct, capsys):
    ct.tofile(tmp_path / "ct.raw")
    assert main(["run", _pipeline(tmp_path, RAW)]) == 0
    assert "spacing input: not known" in capsys.readouterr().out
    for image in ("smooth.ome.zarr", "smooth.ome.zarr/labels/labels"):
        assert _ome(tmp_path / "out" / image) == ([1.0, 1.0, 1.0], [None, None, None])
    table = _table(tmp_path / "out" / "objects.csv")
    assert not [k for k in table if "_mm" in k or "physical" in k or k.endswith("_um")]


@pytest.mark.parametrize(
    "extra, suffix, unit",
    [
        ('spacing = [2.0, 0.25, 0.5]\nunit = "mm"\n', "mm", "millimeter"),
        ("spacing = [2.0, 0.25, 0.5]\n", "physical", None),
    ],
)
def test_pipeline_gives_the_spacing_of_a_raw_input(tmp_path, ct, labels, extra, suffix, unit):
    ct.tofile(tmp_path / "ct.raw")
    assert main(["run", _pipeline(tmp_path, RAW + extra), "-q"]) == 0
    _check_ome(tmp_path / "out", SPACING, unit)
    power = "3" if unit else ""
    _check_table(tmp_path / "out" / "objects.csv", labels, ct, SPACING, suffix, power)


def test_unit_without_spacing_claims_nothing(tmp_path, ct):
    ct.tofile(tmp_path / "ct.raw")
    assert main(["run", _pipeline(tmp_path, RAW + 'unit = "mm"\n'), "-q"]) == 0
    assert _ome(tmp_path / "out" / "smooth.ome.zarr") == ([1.0, 1.0, 1.0], [None] * 3)
    assert "area_mm3" not in _table(tmp_path / "out" / "objects.csv")


def test_new_grids_rescale_or_drop_the_spacing(tmp_path, ct, capsys):
    ct.tofile(tmp_path / "ct.raw")
    text = RAW + textwrap.dedent("""\
        spacing = [2.0, 0.25, 0.5]
        unit = "um"

        [[steps]]
        name = "half"
        op = "ndimage.zoom"
        zoom = 0.5

        [[steps]]
        name = "turned"
        op = "ndimage.rotate"
        input = "input"
        angle = 30

        [[steps]]
        name = "crisp"
        op = "ndimage.median_filter"
        input = "half"
        size = 3

        [[steps]]
        name = "double"
        op = "ndimage.zoom"
        input = "input"
        zoom = 2
        order = 1
        grid_mode = true
        mode = "grid-constant"

        [outputs]
        crisp = "out/crisp.ome.zarr"
        double = "out/double.ome.zarr"
        turned = { path = "out/turned.ome.zarr", scale = [1.0, 2.0, 2.0], units = "nanometer" }
        input = "out/input.ome.zarr"
        """)
    (tmp_path / "p.toml").write_text(text)
    assert main(["run", str(tmp_path / "p.toml")]) == 0
    log = capsys.readouterr().out
    assert "turned = ndimage.rotate" in log and "a new grid: its spacing is not known" in log
    half = [2.0 * 17 / 8, 0.25 * 21 / 10, 0.5 * 23 / 11]  # scipy's zoom maps corner to corner
    assert ndi.zoom(ct, 0.5).shape == (9, 11, 12)
    scale, units = _ome(tmp_path / "out" / "crisp.ome.zarr")
    np.testing.assert_allclose(scale, half, rtol=1e-12)
    assert units == ["micrometer"] * 3
    # grid_mode=True maps the corners' edges: exactly half the spacing for zoom 2
    assert _ome(tmp_path / "out" / "double.ome.zarr") == ([1.0, 0.125, 0.25], ["micrometer"] * 3)
    # what the output names wins; the input itself keeps the pipeline's spacing
    assert _ome(tmp_path / "out" / "turned.ome.zarr") == ([1.0, 2.0, 2.0], ["nanometer"] * 3)
    assert _ome(tmp_path / "out" / "input.ome.zarr") == (list(SPACING), ["micrometer"] * 3)


def test_table_spacing_and_unit_win(tmp_path, ct, labels):
    ct.tofile(tmp_path / "ct.raw")
    tail = 'spacing = [1.0, 0.5, 0.5]\nunit = "nm"\n'
    head = RAW + 'spacing = [2.0, 0.25, 0.5]\nunit = "mm"\n'
    assert main(["run", _pipeline(tmp_path, head, tail=tail), "-q"]) == 0
    _check_table(tmp_path / "out" / "objects.csv", labels, ct, (1.0, 0.5, 0.5), "nm")
    _check_ome(tmp_path / "out", SPACING, "millimeter")  # outputs keep the input's


@pytest.mark.parametrize(
    "head, tail, message",
    [
        ("spacing = [2.0, 0.5]\n", "", "spacing must hold 3 numbers, one per axis"),
        ("spacing = [2.0, -0.5, 0.5]\n", "", "spacing must be a list of positive numbers"),
        ('spacing = "2,1,1"\n', "", "spacing must be a list of positive numbers"),
        ("unit = 3\n", "", "unit must be a name such as 'millimeter'"),
        ("", "spacing = [0.0, 1.0, 1.0]\n", "spacing must be a list of positive numbers"),
        ("", "spacing = [1.0, 1.0]\n", "spacing must hold 3 numbers"),
        ("", 'unit = ""\n', "unit must be a name"),
    ],
)
def test_bad_spacing_is_refused_before_anything_runs(tmp_path, ct, head, tail, message, capsys):
    ct.tofile(tmp_path / "ct.raw")
    assert main(["run", _pipeline(tmp_path, RAW + head, tail=tail)]) == 2
    err = capsys.readouterr().err
    assert message in err and "p.toml" in err
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def test_physical_columns_in_2d():
    from skimage.measure import regionprops_table

    lab = np.zeros((9, 12), np.int32)
    lab[1:4, 2:8], lab[5:9, 1:3] = 1, 2
    spacing = (0.5, 2.0)
    voxel = regionprops_table(lab, properties=["label", "area", "centroid", "centroid_local"])
    physical = regionprops_table(lab, properties=["area", "centroid"], spacing=spacing)
    table = physical_columns(voxel, Frame(spacing, "micrometer", "test"))
    np.testing.assert_allclose(table["area_um2"], physical["area"])
    for i in range(2):
        np.testing.assert_allclose(table[f"centroid-{i}_um"], physical[f"centroid-{i}"])
        np.testing.assert_allclose(
            table[f"centroid_local-{i}_um"], voxel[f"centroid_local-{i}"] * spacing[i]
        )
    assert physical_columns(voxel, None) == voxel


def test_convert_invents_no_unit(tmp_path, ct, capsys):
    ct.tofile(tmp_path / "ct.raw")
    raw = [str(tmp_path / "ct.raw"), "--shape", "18,22,24", "--dtype", "uint16"]
    assert main(["convert", raw[0], str(tmp_path / "a.ome.zarr"), *raw[1:]]) == 0
    assert _ome(tmp_path / "a.ome.zarr") == ([1.0, 1.0, 1.0], [None] * 3)
    args = ["--scale", "2,0.25,0.5"]
    assert main(["convert", raw[0], str(tmp_path / "b.ome.zarr"), *raw[1:], *args]) == 0
    assert _ome(tmp_path / "b.ome.zarr") == (list(SPACING), [None] * 3)
    args += ["--unit", "millimeter"]
    assert main(["convert", raw[0], str(tmp_path / "c.ome.zarr"), *raw[1:], *args]) == 0
    assert _ome(tmp_path / "c.ome.zarr") == (list(SPACING), ["millimeter"] * 3)
    # an OME-Zarr in, an OME-Zarr out: the spacing and unit go along
    assert main(["convert", str(tmp_path / "c.ome.zarr"), str(tmp_path / "d.ome.zarr")]) == 0
    assert _ome(tmp_path / "d.ome.zarr") == (list(SPACING), ["millimeter"] * 3)
