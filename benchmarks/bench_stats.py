"""Whole-volume statistics and denoising: bigimg vs numpy/scipy/scikit-image vs dask.

    python benchmarks/bench_stats.py [--size 384] [--chunks 128] [--small 128] [--tv-size 96]

Part 1, on a ``--size``³ CT-like volume (uint16, and float32) in ``--chunks``³ chunks:
histogram (256 bins over the data range), Otsu's threshold and the 5 %/95 % percentiles,
timed for numpy/scikit-image on the whole in-memory array, for dask (``da.histogram``
after a dask min/max; ``da.percentile``, which is approximate) and for bigimg, all with
dask's threaded scheduler on every core. Each row says whether the answer equals the
in-memory reference exactly and the peak resident-memory increase of each run.

Part 2, on smaller float32 volumes: ``scipy.signal.wiener`` vs ``bigimg.restoration.wiener``
(``--small``³) and scikit-image's ``denoise_tv_chambolle`` (``eps=0``) vs bigimg's
chunked TV with its default halo (``--tv-size``³), with the largest difference.

Timings on a shared machine are noisy: compare ratios from the same run only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import dask
import dask.array as da
import numpy as np
import scipy.signal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from skimage import filters  # noqa: E402
from skimage.restoration import denoise_tv_chambolle as sk_tv  # noqa: E402

from bigimg import restoration, stats  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402
from bigimg.testing import ct_phantom  # noqa: E402

MIB = 1024**2


def _run(func):
    with ResourceMonitor() as mon:
        result = func()
    return mon.seconds, mon.peak_increase, result


def _same(a, b) -> str:
    if isinstance(a, tuple):
        return "yes" if all(np.array_equal(x, y) for x, y in zip(a, b)) else "NO"
    return "yes" if np.array_equal(a, b) else "NO"


def _row(name, ref, dsk, big):
    (t_r, m_r, v_r), (t_d, m_d, v_d), (t_b, m_b, v_b) = ref, dsk, big
    d_txt = f"{t_d:8.2f}" if t_d == t_d else f"{'-':>8s}"
    ratio_d = f"{t_d / t_b:6.2f}x" if t_d == t_d else f"{'-':>7s}"
    exact_d = _same(v_d, v_r) if v_d is not None else "-"
    print(
        f"{name:<26s} {t_r:8.2f} {d_txt} {t_b:8.2f} {t_r / t_b:7.2f}x {ratio_d} "
        f"{m_r / MIB:6.0f}/{m_d / MIB:4.0f}/{m_b / MIB:4.0f}   {exact_d:>5s} {_same(v_b, v_r):>6s}",
        flush=True,
    )


def _dask_histogram(x, bins):
    lo, hi = dask.compute(x.min(), x.max())
    h, e = da.histogram(x, bins=bins, range=(lo, hi))
    return h.compute(), e


def bench_volume(data: np.ndarray, chunks: int) -> None:
    x = da.from_array(data, chunks=chunks)
    print(
        f"\n== {data.shape} {data.dtype} ({format_bytes(data.nbytes)}), {chunks}³ chunks, "
        f"{os.cpu_count()} cores, dask threaded scheduler ==",
        flush=True,
    )
    print(
        f"{'workload':<26s} {'ref s':>8s} {'dask s':>8s} {'bigimg s':>8s} {'vs ref':>8s} "
        f"{'vs dask':>7s} {'peak +MiB r/d/b':>16s} {'dask=':>5s} {'bigimg=':>6s}"
    )
    nan = (float("nan"), 0, None)
    _row(
        "histogram 256 bins",
        _run(lambda: np.histogram(data, 256)),
        _run(lambda: _dask_histogram(x, 256)),
        _run(lambda: stats.histogram(x, 256)),
    )
    _row(
        "threshold_otsu",
        _run(lambda: filters.threshold_otsu(data)),
        nan,
        _run(lambda: stats.threshold_otsu(x)),
    )
    _row(
        "percentile 5, 95",
        _run(lambda: np.percentile(data, [5, 95])),
        _run(lambda: da.percentile(x.reshape(-1), [5, 95]).compute()),
        _run(lambda: stats.percentile(x, [5, 95])),
    )


def bench_denoise(small: int, tv_size: int, chunks: int) -> None:
    rng = np.random.default_rng(0)
    print(f"\n== denoising, float32, chunks {chunks}³ ==", flush=True)
    vol = ct_phantom((small,) * 3, dtype=np.float32, noise=60.0)
    x = da.from_array(vol, chunks=chunks)
    t_r, m_r, ref = _run(lambda: scipy.signal.wiener(vol, 5))
    t_b, m_b, ours = _run(lambda: restoration.wiener(x, 5).compute())
    err = float(np.abs(ours - ref).max() / np.abs(ref).max())
    print(
        f"wiener 5³ on {small}³: scipy.signal {t_r:.2f} s, bigimg {t_b:.2f} s "
        f"({t_r / t_b:.2f}x); peak +MiB {m_r / MIB:.0f}/{m_b / MIB:.0f}; "
        f"max rel. difference {err:.1e}",
        flush=True,
    )
    tv = (0.5 + 0.2 * rng.standard_normal((tv_size,) * 3)).astype(np.float32)
    tv[tv_size // 4 : 3 * tv_size // 4] += 0.5
    tx = da.from_array(tv, chunks=max(tv_size // 2, 1))
    n = 50
    t_r, m_r, ref = _run(lambda: sk_tv(tv, weight=0.1, eps=0, max_num_iter=n))
    t_b, m_b, ours = _run(
        lambda: restoration.denoise_tv_chambolle(tx, 0.1, max_num_iter=n).compute()
    )
    print(
        f"TV chambolle w=0.1, {n} it., {tv_size}³ in {tx.chunksize[0]}³ chunks: "
        f"skimage {t_r:.2f} s, bigimg {t_b:.2f} s ({t_r / t_b:.2f}x); "
        f"peak +MiB {m_r / MIB:.0f}/{m_b / MIB:.0f}; max abs difference "
        f"{float(np.abs(ours - ref).max()):.1e} (default halo 16)",
        flush=True,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--small", type=int, default=128)
    parser.add_argument("--tv-size", type=int, default=96)
    args = parser.parse_args(argv)
    dask.config.set(scheduler="threads")
    # warm-up (imports, first-call costs) outside the timings
    stats.threshold_otsu(np.arange(64, dtype=np.uint16).reshape(4, 4, 4))
    t0 = time.perf_counter()
    ct = ct_phantom((args.size,) * 3, dtype=np.uint16)
    print(f"synthetic CT volume built in {time.perf_counter() - t0:.1f} s", flush=True)
    bench_volume(ct, args.chunks)
    ct32 = ct.astype(np.float32)
    del ct
    bench_volume(ct32, args.chunks)
    del ct32
    bench_denoise(args.small, args.tv_size, args.chunks // 2)


if __name__ == "__main__":
    main()
