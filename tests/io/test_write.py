"""What every save_* promises: never a complete-looking partial output, overwrite rules,
numpy or dask input, progress bars, ``compute=False``."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest
from dask.delayed import Delayed

from bigimg import (
    IncompleteOutputError,
    _atomic,
    open_raw,
    open_tiff,
    open_zarr,
    save_raw,
    save_tiff,
    save_zarr,
)
from bigimg._atomic import PARTIAL_TAG
from bigimg.io._zarr import INCOMPLETE_ATTR
from bigimg.testing import random_volume

SHAPE = (9, 10, 11)
DATA = random_volume(SHAPE, np.uint16)


def _open_raw(path):
    return open_raw(path, SHAPE, np.uint16)


FORMATS = {
    "raw": (save_raw, _open_raw, "out.raw"),
    "zarr": (save_zarr, open_zarr, "out.zarr"),
    "tiff": (save_tiff, open_tiff, "out.tif"),
}


@pytest.fixture(params=list(FORMATS))
def fmt(request):
    return FORMATS[request.param]


def _failing(fail_block: int) -> da.Array:
    """DATA as a dask array whose ``fail_block``-th block (along axis 0) raises."""

    def block(x, block_info=None):
        if block_info[0]["chunk-location"][0] == fail_block:
            raise OSError("disk on fire")
        return x

    return da.from_array(DATA, chunks=(3, 5, 11)).map_blocks(block, dtype=DATA.dtype)


def test_numpy_and_dask_input_return_absolute_path(tmp_path, fmt):
    save, open_, name = fmt
    p1 = save(DATA, tmp_path / name, progress=False)
    p2 = save(da.from_array(DATA, chunks=(4, 5, 6)), str(tmp_path / ("b" + name)), progress=False)
    assert p1 == str(tmp_path / name) and os.path.isabs(p2)
    for p in (p1, p2):
        np.testing.assert_array_equal(open_(p).compute(), DATA)
    assert not [n for n in os.listdir(tmp_path) if PARTIAL_TAG in n]


def test_existing_path_needs_overwrite(tmp_path, fmt):
    save, open_, name = fmt
    path = save(DATA, tmp_path / name, progress=False)
    with pytest.raises(FileExistsError, match=f"{path} already exists; pass overwrite=True"):
        save(DATA + 1, path, progress=False)
    np.testing.assert_array_equal(open_(path).compute(), DATA)
    save(DATA + 1, path, overwrite=True, progress=False)
    np.testing.assert_array_equal(open_(path).compute(), DATA + 1)
    assert sorted(os.listdir(tmp_path)) == [name]  # no partial or old copy left


def test_overwrite_never_replaces_other_kind_or_missing_folder(tmp_path, fmt):
    save, _, name = fmt
    other = tmp_path / name
    if name.endswith(".zarr"):
        other.write_bytes(b"a file where a store should go")
    else:
        other.mkdir()
    with pytest.raises(FileExistsError, match="choose another path"):
        save(DATA, other, overwrite=True, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        save(DATA, tmp_path / "no" / "such" / name, progress=False)
    with pytest.raises(TypeError, match="`overwrite` must be True or False"):
        save(DATA, tmp_path / ("x" + name), overwrite="yes", progress=False)
    with pytest.raises(TypeError, match="`progress` must be True, False or None"):
        save(DATA, tmp_path / ("x" + name), progress="yes")
    assert sorted(os.listdir(tmp_path)) == [name]


def test_failed_write_leaves_nothing_and_keeps_old_output(tmp_path, fmt):
    save, open_, name = fmt
    with pytest.raises(OSError, match="disk on fire"):
        save(_failing(fail_block=1), tmp_path / name, progress=False)
    assert os.listdir(tmp_path) == []
    path = save(DATA, tmp_path / name, progress=False)
    with pytest.raises(OSError, match="disk on fire"):
        save(_failing(fail_block=2), path, overwrite=True, progress=False)
    np.testing.assert_array_equal(open_(path).compute(), DATA)  # the old output is intact
    assert os.listdir(tmp_path) == [name]


def test_crash_mid_write_leaves_only_a_refused_partial(tmp_path, fmt, monkeypatch):
    """A killed process cannot clean up: simulate it by disabling the cleanup."""
    save, open_, name = fmt
    monkeypatch.setattr(_atomic, "discard", lambda partial: None)
    with pytest.raises(OSError, match="disk on fire"):
        save(_failing(fail_block=1), tmp_path / name, progress=False)
    assert not (tmp_path / name).exists()
    (partial,) = os.listdir(tmp_path)
    assert partial.startswith(name + PARTIAL_TAG)
    with pytest.raises(IncompleteOutputError, match="interrupted or failed"):
        open_(str(tmp_path / partial))
    if name.endswith(".zarr"):  # even renamed, a zarr store stays marked incomplete
        os.rename(tmp_path / partial, tmp_path / name)
        with pytest.raises(IncompleteOutputError, match=INCOMPLETE_ATTR):
            open_(str(tmp_path / name))


@pytest.mark.parametrize("save", [save_raw, save_zarr], ids=["raw", "zarr"])
def test_compute_false_returns_delayed_that_commits(tmp_path, save):
    path = tmp_path / "lazy.out"
    delayed = save(da.from_array(DATA, chunks=5), path, compute=False, progress=False)
    assert isinstance(delayed, Delayed)
    assert not path.exists()
    assert delayed.compute() == str(path)
    assert path.exists() and [n for n in os.listdir(tmp_path)] == ["lazy.out"]
    with pytest.raises(TypeError, match="`compute` must be True or False"):
        save(DATA, tmp_path / "x", compute="no")


def test_progress_bar_is_drawn_on_request(tmp_path, fmt, capsys):
    save, _, name = fmt
    save(da.from_array(DATA, chunks=3), tmp_path / name, progress=True)
    assert save.__name__ in capsys.readouterr().err
    save(da.from_array(DATA, chunks=3), tmp_path / ("q" + name), progress=False)
    assert capsys.readouterr().err == ""


def test_writers_refuse_partial_named_outputs(tmp_path, fmt):
    save, _, name = fmt
    with pytest.raises(IncompleteOutputError):
        save(DATA, tmp_path / (name + PARTIAL_TAG + "x"), progress=False)


def test_type_errors_before_anything_is_written(tmp_path, fmt):
    save, _, name = fmt
    with pytest.raises(TypeError, match="`array`"):
        save(object(), tmp_path / name, progress=False)
    with pytest.raises(TypeError, match="`path` must be a str"):
        save(DATA, 42, progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("compute", [True, False])
def test_output_created_during_write_is_not_clobbered(tmp_path, compute):
    path = tmp_path / "race.raw"

    def intruder(block, block_info=None):  # another program creates the output meanwhile
        if block_info[0]["chunk-location"][0] == 0:
            path.write_bytes(b"someone else's file")
        return block

    src = da.from_array(DATA, chunks=(3, 10, 11)).map_blocks(intruder, dtype=DATA.dtype)
    with pytest.raises(FileExistsError, match="appeared while it was being written") as info:
        result = save_raw(src, path, compute=compute, progress=False)
        if not compute:
            result.compute()
    assert path.read_bytes() == b"someone else's file"
    kept = str(info.value).split("kept at ")[1].split(":")[0]
    assert os.path.basename(kept).startswith("race.raw" + PARTIAL_TAG)
    os.rename(kept, tmp_path / "mine.raw")  # the message's fix works
    np.testing.assert_array_equal(open_raw(tmp_path / "mine.raw", SHAPE, np.uint16).compute(), DATA)
