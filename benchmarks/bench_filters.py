"""Filters: bigimg vs scipy.ndimage (in memory) vs dask-image, same data, same run.

    python benchmarks/bench_filters.py [--size 384] [--chunks 128] [--big-gib 4] [--repeat 1]

For each workload it prints the wall time of scipy on the whole in-memory array, of
dask-image and of bigimg (both with dask's threaded scheduler on every core, writing
their result block by block into a preallocated in-memory array with ``da.store``,
which is how results leave a larger-than-memory pipeline), the ratios, and each run's
peak resident-memory increase. Then bigimg's wall time and peak resident memory for a
Gaussian over a raw file of ``--big-gib`` GiB read from disk and written to zarr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import dask
import dask.array as da
import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bigimg import ndimage, open_raw, save_raw, save_zarr  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402

try:
    import dask_image.ndfilters as dif
except ImportError:  # pragma: no cover - dask-image is a bench extra
    dif = None


def _workloads():
    return [
        ("gaussian sigma=2", lambda m, x: m.gaussian_filter(x, 2.0)),
        ("uniform size=5", lambda m, x: m.uniform_filter(x, 5)),
        ("sobel axis=0", lambda m, x: m.sobel(x, axis=0)),
        ("median size=3", lambda m, x: m.median_filter(x, size=3)),
        ("percentile 25 size=3", lambda m, x: m.percentile_filter(x, 25, size=3)),
        ("rank 5 size=3", lambda m, x: m.rank_filter(x, 5, size=3)),
    ]


def _time_scipy(func, data, repeat):
    best, peak = np.inf, 0
    for _ in range(repeat):
        with ResourceMonitor() as mon:
            result = func(ndi, data)
        best, peak = min(best, mon.seconds), max(peak, mon.peak_increase)
    return best, peak, result


def _time_dask(module, func, data, chunks, repeat):
    best, peak = np.inf, 0
    out = np.empty(data.shape, data.dtype)
    for _ in range(repeat):
        x = da.from_array(data, chunks=chunks)
        with ResourceMonitor() as mon:
            y = func(module, x)
            out = np.empty(y.shape, y.dtype)
            da.store(y, out, lock=False)
        best, peak = min(best, mon.seconds), max(peak, mon.peak_increase)
    return best, peak, out


def bench_in_memory(size: int, chunks: int, repeat: int) -> list[dict]:
    rng = np.random.default_rng(0)
    data = ndi.gaussian_filter(rng.standard_normal((size,) * 3, dtype=np.float32), 1.0)
    print(
        f"\n== {size}³ float32 ({format_bytes(data.nbytes)}), {chunks}³ chunks, "
        f"{os.cpu_count()} cores, dask threaded scheduler =="
    )
    header = (
        f"{'workload':<22s} {'scipy s':>8s} {'dask-image s':>12s} {'bigimg s':>9s} "
        f"{'vs scipy':>9s} {'vs d-i':>7s}  {'peak +MiB s/di/bi':>18s}  exact"
    )
    print(header)
    rows = []
    for name, func in _workloads():
        t_sp, m_sp, expected = _time_scipy(func, data, repeat)
        t_bi, m_bi, ours = _time_dask(ndimage, func, data, chunks, repeat)
        exact = bool(np.array_equal(ours, expected))
        if dif is not None:
            t_di, m_di, _ = _time_dask(dif, func, data, chunks, repeat)
        else:
            t_di, m_di = float("nan"), 0
        row = dict(
            workload=name,
            scipy=t_sp,
            dask_image=t_di,
            bigimg=t_bi,
            speedup_vs_scipy=t_sp / t_bi,
            speedup_vs_dask_image=t_di / t_bi,
            exact=exact,
        )
        rows.append(row)
        mib = 1024**2
        print(
            f"{name:<22s} {t_sp:8.2f} {t_di:12.2f} {t_bi:9.2f} {t_sp / t_bi:8.2f}x "
            f"{t_di / t_bi:6.2f}x  {m_sp / mib:5.0f}/{m_di / mib:4.0f}/{m_bi / mib:4.0f}"
            f"       {'yes' if exact else 'NO'}",
            flush=True,
        )
    return rows


def bench_big_raw(gib: float, workdir: str) -> dict:
    """Gaussian over a >= ``gib`` GiB float32 raw file, written to zarr, default chunks."""
    n = int(round((gib * 1024**3 / 4) ** (1 / 3)))
    shape = (n, n, n)
    raw = os.path.join(workdir, "big.raw")
    out = os.path.join(workdir, "big-gauss.zarr")
    print(
        f"\n== out of core: gaussian sigma=2 over {shape} float32 raw "
        f"({format_bytes(4 * n**3)}) -> zarr, default chunks ==",
        flush=True,
    )
    t0 = time.perf_counter()
    noise = da.random.default_rng(1).standard_normal(shape, chunks=(64, n, n), dtype=np.float32)
    save_raw(noise, raw, progress=False)
    print(f"  wrote input in {time.perf_counter() - t0:.1f} s", flush=True)
    # drop the input from the page cache accounting: RSS counts only this process
    vol = open_raw(raw, shape, np.float32)
    with ResourceMonitor() as mon:
        save_zarr(ndimage.gaussian_filter(vol, 2.0), out, progress=False)
    voxels = n**3
    print(
        f"  chunks {vol.chunksize}; wall {mon.seconds:.1f} s "
        f"({voxels / mon.seconds / 1e6:.0f} Mvoxel/s); peak RSS {format_bytes(mon.peak_rss)} "
        f"(+{format_bytes(mon.peak_increase)} over the start)",
        flush=True,
    )
    return dict(shape=shape, seconds=mon.seconds, peak_rss=mon.peak_rss)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=384, help="edge of the in-memory runs (0: skip)"
    )
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--big-gib", type=float, default=4.0, help="size of the out-of-core run in GiB (0 to skip)"
    )
    parser.add_argument("--workdir", default=None, help="folder for the big files (tmp)")
    args = parser.parse_args(argv)
    dask.config.set(scheduler="threads")
    # warm up numba kernels and imports outside the timings
    ndimage.median_filter(np.zeros((8, 8, 8), np.float32), size=3).compute()
    ndimage.rank_filter(np.zeros((8, 8, 8), np.float32), 5, size=3).compute()
    if args.size > 0:
        bench_in_memory(args.size, args.chunks, args.repeat)
    if args.big_gib > 0:
        workdir = tempfile.mkdtemp(prefix="bigimg-bench-", dir=args.workdir)
        try:
            bench_big_raw(args.big_gib, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
