"""Peak memory of a filter chain on wide planes: streaming, spilling, dask's overlap path.

    python benchmarks/bench_streaming.py [--planes 384] [--side 2048] [--chunks 128]

Writes a raw uint16 volume of ``planes x side x side`` (a smooth pattern plus noise,
written slab by slab), then runs ``binary_opening(gaussian_filter(ct, 1) > t)`` to zarr
five ways, in one run on the same file:

1. bigimg streaming: the threshold keeps the region source (``bigimg/_pointwise.py``),
   so every output block reads and filters its own halo-extended region;
2. bigimg spilling: a ``map_blocks`` after the Gaussian ends the source, the opening
   writes its input once to disk and streams from there (``bigimg/_halo_spill.py``);
3. bigimg on dask's overlap path: as 2, with spilling switched off;
4. dask-image (``ndfilters.gaussian_filter`` + ``ndmorph.binary_opening``) on
   ``da.from_array`` of the memory-mapped file (dask's overlap path);
5. scipy on the whole array in memory, unless ``--no-scipy``.

Each runs in a fresh process after a small warm-up (imports, numba compilation) and
prints its wall time and the process's peak resident memory (sampled every 20 ms);
the run then checks that all results are identical. On many blocks per plane the overlap path's
memory grows with the volume: it is the row to compare with 1 and 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import dask
import dask.array as da
import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import bigimg  # noqa: E402
from bigimg import ndimage  # noqa: E402
from bigimg._monitor import ResourceMonitor, format_bytes  # noqa: E402

try:
    import dask_image.ndfilters as dif
    import dask_image.ndmorph as dim
except ImportError:  # pragma: no cover - dask-image is a bench extra
    dif = dim = None

THRESHOLD = 1200.0


def write_volume(path: str, shape: tuple[int, int, int], seed: int = 0) -> None:
    """A smooth pattern (blobs of about 40 voxels) plus noise, as uint16, slab by slab."""
    rng = np.random.default_rng(seed)
    _, ny, nx = shape
    y = np.sin(np.arange(ny, dtype=np.float32) / 13.0)[:, None]
    x = np.cos(np.arange(nx, dtype=np.float32) / 11.0)[None, :]
    out = np.memmap(path, np.uint16, "w+", shape=shape)
    for z0 in range(0, shape[0], 16):
        z = np.sin(np.arange(z0, min(z0 + 16, shape[0]), dtype=np.float32) / 9.0)
        slab = 1000 + 300 * (z[:, None, None] + y + x)
        slab += rng.normal(0, 60, slab.shape).astype(np.float32)
        out[z0 : z0 + len(z)] = np.clip(slab, 0, 65535).astype(np.uint16)
    out.flush()
    del out


VARIANTS = {
    "streaming": "bigimg, streaming",
    "spilling": "bigimg, input spilled to disk",
    "overlap": "bigimg, dask's overlap path",
    "dask-image": "dask-image",
    "scipy": "scipy, in memory",
}


def compute_variant(name: str, raw: str, shape, chunks: int, out: str, workdir: str) -> None:
    """Run one variant from ``raw`` to the zarr store ``out``."""

    def chain(ct, sourceless: bool):
        smooth = ndimage.gaussian_filter(ct, 1.0, output=np.float32)
        if sourceless:
            smooth = smooth.map_blocks(np.copy, dtype=np.float32)
        return ndimage.binary_opening(smooth > THRESHOLD)

    if name in ("streaming", "spilling", "overlap"):
        settings = {
            "streaming": {},
            "spilling": {"temporary-directory": workdir, "bigimg.halo-spill-bytes": 0},
            "overlap": {"bigimg.halo-spill-bytes": 2**62},
        }[name]
        with dask.config.set(settings):
            ct = bigimg.open_raw(raw, shape, np.uint16, chunks=chunks)
            bigimg.save_zarr(chain(ct, name != "streaming"), out, progress=False)
    elif name == "dask-image":
        x = da.from_array(np.memmap(raw, np.uint16, "r", shape=shape), chunks=chunks)
        smooth = dif.gaussian_filter(x.astype(np.float32), 1.0)
        bigimg.save_zarr(dim.binary_opening(smooth > THRESHOLD), out, progress=False)
    else:
        data = np.fromfile(raw, np.uint16).reshape(shape)
        smooth = ndi.gaussian_filter(data, 1.0, output=np.float32)
        del data
        bigimg.save_zarr(ndi.binary_opening(smooth > THRESHOLD), out, progress=False)


def child(args) -> int:
    """One variant in this fresh process, after a small warm-up run (imports, JIT)."""
    shape = tuple(args.shape)
    warm = os.path.join(args.workdir, f"warm-{args.variant}")
    os.makedirs(warm)
    write_volume(os.path.join(warm, "w.raw"), (24, 40, 40))
    compute_variant(
        args.variant,
        os.path.join(warm, "w.raw"),
        (24, 40, 40),
        16,
        os.path.join(warm, "w.zarr"),
        warm,
    )
    shutil.rmtree(warm)
    out = os.path.join(args.workdir, f"{args.variant}.zarr")
    with ResourceMonitor() as mon:
        compute_variant(args.variant, args.raw, shape, args.chunks, out, args.workdir)
    print(f"{mon.seconds} {mon.peak_rss} {mon.peak_increase}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--planes", type=int, default=384)
    p.add_argument("--side", type=int, default=2048)
    p.add_argument("--chunks", type=int, default=128)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--no-scipy", action="store_true")
    p.add_argument("--workdir", help="default: a temporary folder in the current directory")
    p.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant
    p.add_argument("--raw", help=argparse.SUPPRESS)
    p.add_argument("--shape", type=int, nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    dask.config.set(scheduler="threads", num_workers=args.workers)
    if args.variant:
        return child(args)
    shape = (args.planes, args.side, args.side)
    workdir = tempfile.mkdtemp(prefix=".bench_streaming-", dir=args.workdir or os.getcwd())
    raw = os.path.join(workdir, "ct.raw")
    try:
        write_volume(raw, shape)
        blocks = -(-args.side // args.chunks)
        print(
            f"volume {shape} uint16 ({format_bytes(2 * np.prod(shape))}), {args.chunks}^3 "
            f"chunks, {blocks}x{blocks} blocks per layer, {args.workers} threads; each row "
            "in a fresh process after a warm-up; peak RSS of that process"
        )
        names = [n for n in VARIANTS if not (n == "scipy" and args.no_scipy)]
        if dif is None:
            names.remove("dask-image")
        for name in names:
            cmd = [sys.executable, __file__, "--variant", name, "--raw", raw, "--workdir", workdir]
            cmd += ["--shape", *map(str, shape), "--chunks", str(args.chunks)]
            cmd += ["--workers", str(args.workers)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                print(f"  {VARIANTS[name]}: failed\n{res.stderr[-2000:]}")
                continue
            seconds, peak, _ = res.stdout.split()[-3:]
            print(
                f"  {VARIANTS[name]:<34s} {float(seconds):8.1f} s   peak RSS "
                f"{format_bytes(int(peak)):>10s}"
            )
        ref = bigimg.open_zarr(os.path.join(workdir, "streaming.zarr"))
        print(f"  foreground {float(ref.mean().compute()):.1%}")
        for name in names[1:]:
            path = os.path.join(workdir, f"{name}.zarr")
            if os.path.isdir(path):
                same = bool(da.all(bigimg.open_zarr(path) == ref).compute())
                print(f"  {name:<12s} equal to streaming: {same}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
