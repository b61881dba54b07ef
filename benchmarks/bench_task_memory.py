"""Peak memory of each task of bigimg's global operations, against one block.

Run from the repository root::

    python benchmarks/bench_task_memory.py                    # 256^3 in 64^3 and 128^3 chunks
    python benchmarks/bench_task_memory.py --ops label,regionprops_table --chunks 64
    python benchmarks/bench_task_memory.py --cluster           # the KilledWorker case

For every global operation (labels, per-label measurements, region tables, hole
filling and propagation, distance transforms, the watershed, a halo filter whose input
is spilled to disk) and every chunk size, a fresh child process builds the same
synthetic volume (blobs of smoothed noise thresholded to 10 %, labelled by scipy as
int32: 2,219 objects, the largest 88,611 voxels; a float32 intensity; a uint8 image
with 200 markers for the watershed) and holds it as dask arrays of contiguous blocks
in memory, as a worker holds its input blocks. It runs the operation once to warm up
(numba compilation, lazy imports), then again on dask's synchronous scheduler,
recording for every task how far the process's resident memory rose above what it
was when the task started. Lazy results are stored block by block into a sink that
discards them, so no task assembles the volume.

How a task's peak is measured: before each task (a ``dask.callbacks.Callback``
``_pretask``) the process's high-water mark of resident memory is reset (Linux
``/proc/self/clear_refs``, value 5) and its resident size read; after it
(``_posttask``) the high-water mark (``VmHWM``) is read. The kernel raises that mark
whenever pages are unmapped and reports the maximum of it and the current size, so
the difference is the task's exact peak rise, however short the spike: nothing is
sampled. It counts every allocation (numpy, numba's own arrays, C libraries, pages
of memory-mapped files touched), which is what a ``dask.distributed`` worker's memory
limit counts. tracemalloc would miss numba's arrays (the measurement kernels allocate
their slot codes in numba) and time sampling misses spikes. The child runs with
``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc maps every large array on its own and
returns it at once: without it, freed arrays stay in the heap and a later task reuses
them without the resident size rising (an underestimate). Where ``clear_refs`` is not
available (not Linux) a thread samples the resident size every millisecond instead,
and the output says so.

What the numbers mean: a task's *peak* is what it adds on top of what the process
held when it started, i.e. on top of its input blocks (read from a file they are
one more block each, counted by the reading task). The output of a task is part of
its peak. ``block`` is the bytes of one block of each image-sized input, summed
(e.g. labels int32 + intensity float32 = 8 bytes per voxel); ``ratio`` is the
largest task peak over that, ``B/vox`` the same peak per voxel of one block. ``run``
is the whole operation's peak rise (client side included: eager calls such as
``value_indices`` build their result there). Times are not reported: the machine
this runs on is shared. ``--slab-voxels`` overrides ``SLAB_VOXELS`` of the
measurement engine (``bigimg._tables._block``; ``2**40``: whole blocks at once).

``--cluster`` re-runs the failure of issue 12: ``regionprops_table`` (the
properties of ``bench_measure.py``) on a ``LocalCluster`` of 2 single-threaded worker
processes with ``memory_limit="500MB"``, on int32 labels (one 20³ cube per 30³ cell)
and a float32 intensity read from raw files with the reader's default chunks (406³:
8 blocks of 203³, 32 MiB of labels each). It reports whether the table was made,
how many workers were restarted (the nanny restarts a worker above 95 % of its
limit) and each worker's peak resident memory (sampled every 20 ms). A worker holds
about 270 MB once bigimg is imported and its kernels compiled.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 2**20

#: Properties of the region table (as in ``bench_measure.py``).
PROPS = (
    "label",
    "area",
    "bbox",
    "centroid",
    "intensity_mean",
    "intensity_max",
    "inertia_tensor_eigvals",
)


# ----------------------------------------------------------------- memory accounting
def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def _can_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _Meter:
    """The peak resident size since :meth:`reset`: exact on Linux, else sampled."""

    def __init__(self) -> None:
        self.exact = _can_reset()
        if not self.exact:
            import psutil

            self._proc = psutil.Process()
            self._peak = 0
            self._lock = threading.Lock()
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            rss = self._proc.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)
            time.sleep(0.001)

    def reset(self) -> int:
        """Start a new peak; return the resident size now."""
        if self.exact:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return _status()["VmRSS"]
        rss = self._proc.memory_info().rss
        with self._lock:
            self._peak = rss
        return rss

    def peak(self) -> int:
        if self.exact:
            return _status()["VmHWM"]
        with self._lock:
            return max(self._peak, self._proc.memory_info().rss)


def _task_meter(meter: _Meter):
    from dask.callbacks import Callback
    from dask.utils import key_split

    class TaskPeaks(Callback):
        """Peak resident rise of every task (run on the synchronous scheduler)."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[tuple[int, str, str]] = []
            self._start = 0
            self.high = meter.reset()  # the whole run's peak, between tasks included

        def _pretask(self, key, dsk, state) -> None:
            self.high = max(self.high, meter.peak())  # the client's work since the last task
            self._start = meter.reset()

        def _posttask(self, key, result, dsk, state, worker_id) -> None:
            top = meter.peak()
            self.high = max(self.high, top)
            name = key_split(key).removeprefix("copy-")  # the persisted inputs, fused
            self.rows.append((top - self._start, name, str(key)))

        def run_peak(self) -> int:
            return max(self.high, meter.peak())

    return TaskPeaks()


# -------------------------------------------------------------------------- the data
@dataclass
class Data:
    mask: np.ndarray  # bool blobs
    lab: np.ndarray  # int32 labels of the blobs
    n: int
    x: np.ndarray  # float32 intensity
    img: np.ndarray  # uint8 image for the watershed
    markers: np.ndarray  # int32, 200 seeds
    seed: np.ndarray  # bool, a few voxels of the mask (propagation's input)


def make_data(size: int) -> Data:
    from scipy import ndimage as ndi

    from bigimg.testing import blobs

    shape = (size,) * 3
    mask = blobs(shape, sigma=3.0, fraction=0.1, seed=0)
    lab, n = ndi.label(mask)
    rng = np.random.default_rng(1)
    x = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 2.0)
    x = (x / np.abs(x).max()).astype(np.float32)
    img = np.clip(x * 127.0 + 128.0, 0, 255).astype(np.uint8)
    markers = np.zeros(shape, np.int32)
    flat = rng.choice(markers.size, 200, replace=False)
    markers.reshape(-1)[flat] = np.arange(1, 201, dtype=np.int32)
    seed = mask & (rng.random(shape) < 1e-4)
    return Data(mask, lab.astype(np.int32), int(n), x, img, markers, seed)


class _Sink:
    """A store target that discards what it is given (no task assembles the volume)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __setitem__(self, key, value) -> None:
        pass


def _store(*arrays) -> None:
    import dask.array as da

    da.store(list(arrays), [_Sink(a.shape, a.dtype) for a in arrays], lock=False)


def _compute(*things) -> None:
    import dask

    dask.compute(*things)


# ------------------------------------------------------------------ the operations
@dataclass(frozen=True)
class Op:
    name: str
    inputs: tuple[str, ...]  # the image-sized inputs (Data fields), for the block bytes
    run: Callable  # run(data, arrays) with arrays: Data field -> dask array
    before: str  # what the docstring said a task holds before issue 12
    now: str  # what it says now


def _measure(name):
    def run(d, a):
        from bigimg import ndimage

        idx = np.arange(1, d.n + 1)
        out = getattr(ndimage, name)(a["x"], a["lab"], idx)
        _compute(*(out if isinstance(out, tuple) else (out,)))

    return run


def _label(d, a):
    from bigimg import ndimage

    lab, _ = ndimage.label(a["mask"])
    _store(lab)


def _histogram(d, a):
    from bigimg import ndimage

    ndimage.histogram(a["x"], -1.0, 1.0, 16, a["lab"], np.arange(1, d.n + 1))


def _comprehension(d, a):
    from bigimg import ndimage

    out = ndimage.labeled_comprehension(
        a["x"], a["lab"], np.arange(1, d.n + 1), np.mean, np.float64, 0.0
    )
    _compute(out)


def _median(d, a):
    from bigimg import ndimage

    ndimage.median(a["x"], a["lab"], np.arange(1, d.n + 1))


def _find_objects(d, a):
    from bigimg import ndimage

    ndimage.find_objects(a["lab"])


def _value_indices(d, a):
    from bigimg import ndimage

    ndimage.value_indices(a["lab"], ignore_value=0)


def _regionprops(d, a):
    from bigimg.measure import regionprops_table

    regionprops_table(a["lab"], a["x"], PROPS)


def _regionprops_lazy(d, a):
    from bigimg.measure import regionprops_table

    frame = regionprops_table(a["lab"], a["x"], PROPS, as_dask=True, max_label=d.n)
    _compute(frame)


def _regionprops_crop(d, a):
    from bigimg.measure import regionprops_table

    regionprops_table(a["lab"], None, ("label", "area_filled"))


def _fill_holes(d, a):
    from bigimg import ndimage

    _store(ndimage.binary_fill_holes(a["mask"]))


def _propagation(d, a):
    from bigimg import ndimage

    _store(ndimage.binary_propagation(a["seed"], mask=a["mask"]))


def _edt(d, a):
    from bigimg import ndimage

    _store(ndimage.distance_transform_edt(a["mask"]))


def _edt_indices(d, a):
    from bigimg import ndimage

    _store(*ndimage.distance_transform_edt(a["mask"], return_indices=True))


def _cdt(d, a):
    from bigimg import ndimage

    _store(ndimage.distance_transform_cdt(a["mask"]))


def _watershed(d, a):
    from bigimg import ndimage

    _store(ndimage.watershed_ift(a["img"], a["markers"]))


def _spilled_filter(d, a):
    import dask

    from bigimg import ndimage

    sourceless = a["x"].map_blocks(np.copy, dtype=a["x"].dtype)  # no region source
    with tempfile.TemporaryDirectory() as tmp:
        with dask.config.set({"bigimg.halo-spill-bytes": 0, "temporary-directory": tmp}):
            out = ndimage.gaussian_filter(sourceless, 2.0)
            assert any(str(k).startswith("halo-spill-barrier") for k in out.__dask_graph__())
            _store(out)


#: What the docstrings said a task holds before issue 12 (``before``) and say now.
_MEASURE = (
    "one block of input and labels + a table of its labels",
    "input blocks + slabs of 2**18 voxels (4 MiB) + label lookup (<= 4 MiB) + table",
)
_FLOOD = ("a block of each input, its run tables and its output",) * 2
_EDT = (
    "its block two or three times plus line buffers",
    "stage task 16 B/vox (20 with indices); output task 40 B/vox with indices",
)
OPS = [
    Op(
        "label",
        ("mask",),
        _label,
        "one block, its bool mask, its output block, run tables ~24 B per run",
        "the same; measured 4.2 B/vox",
    ),
    *(
        Op(n, ("x", "lab"), _measure(n), *_MEASURE)
        for n in (
            "sum_labels",
            "mean",
            "variance",
            "standard_deviation",
            "minimum",
            "maximum",
            "extrema",
            "minimum_position",
            "maximum_position",
            "center_of_mass",
        )
    ),
    Op(
        "histogram",
        ("x", "lab"),
        _histogram,
        "one block + O(labels x bins)",
        "input blocks + at most 6 MiB + labels x bins counts",
    ),
    Op(
        "median",
        ("x", "lab"),
        _median,
        "one block + at most 2**22 values and counters",
        "block: input blocks + a slab's keys and codes (7 MiB) + counters; "
        "merge: at most 2**22 gathered values (64 MiB)",
    ),
    Op(
        "labeled_comprehension",
        ("x", "lab"),
        _comprehension,
        "home task: about one block + objects reaching beyond it",
        "home task: ~32 B per voxel of its labels (1x the inputs at 10 % labelled)",
    ),
    Op(
        "find_objects",
        ("lab",),
        _find_objects,
        "one block or O(labels) rows",
        "its block + at most 1 MiB of slots + its labels' boxes",
    ),
    Op(
        "value_indices",
        ("lab",),
        _value_indices,
        "one block (client: O(voxels))",
        "its block + ~30 B per voxel kept (client: O(voxels))",
    ),
    Op("regionprops_table", ("lab", "x"), _regionprops, _MEASURE[0], _MEASURE[1]),
    Op("regionprops_table(as_dask)", ("lab", "x"), _regionprops_lazy, *_MEASURE),
    Op(
        "regionprops_table(area_filled)",
        ("lab",),
        _regionprops_crop,
        "an object must fit in a task",
        "~32 B per voxel gathered + ~6 B per voxel of an object's box (scikit-image)",
    ),
    Op("binary_fill_holes", ("mask",), _fill_holes, *_FLOOD),
    Op("binary_propagation", ("seed", "mask"), _propagation, *_FLOOD),
    Op("distance_transform_edt", ("mask",), _edt, *_EDT),
    Op("distance_transform_edt(indices)", ("mask",), _edt_indices, *_EDT),
    Op(
        "distance_transform_cdt",
        ("mask",),
        _cdt,
        "as distance_transform_edt",
        "stage task about 9 B/vox",
    ),
    Op(
        "watershed_ift",
        ("img", "markers"),
        _watershed,
        "write/read tasks: one block; solve: a budget (1/4 of RAM, >= 256 MiB)",
        "write 14 / read 20 B/vox; solve: 15 B/vox of the volume within its budget",
    ),
    Op(
        "gaussian_filter(spilled)",
        ("x",),
        _spilled_filter,
        "a few blocks per thread",
        "a few blocks per thread",
    ),
]
OPS_BY_NAME = {op.name: op for op in OPS}


# ---------------------------------------------------------------- one op in a child
def child(op_name: str, size: int, chunk: int, slab_voxels: int) -> dict:
    import dask
    import dask.array as da

    if slab_voxels:
        _set_slab(slab_voxels)
    op = OPS_BY_NAME[op_name]
    data = make_data(size)
    with dask.config.set(scheduler="synchronous"):
        # contiguous blocks held in memory, as a worker holds its input blocks (a view
        # of one numpy array would make some tasks copy it)
        arrays = {
            f: da.from_array(getattr(data, f), chunks=chunk).map_blocks(np.copy).persist()
            for f in ("mask", "lab", "x", "img", "markers", "seed")
        }
    meter = _Meter()
    with dask.config.set(scheduler="synchronous", **{"bigimg.progress": False}):
        op.run(data, arrays)  # warm-up: numba compilation, lazy imports, caches
        gc.collect()
        start = meter.reset()
        tasks = _task_meter(meter)
        with tasks:
            op.run(data, arrays)
        run_peak = tasks.run_peak() - start
    block_bytes = sum(chunk**3 * getattr(data, f).dtype.itemsize for f in op.inputs)
    rows = sorted(tasks.rows, reverse=True)
    by_name: dict[str, int] = {}
    for rise, name, _ in rows:
        by_name.setdefault(name, rise)
    top = rows[0] if rows else (0, "-", "-")
    return {
        "op": op_name,
        "size": size,
        "chunk": chunk,
        "inputs": {f: str(getattr(data, f).dtype) for f in op.inputs},
        "block_bytes": block_bytes,
        "block_voxels": chunk**3,
        "tasks": len(rows),
        "peak": top[0],
        "task": top[1],
        "key": top[2],
        "by_name": by_name,
        "run_peak": run_peak,
        "exact": meter.exact,
        "before": op.before,
        "now": op.now,
    }


def _run_child(op: str, size: int, chunk: int, slab_voxels: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    here = os.path.abspath(__file__)
    cmd = [sys.executable, here, "--child", op, str(size), str(chunk), str(slab_voxels)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        return {"op": op, "chunk": chunk, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(r: dict) -> str:
    if "error" in r:
        return f"| {r['op']} | {r['chunk']}³ | failed: {r['error']} |"
    blk = r["block_bytes"]
    size = f"{blk / MiB:.0f} MiB" if blk >= MiB else f"{blk / 1024:.0f} KiB"
    return (
        f"| {r['op']} | {r['chunk']}³ | {size} | {r['peak'] / MiB:.1f} MiB "
        f"| {r['peak'] / blk:.1f}× | {r['peak'] / r['block_voxels']:.1f} "
        f"| `{r['task']}` | {r['run_peak'] / MiB:.0f} MiB | {r['now']} |"
    )


HEADER = (
    "| operation | chunks | block | largest task peak | ratio | B/vox | task | run | "
    "docstring |\n|---|---|---|---|---|---|---|---|---|"
)


# ------------------------------------------------------------ the KilledWorker case
def _set_slab(voxels: int) -> None:
    from bigimg._tables import _block

    _block.SLAB_VOXELS = voxels


def cube_volumes(side: int, folder: str) -> tuple[int, str, str]:
    """Raw files of int32 labels (one 20³ cube per cell of 30³, crossing block faces)
    and a random float32 intensity; returns the object count and the two paths."""
    axis = np.arange(side)
    cell, inside = axis // 30, axis % 30 < 20
    per_axis = -(-side // 30)
    lab = np.zeros((side,) * 3, np.int32)
    lab[np.ix_(inside, inside, inside)] = (
        cell[inside, None, None] * per_axis**2
        + cell[None, inside, None] * per_axis
        + cell[None, None, inside]
        + 1
    )
    paths = os.path.join(folder, "lab.raw"), os.path.join(folder, "x.raw")
    lab.tofile(paths[0])
    n = int(np.count_nonzero(np.bincount(lab.ravel())[1:]))
    del lab
    np.random.default_rng(0).random((side,) * 3, dtype=np.float32).tofile(paths[1])
    return n, *paths


def cluster_case(args) -> int:
    """regionprops_table on 2 worker processes of ``args.memory_limit`` each."""
    import logging
    import warnings

    import distributed

    import bigimg
    from bigimg.io import open_raw

    logging.getLogger("distributed.worker.memory").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", "Port 8787 is already in use", UserWarning)
    from bigimg.measure import regionprops_table

    shape = (args.cluster_size,) * 3
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        n, lab_path, x_path = cube_volumes(args.cluster_size, tmp)
        lab = open_raw(lab_path, shape=shape, dtype=np.int32)
        x = open_raw(x_path, shape=shape, dtype=np.float32)
        print(
            f"bigimg from {os.path.dirname(bigimg.__file__)}: {args.cluster_size}³ int32 "
            f"labels ({n} objects) + float32 intensity, raw files, default chunks "
            f"{lab.chunksize} ({lab.npartitions} blocks, "
            f"{np.prod(lab.chunksize) * 4 / MiB:.0f} MiB per label block); {PROPS}"
        )
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=None,
        )
        with cluster, distributed.Client(cluster) as client:
            client.run(__import__, "bigimg.measure")
            if args.slab_voxels:
                client.run(_set_slab, args.slab_voxels)
            pids = client.run(os.getpid)
            peaks = _WorkerPeaks(client)
            t0 = time.perf_counter()
            try:
                table = regionprops_table(lab, x, PROPS)
            except Exception as exc:  # noqa: BLE001 - the report is what failed
                print(f"FAILED: {type(exc).__name__}: {str(exc)[:300]}")
                return 1
            finally:
                peaks.stop()
            restarted = sum(a not in pids or pids[a] != p for a, p in client.run(os.getpid).items())
            print(
                f"finished: {table['label'].size} rows in {time.perf_counter() - t0:.1f} s, "
                f"{restarted} worker(s) restarted; worker peak RSS "
                + ", ".join(f"{p / MiB:.0f} MiB" for p in peaks.peaks.values())
                + f" (limit {args.memory_limit})"
            )
    return 0


class _WorkerPeaks:
    """Peak resident size of every worker process, sampled every 20 ms."""

    def __init__(self, client) -> None:
        import psutil

        self.procs = {a: psutil.Process(p) for a, p in client.run(os.getpid).items()}
        self.peaks = dict.fromkeys(self.procs, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for a, p in self.procs.items():
                with contextlib.suppress(Exception):
                    self.peaks[a] = max(self.peaks[a], p.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------- main
def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1], *map(int, argv[2:5]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256, help="edge of the cubic volume")
    p.add_argument("--chunks", default="64,128", help="chunk edges, comma separated")
    p.add_argument("--ops", default="", help="operations to run (comma separated; all)")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--cluster", action="store_true", help="run the KilledWorker case only")
    p.add_argument("--cluster-size", type=int, default=406, help="406: 8 blocks of 203³")
    p.add_argument("--memory-limit", default="500MB")
    p.add_argument("--workdir", help="where the cluster case writes its raw files")
    p.add_argument(
        "--slab-voxels",
        type=int,
        default=0,
        help="override bigimg._tables._block.SLAB_VOXELS (e.g. 2**40: whole blocks, as before)",
    )
    args = p.parse_args(argv)
    if args.cluster:
        return cluster_case(args)
    names = [n for n in args.ops.split(",") if n] or [op.name for op in OPS]
    unknown = [n for n in names if n not in OPS_BY_NAME]
    if unknown:
        p.error(f"unknown operations {unknown}; choose from {list(OPS_BY_NAME)}")
    chunks = [int(c) for c in args.chunks.split(",")]
    print(f"volume {args.size}³; peak = resident rise during one task (see the docstring)")
    print(HEADER)
    results = []
    for name in names:
        for chunk in chunks:
            r = _run_child(name, args.size, chunk, args.slab_voxels)
            results.append(r)
            print(_fmt(r), flush=True)
    if results and not all(r.get("exact", True) for r in results):
        print("\nclear_refs unavailable: peaks sampled every millisecond (may miss spikes)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
