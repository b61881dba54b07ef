"""Scale run for labels: a 1024³ blob volume with > 10⁵ objects -> label -> region table.

    python benchmarks/bench_label_scale.py [--size 1024] [--chunks 128] [--sigma 1.2]

The blob mask (smoothed white noise above a threshold, generated block by block) is
written to a zarr store first; then ``label`` (graph build + per-block summaries), the
labels written to zarr, and ``regionprops_table`` over all objects. Prints the graph-build
time, each step's wall time and the peak resident memory of the whole run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import bigimg  # noqa: E402
from bigimg import ndimage  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402
from bigimg.data import white_noise  # noqa: E402
from bigimg.measure import regionprops_table  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--sigma", type=float, default=1.2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    shape = (args.size,) * 3
    work = tempfile.mkdtemp(prefix="bigimg-label-scale-", dir=args.workdir)
    try:
        with ResourceMonitor() as total:
            t0 = time.perf_counter()
            noise = white_noise(shape, chunks=args.chunks, seed=0)
            smooth = ndimage.gaussian_filter(noise, args.sigma)
            std = (8.0 * np.pi**1.5 * args.sigma**3) ** -0.5
            mask_path = os.path.join(work, "mask.zarr")
            bigimg.save_zarr(smooth > 1.0 * std, mask_path, progress=False)
            t_mask = time.perf_counter() - t0

            t0 = time.perf_counter()
            mask = bigimg.open_zarr(mask_path)
            labels, count = ndimage.label(mask)
            t_label = time.perf_counter() - t0
            graph_tasks = len(labels.__dask_graph__())

            t0 = time.perf_counter()
            labels_path = os.path.join(work, "labels.zarr")
            bigimg.save_zarr(labels, labels_path, progress=False)
            t_store = time.perf_counter() - t0

            t0 = time.perf_counter()
            table = regionprops_table(
                bigimg.open_zarr(labels_path), properties=("label", "area", "centroid", "bbox")
            )
            t_table = time.perf_counter() - t0
        assert len(table["label"]) == count
        voxels = float(np.prod(shape))
        print(
            f"label scale run: {shape} in {args.chunks}³ chunks "
            f"({mask.npartitions} blocks), {count:,} objects"
        )
        print(f"  blob mask -> zarr              {t_mask:7.1f} s")
        print(
            f"  label: summaries + numbering   {t_label:7.1f} s  "
            f"({voxels / t_label / 1e6:.0f} Mvoxel/s; {graph_tasks} tasks in the label graph)"
        )
        print(f"  labels -> zarr                 {t_store:7.1f} s")
        print(f"  regionprops_table, all objects {t_table:7.1f} s")
        print(f"  total {total.seconds:.1f} s; peak RSS {format_bytes(total.peak_rss)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
