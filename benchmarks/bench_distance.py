"""Benchmark ``distance_transform_edt``: bigimg vs scipy.ndimage and edt (in memory).

Run from the repository root::

    python benchmarks/bench_distance.py                  # 384^3 blobs, 128^3 chunks, 2 threads
    python benchmarks/bench_distance.py --size 192 --chunk 64 --indices

Every workload runs on the same boolean volume (smoothed noise thresholded into
blobs, 60 % foreground) and prints wall seconds, the ratio to scipy (>1: faster than
scipy), the CPU seconds the process used (a load-independent measure on a shared
machine) and the peak resident memory above the starting point (sampled every 5 ms
with psutil). dask-image has no distance transform, so the peers are scipy (one
thread) and seung-lab's ``edt`` (C++, given the same number of threads).

* ``bigimg`` computes the lazy result into one numpy array (what most users do; the
  result alone is 8 bytes per voxel);
* ``bigimg->zarr`` streams the result into a zarr store on disk, so its peak memory
  is the transform's working set rather than the result.

bigimg's distances are checked against scipy's (bit-identical with unit sampling).
Target: bigimg at least 3x faster than scipy on 2 cores. The machine these numbers are
produced on is shared, so wall times are noisy: compare the CPU column too, and
repeat with ``--repeat``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

import dask
import dask.array as da
import edt
import numpy as np
import psutil
from scipy import ndimage as ndi

from bigimg.ndimage._distance import distance_transform_edt
from bigimg.testing import blobs


class PeakMemory:
    """Peak RSS above the level at entry, sampled in a background thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()

    def __enter__(self) -> PeakMemory:
        self.base = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def megabytes(self) -> float:
        return (self.peak - self.base) / 2**20


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _timed(func):
    with PeakMemory() as mem:
        cpu, start = _cpu_seconds(), time.perf_counter()
        result = func()
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return result, seconds, cpu, mem.megabytes


def run(size: int, chunk: int, workers: int, repeat: int, indices: bool) -> None:
    volume = blobs((size,) * 3, sigma=4.0, fraction=0.6, seed=0)
    x = da.from_array(volume, chunks=chunk)
    what = "distances + indices" if indices else "distances"
    print(
        f"\ndistance_transform_edt ({what}), {size}^3 blobs, {chunk}^3 chunks "
        f"({x.npartitions} blocks), {workers} threads"
    )

    def scipy_edt():
        return ndi.distance_transform_edt(volume, return_indices=indices)

    def edt_edt():
        return edt.edt(volume, parallel=workers)

    def bigimg_edt():
        return dask.compute(distance_transform_edt(x, return_indices=indices))[0]

    def bigimg_zarr():
        import zarr

        result = distance_transform_edt(x, return_indices=indices)
        arrays = result if indices else (result,)
        with tempfile.TemporaryDirectory() as tmp:
            for k, arr in enumerate(arrays):
                target = zarr.create_array(
                    store=f"{tmp}/out{k}.zarr",
                    shape=arr.shape,
                    chunks=arr.chunksize,
                    dtype=arr.dtype,
                )
                da.store(arr, target, lock=False)
        return None

    # compile (or load from the on-disk cache) the numba kernels first
    distance_transform_edt(x[:16, :16, :16], return_indices=indices)
    dask.compute(distance_transform_edt(x[:16, :16, :16], return_indices=indices))
    rows = {}
    with dask.config.set(scheduler="threads", num_workers=workers):
        for name, func in [
            ("scipy", scipy_edt),
            ("edt", edt_edt),
            ("bigimg", bigimg_edt),
            ("bigimg->zarr", bigimg_zarr),
        ]:
            if name == "edt" and indices:
                continue  # edt has no feature transform
            best = None
            for _ in range(repeat):
                timing = _timed(func)
                if best is None or timing[1] < best[1]:
                    best = timing
            rows[name] = best
    expected, got = rows["scipy"][0], rows["bigimg"][0]
    if indices:
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    else:
        assert np.array_equal(got, expected), "bigimg differs from scipy"
    scipy_seconds = rows["scipy"][1]
    print(f"{'':13s} {'seconds':>8s} {'vs scipy':>9s} {'cpu s':>7s} {'peak MB':>8s}")
    for name, (_, seconds, cpu, megabytes) in rows.items():
        print(
            f"{name:13s} {seconds:8.2f} {scipy_seconds / seconds:8.2f}x {cpu:7.2f} {megabytes:8.0f}"
        )
    print(
        f"input {volume.nbytes / 2**20:.0f} MB; float64 result {volume.size * 8 / 2**20:.0f} MB; "
        f"load average during the run: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--indices", action="store_true", help="also return indices")
    args = parser.parse_args()
    run(args.size, args.chunk, args.workers, args.repeat, args.indices)


if __name__ == "__main__":
    main()
