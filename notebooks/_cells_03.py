"""Cells of 03_morphology_and_segmentation.ipynb (run ``python notebooks/_build.py`` after editing)."""

CELLS = [
    (
        "md",
        r"""
# 3. Morphology, segmentation and measurements, out of core

The tutorial's *Mathematical morphology*, *Segmentation* and *Measuring objects
properties* sections: threshold the bone of the synthetic CT with Otsu, clean the
mask with morphology, label the objects across blocks, remove the small ones and
measure the rest. Labels, fills and distance transforms need the whole volume; bigimg
computes them block by block with a small merge step, and the results equal scipy's.

`SIZE` is the edge of the volume (384 by default, 48 in the test suite).
""",
    ),
    (
        "code",
        r"""
import os
import pathlib
import tempfile

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
import scipy.ndimage as ndi
import skimage.measure

import bigimg
from bigimg import display, measure, ndimage, stats
from bigimg.data import synthetic_ct

SIZE = int(os.environ.get("BIGIMG_NB_SIZE", 384))
CHUNK = max(24, SIZE // 3)
WORK = pathlib.Path(tempfile.mkdtemp(prefix="bigimg-nb03-"))

ct = bigimg.open_zarr(bigimg.save_zarr(synthetic_ct((SIZE,) * 3, chunks=CHUNK),
                                       WORK / "ct.zarr", progress=False))
# the noise-free anatomy: bone is where it is above 1500
truth = synthetic_ct((SIZE,) * 3, chunks=CHUNK, noise=0) > 1500

n = min(SIZE, 40)                              # a crop for the scipy checks, in odd blocks
def crop(x):
    return x[:n, :n, :n].rechunk(n // 3 + 1)
""",
    ),
    (
        "md",
        r"""
## Histogram-based segmentation with Otsu

Denoise with a median filter, then take Otsu's threshold from one exact histogram of
the whole volume: first air against body, then, among the body voxels, soft tissue
against bone. The denoised volume is stored, since everything below reads it.
""",
    ),
    (
        "code",
        r"""
smooth = bigimg.open_zarr(bigimg.save_zarr(ndimage.median_filter(ct, 3), WORK / "smooth.zarr",
                                           progress=False))
counts, centers = stats.image_histogram(smooth)
t_body = stats.threshold_otsu(hist=(counts, centers))
above = centers > t_body
t_bone = stats.threshold_otsu(hist=(counts[above], centers[above]))
print(f"Otsu: air/body at {t_body:.0f}, tissue/bone at {t_bone:.0f}")
assert 0 < t_body < 1064 < t_bone < 2024

body = smooth > t_body
bone = smooth > t_bone
display.orthoslices(smooth, labels=bone, vmin=800, vmax=2200, title="bone mask over the denoised CT")
""",
    ),
    (
        "md",
        r"""
## Clean-up with mathematical morphology

Opening (erosion then dilation) removes small white specks; closing removes small
black holes. The tutorial's exercise checks that *reconstruction* (erosion then
propagation inside the mask) does better than opening/closing: with the noise-free
anatomy at hand, we can measure it.
""",
    ),
    (
        "code",
        r"""
open_img = ndimage.binary_opening(bone)
close_img = ndimage.binary_closing(open_img)

eroded = ndimage.binary_erosion(bone)
reconstruct = ndimage.binary_propagation(eroded, mask=bone)
tmp = ~reconstruct
reconstruct_final = ~ndimage.binary_propagation(ndimage.binary_erosion(tmp), mask=tmp)

errors = dask.compute({"threshold": (bone != truth).mean(),
                       "open + close": (close_img != truth).mean(),
                       "reconstruction": (reconstruct_final != truth).mean()})[0]
for name, err in errors.items():
    print(f"{name:>15}: {100 * err:.3f} % of voxels wrong")
""",
    ),
    (
        "code",
        r"""
b = crop(bone)
b_np = b.compute()
for ours, ref in [(ndimage.binary_opening(b), ndi.binary_opening(b_np)),
                  (ndimage.binary_closing(b), ndi.binary_closing(b_np)),
                  (ndimage.binary_propagation(ndimage.binary_erosion(b), mask=b),
                   ndi.binary_propagation(ndi.binary_erosion(b_np), mask=b_np)),
                  (ndimage.binary_fill_holes(b), ndi.binary_fill_holes(b_np))]:
    assert np.array_equal(ours.compute(), ref)
print("opening, closing, propagation and hole filling equal scipy's")
""",
    ),
    (
        "md",
        r"""
## Filling holes and the distance transform

`binary_fill_holes` fills cavities that do not reach the border, across blocks. The
Euclidean distance transform of the body gives every voxel its depth below the skin.
""",
    ),
    (
        "code",
        r"""
clean = bigimg.open_zarr(bigimg.save_zarr(ndimage.binary_fill_holes(reconstruct_final),
                                          WORK / "bone.zarr", progress=False))
depth = ndimage.distance_transform_edt(body)
filled_voxels, bone_voxels, deepest = dask.compute(clean.sum(), reconstruct_final.sum(), depth.max())
print(f"filling holes added {filled_voxels - bone_voxels} voxels; deepest body voxel: {deepest:.1f}")
display.orthoslices(depth, cmap="viridis", colorbar=True, title="depth inside the body (voxels)")
""",
    ),
    (
        "code",
        r"""
np.testing.assert_allclose(ndimage.distance_transform_edt(crop(body)).compute(),
                           ndi.distance_transform_edt(crop(body).compute()), rtol=1e-12)
""",
    ),
    (
        "md",
        r"""
## Labels

`ndimage.label` numbers the connected objects exactly as scipy does (raster order of
their first voxel), even when an object spans many blocks. It computes the count now;
the labels stay lazy. Then the tutorial's clean-up: sizes with `sum_labels`, small
objects removed, labels made sequential again (the tutorial's `np.searchsorted`).
""",
    ),
    (
        "code",
        r"""
lab, nlab = ndimage.label(clean)
sizes = ndimage.sum_labels(clean, lab, index=np.arange(1, nlab + 1)).compute()
print(f"{nlab} objects; sizes from {sizes.min():.0f} to {sizes.max():.0f} voxels")

small = int(np.percentile(sizes, 25))                        # the smallest quarter goes
big = measure.remove_small_objects(lab, max_size=small)
lab2, forward, inverse = measure.relabel_sequential(big)     # 1, 2, 3, ... again
inner = measure.clear_border(lab2)                           # drop objects touching the border
largest = measure.keep_largest(lab2, k=3)
counts_left = [len(u) - 1 for u in dask.compute(da.unique(lab2), da.unique(inner), da.unique(largest))]
print("objects above {} voxels: {}, not touching the border: {}, the three largest: {}"
      .format(small, *counts_left))
assert counts_left[0] == (sizes > small).sum() and counts_left[2] == min(3, counts_left[0])

display.orthoslices(ct, labels=lab2, vmin=800, vmax=2200, title="labelled bone")
""",
    ),
    (
        "code",
        r"""
lab_c, n_c = ndimage.label(crop(clean))
ref, n_ref = ndi.label(crop(clean).compute())
assert n_c == n_ref and np.array_equal(lab_c.compute(), ref)
print(f"labels of the crop equal scipy's ({n_c} objects)")
""",
    ),
    (
        "md",
        r"""
## Measurements

`find_objects` gives each object's bounding box (the region of interest); the
per-label statistics follow scipy; `regionprops_table` follows scikit-image's property
names and returns a table (one pass over the labels and the intensities).
""",
    ),
    (
        "code",
        r"""
boxes = ndimage.find_objects(lab2)
biggest = int(np.argmax(ndimage.sum_labels(lab2 > 0, lab2, index=np.arange(1, len(boxes) + 1))))
roi = boxes[biggest]
print("largest object: label", biggest + 1, "in", roi)
display.orthoslices(ct[roi], labels=lab2[roi] == biggest + 1, vmin=800, vmax=2200,
                    title="region of interest of the largest object")
""",
    ),
    (
        "code",
        r"""
index = np.arange(1, min(4, len(boxes)) + 1)
com, brightest = dask.compute(ndimage.center_of_mass(ct, lab2, index),
                              ndimage.maximum_position(ct, lab2, index))   # lazy, one pass
print("centres of mass:", np.round(com, 1).tolist())
print("brightest voxels:", np.asarray(brightest).tolist())

props = ("label", "area", "centroid", "bbox", "intensity_mean", "equivalent_diameter_area")
table = measure.regionprops_table(lab2, ct, properties=props, as_dataframe=True)
table.sort_values("area", ascending=False).head()
""",
    ),
    (
        "code",
        r"""
# check: scikit-image on the crop gives the same table
lab_np, ct_np = ref, crop(ct).compute()
ours = measure.regionprops_table(da.from_array(lab_np, chunks=n // 3 + 1), crop(ct), properties=props)
theirs = skimage.measure.regionprops_table(lab_np, ct_np, properties=props)
assert list(ours) == list(theirs)
for key in theirs:
    np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10)
""",
    ),
    (
        "md",
        r"""
## Granulometry, block means and radial means

The tutorial's granulometry counts what survives openings with growing balls: a size
distribution of the bone. Block means (`ndimage.mean` over block labels in the
tutorial) are `stats.block_reduce`; the radial mean is `stats.radial_profile`.
""",
    ),
    (
        "code",
        r"""
radii = [0, 1, 2, 3]
granulo = stats.granulometry(clean, radii)
block_mean = stats.block_reduce(ct, 4, np.mean)
profile = stats.radial_profile(ct, bin_width=2)

fig, axes = plt.subplots(1, 3, figsize=(11, 3))
axes[0].plot(radii, granulo, "o-")
axes[0].set(xlabel="ball radius", ylabel="voxels left", title="granulometry")
axes[1].imshow(block_mean[block_mean.shape[0] // 2].compute(), cmap="gray")
axes[1].set_title(f"4×4×4 block means {block_mean.shape}")
axes[2].plot(2 * np.arange(len(profile)), profile)
axes[2].axvline(0.45 * SIZE, ls="--", c="k")
axes[2].set(xlabel="distance from centre", title="radial mean (dashed: body edge)")
assert all(np.diff(granulo) <= 0)
""",
    ),
    (
        "code",
        r"""
c = crop(clean).compute()
assert stats.granulometry(crop(clean), [2]).tolist() == [ndi.binary_opening(c, structure=stats.ball(2)).sum()]
# the tutorial's block mean: ndimage.mean over block labels (crop of a multiple of 4)
m = 4 * (n // 4)
x = ct[:m, :m, :m].compute()
Z, Y, X = np.ogrid[:m, :m, :m]
regions = (Z // 4) * (m // 4) ** 2 + (Y // 4) * (m // 4) + X // 4
ref = ndi.mean(x, labels=regions, index=np.arange(regions.max() + 1)).reshape((m // 4,) * 3)
np.testing.assert_allclose(stats.block_reduce(ct[:m, :m, :m], 4, np.mean).compute(), ref, rtol=1e-12)
print("granulometry and block means equal scipy's")
""",
    ),
    (
        "code",
        r"""
import shutil

shutil.rmtree(WORK)
""",
    ),
]
