"""Geometric transforms: bigimg vs scipy.ndimage (in memory) vs dask-image, same run.

    python benchmarks/bench_geometry.py [--size 384] [--chunks 128] [--orders 1,3]
                                        [--only zoom0.5,rotate30] [--repeat 1]

Workloads on a smooth float32 volume: ``zoom`` by 0.5 and 2, ``rotate`` by 30 degrees
(axes (1, 0), reshape), and a general ``affine_transform`` (rotation, shear, scale,
offset), each at every requested spline order (``prefilter=True``, scipy's default, so
orders >= 2 include the spline prefilter). scipy runs on the whole in-memory array;
dask-image and bigimg run with dask's threaded scheduler on every core and write their
result block by block into a preallocated array with ``da.store``; CPU seconds (all
threads) show the work done, independent of how busy a shared machine is. dask-image
has no ``zoom``: its ``affine_transform`` with the zoom's diagonal as a full matrix
stands in (marked ``*``; a 1-D matrix takes a wrong path in dask-image). Each bigimg
workload runs once on a small volume first, so that loading its numba kernels is not
timed. For each run: wall time, peak resident-memory increase, and the largest
difference from scipy relative to scipy's largest value (dask-image's ``err`` is large
where its result is wrong, see the notes below). Timings on a shared machine are
noisy; repeat runs with ``--repeat``.

Measured on a 2-core machine shared with other jobs (load average 4.6-5.2 during the run),
``python benchmarks/bench_geometry.py --orders 1,3 --repeat 1``; times in s, CPU s as
scipy/dask-image/bigimg, peak MiB increase as scipy/dask-image/bigimg::

    workload     scipy    d-i  bigimg  vs scipy  vs d-i  cpu s s/di/bi    peak MiB s/di/bi
    zoom0.5 o1    0.92  1.08*    0.37     2.48x   2.90x    0.3/0.6/0.2       27/ 108/  53
    zoom2 o1     38.09 37.59*   11.50     3.31x   3.27x  20.1/25.5/6.6     1728/1731/1738
    rotate30 o1  13.46   7.44    4.74     2.84x   1.57x    8.7/4.5/2.4      404/ 404/ 447
    affine o1     4.45   5.44    3.25     1.37x   1.67x    3.1/3.1/1.5      216/ 216/ 217
    zoom0.5 o3    6.63  6.11*    3.47     1.91x   1.76x    3.7/4.2/2.1      459/ 889/ 871
    zoom2 o3    168.64 143.36*  13.35    12.63x  10.74x 113.2/98.8/8.3     2160/1613/2017
    rotate30 o3   6.88  17.11    2.41     2.86x   7.11x   6.3/14.7/2.2      404/1161/ 512
    affine o3    13.49  14.46    6.39     2.11x   2.26x  13.2/13.3/5.5      646/ 432/ 450

Order 1 again, best of three (``--orders 1 --repeat 3``, load average 5.2-6.2)::

    zoom0.5 o1    0.25  0.45*    0.15     1.72x   3.06x    0.3/0.4/0.1       27/ 108/  60
    zoom2 o1     18.45 25.78*    4.04     4.57x   6.38x  17.9/24.7/3.1     1728/1731/1735
    rotate30 o1   9.08   3.98    0.72    12.54x   5.49x    8.4/3.9/0.7      404/ 404/ 446
    affine o1     3.22   3.04    1.27     2.54x   2.39x    3.1/3.0/1.3      216/ 216/ 216

Before the separable, planes and affine kernels and the numba prefilter (same command,
load average 2.1-8.6; dask-image's zoom then took the 1-D matrix, a wrong result): zoom2
o3 scipy 171.8 s, bigimg 189.2 s (114.0 CPU s); rotate30 o1 dask-image 4.18 s, bigimg
8.52 s; affine o3 scipy 22.8 s, dask-image 31.7 s, bigimg 34.9 s; zoom0.5 o3 peak 950 MiB.

bigimg's ``err`` is float32 rounding of the output (0 where every value rounds like
scipy's). dask-image's general ``affine_transform`` is wrong here (``err`` 0.7; its
``rotate`` is right): its timings still do the same interpolation work. Peak memory of
the zoom rows includes the output array (1.7 GiB for zoom2); zoom0.5 at order 3 holds
the whole float64 coefficient array, because every output chunk reads 27 input blocks.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import dask
import dask.array as da
import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bigimg import ndimage as geo  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402

try:
    import dask_image.ndinterp as dii
except ImportError:  # pragma: no cover - dask-image is a bench extra
    dii = None

MATRIX = np.array([[0.96, 0.12, 0.05], [-0.10, 1.02, 0.15], [0.03, -0.14, 0.97]])
OFFSET = np.array([6.0, -9.0, 4.0])


def _zoom_shape(shape, factor):
    return tuple(int(round(n * factor)) for n in shape)


def _diag(shape, factor):
    out = _zoom_shape(shape, factor)
    return [(i - 1) / (o - 1) for i, o in zip(shape, out)], out


def workloads(shape, chunks, order):
    """name -> (scipy, bigimg(dask input), dask-image(dask input) or None, marked)."""
    c3 = (chunks,) * 3
    pf = order > 1
    out = {}
    for factor in (0.5, 2.0):
        diag, oshape = _diag(shape, factor)
        diag = np.diag(diag)  # a 1-D matrix takes a wrong path in dask-image
        out[f"zoom{factor:g}"] = (
            lambda x, f=factor: ndi.zoom(x, f, order=order),
            lambda x, f=factor: geo.zoom(x, f, order=order),
            (
                lambda x, d=diag, s=oshape: dii.affine_transform(
                    x, d, 0.0, s, order=order, output_chunks=c3, prefilter=pf
                )
            )
            if dii
            else None,
            True,
        )
    out["rotate30"] = (
        lambda x: ndi.rotate(x, 30, order=order),
        lambda x: geo.rotate(x, 30, order=order),
        (lambda x: dii.rotate(x, 30, order=order, output_chunks=c3, prefilter=pf)) if dii else None,
        False,
    )
    out["affine"] = (
        lambda x: ndi.affine_transform(x, MATRIX, OFFSET, order=order),
        lambda x: geo.affine_transform(x, MATRIX, OFFSET, order=order),
        (
            lambda x: dii.affine_transform(
                x, MATRIX, OFFSET, order=order, output_chunks=c3, prefilter=pf
            )
        )
        if dii
        else None,
        False,
    )
    return out


def _time_scipy(func, data, repeat):
    best, cpu, peak, result = np.inf, np.inf, 0, None
    for _ in range(repeat):
        result = None
        c0 = time.process_time()
        with ResourceMonitor() as mon:
            result = func(data)
        cpu = min(cpu, time.process_time() - c0)
        best, peak = min(best, mon.seconds), max(peak, mon.peak_increase)
    return best, cpu, peak, result


def _time_dask(func, data, chunks, repeat):
    best, cpu, peak, out = np.inf, np.inf, 0, None
    for _ in range(repeat):
        out = None
        x = da.from_array(data, chunks=chunks)
        c0 = time.process_time()
        with ResourceMonitor() as mon:
            y = func(x)
            out = np.empty(y.shape, y.dtype)
            da.store(y, out, lock=False)
        cpu = min(cpu, time.process_time() - c0)
        best, peak = min(best, mon.seconds), max(peak, mon.peak_increase)
    return best, cpu, peak, out


def _warm_up(func, chunks) -> None:
    """Run a bigimg workload once on a small volume (long enough for the blockwise spline
    prefilter): its numba kernels compile once per installation and load once per
    process, which is not what the timings measure."""
    small = np.random.default_rng(1).random((80, 80, 80)).astype(np.float32)
    func(da.from_array(small, chunks=chunks)).compute()


def _error(got, ref):
    if got is None or got.shape != ref.shape:
        return float("nan")
    scale = max(float(np.abs(ref).max()), 1e-30)
    return float(np.abs(got.astype(np.float64) - ref).max()) / scale


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--orders", default="1,3")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    dask.config.set(scheduler="threads")
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    shape = (args.size,) * 3
    data = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 2.0)
    print(
        f"== {args.size}^3 float32 ({format_bytes(data.nbytes)}), {args.chunks}^3 chunks, "
        f"{os.cpu_count()} cores, dask threaded scheduler; times in s, ratio = other/bigimg "
        f"(>1: bigimg faster), err = max|x - scipy| / max|scipy| =="
    )
    print(
        f"{'workload':<14s} {'scipy':>7s} {'d-i':>8s} {'bigimg':>7s} {'vs scipy':>8s} "
        f"{'vs d-i':>7s}  {'cpu s s/di/bi':>17s}  {'peak MiB s/di/bi':>17s}  "
        f"{'err bigimg':>10s} {'err d-i':>8s}"
    )
    only = {s for s in args.only.split(",") if s}
    rows = []
    for order in (int(o) for o in args.orders.split(",")):
        for name, (f_sp, f_bi, f_di, marked) in workloads(shape, args.chunks, order).items():
            if only and name not in only:
                continue
            label = f"{name} o{order}"
            _warm_up(f_bi, 40)
            t_sp, c_sp, m_sp, ref = _time_scipy(f_sp, data, args.repeat)
            t_bi, c_bi, m_bi, ours = _time_dask(f_bi, data, args.chunks, args.repeat)
            e_bi = _error(ours, ref)
            del ours
            if f_di is not None:
                t_di, c_di, m_di, theirs = _time_dask(f_di, data, args.chunks, args.repeat)
                e_di = _error(theirs, ref)
                del theirs
            else:
                t_di, c_di, m_di, e_di = float("nan"), float("nan"), 0, float("nan")
            del ref
            mib = 1024**2
            di = f"{t_di:7.2f}{'*' if marked else ' '}"
            print(
                f"{label:<14s} {t_sp:7.2f} {di:>8s} {t_bi:7.2f} {t_sp / t_bi:7.2f}x "
                f"{t_di / t_bi:6.2f}x  {c_sp:5.1f}/{c_di:5.1f}/{c_bi:5.1f}  "
                f"{m_sp / mib:5.0f}/{m_di / mib:5.0f}/{m_bi / mib:5.0f}  "
                f"{e_bi:10.1e} {e_di:8.1e}",
                flush=True,
            )
            rows.append(
                dict(
                    workload=label,
                    scipy=t_sp,
                    dask_image=t_di,
                    bigimg=t_bi,
                    err_bigimg=e_bi,
                    err_dask_image=e_di,
                )
            )
    print("* dask-image has no zoom: its affine_transform with the zoom's diagonal matrix.")
    return rows


if __name__ == "__main__":
    main()
