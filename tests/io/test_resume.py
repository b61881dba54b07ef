"""Resumable writes: an interrupted save_zarr / save_ome_zarr continues where it stopped,
computes only the missing blocks, gives the uninterrupted result, and refuses to mix
another computation into a partial output."""

from __future__ import annotations

import logging
import os
import re
import uuid

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

from bigimg import IncompleteOutputError, _atomic, open_zarr, save_ome_zarr, save_zarr
from bigimg._atomic import PARTIAL_TAG
from bigimg.io._blocks import PROGRESS_DIR
from bigimg.io._target import INCOMPLETE_ATTR
from bigimg.testing import raise_if_dask_computes, random_volume
from tests._flaky import CALLS, FAIL, count_or_fail

SHAPE = (16, 12, 10)
DATA = random_volume(SHAPE, np.uint16, seed=11)
LABELS = (DATA // 9000).astype(np.uint32)


def _flaky(x, block_info=None):
    """Counts each block's computations; fails once ``FAIL["after"]`` blocks were computed."""
    where = block_info[0]["chunk-location"]
    return count_or_fail(x, where, f"node lost at block {where}")


def _source(data=DATA, chunks=(4, 12, 10)) -> da.Array:
    return da.from_array(data, chunks=chunks).map_blocks(_flaky, dtype=data.dtype)


@pytest.fixture(autouse=True)
def _reset():
    FAIL.update(after=None, seen=0)
    CALLS.clear()
    yield
    FAIL.update(after=None, seen=0)


def _partials(folder):
    return [n for n in os.listdir(folder) if PARTIAL_TAG in n]


def _killed(monkeypatch):
    """A killed process cannot clean up: simulate it by disabling the cleanup."""
    monkeypatch.setattr(_atomic, "discard", lambda partial: None)


def _interrupted(write, after: int):
    """Run ``write()`` with the source failing after ``after`` blocks (in one thread, so
    those blocks are written, the failing one and the rest are not)."""
    FAIL.update(after=after, seen=0)
    with dask.config.set(scheduler="synchronous"), pytest.raises(OSError, match="node lost"):
        write()
    FAIL.update(after=None, seen=0)
    CALLS.clear()


def _counts(caplog) -> tuple[int, int, int]:
    """(written, total, already written) from the writer's last log line."""
    found = re.findall(r"wrote (\d+) of (\d+) blocks \((\d+) already written\)", caplog.text)
    assert found, caplog.text
    return tuple(int(v) for v in found[-1])


@pytest.mark.parametrize("shards", [None, (8, 12, 10)])
def test_killed_write_resumes_computing_only_missing_blocks(tmp_path, monkeypatch, shards, caplog):
    target = tmp_path / "v.zarr"
    kw = {"chunks": (4, 6, 10), "shards": shards, "progress": False}
    _killed(monkeypatch)  # not even a resumable write: a kill leaves its partial anyway
    _interrupted(lambda: save_zarr(_source(), target, **kw), after=3 if shards is None else 2)
    monkeypatch.undo()
    (partial,) = _partials(tmp_path)
    with pytest.raises(IncompleteOutputError):
        open_zarr(tmp_path / partial)
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        path = save_zarr(_source(), target, resume=True, **kw)
    written, total, skipped = _counts(caplog)
    assert (written, total, skipped) == ((1, 4, 3) if shards is None else (1, 2, 1))
    per_block = 1 if shards is None else 2  # source blocks behind one written block
    assert len(CALLS) == per_block and set(CALLS.values()) == {1}
    assert os.listdir(tmp_path) == ["v.zarr"]
    reference = save_zarr(DATA, tmp_path / "ref.zarr", **kw)
    np.testing.assert_array_equal(open_zarr(path).compute(), DATA)
    assert sorted(os.listdir(os.path.join(path, "c"))) == sorted(
        os.listdir(os.path.join(reference, "c"))
    )
    z = zarr.open_array(path, mode="r")
    assert INCOMPLETE_ATTR not in z.attrs and PROGRESS_DIR not in os.listdir(path)


def test_failed_resumable_write_keeps_its_partial_and_resumes(tmp_path, caplog):
    target = tmp_path / "v.zarr"
    kw = {"chunks": (4, 12, 10), "resume": True, "progress": False}
    _interrupted(lambda: save_zarr(_source(), target, **kw), after=1)
    assert len(_partials(tmp_path)) == 1  # kept for the next try
    _interrupted(lambda: save_zarr(_source(), target, **kw), after=1)
    assert len(_partials(tmp_path)) == 1
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        save_zarr(_source(), target, **kw)
    assert _counts(caplog) == (2, 4, 2) and len(CALLS) == 2
    np.testing.assert_array_equal(open_zarr(target).compute(), DATA)


def test_resume_without_partial_writes_everything_and_complete_output_is_kept(tmp_path):
    path = save_zarr(_source(), tmp_path / "v.zarr", resume=True, progress=False)
    assert len(CALLS) == 4
    np.testing.assert_array_equal(open_zarr(path).compute(), DATA)
    with pytest.raises(FileExistsError, match="already exists"):
        save_zarr(_source(), path, resume=True, progress=False)


def test_block_without_record_is_recomputed(tmp_path, monkeypatch):
    """A chunk object alone does not count: a block is complete only with its record."""
    _killed(monkeypatch)
    _interrupted(lambda: save_zarr(_source(), tmp_path / "v.zarr", progress=False), after=3)
    monkeypatch.undo()
    (partial,) = _partials(tmp_path)
    records = os.path.join(tmp_path, partial, PROGRESS_DIR)
    kept = sorted(os.listdir(records))
    assert len(kept) == 3
    os.unlink(os.path.join(records, kept[0]))  # as if killed between the chunk and its record
    save_zarr(_source(), tmp_path / "v.zarr", resume=True, progress=False)
    start = int(kept[0].split(".")[0])  # the block whose record was deleted: recomputed
    assert len(CALLS) == 2 and (start // 4, 0, 0) in CALLS
    np.testing.assert_array_equal(open_zarr(tmp_path / "v.zarr").compute(), DATA)


def test_resume_into_another_computation_names_both(tmp_path):
    _interrupted(
        lambda: save_zarr(_source(), tmp_path / "v.zarr", resume=True, progress=False), after=2
    )
    (partial,) = _partials(tmp_path)
    before = sorted(os.listdir(tmp_path / partial))
    other = _source(DATA + 1)
    with raise_if_dask_computes():
        with pytest.raises(ValueError, match="cannot resume") as info:
            save_zarr(other, tmp_path / "v.zarr", resume=True, progress=False)
    assert _source().name in str(info.value) and other.name in str(info.value)
    with pytest.raises(ValueError, match="another layout"):  # same data, other chunks
        save_zarr(_source(), tmp_path / "v.zarr", chunks=(8, 12, 10), resume=True)
    assert _partials(tmp_path) == [partial]
    assert sorted(os.listdir(tmp_path / partial)) == before
    # overwrite=True: start over beside it
    path = save_zarr(other, tmp_path / "v.zarr", resume=True, overwrite=True, progress=False)
    np.testing.assert_array_equal(open_zarr(path).compute(), DATA + 1)


def test_resume_names_its_computation(tmp_path):
    """``resume="name"`` for graphs whose token changes between runs."""
    kw = {"resume": "run-42", "progress": False}
    _interrupted(lambda: save_zarr(_source(), tmp_path / "v.zarr", **kw), after=2)
    changed = _source() + 0  # another graph (another token), the same values
    save_zarr(changed, tmp_path / "v.zarr", **kw)
    assert len(CALLS) == 2
    np.testing.assert_array_equal(open_zarr(tmp_path / "v.zarr").compute(), DATA)
    with pytest.raises(TypeError, match="`resume` must be True, False or a non-empty str"):
        save_zarr(DATA, tmp_path / "w.zarr", resume="")


def test_resume_in_memory_store(caplog):
    url = f"memory://resume-{uuid.uuid4().hex}/v.zarr"
    _interrupted(lambda: save_zarr(_source(), url, resume=True, progress=False), after=3)
    with pytest.raises(IncompleteOutputError, match="marked incomplete"):
        open_zarr(url)
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        save_zarr(_source(), url, resume=True, progress=False)
    assert _counts(caplog) == (1, 4, 3) and len(CALLS) == 1
    np.testing.assert_array_equal(open_zarr(url).compute(), DATA)
    with pytest.raises(FileExistsError, match="already exists"):
        save_zarr(DATA, url, progress=False)


def test_ome_zarr_resume(tmp_path, caplog):
    target = tmp_path / "img.zarr"
    kw = {"chunks": (4, 6, 5), "levels": 3, "factors": (1, 2, 2), "progress": False}

    def write(path=target, **extra):
        labels = {"c": da.from_array(LABELS, chunks=(4, 12, 10))}
        return save_ome_zarr(_source(), path, labels=labels, resume=True, **{**kw, **extra})

    _interrupted(write, after=3)
    (partial,) = _partials(tmp_path)
    with pytest.raises(IncompleteOutputError):
        open_zarr(tmp_path / partial, component="labels/c")
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        path = write()
    written, total, skipped = _counts(caplog)
    assert skipped >= 1 and written + skipped == total and len(CALLS) < 4
    reference = save_ome_zarr(DATA, tmp_path / "ref.zarr", labels={"c": LABELS}, **kw)
    for key in ("0", "1", "2", "labels/c/0", "labels/c/2"):
        np.testing.assert_array_equal(
            open_zarr(path, component=key).compute(), open_zarr(reference, component=key).compute()
        )
    _interrupted(lambda: write(tmp_path / "o.zarr"), after=1)
    with pytest.raises(ValueError, match="another layout"):
        write(tmp_path / "o.zarr", levels=2)


def test_file_urls_are_local_paths(tmp_path):
    url = f"file://{tmp_path}/v.zarr"
    path = save_zarr(DATA, url, chunks=(8, 12, 10), progress=False)
    assert path == str(tmp_path / "v.zarr")  # written like a local path: partial, rename
    np.testing.assert_array_equal(open_zarr(url).compute(), DATA)
    with pytest.raises(ValueError, match="`storage_options` apply to URLs"):
        open_zarr(path, storage_options={"anon": True})
