"""bigimg.display: figures equal numpy's slices/projections and read only what they show."""

from __future__ import annotations

import importlib
import itertools
import re
import sys
import types
import uuid
from collections import Counter

import dask
import dask.array as da
import matplotlib
import numpy as np
import pytest
from dask.array.core import normalize_chunks
from scipy import ndimage as ndi

matplotlib.use("Agg")

from bigimg.display import (  # noqa: E402
    label_colormap,
    label_colors,
    label_rgba,
    orthoslices,
    projection,
    summary,
    view,
)
from bigimg.testing import blobs, raise_if_dask_computes  # noqa: E402

SHAPE = (11, 13, 17)
CHUNKINGS = {
    "even": (4, 5, 6),
    "irregular": ((3, 1, 7), (5, 8), (2, 9, 6)),
    "ones": ((1,) * 11, (13,), (8, 9)),
}


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


def _volume(dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1000, SHAPE).astype(dtype)


def _labels(seed=1):
    return ndi.label(blobs(SHAPE, sigma=1.5, fraction=0.2, seed=seed))[0]


class Reader:
    """A dask array over ``ref`` whose tasks count every block they produce (a 'read')."""

    def __init__(self, ref, chunks):
        self.ref = ref
        self.reads = Counter()
        chunks = normalize_chunks(chunks, ref.shape)
        self.array = da.map_blocks(
            self._read, chunks=chunks, dtype=ref.dtype, name=f"reader-{uuid.uuid4().hex}"
        )

    def _read(self, block_info=None):
        info = block_info[None]
        self.reads[tuple(info["chunk-location"])] += 1
        return self.ref[tuple(slice(a, b) for a, b in info["array-location"])].copy()

    def blocks_through(self, point):
        """Block indices whose extent contains ``point`` along at least one axis."""
        hit = []
        for chunks, p in zip(self.array.chunks, point):
            edges = np.cumsum((0,) + chunks)
            hit.append(int(np.searchsorted(edges, p, side="right") - 1))
        every = itertools.product(*(range(len(c)) for c in self.array.chunks))
        return {b for b in every if any(b[a] == hit[a] for a in range(3))}


def _image(ax, k=0):
    return np.asarray(ax.images[k].get_array())


# --------------------------------------------------------------------- orthoslices
@pytest.mark.parametrize("cname", list(CHUNKINGS))
@pytest.mark.parametrize("point", [(5, 6, 8), (0, 12, 16), (-1, 0, -3)])
def test_orthoslices_reads_only_blocks_crossing_the_planes(cname, point):
    ref, lab = _volume(), _labels()
    vol, labels = Reader(ref, CHUNKINGS[cname]), Reader(lab, CHUNKINGS[cname])
    fig = orthoslices(vol.array, point, labels=labels.array)
    p = tuple(q % n for q, n in zip(point, SHAPE))
    expected = vol.blocks_through(p)
    assert set(vol.reads) == expected and set(vol.reads.values()) == {1}
    assert set(labels.reads) == expected and set(labels.reads.values()) == {1}
    if min(vol.array.numblocks) > 1:  # then some blocks cross no plane
        assert len(expected) < vol.array.npartitions
    planes = [ref[p[0]], ref[:, p[1]], ref[:, :, p[2]]]
    lplanes = [lab[p[0]], lab[:, p[1]], lab[:, :, p[2]]]
    for ax, plane, lplane, name, q in zip(fig.axes, planes, lplanes, "zyx", p):
        np.testing.assert_array_equal(_image(ax), plane)
        assert ax.get_title() == f"{name} = {q}"
        np.testing.assert_array_equal(_image(ax, 1)[..., 3] == 0, lplane == 0)


def test_orthoslices_numpy_default_point_crosshairs_and_axes():
    ref = _volume(np.float32)
    fig = orthoslices(ref)
    centre = (5, 6, 8)
    for ax, through, (r, c) in zip(fig.axes, range(3), [(1, 2), (0, 2), (0, 1)]):
        np.testing.assert_array_equal(_image(ax), np.take(ref, centre[through], axis=through))
        h, v = ax.lines  # axhline at the point's row, axvline at its column
        assert list(h.get_ydata()) == [centre[r]] * 2 and list(v.get_xdata()) == [centre[c]] * 2
        assert (ax.get_ylabel(), ax.get_xlabel()) == (f"{'zyx'[r]} (voxel)", f"{'zyx'[c]} (voxel)")
        assert ax.get_aspect() == 1.0
        n_rows, n_cols = SHAPE[r], SHAPE[c]  # voxel i at i: matplotlib's own default extent
        assert ax.get_xlim() == (-0.5, n_cols - 0.5) and ax.get_ylim() == (n_rows - 0.5, -0.5)
        assert len(ax.texts) == 0  # no orientation known: no side letters
    assert len(fig.axes) == 3


def _box_ratio(ax):
    """Height / width of the axes' box on the canvas (pixels), after layout."""
    ax.figure.draw_without_rendering()
    box = ax.get_window_extent()
    return box.height / box.width


def test_anisotropic_spacing_keeps_true_shape_and_widths():
    fig = orthoslices(_volume(), spacing=(3.0, 0.5, 1.0))
    nz, ny, nx = SHAPE
    physical = [ny * 0.5 / (nx * 1.0), nz * 3.0 / (nx * 1.0), nz * 3.0 / (ny * 0.5)]
    for ax, want in zip(fig.axes, physical):
        assert ax.get_aspect() == 1.0  # equal aspect on physical coordinates
        assert _box_ratio(ax) == pytest.approx(want, rel=0.03)
    assert fig.axes[1].get_ylim() == (nz * 3.0 - 1.5, -1.5)  # z in units of the spacing
    assert fig.axes[1].get_ylabel() == "z"  # a spacing without a unit
    iso = orthoslices(_volume(), spacing=2.0)
    assert [_box_ratio(ax) for ax in iso.axes] == pytest.approx(
        [ny / nx, nz / nx, nz / ny], rel=0.03
    )
    proj = projection(_volume(), axis=2, spacing=(4, 1, 1))
    assert _box_ratio(proj.axes[0]) == pytest.approx(nz * 4.0 / ny, rel=0.03)


def test_vmin_vmax_and_shared_default_limits():
    ref = _volume()
    fig = orthoslices(da.from_array(ref, chunks=5), vmin=100, vmax=600)
    assert {_clim(ax) for ax in fig.axes} == {(100.0, 600.0)}
    fig = orthoslices(ref, (2, 3, 4))
    shown = np.concatenate([ref[2].ravel(), ref[:, 3].ravel(), ref[:, :, 4].ravel()])
    assert {_clim(ax) for ax in fig.axes} == {(shown.min(), shown.max())}
    fig = orthoslices(ref, (2, 3, 4), vmin=2000)  # above every shown value: still honoured
    assert {_clim(ax) for ax in fig.axes} == {(2000.0, 2000.0)}
    fig = orthoslices(ref, (2, 3, 4), vmax=-5)
    assert {_clim(ax) for ax in fig.axes} == {(-5.0, -5.0)}


def _clim(ax):
    return tuple(float(c) for c in ax.images[0].get_clim())


def test_percentiles_of_shown_planes_ignore_nan():
    ref = _volume(np.float64)
    ref[5, 0, 0] = np.nan
    fig = orthoslices(da.from_array(ref, chunks=4), (5, 6, 8), percentiles=(2, 98))
    shown = np.concatenate([ref[5].ravel(), ref[:, 6].ravel(), ref[:, :, 8].ravel()])
    expected = tuple(np.nanpercentile(shown, [2, 98]))
    assert {_clim(ax) for ax in fig.axes} == {expected}


def test_percentiles_of_volume_are_exact():
    ref = _volume()
    vol = Reader(ref, (4, 5, 6))
    fig = orthoslices(vol.array, percentiles=(1, 99), percentile_of="volume")
    expected = tuple(np.percentile(ref, [1, 99]))
    assert {_clim(ax) for ax in fig.axes} == {expected}
    assert set(vol.reads) == set(np.ndindex(vol.array.numblocks))  # whole volume read
    fig = summary(ref, percentiles=(1, 99), percentile_of="volume")
    assert {_clim(ax) for ax in fig.axes[:6]} == {expected}


def test_label_overlay_colours_and_transparent_background():
    ref, lab = _volume(), _labels()
    fig = orthoslices(
        ref, (5, 6, 8), labels=da.from_array(lab, chunks=(3, 4, 5)), label_alpha=0.25, label_seed=3
    )
    colours = {}
    for ax, plane in zip(fig.axes, [lab[5], lab[:, 6], lab[:, :, 8]]):
        rgba = _image(ax, 1)
        assert rgba.shape == plane.shape + (4,)
        np.testing.assert_array_equal(rgba[plane == 0], 0)
        np.testing.assert_allclose(rgba[plane != 0][:, 3], 0.25)
        np.testing.assert_array_equal(rgba, label_rgba(plane, seed=3, alpha=0.25))
        for i, c in zip(plane[plane != 0], rgba[plane != 0]):
            assert tuple(colours.setdefault(int(i), tuple(c))) == tuple(c)  # same id, same colour
    assert len(colours) >= 2
    assert ax.images[1].get_interpolation() == "nearest"


def test_contours_drawn_at_levels_on_planes_only():
    ref = _volume()
    fig = orthoslices(ref, contours=[200, 700])
    for ax in fig.axes:
        (cs,) = ax.collections
        assert list(cs.levels) == [200, 700]
    fig = summary(ref, contours=500, colorbar=False)
    assert [len(ax.collections) for ax in fig.axes] == [1, 1, 1, 0, 0, 0]
    orthoslices(np.zeros((1, 4, 5)), contours=[1.0])  # a 1-voxel-thick plane is skipped


# ------------------------------------------------------------------- label colours
def test_label_colors_deterministic_and_independent_of_neighbours():
    a = label_colors(np.array([0, 5, 9, 5, 2**40], dtype=np.int64))
    b = label_colors(np.array([9, 5], dtype=np.uint64))
    np.testing.assert_array_equal(a[[2, 1]], b)
    np.testing.assert_array_equal(a[1], a[3])
    assert a[0].tolist() == [0, 0, 0, 0] and (a[1:, 3] == 1).all()
    assert (a[1:, :3].max(axis=1) >= 0.75 - 1e-6).all()  # bright: HSV value >= 0.75
    assert not np.array_equal(label_colors([5], seed=1), label_colors([5], seed=0))
    many = label_colors(np.arange(1, 200))
    assert len({tuple(np.round(c, 3)) for c in many}) == 199


@pytest.mark.parametrize("chunks", [(3, 4, 5), ((11,), (2, 11), (1,) * 17)])
def test_label_rgba_dask_equals_numpy(chunks):
    lab = _labels()
    lazy = label_rgba(da.from_array(lab, chunks=chunks), alpha=0.7)
    assert isinstance(lazy, da.Array) and lazy.dtype == np.float32
    np.testing.assert_array_equal(lazy.compute(), label_rgba(lab, alpha=0.7))
    np.testing.assert_array_equal(label_rgba(lab > 0)[..., 3] > 0, lab > 0)


def test_label_colormap_matches_label_colors():
    cmap = label_colormap(7, seed=2, alpha=0.5)
    assert cmap.N == 7
    np.testing.assert_allclose(cmap(np.arange(7)), label_colors(np.arange(7), seed=2, alpha=0.5))
    assert cmap(0)[3] == 0 and cmap(np.nan)[3] == 0


# ------------------------------------------------------------- projection, summary
@pytest.mark.parametrize("kind", ["max", "mean", "min"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_projection_equals_numpy_and_reads_each_block_once(kind, axis):
    ref = _volume()
    vol = Reader(ref, CHUNKINGS["irregular"])
    fig = projection(vol.array, axis, kind=kind)
    expected = getattr(np, kind)(ref, axis=axis)
    np.testing.assert_allclose(_image(fig.axes[0]), expected, rtol=1e-12)
    assert set(vol.reads) == set(np.ndindex(vol.array.numblocks))
    assert set(vol.reads.values()) == {1}
    assert fig.axes[0].get_title() == f"{kind} along {'zyx'[axis]}"
    np.testing.assert_allclose(_image(projection(ref, axis, kind=kind).axes[0]), expected)


def test_summary_reads_volume_once_and_saves_png(tmp_path):
    ref, lab = _volume(), _labels()
    vol = Reader(ref, CHUNKINGS["even"])
    path = tmp_path / "view.png"
    fig = summary(vol.array, (4, 5, 6), labels=lab, title="t", path=path, dpi=40)
    assert set(vol.reads.values()) == {1}
    assert set(vol.reads) == set(np.ndindex(vol.array.numblocks))
    images = [_image(ax) for ax in fig.axes[:6]]
    for got, want in zip(
        images, [ref[4], ref[:, 5], ref[:, :, 6], ref.max(0), ref.max(1), ref.max(2)]
    ):
        np.testing.assert_array_equal(got, want)
    assert [len(ax.images) for ax in fig.axes[:6]] == [2, 2, 2, 1, 1, 1]
    assert _clim(fig.axes[3]) == (float(ref.max(0).min()), float(ref.max(2).max()))
    assert len(fig.axes) == 8  # six panels and one colour bar per row
    png = matplotlib.image.imread(path)
    assert png.ndim == 3 and png.shape[2] == 4 and png.shape[0] > 100
    assert png[..., :3].std() > 0.05  # not a blank canvas


def test_other_inputs_bool_and_zarr(tmp_path):
    zarr = pytest.importorskip("zarr")
    ref = _volume()
    z = zarr.create_array(str(tmp_path / "v.zarr"), shape=SHAPE, chunks=(4, 4, 4), dtype=ref.dtype)
    z[...] = ref
    fig = orthoslices(z, (1, 2, 3))
    np.testing.assert_array_equal(_image(fig.axes[2]), ref[:, :, 3])
    fig = orthoslices(ref > 500)
    np.testing.assert_array_equal(_image(fig.axes[0]), ref[5] > 500)


# --------------------------------------------------------------------- validation
BAD = [
    (dict(volume=np.zeros((4, 5))), ValueError, "`volume` must be 3-D"),
    (dict(volume=[[[1]]]), TypeError, "`volume` must be a numpy or dask array"),
    (dict(volume=np.zeros((2, 3, 4), complex)), TypeError, "real dtype"),
    (dict(volume=np.zeros((0, 3, 4))), ValueError, "must not be empty"),
    (dict(point=(1, 2)), ValueError, "`point` must hold 3"),
    (dict(point=(1, 2, 1.5)), TypeError, "`point` must hold integers"),
    (dict(point=(11, 0, 0)), ValueError, "inside the volume of shape (11, 13, 17)"),
    (dict(point=5), TypeError, "`point` must be a sequence"),
    (dict(labels=np.zeros((2, 2, 2), int)), ValueError, "`labels` must have the volume's"),
    (dict(labels=np.zeros(SHAPE, float)), TypeError, "`labels` must have an integer"),
    (dict(vmin=5, vmax=1), ValueError, "`vmin` must not exceed `vmax`"),
    (dict(vmin="1"), TypeError, "`vmin` must be a real number"),
    (dict(percentiles=(1, 99), vmin=0), ValueError, "not be combined"),
    (dict(percentiles=(99, 1)), ValueError, "0 <= low < high <= 100"),
    (dict(percentiles=(1, 2, 3)), ValueError, "pair"),
    (dict(percentile_of="all"), ValueError, "`percentile_of` must be"),
    (dict(cmap="no-such-map"), ValueError, "`cmap` must name"),
    (dict(cmap=3), TypeError, "`cmap` must be a colormap"),
    (dict(spacing=(1, 0, 1)), ValueError, "`spacing` must be positive"),
    (dict(spacing=(1, 1)), ValueError, "`spacing` must hold 3"),
    (dict(contours=[5, 1]), ValueError, "increasing"),
    (dict(figsize=(4,)), ValueError, "`figsize`"),
    (dict(title=3), TypeError, "`title`"),
    (dict(label_alpha=2), ValueError, "`alpha` must be in [0, 1]"),
    (dict(label_seed=-1), ValueError, "`seed`"),
    (dict(colorbar="yes"), TypeError, "`colorbar` must be True or False"),
]


@pytest.mark.parametrize("kwargs, err, match", BAD, ids=[b[2][:25] for b in BAD])
def test_bad_arguments_raise_before_reading(kwargs, err, match):
    kwargs = dict(kwargs)
    volume = kwargs.pop("volume", da.zeros(SHAPE, chunks=5))
    with raise_if_dask_computes(), pytest.raises(err, match=_re(match)):
        orthoslices(volume, **kwargs)


def _re(text):
    return re.escape(text)


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda v: projection(v, axis=3), ValueError, "`axis` must be in [-3, 3)"),
        (lambda v: projection(v, axis=1.0), TypeError, "`axis` must be an integer"),
        (lambda v: projection(v, kind="median"), ValueError, "`kind` must be one of"),
        (lambda v: summary(v, path="out.jpg"), ValueError, "`path` must end in .png"),
        (lambda v: summary(v, path="/no/such/dir/v.png"), ValueError, "existing directory"),
        (lambda v: summary(v, path=3), TypeError, "`path` must be a str"),
        (lambda v: summary(v, dpi=0), ValueError, "`dpi` must be positive"),
        (lambda v: label_colormap(1), ValueError, "`n` must be at least 2"),
        (lambda v: label_colors([0.5]), TypeError, "`ids` must be integers"),
        (lambda v: label_rgba(np.zeros(3)), TypeError, "`labels` must have an integer"),
    ],
)
def test_bad_arguments_other_functions(call, err, match):
    with raise_if_dask_computes(), pytest.raises(err, match=_re(match)):
        call(da.zeros(SHAPE, chunks=5))


# -------------------------------------------------------------- optional packages
def test_package_imports_without_matplotlib_and_explains_the_fix(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("bigimg.display")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    for name in ["matplotlib", "matplotlib.colors", "matplotlib.figure"]:
        monkeypatch.setitem(sys.modules, name, None)  # "import matplotlib" now fails
    fresh = importlib.import_module("bigimg.display")
    assert fresh.label_rgba(np.array([[0, 1]])).shape == (1, 2, 4)  # no matplotlib needed
    with pytest.raises(ImportError, match=r"orthoslices draws with matplotlib.*pip install"):
        fresh.orthoslices(np.zeros((2, 3, 4)))
    with pytest.raises(ImportError, match="label_colormap"):
        fresh.label_colormap(3)


def test_figures_display_in_notebooks(monkeypatch):
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    # a running IPython (matplotlib reads its version when it makes a canvas)
    shell = types.SimpleNamespace(get_ipython=lambda: object(), version_info=(9, 0))
    monkeypatch.setitem(sys.modules, "IPython", shell)
    fig = orthoslices(np.zeros((2, 3, 4)))
    # importing pyplot activates the kernel's inline backend, which shows returned figures
    assert "matplotlib.pyplot" in sys.modules
    assert fig.canvas.manager is None  # not managed by pyplot: no second display, no leak


def test_view_without_napari_raises_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "napari", None)
    with pytest.raises(ImportError, match=_re('pip install "napari[all]"')):
        view(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="given together"):  # arguments checked first
        view(np.zeros((2, 3, 4)), vmin=1)


def test_view_passes_lazy_arrays_to_napari(monkeypatch):
    calls = []

    class Viewer:
        def __init__(self, **kwargs):
            calls.append(("viewer", kwargs))

        def add_image(self, data, **kwargs):
            calls.append(("image", data, kwargs))

        def add_labels(self, data, **kwargs):
            calls.append(("labels", data, kwargs))

    monkeypatch.setitem(sys.modules, "napari", types.SimpleNamespace(Viewer=Viewer))
    vol, lab = da.zeros(SHAPE, chunks=5), da.ones(SHAPE, chunks=5, dtype=np.int32)
    with raise_if_dask_computes():
        viewer = view(vol, labels=lab, name="ct", spacing=(2, 1, 1), vmin=0, vmax=10, show=False)
    assert isinstance(viewer, Viewer)
    assert calls[0] == ("viewer", {"title": "ct", "show": False})
    kind, data, kw = calls[1]
    assert kind == "image" and data is vol
    assert kw == {
        "name": "ct",
        "scale": (2.0, 1.0, 1.0),
        "colormap": "gray",
        "contrast_limits": (0.0, 10.0),
    }
    assert calls[2][0] == "labels" and calls[2][1] is lab
    assert calls[2][2] == {"name": "labels", "scale": (2.0, 1.0, 1.0)}
