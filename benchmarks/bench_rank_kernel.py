"""Benchmark the per-block rank kernel against scipy.ndimage on the same block.

Run from the repository root::

    python benchmarks/bench_rank_kernel.py                 # 128^3 blocks
    python benchmarks/bench_rank_kernel.py --size 96 --repeat 5

For float32 and uint16 CT-like blocks it times, single-threaded,

* ``median3``: ``scipy.ndimage.median_filter(size=3)`` vs
  ``rank_filter_block(block, 13, ones((3, 3, 3)))``;
* ``rank5``: ``scipy.ndimage.rank_filter(size=5)`` at the median (rank 62) and at the
  25th percentile (rank 31) vs the kernel,

and prints the best wall time of ``--repeat`` runs, the ratio scipy / kernel (> 1: the
kernel is faster), the peak memory numpy allocated during the call (input not
included), and checks
that the results are identical. A last line times the kernel on two blocks in two
threads to show that it releases the GIL (ideal speed-up 2 on 2 free cores).

Target: at least 2.5x faster than scipy per block for the 3x3x3 median. Numbers are
noisy on a shared machine; compile time is excluded (one warm-up call).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage as ndi

from bigimg._morphology import rank_filter_block
from bigimg.testing import ct_phantom


class PeakMemory:
    """Peak of the memory numpy allocates (tracemalloc) while the block is open.

    RSS sampling misses short-lived buffers that the allocator reuses between runs;
    numpy reports every array allocation to tracemalloc. Memory allocated inside
    numba kernels (here ~128 KiB of working rows) is not counted.
    """

    def __enter__(self) -> PeakMemory:
        tracemalloc.start()
        tracemalloc.reset_peak()
        return self

    def __exit__(self, *exc) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    @property
    def mib(self) -> float:
        return self.peak / 2**20


def best_of(repeat: int, func):
    """(best seconds, peak MiB, last result) over ``repeat`` calls."""
    best, peak, result = np.inf, 0.0, None
    for _ in range(repeat):
        result = None
        with PeakMemory() as mem:
            start = time.perf_counter()
            result = func()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, mem.mib)
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="block edge length")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    args = parser.parse_args()
    shape = (args.size,) * 3
    cases = [
        ("median3", np.ones((3, 3, 3), bool), 13, lambda b: ndi.median_filter(b, size=3)),
        ("rank5 r62", np.ones((5, 5, 5), bool), 62, lambda b: ndi.rank_filter(b, 62, size=5)),
        ("rank5 r31", np.ones((5, 5, 5), bool), 31, lambda b: ndi.rank_filter(b, 31, size=5)),
    ]
    print(f"block {shape}, best of {args.repeat}, single thread")
    print(
        f"{'workload':<11}{'dtype':<9}{'scipy s':>9}{'kernel s':>10}{'ratio':>8}"
        f"{'scipy MiB':>11}{'kernel MiB':>12}  equal"
    )
    blocks = {}
    for dtype in (np.float32, np.uint16):
        block = ct_phantom(shape, dtype=dtype, seed=1)
        blocks[np.dtype(dtype).name] = block
        for name, fp, rank, twin in cases:

            def kernel(block=block, fp=fp, rank=rank):
                return rank_filter_block(block, rank, fp, "reflect", 0.0, (0, 0, 0))

            kernel()  # compile / load the numba cache, build the network
            t_k, m_k, got = best_of(args.repeat, kernel)
            t_s, m_s, want = best_of(
                1 if name.startswith("rank5") else args.repeat,
                lambda block=block, twin=twin: twin(block),
            )
            equal = got is not None and np.array_equal(got, want)
            print(
                f"{name:<11}{np.dtype(dtype).name:<9}{t_s:>9.3f}{t_k:>10.4f}{t_s / t_k:>8.1f}"
                f"{m_s:>11.1f}{m_k:>12.1f}  {equal}"
            )

    block = blocks["float32"]
    fp = np.ones((3, 3, 3), bool)

    def one():
        return rank_filter_block(block, 13, fp, "reflect", 0.0, (0, 0, 0))

    t_one, _, _ = best_of(args.repeat, lambda: [one(), one()])
    with ThreadPoolExecutor(2) as pool:
        t_two, _, _ = best_of(args.repeat, lambda: list(pool.map(lambda _: one(), range(2))))
    print(
        f"median3 float32, two blocks: sequential {t_one:.4f} s, two threads {t_two:.4f} s, "
        f"speed-up {t_one / t_two:.2f}"
    )


if __name__ == "__main__":
    main()
