"""Peak resident memory and wall time of a piece of work (for the demo and benchmarks)."""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

import psutil

__all__ = ["DiskMonitor", "ResourceMonitor", "format_bytes"]


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class _Sampler:
    """Samples ``_sample()`` on a thread every ``interval`` seconds while a block runs.

    ``peak`` is the highest value seen.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._sample())

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _join(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()


class ResourceMonitor(_Sampler):
    """Sample this process's resident memory (plus its children's) while a block runs.

    >>> with ResourceMonitor() as mon:
    ...     _ = bytearray(10_000_000)
    >>> mon.peak_rss >= mon.start_rss and mon.seconds >= 0
    True

    ``peak_rss`` is the highest resident set size seen (sampled every ``interval``
    seconds, so very short spikes can be missed); ``peak_increase`` is that minus the
    resident size at entry.
    """

    def __init__(self, interval: float = 0.02, *, children: bool = True) -> None:
        super().__init__(interval)
        self.children = children
        self._proc = psutil.Process()
        self.start_rss = 0
        self.seconds = 0.0

    def _sample(self) -> int:
        rss = self._proc.memory_info().rss
        if self.children:
            for child in self._proc.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass
        return rss

    def __enter__(self) -> ResourceMonitor:
        self.start_rss = self.peak = self._sample()
        self._t0 = time.perf_counter()
        self._start()
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.seconds = time.perf_counter() - self._t0
        self._join()
        self.peak = max(self.peak, self._sample())

    @property
    def peak_rss(self) -> int:
        return self.peak

    @property
    def peak_increase(self) -> int:
        return max(0, self.peak - self.start_rss)


class DiskMonitor(_Sampler):
    """Peak disk space allocated by the files under ``path`` while a block runs.

    Counts allocated blocks (``st_blocks``), so sparse files count what they hold, not
    their length; sampled every ``interval`` seconds.
    """

    def __init__(self, path: str, interval: float = 0.2) -> None:
        super().__init__(interval)
        self.path = path

    def used(self) -> int:
        total = 0
        for root, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_blocks * 512
                except OSError:  # deleted meanwhile
                    pass
        return total

    _sample = used

    def __enter__(self) -> DiskMonitor:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._join()
