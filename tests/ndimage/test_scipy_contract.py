"""scipy's calling contract where bigimg used to differ (issue 12, sections 1 and 2).

Arrays as ``output=``/``distances=``/``indices=`` (filled block by block, scipy's
return value), scipy's return structures, 0-d and zero-length inputs, scipy's
index casting, and bad shapes or sizes refused before anything is built. Each test
failed on the code before the issue.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg import ndimage

X = np.random.default_rng(12).random((7, 8, 9))
B = X > 0.5


@pytest.mark.parametrize(
    ("name", "args", "data"),
    [
        ("gaussian_filter", (1.0,), X),
        ("uniform_filter", (3,), X),
        ("median_filter", (3,), X),
        ("grey_opening", (3,), X),
        ("binary_erosion", (), B),
        ("binary_propagation", (), B),
        ("zoom", (1.0,), X),
        ("fourier_gaussian", (1.0,), X),
        ("spline_filter", (), X),
    ],
)
@pytest.mark.parametrize("kind", ["numpy", "memmap", "zarr"])
def test_output_array_filled_block_by_block(name, args, data, kind, tmp_path):
    ref = getattr(ndi, name)(data, *args)
    if kind == "numpy":
        out = np.zeros(data.shape, ref.dtype)
    elif kind == "memmap":
        out = np.lib.format.open_memmap(tmp_path / "o.npy", "w+", ref.dtype, data.shape)
    else:
        zarr = pytest.importorskip("zarr")
        out = zarr.create_array(
            tmp_path / "o.zarr", shape=data.shape, chunks=(4, 4, 4), dtype=ref.dtype
        )
    got = getattr(ndimage, name)(da.from_array(data, chunks=3), *args, output=out)
    assert got is out
    np.testing.assert_allclose(np.asarray(out[...]), ref, rtol=1e-12, atol=1e-12)


def test_output_array_return_values_and_shape_check():
    lab = np.zeros(B.shape, np.int32)
    n = ndimage.label(da.from_array(B, chunks=4), output=lab)
    ref, ref_n = ndi.label(B)
    assert n == ref_n and np.array_equal(lab, ref)
    holes = np.zeros(B.shape, bool)
    assert ndimage.binary_fill_holes(B, output=holes) is None  # as scipy
    assert np.array_equal(holes, ndi.binary_fill_holes(B))
    small = np.zeros((4, 4))
    got = ndimage.affine_transform(X[0], np.eye(2), output=small)  # shape from output
    assert got is small and np.allclose(
        small, ndi.affine_transform(X[0], np.eye(2), output=small.copy())
    )
    with pytest.raises(RuntimeError, match=r"`output` has shape \(3, 3\)"):
        ndimage.gaussian_filter(X, 1, output=np.zeros((3, 3)))
    inplace = X.copy()  # scipy allows the input as its own output
    ndimage.uniform_filter(inplace, 3, output=inplace)
    np.testing.assert_allclose(inplace, ndi.uniform_filter(X, 3))


@pytest.mark.parametrize(
    "func", ["distance_transform_edt", "distance_transform_cdt", "distance_transform_bf"]
)
def test_distances_and_indices_arrays(func):
    a = np.ones((6, 7), np.uint8)
    a[2, 3] = a[5, 0] = 0
    ref_d, ref_i = getattr(ndi, func)(a, return_indices=True)
    d = np.zeros(a.shape, ref_d.dtype)
    i = np.zeros((2, *a.shape), np.int32)
    x = da.from_array(a, chunks=3)
    assert getattr(ndimage, func)(x, return_indices=True, distances=d, indices=i) is None
    np.testing.assert_array_equal(d, ref_d)
    np.testing.assert_array_equal(i, ref_i)
    got = getattr(ndimage, func)(x, return_indices=True, distances=np.zeros_like(d))
    np.testing.assert_array_equal(got.compute(), ref_i)  # only what was not filled
    with pytest.raises(RuntimeError, match="distances array must be"):
        getattr(ndimage, func)(x, distances=np.zeros(a.shape, np.int8))


def test_cdt_reads_a_metric_arrays_bytes_as_scipy():
    a = np.ones((9, 9))
    a[0] = 0
    for metric in (np.ones((3, 3)), np.ones((3, 3), int), np.ones((3, 3), bool)):
        got = ndimage.distance_transform_cdt(da.from_array(a, chunks=4), metric=metric)
        np.testing.assert_array_equal(got.compute(), ndi.distance_transform_cdt(a, metric=metric))
    with pytest.raises(ValueError, match="invalid metric provided"):
        ndimage.distance_transform_cdt(a, metric="garbage")


@pytest.mark.parametrize("func", ["fourier_ellipsoid", "fourier_gaussian", "fourier_uniform"])
def test_fourier_zero_length(func):
    a = np.ones((0, 5), np.complex64)
    got = getattr(ndimage, func)(a, 3).compute()
    ref = getattr(ndi, func)(a, 3)
    assert got.shape == ref.shape and got.dtype == ref.dtype


def test_zero_d_rank_filters():
    for name, args in [("median_filter", (3,)), ("rank_filter", (0, 3))]:
        got = getattr(ndimage, name)(np.array(5.0), *args).compute()
        assert got.shape == () and got == getattr(ndi, name)(np.array(5.0), *args)


def test_non_integral_index_cast_like_scipy():
    x = np.arange(6.0)
    lab = np.array([1, 1, 2, 2, 0, 3])
    for idx in ([1.5], [2.9, 1.0], [-0.5]):
        for name in ("sum_labels", "mean", "maximum", "variance"):
            got = getattr(ndimage, name)(da.from_array(x, chunks=2), lab, idx).compute()
            np.testing.assert_allclose(got, getattr(ndi, name)(x, lab, idx))
    with pytest.raises(ValueError, match="NaN"):
        ndimage.sum_labels(x, lab, [np.nan])
    sparse = np.array([1, 1, 2, 2, 0, 300])  # scipy matches values exactly here
    assert ndimage.sum_labels(x, sparse, [1.5]).compute()[0] == ndi.sum_labels(x, sparse, [1.5])[0]


def test_geometry_shapes_refused_before_building():
    with pytest.raises(ValueError, match=r"negative dimensions.*\(-1, 5, 5\)"):
        ndimage.affine_transform(np.ones((5, 5, 5)), np.eye(3), output_shape=(-1, 5, 5))
    with pytest.raises(ValueError, match="`output_chunks` must be chunk sizes >= 1"):
        ndimage.zoom(np.ones((5, 5, 5)), 2, output_chunks=0)
    with pytest.raises(MemoryError, match=r"64,000,000,000 tasks"):  # no graph is built
        ndimage.zoom(da.zeros((256,) * 3, chunks=64), 1000)


def test_no_warning_noise():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ndimage.gaussian_filter(X, 1, output=np.zeros(X.shape))
