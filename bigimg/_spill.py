"""Temporary directories for the engines that spill to disk, owned by their graph.

:class:`SpillDir` is used by the distance transforms' disk exchanges and by
``watershed_ift``'s solve: a path decided when the graph is built, a directory created
by the first task that writes, removed when the graph is dropped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import weakref

__all__ = ["SpillDir"]


class SpillDir:
    """A fresh temporary directory, removed when the graph that holds it is dropped.

    Its path is ``{base}/bigimg-{prefix}-{uuid}`` (``base``: the system's temporary
    directory by default). Nothing is created here: the first task that writes makes
    the directory. It is removed when the last graph holding this object is garbage
    collected or at interpreter exit (whatever an interrupted run left), or at once
    by :meth:`remove`. A copy sent to another process (a distributed worker) pickles
    as its path and does not own the directory.
    """

    def __init__(
        self, base: str | os.PathLike | None, prefix: str = "spill", *, owner: bool = True
    ) -> None:
        base = tempfile.gettempdir() if base is None else os.fspath(base)
        self.path = os.path.join(base, f"bigimg-{prefix}-{uuid.uuid4().hex}")
        self._cleanup = weakref.finalize(self, _remove, self.path) if owner else None

    @classmethod
    def _remote(cls, path: str) -> SpillDir:
        out = cls.__new__(cls)
        out.path, out._cleanup = path, None
        return out

    def __reduce__(self):
        return (SpillDir._remote, (self.path,))

    def __dask_tokenize__(self):
        return ("SpillDir", self.path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def remove(self) -> None:
        _remove(self.path)


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
