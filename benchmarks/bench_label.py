"""Benchmark ``label``: bigimg vs scipy.ndimage, cc3d and dask-image, on the same data.

Run from the repository root::

    python benchmarks/bench_label.py --repeat 3       # 384^3 blobs, 128^3 chunks, 2 threads
    python benchmarks/bench_label.py --size 192 --chunk 64 --connectivity 1 3
    python benchmarks/bench_label.py --repeat 3 --before /tmp/old   # also an older bigimg

Every result is written into one preallocated in-memory array (``da.store``), as
scipy writes its output once. For each connectivity it prints wall seconds (the best
of ``--repeat`` rounds; each round times every row once, one after the other, so that
all rows see the same load on a shared machine), the ratio to scipy (>1: faster than
scipy), the CPU seconds of that run (a load-independent measure) and the peak
resident memory above the starting point (sampled every 5 ms with psutil), and checks
every result against scipy's labels. Rows:

* ``scipy`` — ``scipy.ndimage.label`` on the whole volume in memory (one thread);
* ``cc3d`` — ``cc3d.connected_components`` (one thread), when cc3d is installed (6-,
  18- and 26-connectivity only; only its object count is checked);
* ``bigimg 1st`` — bigimg's first ``label`` call with this connectivity (for the first
  connectivity, the first call of the process: the numba kernels are compiled into
  the on-disk cache by a separate process first, so this call loads them from the
  cache; numba's own start-up, shared by every compiled function of the process, is
  timed apart and printed above the tables);
* ``bigimg`` — the shipped design with the client merge (dask config
  ``bigimg.label-merge="client"``, what ``"auto"`` picks at this size): block labels
  computed twice (summaries at call time, labels again when the lazy result is
  computed);
* ``bigimg-tree`` — the same with the tree merge (``"tree"``: merge and numbering on
  the workers, O(blocks) client memory and graph);
* ``bigimg-zarr`` — the alternative: the summary pass stores the provisional block
  labels in a temporary zarr store and the relabel pass reads them back;
* ``dask-image`` — ``dask_image.ndmeasure.label`` (minutes at 384³; timed once, see
  ``--dask-image-repeat``; ``--no-dask-image`` skips it);
* ``before 1st`` / ``before`` — with ``--before DIR``: the ``bigimg`` package found in
  ``DIR`` (e.g. ``git archive HEAD bigimg | tar -x -C DIR``) with the client merge,
  timed in a child process (its first call and its best round), in the same rounds
  as the rows above.

Targets (issue 13, 2 threads, first call included): bigimg at least 3x scipy with
6-connectivity and 4x with 26-connectivity. On a shared machine wall times are
noisy: compare the CPU seconds, repeat with ``--repeat``, and read the load average
printed under each table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zlib
from functools import partial
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import psutil
from scipy import ndimage as ndi

CC3D_CONNECTIVITY = {1: 6, 2: 18, 3: 26}


def _volume(size: int) -> np.ndarray:
    from bigimg.testing import blobs

    return blobs((size,) * 3, sigma=4.0, fraction=0.3, seed=0)


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


class _PeakMemory:
    """Peak resident memory above the start, sampled every 5 ms on a thread."""

    def __enter__(self):
        import threading

        self._proc, self._stop = psutil.Process(), threading.Event()
        self.start = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def increase_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _timed(func):
    with _PeakMemory() as mem:
        cpu, start = _cpu_seconds(), time.perf_counter()
        result = func()
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return result, seconds, cpu, mem.increase_mb


def _in_memory(labels: da.Array) -> np.ndarray:
    # like scipy: one output array, each block written into it once (compute()
    # would concatenate the blocks into a second full-size copy)
    out = np.empty(labels.shape, dtype=labels.dtype)
    da.store(labels, out, lock=False)
    return out


def _bigimg_label(x, structure, merge="client"):
    from bigimg.ndimage import label

    with dask.config.set({"bigimg.label-merge": merge}):
        labels, n = label(x, structure)
        return _in_memory(labels), n


def _store_and_summarise(block, labeller, spec, seeds=None, *, target):
    """Summary task of the zarr variant: also write the provisional labels."""
    from bigimg._labels._kernel import summarise_runs

    runs = labeller.runs(block)
    region = tuple(slice(o, o + n) for o, n in zip(spec.location, block.shape, strict=True))
    target[region] = labeller.paint(runs, runs.labels.astype(np.uint32))
    return summarise_runs(runs, spec)


def _take(labels, lut):
    return lut[labels]


def _bigimg_zarr(x: da.Array, structure: np.ndarray):
    """Variant: provisional labels go through a temporary zarr store."""
    import zarr

    from bigimg._labels._engine import block_luts, relabel_blocks, summarise_blocks
    from bigimg._labels._kernel import BlockLabeller
    from bigimg._labels._merge import resolve_numbering

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/provisional.zarr"
        target = zarr.create_array(
            store=path, shape=x.shape, chunks=x.chunksize, dtype=np.uint32, fill_value=0
        )
        labeller = BlockLabeller(structure)
        summarise = partial(_store_and_summarise, target=target)
        tables = summarise_blocks(x, labeller, summarise=summarise)
        rank, count = resolve_numbering(tables.first, tables.pairs)
        luts = block_luts(rank, tables.counts, np.int32)
        provisional = da.from_zarr(path)
        labels = relabel_blocks(provisional, _take, luts, dtype=np.dtype(np.int32))
        return _in_memory(labels), count


def _dask_image(x: da.Array, structure: np.ndarray):
    from dask_image import ndmeasure

    labels, n = ndmeasure.label(x, structure)
    return _in_memory(labels), int(n.compute())


def _cc3d(volume: np.ndarray, connectivity: int):
    import cc3d

    labels, n = cc3d.connected_components(
        volume, connectivity=CC3D_CONNECTIVITY[connectivity], return_N=True
    )
    return labels, int(n)


def _checksum(labels: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(labels, dtype=np.int32).view(np.uint8))


class _Before:
    """A child process timing the ``bigimg`` package in ``directory`` on request."""

    def __init__(self, args) -> None:
        script = str(Path(__file__).resolve())
        command = [sys.executable, script, "--child", args.before, f"--size={args.size}"]
        command += [f"--chunk={args.chunk}", f"--workers={args.workers}"]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._reply()  # ready

    def _reply(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the child timing {self._proc.args[3]} stopped")
        return json.loads(line)

    def __call__(self, connectivity: int) -> tuple:
        """``((count, checksum), seconds, cpu seconds, peak MB)`` of one call."""
        self._proc.stdin.write(f"{connectivity}\n")
        self._proc.stdin.flush()
        reply = self._reply()
        return (reply["count"], reply["checksum"]), *reply["timing"]

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait()


def child(args) -> None:
    """``--child DIR``: time ``DIR``'s bigimg (client merge) once per connectivity read
    from stdin, one JSON line per call."""
    path = str(Path(args.child).resolve())
    _warm_cache([1, 2, 3], path)
    sys.path.insert(0, path)
    x = da.from_array(_volume(args.size), chunks=args.chunk)
    _numba_start()
    with dask.config.set(scheduler="threads", num_workers=args.workers):
        dask.compute(dask.delayed(int)(0))  # dask's own start-up, outside the timings
        print(json.dumps({"ready": str(sys.modules["bigimg"].__file__)}), flush=True)
        for line in sys.stdin:
            structure = ndi.generate_binary_structure(3, int(line))
            (labels, n), *timing = _timed(partial(_bigimg_label, x, structure))
            reply = {"count": int(n), "checksum": _checksum(labels), "timing": timing}
            print(json.dumps(reply), flush=True)


_WARM = """
import sys
sys.path.insert(0, {path!r})
import dask, numpy as np, dask.array as da
from scipy import ndimage as ndi
from bigimg.ndimage import label
x = da.from_array(np.random.default_rng(0).random((16, 16, 80)) > 0.5, chunks=8)
for connectivity in {connectivities}:
    for merge in ("client", "tree"):
        with dask.config.set({{"bigimg.label-merge": merge}}):
            label(x, ndi.generate_binary_structure(3, connectivity))[0].compute()
"""


def _warm_cache(connectivities, path: str = "") -> None:
    """Compile the numba kernels of the bigimg in ``path`` (default: the installed one)
    into their on-disk cache, in a separate process."""
    code = _WARM.format(path=path, connectivities=list(connectivities))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=path or None)


def _numba_start() -> float:
    """Seconds numba takes to start serving cached kernels in a fresh process."""
    import numba

    start = time.perf_counter()
    numba.njit(lambda: 0)()  # loads numba's target registries, as any first kernel does
    return time.perf_counter() - start


def _candidates(args, connectivity: int, volume: np.ndarray, before) -> dict:
    """The timed rows of one connectivity: name -> function returning (labels, count)."""
    structure = ndi.generate_binary_structure(3, connectivity)
    x = da.from_array(volume, chunks=args.chunk)
    rows = {"scipy": partial(ndi.label, volume, structure)}
    if args.cc3d:
        rows["cc3d"] = partial(_cc3d, volume, connectivity)
    rows["bigimg"] = partial(_bigimg_label, x, structure)
    rows["bigimg-tree"] = partial(_bigimg_label, x, structure, "tree")
    if not args.no_zarr:
        rows["bigimg-zarr"] = partial(_bigimg_zarr, x, structure)
    if before is not None:
        rows["before"] = partial(before, connectivity)
    return rows


def _check(name: str, result, expected: np.ndarray, n: int) -> None:
    if name == "before":
        assert result == (n, _checksum(expected)), "the --before bigimg differs from scipy"
    elif name in ("cc3d", "dask-image"):
        assert result[1] == n, f"{name} found another object count"
    else:
        assert result[1] == n and np.array_equal(result[0], expected), f"{name} differs"


def run(args, connectivity: int, before) -> None:
    volume = _volume(args.size)
    expected, n = ndi.label(volume, ndi.generate_binary_structure(3, connectivity))
    print(
        f"\nlabel, {args.size}^3 blobs, {args.chunk}^3 chunks "
        f"({int(np.prod([-(-args.size // args.chunk)] * 3))} blocks), connectivity "
        f"{connectivity}, {args.workers} threads, best of {args.repeat} rounds"
    )
    candidates = _candidates(args, connectivity, volume, before)
    rows: dict = {}
    with dask.config.set(scheduler="threads", num_workers=args.workers):
        for round_ in range(args.repeat):
            for name, func in candidates.items():
                # the child process times its own call
                result, *timing = func() if name == "before" else _timed(func)
                _check(name, result, expected, n)
                del result
                if round_ == 0 and name in ("bigimg", "before"):
                    rows[f"{name} 1st"] = timing
                if name not in rows or timing[0] < rows[name][0]:
                    rows[name] = timing
        if not args.no_dask_image:
            x = da.from_array(volume, chunks=args.chunk)
            structure = ndi.generate_binary_structure(3, connectivity)
            for _ in range(args.dask_image_repeat):
                result, *timing = _timed(partial(_dask_image, x, structure))
                _check("dask-image", result, expected, n)
                if "dask-image" not in rows or timing[0] < rows["dask-image"][0]:
                    rows["dask-image"] = timing
    _report(rows, n)


def _report(rows: dict, n: int) -> None:
    order = ["scipy", "cc3d", "bigimg 1st", "bigimg", "bigimg-tree", "bigimg-zarr"]
    order += ["dask-image", "before 1st", "before"]
    scipy_seconds = rows["scipy"][0]
    print(f"{'':12s} {'seconds':>8s} {'vs scipy':>9s} {'cpu s':>7s} {'peak MB':>8s}  ({n} objects)")
    for name in (name for name in order if name in rows):
        seconds, cpu, megabytes = rows[name]
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
    parser.add_argument("--dask-image-repeat", type=int, default=1)
    parser.add_argument("--no-zarr", action="store_true", help="skip the bigimg-zarr variant")
    parser.add_argument("--before", metavar="DIR", help="also time the bigimg package in DIR")
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    try:
        import cc3d  # noqa: F401

        args.cc3d = all(c in CC3D_CONNECTIVITY for c in args.connectivity)
    except ImportError:
        args.cc3d = False
    _warm_cache(args.connectivity)
    print(f"numba start-up in this process: {_numba_start():.2f} s (before any timing)")
    with dask.config.set(scheduler="threads", num_workers=args.workers):
        dask.compute(dask.delayed(int)(0))  # dask's own start-up, outside the timings
    before = _Before(args) if args.before else None
    try:
        for connectivity in args.connectivity:
            run(args, connectivity, before)
    finally:
        if before is not None:
            before.close()


if __name__ == "__main__":
    main()
