"""Writes that never look complete until they are: partial names, commit, progress.

Every ``save_*`` function writing a local path writes into a *partial* sibling of the
output, ``<name>.bigimg-partial-<token>``, and renames it to ``<name>`` only after the
last byte is written. So at the output path there is either nothing, the old output
(``overwrite=True`` replaces it only at the very end) or the complete new one. A
partial left behind by a killed process keeps its name, and every reader refuses a
path with that name with :class:`bigimg.IncompleteOutputError`. (Zarr stores also
carry a marker attribute, and at URLs, where nothing can be renamed, the marker alone
keeps the promise: see :mod:`bigimg.io._target`.)

Because the old output is replaced only at the end, a pipeline may read a file lazily
and write its result over the same path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator

import dask

from bigimg._errors import IncompleteOutputError
from bigimg._monitor import progress_bar, resolve_progress  # re-exported for the writers

__all__ = [
    "PARTIAL_TAG",
    "commit",
    "compute_settled",
    "discard",
    "discard_on_error",
    "prepare_output",
    "progress_bar",
    "refuse_partial",
    "resolve_progress",
    "run_write",
]

#: Marks a file or store that an unfinished write left behind.
PARTIAL_TAG = ".bigimg-partial-"


def refuse_partial(path: str, what: str = "file") -> None:
    """Raise :class:`IncompleteOutputError` if ``path`` is a partial output."""
    if PARTIAL_TAG in os.path.basename(os.path.normpath(path)):
        raise IncompleteOutputError(
            f"{what} {path} is incomplete: its name contains {PARTIAL_TAG!r}, so a bigimg "
            "write into it was interrupted or failed; delete it and write the output again."
        )


def prepare_output(path: str, *, overwrite: bool, kind: str, func: str) -> str:
    """Check an output path before any graph is built; return its partial sibling.

    ``kind`` is ``"file"`` or ``"directory"``: an existing output of the other kind is
    never replaced, even with ``overwrite=True`` (it is probably a typo).
    """
    if not isinstance(overwrite, bool):
        raise TypeError(f"`overwrite` must be True or False; got {overwrite!r}.")
    refuse_partial(path, "output path")
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(
            f"{func}: the folder {parent} for the output {path} does not exist; create it first."
        )
    if os.path.lexists(path):
        if not overwrite:
            raise FileExistsError(
                f"{func}: {path} already exists; pass overwrite=True to replace it "
                "(it is replaced only once the new output is complete) or choose another path."
            )
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        if is_dir != (kind == "directory"):
            other = "folder" if is_dir else "file"
            raise FileExistsError(
                f"{func}: {path} exists and is a {other}, but {func} writes a "
                f"{'folder' if kind == 'directory' else 'file'}; remove it yourself or "
                "choose another path (overwrite=True only replaces outputs of the same kind)."
            )
    return os.path.join(parent, os.path.basename(path) + PARTIAL_TAG + uuid.uuid4().hex[:10])


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def discard(partial: str) -> None:
    """Delete a partial output (after a failed write)."""
    _remove(partial)


class _OutputAppeared(FileExistsError):
    """The output path was created by someone else while we wrote; keep our output."""


@contextlib.contextmanager
def discard_on_error(partial: str) -> Iterator[None]:
    """Delete ``partial`` if the block raises (including KeyboardInterrupt), then re-raise."""
    try:
        yield
    except _OutputAppeared:
        raise
    except BaseException:
        discard(partial)
        raise


def commit(partial: str, path: str, overwrite: bool, finish=None) -> str:
    """Finish a write: run ``finish(partial)``, then move the partial onto ``path``."""
    if finish is not None:
        finish(partial)
    if os.path.lexists(path):
        if not overwrite:
            raise _OutputAppeared(
                f"{path} appeared while it was being written; the complete new output is "
                f"kept at {partial}: rename it yourself, or write again with overwrite=True."
            )
        if os.path.isdir(path) and not os.path.islink(path):
            old = path + ".bigimg-old-" + uuid.uuid4().hex[:10]
            os.rename(path, old)
            os.rename(partial, path)
            _remove(old)
            return path
    os.replace(partial, path)
    return path


def run_write(
    stored,
    partial: str,
    path: str,
    *,
    overwrite: bool,
    progress: bool,
    compute: bool,
    desc: str,
    finish=None,
):
    """Run (or return as a delayed) the block writes in ``stored`` and then commit.

    With ``compute=True`` a failure deletes the partial and re-raises. With
    ``compute=False`` the returned delayed commits as its last task; if it is never
    computed or fails, the partial stays and readers refuse it.
    """
    if not compute:
        return dask.delayed(_commit_after, pure=False)(stored, partial, path, overwrite, finish)
    with discard_on_error(partial):
        with progress_bar(progress, desc):
            compute_settled(stored)
        return commit(partial, path, overwrite, finish)


def compute_settled(stored) -> None:
    """``dask.compute(stored)``; if a task fails, return only once no task still runs.

    dask's local threaded scheduler raises as soon as one task fails while the tasks
    already running go on; a write finishing after the partial output was deleted
    would recreate it. With that scheduler (and no pool configured) the graph runs on
    its own pool, which is shut down (waiting) before the error propagates. On a
    dask.distributed cluster the graph is cancelled and the error propagates once no
    worker still runs one of its tasks.
    """
    import dask.threaded
    from dask.base import get_scheduler

    collections = list(stored) if isinstance(stored, list | tuple) else [stored]
    scheduler = get_scheduler(collections=collections)
    client = getattr(scheduler, "__self__", None)  # a distributed Client's ``get``
    if client is not None and _is_distributed_client(client):
        _compute_settled_distributed(client, collections)
        return
    if scheduler is not dask.threaded.get or dask.config.get("pool", None):
        dask.compute(stored)
        return
    workers = dask.config.get("num_workers", None) or dask.threaded.CPU_COUNT
    executor = getattr(dask.threaded, "ContextAwareThreadPoolExecutor", None)
    if executor is None:  # older dask
        from concurrent.futures import ThreadPoolExecutor as executor
    pool = executor(workers)
    try:
        dask.compute(stored, pool=pool)
    finally:
        pool.shutdown(wait=True)


def _is_distributed_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)


def _compute_settled_distributed(client, collections: list) -> None:
    """On a dask.distributed cluster: on failure, cancel the graph and wait until no
    worker holds any of its tasks (a task already running cannot be stopped; the
    worker forgets it once it has finished)."""
    futures = client.compute(collections)
    try:
        client.gather(futures)
    except BaseException:
        names = {_key_name(k) for c in collections for k in c.__dask_graph__()}
        client.cancel(futures, force=True)
        while any(client.run(_graph_tasks_held, names, on_error="ignore").values()):
            time.sleep(0.05)
        raise


def _key_name(key) -> str:
    return key[0] if isinstance(key, tuple) else key


def _graph_tasks_held(names: set, dask_worker=None) -> int:
    """Runs in a worker: how many of its tasks (in any state) belong to the graph."""
    return sum(1 for key in list(dask_worker.state.tasks) if _key_name(key) in names)


def _commit_after(_stored, partial, path, overwrite, finish):
    return commit(partial, path, overwrite, finish)
