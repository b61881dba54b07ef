"""Zarr and OME-Zarr on a real S3-compatible server (moto on 127.0.0.1): round trips,
sharded writes, the incomplete marker, resume, and bad input refused before any voxel
is computed."""

from __future__ import annotations

import importlib.util
import logging

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from fsspec.registry import known_implementations

from bigimg import IncompleteOutputError
from bigimg.io import open_zarr, save_ome_zarr, save_zarr
from bigimg.io._target import INCOMPLETE_ATTR
from bigimg.testing import raise_if_dask_computes, random_volume
from tests._flaky import CALLS, FAIL, count_or_fail

SHAPE = (12, 10, 14)
DATA = random_volume(SHAPE, np.uint16, seed=3)


def _flaky(x, block_info=None):
    """Counts each block's computations; fails once ``FAIL["after"]`` blocks were computed."""
    where = block_info[0]["chunk-location"]
    return count_or_fail(x, where, f"worker lost while computing block {where}")


def _interrupted(write, after: int):
    """``write()`` with the source failing after ``after`` blocks (one thread: those
    blocks are written, the others not)."""
    FAIL.update(after=after, seen=0)
    with dask.config.set(scheduler="synchronous"), pytest.raises(OSError, match="worker lost"):
        write()
    FAIL.update(after=None, seen=0)
    CALLS.clear()


def _source(chunks=(4, 10, 14)) -> da.Array:
    """DATA behind a counting, possibly failing map_blocks (the same graph every call)."""
    return da.from_array(DATA, chunks=chunks).map_blocks(_flaky, dtype=DATA.dtype)


@pytest.fixture(autouse=True)
def _reset():
    FAIL.update(after=None, seen=0)
    CALLS.clear()
    yield
    FAIL.update(after=None, seen=0)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_round_trip_on_s3(s3, bucket, zarr_format):
    url = f"s3://{bucket}/vol.zarr"
    out = save_zarr(
        da.from_array(DATA, chunks=(5, 10, 7)),
        url,
        chunks=(6, 5, 7),
        zarr_format=zarr_format,
        storage_options=s3.options,
        progress=False,
    )
    assert out == url
    arr = open_zarr(url, storage_options=s3.options)
    assert arr.chunks == da.core.normalize_chunks((6, 5, 7), SHAPE)
    np.testing.assert_array_equal(arr.compute(), DATA)
    keys = s3.keys(bucket)
    assert not [k for k in keys if ".bigimg-progress" in k]  # records deleted
    meta = zarr.open(zarr.storage.FsspecStore.from_url(url, storage_options=s3.options), mode="r")
    assert INCOMPLETE_ATTR not in meta.attrs and meta.metadata.zarr_format == zarr_format
    assert s3.secret not in repr(arr.dask)  # the graph names nothing secret


def test_sharded_write_on_s3_writes_whole_shards(s3, bucket):
    url = f"s3://{bucket}/sharded.zarr"
    src = da.from_array(DATA, chunks=(5, 3, 9))  # straddles the shards: rechunked first
    save_zarr(
        src, url, chunks=(2, 5, 7), shards=(4, 10, 14), storage_options=s3.options, progress=False
    )
    z = zarr.open_array(zarr.storage.FsspecStore.from_url(url, storage_options=s3.options))
    assert z.shards == (4, 10, 14) and z.chunks == (2, 5, 7)
    assert [k for k in s3.keys(bucket) if "/c/" in k] == [
        f"sharded.zarr/c/{i}/0/0" for i in range(3)
    ]  # one object per shard
    arr = open_zarr(url, storage_options=s3.options)
    assert arr.chunks == ((4, 4, 4), (10,), (14,))  # one task per shard
    np.testing.assert_array_equal(arr.compute(), DATA)


def test_interrupted_write_is_refused_then_resumed(s3, bucket, caplog):
    url = f"s3://{bucket}/resumed.zarr"

    def write():
        return save_zarr(
            _source(),
            url,
            chunks=(4, 5, 7),
            resume=True,
            storage_options=s3.options,
            progress=False,
        )

    _interrupted(write, after=2)
    with pytest.raises(IncompleteOutputError, match="resume=True"):
        open_zarr(url, storage_options=s3.options)
    assert len([k for k in s3.keys(bucket) if ".bigimg-progress" in k]) == 2
    with caplog.at_level(logging.INFO, logger="bigimg.io"):
        write()
    assert len(CALLS) == 1  # only the missing block was computed
    assert "wrote 1 of 3 blocks (2 already written)" in caplog.text
    np.testing.assert_array_equal(open_zarr(url, storage_options=s3.options).compute(), DATA)
    assert not [k for k in s3.keys(bucket) if ".bigimg-progress" in k]


def test_failed_write_without_resume_leaves_nothing(s3, bucket):
    url = f"s3://{bucket}/x.zarr"
    _interrupted(lambda: save_zarr(_source(), url, storage_options=s3.options), after=1)
    assert s3.keys(bucket) == []


def test_existing_output_and_overwrite(s3, bucket):
    url = f"s3://{bucket}/o.zarr"
    save_zarr(DATA, url, storage_options=s3.options, progress=False)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_zarr(DATA + 1, url, storage_options=s3.options, progress=False)
    save_zarr(DATA + 1, url, overwrite=True, storage_options=s3.options, progress=False)
    np.testing.assert_array_equal(open_zarr(url, storage_options=s3.options).compute(), DATA + 1)


def test_ome_zarr_sharded_with_labels_on_s3(s3, bucket):
    url = f"s3://{bucket}/img.ome.zarr"
    cells = (DATA // 9000).astype(np.uint32)
    save_ome_zarr(
        DATA,
        url,
        labels={"cells": cells},
        chunks=(4, 5, 7),
        shards=(8, 10, 14),
        levels=2,
        storage_options=s3.options,
        progress=False,
    )
    np.testing.assert_array_equal(open_zarr(url, storage_options=s3.options).compute(), DATA)
    lab = open_zarr(url, component="labels/cells", storage_options=s3.options)
    np.testing.assert_array_equal(lab.compute(), cells)
    assert open_zarr(url, component="1", storage_options=s3.options).shape == (6, 5, 7)


# --- bad input: a clear error before any voxel is computed, nothing left behind ---------


def test_unknown_scheme_names_the_package():
    with raise_if_dask_computes():
        with pytest.raises(ValueError, match="no fsspec filesystem knows"):
            save_zarr(_source(), "nosuchfs://bucket/x.zarr", progress=False)
    missing = [
        (scheme, spec["class"].split(".")[0])
        for scheme, spec in known_implementations.items()
        if importlib.util.find_spec(spec["class"].split(".")[0]) is None
    ]
    if not missing:
        pytest.skip("every fsspec implementation is installed")
    scheme, package = missing[0]
    with raise_if_dask_computes():
        with pytest.raises(ImportError, match=f"pip install {package}"):
            save_zarr(_source(), f"{scheme}://bucket/x.zarr", progress=False)
        with pytest.raises(ImportError, match=f"needs the package '{package}'"):
            open_zarr(f"{scheme}://bucket/x.zarr")


def test_missing_bucket(s3):
    with raise_if_dask_computes():
        with pytest.raises(FileNotFoundError, match="bucket 'no-such-bucket' .* does not exist"):
            save_zarr(_source(), "s3://no-such-bucket/x.zarr", storage_options=s3.options)
        with pytest.raises(FileNotFoundError, match="bucket 'no-such-bucket'"):
            open_zarr("s3://no-such-bucket/x.zarr", storage_options=s3.options)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_zarr(f"s3://{s3.new_bucket()}/nothing.zarr", storage_options=s3.options)


@pytest.mark.parametrize("which", ["secret", "key"])
def test_bad_credentials_are_refused_and_never_shown(s3, bucket, which):
    bad = dict(s3.options, **{which: "WRONG" + getattr(s3, which)[5:]})
    url = f"s3://{bucket}/x.zarr"
    with raise_if_dask_computes():
        with pytest.raises(PermissionError, match="refused access") as info:
            save_zarr(_source(), url, storage_options=bad, progress=False)
    assert bad["secret"] not in str(info.value) and s3.secret not in str(info.value)
    with pytest.raises(PermissionError, match="check the credentials"):
        open_zarr(url, storage_options=bad)
    assert s3.keys(bucket) == []


def test_shards_not_multiples_of_chunks(s3, bucket):
    with raise_if_dask_computes():
        with pytest.raises(ValueError, match=r"multiples of the chunks \(4, 5, 7\)"):
            save_zarr(
                _source(),
                f"s3://{bucket}/x.zarr",
                chunks=(4, 5, 7),
                shards=(6, 10, 14),
                storage_options=s3.options,
            )
        with pytest.raises(ValueError, match="zarr v2 has no sharding"):
            save_zarr(
                _source(),
                f"s3://{bucket}/x.zarr",
                chunks=(4, 5, 7),
                shards=(8, 10, 14),
                zarr_format=2,
                storage_options=s3.options,
            )
    assert s3.keys(bucket) == []


def test_resume_into_another_computation(s3, bucket):
    url = f"s3://{bucket}/x.zarr"
    _interrupted(
        lambda: save_zarr(_source(), url, resume=True, storage_options=s3.options), after=1
    )
    before = s3.keys(bucket)
    other = da.from_array(DATA + 1, chunks=(4, 10, 14))
    with raise_if_dask_computes():
        with pytest.raises(ValueError, match="cannot resume") as info:
            save_zarr(other, url, resume=True, storage_options=s3.options, progress=False)
        with pytest.raises(FileExistsError, match="incomplete output of an interrupted write"):
            save_zarr(other, url, storage_options=s3.options, progress=False)
    msg = str(info.value)
    assert _source().name in msg and other.name in msg  # names both computations
    assert s3.keys(bucket) == before  # untouched


def test_missing_credentials(s3, bucket, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups
    options = {"client_kwargs": s3.options["client_kwargs"]}
    with raise_if_dask_computes():
        with pytest.raises(PermissionError, match="Unable to locate credentials|refused"):
            save_zarr(_source(), f"s3://{bucket}/x.zarr", storage_options=options)
    assert s3.keys(bucket) == []
