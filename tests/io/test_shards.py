"""Sharded zarr v3 and OME-Zarr 0.5: whole shards per task on write, one task per shard
(or per group of inner chunks inside one shard) on read, bad shard shapes refused."""

from __future__ import annotations

import logging
import os

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

from bigimg.io import _reader, _shards, open_zarr, save_ome_zarr, save_zarr
from bigimg.testing import raise_if_dask_computes, random_volume

SHAPE = (19, 23, 29)


def _shard_files(path):
    return sorted(
        os.path.relpath(os.path.join(d, f), path)
        for d, _, fs in os.walk(os.path.join(path, "c"))
        for f in fs
    )


@pytest.mark.parametrize("dtype", ["uint8", "<u2", ">u2", "float32", "bool"])
def test_sharded_round_trip(tmp_path, dtype):
    data = random_volume(SHAPE, np.dtype(dtype).newbyteorder("=")).astype(dtype)
    path = save_zarr(
        da.from_array(data, chunks=(7, 11, 13)),  # straddles the shards
        tmp_path / "s.zarr",
        chunks=(4, 6, 5),
        shards=(8, 12, 15),
        progress=False,
    )
    z = zarr.open_array(path, mode="r")
    assert (z.chunks, z.shards) == ((4, 6, 5), (8, 12, 15))
    assert len(_shard_files(path)) <= 3 * 2 * 2  # one object per (non-empty) shard
    back = open_zarr(path)
    assert back.chunks == da.core.normalize_chunks((8, 12, 15), SHAPE)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.compute(), data)


def test_each_task_writes_whole_shards_even_with_many_threads(tmp_path, caplog):
    """The zarr trap: two tasks writing parts of one shard lose data. Never here."""
    data = random_volume((32, 32, 32), np.uint16, seed=5)
    src = da.from_array(data, chunks=(3, 5, 7))  # every block straddles a shard boundary
    with dask.config.set(scheduler="threads", num_workers=8):
        with caplog.at_level(logging.INFO, logger="bigimg.io"):
            path = save_zarr(src, tmp_path / "t.zarr", chunks=4, shards=16, progress=False)
    assert "wrote 8 of 8 blocks" in caplog.text  # one task per shard
    np.testing.assert_array_equal(open_zarr(path).compute(), data)


def test_source_backed_input_is_read_once_per_shard(tmp_path, caplog):
    """An input with a region source is re-read shard by shard (no dask rechunk merges)."""
    data = random_volume((16, 16, 16), np.float32)
    src = save_zarr(data, tmp_path / "src.zarr", chunks=(4, 4, 4), progress=False)
    arr = open_zarr(src) + 1  # element-wise: still read from the source
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        out = save_zarr(arr, tmp_path / "o.zarr", chunks=4, shards=8, progress=False)
    assert "wrote 8 of 8 blocks" in caplog.text
    np.testing.assert_array_equal(open_zarr(out).compute(), data + 1)


def test_empty_shards_are_stored_and_a_lost_one_is_an_error(tmp_path):
    data = np.zeros((16, 16), np.uint8)
    data[:8, :8] = 7
    path = save_zarr(data, tmp_path / "e.zarr", chunks=4, shards=8, progress=False)
    # every shard is stored, zeros too: a missing shard is damage, never zeros
    assert len(_shard_files(path)) == 4
    np.testing.assert_array_equal(open_zarr(path).compute(), data)
    os.remove(os.path.join(path, "c", "1", "1"))
    with pytest.raises(
        FileNotFoundError, match=r"chunk c/1/1 \(voxels \[8:16, 8:16\]\) is missing"
    ):
        open_zarr(path).compute()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"chunks": (4, 6, 5), "shards": (6, 12, 15)}, ValueError, r"multiples of the chunks"),
        ({"chunks": (4, 6, 5), "shards": (8, 12, 15), "zarr_format": 2}, ValueError, "zarr v2"),
        ({"chunks": 4, "shards": (8, 8)}, ValueError, "tuple of 3 such ints"),
        ({"chunks": 4, "shards": 0}, ValueError, "an int >= 1"),
        ({"chunks": 4, "shards": "8"}, TypeError, "`shards` must be None, an int"),
    ],
)
def test_bad_shards_refused_before_anything_is_written(tmp_path, kwargs, exc, match):
    src = da.from_array(random_volume(SHAPE, np.uint8), chunks=8)
    with raise_if_dask_computes():
        with pytest.raises(exc, match=match):
            save_zarr(src, tmp_path / "x.zarr", progress=False, **kwargs)
    assert os.listdir(tmp_path) == []


def test_shard_message_suggests_a_fix(tmp_path):
    with pytest.raises(ValueError, match=r"For example shards=\(8, 12, 15\)"):
        save_zarr(
            np.zeros(SHAPE, np.uint8), tmp_path / "x.zarr", chunks=(4, 6, 5), shards=(7, 11, 16)
        )


def test_reads_never_cross_a_shard(tmp_path, monkeypatch):
    z = zarr.create_array(
        tmp_path / "big.zarr", shape=(40, 64, 64), chunks=(4, 8, 8), shards=(20, 32, 32), dtype="u2"
    )
    assert open_zarr(tmp_path / "big.zarr").chunks == ((20, 20), (32, 32), (32, 32))
    monkeypatch.setattr(_reader, "AUTO_CHUNK_BYTES", 8 * 1024)  # shards "too large"
    monkeypatch.setattr(_shards, "AUTO_CHUNK_BYTES", 8 * 1024)
    chunks = open_zarr(tmp_path / "big.zarr", chunks="auto").chunks
    for axis, inner, shard, n in zip(chunks, z.chunks, z.shards, z.shape):
        edges = np.cumsum((0,) + axis)
        assert all(c % inner == 0 for c in axis[:-1])  # whole inner chunks
        assert set(range(0, n, shard)) <= set(edges.tolist())  # every shard edge is a block edge
    assert np.prod([len(a) for a in chunks]) > 8  # more blocks than shards: inner groups


def test_ome_zarr_05_is_the_default_and_shards_every_level(tmp_path):
    img = random_volume((10, 40, 36), np.uint16)
    lab = (img // 13000).astype(np.uint32)
    plain = save_ome_zarr(
        img, tmp_path / "plain.zarr", labels={"c": lab}, chunks=8, levels=3, progress=False
    )
    root = zarr.open_group(plain, mode="r")
    assert root.metadata.zarr_format == 3 and root.attrs["ome"]["version"] == "0.5"
    sharded = save_ome_zarr(
        da.from_array(img, chunks=(3, 7, 9)),
        tmp_path / "sharded.zarr",
        labels={"c": lab},
        chunks=8,
        shards=(16, 32, 16),
        levels=3,
        factors=(1, 2, 2),
        progress=False,
    )
    unsharded = save_ome_zarr(
        img,
        tmp_path / "u.zarr",
        labels={"c": lab},
        chunks=8,
        levels=3,
        factors=(1, 2, 2),
        progress=False,
    )
    for key in ("0", "1", "2", "labels/c/0", "labels/c/1", "labels/c/2"):
        a = zarr.open_array(os.path.join(sharded, key), mode="r")
        assert a.shards is not None and all(s % c == 0 for s, c in zip(a.shards, a.chunks))
        np.testing.assert_array_equal(
            open_zarr(sharded, component=key).compute(),
            open_zarr(unsharded, component=key).compute(),
        )
    level2 = zarr.open_array(os.path.join(sharded, "2"), mode="r")
    assert level2.shape == (10, 10, 9) and level2.chunks == (8, 8, 8)
    assert level2.shards == (16, 16, 16)  # clipped to the level, still whole chunks
