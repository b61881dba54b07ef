"""save_ome_zarr: every level against a per-window numpy/scipy reference, read back with
ome-zarr-py (and validated with ome-zarr-models, opened by napari's reader when installed);
metadata, label mode, odd sizes, anisotropic factors, crash safety, laziness."""

from __future__ import annotations

import itertools
import os
import threading
import time

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from dask.delayed import Delayed
from scipy import stats

from bigimg import IncompleteOutputError
from bigimg._atomic import PARTIAL_TAG
from bigimg.io import open_zarr
from bigimg.io._ome import mode_downsample, save_ome_zarr
from bigimg.testing import blobs, count_computes, raise_if_dask_computes, random_volume

SHAPE = (19, 23, 29)


def _labels(shape=SHAPE, dtype=np.uint32, seed=0):
    """Blob labels with a few label values (many ties in 2x2x2 windows)."""
    lab = np.zeros(shape, dtype)
    for k in range(1, 4):
        lab[blobs(shape, sigma=1.5, fraction=0.25, seed=seed + k)] = k * (
            -1 if dtype == np.int32 and k == 2 else 1
        )
    return lab


def _window_reduce(a: np.ndarray, factors, how: str) -> np.ndarray:
    """The reference: pad each axis with NaN to whole windows, reduce each window.

    Means, maxima and minima ignore the NaN padding (a partial window is reduced over
    the voxels it holds); modes are taken window by window with ``np.unique`` (ties to
    the smallest value; scipy.stats.mode agrees, see the mode test below).
    """
    out_shape = tuple(-(-n // f) for n, f in zip(a.shape, factors))
    if how == "nearest":
        return a[tuple(slice(None, None, f) for f in factors)]
    if how == "mode":
        out = np.empty(out_shape, a.dtype)
        for idx in itertools.product(*map(range, out_shape)):
            w = a[tuple(slice(i * f, (i + 1) * f) for i, f in zip(idx, factors))]
            values, counts = np.unique(w, return_counts=True)
            out[idx] = values[np.argmax(counts)]
        return out
    padded = np.full(tuple(n * f for n, f in zip(out_shape, factors)), np.nan)
    padded[tuple(slice(0, n) for n in a.shape)] = a
    split = padded.reshape([x for n, f in zip(out_shape, factors) for x in (n, f)])
    red = {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[how]
    out = red(split, axis=tuple(range(1, 2 * a.ndim, 2)))
    if a.dtype.kind in "biu":
        out = np.rint(out)
    return out.astype(a.dtype)


def _read(path, version="0.4"):
    """ome-zarr-py's reader: node path relative to the image -> node."""
    ome_reader = pytest.importorskip("ome_zarr.reader")  # in the test extras
    ome_io = pytest.importorskip("ome_zarr.io")
    ome_format = pytest.importorskip("ome_zarr.format")
    fmt = ome_format.FormatV04() if version == "0.4" else ome_format.FormatV05()
    nodes = list(ome_reader.Reader(ome_io.parse_url(str(path), fmt=fmt))())
    return {n.zarr.path.rstrip("/").removeprefix(str(path)).strip("/"): n for n in nodes}


def _expected_transforms(scale, translation, cumulative):
    return [
        {"type": "scale", "scale": [s * c for s, c in zip(scale, cumulative)]},
        {
            "type": "translation",
            "translation": [t + s * (c - 1) / 2 for t, s, c in zip(translation, scale, cumulative)],
        },
    ]


@pytest.mark.parametrize(
    ("dtype", "label_dtype", "version", "factors", "chunks"),
    [
        (np.uint8, np.uint32, "0.4", (1, 2, 2), (8, 8, 8)),
        (np.uint16, np.int32, "0.5", [(1, 2, 2), (2, 2, 2), (3, 2, 2)], (5, 6, 7)),
        (np.float32, np.uint32, "0.4", (2, 3, 2), (4, 16, 10)),
    ],
)
def test_every_level_read_back_by_ome_zarr_py(
    tmp_path, dtype, label_dtype, version, factors, chunks
):
    img = random_volume(SHAPE, dtype, seed=1)
    lab = _labels(dtype=label_dtype)
    scale, translation = (2.0, 0.5, 0.25), (10.0, -1.0, 0.0)
    src = da.from_array(img, chunks=(7, 9, 11))  # not aligned with the stored chunks
    path = save_ome_zarr(
        src,
        tmp_path / "img.zarr",
        labels={"cells": lab},
        scale=scale,
        translation=translation,
        units="nanometer",
        factors=factors,
        chunks=chunks,
        ome_version=version,
        progress=False,
    )
    nodes = _read(path, version)
    assert set(nodes) == {"", "labels", "labels/cells"}  # labels discovered under the image
    steps = factors if isinstance(factors, list) else None
    for key, ref, how in (("", img, "mean"), ("labels/cells", lab, "mode")):
        node = nodes[key]
        meta = node.metadata
        assert [a["name"] for a in meta["axes"]] == ["z", "y", "x"]
        assert all(
            a == {"name": n, "type": "space", "unit": "nanometer"}
            for a, n in zip(meta["axes"], "zyx")
        )
        cumulative = (1, 1, 1)
        n_levels = len(node.data)
        if steps is not None:
            assert n_levels == len(steps) + 1
        else:  # default: until every downsampled axis fits in one chunk
            last = node.data[-1].shape
            assert all(n <= c for n, c, f in zip(last, chunks, factors) if f > 1)
            assert any(n > c for n, c, f in zip(node.data[-2].shape, chunks, factors) if f > 1)
        for level in range(n_levels):
            if level:
                step = steps[level - 1] if steps else factors
                ref = _window_reduce(ref, step, how)
                cumulative = tuple(c * f for c, f in zip(cumulative, step))
            got = node.data[level].compute()
            assert got.dtype == np.dtype(dtype if how == "mean" else label_dtype)
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, ref, rtol=1e-6)
            else:
                np.testing.assert_array_equal(got, ref)
            assert meta["coordinateTransformations"][level] == _expected_transforms(
                scale, translation, cumulative
            )
            assert tuple(zarr.open_array(os.path.join(path, key, str(level))).chunks) == tuple(
                min(c, n) for c, n in zip(chunks, ref.shape)
            )
        np.testing.assert_array_equal(open_zarr(path, component=key).compute(), node.data[0])
    label_attrs = zarr.open_group(os.path.join(path, "labels/cells")).attrs.asdict()
    image_label = label_attrs.get("ome", label_attrs)["image-label"]
    assert image_label["source"] == {"image": "../../"}
    assert not [n for n in os.listdir(tmp_path) if PARTIAL_TAG in n]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_metadata_validates_against_ome_zarr_models(tmp_path, version):
    models = pytest.importorskip(f"ome_zarr_models.v0{version[-1]}")
    path = save_ome_zarr(
        random_volume((6, 9, 10), np.uint16),
        tmp_path / "m.zarr",
        labels={"a": _labels((6, 9, 10)), "b": _labels((6, 9, 10), seed=5)},
        factors=(1, 2, 2),
        levels=3,
        chunks=4,
        ome_version=version,
        progress=False,
    )
    root = zarr.open_group(path, mode="r")
    assert root.metadata.zarr_format == (2 if version == "0.4" else 3)
    image = models.Image.from_zarr(root).attributes
    image = getattr(image, "ome", image)  # 0.5 nests the OME keys under "ome"
    assert len(image.multiscales[0].datasets) == 3
    labels = models.Labels.from_zarr(root["labels"]).attributes
    assert getattr(labels, "ome", labels).labels == ["a", "b"]
    for name in ("a", "b"):
        models.ImageLabel.from_zarr(root[f"labels/{name}"])
    if version == "0.4":  # OME-NGFF 0.4 requires "/" chunk keys
        assert root["0"].metadata.dimension_separator == "/"
    else:
        assert root["0"].metadata.dimension_names == ("z", "y", "x")


def test_napari_reader_opens_image_and_labels(tmp_path):
    reader = pytest.importorskip("napari_ome_zarr")
    layers_mod = pytest.importorskip("napari.layers")
    img, lab = random_volume((6, 20, 18), np.uint16), _labels((6, 20, 18))
    path = save_ome_zarr(
        img,
        tmp_path / "n.zarr",
        labels={"cells": lab},
        scale=(3.0, 1.0, 1.0),
        factors=(1, 2, 2),
        levels=3,
        chunks=8,
        progress=False,
    )
    layers = reader.napari_get_reader(path)(path)
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "labels"]
    for data, kwargs, kind in layers:
        assert [d.shape for d in data] == [(6, 20, 18), (6, 10, 9), (6, 5, 5)]
        assert kwargs["scale"] == [3.0, 1.0, 1.0]
        layer = layers_mod.Layer.create(data, kwargs, kind)  # napari's own layer checks
        assert layer.multiscale and layer.ndim == 3
    np.testing.assert_array_equal(np.asarray(layers[1][0][0]), lab)


@pytest.mark.parametrize("how", ["max", "min", "nearest", "mean"])
def test_image_reductions_2d_and_bool(tmp_path, how):
    img = random_volume((21, 30), np.int32, seed=3) - 500
    path = save_ome_zarr(
        img,
        tmp_path / f"{how}.zarr",
        axes="yx",
        scale=0.5,
        factors=(3, 2),
        levels=3,
        chunks=(4, 5),
        image_reduce=how,
        progress=False,
    )
    ref = img
    for level in range(3):
        np.testing.assert_array_equal(open_zarr(path, component=str(level)).compute(), ref)
        ref = _window_reduce(ref, (3, 2), how)
    half = (random_volume((7, 9, 10), np.float32) * 10).astype(np.float16)
    path = save_ome_zarr(
        half, tmp_path / f"{how}-f2.zarr", levels=2, chunks=4, image_reduce=how, progress=False
    )
    np.testing.assert_array_equal(
        open_zarr(path, component="1").compute(), _window_reduce(half, (2, 2, 2), how)
    )
    mask = blobs((9, 10, 11))
    path = save_ome_zarr(
        mask, tmp_path / f"{how}-bool.zarr", levels=2, chunks=4, image_reduce=how, progress=False
    )
    got = open_zarr(path, component="1").compute()
    assert got.dtype == bool
    np.testing.assert_array_equal(got, _window_reduce(mask, (2, 2, 2), how))


def test_integer_mean_rounds_half_to_even_and_partial_windows_use_present_voxels(tmp_path):
    img = np.array([[[1, 2, 2, 3, 7]]], dtype=np.uint8)  # windows [1,2] [2,3] [7]
    path = save_ome_zarr(img, tmp_path / "r.zarr", factors=(1, 1, 2), levels=2, progress=False)
    np.testing.assert_array_equal(open_zarr(path, component="1").compute(), [[[2, 2, 7]]])


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint64])
@pytest.mark.parametrize("factors", [(2, 2, 2), (1, 3, 2), (3, 1, 4)])
def test_mode_downsample_matches_scipy_mode_with_ties(dtype, factors):
    rng = np.random.default_rng(7)
    values = rng.integers(0, 4, (7, 8, 9))  # few values: many tied windows
    if dtype == np.int32:
        values -= 2
    a = values.astype(dtype)
    got = mode_downsample(a, factors)
    for idx in itertools.product(*map(range, got.shape)):
        w = a[tuple(slice(i * f, (i + 1) * f) for i, f in zip(idx, factors))]
        assert got[idx] == stats.mode(w, axis=None).mode, (idx, w.ravel())
    np.testing.assert_array_equal(
        mode_downsample(a[0], factors[1:]), _window_reduce(a[0], factors[1:], "mode")
    )
    with pytest.raises(TypeError, match="integer array"):
        mode_downsample(a.astype(np.float32), factors)


def test_source_is_computed_once_and_levels_stream(tmp_path):
    img = random_volume((16, 16, 16), np.uint16)
    calls, lock = {}, threading.Lock()

    def count(x, block_info=None):
        with lock:
            key = block_info[0]["chunk-location"]
            calls[key] = calls.get(key, 0) + 1
        return x

    src = da.from_array(img, chunks=8).map_blocks(count, dtype=img.dtype)
    lab = da.from_array(_labels((16, 16, 16)), chunks=8)
    path = save_ome_zarr(
        src, tmp_path / "s.zarr", labels={"c": lab}, chunks=4, levels=3, progress=False
    )
    assert sorted(calls.values()) == [1] * 8  # every source block computed exactly once
    assert open_zarr(path, component="2").shape == (4, 4, 4)


def test_compute_false_is_lazy_and_partial_until_computed(tmp_path):
    img = da.from_array(random_volume((10, 12, 14), np.float32), chunks=5)
    target = tmp_path / "lazy.zarr"
    with raise_if_dask_computes():
        job = save_ome_zarr(
            img,
            target,
            labels={"x": da.zeros(img.shape, dtype=np.uint32, chunks=5)},
            levels=3,
            chunks=4,
            progress=False,
            compute=False,
        )
    assert isinstance(job, Delayed) and not target.exists()
    (partial,) = [tmp_path / n for n in os.listdir(tmp_path) if PARTIAL_TAG in n]
    with pytest.raises(IncompleteOutputError):
        open_zarr(partial)
    with count_computes() as counter:
        assert job.compute() == str(target)
    assert counter.tasks > 0 and not partial.exists()
    np.testing.assert_allclose(open_zarr(target, component="labels/x/2").compute(), 0)
    np.testing.assert_allclose(open_zarr(target).compute(), img.compute())


def test_failed_write_leaves_nothing_and_overwrite_rules(tmp_path):
    img = random_volume((9, 10, 11), np.uint16)

    def boom(x, block_info=None):
        if block_info[0]["chunk-location"] == (1, 0, 0):
            raise OSError("disk on fire")
        time.sleep(0.05)  # still running when the error arrives: must not recreate the partial
        return x

    bad = da.from_array(img, chunks=5).map_blocks(boom, dtype=img.dtype)
    target = tmp_path / "o.zarr"
    with pytest.raises(OSError, match="disk on fire"):
        save_ome_zarr(bad, target, levels=2, chunks=5, progress=False)
    assert os.listdir(tmp_path) == []
    path = save_ome_zarr(img, target, levels=2, progress=False)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_ome_zarr(img, target, progress=False)
    with pytest.raises(OSError, match="disk on fire"):
        save_ome_zarr(bad, target, levels=2, chunks=5, overwrite=True, progress=False)
    np.testing.assert_array_equal(open_zarr(path).compute(), img)  # old output kept
    save_ome_zarr(img + 1, target, levels=2, overwrite=True, progress=False)
    np.testing.assert_array_equal(open_zarr(path).compute(), img + 1)
    assert os.listdir(tmp_path) == ["o.zarr"]
    assert INCOMPLETE_KEY not in zarr.open_group(path).attrs


INCOMPLETE_KEY = "bigimg_incomplete"
IMG = np.zeros((6, 8, 10), np.uint16)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"image": np.zeros((2, 1, 3, 1, 4, 5))}, NotImplementedError, "2 to 5 dimensions"),
        ({"axes": "tczyx"}, ValueError, "must be one of 'zyx', 'tyx', 'cyx' for a 3-D image"),
        ({"axes": "xyz"}, ValueError, "`axes` must be one of 'zyx'"),
        ({"axes": 3}, TypeError, "`axes` must be a str"),
        ({"image": IMG.astype(complex)}, TypeError, "`image` must have a bool, integer"),
        ({"scale": (1.0, 0.0, 1.0)}, ValueError, "positive finite"),
        ({"scale": (1.0, 2.0)}, ValueError, "3 numbers"),
        ({"scale": "big"}, TypeError, "`scale` must be a number"),
        ({"translation": (0, float("nan"), 0)}, ValueError, "`translation` must hold finite"),
        ({"units": "microns"}, ValueError, "'micrometer'"),
        ({"units": ("meter", "meter")}, ValueError, "`units` must be"),
        ({"factors": (2, 0, 2)}, ValueError, "`factors` must be an int >= 1"),
        ({"factors": (1, 1, 1), "levels": 3}, ValueError, "a factor > 1"),
        ({"factors": [(1, 2, 2)], "levels": 3}, ValueError, "len.factors. . 1 = 2"),
        ({"levels": 0}, ValueError, "`levels` must be None or an int >= 1"),
        ({"image_reduce": "median"}, ValueError, "`image_reduce` must be one of"),
        ({"chunks": (4, 4)}, ValueError, "`chunks` must be an int >= 1 or a tuple of 3"),
        ({"chunks": "auto"}, TypeError, "`chunks` must be an int or a tuple"),
        ({"factors": "2"}, TypeError, "`factors` must be an int or a tuple"),
        ({"ome_version": "0.3"}, ValueError, "`ome_version`"),
        ({"compute": "yes"}, TypeError, "`compute`"),
        ({"overwrite": 1}, TypeError, "`overwrite`"),
        ({"labels": [IMG]}, TypeError, "dict name -> label array"),
        ({"labels": {"a/b": IMG}}, ValueError, "without '/'"),
        ({"labels": {"a": IMG.astype(np.float32)}}, TypeError, "integer dtype"),
        ({"labels": {"a": IMG[:3]}}, ValueError, "the image's shape"),
        # URLs are accepted now (issue 10); a scheme no filesystem knows is refused
        ({"path": "nosuchfs://bucket/x.zarr"}, ValueError, "no fsspec filesystem knows"),
        ({"shards": (6, 6, 6), "chunks": 4}, ValueError, "multiples of the chunks"),
        ({"shards": 8, "chunks": 4, "ome_version": "0.4"}, ValueError, "need ome_version='0.5'"),
        ({"resume": 1}, TypeError, "`resume` must be True, False or a non-empty str"),
        ({"storage_options": {"key": "k"}}, ValueError, "apply to URLs"),
    ],
)
def test_bad_arguments_raise_before_anything_is_written(tmp_path, kwargs, exc, match):
    call = {"image": IMG, "path": tmp_path / "e.zarr", "progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        save_ome_zarr(call.pop("image"), call.pop("path"), **call)
    assert os.listdir(tmp_path) == []


def test_levels_one_and_default_plan(tmp_path):
    img = random_volume((5, 40, 33), np.uint8)
    one = save_ome_zarr(img, tmp_path / "one.zarr", levels=1, progress=False)
    assert list(zarr.open_group(one).array_keys()) == ["0"]
    auto = save_ome_zarr(
        img, tmp_path / "auto.zarr", factors=(1, 2, 2), chunks=(8, 8, 8), progress=False
    )
    shapes = [open_zarr(auto, component=str(k)).shape for k in range(4)]
    assert shapes == [(5, 40, 33), (5, 20, 17), (5, 10, 9), (5, 5, 5)]
    assert "4" not in zarr.open_group(auto)
    with dask.config.set(scheduler="sync"):  # big-endian input is stored natively
        be = save_ome_zarr(img.astype(">u2"), tmp_path / "be.zarr", levels=2, progress=False)
    np.testing.assert_array_equal(open_zarr(be).compute(), img)
