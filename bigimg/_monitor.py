"""Watching work: progress bars, peak resident memory, wall time and disk use.

Progress has one switch and one mechanism. Writers take ``progress=True/False/None``;
calls that compute when called (``label``, thresholds, region tables, ...) are
wrapped by :func:`shows_progress`. ``None`` (the default everywhere) follows the dask
config key ``bigimg.progress`` if it is set, else shows progress when stderr is a
terminal (:func:`resolve_progress`). :func:`progress_bar` shows it: on dask's local
schedulers a tqdm bar per computation, counting tasks (dask callbacks); on a
``dask.distributed`` cluster a tqdm bar over the tasks behind the futures the client
holds, counted on the scheduler a few times a second. Nested blocks show the
outermost bar only.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import dask
import psutil

__all__ = [
    "PROGRESS_KEY",
    "DiskMonitor",
    "ResourceMonitor",
    "format_bytes",
    "progress_bar",
    "resolve_progress",
    "shows_progress",
]

#: dask config key: the default of every ``progress=None`` (True, False or None).
PROGRESS_KEY = "bigimg.progress"

#: How often the bar of a ``dask.distributed`` computation asks the scheduler (seconds).
CLUSTER_POLL_SECONDS = 0.5

#: The description of the progress block running in this context, if any.
_ACTIVE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bigimg_progress", default=None
)


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


def resolve_progress(progress) -> bool:
    """``progress=`` as a bool: ``None`` means the config key ``bigimg.progress`` if
    set, else whether stderr is a terminal.

    >>> resolve_progress(False), resolve_progress(True)
    (False, True)
    >>> with dask.config.set({"bigimg.progress": True}):
    ...     resolve_progress(None)
    True
    """
    where = "`progress`"
    if progress is None:
        progress = dask.config.get(PROGRESS_KEY, None)
        where = f"dask config {PROGRESS_KEY!r}"
        if progress is None:
            return bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not isinstance(progress, bool):
        raise TypeError(f"{where} must be True, False or None; got {progress!r}.")
    return progress


def _tqdm_class():
    """tqdm's notebook bar in Jupyter when ipywidgets is there, else the text bar."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm


def _distributed_client():
    """The ``distributed`` client behind dask's current scheduler, or None."""
    from dask.base import get_scheduler

    owner = getattr(get_scheduler(), "__self__", None)
    return owner if type(owner).__module__.partition(".")[0] == "distributed" else None


@contextlib.contextmanager
def progress_bar(show: bool, desc: str) -> Iterator[None]:
    """Show the progress of every dask computation in the block (see the module).

    >>> import dask.array as da
    >>> with progress_bar(False, "sum"):
    ...     int(da.ones(10, chunks=5).sum().compute())
    10
    """
    if not show or _ACTIVE.get() is not None:
        yield
        return
    token = _ACTIVE.set(desc)
    try:
        client = _distributed_client()
        if client is None:
            from tqdm.dask import TqdmCallback

            with TqdmCallback(desc=desc, unit="task", leave=False, tqdm_class=_tqdm_class()):
                yield
        else:
            with _ClusterBar(client, desc):
                yield
    finally:
        _ACTIVE.reset(token)


def shows_progress(func: Callable) -> Callable:
    """``func`` (a call that computes when called) with its computations showing
    progress as :func:`progress_bar` does, named after it and switched by
    :func:`resolve_progress` (``None``: the config key, else a terminal).

    >>> import dask.array as da
    >>> total = shows_progress(lambda x: int(x.sum().compute()))
    >>> total(da.ones(10, chunks=5))
    10
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _ACTIVE.get() is not None or not resolve_progress(None):
            return func(*args, **kwargs)
        with progress_bar(True, func.__name__):
            return func(*args, **kwargs)

    return wrapper


def _tasks_left_function() -> Callable:
    """The function the bar runs on the scheduler, made here (not at module level) so
    that it is pickled by value: the scheduler need not be able to import bigimg."""

    def tasks_left(keys: list, dask_scheduler=None) -> tuple[int, int]:
        """(tasks behind ``keys``, those not computed yet).

        Tasks computed and no longer needed are released, then forgotten: once the
        graph is submitted, "released" means done (the bar's total is the largest
        count seen).
        """
        todo = {"waiting", "queued", "processing", "no-worker"}
        stack = [dask_scheduler.tasks[k] for k in keys if k in dask_scheduler.tasks]
        seen, left = set(), 0
        while stack:
            ts = stack.pop()
            if ts.key in seen:
                continue
            seen.add(ts.key)
            left += ts.state in todo
            stack.extend(ts.dependencies)
        return len(seen), left

    return tasks_left


class _ClusterBar:
    """A tqdm bar over the tasks behind the futures the client takes in the block.

    A thread polls: the keys the client holds that it did not hold before the block
    are the block's; the scheduler counts the tasks behind them and how many are left.
    A computation whose keys share none with the previous one starts a new bar.
    """

    def __init__(self, client, desc: str) -> None:
        self.client, self.desc, self.interval = client, desc, CLUSTER_POLL_SECONDS
        self._before = set(client.futures)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._bar = None
        self._keys: set = set()

    def __enter__(self) -> _ClusterBar:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _run(self) -> None:
        tqdm, tasks_left = _tqdm_class(), _tasks_left_function()
        while not self._stop.wait(self.interval):
            held = [k for k in list(self.client.futures) if k not in self._before]
            if not held:
                continue
            try:
                total, left = self.client.run_on_scheduler(tasks_left, held)
            except Exception:  # the cluster went away or refuses to run functions
                return
            if self._bar is None or not self._keys.intersection(held):
                self._close()
                self._keys = set()
                self._bar = tqdm(
                    total=total, initial=total - left, desc=self.desc, unit="task", leave=False
                )
            self._keys.update(held)
            self._bar.total = max(self._bar.total, total)
            self._bar.update(max(0, self._bar.total - left - self._bar.n))  # never backwards
