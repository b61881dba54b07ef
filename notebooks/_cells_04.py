"""Cells of 04_cluster_and_ome_zarr.ipynb (run ``python notebooks/_build.py`` after editing)."""

CELLS = [
    (
        "md",
        r"""
# 4. The pipeline on a cluster with little memory, written as OME-Zarr

The same pipeline as notebooks 1-3 (open, denoise, threshold, clean, label, measure)
run by a `dask.distributed` `LocalCluster` of two worker processes, each with a memory
limit. At the default `SIZE=640` the uint16 volume is 500 MiB and its float32 copy
1000 MiB; no worker ever holds either, only blocks. The results are written as an
OME-Zarr image with a label image, which napari (and other OME-NGFF viewers) open
lazily.

**Sizing the workers.** A worker is a Python process: with numpy, scipy, numba and
bigimg imported it holds about 170 MiB (measured below), and about 250-300 MiB once
bigimg's numba kernels are compiled, before it holds any data. dask starts spilling a worker's results to disk at 60-70 % of its
limit, *pauses* the worker at 80 % (it runs no task until its memory drops, so a
worker whose own baseline is near 80 % never runs again) and restarts it at 95 %. Each
task here holds a few blocks of 128³ (8 MiB in float32) and the per-block tables of
the labels and measurements; at `SIZE=640` the workers peaked at about 800 MiB. So
each gets 1.5 GiB: a pause threshold of 1.2 GiB, well above baseline plus working
set. The last cell checks that no worker paused.

The test suite runs this notebook with `BIGIMG_NB_SIZE=48`.
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
import numpy as np
import psutil
from dask.distributed import Client, LocalCluster

import bigimg
from bigimg import display, measure, ndimage, stats
from bigimg.data import synthetic_ct

SIZE = int(os.environ.get("BIGIMG_NB_SIZE", 640))
CHUNK = max(24, min(128, SIZE // 5))       # 128 from SIZE=640 on: 8 MiB float32 blocks
WORKER_MEMORY = "1.5GiB"                   # per worker process (see above)
WORK = pathlib.Path(tempfile.mkdtemp(prefix="bigimg-nb04-"))
""",
    ),
    (
        "code",
        r"""
cluster = LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=WORKER_MEMORY,
                       dashboard_address=":0")
client = Client(cluster)
limits = client.run(lambda dask_worker: dask_worker.memory_manager.memory_limit)
pause = dask.config.get("distributed.worker.memory.pause")         # 0.8 by default
client.run(__import__, "bigimg.ndimage")                         # what every task imports
baseline = client.run(lambda: psutil.Process().memory_info().rss)  # resident memory now
volume_bytes = SIZE**3 * 2
print(f"{len(limits)} workers of {min(limits.values()) / 2**20:.0f} MiB, pausing at",
      f"{pause * min(limits.values()) / 2**20:.0f} MiB; baseline after imports",
      f"{max(baseline.values()) / 2**20:.0f} MiB")
print(f"the uint16 volume is {volume_bytes / 2**20:.1f} MiB, in float32 {2 * volume_bytes / 2**20:.1f} MiB")
print("dashboard:", client.dashboard_link)
""",
    ),
    (
        "md",
        r"""
## Generate and store the volume

The client only builds the graph; each worker generates its blocks and writes them
straight into zarr. (With `distributed`, bigimg's writers and readers run on the
workers; the active `Client` is the scheduler for every `compute`.) While a cell runs,
the dashboard link above shows the task stream and each worker's memory;
`progress=True` on a writer, or `dask.config.set({"bigimg.progress": True})` for every
call, also shows a progress bar here (switched off in this notebook to keep it short).
""",
    ),
    (
        "code",
        r"""
zarr_path = bigimg.save_zarr(synthetic_ct((SIZE,) * 3, chunks=CHUNK), WORK / "ct.zarr", progress=False)
ct = bigimg.open_zarr(zarr_path)
ct
""",
    ),
    (
        "md",
        r"""
## The pipeline

Median denoising, Otsu thresholds from one histogram, reconstruction clean-up, labels,
small objects removed. Intermediate results that are read several times are stored
in zarr (labelling reads its input twice).
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

bone = smooth > t_bone
seed = ndimage.binary_propagation(ndimage.binary_erosion(bone), mask=bone)
clean = bigimg.open_zarr(bigimg.save_zarr(ndimage.binary_fill_holes(seed), WORK / "bone.zarr",
                                          progress=False))
lab, nlab = ndimage.label(clean)
lab = measure.remove_small_objects(lab, max_size=8)
lab, _, _ = measure.relabel_sequential(lab)
print(f"thresholds {t_body:.0f} / {t_bone:.0f}; {nlab} objects, {int(lab.max().compute())} above 8 voxels")
""",
    ),
    (
        "code",
        r"""
table = measure.regionprops_table(lab, ct, properties=("label", "area", "centroid", "intensity_mean"),
                                  as_dataframe=True)
print(len(table), "objects; mean bone intensity", round(float(table["intensity_mean"].mean()), 1))
table.sort_values("area", ascending=False).head()
""",
    ),
    (
        "md",
        r"""
### Check: the cluster's answer is the single-machine answer

On a crop, the same steps with scipy in memory give the same labels.
""",
    ),
    (
        "code",
        r"""
import scipy.ndimage as ndi

n = min(SIZE, 40)
crop = smooth[:n, :n, :n].rechunk(n // 3 + 1) > t_bone  # the same steps on a crop
b = crop.compute()
ref_clean = ndi.binary_fill_holes(ndi.binary_propagation(ndi.binary_erosion(b), mask=b))
ref_lab, ref_n = ndi.label(ref_clean)
ours_clean = ndimage.binary_fill_holes(
    ndimage.binary_propagation(ndimage.binary_erosion(crop), mask=crop))
ours, ours_n = ndimage.label(ours_clean)
assert ours_n == ref_n and np.array_equal(ours.compute(), ref_lab)
assert np.array_equal(ndimage.median_filter(ct[:n, :n, :n], 3).compute(),
                      ndi.median_filter(ct[:n, :n, :n].compute(), 3))
print("the crop matches scipy in memory")
""",
    ),
    (
        "md",
        r"""
## Writing OME-Zarr with labels

`save_ome_zarr` writes a multiscale pyramid of the image and of each label image (label
levels are downsampled by the exact mode, so labels stay labels) with the voxel size
in the metadata, in one streaming pass on the workers.
""",
    ),
    (
        "code",
        r"""
ome_path = bigimg.save_ome_zarr(ct, WORK / "ct.ome.zarr", labels={"bone": lab},
                                scale=(0.5, 0.5, 0.5), units="millimeter", chunks=CHUNK,
                                progress=False)
print(sorted(p.name for p in pathlib.Path(ome_path).iterdir()))

level0 = bigimg.open_zarr(ome_path, component="0")
bone0 = bigimg.open_zarr(ome_path, component="labels/bone/0")
same = dask.compute(da.all(level0 == ct), da.all(bone0 == lab))
assert all(same), same
print("levels:", [bigimg.open_zarr(ome_path, component=str(i)).shape
                  for i in range(len([p for p in pathlib.Path(ome_path).iterdir() if p.name.isdigit()]))])
display.orthoslices(level0, labels=bone0, vmin=800, vmax=2200, spacing=0.5,
                    title="read back from OME-Zarr")
""",
    ),
    (
        "md",
        r"""
## Viewing in napari

napari opens the pyramid lazily (only the visible tiles of the needed level are read):

```
pip install "napari[all]" napari-ome-zarr
napari --plugin napari-ome-zarr /path/to/ct.ome.zarr
```

or, from Python, `bigimg.view(level0, labels=bone0, spacing=(0.5, 0.5, 0.5))`. Set
`BIGIMG_NB_NAPARI=1` to open it from this notebook (it needs a display).
""",
    ),
    (
        "code",
        r"""
if os.environ.get("BIGIMG_NB_NAPARI"):
    bigimg.view(level0, labels=bone0, spacing=(0.5, 0.5, 0.5))
""",
    ),
    (
        "md",
        r"""
## Did any worker pause?

Each worker's system monitor samples its resident memory (the number its memory
manager compares with the limit); a paused worker says so in its log.
""",
    ),
    (
        "code",
        r"""
peaks = client.run(lambda dask_worker: max(dask_worker.monitor.quantities["memory"]))
paused = [addr for addr, logs in client.get_worker_logs().items()
          if any("Pausing worker" in msg for _, msg in logs)]
print(f"peak worker memory {max(peaks.values()) / 2**20:.0f} MiB of",
      f"{min(limits.values()) / 2**20:.0f} MiB (pause at {pause:.0%}); paused workers: {paused}")
assert not paused
""",
    ),
    (
        "code",
        r"""
import shutil

client.close()
cluster.close()
shutil.rmtree(WORK)
""",
    ),
]
