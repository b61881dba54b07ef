"""Cells of 01_open_and_display.ipynb (run ``python notebooks/_build.py`` after editing)."""

CELLS = [
    (
        "md",
        r"""
# 1. Opening and displaying a volume larger than memory

The scipy-lectures chapter *Image manipulation and processing using NumPy and SciPy*
opens a picture with `imageio`, reads raw bytes with `np.fromfile`/`np.memmap`, stacks
a list of files and shows them with `plt.imshow`. Here the image is a 3-D CT scan
that may not fit in memory: every array below is a lazy **dask** array made of
blocks, and only the blocks a result needs are ever read.

`SIZE` sets the edge of the synthetic volume. The default (384³ voxels, 113 MB in
uint16, 226 MB in float32) is a laptop-sized stand-in for a real scan; raise it
(`BIGIMG_NB_SIZE=1024` is 2 GB) to go past your RAM, nothing else changes. The
test suite runs this notebook with `BIGIMG_NB_SIZE=48`.
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
import tifffile

import bigimg
from bigimg import display, ndimage
from bigimg.data import synthetic_ct

SIZE = int(os.environ.get("BIGIMG_NB_SIZE", 384))   # voxels along each axis
CHUNK = max(24, SIZE // 3)                           # block edge: 128 at the default size
WORK = pathlib.Path(tempfile.mkdtemp(prefix="bigimg-nb01-"))  # scratch folder for the files
print(f"SIZE={SIZE}, CHUNK={CHUNK}, scratch folder {WORK}")
""",
    ),
    (
        "md",
        r"""
## A synthetic CT volume

`synthetic_ct` builds a CT-like volume block by block: air (~0), a soft-tissue
ellipsoid (~1064), irregular bone-like blobs (~2024) and noise. Values are Hounsfield
units + 1024 in `uint16`. Nothing is computed yet: `ct` is a recipe of blocks.
""",
    ),
    (
        "code",
        r"""
ct = synthetic_ct((SIZE, SIZE, SIZE), chunks=CHUNK)
print(ct.shape, ct.dtype, f"{ct.nbytes / 2**20:.1f} MiB in {ct.npartitions} blocks of {ct.chunksize}")
ct
""",
    ),
    (
        "md",
        r"""
## Writing and opening a raw file

The tutorial writes `face.tofile('face.raw')` and reads it back with `np.memmap`,
because a raw file has no header: you must know the shape and dtype. `save_raw`
streams the blocks to disk (one block in memory per task) and `open_raw` opens the
file lazily with the same knowledge.
""",
    ),
    (
        "code",
        r"""
raw_path = bigimg.save_raw(ct, WORK / "ct.raw", progress=False)
print(pathlib.Path(raw_path).stat().st_size, "bytes =", ct.nbytes)

vol = bigimg.open_raw(raw_path, shape=ct.shape, dtype=ct.dtype, chunks=CHUNK)
vol
""",
    ),
    (
        "code",
        r"""
# The tutorial's memory map reads the same bytes; compare one plane.
mm = np.memmap(raw_path, dtype=np.uint16, mode="r", shape=ct.shape)
plane = SIZE // 2
assert np.array_equal(vol[plane].compute(), mm[plane])
del mm
""",
    ),
    (
        "md",
        r"""
## A stack of TIFF slices, and one multi-page TIFF

Scanners often write one file per slice. Write the planes one at a time (from the
raw file, so only one plane is ever in memory), then open the folder: the files are
stacked in natural order (`z_2` before `z_10`), one file per task. `save_tiff` writes
a single multi-page (OME-)TIFF instead.
""",
    ),
    (
        "code",
        r"""
slices = WORK / "slices"
slices.mkdir()
mm = np.memmap(raw_path, dtype=np.uint16, mode="r", shape=ct.shape)
for z in range(SIZE):
    tifffile.imwrite(slices / f"z_{z}.tif", mm[z])
del mm

stack = bigimg.open_tiff(slices)              # a folder, a glob "slices/z_*.tif" or a list
same = bigimg.open_tiff(str(slices / "z_*.tif"))
print(stack.shape, stack.chunksize, sorted(os.listdir(slices))[:3])

tif_path = bigimg.save_tiff(vol, WORK / "ct.ome.tif", progress=False)
multipage = bigimg.open_tiff(tif_path, chunks=CHUNK)
multipage
""",
    ),
    (
        "md",
        r"""
## Zarr: a chunked, compressed format made for this

Zarr stores every block as its own compressed file, so blocks are read and written
independently and in parallel. It is the format to keep intermediate results in.
""",
    ),
    (
        "code",
        r"""
zarr_path = bigimg.save_zarr(vol, WORK / "ct.zarr", chunks=CHUNK, progress=False)
zvol = bigimg.open_zarr(zarr_path)
print(zvol.chunksize, f"on disk: {sum(f.stat().st_size for f in pathlib.Path(zarr_path).rglob('*') if f.is_file()) / 2**20:.2f} MiB")

# every reader gives back the same voxels (checked block by block, in one pass)
checks = [da.all(vol == other) for other in (ct, stack, same, multipage, zvol)]
assert all(dask.compute(*checks)), "the readers disagree"
""",
    ),
    (
        "md",
        r"""
## Displaying

`plt.imshow` wants a 2-D numpy array. `display.orthoslices` shows three orthogonal
planes through a point and reads only the blocks crossing them. As in the tutorial,
`vmin`/`vmax` raise the contrast, and `contours` draws iso-lines like `plt.contour`.
""",
    ),
    (
        "code",
        r"""
display.orthoslices(zvol, title="synthetic CT: three planes through the centre")
""",
    ),
    (
        "code",
        r"""
display.orthoslices(zvol, vmin=900, vmax=1300, contours=[500, 1600],
                    title="contrast on soft tissue, contours at air/tissue and bone")
""",
    ),
    (
        "md",
        r"""
Percentiles make a contrast that does not depend on the scanner's units; `summary`
adds maximum-intensity projections (each a reduction over the whole volume, computed
block by block).
""",
    ),
    (
        "code",
        r"""
display.summary(zvol, percentiles=(1, 99.5), title="planes and maximum projections")
""",
    ),
    (
        "md",
        r"""
For fine inspection, plot a small crop: only the block holding it is read. The
tutorial compares `interpolation='bilinear'` and `'nearest'`.
""",
    ),
    (
        "code",
        r"""
c = SIZE // 2
crop = zvol[c, c - 10:c + 10, c - 10:c + 10].compute()
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, interp in zip(axes, ["bilinear", "nearest"]):
    ax.imshow(crop, cmap="gray", interpolation=interp)
    ax.set_title(interp)
    ax.axis("off")
""",
    ),
    (
        "md",
        r"""
## Basic manipulations

Slicing, flipping and statistics are plain (dask) numpy. Rotations and zooms are in
`bigimg.ndimage`, the drop-in for `scipy.ndimage`: same names, same arguments, same
numbers, for any chunking.
""",
    ),
    (
        "code",
        r"""
lz, ly, lx = zvol.shape
cropped = zvol[lz // 4: -lz // 4, ly // 4: -ly // 4, lx // 4: -lx // 4]   # cropping
flipped = zvol[:, ::-1, :]                                                # up <-> down flip
mean, vmax, vmin = dask.compute(zvol.mean(), zvol.max(), zvol.min())       # one pass
print(f"cropped {cropped.shape}, mean {mean:.1f}, max {vmax}, min {vmin}")

rotated = ndimage.rotate(zvol, 30, axes=(1, 2), reshape=False, order=1)     # about z
halved = ndimage.zoom(zvol, 0.5, order=1)
print("rotated", rotated.shape, "zoomed", halved.shape, halved.chunksize)
display.orthoslices(rotated, percentiles=(1, 99.5), title="rotated by 30° about z")
""",
    ),
    (
        "md",
        r"""
### Check: the same numbers as scipy

On a crop small enough for memory, split into odd blocks, every operation agrees with
`scipy.ndimage` on the whole crop.
""",
    ),
    (
        "code",
        r"""
n = min(SIZE, 40)
small = zvol[:n, :n, :n].rechunk(n // 3 + 1)      # odd blocks: results cross block faces
small_np = small.compute().astype(np.float64)
small = small.astype(np.float64)
np.testing.assert_allclose(ndimage.rotate(small, 30, axes=(1, 2), reshape=False, order=1).compute(),
                           ndi.rotate(small_np, 30, axes=(1, 2), reshape=False, order=1), atol=1e-9)
np.testing.assert_allclose(ndimage.zoom(small, 0.5, order=1).compute(),
                           ndi.zoom(small_np, 0.5, order=1), atol=1e-9)
assert np.array_equal(flipped[:n, :, :n].compute(), np.flip(zvol[:n, :, :n].compute(), axis=1))
print("rotate, zoom and flip agree with scipy/numpy")
""",
    ),
    (
        "md",
        r"""
Next: **02 - statistics and filters**. The scratch folder can be deleted.
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
