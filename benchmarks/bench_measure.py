"""Per-label measurements: bigimg vs scipy.ndimage (in memory) vs dask-image.

Run: ``python benchmarks/bench_measure.py [--size 384] [--chunk 128] [--workers 2]``

Same run, same data: blobs (smoothed noise thresholded) labelled by scipy, a float32
intensity volume, 128**3 chunks. Workloads:

1. ``sum_labels`` + ``center_of_mass`` + ``find_objects`` over all labels;
2. ``regionprops_table`` (label, area, bbox, centroid, intensity_mean, intensity_max,
   inertia_tensor_eigvals) vs ``skimage.measure.regionprops_table``;
3. ``find_objects`` on a volume of ~10**5 small objects.

dask-image loops over labels on the client (one full-volume mask per label), so its
run is time-boxed: it measures ``--dask-image-labels`` labels and extrapolates
linearly to all labels (printed as "extrapolated"). Ratios are scipy time / tool time
(> 1: faster than scipy). Peak memory is the call's increase of resident memory,
sampled every 20 ms (in-memory inputs excluded). tracemalloc, used before, slowed
calls that build many Python objects (``find_objects``: 9.2 s instead of 1 s).
"""

from __future__ import annotations

import argparse
import time

import dask
import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._monitor import ResourceMonitor
from bigimg.measure import regionprops_table
from bigimg.ndimage import find_objects, label_statistics
from bigimg.testing import blobs


def timed(func, *args, **kwargs):
    with ResourceMonitor() as mon:
        out = func(*args, **kwargs)
    return out, mon.seconds, mon.peak_increase


def row(name, scipy_t, t, peak, note=""):
    ratio = scipy_t / t if t else float("nan")
    print(
        f"  {name:<34s} {t:9.2f} s   x{ratio:6.2f} vs scipy   peak {peak / 2**20:8.0f} MiB  {note}"
    )


def bench_all_labels(lab, x, n, chunk, args):
    idx = np.arange(1, n + 1)
    print(f"\n[1] sum_labels + center_of_mass + find_objects, {n} labels")

    def scipy_run():
        return ndi.sum_labels(x, lab, idx), ndi.center_of_mass(x, lab, idx), ndi.find_objects(lab)

    (s_ref, c_ref, f_ref), ts, ps = timed(scipy_run)
    row("scipy (in memory)", ts, ts, ps)

    xd = da.from_array(x, chunks=chunk)
    ld = da.from_array(lab, chunks=chunk)

    def bigimg_run():
        st = label_statistics(xd, ld, idx, statistics=("sum", "center_of_mass"))
        s, c = dask.compute(st["sum"], st["center_of_mass"])
        return s, c, find_objects(ld)

    (s, c, f), tb, pb = timed(bigimg_run)
    assert np.allclose(s, s_ref) and np.allclose(c, np.array(c_ref)) and f == f_ref
    row("bigimg", ts, tb, pb, "(equal to scipy)")

    try:
        from dask_image import ndmeasure
    except ImportError:
        print("  dask-image not installed")
        return
    k = min(args.dask_image_labels, n)
    sub = idx[:k]

    def dask_image_run():
        a = ndmeasure.sum_labels(xd, ld, sub)
        b = ndmeasure.center_of_mass(xd, ld, sub)
        return dask.compute(a, b)

    (_, _), tdi, pdi = timed(dask_image_run)
    est = tdi * n / k
    row("dask-image sum+com", ts, est, pdi, f"(extrapolated from {k} labels: {tdi:.1f} s)")


def bench_regionprops(lab, x, chunk):
    from skimage.measure import regionprops_table as sk_table

    props = (
        "label",
        "area",
        "bbox",
        "centroid",
        "intensity_mean",
        "intensity_max",
        "inertia_tensor_eigvals",
    )
    print(f"\n[2] regionprops_table {props}")
    ref, ts, ps = timed(sk_table, lab, x, props)
    row("scikit-image (in memory)", ts, ts, ps)
    xd = da.from_array(x, chunks=chunk)
    ld = da.from_array(lab, chunks=chunk)
    got, tb, pb = timed(regionprops_table, ld, xd, props)
    ok = all(np.allclose(got[k], ref[k], rtol=1e-5, atol=1e-6) for k in ref)
    row("bigimg", ts, tb, pb, "(equal to scikit-image)" if ok else "(MISMATCH)")


def bench_many_objects(size, chunk):
    mask = blobs((size,) * 3, sigma=1.15, fraction=0.12, seed=3)  # ~1e5 objects at 384**3
    lab, n = ndi.label(mask)
    print(f"\n[3] find_objects, {n} objects")
    ref, ts, ps = timed(ndi.find_objects, lab)
    row("scipy (in memory)", ts, ts, ps)
    got, tb, pb = timed(find_objects, da.from_array(lab, chunks=chunk))
    assert got == ref
    row("bigimg", ts, tb, pb, "(equal to scipy)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--chunk", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dask-image-labels", type=int, default=10)
    p.add_argument("--skip", default="", help="comma-separated workloads to skip: 1,2,3")
    args = p.parse_args()
    skip = set(args.skip.split(","))
    dask.config.set(scheduler="threads", num_workers=args.workers)
    shape = (args.size,) * 3
    t0 = time.perf_counter()
    lab, n = ndi.label(blobs(shape, sigma=2.0, fraction=0.3))
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    print(
        f"data {shape}, chunks {args.chunk}**3, {n} labels, threads={args.workers} "
        f"(made in {time.perf_counter() - t0:.1f} s)"
    )
    # warm numba's compiled kernels (cached on disk after the first run)
    label_statistics(x[:8, :8, :8], lab[:8, :8, :8], [1]).get("sum").compute()
    if "1" not in skip:
        bench_all_labels(lab, x, n, args.chunk, args)
    if "2" not in skip:
        bench_regionprops(lab, x, args.chunk)
    if "3" not in skip:
        bench_many_objects(args.size, args.chunk)


if __name__ == "__main__":
    main()
