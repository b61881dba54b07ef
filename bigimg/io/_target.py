"""The zarr output being written: where it lives until complete, its marker, resume.

Two ways to keep the promise "an interrupted write never looks complete":

* **Local paths** (rename exists): the store is written under a partial sibling name
  ``<name>.bigimg-partial-<token>`` (see :mod:`bigimg._atomic`) *and* carries the
  marker attribute; it is renamed to ``<name>`` after the marker is removed.
* **URLs** (``s3://``, ``gs://``, ``memory://``, ...: object stores have no rename): the
  store is written in place. It is created with the marker attribute in its root
  metadata, every block is written, the completion records are deleted and the
  marker is removed last. Every bigimg reader refuses a store with the marker.
  ``overwrite=True`` deletes an old output when the new write starts.

The marker's value records what is being written: ``{"writer": ..., "computation":
<the dask graph's token, or the caller's resume string>, "layout": <token of shape,
dtype, chunks, shards, codecs>}``. ``resume=True`` continues a partial output only if
both match (locally: a partial sibling; at a URL: the store itself); the completion
records (:mod:`bigimg.io._blocks`) say which blocks to skip. A resumed or resumable
write that fails keeps its partial output (so it can be resumed again); any other
failed write deletes it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import dask
import zarr
import zarr.errors

from bigimg import _atomic
from bigimg._atomic import (
    PARTIAL_TAG,
    _OutputAppeared,
    commit,
    compute_settled,
    prepare_output,
    progress_bar,
    refuse_partial,
)
from bigimg.io._blocks import PROGRESS_DIR
from bigimg.io._stores import Location, check_reachable

__all__ = ["INCOMPLETE_ATTR", "LOG", "Target", "open_target", "read_marker", "resume_identity"]

#: Attribute that marks a store whose write has not finished.
INCOMPLETE_ATTR = "bigimg_incomplete"

#: Logger of the writers ("wrote 3 of 8 blocks; 5 were already written").
LOG = logging.getLogger("bigimg.io")


def resume_identity(resume, token: str) -> tuple[bool, str]:
    """``(resume flag, computation name)`` from a writer's ``resume`` argument."""
    if isinstance(resume, bool):
        return resume, token
    if isinstance(resume, str) and resume:
        return True, resume
    raise TypeError(
        f"`resume` must be True, False or a non-empty str naming the computation; got {resume!r}."
    )


def read_marker(store) -> tuple[bool, object]:
    """``(is_zarr, marker)`` of the store's root node (marker ``None`` if complete)."""
    try:
        node = zarr.open(store, mode="r")
    except (zarr.errors.NodeNotFoundError, OSError, KeyError, ValueError):
        return False, None  # nothing there, or not a zarr store
    return True, node.attrs.get(INCOMPLETE_ATTR)


@dataclass
class Target:
    """A zarr output being written (see the module notes)."""

    final: Location
    store: Location
    marker: dict
    resumed: bool
    resume: bool
    overwrite: bool
    func: str

    def create_attrs(self, zarr_format: int) -> dict:
        """The root attributes a new store starts with (for v2, ``.zattrs`` is put first)."""
        attrs = {INCOMPLETE_ATTR: self.marker}
        if zarr_format == 2:  # so that no .zarray/.zgroup can exist without the marker
            self.store.put(".zattrs", json.dumps(attrs).encode())
        return attrs

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        """Delete a fresh partial output if creating its metadata fails."""
        try:
            yield
        except BaseException:
            if not self.resumed:
                self.discard()
            raise

    def discard(self) -> None:
        """Delete the partial output (a failed fresh write)."""
        if self.store.local:
            _atomic.discard(self.store.path)  # looked up here: tests simulate a kill
        else:
            self.store.remove()

    def run(self, stored: list, *, progress: bool, compute: bool, desc: str, blocks: tuple):
        """Compute the block writes in ``stored`` (or return a delayed), then finish.

        ``blocks`` is ``(written, total)`` for the log line.
        """
        if not compute:
            return dask.delayed(_finish_after, pure=False)(stored, self, blocks)
        try:
            with progress_bar(progress, desc):
                compute_settled(stored)
            return self.finish(blocks)
        except _OutputAppeared:
            raise
        except BaseException:
            if not (self.resume or self.resumed):
                self.discard()
            raise

    def finish(self, blocks: tuple) -> str:
        """Delete the records, remove the marker (last), move a local partial into place."""
        written, total = blocks
        LOG.info(
            "%s %s: wrote %d of %d blocks (%d already written)",
            self.func,
            self.final.shown,
            written,
            total,
            total - written,
        )
        self.store.remove(PROGRESS_DIR)
        node = zarr.open(self.store.zarr_store(read_only=False), mode="r+")
        del node.attrs[INCOMPLETE_ATTR]
        if self.store.local:
            return commit(self.store.path, self.final.path, self.overwrite)
        return self.final.url


def _finish_after(_stored, target: Target, blocks: tuple) -> str:
    return target.finish(blocks)


def open_target(loc: Location, *, overwrite: bool, resume: bool, marker: dict, func: str) -> Target:
    """Check the output location and decide where to write (before any voxel is computed).

    Raises FileExistsError (an output exists and ``overwrite`` is False), ValueError
    (``resume`` into a partial output of another computation), FileNotFoundError /
    PermissionError (missing folder or bucket, refused credentials).
    """
    if loc.local:
        return _open_local(loc, overwrite=overwrite, resume=resume, marker=marker, func=func)
    refuse_partial(loc.url, "output path")
    if not isinstance(overwrite, bool):
        raise TypeError(f"`overwrite` must be True or False; got {overwrite!r}.")
    check_reachable(loc, func)
    target = Target(loc, loc, marker, False, resume, overwrite, func)
    if not loc.exists():
        return target
    is_zarr, found = read_marker(loc.zarr_store(read_only=True))
    if found and resume and _same(found, marker):
        target.resumed = True
        return target
    if found and resume and not overwrite:
        raise _other_computation(func, loc.shown, found, marker)
    if not overwrite:
        what = (
            "is the incomplete output of an interrupted write; pass resume=True to continue "
            "it (the same computation) or overwrite=True to replace it"
            if found
            else "already exists; pass overwrite=True to replace it (at a URL the old output "
            "is deleted when the new write starts) or choose another path"
        )
        raise FileExistsError(f"{func}: {loc.shown} {what}.")
    loc.remove()
    return target


def _open_local(loc: Location, *, overwrite, resume, marker, func) -> Target:
    partial = prepare_output(loc.path, overwrite=overwrite, kind="directory", func=func)
    fresh = Target(loc, Location(partial, partial, loc.fs), marker, False, resume, overwrite, func)
    if not resume:
        return fresh
    others = []
    for candidate in sorted(glob.glob(glob.escape(loc.path) + PARTIAL_TAG + "*")):
        is_zarr, found = read_marker(candidate)
        if found and _same(found, marker):
            fresh.store = Location(candidate, candidate, loc.fs)
            fresh.resumed = True
            return fresh
        if found:
            others.append((candidate, found))
    if others and not overwrite:
        raise _other_computation(func, others[0][0], others[0][1], marker)
    return fresh


def _same(found, marker: dict) -> bool:
    return isinstance(found, dict) and all(found.get(k) == marker[k] for k in marker)


def _other_computation(func: str, where: str, found, marker: dict) -> ValueError:
    theirs = found if isinstance(found, dict) else {}
    if theirs.get("computation") == marker["computation"]:
        detail = (
            f"it was written with another layout ({theirs.get('layout')!r}) than this call's "
            f"({marker['layout']!r}): other chunks, shards, codecs, format or levels"
        )
    else:
        detail = (
            f"it is the partial output of computation {theirs.get('computation', 'unknown')!r}, "
            f"but this call computes {marker['computation']!r}"
        )
    return ValueError(
        f"{func}: cannot resume into {where}: {detail}. Resume only the same computation; "
        "write to another path, or pass overwrite=True to replace it."
    )
