"""Morphology: bigimg vs scipy.ndimage (in memory) vs dask-image, same data, same run.

    python benchmarks/bench_morphology.py [--size 384] [--chunks 128] [--repeat 1] [--all]

For each workload it prints the wall time of scipy on the whole in-memory array, of
dask-image (where it has the function) and of bigimg (both with dask's threaded
scheduler on every core, writing their result block by block into a preallocated
array with ``da.store``), the ratios, each run's peak resident-memory increase, and
whether bigimg's result equals scipy's. ``--all`` adds more workloads (multi-pass
iterations, non-box footprints, tophats).
"""

from __future__ import annotations

import argparse
import os
import sys

import dask
import dask.array as da
import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402
from bigimg.ndimage import _grey_morphology as grey  # noqa: E402
from bigimg.ndimage import _morphology as binary  # noqa: E402

try:
    import dask_image.ndmorph as dim
except ImportError:  # pragma: no cover - dask-image is a bench extra
    dim = None


class _Bigimg:
    """bigimg's morphology names (independent of the package's export list)."""

    def __getattr__(self, name):
        return getattr(binary if name.startswith("binary") else grey, name)


CROSS = ndi.generate_binary_structure(3, 1)


def _workloads(everything: bool):
    main = [
        ("binary_opening it=2", "binary", lambda m, x: m.binary_opening(x, iterations=2)),
        ("grey_dilation size=5", "grey", lambda m, x: m.grey_dilation(x, size=5)),
    ]
    more = [
        ("binary_erosion", "binary", lambda m, x: m.binary_erosion(x)),
        ("binary_dilation it=10", "binary", lambda m, x: m.binary_dilation(x, iterations=10)),
        (
            "binary_closing 26-conn",
            "binary",
            lambda m, x: m.binary_closing(x, ndi.generate_binary_structure(3, 3)),
        ),
        ("grey_erosion cross", "grey", lambda m, x: m.grey_erosion(x, footprint=CROSS)),
        ("grey_opening size=3", "grey", lambda m, x: m.grey_opening(x, size=3)),
        ("white_tophat size=5", "grey", lambda m, x: m.white_tophat(x, size=5)),
        ("morph_gradient size=3", "grey", lambda m, x: m.morphological_gradient(x, size=3)),
    ]
    return main + (more if everything else [])


def _time_scipy(func, data, repeat):
    best, peak = np.inf, 0
    for _ in range(repeat):
        with ResourceMonitor() as mon:
            result = func(ndi, data)
        best, peak = min(best, mon.seconds), max(peak, mon.peak_increase)
    return best, peak, result


def _time_dask(module, func, data, chunks, repeat):
    best, peak, out = np.inf, 0, None
    for _ in range(repeat):
        x = da.from_array(data, chunks=chunks)
        with ResourceMonitor() as mon:
            y = func(module, x)
            out = np.empty(y.shape, y.dtype)
            da.store(y, out, lock=False)
        best, peak = min(best, mon.seconds), max(peak, mon.peak_increase)
    return best, peak, out


def _data(size: int):
    rng = np.random.default_rng(0)
    smooth = ndi.gaussian_filter(rng.standard_normal((size,) * 3, dtype=np.float32), 2.0)
    blobs = smooth > np.quantile(smooth[::4, ::4, ::4], 0.7)
    grey_vol = np.clip(smooth * 4000 + 1000, 0, 65535).astype(np.uint16)
    return {"binary": blobs, "grey": grey_vol}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--all", action="store_true", help="run the extra workloads too")
    args = parser.parse_args(argv)
    dask.config.set(scheduler="threads")
    data = _data(args.size)
    ours = _Bigimg()
    small = _data(16)
    for _, kind, func in _workloads(args.all):  # warm up imports and the thread pool
        func(ours, da.from_array(small[kind], chunks=8)).compute()
    print(
        f"\n== {args.size}³ (binary: bool blobs, grey: uint16), {args.chunks}³ chunks, "
        f"{os.cpu_count()} cores, dask threaded scheduler =="
    )
    print(
        f"{'workload':<24s} {'scipy s':>8s} {'dask-image s':>12s} {'bigimg s':>9s} "
        f"{'vs scipy':>9s} {'vs d-i':>7s}  {'peak +MiB s/di/bi':>18s}  exact"
    )
    rows = []
    mib = 1024**2
    for name, kind, func in _workloads(args.all):
        arr = data[kind]
        t_sp, m_sp, expected = _time_scipy(func, arr, args.repeat)
        t_bi, m_bi, result = _time_dask(ours, func, arr, args.chunks, args.repeat)
        exact = bool(np.array_equal(result, expected) and result.dtype == expected.dtype)
        if dim is not None and kind == "binary":
            t_di, m_di, _ = _time_dask(dim, func, arr, args.chunks, args.repeat)
        else:
            t_di, m_di = float("nan"), 0
        rows.append(dict(workload=name, scipy=t_sp, dask_image=t_di, bigimg=t_bi, exact=exact))
        print(
            f"{name:<24s} {t_sp:8.2f} {t_di:12.2f} {t_bi:9.2f} {t_sp / t_bi:8.2f}x "
            f"{t_di / t_bi:6.2f}x  {m_sp / mib:5.0f}/{m_di / mib:4.0f}/{m_bi / mib:4.0f}"
            f"       {'yes' if exact else 'NO'}",
            flush=True,
        )
    print(
        f"(input sizes: binary {format_bytes(data['binary'].nbytes)}, grey "
        f"{format_bytes(data['grey'].nbytes)}; dask-image has no grey morphology)"
    )
    return rows


if __name__ == "__main__":
    main()
