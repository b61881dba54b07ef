"""A cluster that looks like a cloud cluster: worker processes that share no disk.

:class:`OwnDisk` is the nanny of such a worker: its worker gets a local directory and
a temporary directory (dask's ``temporary-directory`` and ``TMPDIR``) of its own,
which no other process uses. Inputs, outputs and scratch are then on an object store
(the tests' S3 server), as on Kubernetes or a cloud service.

:func:`install_guard` (in the client) and :class:`NoSharedScratch` (a worker plugin,
applied again to a worker restarted after a kill) refuse a local scratch prefix
anywhere but under the process's own temporary directory (the client has none), and
log every scratch prefix made and every scratch block written, so a test can show
that its spills went to the object store.

:func:`slowly` and :class:`EventKiller` kill a worker in the middle of a computation
without a file shared with the workers: the slowed tasks report to the scheduler
(``log_event``) and the killer reads the events.

Functions here run in the worker processes too (``client.run`` and the plugin pickle
them by reference), so the module imports nothing from pytest.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter

import dask
import dask.array as da
import numpy as np
import psutil
from dask.base import tokenize
from dask.utils import key_split
from distributed import Nanny, WorkerPlugin, get_worker

from bigimg._scratch import Scratch
from tests.distributed._cluster import WorkerKiller


# ------------------------------------------------------------------ workers' own disks
class OwnDisk(Nanny):
    """A nanny whose worker has its own local and temporary directories.

    Each nanny makes ``<disk_root>/worker-XXXX/{local,tmp}``: the worker's
    ``local_directory`` (dask's spill files) and its ``temporary-directory`` (dask
    config) and ``TMPDIR``. A worker restarted by its nanny keeps them. ``config``
    entries are given to the worker as well (``bigimg.*`` keys read on the worker).
    """

    def __init__(self, *args, disk_root: str, local_directory=None, config=None, env=None, **kw):
        root = tempfile.mkdtemp(prefix="worker-", dir=disk_root)
        tmp = os.path.join(root, "tmp")
        os.mkdir(tmp)
        config = {**(config or {}), "temporary-directory": tmp}
        env = {**(env or {}), "TMPDIR": tmp}
        local = os.path.join(root, "local")
        super().__init__(*args, local_directory=local, config=config, env=env, **kw)


def disks(dask_worker=None) -> dict:
    """This worker's directories (run with ``client.run``)."""
    return {
        "pid": os.getpid(),
        "local_directory": dask_worker.local_directory,
        "temporary-directory": dask.config.get("temporary-directory", None),
        "gettempdir": tempfile.gettempdir(),
    }


def rss() -> int:
    """This process's resident memory in bytes."""
    return psutil.Process().memory_info().rss


# ------------------------------------------------------------------ the scratch guard
#: ("made" or "wrote", pid, path) for every scratch prefix made and block written here.
LOG: list[tuple[str, int, str]] = []
_ORIGINAL: dict = {}


def _under(path: str, folder: str) -> bool:
    return os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep)


def install_guard(own: str | None) -> None:
    """Refuse local scratch prefixes in this process unless under ``own``; log them all.

    ``own``: this process's own temporary directory (a worker's), None for the client
    (which must make no local scratch prefix at all).
    """
    uninstall_guard()
    _ORIGINAL.update(init=Scratch.__init__, write=Scratch.write_block)
    init, write = _ORIGINAL["init"], _ORIGINAL["write"]

    def guarded_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        LOG.append(("made", os.getpid(), self.path))
        if self.is_local and not (own and _under(self.path, own)):
            raise AssertionError(
                f"process {os.getpid()} made the local scratch prefix {self.path}; on a "
                f"cluster without a shared disk only a worker's own {own!r} may hold one"
            )

    def guarded_write(self, name, block):
        LOG.append(("wrote", os.getpid(), f"{self.path}/{name}"))
        return write(self, name, block)

    Scratch.__init__ = guarded_init
    Scratch.write_block = guarded_write


def uninstall_guard() -> None:
    """Undo :func:`install_guard` (if installed)."""
    if _ORIGINAL:
        Scratch.__init__ = _ORIGINAL.pop("init")
        Scratch.write_block = _ORIGINAL.pop("write")


def take_log() -> list[tuple[str, int, str]]:
    """This process's scratch log since the last call; the log is emptied."""
    out = list(LOG)
    LOG.clear()
    return out


class NoSharedScratch(WorkerPlugin):
    """:func:`install_guard` in every worker, with the worker's own temporary directory."""

    name = "bigimg-no-shared-scratch"

    def setup(self, worker) -> None:
        install_guard(dask.config.get("temporary-directory", None))


# ------------------------------------------------------------------ killing a worker
def _slow_copy(block: np.ndarray, seconds: float, topic: str) -> np.ndarray:
    time.sleep(seconds)
    get_worker().log_event(topic, os.getpid())  # one event per finished block
    return block.copy()


def slowly(x: da.Array, seconds: float, topic: str) -> da.Array:
    """``x`` with every block held up ``seconds``; each finished block is an event
    ``topic`` on the scheduler carrying the pid of the worker that finished it."""
    name = f"slowcopy-{tokenize(x, seconds, topic)}"
    return x.map_blocks(_slow_copy, seconds, topic, dtype=x.dtype, name=name)


def _task_states(prefix: str, dask_scheduler=None) -> dict[str, dict[str, int]]:
    states: dict[str, Counter] = {}
    for key, ts in dask_scheduler.tasks.items():
        group = key_split(key)
        if group.startswith(prefix):
            states.setdefault(group, Counter())[ts.state] += 1
    return {g: dict(c) for g, c in states.items()}


def done(states: dict[str, dict[str, int]], group: str) -> int:
    """How many tasks of ``group`` had finished in a :func:`_task_states` snapshot."""
    counts = states.get(group, {})
    return counts.get("memory", 0) + counts.get("released", 0)


class EventKiller(WorkerKiller):
    """:class:`WorkerKiller` counting the events of :func:`slowly` (no shared file).

    ``watch``: a key prefix; the states of the scheduler's tasks with that prefix,
    grouped by name (``{group: {state: count}}``), are recorded in
    ``killed["tasks"]`` at the kill. ``until``: a condition on those states that must
    also hold before the kill (checked once ``after`` blocks are finished).
    """

    def __init__(self, client, topic: str, after=4, watch="", until=None, timeout=120.0):
        self.topic, self.watch, self.until = topic, watch, until
        self.states: dict = {}
        super().__init__(client, topic, after=after, timeout=timeout)

    def finished(self) -> list[int]:
        return [int(msg) for _, msg in self.client.get_events(self.topic)]

    def ready(self, finished: list[int]) -> bool:
        if not super().ready(finished):
            return False
        if self.watch:
            self.states = self.client.run_on_scheduler(_task_states, self.watch)
        return self.until is None or self.until(self.states)

    def kill(self, victim: str, finished: list[int]) -> dict:
        return {**super().kill(victim, finished), "tasks": self.states}
