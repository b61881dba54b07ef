"""The built-in example: a synthetic CT volume on disk, processed out of core.

``python -m bigimg demo --size 512 --out demo-output`` (or ``python3 dev.py demo``):

1. generate a CT-like volume block by block and stream it to a raw file;
2. open the raw file lazily (no voxels read);
3. median filter (denoise) -> Gaussian smoothing, stored as zarr;
4. threshold (bone), label the objects exactly across chunks, store the labels as zarr;
5. measure every object (size, centroid, mean intensity) into a CSV table;

printing each step's time and the process's peak resident memory.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable

import numpy as np

from bigimg._monitor import ResourceMonitor, format_bytes

__all__ = ["run_demo"]


def _step(log: list, what: str, func: Callable):
    t0 = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - t0
    log.append((what, seconds))
    print(f"  {what:<58s} {seconds:7.1f} s", flush=True)
    return result


def run_demo(
    size: int = 512,
    out: str = "demo-output",
    chunks: int = 128,
    progress: bool | None = None,
    overwrite: bool = True,
) -> dict:
    """Run the example pipeline on a ``size``³ uint16 volume; return a summary dict."""
    import bigimg
    from bigimg import ndimage
    from bigimg.data import synthetic_ct
    from bigimg.measure import regionprops_table

    if size < 8:
        raise ValueError(f"`size` must be at least 8; got {size}.")
    os.makedirs(out, exist_ok=True)
    shape = (size, size, size)
    raw_path = os.path.join(out, "ct.raw")
    nbytes = int(np.prod(shape)) * 2
    print(
        f"bigimg {bigimg.__version__} demo: {shape} uint16 = {format_bytes(nbytes)}, "
        f"chunks {chunks}³, output in {out}/",
        flush=True,
    )
    log: list = []
    with ResourceMonitor() as mon:
        _step(
            log,
            f"generate synthetic CT -> {raw_path}",
            lambda: bigimg.save_raw(
                synthetic_ct(shape, chunks=chunks), raw_path, overwrite=overwrite, progress=progress
            ),
        )
        ct = _step(
            log,
            "open_raw (lazy: reads no voxels)",
            lambda: bigimg.open_raw(raw_path, shape, np.uint16, chunks=chunks),
        )
        denoised = ndimage.median_filter(ct, size=3)
        smooth = ndimage.gaussian_filter(denoised, 1.0, output=np.float32)
        smooth_path = os.path.join(out, "smoothed.zarr")
        _step(
            log,
            f"median 3 -> gaussian 1 -> {smooth_path}",
            lambda: bigimg.save_zarr(smooth, smooth_path, overwrite=overwrite, progress=progress),
        )
        bone = bigimg.open_zarr(smooth_path) > 1500
        labels, count = _step(
            log, "label bone (smoothed > 1500), exact across chunks", lambda: ndimage.label(bone)
        )
        labels_path = os.path.join(out, "bone_labels.zarr")
        _step(
            log,
            f"write labels -> {labels_path}",
            lambda: bigimg.save_zarr(labels, labels_path, overwrite=overwrite, progress=progress),
        )
        table = _step(
            log,
            "region table (area, centroid, mean intensity)",
            lambda: regionprops_table(
                bigimg.open_zarr(labels_path),
                intensity_image=ct,
                properties=("label", "area", "centroid", "intensity_mean"),
            ),
        )
        csv_path = os.path.join(out, "bone_objects.csv")
        with open(csv_path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(table))
            writer.writerows(zip(*(np.asarray(v).tolist() for v in table.values())))
    n_objects = len(table["label"])
    print(
        f"done: {int(count)} bone objects ({n_objects} in {csv_path}); "
        f"total {mon.seconds:.1f} s; peak resident memory {format_bytes(mon.peak_rss)} "
        f"for a {format_bytes(nbytes)} volume",
        flush=True,
    )
    return {
        "objects": n_objects,
        "seconds": mon.seconds,
        "peak_rss": mon.peak_rss,
        "steps": log,
        "out": out,
    }
