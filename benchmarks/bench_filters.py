"""Filters: bigimg vs scipy.ndimage (in memory) vs dask-image, same data, same run.

    python benchmarks/bench_filters.py [--size 384] [--chunks 128] [--big-gib 4] [--repeat 1]
        [--linear-dtypes float32,uint16,float64] [--linear-only] [--threads 2]

For each workload it prints the wall time of scipy on the whole in-memory array, of
dask-image and of bigimg (both with dask's threaded scheduler on ``--threads`` threads,
writing their result block by block into a preallocated in-memory array with
``da.store``, which is how results leave a larger-than-memory pipeline), the ratios,
and each run's peak resident-memory increase. Then bigimg's wall time and peak resident
memory for a Gaussian over a raw file of ``--big-gib`` GiB read from disk and written
to zarr.

The linear-filter table (every linear filter in each of ``--linear-dtypes``) adds
Mvoxel/s per core (scipy runs on one thread, dask-image and bigimg on ``--threads``)
and each filter's speed as a fraction of a streaming figure measured in the same run:
the same store of a blockwise ``x * 2.0`` (same chunks, same threads), which reads and
writes every voxel once and so is as fast as a blockwise filter can be here. The load
average (``uptime``) is printed before and after: the machine may be shared, so only
ratios measured in one run compare.
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


def _linear_workloads():
    w3 = np.random.default_rng(3).standard_normal((3, 3, 3))
    return [
        ("gaussian s=2", lambda m, x: m.gaussian_filter(x, 2.0)),
        ("gaussian s=2 order=1", lambda m, x: m.gaussian_filter(x, 2.0, order=(1, 0, 0))),
        ("gaussian1d s=3 ax=0", lambda m, x: m.gaussian_filter1d(x, 3.0, axis=0)),
        ("correlate1d 5 ax=1", lambda m, x: m.correlate1d(x, [1.0, 2.0, 3.0, 2.0, 1.0], axis=1)),
        ("convolve1d 4 ax=2", lambda m, x: m.convolve1d(x, [1.0, -2.0, 3.0, 0.5], axis=2)),
        ("sobel ax=0", lambda m, x: m.sobel(x, axis=0)),
        ("prewitt ax=2", lambda m, x: m.prewitt(x, axis=2)),
        ("laplace", lambda m, x: m.laplace(x)),
        ("gaussian_laplace s=1.5", lambda m, x: m.gaussian_laplace(x, 1.5)),
        ("gauss_grad_mag s=1.5", lambda m, x: m.gaussian_gradient_magnitude(x, 1.5)),
        ("correlate 3x3x3", lambda m, x: m.correlate(x, w3)),
        ("uniform size=5", lambda m, x: m.uniform_filter(x, 5)),
    ]


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def bench_linear(size: int, chunks: int, repeat: int, dtypes, threads: int) -> list[dict]:
    """The linear filters per dtype; Mvoxel/s per core and the streaming fraction."""
    rng = np.random.default_rng(0)
    base = ndi.gaussian_filter(rng.standard_normal((size,) * 3, dtype=np.float32), 1.0)
    voxels = base.size
    rows = []
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            data = base.astype(dtype)
        else:  # a CT-like range: 1000 +- a few hundred
            data = (1000 + 400 * base).astype(dtype)
        for _, func in _linear_workloads():  # compile (or load) this dtype's kernels
            func(ndimage, np.ones((8, 8, 8), dtype)).compute()
        t_bw, _, _ = _time_dask(None, lambda m, x: x * 2.0, data, chunks, max(repeat, 2))
        stream = voxels / t_bw / 1e6 / threads
        print(
            f"\n== linear filters, {size}³ {dtype.name}, {chunks}³ chunks, {threads} threads "
            f"(scipy 1); stream x*2.0: {stream:.0f} Mvox/s per core; {_load()} ==",
            flush=True,
        )
        print(
            f"{'filter':<24s} {'scipy s':>7s} {'d-i s':>6s} {'bigimg s':>8s} "
            f"{'Mvox/s/core sp/di/bi':>21s} {'vs scipy':>8s} {'vs d-i':>7s} "
            f"{'of stream':>9s}  exact"
        )
        for name, func in _linear_workloads():
            t_sp, _, expected = _time_scipy(func, data, repeat)
            t_bi, _, ours = _time_dask(ndimage, func, data, chunks, repeat)
            exact = bool(np.array_equal(ours, expected, equal_nan=True))
            try:  # dask-image has no gaussian_filter1d, correlate1d, convolve1d
                t_di, _, _ = _time_dask(dif, func, data, chunks, repeat)
            except AttributeError:
                t_di = float("nan")
            per_core = [
                voxels / t / 1e6 / n for t, n in ((t_sp, 1), (t_di, threads), (t_bi, threads))
            ]
            row = dict(
                workload=name,
                dtype=dtype.name,
                scipy=t_sp,
                dask_image=t_di,
                bigimg=t_bi,
                mvox_per_core=per_core,
                speedup_vs_scipy=t_sp / t_bi,
                speedup_vs_dask_image=t_di / t_bi,
                of_stream=per_core[2] / stream,
                exact=exact,
            )
            rows.append(row)
            print(
                f"{name:<24s} {t_sp:7.2f} {t_di:6.2f} {t_bi:8.2f} "
                f"{per_core[0]:6.0f}/{per_core[1]:5.0f}/{per_core[2]:5.0f}      "
                f"{t_sp / t_bi:7.2f}x {t_di / t_bi:6.2f}x {per_core[2] / stream:8.0%}  "
                f"{'yes' if exact else 'NO'}",
                flush=True,
            )
    print(f"({_load()})")
    return rows


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
    parser.add_argument(
        "--linear-dtypes", default="float32,uint16,float64", help="dtypes of the linear table"
    )
    parser.add_argument("--linear-only", action="store_true", help="only the linear table")
    parser.add_argument("--threads", type=int, default=2, help="dask threads (scipy: 1)")
    args = parser.parse_args(argv)
    dask.config.set(scheduler="threads", num_workers=args.threads)
    # warm up numba kernels and imports outside the timings
    ndimage.median_filter(np.zeros((8, 8, 8), np.float32), size=3).compute()
    ndimage.rank_filter(np.zeros((8, 8, 8), np.float32), 5, size=3).compute()
    for _, func in _linear_workloads():  # compile (or load) the kernels
        func(ndimage, np.zeros((8, 8, 8), np.float32)).compute()
    if args.size > 0:
        dtypes = [d for d in args.linear_dtypes.split(",") if d]
        bench_linear(args.size, args.chunks, args.repeat, dtypes, args.threads)
        if not args.linear_only:
            bench_in_memory(args.size, args.chunks, args.repeat)
    if args.big_gib > 0 and not args.linear_only:
        workdir = tempfile.mkdtemp(prefix="bigimg-bench-", dir=args.workdir)
        try:
            bench_big_raw(args.big_gib, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
