"""Benchmark ``watershed_ift``: bigimg (out of core) vs scipy.ndimage (in memory).

Run from the repository root::

    python benchmarks/bench_watershed.py                    # 256^3, scipy vs bigimg
    python benchmarks/bench_watershed.py --size 512 --no-scipy --budget 256

The input is smoothed white noise scaled to uint8 (``bigimg.data.white_noise`` through
``gaussian_filter``, sigma 2), the markers ``--markers`` voxels at random positions
labelled 1, 2, ... . With scipy, both run on the same in-memory arrays, bigimg writes
into one preallocated array (``da.store``) and the labels must be equal. Without
scipy, input and markers stay lazy and the labels are reduced to a per-label voxel
count, so nothing volume-sized is held in memory: with ``--budget`` well below the
solve's file (15 bytes per voxel) the run shows that resident memory stays bounded,
and what that costs in time.

Printed per run: wall seconds, ns per voxel, the ratio to scipy (>1: faster), the peak
resident memory above the starting point (psutil, sampled every 20 ms), the minor page
faults and system CPU seconds (what dropping and re-mapping pages costs), the bytes
written to storage (dirty pages the operating system wrote back), bigimg's
time split into its write / solve / read tasks with the resident memory at the start
of the solve and its peak during the solve, and the peak disk use of the temporary
directory. dask-image has no ``watershed_ift``. A warm-up on a small volume compiles
the numba kernels first (cached on disk afterwards).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import defaultdict

import dask
import dask.array as da
import numpy as np
import psutil
from dask.callbacks import Callback
from scipy import ndimage as ndi

from bigimg._monitor import DiskMonitor, ResourceMonitor, format_bytes
from bigimg._watershed import _tasks as _watershed_tasks
from bigimg.data import white_noise
from bigimg.ndimage import gaussian_filter, watershed_ift


def smoothed_noise(size: int, chunk: int) -> da.Array:
    """Lazy uint8 smoothed noise (sigma 2), spanning most of 0..255."""
    smooth = gaussian_filter(white_noise((size,) * 3, chunks=chunk, seed=1), 2.0)
    return da.clip(smooth * 600.0 + 128.0, 0, 255).astype(np.uint8)


def _markers_block(block_info=None, *, flat=None, shape=None):
    info = block_info[None]
    (z0, z1), (y0, y1), (x0, x1) = info["array-location"]
    out = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=np.int32)
    z, y, x = np.unravel_index(flat, shape)
    inside = (z >= z0) & (z < z1) & (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
    out[z[inside] - z0, y[inside] - y0, x[inside] - x0] = np.flatnonzero(inside) + 1
    return out


def random_markers(size: int, chunk: int, count: int) -> da.Array:
    """Lazy int32 markers: ``count`` distinct random voxels labelled 1..count."""
    shape = (size,) * 3
    flat = np.random.default_rng(2).choice(size**3, count, replace=False)
    return da.map_blocks(
        _markers_block,
        chunks=da.core.normalize_chunks(chunk, shape),
        dtype=np.int32,
        flat=flat,
        shape=shape,
    )


class TaskTimes(Callback):
    """Wall seconds in bigimg's write / solve / read tasks (summed over threads), and
    the peak resident memory while the solve task runs."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = defaultdict(float)
        self._began: dict = {}
        self.solve_memory: ResourceMonitor | None = None

    def _pretask(self, key, dsk, state):
        self._began[key] = time.perf_counter()
        if "watershed_ift-solve-" in str(key):
            self.solve_memory = ResourceMonitor(children=False).__enter__()

    def _posttask(self, key, result, dsk, state, worker_id):
        name = key[0] if isinstance(key, tuple) else key
        seconds = time.perf_counter() - self._began.pop(key)
        for step in ("solve", "write", "read"):  # a fused task counts as its solve
            if f"watershed_ift-{step}-" in str(name):
                self.seconds[step] += seconds
                break
        if "watershed_ift-solve-" in str(name) and self.solve_memory is not None:
            self.solve_memory.__exit__(None, None, None)


def _bincount(block: np.ndarray, count: int) -> np.ndarray:
    return np.bincount(block.ravel(), minlength=count + 1)[None, None, None, : count + 1]


def _label_counts(labels: da.Array, count: int) -> np.ndarray:
    """Voxels per label 0..count, reduced block by block (nothing volume-sized)."""
    per_block = labels.map_blocks(
        _bincount, count, new_axis=3, chunks=(1, 1, 1, count + 1), dtype=np.int64
    )
    return per_block.sum(axis=(0, 1, 2))


def _written() -> int:
    """Bytes this process caused to be written to storage (0 where not reported)."""
    try:
        return psutil.Process().io_counters().write_bytes
    except (AttributeError, psutil.Error):
        return 0


def _timed(func, label: str, voxels: int, tmp: str | None = None):
    times = TaskTimes()
    disk = DiskMonitor(tmp) if tmp else None
    before = resource.getrusage(resource.RUSAGE_SELF)
    written = _written()
    with ResourceMonitor(children=False) as mem, times:
        if disk:
            with disk:
                result = func()
        else:
            result = func()
    after = resource.getrusage(resource.RUSAGE_SELF)
    written = _written() - written
    steps = "  ".join(f"{k} {v:.1f} s" for k, v in times.seconds.items())
    if times.solve_memory is not None:
        solve = times.solve_memory
        steps += (
            f" (resident {format_bytes(solve.start_rss)} -> peak {format_bytes(solve.peak_rss)})"
        )
    faults = (after.ru_minflt - before.ru_minflt) / 1e6
    system = after.ru_stime - before.ru_stime
    extra = (
        f"  disk peak {format_bytes(disk.peak)} ({disk.peak / voxels:.1f} B/voxel)" if disk else ""
    )
    print(
        f"{label:8s} {mem.seconds:8.1f} s {mem.seconds / voxels * 1e9:7.0f} ns/voxel "
        f"peak +{format_bytes(mem.peak_increase):>10s}  page faults {faults:.1f} M "
        f"(system {system:.1f} s)  disk writes {format_bytes(written)}  {steps}{extra}",
        flush=True,
    )
    return result, mem.seconds


def run(size: int, chunk: int, markers: int, workers: int, with_scipy: bool) -> None:
    voxels = size**3
    image = smoothed_noise(size, chunk)
    seeds = random_markers(size, chunk, markers)
    print(
        f"\nwatershed_ift, {size}^3 uint8 smoothed noise, {markers} markers, "
        f"{chunk}^3 chunks, {workers} threads, "
        f"solve budget {format_bytes(_watershed_tasks.resident_budget())}, "
        f"state files {format_bytes(15 * voxels)}",
        flush=True,
    )
    watershed_ift(image[:16, :16, :16], seeds[:16, :16, :16]).compute()  # compile
    with (
        dask.config.set(scheduler="threads", num_workers=workers),
        tempfile.TemporaryDirectory(dir=os.environ.get("BIGIMG_BENCH_TMP")) as tmp,
    ):
        if with_scipy:
            x, m = dask.compute(image, seeds)

            def bigimg_run():
                out = np.empty(x.shape, np.int32)
                labels = watershed_ift(da.from_array(x, chunks=chunk), m, temp_dir=tmp)
                da.store(labels, out, lock=False)
                return out

            expected, scipy_s = _timed(lambda: ndi.watershed_ift(x, m), "scipy", voxels)
            got, bigimg_s = _timed(bigimg_run, "bigimg", voxels, tmp)
            assert np.array_equal(got, expected), "bigimg differs from scipy"
            print(f"bigimg vs scipy: {scipy_s / bigimg_s:.2f}x (labels equal)")
        else:
            counts, _ = _timed(
                lambda: _label_counts(watershed_ift(image, seeds, temp_dir=tmp), markers).compute(),
                "bigimg",
                voxels,
                tmp,
            )
            assert counts.sum() == voxels
            print(f"labels: {np.count_nonzero(counts[1:])} of {markers} present")
        assert os.listdir(tmp) == [], "temporary files left behind"
    print(f"load average: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--markers", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-scipy", action="store_true", help="lazy input, no in-memory copy, no scipy"
    )
    parser.add_argument(
        "--budget", type=int, help="solve's resident budget in MiB (default: a quarter of RAM)"
    )
    args = parser.parse_args()
    if args.budget:
        _watershed_tasks.RESIDENT_BUDGET = args.budget * 2**20
    run(args.size, args.chunk, args.markers, args.workers, not args.no_scipy)


if __name__ == "__main__":
    main()
