"""``--scheduler``, ``--workers`` and ``--memory-limit``: where the dask tasks run.

- ``threads`` (default): dask's local threaded scheduler in this process.
- ``synchronous``: one thread, in order (for debugging).
- ``processes``: a ``distributed.LocalCluster`` of ``--workers`` single-threaded worker
  processes, each limited to ``--memory-limit``, started here and closed at the end.
- an address such as ``tcp://10.0.0.5:8786``: an existing ``dask.distributed``
  scheduler; its workers must see the input and output paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator

import dask

from bigimg.cli._common import UsageError, parse_bytes

__all__ = ["SCHEDULERS", "check_scheduler", "use_scheduler"]

SCHEDULERS = ("threads", "synchronous", "processes")


def check_scheduler(spec: str, workers: int | None, memory_limit: str | None) -> str:
    """Validate the three options together (before anything starts); return the kind."""
    if spec in SCHEDULERS:
        kind = spec
    elif "://" in spec or (":" in spec and spec.rsplit(":", 1)[1].isdigit()):
        kind = "address"
    else:
        raise UsageError(
            f"--scheduler must be threads, synchronous, processes or the address of a "
            f"dask.distributed scheduler such as tcp://127.0.0.1:8786; got {spec!r}."
        )
    if workers is not None and (workers < 1 or kind in ("synchronous", "address")):
        raise UsageError(
            f"--workers must be >= 1 and applies to --scheduler threads or processes; got "
            f"{workers} with --scheduler {spec}."
        )
    if memory_limit is not None:
        if kind != "processes":
            raise UsageError(
                "--memory-limit applies to --scheduler processes (the workers this command "
                f"starts); got --scheduler {spec}. Threads share this process's memory and "
                "an existing cluster's workers have their own limits."
            )
        parse_bytes(memory_limit)
    if kind in ("processes", "address"):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError(
                f"--scheduler {spec} needs dask.distributed: pip install distributed "
                '(or pip install "bigimg[distributed]").'
            ) from None
    return kind


@contextlib.contextmanager
def use_scheduler(
    spec: str,
    workers: int | None = None,
    memory_limit: str | None = None,
    *,
    log: Callable[[str], None] = print,
) -> Iterator[str]:
    """Make ``spec`` the scheduler of every dask computation inside the block.

    Started clusters and clients are closed when the block ends, also on errors and
    Ctrl-C. Yields the kind: ``"threads"``, ``"synchronous"``, ``"processes"`` or
    ``"address"``.
    """
    kind = check_scheduler(spec, workers, memory_limit)
    if kind in ("threads", "synchronous"):
        config = {"scheduler": kind}
        if workers is not None:
            config["num_workers"] = workers
        with dask.config.set(config):
            yield kind
        return
    import distributed

    if kind == "processes":
        n = workers or max(1, min(os.cpu_count() or 1, 8))
        limit = parse_bytes(memory_limit) if memory_limit else "auto"
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                memory_limit=limit,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            link = _link(client) if _has_bokeh() else ""
            log(
                f"scheduler: {n} local worker processes"
                f"{'' if memory_limit is None else f', {memory_limit} each'}{link}"
            )
            yield kind
        return
    try:
        client = distributed.Client(spec, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise UsageError(
            f"cannot reach the dask scheduler at {spec} ({exc}); start it with "
            "`dask scheduler` and workers with `dask worker ADDRESS`, or check the address."
        ) from None
    with client:
        n = len(client.scheduler_info().get("workers", {}))
        log(f"scheduler: {spec} ({n} workers){_link(client)}")
        yield kind


def _has_bokeh() -> bool:
    """The dashboard's pages need bokeh; without it the link shows nothing useful."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def _link(client) -> str:
    """Where the dashboard shows progress, if the scheduler serves one."""
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return ""
        return f"; progress on the dashboard {client.dashboard_link}"
    except Exception:  # an old or unusual scheduler: the link is only a courtesy
        return ""
