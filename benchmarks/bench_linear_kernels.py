"""The compiled linear-filter block kernels against scipy.ndimage, one thread, one block.

    python benchmarks/bench_linear_kernels.py [--size 144] [--dtypes float32,uint16,float64]
        [--repeat 5] [--only gaussian,sobel]

For one block as the halo engine gives it (``--size``³: 144 is a 128³ chunk with the
halo of a sigma=2 Gaussian), each workload runs through :mod:`bigimg._linear` (the
kernels the halo engine calls on every block) and through ``scipy.ndimage`` on the
same array, on one thread: best of ``--repeat`` runs (``time.perf_counter``), in
nanoseconds per voxel, the speed-up over scipy and whether the arrays are equal bit
for bit. The 1-D passes are timed one axis at a time (the Gaussian's weights along
axis 0, 1 and 2), then the whole filters. The load average is printed before and
after: on a shared machine only the ratios of one run compare.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bigimg import _linear  # noqa: E402


def _gaussian_weights(sigma: float) -> np.ndarray:
    """scipy's correlation weights of a sigma Gaussian (its response to an impulse)."""
    radius = int(4.0 * sigma + 0.5)
    delta = np.zeros(2 * radius + 1)
    delta[radius] = 1.0
    return ndi.gaussian_filter1d(delta, sigma, mode="constant")[::-1].copy()


def _workloads():
    g2 = _gaussian_weights(2.0)
    w3 = np.random.default_rng(3).standard_normal((3, 3, 3))
    passes = [
        (f"gaussian s=2 pass ax={ax}", lambda m, x, ax=ax: m.correlate1d(x, g2, ax))
        for ax in range(3)
    ]
    return passes + [
        ("gaussian s=2", lambda m, x: m.gaussian_filter(x, 2.0)),
        ("gaussian s=2 order=1", lambda m, x: m.gaussian_filter(x, 2.0, order=(1, 0, 0))),
        ("gaussian s=3", lambda m, x: m.gaussian_filter(x, 3.0)),
        ("sobel ax=0", lambda m, x: m.sobel(x, axis=0)),
        ("prewitt ax=2", lambda m, x: m.prewitt(x, axis=2)),
        ("laplace", lambda m, x: m.laplace(x)),
        ("correlate1d 5 ax=1", lambda m, x: m.correlate1d(x, [1.0, 2.0, 3.0, 2.0, 1.0], axis=1)),
        ("convolve1d 4 ax=2", lambda m, x: m.convolve1d(x, [1.0, -2.0, 3.0, 0.5], axis=2)),
        ("correlate 3x3x3", lambda m, x: m.correlate(x, w3)),
    ]


def _best(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def bench(size: int, dtypes, repeat: int, only) -> list[dict]:
    """Time every workload on a ``size``³ block of each dtype; print and return rows."""
    rng = np.random.default_rng(0)
    base = ndi.gaussian_filter(rng.standard_normal((size,) * 3).astype(np.float32), 1.0)
    rows = []
    for dtype in map(np.dtype, dtypes):
        data = base.astype(dtype) if dtype.kind == "f" else (1000 + 400 * base).astype(dtype)
        print(f"\n== {size}³ {dtype.name} block, one thread; {_load()} ==", flush=True)
        head = f"{'workload':<24s} {'scipy ns/vox':>12s} {'bigimg ns/vox':>13s}"
        print(f"{head} {'speed-up':>8s}  exact")
        for name, func in _workloads():
            if only and not any(word in name for word in only):
                continue
            ours = func(_linear, data)  # compile (or load) this dtype's kernels
            expected = func(ndi, data)
            t_sp = _best(lambda f=func, x=data: f(ndi, x), repeat)
            t_bi = _best(lambda f=func, x=data: f(_linear, x), repeat)
            exact = bool(np.array_equal(ours, expected, equal_nan=True))
            row = dict(
                workload=name,
                dtype=dtype.name,
                scipy_ns=t_sp / data.size * 1e9,
                bigimg_ns=t_bi / data.size * 1e9,
                speedup=t_sp / t_bi,
                exact=exact,
            )
            rows.append(row)
            print(
                f"{name:<24s} {row['scipy_ns']:12.2f} {row['bigimg_ns']:13.2f} "
                f"{row['speedup']:7.2f}x  {exact}",
                flush=True,
            )
    print(f"\n{_load()}")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[2].strip())
    parser.add_argument("--size", type=int, default=144, help="block edge, halo included")
    parser.add_argument("--dtypes", default="float32,uint16,float64", help="block dtypes")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (best kept)")
    parser.add_argument("--only", default="", help="comma-separated words of workload names")
    args = parser.parse_args(argv)
    only = [w for w in args.only.split(",") if w]
    rows = bench(args.size, [d for d in args.dtypes.split(",") if d], args.repeat, only)
    if not all(r["exact"] for r in rows):
        raise SystemExit("some results differ from scipy's")


if __name__ == "__main__":
    main()
