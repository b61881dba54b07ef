"""regionprops_table against skimage.measure.regionprops_table on the same arrays."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import regionprops_table as sk_table

from bigimg.measure import PROPERTIES, regionprops_table
from bigimg.testing import blobs, odd_chunkings

ONLY_2D = {"eccentricity", "orientation", "moments_hu", "moments_weighted_hu", "perimeter",
           "perimeter_crofton"}  # fmt: skip
NEED_SPACING_1 = {"moments_hu", "moments_weighted_hu"}
ANISO_2D_UNSUPPORTED = {"perimeter", "perimeter_crofton"}
SLOW_3D = {"feret_diameter_max"}  # marching cubes per object: skipped to keep CI fast

# scikit-image warns (in its own code, for both sides) on flat objects' convex hulls
pytestmark = pytest.mark.filterwarnings("ignore:Failed to get convex hull image")

SHAPE_3D = (19, 23, 29)
SHAPE_2D = (37, 43)
LAB_3D = ndi.label(blobs(SHAPE_3D, sigma=1.0, fraction=0.25))[0]
LAB_2D = ndi.label(blobs(SHAPE_2D, sigma=1.2, fraction=0.3, seed=1))[0]


def properties(ndim, spacing, with_intensity):
    out = []
    for p in PROPERTIES:
        if ndim != 2 and p in ONLY_2D or ndim == 3 and p in SLOW_3D:
            continue
        if spacing is not None and p in NEED_SPACING_1:
            continue
        if np.ndim(spacing) and len(set(spacing)) > 1 and p in ANISO_2D_UNSUPPORTED:
            continue
        if not with_intensity and ("intensity" in p or "weighted" in p):
            continue
        out.append(p)
    return out


def compare(got, ref, *, rtol=1e-7):
    assert list(got) == list(ref)
    for key, r in ref.items():
        g = got[key]
        assert g.dtype == r.dtype, (key, g.dtype, r.dtype)
        assert g.shape == r.shape, key
        if r.dtype == object:
            for a, b in zip(g, r, strict=True):
                if isinstance(b, tuple):
                    assert a == b, key
                else:
                    np.testing.assert_allclose(
                        np.asarray(a, float), np.asarray(b, float), rtol=rtol, err_msg=key
                    )
        elif r.dtype.kind == "f":
            # sqrt of an eigenvalue that is 0 up to rounding: allow ~1e-7 absolute
            atol = 1e-6 if "axis" in key or "eccentricity" in key else 1e-9
            np.testing.assert_allclose(g, r, rtol=rtol, atol=atol, err_msg=key)
        else:
            np.testing.assert_array_equal(g, r, err_msg=key)


CHUNKS_3D = odd_chunkings(SHAPE_3D, halo=3)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # skimage's solidity
@pytest.mark.parametrize("chunking", ["single", "irregular", "ones"])
def test_all_properties_3d(chunking):
    rng = np.random.default_rng(0)
    inten = rng.random(SHAPE_3D) * 100
    chunks = CHUNKS_3D[chunking]
    props = properties(3, None, True)
    got = regionprops_table(
        da.from_array(LAB_3D, chunks=chunks), da.from_array(inten, chunks=chunks), props
    )
    compare(got, sk_table(LAB_3D, inten, props))


@pytest.mark.parametrize("spacing", [None, (1.5, 0.5)])
@pytest.mark.parametrize("dt", [np.uint8, np.float32, np.float64])
def test_all_properties_2d(spacing, dt):
    rng = np.random.default_rng(1)
    inten = (rng.random(SHAPE_2D) * 200).astype(dt)
    props = properties(2, spacing, True)
    got = regionprops_table(da.from_array(LAB_2D, chunks=(9, 11)), inten, props, spacing=spacing)
    rtol = 1e-6 if dt == np.float32 else 1e-7  # scikit-image averages float32 in float32
    compare(got, sk_table(LAB_2D, inten, props, spacing=spacing), rtol=rtol)


@pytest.mark.parametrize("spacing", [None, (2.0, 0.5, 1.25), 0.5])
def test_spacing_3d_without_intensity(spacing):
    props = properties(3, spacing, False)
    props = [p for p in props if p not in {"image_convex", "area_convex", "solidity"}]
    got = regionprops_table(da.from_array(LAB_3D, chunks=(7, 9, 8)), None, props, spacing=spacing)
    compare(got, sk_table(LAB_3D, properties=props, spacing=spacing))


def test_default_properties_and_separator():
    lab = da.from_array(LAB_3D, chunks=6)
    compare(regionprops_table(lab), sk_table(LAB_3D))
    got = regionprops_table(lab, properties=("label", "inertia_tensor"), separator="_")
    compare(got, sk_table(LAB_3D, properties=("label", "inertia_tensor"), separator="_"))


def test_negative_labels_and_gaps():
    lab = np.where(LAB_2D % 3 == 0, -LAB_2D, LAB_2D * 5).astype(np.int16)
    props = ("label", "area", "bbox", "centroid", "slice")
    got = regionprops_table(da.from_array(lab, chunks=7), properties=props)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_table(lab, properties=props)
    compare(got, ref)


def test_extra_properties():
    def sq_sum(mask, intensity):
        return float((intensity[mask] ** 2).sum())

    def n_rows(mask):
        return int(mask.any(axis=1).sum())

    inten = np.random.default_rng(2).random(SHAPE_2D)
    got = regionprops_table(
        da.from_array(LAB_2D, chunks=10), inten, ("label",), extra_properties=(sq_sum, n_rows)
    )
    ref = sk_table(LAB_2D, inten, ("label",), extra_properties=(sq_sum, n_rows))
    assert list(got) == list(ref)
    np.testing.assert_allclose(got["sq_sum"], ref["sq_sum"])
    np.testing.assert_array_equal(got["n_rows"], ref["n_rows"])


def test_intensity_median_and_empty():
    inten = np.random.default_rng(3).random(SHAPE_3D).astype(np.float32)
    props = ("label", "intensity_median", "intensity_std")
    got = regionprops_table(da.from_array(LAB_3D, chunks=8), inten, props)
    compare(got, sk_table(LAB_3D, inten, props), rtol=1e-6)
    empty = np.zeros((5, 6), int)
    props = ("label", "area", "bbox", "centroid", "moments_hu")
    compare(regionprops_table(empty, properties=props), sk_table(empty, properties=props))


def test_as_dataframe():
    pd = pytest.importorskip("pandas")
    got = regionprops_table(LAB_2D, properties=("label", "area", "bbox"), as_dataframe=True)
    assert isinstance(got, pd.DataFrame)
    ref = pd.DataFrame(sk_table(LAB_2D, properties=("label", "area", "bbox")))
    pd.testing.assert_frame_equal(got, ref)


def test_errors():
    with pytest.raises(TypeError, match="integer"):
        regionprops_table(LAB_2D.astype(float))
    with pytest.raises(ValueError, match="property"):
        regionprops_table(LAB_2D, properties=("label", "nope"))
    with pytest.raises(AttributeError, match="intensity_image"):
        regionprops_table(LAB_2D, properties=("intensity_mean",))
    with pytest.raises(NotImplementedError, match="2-D"):
        regionprops_table(LAB_3D, properties=("eccentricity",))
    with pytest.raises(NotImplementedError, match="spacing"):
        regionprops_table(LAB_2D, properties=("moments_hu",), spacing=(1, 2))
    with pytest.raises(ValueError, match="spacing"):
        regionprops_table(LAB_2D, spacing=(1, 2, 3))
    with pytest.raises(ValueError, match="spacing"):
        regionprops_table(LAB_2D, spacing=(1, np.inf))
    with pytest.raises(ValueError, match="shape"):
        regionprops_table(LAB_2D, np.zeros((3, 3)), properties=("intensity_mean",))
    with pytest.raises(NotImplementedError, match="channel"):
        regionprops_table(LAB_2D, np.zeros(SHAPE_2D + (3,)), properties=("intensity_mean",))
    with pytest.raises(TypeError, match="extra_properties"):
        regionprops_table(LAB_2D, extra_properties=(1,))
