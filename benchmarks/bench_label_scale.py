"""Scale runs for labels: a blob volume -> label -> region table, and the many-objects case.

    python benchmarks/bench_label_scale.py [--size 1024] [--chunks 128] [--sigma 1.2]
    python benchmarks/bench_label_scale.py --case random [--size 1024] [--chunks 128]
        [--fraction 0.25] [--merge tree client] [--cluster]

``--case blobs`` (default): the blob mask (smoothed white noise above a threshold,
generated block by block) is written to a zarr store first; then ``label`` (graph build
+ per-block summaries), the labels written to zarr, and ``regionprops_table`` over all
objects. Prints the graph-build time, each step's wall time and the peak resident
memory of the whole run.

``--case random``: the many-objects case of issue 10 (``random < 0.25`` with
6-connectivity at 1024³ in 128³ chunks: 80.8 M objects). The mask is generated lazily,
block by block (one cheap generator per block, nothing on disk). For each merge of the
label engine (dask config ``bigimg.label-merge``: ``tree``, ``client``), in a fresh
process: the ``label`` call (it returns the object count), the pickled size of the
returned labels' graph, then the labels computed (``labels.max()``, which paints every
block). Reports objects, wall times, the peak resident memory of the process, and with
``--cluster`` (a ``LocalCluster`` of 2 single-threaded worker processes) the client's
and the workers' peaks separately. Targets (issue 10): client < 1 GiB, graph < 16 MiB,
call no slower than the client merge's 40 s, on 2 cores.

``--case spheres``: the end-to-end run of issue 10 at ≥ 4096³ (6.9×10¹⁰ voxels). Balls
of random radius on a jittered lattice (``--cell`` voxels apart, some touching their
neighbours, so objects cross blocks and merge), generated block by block by a compiled
generator (no disk). On a cluster of separate processes (a ``dask scheduler`` and 2
single-threaded ``dask worker`` processes, each with its own local directory): the
``label`` call with 26-connectivity (tree merge: it returns the object count), then the labels
written to a sharded zarr v3 store (``--shards`` voxels per shard side, ``--inner`` per
chunk), then the region table (label, area, centroid, bbox) of the stored labels to a
Parquet dataset (``regionprops_table(..., as_dask=True, max_label=count)``). (One compute
for both outputs from the same painted blocks held painted blocks for whichever consumer
ran later: 3.2 GiB per worker at 1024³; reading the stored labels back is cheaper than
painting them again.) ``--occupancy`` sets the fraction of lattice cells holding a ball.
Outputs go to a local folder (``--workdir``) or, with
``--s3``, to a moto S3 server started on 127.0.0.1. Reports objects, wall times, Mvox/s
per core, the pickled graph sizes, and the peak resident memory of the client, the
scheduler and each worker per phase; ``--check`` (small sizes) compares labels and table with scipy and
scikit-image. Target (issue 10): every process under 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time

import dask
import dask.array as da
import numpy as np
import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numba  # noqa: E402

import bigimg  # noqa: E402
from bigimg import ndimage  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402
from bigimg.data import white_noise  # noqa: E402
from bigimg.measure import regionprops_table  # noqa: E402


def _random_block(fraction: float, seed: int, block_id=None, block_info=None) -> np.ndarray:
    """One block of the random mask, from its own generator (no disk, any order)."""
    shape = block_info[None]["chunk-shape"]
    rng = np.random.default_rng([seed, *block_id])
    return rng.random(shape, dtype=np.float32) < fraction


def random_mask(size: int, chunks: int, fraction: float, seed: int = 0) -> da.Array:
    """A lazy ``size``³ bool volume, voxels set with probability ``fraction``."""
    counts = [chunks] * (size // chunks) + ([size % chunks] if size % chunks else [])
    return da.map_blocks(
        _random_block,
        fraction,
        seed,
        chunks=(tuple(counts),) * 3,
        dtype=bool,
        meta=np.empty((0, 0, 0), dtype=bool),
    )


def _random_child(args) -> dict:
    """One merge, in this process: call, graph bytes, compute; returns the measurements."""
    cluster = client = None
    if args.cluster:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
        client = Client(cluster)
    else:
        dask.config.set(scheduler="threads", num_workers=2)
    dask.config.set({"bigimg.label-merge": args.merge})
    ndimage.label(random_mask(16, 8, args.fraction))[0].compute()  # compile the kernels
    x = random_mask(args.size, args.chunks, args.fraction)
    out = {"merge": args.merge, "blocks": x.npartitions}
    with ResourceMonitor(children=False) as client_mem, ResourceMonitor() as total:
        t0 = time.perf_counter()
        labels, count = ndimage.label(x)
        out["call"] = time.perf_counter() - t0
        out["call_peak"] = client_mem.peak_rss if args.cluster else total.peak_rss
        t0 = time.perf_counter()
        out["graph_bytes"] = len(pickle.dumps(labels))
        out["graph_tasks"] = len(labels.__dask_graph__())
        out["pickle"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        top = int(labels.max().compute())
        out["compute"] = time.perf_counter() - t0
    assert top == count, (top, count)
    out.update(objects=int(count), client_peak=client_mem.peak_rss, total_peak=total.peak_rss)
    if client is not None:
        client.close()
        cluster.close()
    return out


def run_random(args) -> None:
    """``--case random``: each merge in a fresh process, then one table."""
    rows = []
    for merge in args.merge:
        command = [sys.executable, __file__, "--case", "random", "--child", "--merge", merge]
        command += ["--size", str(args.size), "--chunks", str(args.chunks)]
        command += ["--fraction", str(args.fraction)] + (["--cluster"] if args.cluster else [])
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            print(result.stdout, result.stderr, file=sys.stderr)
            raise SystemExit(f"the {merge} run failed")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    where = "LocalCluster, 2 worker processes x 1 thread" if args.cluster else "2 threads"
    print(
        f"label, random < {args.fraction} at {args.size}³ in {args.chunks}³ chunks "
        f"({rows[0]['blocks']} blocks), 6-connectivity, {where}"
    )
    print(
        f"{'merge':8s} {'objects':>12s} {'call s':>7s} {'call peak':>10s} {'graph':>10s} "
        f"{'tasks':>7s} {'compute s':>9s} {'client peak':>11s} {'all peak':>10s}"
    )
    for r in rows:
        print(
            f"{r['merge']:8s} {r['objects']:12,d} {r['call']:7.1f} "
            f"{format_bytes(r['call_peak']):>10s} {format_bytes(r['graph_bytes']):>10s} "
            f"{r['graph_tasks']:7d} {r['compute']:9.1f} {format_bytes(r['client_peak']):>11s} "
            f"{format_bytes(r['total_peak']):>10s}"
        )
    print(
        f"load average after the runs: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


# --------------------------------------------------------------------- spheres case
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True)
def _mix(key):
    z = key + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _fill_spheres(out, origin, ncell, cell, seed, occupancy):
    """Set the voxels of ``out`` (one block at ``origin``) inside the lattice's balls.

    Cell ``c`` holds a ball with probability ``occupancy``: centre ``(c + 0.5) * cell``
    jittered by up to a quarter cell per axis, radius 0.15–0.6 cells (so neighbours
    sometimes touch). Everything comes from a hash of the cell index: any block, any
    order, same volume.
    """
    shape = out.shape
    reach = cell  # jitter (cell / 4) + radius (0.6 cell) < cell
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for d in range(3):
        lo[d] = max(0, (origin[d] - reach) // cell)
        hi[d] = min(ncell - 1, (origin[d] + shape[d] + reach) // cell)
    for cz in range(lo[0], hi[0] + 1):
        for cy in range(lo[1], hi[1] + 1):
            for cx in range(lo[2], hi[2] + 1):
                key = np.uint64(((cz * ncell + cy) * ncell + cx) * 4096 + seed)
                h = _mix(key)
                if float(h & np.uint64(0xFFFF)) / 65536.0 >= occupancy:
                    continue
                c = np.empty(3)
                for d, cd in enumerate((cz, cy, cx)):
                    u = float((h >> np.uint64(16 + 12 * d)) & np.uint64(0xFFF)) / 4096.0
                    c[d] = (cd + 0.5) * cell + (u - 0.5) * cell * 0.5 - origin[d]
                u = float((h >> np.uint64(52)) & np.uint64(0xFFF)) / 4096.0
                r = cell * (0.15 + 0.45 * u)
                r2 = r * r
                z0, z1 = max(0, int(np.ceil(c[0] - r))), min(shape[0], int(c[0] + r) + 1)
                y0, y1 = max(0, int(np.ceil(c[1] - r))), min(shape[1], int(c[1] + r) + 1)
                x0, x1 = max(0, int(np.ceil(c[2] - r))), min(shape[2], int(c[2] + r) + 1)
                for z in range(z0, z1):
                    dz = (z - c[0]) ** 2
                    for y in range(y0, y1):
                        dzy = dz + (y - c[1]) ** 2
                        if dzy >= r2:
                            continue
                        for x in range(x0, x1):
                            if dzy + (x - c[2]) ** 2 < r2:
                                out[z, y, x] = True


def _spheres_block(size, cell, seed, occupancy, block_info=None) -> np.ndarray:
    info = block_info[None]
    out = np.zeros(info["chunk-shape"], dtype=bool)
    origin = np.array([lo for lo, _ in info["array-location"]], np.int64)
    _fill_spheres(out, origin, -(-size // cell), cell, seed, occupancy)
    return out


def spheres_mask(size, chunks, cell=16, seed=0, occupancy=0.6) -> da.Array:
    """A lazy ``size``³ bool volume of balls on a jittered lattice (see the module)."""
    counts = [chunks] * (size // chunks) + ([size % chunks] if size % chunks else [])
    return da.map_blocks(
        _spheres_block,
        size,
        cell,
        seed,
        occupancy,
        chunks=(tuple(counts),) * 3,
        dtype=bool,
        meta=np.empty((0, 0, 0), dtype=bool),
    )


class ProcessPeaks:
    """Peak resident memory of this process and of each descendant, sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        import threading

        self.interval = interval
        self.peaks: dict[int, int] = {}
        self.phases: dict[str, dict[int, int]] = {}
        self.total: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    if proc.pid not in self.names:
                        self.names[proc.pid] = " ".join(proc.cmdline()[-2:])[-40:]
                except psutil.Error:
                    continue
                self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
            self._stop.wait(self.interval)

    def mark(self, phase: str) -> None:
        """Close a phase: keep each process's peak since the last mark under ``phase``."""
        self.phases[phase] = dict(self.peaks)
        self.total = {p: max(self.total.get(p, 0), v) for p, v in self.peaks.items()}
        self.peaks = {}

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class SeparateCluster:
    """A scheduler and ``n`` single-threaded workers, each its own process, as on a cluster.

    ``LocalCluster`` runs the scheduler inside the client's process, so the client's
    memory would include the scheduler's task states. Here ``dask scheduler`` and each
    ``dask worker`` are separate processes (started with this interpreter, so they import
    this checkout's bigimg), every worker with its own local directory (no shared
    scratch), and the client holds only what the client holds.
    """

    def __init__(self, work: str, n_workers: int = 2):
        self.work, self.n_workers = work, n_workers
        self.procs: list[subprocess.Popen] = []
        self.pids: dict[int, str] = {}

    def __enter__(self):
        from distributed import Client

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        )
        env.setdefault("MALLOC_TRIM_THRESHOLD_", "65536")
        cli = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        sched_file = os.path.join(self.work, "scheduler.json")
        common = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(
            subprocess.Popen(
                [
                    *cli,
                    "--scheduler-file",
                    sched_file,
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                **common,
            )
        )
        self.pids[self.procs[-1].pid] = "scheduler"
        deadline = time.time() + 60
        while not os.path.exists(sched_file) and time.time() < deadline:
            time.sleep(0.1)
        for i in range(self.n_workers):
            local = os.path.join(self.work, f"worker-{i}")
            os.makedirs(local, exist_ok=True)
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        "--scheduler-file",
                        sched_file,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--no-nanny",
                        "--memory-limit",
                        "0",
                        "--local-directory",
                        local,
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    **common,
                )
            )
            self.pids[self.procs[-1].pid] = f"worker {i}"
        self.client = Client(scheduler_file=sched_file)
        self.client.wait_for_workers(self.n_workers, timeout=120)
        return self.client

    def __exit__(self, *exc):
        try:
            self.client.close()
        finally:
            for proc in self.procs[::-1]:
                proc.terminate()
            for proc in self.procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run_spheres(args) -> None:
    """``--case spheres``: generator -> label (26-conn) -> sharded labels + Parquet table."""
    structure = np.ones((3, 3, 3), bool)
    work = tempfile.mkdtemp(prefix="bigimg-spheres-", dir=args.workdir)
    server = None
    options = None
    if args.s3:
        from tests._s3 import start_s3

        server = start_s3()
        bucket = server.new_bucket("spheres")
        options = server.options
        base = f"s3://{bucket}"
    else:
        base = work
    labels_url, table_url = f"{base}/labels.zarr", f"{base}/regions.parquet"
    voxels = float(args.size) ** 3
    out: dict = {}
    try:
        cluster = SeparateCluster(work)
        with ProcessPeaks() as peaks, cluster:
            with dask.config.set({"bigimg.label-merge": "tree"}):
                ndimage.label(spheres_mask(32, 16, args.cell), structure)[0].compute()  # jit
                mask = spheres_mask(args.size, args.chunks, args.cell, occupancy=args.occupancy)
                t0 = time.perf_counter()
                labels, count = ndimage.label(mask, structure)
                out["call"] = time.perf_counter() - t0
            peaks.mark("label call")
            out["label_graph"] = len(pickle.dumps(labels))
            t0 = time.perf_counter()
            bigimg.save_zarr(
                labels,
                labels_url,
                chunks=args.inner,
                shards=args.shards or None,
                storage_options=options,
                progress=False,
            )
            out["write"] = time.perf_counter() - t0
            peaks.mark("labels -> zarr")
            t0 = time.perf_counter()
            stored = bigimg.open_zarr(labels_url, storage_options=options)
            frame = regionprops_table(
                stored, None, ("label", "area", "centroid", "bbox"), as_dask=True, max_label=count
            )
            out["table_graph"] = len(pickle.dumps(frame))
            out["partitions"] = frame.npartitions
            frame.to_parquet(table_url, storage_options=options)
            out["table"] = time.perf_counter() - t0
            peaks.mark("table -> Parquet")
        import pyarrow.parquet as pq

        fs_kwargs = {"filesystem": None}
        if options is not None:
            import s3fs

            fs_kwargs["filesystem"] = s3fs.S3FileSystem(**options)
            table_path = table_url[len("s3://") :]
        else:
            table_path = table_url
        rows = pq.ParquetDataset(table_path, **fs_kwargs).files
        nrows = sum(
            pq.ParquetFile(
                f if options is None else fs_kwargs["filesystem"].open(f)
            ).metadata.num_rows
            for f in rows
        )
        assert nrows == count, (nrows, count)
        if args.check:
            from scipy import ndimage as ndi
            from skimage.measure import regionprops_table as sk_table

            dense = spheres_mask(args.size, args.chunks, args.cell, occupancy=args.occupancy)
            ref, n = ndi.label(dense.compute(), structure)
            got = bigimg.open_zarr(labels_url, storage_options=options).compute()
            assert n == count and np.array_equal(got, ref), "labels differ from scipy"
            import pandas as pd

            table = pd.read_parquet(table_url, storage_options=options).sort_index()
            props = ("label", "area", "centroid", "bbox")
            sk = sk_table(ref, properties=props)
            for key, col in sk.items():
                np.testing.assert_allclose(table[key].to_numpy(), col, rtol=1e-9, err_msg=key)
            print("check: labels equal scipy's, table equals scikit-image's")
    finally:
        if server is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    me = os.getpid()
    total_s = out["call"] + out["write"] + out["table"]
    where = "moto S3 on 127.0.0.1" if args.s3 else "local disk"
    shards = f"{args.shards}³ shards" if args.shards else "unsharded"
    print(
        f"spheres {args.size}³ ({voxels:.3g} voxels) in {args.chunks}³ blocks "
        f"({mask.npartitions} blocks), cell {args.cell}, occupancy {args.occupancy}, "
        f"26-connectivity, tree merge; a scheduler and 2 single-threaded workers, each its own "
        f"process with its own local directory; outputs on {where}"
    )
    rows = (
        ("label call (count)", out["call"]),
        (f"labels -> zarr ({args.inner}³ chunks, {shards})", out["write"]),
        (f"stored labels -> table -> Parquet ({out['partitions']} parts)", out["table"]),
        ("end to end", total_s),
    )
    print(f"  objects {count:,}")
    for what, seconds in rows:
        print(f"  {what:52s} {seconds:8.1f} s {voxels / seconds / 2e6:8.1f} Mvox/s per core")
    print(
        f"  graphs (pickled): labels {format_bytes(out['label_graph'])}, "
        f"table {format_bytes(out['table_graph'])}"
    )
    others = [pid for pid in sorted(cluster.pids) if pid in peaks.total]
    heads = "".join(f"{cluster.pids[p]:>12s}" for p in others)
    print(f"  {'peak RSS per phase':52s} {'client':>10s}{heads}")
    for phase, seen in peaks.phases.items():
        cells = "".join(f"{format_bytes(seen.get(p, 0)):>12s}" for p in others)
        print(f"  {phase:52s} {format_bytes(seen.get(me, 0)):>10s}{cells}")
    print(
        f"  load average after the run: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("blobs", "random", "spheres"), default="blobs")
    parser.add_argument("--cell", type=int, default=16, help="spheres: lattice spacing")
    parser.add_argument("--inner", type=int, default=64, help="spheres: zarr chunk side")
    parser.add_argument("--occupancy", type=float, default=0.6, help="spheres: cells with a ball")
    parser.add_argument("--shards", type=int, default=256, help="spheres: shard side (0: none)")
    parser.add_argument("--s3", action="store_true", help="spheres: outputs to moto S3")
    parser.add_argument("--check", action="store_true", help="spheres: compare with scipy")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--sigma", type=float, default=1.2)
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--merge", nargs="+", default=["tree", "client"])
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    if args.case == "spheres":
        run_spheres(args)
        return
    if args.case == "random":
        if args.child:
            args.merge = args.merge[0]
            print(json.dumps(_random_child(args)))
        else:
            run_random(args)
        return
    shape = (args.size,) * 3
    work = tempfile.mkdtemp(prefix="bigimg-label-scale-", dir=args.workdir)
    try:
        with ResourceMonitor() as total:
            t0 = time.perf_counter()
            noise = white_noise(shape, chunks=args.chunks, seed=0)
            smooth = ndimage.gaussian_filter(noise, args.sigma)
            std = (8.0 * np.pi**1.5 * args.sigma**3) ** -0.5
            mask_path = os.path.join(work, "mask.zarr")
            bigimg.save_zarr(smooth > 1.0 * std, mask_path, progress=False)
            t_mask = time.perf_counter() - t0

            t0 = time.perf_counter()
            mask = bigimg.open_zarr(mask_path)
            labels, count = ndimage.label(mask)
            t_label = time.perf_counter() - t0
            graph_tasks = len(labels.__dask_graph__())

            t0 = time.perf_counter()
            labels_path = os.path.join(work, "labels.zarr")
            bigimg.save_zarr(labels, labels_path, progress=False)
            t_store = time.perf_counter() - t0

            t0 = time.perf_counter()
            table = regionprops_table(
                bigimg.open_zarr(labels_path), properties=("label", "area", "centroid", "bbox")
            )
            t_table = time.perf_counter() - t0
        assert len(table["label"]) == count
        voxels = float(np.prod(shape))
        print(
            f"label scale run: {shape} in {args.chunks}³ chunks "
            f"({mask.npartitions} blocks), {count:,} objects"
        )
        print(f"  blob mask -> zarr              {t_mask:7.1f} s")
        print(
            f"  label: summaries + numbering   {t_label:7.1f} s  "
            f"({voxels / t_label / 1e6:.0f} Mvoxel/s; {graph_tasks} tasks in the label graph)"
        )
        print(f"  labels -> zarr                 {t_store:7.1f} s")
        print(f"  regionprops_table, all objects {t_table:7.1f} s")
        print(f"  total {total.seconds:.1f} s; peak RSS {format_bytes(total.peak_rss)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
