"""The scratch policy on a local directory and on an object store (fsspec URL).

:class:`bigimg._scratch.Scratch` is checked on its own (blocks, regions, listing,
deletion, ownership, validation of bad locations), then every spilling step that is
not a distance transform (those are in ``tests/ndimage/test_distance_scratch.py``) is
run through it with spilling forced by its ``dask.config`` key: the halo spill and
``watershed_ift``. Each must equal scipy and leave nothing in the scratch prefix.
``memory://`` is fsspec's in-process object store: no paths, no partial writes, no
mapping, which is what an object store offers; a few tests also run on ``s3://``, a
real S3-compatible server (moto on 127.0.0.1, ``tests/_s3.py``; the session's ``s3``
fixture) that checks credentials (skipped without moto and s3fs).
"""

from __future__ import annotations

import gc
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dask
import dask.array as da
import fsspec
import numpy as np
import pytest
import scipy.ndimage as ndi
from dask.callbacks import Callback
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.registry import _registry, known_implementations

from bigimg import _scratch, ndimage
from bigimg._scratch import Scratch, check_temp_dir, scratch_base
from bigimg._watershed import _kernel
from bigimg.testing import odd_chunkings, raise_if_dask_computes, random_volume
from tests import _s3

MEMORY = fsspec.filesystem("memory")


@dataclass
class Where:
    """A scratch location for a test and what is stored under it now."""

    url: str
    contents: Callable[[], list[str]]


LOCATIONS = ["local", "memory"]
#: Also on the S3 server (for a few tests: each request is a round trip over HTTP).
WITH_S3 = [*LOCATIONS, "s3"]


def scratch_location(kind: str, tmp_path, s3=None) -> Iterator[Where]:
    """A fresh, empty scratch location: a local directory, a ``memory://`` prefix or
    an ``s3://`` prefix in a new bucket (with its options set in ``dask.config``).

    ``s3``: the ``s3`` fixture's server; None: the same one, this process's server
    (``tests._s3.session_server``), for callers without the fixture."""
    if kind == "local":
        folder = tmp_path / "scratch"
        folder.mkdir()
        yield Where(str(folder), lambda: sorted(str(p) for p in folder.rglob("*")))
        return
    if kind == "s3":
        if s3 is None:
            pytest.importorskip("moto.server", reason="S3 tests need moto[server]")
            pytest.importorskip("s3fs", reason="S3 tests need s3fs")
            s3 = _s3.session_server()
        bucket = s3.new_bucket("bigimg-scratch")
        with dask.config.set({"bigimg.scratch-options": s3.options}):
            yield Where(f"s3://{bucket}/tmp", lambda: s3.keys(bucket))
        return
    root = f"/bigimg-tests/{uuid.uuid4().hex}"
    yield Where(f"memory:/{root}", lambda: sorted(MEMORY.find(root)))
    try:
        MEMORY.rm(root, recursive=True)
    except FileNotFoundError:
        pass


@pytest.fixture(params=LOCATIONS)
def scratch_at(request, tmp_path):
    s3 = request.getfixturevalue("s3") if request.param == "s3" else None
    yield from scratch_location(request.param, tmp_path, s3)


class Peak(Callback):
    """The most entries seen under a location after any task (proves it was used)."""

    def __init__(self, where: Where) -> None:
        super().__init__()
        self.where, self.most = where, 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.most = max(self.most, len(self.where.contents()))


# --------------------------------------------------------------------------------------
# the Scratch interface
# --------------------------------------------------------------------------------------
def _regions(shape, rng, n=25):
    for _ in range(n):
        lo = [int(rng.integers(0, s)) for s in shape]
        yield tuple(slice(a, int(rng.integers(a + 1, s + 1))) for a, s in zip(lo, shape))


@pytest.mark.parametrize("scratch_at", WITH_S3, indirect=True)
@pytest.mark.parametrize("slack", [_scratch.SPAN_SLACK_BYTES, 0], ids=["spans", "planes"])
@pytest.mark.parametrize(
    "shape,dtype",
    [((7, 5, 9), np.float32), ((4, 3, 6, 5), np.int64), ((11,), np.uint8), ((3, 8), bool)],
)
def test_blocks_and_regions_round_trip(scratch_at, shape, dtype, slack, monkeypatch):
    monkeypatch.setattr(_scratch, "SPAN_SLACK_BYTES", slack)  # "planes": a GET per plane
    block = random_volume(shape, dtype, seed=len(shape))
    spill = Scratch(scratch_at.url, "test")
    spill.write_block("b", block[::-1])  # not C-contiguous: written in C order
    whole = spill.read_block("b", shape, dtype)
    np.testing.assert_array_equal(whole, block[::-1])
    assert whole.flags.writeable and whole.dtype == dtype
    rng = np.random.default_rng(1)
    for region in _regions(shape, rng):
        got = spill.read_block("b", shape, dtype, region)
        np.testing.assert_array_equal(got, block[::-1][region])
        assert got.flags.writeable
    empty = tuple(slice(1, 1) for _ in shape)
    assert spill.read_block("b", shape, dtype, empty).shape == (0,) * len(shape)
    spill.remove()
    assert scratch_at.contents() == []


@pytest.mark.parametrize("scratch_at", WITH_S3, indirect=True)
def test_list_delete_and_remove(scratch_at):
    spill = Scratch(scratch_at.url, "test")
    assert spill.list() == []  # nothing is created before the first block
    assert scratch_at.contents() == []  # ... and the probe left nothing
    for name in ("a-1", "a-2", "b-1"):
        spill.write_block(name, np.arange(3))
    spill.write_block("a-1", np.arange(4))  # a rewrite replaces the block
    assert spill.list() == ["a-1", "a-2", "b-1"]
    assert spill.list("a-") == ["a-1", "a-2"]
    np.testing.assert_array_equal(spill.read_block("a-1", (4,), int), np.arange(4))
    spill.delete("a-1", "missing")  # absent names are ignored
    assert spill.list() == ["a-2", "b-1"]
    spill.delete()
    with pytest.raises(FileNotFoundError):
        spill.read_block("a-1", (4,), int)
    spill.remove()
    assert spill.list() == [] and scratch_at.contents() == []
    spill.remove()  # removing twice is fine


@pytest.mark.parametrize("scratch_at", WITH_S3, indirect=True)
def test_copies_do_not_own_the_prefix(scratch_at):
    spill = Scratch(scratch_at.url, "test")
    assert spill.path.startswith(scratch_at.url.rstrip("/") + "/bigimg-test-")
    spill.write_block("x", np.ones(5))
    remote = pickle.loads(pickle.dumps(spill))  # what a worker gets
    assert remote.path == spill.path and remote.is_local == spill.is_local
    np.testing.assert_array_equal(remote.read_block("x", (5,), float), np.ones(5))
    del remote
    gc.collect()
    assert spill.list() == ["x"]
    assert dask.base.tokenize(spill) == dask.base.tokenize(pickle.loads(pickle.dumps(spill)))
    del spill
    gc.collect()
    assert scratch_at.contents() == []  # the owner's garbage collection removes it


def test_a_copy_removes_the_prefix_on_purpose(scratch_at):
    spill = Scratch(scratch_at.url, "test")
    for i in range(3):
        spill.write_block(f"x{i}", np.ones(5))
    pickle.loads(pickle.dumps(spill)).remove()  # a failing task does this
    assert scratch_at.contents() == []


def test_file_paths_only_on_a_local_directory(scratch_at, tmp_path):
    spill = Scratch(scratch_at.url, "test")
    if not os.path.isdir(scratch_at.url):
        assert not spill.is_local
        with pytest.raises(NotImplementedError, match="object store"):
            spill.file("x")
    else:
        assert spill.is_local and spill.file("x") == os.path.join(spill.path, "x")
    as_url = Scratch(f"file://{tmp_path}", "test")  # a file:// URL is a local directory
    assert as_url.is_local and as_url.path.startswith(str(tmp_path))


def test_where_the_prefix_goes(tmp_path):
    url = f"memory://bigimg-tests/{uuid.uuid4().hex}"
    other = tmp_path / "other"
    other.mkdir()
    with dask.config.set({"bigimg.scratch": url, "temporary-directory": str(other)}):
        assert scratch_base() == url
        assert Scratch(None, "t").path.startswith(url + "/bigimg-t-")
        assert scratch_base(tmp_path) == str(tmp_path)  # temp_dir= wins
    with dask.config.set({"bigimg.scratch": None, "temporary-directory": str(other)}):
        assert scratch_base() == str(other)
    options = {"bigimg.scratch": url, "bigimg.scratch-options": {"unused": "value"}}
    with dask.config.set(options):
        assert not Scratch().is_local


# --------------------------------------------------------------------------------------
# bad locations: clear errors before anything computes, nothing left behind
# --------------------------------------------------------------------------------------
class _Refusing(MemoryFileSystem):
    """An object store that refuses writes with a message quoting the credentials."""

    protocol = "bigimg-refusing"
    root_marker = "/"
    store: dict = {}  # its own, not the memory filesystem's
    pseudo_dirs = [""]

    def __init__(self, *args, error=PermissionError, **options):
        super().__init__(*args, **options)
        self.error, self.options = error, options

    def pipe_file(self, path, value, **kwargs):
        secret = self.options.get("secret", "")
        raise self.error(f"Access Denied for key with secret {secret} on {path}")


@pytest.fixture
def refusing(monkeypatch):
    monkeypatch.setitem(_registry, "bigimg-refusing", _Refusing)  # registered for the test


def test_unknown_scheme_and_missing_package(monkeypatch):
    with pytest.raises(ValueError, match=r"`temp_dir`.*fsspec knows no filesystem 'nope'"):
        check_temp_dir("nope://bucket/tmp")
    entry = {"class": "bigimg_missing_module.FS", "err": "Install bigimgfakefs to access it"}
    monkeypatch.setitem(known_implementations, "bigimgfake", entry)
    with pytest.raises(ImportError, match=r"not installed.*pip install bigimgfakefs"):
        Scratch("bigimgfake://bucket/tmp")
    with dask.config.set({"bigimg.scratch": "bigimgfake://bucket/tmp"}):
        with pytest.raises(ImportError, match=r"dask.config 'bigimg.scratch'.*bigimgfakefs"):
            Scratch()


@pytest.mark.parametrize(
    "error,hint",
    [(PermissionError, "PermissionError"), (FileNotFoundError, "bucket exists")],
    ids=["not-writable", "no-bucket"],
)
def test_unwritable_store_is_a_clear_error_without_credentials(refusing, error, hint):
    options = {"secret": "s3cr3t-do-not-print", "error": error}
    with dask.config.set({"bigimg.scratch-options": options}):
        with pytest.raises(ValueError, match="is not writable") as info:
            Scratch("bigimg-refusing://bucket/tmp")
    message = str(info.value)
    assert "s3cr3t-do-not-print" not in message and "***" in message
    assert hint in message and "bigimg-refusing://bucket/tmp" in message
    assert fsspec.filesystem("bigimg-refusing").find("/") == []


@pytest.mark.parametrize("which", ["secret", "bucket", "none"])
def test_refused_credentials_and_missing_bucket_on_s3(s3, which, monkeypatch, tmp_path):
    bucket = s3.new_bucket("bigimg-scratch")
    options = s3.options
    url = f"s3://{bucket}/tmp"
    if which == "secret":
        options = {**options, "secret": "wrong-" + s3.secret}
    elif which == "bucket":
        url = f"s3://{bucket}-missing/tmp"
    else:  # no credentials at all (and none in the environment)
        options = {"client_kwargs": options["client_kwargs"], "skip_instance_cache": True}
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role either
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with dask.config.set({"bigimg.scratch-options": options}):
        with pytest.raises(ValueError, match="is not writable") as info:
            Scratch(url)
    assert s3.secret not in str(info.value) and "wrong-" not in str(info.value)
    assert url in str(info.value) and s3.keys(bucket) == []


def test_bad_options_and_local_locations(tmp_path):
    with dask.config.set({"bigimg.scratch": "memory://x", "bigimg.scratch-options": "key"}):
        with pytest.raises(TypeError, match="'bigimg.scratch-options' must be a dict"):
            Scratch()
    with pytest.raises(TypeError, match="`temp_dir` must be a path"):
        check_temp_dir(3)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ValueError, match="must be an existing directory"):
        Scratch(tmp_path / "file")
    with dask.config.set({"bigimg.scratch": str(tmp_path / "missing")}):
        with pytest.raises(ValueError, match=r"dask.config 'bigimg.scratch'.*existing dir"):
            Scratch()


def test_unwritable_local_directory(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root may write anywhere, but not in sysfs
            if not os.path.isdir("/sys/kernel"):
                pytest.skip("no directory this user cannot write to")
            folder = "/sys/kernel"
        with pytest.raises(ValueError, match=r"is not writable.*may write in it"):
            Scratch(folder)
    finally:
        (tmp_path / "read-only").chmod(0o700)


def test_bad_config_fails_when_the_graph_is_built(refusing):
    x = da.from_array(random_volume((9, 8, 7), np.float32), chunks=4).map_blocks(np.copy)
    settings = {"bigimg.scratch": "bigimg-refusing://bucket/tmp", "bigimg.halo-spill-bytes": 0}
    with dask.config.set(settings), raise_if_dask_computes():
        with pytest.raises(ValueError, match="is not writable"):
            ndimage.uniform_filter(x, 3)
        with pytest.raises(ValueError, match="is not writable"):
            ndimage.watershed_ift(x.astype(np.uint8), da.zeros(x.shape, dtype=np.int32, chunks=4))


# --------------------------------------------------------------------------------------
# the halo spill through the scratch space
# --------------------------------------------------------------------------------------
SHAPE = (17, 13, 11)


@pytest.mark.parametrize(
    "scratch_at,chunking",
    [
        *((where, c) for where in LOCATIONS for c in ("halves", "irregular", "smaller_than_halo")),
        ("s3", "remainder"),
    ],
    indirect=["scratch_at"],
)
def test_halo_spill(scratch_at, chunking):
    data = random_volume(SHAPE, np.float32, seed=11)
    chunks = odd_chunkings(SHAPE)[chunking]
    x = da.from_array(data, chunks=chunks).map_blocks(np.copy, dtype=data.dtype)
    settings = {"bigimg.halo-spill-bytes": 0, "bigimg.scratch": scratch_at.url}
    with dask.config.set(settings):
        out = ndimage.gaussian_filter(x, 1.5, mode="nearest")
        opened = ndimage.grey_opening(x, size=(3, 2, 4))
    assert any(str(k[0]).startswith("halo-spill-write") for k in out.__dask_graph__())
    assert scratch_at.contents() == []  # building the graph writes nothing
    secret = (dask.config.get("bigimg.scratch-options", None) or {}).get("secret")
    assert not secret or secret not in repr(dict(out.__dask_graph__()))  # (s3) not shown
    with Peak(scratch_at) as peak:
        got, got_opened = dask.compute(out, opened, scheduler="threads")
    assert peak.most > 0  # the blocks went there
    np.testing.assert_allclose(got, ndi.gaussian_filter(data, 1.5, mode="nearest"), atol=1e-5)
    np.testing.assert_array_equal(got_opened, ndi.grey_opening(data, size=(3, 2, 4)))
    del out, opened
    gc.collect()
    assert scratch_at.contents() == []


def test_halo_spill_failure_leaves_nothing(scratch_at):
    def fail_on_last(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 1, 1):
            raise ValueError("input block broken")
        return block

    data = random_volume(SHAPE, np.float32, seed=6)
    x = da.from_array(data, chunks=9).map_blocks(fail_on_last, dtype=data.dtype)
    with dask.config.set({"bigimg.halo-spill-bytes": 0, "bigimg.scratch": scratch_at.url}):
        out = ndimage.uniform_filter(x, 3)
    try:
        out.compute(scheduler="sync")
    except ValueError as err:
        message = str(err)
    assert "input block broken" in message
    del out
    gc.collect()
    assert scratch_at.contents() == []


# --------------------------------------------------------------------------------------
# watershed_ift through the scratch space
# --------------------------------------------------------------------------------------
def _basins(shape=(13, 17, 19), seed=0):
    rng = np.random.default_rng(seed)
    x = (ndi.gaussian_filter(rng.random(shape), 1.5) * 255).astype(np.uint8)
    m = np.zeros(shape, np.int32)
    m.flat[rng.choice(m.size, 12, replace=False)] = np.arange(-1, 11)
    return x, m


@pytest.mark.parametrize("budget", [None, -1], ids=["in-memory", "mapped"])
@pytest.mark.parametrize(
    "scratch_at,chunking",
    [
        *((where, c) for where in LOCATIONS for c in ("single", "remainder", "irregular", "ones")),
        ("s3", "irregular"),
    ],
    indirect=["scratch_at"],
)
def test_watershed(scratch_at, chunking, budget, tmp_path):
    x, m = _basins()
    local = tmp_path / "worker-temp"  # the solve's own temporary directory
    local.mkdir()
    chunks = odd_chunkings(x.shape)[chunking]
    settings = {"bigimg.watershed-resident-bytes": budget, "temporary-directory": str(local)}
    with dask.config.set(settings):
        got = ndimage.watershed_ift(da.from_array(x, chunks=chunks), m, temp_dir=scratch_at.url)
        seen = {}

        class Watch(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                if "watershed_ift-solve" in str(key):
                    seen["after solve"] = scratch_at.contents()

        with Watch():
            result = got.compute(scheduler="sync", optimize_graph=False)
    np.testing.assert_array_equal(result, ndi.watershed_ift(x, m))
    assert got.chunks == da.from_array(x, chunks=chunks).chunks
    if not os.path.isdir(scratch_at.url):  # the labels, one object per block
        names = [os.path.basename(p) for p in seen["after solve"]]
        assert len(names) == got.npartitions and all(n.startswith("labels-") for n in names)
    assert scratch_at.contents() == []
    assert list(local.iterdir()) == []


def test_watershed_failure_leaves_nothing(scratch_at, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise MemoryError("simulated failure in the flood")

    x, m = _basins()
    local = tmp_path / "worker-temp"
    local.mkdir()
    settings = {"bigimg.watershed-resident-bytes": -1, "temporary-directory": str(local)}
    with dask.config.set(settings):
        got = ndimage.watershed_ift(da.from_array(x, chunks=6), m, temp_dir=scratch_at.url)
        monkeypatch.setattr(_kernel, "propagate_bricks", fail)
        with pytest.raises(MemoryError, match="simulated"):
            got.compute(scheduler="sync")
    assert scratch_at.contents() == []
    assert list(local.iterdir()) == []
