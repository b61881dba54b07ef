"""Benchmark ``label``: bigimg vs scipy.ndimage (in memory) vs dask-image, same data.

Run from the repository root::

    python benchmarks/bench_label.py                  # 384^3 blobs, 128^3 chunks, 2 threads
    python benchmarks/bench_label.py --size 192 --chunk 64 --connectivity 1 3

Every result is written into one preallocated in-memory array (``da.store``), as
scipy writes its output once. For each connectivity it prints wall seconds, the ratio to scipy (>1: faster than
scipy), the CPU seconds the process used (a load-independent measure on a shared
machine) and the peak resident memory above the starting point (sampled every 5 ms
with psutil), and checks that bigimg's labels equal scipy's. A warm-up call on a
small volume compiles the numba kernels first (cached on disk afterwards). Two bigimg variants
are timed:

* ``bigimg`` — the shipped design with the client merge (dask config
  ``bigimg.label-merge="client"``, what ``"auto"`` picks at this size): block labels
  computed twice (summaries at call time, labels again when the lazy result is
  computed);
* ``bigimg-tree`` — the same with the tree merge (``"tree"``: merge and numbering on
  the workers, O(blocks) client memory and graph; the summaries run once for the
  count and once more in the labels' graph);
* ``bigimg-zarr`` — the alternative: the summary pass stores the provisional block
  labels in a temporary zarr store and the relabel pass reads them back.

Target: bigimg at least 1.5x faster than scipy on 2 cores. On a shared machine
the numbers are noisy; repeat with ``--repeat``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial

import dask
import dask.array as da
import numpy as np
import psutil
import zarr
from scipy import ndimage as ndi

from bigimg._labels._engine import block_luts, relabel_blocks, summarise_blocks
from bigimg._labels._kernel import BlockLabeller, summarise_runs
from bigimg._labels._merge import resolve_numbering
from bigimg._monitor import ResourceMonitor
from bigimg.ndimage._label import label
from bigimg.testing import blobs


def _store_and_summarise(block, labeller, spec, seeds=None, *, target):
    """Summary task of the zarr variant: also write the provisional labels."""
    runs = labeller.runs(block)
    region = tuple(slice(o, o + n) for o, n in zip(spec.location, block.shape, strict=True))
    target[region] = labeller.paint(runs, runs.labels.astype(np.uint32))
    return summarise_runs(runs, spec)


def _take(labels, lut):
    return lut[labels]


def label_via_zarr(x: da.Array, structure: np.ndarray, path: str):
    """Variant (b): provisional labels go through a temporary zarr store."""
    target = zarr.create_array(
        store=path, shape=x.shape, chunks=x.chunksize, dtype=np.uint32, fill_value=0
    )
    labeller = BlockLabeller(structure)
    tables = summarise_blocks(x, labeller, summarise=partial(_store_and_summarise, target=target))
    rank, count = resolve_numbering(tables.first, tables.pairs)
    luts = block_luts(rank, tables.counts, np.int32)
    provisional = da.from_zarr(path)
    return relabel_blocks(provisional, _take, luts, dtype=np.dtype(np.int32)), count


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _timed(func):
    with ResourceMonitor(interval=0.005, children=False) as mem:
        cpu, start = _cpu_seconds(), time.perf_counter()
        result = func()
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return result, seconds, cpu, mem.peak_increase / 2**20


def run(
    size: int, chunk: int, connectivity: int, workers: int, repeat: int, with_dask_image=True
) -> None:
    volume = blobs((size,) * 3, sigma=4.0, fraction=0.3, seed=0)
    structure = ndi.generate_binary_structure(3, connectivity)
    x = da.from_array(volume, chunks=chunk)
    print(
        f"\nlabel, {size}^3 blobs, {chunk}^3 chunks ({x.npartitions} blocks), "
        f"connectivity {connectivity}, {workers} threads"
    )

    def scipy_label():
        return ndi.label(volume, structure)

    def in_memory(labels):
        # like scipy: one output array, each block written into it once (compute()
        # would concatenate the blocks into a second full-size copy)
        out = np.empty(labels.shape, dtype=labels.dtype)
        da.store(labels, out, lock=False)
        return out

    def bigimg_label(merge="client"):
        with dask.config.set({"bigimg.label-merge": merge}):
            labels, n = label(x, structure)
            return in_memory(labels), n

    def bigimg_zarr():
        with tempfile.TemporaryDirectory() as tmp:
            labels, n = label_via_zarr(x, structure, f"{tmp}/provisional.zarr")
            return in_memory(labels), n

    def dask_image_label():
        from dask_image import ndmeasure

        labels, n = ndmeasure.label(x, structure)
        n = int(n.compute())
        return in_memory(labels), n

    rows = {}
    label(x[:8, :8, :8], structure)[0].compute()  # compile the numba kernels
    with dask.config.set(scheduler="threads", num_workers=workers):
        for name, func in [
            ("scipy", scipy_label),
            ("bigimg", bigimg_label),
            ("bigimg-tree", partial(bigimg_label, "tree")),
            ("bigimg-zarr", bigimg_zarr),
            *([("dask-image", dask_image_label)] if with_dask_image else []),
        ]:
            best = None
            for _ in range(repeat):
                timing = _timed(func)
                if best is None or timing[1] < best[1]:
                    best = timing
            rows[name] = best
    expected, n = rows["scipy"][0]
    for name in ("bigimg", "bigimg-tree", "bigimg-zarr"):
        got, m = rows[name][0]
        assert m == n and np.array_equal(got, expected), f"{name} differs from scipy"
    if with_dask_image:
        assert int(rows["dask-image"][0][1]) == n, "dask-image found another object count"
    scipy_seconds = rows["scipy"][1]
    print(f"{'':12s} {'seconds':>8s} {'vs scipy':>9s} {'cpu s':>7s} {'peak MB':>8s}  ({n} objects)")
    for name, (_, seconds, cpu, megabytes) in rows.items():
        ratio = scipy_seconds / seconds
        print(f"{name:12s} {seconds:8.2f} {ratio:8.2f}x {cpu:7.2f} {megabytes:8.0f}")
    print(
        f"load average during the run: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--connectivity", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--no-dask-image", action="store_true", help="skip dask-image (minutes per run at 384³)"
    )
    args = parser.parse_args()
    for connectivity in args.connectivity:
        run(
            args.size,
            args.chunk,
            connectivity,
            args.workers,
            args.repeat,
            with_dask_image=not args.no_dask_image,
        )


if __name__ == "__main__":
    main()
