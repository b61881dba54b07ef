"""Helpers that look inside the cluster: who ran what, who mapped which file, killing a worker.

Functions here are imported by the worker processes too (``client.run`` pickles them
by reference), so the module imports nothing from pytest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import dask.array as da
import numpy as np
from dask.base import tokenize


def worker_pids(client) -> dict[str, int]:
    """Worker address -> process id of that worker."""
    return client.run(os.getpid)


def _transitions(dask_scheduler=None) -> int:
    return dask_scheduler.transition_counter


def scheduler_transitions(client) -> int:
    """How many task state changes the scheduler has made (grows when tasks are run)."""
    return client.run_on_scheduler(_transitions)


def wait_until_gone(client, address: str, timeout: float = 60.0) -> None:
    """Wait until the scheduler has dropped the worker at ``address``."""
    deadline = time.monotonic() + timeout
    while address in client.scheduler_info(n_workers=-1)["workers"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scheduler still lists the killed worker {address}")
        time.sleep(0.05)


# ------------------------------------------------------------------ who maps raw files
class _Guarded(np.memmap):
    """Stand-in for ``numpy.memmap`` that checks (and logs) the files it maps."""

    folder = ""
    refuse = False
    log: list[tuple[int, str]] = []
    original = np.memmap

    def __new__(cls, filename, *args, **kwargs):
        name = (
            os.path.abspath(os.fspath(filename)) if isinstance(filename, str | os.PathLike) else ""
        )
        if name.startswith(cls.folder + os.sep):
            cls.log.append((os.getpid(), name))
            if cls.refuse:
                raise AssertionError(f"process {os.getpid()} mapped {name}; only workers may")
        return cls.original.__new__(cls.original, filename, *args, **kwargs)


def _install(folder: str, refuse: bool) -> type:
    """Guard ``numpy.memmap`` and the raw reader's and writer's positional reads/writes."""
    from bigimg.io import _raw

    guard = type("GuardedMemmap", (_Guarded,), {})
    guard.folder, guard.refuse, guard.log = os.path.abspath(folder), refuse, []
    guard.original = np.memmap
    guard.originals = {"read_runs": _raw.read_runs, "write_runs": _raw.write_runs}

    def guarded(name, verb):
        original = guard.originals[name]

        def run(path, *args, **kwargs):
            full = os.path.abspath(path)
            if full.startswith(guard.folder + os.sep):
                guard.log.append((os.getpid(), full))
                if guard.refuse:
                    raise AssertionError(f"process {os.getpid()} {verb} {full}; only workers may")
            return original(path, *args, **kwargs)

        return run

    np.memmap = guard
    _raw.read_runs = guarded("read_runs", "read")
    _raw.write_runs = guarded("write_runs", "wrote")
    return guard


def _uninstall(guard: type) -> list[tuple[int, str]]:
    from bigimg.io import _raw

    np.memmap = guard.original
    for name, original in guard.originals.items():
        setattr(_raw, name, original)
    return guard.log


@contextlib.contextmanager
def client_cannot_map(folder: str) -> Iterator[list[tuple[int, str]]]:
    """Fail any memory map of a file under ``folder`` made in this (the client's) process.

    Raw files are read and written through ``numpy.memmap`` inside tasks; on the cluster
    those run in the worker processes, so the client must never map one. Yields the log
    of refused maps (a caller that swallowed the error still shows up there).
    """
    guard = _install(folder, refuse=True)
    try:
        yield guard.log
    finally:
        _uninstall(guard)


def _start_recording(folder: str) -> None:  # runs in a worker
    global _RECORDER
    _RECORDER = _install(folder, refuse=False)


def _stop_recording() -> list[tuple[int, str]]:  # runs in a worker
    return _uninstall(_RECORDER)


_RECORDER: type | None = None


@contextlib.contextmanager
def workers_record_maps(client, folder: str) -> Iterator[list[tuple[int, str]]]:
    """Log (pid, path) of every memory map of a file under ``folder`` made in a worker."""
    log: list[tuple[int, str]] = []
    client.run(_start_recording, folder)
    try:
        yield log
    finally:
        for entries in client.run(_stop_recording).values():
            log.extend(entries)


# ------------------------------------------------------------------ killing a worker
def _slow_copy(block: np.ndarray, seconds: float, log: str) -> np.ndarray:
    time.sleep(seconds)
    with open(log, "a") as f:  # one line per finished block: when to strike, and whom
        f.write(f"{os.getpid()}\n")
    return block.copy()


def slowly(x: da.Array, seconds: float, log: str) -> da.Array:
    """``x`` with every block held up ``seconds``, logging the pid that finished it.

    The values are ``x``'s (the step is pure); the log tells :class:`WorkerKiller` how
    far the computation is.
    """
    name = f"slowcopy-{tokenize(x, seconds, log)}"
    return x.map_blocks(_slow_copy, seconds, str(log), dtype=x.dtype, name=name)


def _finished(log: str) -> list[int]:
    try:
        with open(log) as f:
            return [int(line) for line in f.read().split()]
    except FileNotFoundError:
        return []


class WorkerKiller(threading.Thread):
    """SIGKILL a worker once ``after`` blocks of :func:`slowly` are logged in ``log``.

    The victim is the worker that finished most of them (it holds results others
    need). Use it as a context manager around a computation; ``killed`` then holds the
    victim's address and pid and how many blocks were finished when it died.
    """

    def __init__(self, client, log: str, after: int = 4, timeout: float = 120.0):
        super().__init__(daemon=True)
        self.client, self.log, self.after, self.timeout = client, str(log), after, timeout
        self.pids = worker_pids(client)
        self.killed: dict | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()

    def finished(self) -> list[int]:
        """The pid of the worker that finished each slowed block so far."""
        return _finished(self.log)

    def ready(self, finished: list[int]) -> bool:
        """Whether to strike now, given :meth:`finished`."""
        return len(finished) >= self.after

    def kill(self, victim: str, finished: list[int]) -> dict:
        """SIGKILL the worker at ``victim``; what :attr:`killed` records."""
        os.kill(self.pids[victim], signal.SIGKILL)
        return {"address": victim, "pid": self.pids[victim], "finished": len(finished)}

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while not self._done.is_set() and time.monotonic() < deadline:
                finished = self.finished()
                if self.ready(finished):
                    victim = max(self.pids, key=lambda a: finished.count(self.pids[a]))
                    self.killed = self.kill(victim, finished)
                    return
                time.sleep(0.01)
        except BaseException as exc:  # reported by __exit__
            self.error = exc

    def __enter__(self) -> WorkerKiller:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self.join()
        if self.killed is not None:  # its nanny starts a new one; the fixture waits for it
            wait_until_gone(self.client, self.killed["address"])
        if self.error is not None and exc[0] is None:
            raise self.error
