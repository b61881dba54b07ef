"""Cells of 05_nifti_end_to_end.ipynb (run ``python notebooks/_build.py`` after editing)."""

CELLS = [
    (
        "md",
        r"""
# 5. A NIfTI volume end to end: physical units from the file to OME-Zarr

Notebooks 1-4 work on a synthetic volume in voxel units. A real scan comes in a
medical format whose header says how large a voxel is. Here a NIfTI file goes through
the whole pipeline with its spacing carried along: open it lazily, read its header,
display it to scale, smooth, threshold, label, measure volumes in mm³, and write an
OME-Zarr image whose scale is the file's voxel size.

The file is `anatomical.nii`, a small brain MRI (33 × 41 × 25 voxels of 2 mm,
normalised by SPM) shipped inside nibabel's tests, so nothing is downloaded. It is
tiny, so it is cut into deliberately small blocks: every step below crosses block
faces as it would on a scan larger than memory, and the same code runs unchanged on
one (`.nii` or `.nii.gz`). `BIGIMG_NB_SIZE` does not apply: the volume is the file.
""",
    ),
    (
        "code",
        r"""
import os
import pathlib
import tempfile

import nibabel
import numpy as np
import scipy.ndimage as ndi
import zarr

import bigimg
from bigimg import display, measure, ndimage, stats

path = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")
WORK = pathlib.Path(tempfile.mkdtemp(prefix="bigimg-nb05-"))  # scratch folder for the output
print(os.path.basename(path), os.path.getsize(path), "bytes")
""",
    ),
    (
        "md",
        r"""
## Opening: the voxels stay on disk, the header is read at once

`bigimg.open` picks the reader from the file name (`open_nifti` here) and returns a
lazy dask array; no voxel is read. NIfTI stores the fastest axis first (i, j, k);
bigimg reverses the axes so the last one is the fastest, as numpy expects: the array
is (k, j, i), the plane, row, column of the other notebooks. `bigimg.io.header` reads
the header only and gives the spacing, units and orientation in the array's axis
order.
""",
    ),
    (
        "code",
        r"""
vol = bigimg.open(path, chunks=(13, 21, 17))   # 2 x 2 x 2 blocks: on a large file, omit chunks
header = bigimg.io.header(path)
print("shape", header.shape, header.dtype, "| spacing", header.spacing, header.unit)
print("space", header.space, "| origin", header.origin, "| descrip", header.fields["descrip"])
vol
""",
    ),
    (
        "code",
        r"""
# the same voxels as nibabel's (nibabel's axes are (i, j, k): transpose)
assert np.array_equal(vol.compute(), np.asarray(nibabel.load(path).dataobj).T)
""",
    ),
    (
        "md",
        r"""
## Displaying to scale

`spacing=` sets each panel's aspect ratio from the physical voxel size (isotropic
here; for an anisotropic scan, with thick slices, it keeps the anatomy's proportions).
Only the blocks crossing the three planes are read.
""",
    ),
    (
        "code",
        r"""
display.orthoslices(vol, spacing=header.spacing, percentiles=(1, 99),
                    title="anatomical.nii: three planes through the centre")
""",
    ),
    (
        "md",
        r"""
## Smooth, threshold, label

A Gaussian filter of σ = 1 voxel (2 mm) on the float32 values, then Otsu's threshold
from the volume's histogram (computed block by block) splits the brighter brain
tissue from the dark fluid-filled ventricles, and `label` numbers the connected
regions of the tissue across block faces.
""",
    ),
    (
        "code",
        r"""
smooth = ndimage.gaussian_filter(vol.astype(np.float32), sigma=1)
t = stats.threshold_otsu(smooth)
tissue = smooth > t
labels, n = ndimage.label(tissue)
print(f"Otsu threshold {t:.1f}; {n} connected regions")
display.orthoslices(vol, labels=labels, spacing=header.spacing, percentiles=(1, 99),
                    title="regions above the threshold")
""",
    ),
    (
        "md",
        r"""
## Measurements in millimetres

With `spacing=header.spacing`, `regionprops_table` gives `area` (the number of voxels
times the voxel volume, here 2 × 2 × 2 = 8 mm³) in mm³ and the centroids in mm from
the centre of the first voxel. The largest region is the tissue; the others are bits
of tissue cut off by the edges of the cropped field of view.
""",
    ),
    (
        "code",
        r"""
table = measure.regionprops_table(labels, properties=("label", "area", "centroid"),
                                  spacing=header.spacing, as_dataframe=True)
voxel_mm3 = float(np.prod(header.spacing))
table["voxels"] = (table["area"] / voxel_mm3).astype(int)
table.rename(columns={"area": "area (mm³)"}).sort_values("area (mm³)", ascending=False)
""",
    ),
    (
        "md",
        r"""
### Check: the same numbers as scipy

The file fits in memory, so every step is redone with scipy on the whole array: the
smoothed volume, the labels and the volumes agree.
""",
    ),
    (
        "code",
        r"""
ref = np.asarray(nibabel.load(path).dataobj).T.astype(np.float32)
ref_smooth = ndi.gaussian_filter(ref, sigma=1)
np.testing.assert_allclose(smooth.compute(), ref_smooth, rtol=1e-5, atol=1e-2)
ref_labels, ref_n = ndi.label(ref_smooth > t)
assert ref_n == n and np.array_equal(labels.compute(), ref_labels)
ref_mm3 = np.bincount(ref_labels.ravel())[1:] * voxel_mm3
assert np.array_equal(table.sort_values("label")["area"].to_numpy(), ref_mm3)
print("smoothing, labels and volumes agree with scipy")
""",
    ),
    (
        "md",
        r"""
## OME-Zarr with the file's voxel size

`save_ome_zarr` writes the image and the labels as a multiscale OME-Zarr (a single
level here: the volume fits in one stored chunk) with `scale` and units in its
metadata, which napari and other OME-NGFF viewers use to show it in millimetres.
(For an array straight from a reader, as `vol` is, the header's spacing and units are
also the default.)
""",
    ),
    (
        "code",
        r"""
ome_path = bigimg.save_ome_zarr(vol, WORK / "anatomical.ome.zarr", labels={"tissue": labels},
                                scale=header.spacing, units=header.unit, progress=False)
ms = zarr.open_group(ome_path, mode="r").attrs["ome"]["multiscales"][0]
print("axes:", [(a["name"], a.get("unit")) for a in ms["axes"]])
print("level 0:", ms["datasets"][0]["coordinateTransformations"])
assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == list(header.spacing)

back = bigimg.open_zarr(ome_path, component="0")
back_labels = bigimg.open_zarr(ome_path, component="labels/tissue/0")
assert np.array_equal(back.compute(), vol.compute())
assert np.array_equal(back_labels.compute(), labels.compute())
print("image and labels read back unchanged")
""",
    ),
    (
        "md",
        r"""
`bigimg.view(back, labels=back_labels, spacing=header.spacing)` opens it in napari
(it needs a display). The scratch folder can be deleted.
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
