"""The scratch-space policy: where every spilling step writes its temporary files.

One module owns it. Every step that spills to disk (the halo spill of large sourceless
inputs, the distance transforms' exchanges and chamfer scans, ``watershed_ift``'s
solve) asks :class:`Scratch` for a fresh directory and reads and writes named blocks in
it. Where that directory goes is decided in one place, :func:`scratch_base`:

1. ``temp_dir=`` given to the call (the functions that spill accept it), else
2. ``dask.config.get("bigimg.scratch")``, else
3. dask's own ``temporary-directory`` key, else
4. the system's temporary directory (:func:`tempfile.gettempdir`).

On a cluster of several machines the directory must be on a filesystem every worker
sees. Clean-up has one rule: a scratch directory belongs to the graph that made it and
is removed when the last graph holding it is garbage collected, when its owner calls
:meth:`Scratch.remove`, or at interpreter exit; copies sent to workers never remove it.

The interface (make a block, write it whole, read it or a region of it, list, delete)
is what another kind of store can implement; the POSIX directory here also hands out
plain file paths (:meth:`Scratch.file`) to the engines that map or seek in their files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import weakref
from typing import Any

import dask
import numpy as np

from bigimg._rawfile import read_runs

__all__ = ["SCRATCH_KEY", "Scratch", "check_temp_dir", "scratch_base"]

#: The ``dask.config`` key naming the default scratch location.
SCRATCH_KEY = "bigimg.scratch"


def check_temp_dir(temp_dir: Any, *, name: str = "temp_dir") -> None:
    """Raise if ``temp_dir`` (a per-call scratch override) is not an existing directory."""
    if temp_dir is None:
        return
    if not isinstance(temp_dir, str | os.PathLike):
        raise TypeError(f"`{name}` must be a path (str or os.PathLike); got {temp_dir!r}.")
    if not os.path.isdir(temp_dir):
        raise ValueError(
            f"`{name}` must be an existing directory; got {os.fspath(temp_dir)!r}. "
            f"Create it first, or pass None to use dask.config's {SCRATCH_KEY!r} "
            "(default: the system's temporary directory)."
        )


def scratch_base(temp_dir: str | os.PathLike | None = None) -> str:
    """The directory under which a new scratch directory goes (see the module docstring)."""
    if temp_dir is not None:
        check_temp_dir(temp_dir)
        return os.fspath(temp_dir)
    for key in (SCRATCH_KEY, "temporary-directory"):
        value = dask.config.get(key, None)
        if value:
            check_temp_dir(value, name=f"dask.config {key!r}")
            return os.fspath(value)
    return tempfile.gettempdir()


class Scratch:
    """A fresh scratch directory, removed when the graph that holds it is dropped.

    Its path is ``{base}/bigimg-{prefix}-{uuid}`` with ``base`` from
    :func:`scratch_base`. Nothing is created here: the first block written makes the
    directory. A copy sent to another process (a distributed worker) pickles as its
    path and does not own the directory.
    """

    def __init__(
        self, temp_dir: str | os.PathLike | None = None, prefix: str = "spill", *, owner=True
    ) -> None:
        self.path = os.path.join(scratch_base(temp_dir), f"bigimg-{prefix}-{uuid.uuid4().hex}")
        self._cleanup = weakref.finalize(self, _remove, self.path) if owner else None

    @classmethod
    def _remote(cls, path: str) -> Scratch:
        out = cls.__new__(cls)
        out.path, out._cleanup = path, None
        return out

    def __reduce__(self):
        return (Scratch._remote, (self.path,))

    def __dask_tokenize__(self):
        return ("Scratch", self.path)

    def file(self, name: str) -> str:
        """The local path of block ``name`` (the directory may not exist yet)."""
        return os.path.join(self.path, name)

    def write_block(self, name: str, block: np.ndarray) -> None:
        """Write ``block`` whole as C-order bytes; a retried task rewrites the same bytes."""
        os.makedirs(self.path, exist_ok=True)
        path = self.file(name)
        tmp = f"{path}.{os.getpid()}.partial"
        np.ascontiguousarray(block).tofile(tmp)
        os.replace(tmp, path)

    def read_block(
        self, name: str, shape: tuple[int, ...], dtype, region: tuple[slice, ...] | None = None
    ) -> np.ndarray:
        """Read ``region`` (default: all) of block ``name`` written with ``shape``/``dtype``."""
        if region is None:
            region = tuple(slice(0, n) for n in shape)
        return read_runs(self.file(name), 0, tuple(shape), tuple(region), np.dtype(dtype))

    def list(self) -> list[str]:
        """Names of the complete blocks present (none before the first write)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.endswith(".partial"))

    def delete(self, name: str) -> None:
        """Remove block ``name`` if present."""
        try:
            os.remove(self.file(name))
        except FileNotFoundError:
            pass

    def remove(self) -> None:
        """Remove the whole directory now."""
        _remove(self.path)


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
