"""save_ome_zarr with time and channel axes (issue 14): every level against a per-volume
reference, the metadata against the OME-Zarr 0.4/0.5 rules (by hand, with
ome-zarr-models when installed, and read back by ome-zarr-py), NIfTI 4-D round trips
with the header's time step, units and origin, streaming one time point per task,
and the readers giving the axes back."""

from __future__ import annotations

import os
import re

import dask.array as da
import numpy as np
import pytest
import zarr

import bigimg
import bigimg.io._ome as ome_module
from bigimg.io import header, open_zarr, save_ome_zarr
from bigimg.testing import blobs, random_volume
from tests.io.test_ome import _read, _window_reduce

nibabel = pytest.importorskip("nibabel")
DATA = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")
EXAMPLE4D = os.path.join(DATA, "example4d.nii.gz")

SPACE_UNITS = {"micrometer", "millimeter", "nanometer", "meter", "angstrom"}
TIME_UNITS = {"second", "millisecond", "microsecond", "minute", "hour"}


def _labels(shape, seed=0):
    lab = np.zeros(shape, np.uint32)
    for k in (1, 2, 3):
        lab[blobs(shape, sigma=1.0, fraction=0.3, seed=seed + k)] = k
    return lab


def _attrs(path, sub=""):
    attrs = zarr.open_group(os.path.join(str(path), sub), mode="r").attrs.asdict()
    return attrs.get("ome", attrs)


def _reference(img, steps, how):
    """Levels of ``img``: each volume along the leading axes reduced on its own."""
    n_lead = img.ndim - 3
    levels = [img]
    for step in steps:
        prev = levels[-1]
        out = [
            _window_reduce(prev[idx], step[n_lead:], how) for idx in np.ndindex(prev.shape[:n_lead])
        ]
        levels.append(np.stack(out).reshape(prev.shape[:n_lead] + out[0].shape))
    return levels


def check_ome_spec(path, version):
    """The rules OME-NGFF 0.4 / 0.5 set on an image's metadata and arrays.

    axes: 2 to 5, names unique, 2 or 3 of type space, at most one time (first) and one
    channel (after time, before space), space/time units from the allowed lists, none
    on a channel; every dataset: exactly one scale then at most one translation, each
    as long as the axes; every level an array of that rank, levels never larger; 0.5:
    zarr v3, keys under "ome" with version "0.5", dimension_names = axis names; 0.4:
    zarr v2, "version": "0.4" in the multiscale, "/" chunk keys.
    """
    group = zarr.open_group(str(path), mode="r")
    raw = group.attrs.asdict()
    if version == "0.5":
        assert group.metadata.zarr_format == 3 and raw["ome"]["version"] == "0.5"
        assert "multiscales" not in raw
    else:
        assert group.metadata.zarr_format == 2 and "ome" not in raw
    (ms,) = _attrs(path)["multiscales"]
    if version == "0.4":
        assert ms["version"] == "0.4"
    axes = ms["axes"]
    names = [a["name"] for a in axes]
    types = [a["type"] for a in axes]
    assert 2 <= len(axes) <= 5 and len(set(names)) == len(names)
    assert 2 <= types.count("space") <= 3
    assert types.count("time") <= 1 and types.count("channel") <= 1
    order = {"time": 0, "channel": 1, "space": 2}
    assert [order[t] for t in types] == sorted(order[t] for t in types)
    for a in axes:
        allowed = {"space": SPACE_UNITS, "time": TIME_UNITS, "channel": set()}[a["type"]]
        assert a.get("unit") is None or a["unit"] in allowed, a
        assert set(a) <= {"name", "type", "unit"}
    shapes = []
    for ds in ms["datasets"]:
        transforms = ds["coordinateTransformations"]
        assert [t["type"] for t in transforms] in (["scale"], ["scale", "translation"])
        assert all(len(t[t["type"]]) == len(axes) for t in transforms)
        assert all(s > 0 for s in transforms[0]["scale"])
        arr = group[ds["path"]]
        assert arr.ndim == len(axes)
        if version == "0.5":
            assert arr.metadata.dimension_names == tuple(names)
        else:
            assert arr.metadata.dimension_separator == "/"
        shapes.append(arr.shape)
    assert all(all(b <= a for a, b in zip(s, t)) for s, t in zip(shapes, shapes[1:]))
    return ms


@pytest.mark.parametrize(
    ("shape", "axes", "version", "factors", "how"),
    [
        ((3, 7, 10, 9), "tzyx", "0.5", (1, 2, 2), "mean"),
        ((2, 3, 5, 9, 8), "tczyx", "0.4", 2, "max"),
        ((3, 6, 11, 10), "czyx", "0.5", [(2, 2, 2), (1, 2, 3)], "nearest"),
    ],
)
def test_levels_never_touch_time_or_channel(tmp_path, shape, axes, version, factors, how):
    img = random_volume(shape, np.uint16, seed=2)
    lab = _labels(shape)
    src = da.from_array(img, chunks=(1,) * (len(shape) - 3) + (4, 5, 6))  # not the stored grid
    space = (2.0, 0.5, 0.25)
    path = save_ome_zarr(
        src,
        tmp_path / "img.zarr",
        labels={"cells": lab},
        axes=axes,
        scale=space,
        factors=factors,
        levels=None if not isinstance(factors, list) else len(factors) + 1,
        chunks=(4, 4, 4),
        image_reduce=how,
        ome_version=version,
        progress=False,
    )
    ms = check_ome_spec(path, version)
    n_lead = len(axes) - 3
    lead_scale = [1.0] * n_lead  # no header: time step 1, channel 1
    assert [a["name"] for a in ms["axes"]] == list(axes)
    assert [a.get("unit") for a in ms["axes"]] == [None] * n_lead + ["micrometer"] * 3
    steps = factors if isinstance(factors, list) else None
    n_levels = len(ms["datasets"])
    if steps is None:
        f = (factors,) * 3 if isinstance(factors, int) else factors
        steps = [(1,) * n_lead + tuple(f)] * (n_levels - 1)
    else:
        steps = [(1,) * n_lead + tuple(s) for s in steps]
    assert n_levels >= 2
    for key, ref_levels in (
        ("", _reference(img, steps, how)),
        ("labels/cells", _reference(lab, steps, "mode")),
    ):
        cumulative = np.ones(len(axes))
        for level, ref in enumerate(ref_levels):
            if level:
                cumulative *= steps[level - 1]
            got = open_zarr(path, component=f"{key}/{level}".strip("/"))
            assert got.shape[:n_lead] == shape[:n_lead]  # time and channel kept whole
            np.testing.assert_array_equal(got.compute(), ref)
            stored = zarr.open_array(os.path.join(path, key, str(level)), mode="r")
            assert stored.chunks[:n_lead] == (1,) * n_lead
        transforms = _attrs(path, key)["multiscales"][0]["datasets"][-1][
            "coordinateTransformations"
        ]
        full = [*lead_scale, *space]
        assert transforms[0]["scale"] == [s * c for s, c in zip(full, cumulative)]
        assert transforms[1]["translation"][:n_lead] == [0.0] * n_lead
    label_ms = check_ome_spec(os.path.join(path, "labels", "cells"), version)
    assert label_ms["axes"] == ms["axes"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_py_and_ome_zarr_models_read_the_axes(tmp_path, version):
    img = random_volume((2, 3, 4, 12, 10), np.uint8)
    path = save_ome_zarr(
        img,
        tmp_path / "5d.zarr",
        labels={"cells": _labels(img.shape)},
        scale=(0.5, 1.0, 2.0, 0.25, 0.25),
        units=("millisecond", None, "micrometer", "micrometer", "micrometer"),
        factors=(1, 2, 2),
        levels=2,
        chunks=4,
        ome_version=version,
        progress=False,
    )
    nodes = _read(path, version)
    image = nodes[""]
    assert [a["name"] for a in image.metadata["axes"]] == list("tczyx")
    assert [d.shape for d in image.data] == [(2, 3, 4, 12, 10), (2, 3, 4, 6, 5)]
    np.testing.assert_array_equal(image.data[0].compute(), img)
    scale = image.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == [0.5, 1.0, 2.0, 0.25, 0.25]
    assert image.metadata["axes"][0] == {"name": "t", "type": "time", "unit": "millisecond"}
    assert image.metadata["axes"][1] == {"name": "c", "type": "channel"}
    assert [d.shape for d in nodes["labels/cells"].data] == [(2, 3, 4, 12, 10), (2, 3, 4, 6, 5)]
    models = pytest.importorskip(f"ome_zarr_models.v0{version[-1]}")
    root = zarr.open_group(path, mode="r")
    models.Image.from_zarr(root)
    models.ImageLabel.from_zarr(root["labels/cells"])


def test_nifti_4d_round_trip_with_time_step_units_and_origin(tmp_path):
    series = bigimg.open(EXAMPLE4D, chunks=(1, 12, 48, 64))
    h = header(series)
    assert series.shape == (2, 24, 96, 128) and h.units[0] == "second"
    expected_origin = [float(np.dot(h.origin, d)) for d in h.direction[1:]]
    for version in ("0.5", "0.4"):
        for axes in (None, "tzyx"):
            out = save_ome_zarr(
                series,
                tmp_path / f"e{version}{axes}.zarr",
                axes=axes,
                factors=(1, 2, 2),
                levels=2,
                chunks=(12, 48, 64),
                ome_version=version,
                progress=False,
            )
            ms = check_ome_spec(out, version)
            assert [(a["name"], a["type"], a.get("unit")) for a in ms["axes"]] == [
                ("t", "time", "second"),
                *[(n, "space", "millimeter") for n in "zyx"],
            ]
            scale, shift = ms["datasets"][0]["coordinateTransformations"]
            assert scale["scale"] == list(h.spacing)  # (2000 s, 2.2, 2, 2 mm)
            assert shift["translation"] == [0.0, *expected_origin]
            back = bigimg.open(out)  # the .zarr folder: open_zarr, level 0
            assert back.shape == series.shape and back.chunks[0] == (1, 1)
            np.testing.assert_array_equal(back.compute(), series.compute())
            assert open_zarr(out, component="1").shape == (2, 24, 48, 64)


def test_header_rules_for_time_and_channel(tmp_path):
    series = bigimg.open(EXAMPLE4D)
    h = header(series)

    def written(arr, name, **kwargs):
        ms = _attrs(save_ome_zarr(arr, tmp_path / name, levels=1, progress=False, **kwargs))
        ms = ms["multiscales"][0]
        scale, shift = ms["datasets"][0]["coordinateTransformations"]
        return scale["scale"], shift["translation"], [a.get("unit") for a in ms["axes"]]

    # a channel stack: scale 1 and no unit on c, whatever the header says of that axis
    scale, _, units = written(series, "c.zarr", axes="czyx")
    assert scale == [1.0, *h.spacing[1:]] and units == [None, *["millimeter"] * 3]
    # a scale for the space axes keeps the header's time step and its unit
    scale, _, units = written(series, "s.zarr", scale=(1.0, 1.0, 1.0))
    assert scale == [2000.0, 1.0, 1.0, 1.0] and units == ["second", *["millimeter"] * 3]
    # other units than the header's: its origin is not claimed in them
    _, shift, units = written(series, "u.zarr", units="micrometer")
    assert shift == [0.0] * 4 and units == ["second", *["micrometer"] * 3]
    # a derived array has no header; header= lends the file's
    smooth = bigimg.ndimage.gaussian_filter(series, 1.0, axes=(1, 2, 3))
    assert written(smooth, "d.zarr") == ([1.0] * 4, [0.0] * 4, [None, *["micrometer"] * 3])
    assert written(smooth, "h.zarr", header=h) == written(series, "n.zarr")
    # a full per-axis list wins everywhere
    got = written(series, "f.zarr", scale=(3.0, 1, 1, 1), units=("minute", "meter", None, None))
    assert got[0] == [3.0, 1.0, 1.0, 1.0] and got[2] == ["minute", "meter", None, None]


def test_streaming_one_time_point_per_task(tmp_path, monkeypatch):
    """Every downsampling task of every level holds one time point, never two."""
    seen = []
    real = ome_module.downsample

    def spy(block, factors, how):
        seen.append(block.shape)
        return real(block, factors, how)

    monkeypatch.setattr(ome_module, "downsample", spy)
    img = random_volume((4, 8, 16, 16), np.float32)
    path = save_ome_zarr(
        da.from_array(img, chunks=(2, 8, 8, 8)),
        tmp_path / "s.zarr",
        factors=(1, 2, 2),
        levels=3,
        chunks=(8, 4, 4),
        progress=False,
    )
    assert seen and all(s[0] == 1 for s in seen if len(s) == 4)
    assert zarr.open_array(os.path.join(path, "0"), mode="r").chunks == (1, 8, 4, 4)
    np.testing.assert_allclose(open_zarr(path).compute(), img)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"factors": (2, 2, 2, 2)}, ValueError, "must be 1 on the 't' axes"),
        ({"factors": [(1, 2, 2), (2, 1, 2, 2)]}, ValueError, "never downsampled"),
        ({"factors": (2, 2)}, ValueError, "3 values .the space axes 'zyx'. or 4"),
        ({"scale": (1.0, 2.0)}, ValueError, "`scale` must be one value, 3 values"),
        ({"units": ("meter",) * 4}, ValueError, "time units such as 'second'"),
        ({"units": ("second", "second", "meter", "meter")}, ValueError, "space units"),
        ({"axes": "czyx", "units": ("meter",) * 4}, ValueError, "None for the channel axis"),
        ({"axes": "zyx"}, ValueError, "one of 'tzyx', 'czyx', 'tcyx' for a 4-D image"),
        ({"axes": "ztyx"}, ValueError, "OME-Zarr order"),
        ({"chunks": (1, 4)}, ValueError, "`chunks` must be one value"),
        ({"header": "h"}, TypeError, "`header` must be None or a bigimg.io.Header"),
    ],
)
def test_bad_4d_arguments_raise_before_anything_is_written(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        save_ome_zarr(
            np.zeros((2, 3, 4, 5), np.uint8), tmp_path / "e.zarr", progress=False, **kwargs
        )
    assert os.listdir(tmp_path) == []


def test_header_of_another_shape_is_refused(tmp_path):
    h = header(bigimg.open(EXAMPLE4D))
    with pytest.raises(ValueError, match=re.escape("shape (2, 24, 96, 128)")):
        save_ome_zarr(np.zeros((2, 3, 4, 5), np.uint8), tmp_path / "e.zarr", header=h)
    assert os.listdir(tmp_path) == []


def test_mode_downsample_of_a_series_is_per_volume():
    lab = _labels((3, 5, 6, 7), seed=4)
    got = ome_module.mode_downsample(lab, (1, 2, 2, 3))
    for t in range(3):
        np.testing.assert_array_equal(got[t], _window_reduce(lab[t], (2, 2, 3), "mode"))
    with pytest.raises(ValueError, match="before the last three"):
        ome_module.mode_downsample(lab, (2, 1, 1, 1))


def test_docs_4d_example_runs(tmp_path, monkeypatch):
    """docs/4d.md's example runs as written (its asserts are its checks)."""
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "4d.md")
    with open(doc) as fh:
        blocks = re.findall(r"```python\n(.*?)```", fh.read(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "docs/4d.md", "exec"), {})
    ms = check_ome_spec(tmp_path / "series.ome.zarr", "0.5")
    assert [a["name"] for a in ms["axes"]] == list("tzyx")
    check_ome_spec(tmp_path / "series.ome.zarr/labels/cells", "0.5")


def test_nifti_without_a_time_step_writes_one_without_a_unit(tmp_path):
    data = np.arange(5 * 4 * 3 * 2, dtype=np.int16).reshape(5, 4, 3, 2)  # (i, j, k, t)
    img = nibabel.Nifti1Image(data, np.diag([0.5, 0.5, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 0.0  # no repetition time recorded
    path = str(tmp_path / "no_tr.nii")
    nibabel.save(img, path)
    vol = bigimg.open(path)
    assert header(vol).spacing[0] == 0.0 and vol.shape == (2, 3, 4, 5)
    out = save_ome_zarr(vol, tmp_path / "o.zarr", levels=1, progress=False)
    ms = check_ome_spec(out, "0.5")
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 2.0, 0.5, 0.5]
    assert [a.get("unit") for a in ms["axes"]] == [None, *["millimeter"] * 3]
    np.testing.assert_array_equal(open_zarr(out).compute(), data.T)


def test_sharded_series_keeps_one_time_point_per_shard(tmp_path):
    img = random_volume((2, 9, 10, 12), np.uint16, seed=3)
    path = save_ome_zarr(
        img, tmp_path / "sh.zarr", chunks=4, shards=8, factors=(1, 2, 2), levels=2, progress=False
    )
    level0 = zarr.open_array(os.path.join(path, "0"), mode="r")
    assert level0.chunks == (1, 4, 4, 4) and level0.shards == (1, 8, 8, 8)
    check_ome_spec(path, "0.5")
    np.testing.assert_array_equal(open_zarr(path).compute(), img)
    ref = _reference(img, [(1, 1, 2, 2)], "mean")[1]
    np.testing.assert_array_equal(open_zarr(path, component="1").compute(), ref)
