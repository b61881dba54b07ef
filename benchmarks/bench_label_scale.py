"""Scale runs for labels: a blob volume -> label -> region table, and the many-objects case.

    python benchmarks/bench_label_scale.py [--size 1024] [--chunks 128] [--sigma 1.2]
    python benchmarks/bench_label_scale.py --case random [--size 1024] [--chunks 128]
        [--fraction 0.25] [--merge tree client] [--cluster]

``--case blobs`` (default): the blob mask (smoothed white noise above a threshold,
generated block by block) is written to a zarr store first; then ``label`` (graph build
+ per-block summaries), the labels written to zarr, and ``regionprops_table`` over all
objects. Prints the graph-build time, each step's wall time and the peak resident
memory of the whole run.

``--case random``: the many-objects case of issue 10 (``random < 0.25`` with
6-connectivity at 1024³ in 128³ chunks: 80.8 M objects). The mask is generated lazily,
block by block (one cheap generator per block, nothing on disk). For each merge of the
label engine (dask config ``bigimg.label-merge``: ``tree``, ``client``), in a fresh
process: the ``label`` call (it returns the object count), the pickled size of the
returned labels' graph, then the labels computed (``labels.max()``, which paints every
block). Reports objects, wall times, the peak resident memory of the process, and with
``--cluster`` (a ``LocalCluster`` of 2 single-threaded worker processes) the client's
and the workers' peaks separately. Targets (issue 10): client < 1 GiB, graph < 16 MiB,
call no slower than the client merge's 40 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time

import dask
import dask.array as da
import numpy as np
import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import bigimg  # noqa: E402
from bigimg import ndimage  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402
from bigimg.data import white_noise  # noqa: E402
from bigimg.measure import regionprops_table  # noqa: E402


def _random_block(fraction: float, seed: int, block_id=None, block_info=None) -> np.ndarray:
    """One block of the random mask, from its own generator (no disk, any order)."""
    shape = block_info[None]["chunk-shape"]
    rng = np.random.default_rng([seed, *block_id])
    return rng.random(shape, dtype=np.float32) < fraction


def random_mask(size: int, chunks: int, fraction: float, seed: int = 0) -> da.Array:
    """A lazy ``size``³ bool volume, voxels set with probability ``fraction``."""
    counts = [chunks] * (size // chunks) + ([size % chunks] if size % chunks else [])
    return da.map_blocks(
        _random_block,
        fraction,
        seed,
        chunks=(tuple(counts),) * 3,
        dtype=bool,
        meta=np.empty((0, 0, 0), dtype=bool),
    )


def _random_child(args) -> dict:
    """One merge, in this process: call, graph bytes, compute; returns the measurements."""
    cluster = client = None
    if args.cluster:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
        client = Client(cluster)
    else:
        dask.config.set(scheduler="threads", num_workers=2)
    dask.config.set({"bigimg.label-merge": args.merge})
    ndimage.label(random_mask(16, 8, args.fraction))[0].compute()  # compile the kernels
    x = random_mask(args.size, args.chunks, args.fraction)
    out = {"merge": args.merge, "blocks": x.npartitions}
    with ResourceMonitor(children=False) as client_mem, ResourceMonitor() as total:
        t0 = time.perf_counter()
        labels, count = ndimage.label(x)
        out["call"] = time.perf_counter() - t0
        out["call_peak"] = client_mem.peak_rss if args.cluster else total.peak_rss
        t0 = time.perf_counter()
        out["graph_bytes"] = len(pickle.dumps(labels))
        out["graph_tasks"] = len(labels.__dask_graph__())
        out["pickle"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        top = int(labels.max().compute())
        out["compute"] = time.perf_counter() - t0
    assert top == count, (top, count)
    out.update(objects=int(count), client_peak=client_mem.peak_rss, total_peak=total.peak_rss)
    if client is not None:
        client.close()
        cluster.close()
    return out


def run_random(args) -> None:
    """``--case random``: each merge in a fresh process, then one table."""
    rows = []
    for merge in args.merge:
        command = [sys.executable, __file__, "--case", "random", "--child", "--merge", merge]
        command += ["--size", str(args.size), "--chunks", str(args.chunks)]
        command += ["--fraction", str(args.fraction)] + (["--cluster"] if args.cluster else [])
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            print(result.stdout, result.stderr, file=sys.stderr)
            raise SystemExit(f"the {merge} run failed")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    where = "LocalCluster, 2 worker processes x 1 thread" if args.cluster else "2 threads"
    print(
        f"label, random < {args.fraction} at {args.size}³ in {args.chunks}³ chunks "
        f"({rows[0]['blocks']} blocks), 6-connectivity, {where}"
    )
    print(
        f"{'merge':8s} {'objects':>12s} {'call s':>7s} {'call peak':>10s} {'graph':>10s} "
        f"{'tasks':>7s} {'compute s':>9s} {'client peak':>11s} {'all peak':>10s}"
    )
    for r in rows:
        print(
            f"{r['merge']:8s} {r['objects']:12,d} {r['call']:7.1f} "
            f"{format_bytes(r['call_peak']):>10s} {format_bytes(r['graph_bytes']):>10s} "
            f"{r['graph_tasks']:7d} {r['compute']:9.1f} {format_bytes(r['client_peak']):>11s} "
            f"{format_bytes(r['total_peak']):>10s}"
        )
    print(
        f"load average after the runs: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("blobs", "random"), default="blobs")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--sigma", type=float, default=1.2)
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--merge", nargs="+", default=["tree", "client"])
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    if args.case == "random":
        if args.child:
            args.merge = args.merge[0]
            print(json.dumps(_random_child(args)))
        else:
            run_random(args)
        return
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
