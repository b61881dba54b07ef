"""Proof on a volume larger than RAM: the whole pipeline out of core, with its peak memory.

Run from the repository root::

    python benchmarks/bench_larger_than_ram.py --gib 32            # ~32 GiB uint16 volume
    python benchmarks/bench_larger_than_ram.py --gib 1 --no-ome    # quick check
    python benchmarks/bench_larger_than_ram.py --gib 32 --workdir /data/bench --keep
    python benchmarks/bench_larger_than_ram.py --gib 32 --workdir /data/bench --skip-generate
    python benchmarks/bench_larger_than_ram.py --gib 4 --scheduler processes --workers 2 \\
        --memory-limit 1GiB

Steps, each streamed block by block (nothing holds the volume):

1. generate a CT-like uint16 volume (``bigimg.data.synthetic_ct``) into a raw file;
2. ``open_raw`` it (lazy), Gaussian smoothing (float32, lazy) -> threshold -> bool mask
   -> ``binary_opening`` -> store the opened mask as compressed zarr;
3. ``label`` the stored mask (block summaries and the global numbering: computes now);
4. store the labels as zarr (each block is labelled again and renumbered);
5. region table (area, centroid, mean intensity over the raw volume) -> CSV;
6. OME-Zarr pyramid of the raw image with the labels (rewrites the image; ``--no-ome``
   skips it).

Each step prints its wall time, throughput (input voxels per second) and peak resident
memory: of the step and of the whole run so far (``bigimg._monitor.ResourceMonitor``,
sampled in a thread every 20 ms; child processes included, so ``--scheduler processes``
counts its workers). The end prints a markdown table for the README with the machine's
RAM and the volume's size relative to it. Free disk space is checked before anything
is written; the work directory is removed at the end unless ``--keep``.

Numba kernels are compiled on the first run (cached on disk afterwards), which weighs
on the times of small volumes.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np
import psutil

import bigimg
from bigimg import ndimage
from bigimg._monitor import ResourceMonitor, format_bytes
from bigimg.cli._scheduler import use_scheduler
from bigimg.data import synthetic_ct
from bigimg.measure import regionprops_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SIGMA = 1.0
THRESHOLD = 1500.0  # between soft tissue (~1064) and bone (~2024) after smoothing
PROPERTIES = ("label", "area", "centroid", "intensity_mean")

# Stored bytes per voxel (measured on synthetic_ct at 0.25 and 1 GiB, rounded up
# with a margin), for the free-space check.
BPV_MASK = 0.05
BPV_LABELS = 0.20
BPV_OME = 1.6  # image pyramid (noisy uint16: ~1 byte/voxel; levels add 1/7) + labels
MARGIN = 1.10


def choose_shape(gib: float, chunk: int) -> tuple[int, int, int]:
    """(m, n, n) uint16 of at least ``gib`` GiB, ``n`` a multiple of the chunk, near cubic."""
    nvox = gib * 2**30 / 2
    n = max(chunk, int(round(nvox ** (1 / 3) / chunk)) * chunk)
    m = max(1, math.ceil(nvox / (n * n)))
    return (m, n, n)


def estimate_disk(nvox: int, ome: bool, generate: bool) -> dict[str, float]:
    est = {
        "raw": 2.0 * nvox if generate else 0.0,
        "mask.zarr": BPV_MASK * nvox,
        "labels.zarr": BPV_LABELS * nvox,
        "objects.csv": 0.01 * nvox,
    }
    if ome:
        est["ome.zarr"] = BPV_OME * nvox
    return est


def dir_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


class Run:
    """Times steps; peak RSS per step and of the whole run (``total`` monitor)."""

    def __init__(self, total: ResourceMonitor, nvox: int) -> None:
        self.total = total
        self.nvox = nvox
        self.rows: list[tuple[str, float, float, int, int]] = []
        self.peak = 0  # the two monitors sample at different moments: keep the max

    def step(self, name: str, func, *, voxels: int | None = None):
        voxels = self.nvox if voxels is None else voxels
        with ResourceMonitor(0.02) as mon:
            result = func()
        rate = voxels / mon.seconds / 1e6 if mon.seconds > 0 else float("inf")
        self.peak = so_far = max(self.peak, self.total.peak_rss, mon.peak_rss)
        self.rows.append((name, mon.seconds, rate, mon.peak_rss, so_far))
        print(
            f"  {name:<44s} {mon.seconds:8.1f} s {rate:8.1f} Mvox/s   "
            f"peak RSS step {format_bytes(mon.peak_rss):>10s}, "
            f"run {format_bytes(so_far):>10s}",
            flush=True,
        )
        return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--gib", type=float, default=32.0, help="volume size in GiB of uint16 (default 32)"
    )
    p.add_argument("--chunks", type=int, default=128, help="block edge (default 128)")
    p.add_argument(
        "--workdir",
        help="where the raw file and outputs go (default: a "
        "temporary folder in the repository, i.e. on its disk)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--skip-generate",
        action="store_true",
        help="reuse the raw file already in --workdir (same --gib, --chunks, --seed)",
    )
    p.add_argument("--no-ome", action="store_true", help="skip the OME-Zarr pyramid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--scheduler",
        default="threads",
        choices=("threads", "processes"),
        help="threads (default) or processes (a local dask.distributed cluster)",
    )
    p.add_argument("--workers", type=int, help="threads or worker processes (default: cores)")
    p.add_argument("--memory-limit", help="per worker process, e.g. 1GiB (--scheduler processes)")
    args = p.parse_args(argv)

    if args.gib <= 0 or args.chunks < 8:
        p.error("--gib must be > 0 and --chunks >= 8")
    if args.skip_generate and not args.workdir:
        p.error("--skip-generate needs --workdir (the folder holding the raw file)")
    if args.memory_limit and args.scheduler != "processes":
        p.error("--memory-limit applies to --scheduler processes")

    shape = choose_shape(args.gib, args.chunks)
    nvox = math.prod(shape)
    nbytes = 2 * nvox
    ram = psutil.virtual_memory().total
    ome = not args.no_ome

    # --- work directory and free space --------------------------------------------
    made_workdir = args.workdir is None
    workdir = (
        tempfile.mkdtemp(prefix=".bench_larger_than_ram-", dir=REPO)
        if made_workdir
        else os.path.abspath(args.workdir)
    )
    os.makedirs(workdir, exist_ok=True)
    raw_name = f"ct_{'x'.join(map(str, shape))}_seed{args.seed}_c{args.chunks}.raw"
    raw_path = os.path.join(workdir, raw_name)
    if args.skip_generate:
        if not os.path.isfile(raw_path) or os.path.getsize(raw_path) != nbytes:
            print(
                f"--skip-generate: no raw file {raw_path} of {nbytes:,} bytes; run once "
                f"with --keep (same --gib, --chunks, --seed) to make it.",
                file=sys.stderr,
            )
            return 2
    est = estimate_disk(nvox, ome, generate=not args.skip_generate)
    need = sum(est.values()) * MARGIN
    free = shutil.disk_usage(workdir).free
    print(
        f"bigimg {bigimg.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, RAM {format_bytes(ram)}"
    )
    print(
        f"volume {shape} uint16 = {format_bytes(nbytes)} = {nbytes / ram:.3g}x RAM, "
        f"chunks {args.chunks}^3, scheduler {args.scheduler}"
    )
    print(
        f"workdir {workdir}: needs ~{format_bytes(need)} ("
        + ", ".join(f"{k} {format_bytes(v)}" for k, v in est.items())
        + f"), free {format_bytes(free)}"
    )
    if free < need:
        print(
            f"not enough free disk space in {workdir}: ~{format_bytes(need)} needed, "
            f"{format_bytes(free)} free. Use --workdir on a bigger disk, a smaller --gib, "
            f"or --no-ome (saves ~{format_bytes(est.get('ome.zarr', 0))}).",
            file=sys.stderr,
        )
        if made_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        return 2

    mask_path = os.path.join(workdir, "mask.zarr")
    labels_path = os.path.join(workdir, "labels.zarr")
    csv_path = os.path.join(workdir, "objects.csv")
    ome_path = os.path.join(workdir, "ct.ome.zarr")
    created = [mask_path, labels_path, csv_path, ome_path]
    if not args.skip_generate:
        created.append(raw_path)
    for path in created:  # leftovers of an earlier run in the same --workdir
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)

    t_start = time.perf_counter()
    try:
        with (
            ResourceMonitor(0.02) as total,
            use_scheduler(args.scheduler, args.workers, args.memory_limit),
        ):
            run = Run(total, nvox)
            if not args.skip_generate:
                run.step(
                    "1 generate synthetic CT -> raw",
                    lambda: bigimg.save_raw(
                        synthetic_ct(shape, chunks=args.chunks, seed=args.seed),
                        raw_path,
                        progress=False,
                    ),
                )
            ct = bigimg.open_raw(raw_path, shape, np.uint16, chunks=args.chunks)
            smooth = ndimage.gaussian_filter(ct, SIGMA, output=np.float32)
            opened = ndimage.binary_opening(smooth > THRESHOLD)
            run.step(
                "2 smooth > threshold -> opening -> mask.zarr",
                lambda: bigimg.save_zarr(opened, mask_path, progress=False),
            )
            labels, count = run.step(
                "3 label (summaries, numbering)", lambda: ndimage.label(bigimg.open_zarr(mask_path))
            )
            run.step(
                "4 labels -> labels.zarr",
                lambda: bigimg.save_zarr(labels, labels_path, progress=False),
            )
            stored = bigimg.open_zarr(labels_path)
            table = run.step(
                "5 region table -> CSV",
                lambda: regionprops_table(stored, intensity_image=ct, properties=PROPERTIES),
            )
            with open(csv_path, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(list(table))
                writer.writerows(zip(*(np.asarray(v).tolist() for v in table.values())))
            if ome:
                run.step(
                    "6 OME-Zarr pyramid (image + labels)",
                    lambda: bigimg.save_ome_zarr(
                        ct, ome_path, labels={"bone": stored}, progress=False
                    ),
                )
        wall = time.perf_counter() - t_start
        peak = max(run.peak, total.peak_rss)
        sizes = {os.path.basename(p): dir_size(p) for p in created if os.path.exists(p)}
        n_rows = len(table["label"])
        if n_rows != int(count):
            print(
                f"WARNING: label found {int(count)} objects, the table has {n_rows} rows",
                file=sys.stderr,
            )

        cmd = "python benchmarks/bench_larger_than_ram.py " + " ".join(
            sys.argv[1:] if argv is None else argv
        )
        print(
            f"\ndone: {int(count):,} objects; total {wall:.1f} s; peak RSS "
            f"{format_bytes(peak)} ({peak / nbytes:.1%} of the volume, "
            f"{peak / ram:.1%} of RAM)"
        )
        print("outputs: " + ", ".join(f"{k} {format_bytes(v)}" for k, v in sizes.items()))
        print("\n<!-- README table -->")
        print(
            f"`{cmd.strip()}` — volume {shape} uint16 = {format_bytes(nbytes)} "
            f"= **{nbytes / ram:.3g}x the machine's RAM** ({format_bytes(ram)}, "
            f"{os.cpu_count()} cores, scheduler {args.scheduler}, chunks "
            f"{args.chunks}³); {int(count):,} objects.\n"
        )
        print("| step | wall (s) | Mvoxel/s | peak RSS (step) | peak RSS (run so far) |")
        print("|---|---:|---:|---:|---:|")
        for name, sec, rate, step_peak, so_far in run.rows:
            print(
                f"| {name} | {sec:.1f} | {rate:.1f} | {format_bytes(step_peak)} | "
                f"{format_bytes(so_far)} |"
            )
        print(
            f"| **total** | **{wall:.1f}** | **{nvox / wall / 1e6:.1f}** | | "
            f"**{format_bytes(peak)}** |"
        )
        target = 2 * 2**30
        print(
            f"\npeak RSS {format_bytes(peak)} "
            f"{'<' if peak < target else '>='} 2 GiB target: "
            f"{'PASS' if peak < target else 'FAIL'}"
        )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        elif made_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            for path in created:
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.exists(path):
                    os.remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
