"""open_raw / save_raw: conformance, layouts, byte ranges, errors."""

from __future__ import annotations

import os
import pickle

import dask.array as da
import numpy as np
import pytest
from dask.delayed import Delayed
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bigimg.io import open_raw, save_raw
from bigimg.io._raw import RawReader, RawWriter
from bigimg.testing import ReaderConformance, random_volume


class TestRawConformance(ReaderConformance):
    reader_cls = RawReader
    name = "vol.raw"

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        data.tofile(path)
        return path, data.shape, data.dtype

    def open(self, source, chunks):
        path, shape, dtype = source if isinstance(source, tuple) else (source, self.SHAPE, "u1")
        return open_raw(path, shape, dtype, chunks=chunks)


class TestRawFortranOffsetConformance(TestRawConformance):
    """The same suite on a Fortran-ordered file behind a 17-byte header."""

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(b"H" * 17)
            f.write(np.asfortranarray(data).tobytes(order="F"))
        return path, data.shape, data.dtype

    def open(self, source, chunks):
        path, shape, dtype = source if isinstance(source, tuple) else (source, self.SHAPE, "u1")
        return open_raw(path, shape, dtype, offset=17, order="F", chunks=chunks)


def test_big_endian_keeps_dtype_and_values(tmp_path):
    data = random_volume((5, 6, 7), np.uint16).astype(">u2")
    path = tmp_path / "be.raw"
    data.tofile(path)
    arr = open_raw(path, data.shape, ">u2", chunks=(2, 3, 4))
    out = arr.compute()
    assert arr.dtype.str == ">u2" and out.dtype.str == ">u2"
    np.testing.assert_array_equal(out, data)
    assert path.read_bytes()[:2] == int(data.flat[0]).to_bytes(2, "big")  # file is big-endian


def _spy_reads(monkeypatch):
    """Record every (offset, bytes) positional read; refuse memory maps."""
    reads = []
    real_preadv = os.preadv

    def preadv(fd, buffers, offset):
        reads.append((offset, sum(len(b) for b in buffers)))
        return real_preadv(fd, buffers, offset)

    def no_memmap(*args, **kwargs):
        raise AssertionError("a block read mapped the file")

    monkeypatch.setattr(os, "preadv", preadv)
    monkeypatch.setattr(np, "memmap", no_memmap)
    return reads


def test_task_reads_only_the_bytes_covering_its_block(tmp_path, monkeypatch):
    shape = (19, 23, 29)
    data = random_volume(shape, np.uint16)
    path = tmp_path / "v.raw"
    data.tofile(path)
    reads = _spy_reads(monkeypatch)
    arr = open_raw(path, shape, np.uint16, chunks=(7, 10, 12))
    np.testing.assert_array_equal(
        arr[7:14, 10:20, 12:24].compute(scheduler="sync"), data[7:14, 10:20, 12:24]
    )
    # one read per plane, of the span from the block's first row to its last
    span = (9 * 29 + 12) * 2
    assert reads == [((z * 23 * 29 + 10 * 29 + 12) * 2, span) for z in range(7, 14)]
    # a block of whole rows of the last two axes is one read of exactly its bytes
    reads.clear()
    open_raw(path, shape, np.uint16, chunks=(7, 23, 29)).blocks[1].compute(scheduler="sync")
    assert reads == [(7 * 23 * 29 * 2, 7 * 23 * 29 * 2)]


def test_rows_far_apart_are_read_one_by_one(tmp_path, monkeypatch):
    """A narrow block of a wide plane reads its rows, not the span between them."""
    from bigimg import _rawfile

    shape = (3, 5, 4000)
    data = random_volume(shape, np.int32)
    path = tmp_path / "wide.raw"
    data.tofile(path)
    monkeypatch.setattr(_rawfile, "ROW_COST_BYTES", 0)
    reads = _spy_reads(monkeypatch)
    got = open_raw(path, shape, np.int32, chunks=(2, 5, 10))[:2, :, 10:20].compute(scheduler="sync")
    np.testing.assert_array_equal(got, data[:2, :, 10:20])
    assert sorted(reads) == [
        ((z * 5 * 4000 + y * 4000 + 10) * 4, 40) for z in (0, 1) for y in range(5)
    ]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
    order=st.sampled_from("CF"),
)
def test_reader_basic_indexing_matches_numpy(tmp_path_factory, data, shape, order):
    vol = np.arange(int(np.prod(shape)), dtype="<i4").reshape(shape)
    path = tmp_path_factory.mktemp("idx") / "v.raw"
    path.write_bytes(vol.tobytes(order=order))
    reader = RawReader(str(path), shape, "<i4", 0, order)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=False, allow_ellipsis=True))
    np.testing.assert_array_equal(reader[index], vol[index])


def test_auto_chunks_are_roughly_cubic_and_bounded(tmp_path):
    path = tmp_path / "sparse.raw"
    with open(path, "wb") as f:  # 256 MiB, sparse: nothing is written or read
        f.truncate(512**3 * 2)
    arr = open_raw(path, (512, 512, 512), np.uint16)
    block = arr.chunksize
    assert arr.npartitions > 1
    assert np.prod(block) * 2 <= 64 * 2**20
    assert max(block) <= 2 * min(block)


def test_size_mismatch_message_names_file_and_numbers(tmp_path):
    path = tmp_path / "ct.raw"
    with open(path, "wb") as f:
        f.truncate(1_000_000)
    with pytest.raises(ValueError) as info:
        open_raw(path, (100, 100, 100), np.uint16)
    msg = str(info.value)
    assert "ct.raw holds 1,000,000 bytes but shape (100, 100, 100) with dtype uint16" in msg
    assert "needs 2,000,000 after offset 0; check shape, dtype and offset" in msg
    assert "1-byte dtype such as uint8" in msg  # the hint for the likely mistake


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shape": "100"}, TypeError, "`shape` must be a tuple of ints"),
        ({"shape": (10, -1)}, ValueError, "non-negative"),
        ({"dtype": object}, TypeError, "fixed-size numeric"),
        ({"dtype": "nonsense"}, TypeError, "`dtype` must be a numpy dtype"),
        ({"offset": -3}, ValueError, "`offset` must be >= 0"),
        ({"offset": 1.5}, TypeError, "`offset` must be an int"),
        ({"order": "X"}, ValueError, "`order` must be 'C'"),
        ({"chunks": (2, 2)}, ValueError, "one entry per axis"),
        ({"chunks": "big"}, TypeError, "`chunks` must be 'auto'"),
    ],
)
def test_argument_errors(tmp_path, kwargs, error, match):
    path = tmp_path / "v.raw"
    np.zeros((4, 5, 6), np.uint8).tofile(path)
    args = {"shape": (4, 5, 6), "dtype": np.uint8} | kwargs
    with pytest.raises(error, match=match):
        open_raw(path, **args)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.raw"):
        open_raw(tmp_path / "nope.raw", (2, 2), np.uint8)
    with pytest.raises(IsADirectoryError):
        open_raw(tmp_path, (2, 2), np.uint8)


@pytest.mark.parametrize("dtype", ["uint8", ">u2", "float32", "bool"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize(
    "chunks",
    [(4, 3, 5), (4, 10, 11), (2, 10, 3), (9, 10, 11), (9, 1, 11), ((1, 8), (10,), (4, 7))],
    ids=["blocks", "planes", "rows", "whole", "one-row", "irregular"],
)
def test_save_raw_round_trip(tmp_path, dtype, order, chunks):
    data = random_volume((9, 10, 11), np.dtype(dtype).newbyteorder("=")).astype(dtype)
    src = da.from_array(data, chunks=chunks)
    path = save_raw(src, tmp_path / "out.raw", order=order, progress=False)
    assert path == str(tmp_path / "out.raw")
    assert os.path.getsize(path) == data.nbytes
    expected_bytes = data.tobytes(order=order)  # the dtype's own bytes, big-endian stays so
    with open(path, "rb") as f:
        assert f.read() == expected_bytes
    back = open_raw(path, data.shape, dtype, order=order).compute()
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, data)


def test_raw_writer_strided_regions(tmp_path):
    """Stepped slices (not from ``da.store``) still land on the right voxels."""
    path = tmp_path / "w.raw"
    np.zeros((6, 7), np.int16).tofile(path)
    writer = RawWriter(str(path), (6, 7), np.int16, 0, "C")
    writer[1:6:2, 0:7:3] = np.arange(9, dtype=np.int16).reshape(3, 3) + 1
    expected = np.zeros((6, 7), np.int16)
    expected[1:6:2, 0:7:3] = np.arange(9).reshape(3, 3) + 1
    np.testing.assert_array_equal(np.fromfile(path, np.int16).reshape(6, 7), expected)


def test_save_raw_numpy_input_and_compute_false(tmp_path):
    data = random_volume((6, 7, 8), np.int32)
    out = tmp_path / "lazy.raw"
    delayed = save_raw(data, out, compute=False, progress=False)
    assert isinstance(delayed, Delayed)
    assert not out.exists()
    assert len(pickle.dumps(delayed)) < data.nbytes + 4096
    assert delayed.compute() == str(out)
    np.testing.assert_array_equal(np.fromfile(out, np.int32).reshape(data.shape), data)


def test_rewrite_in_place_reads_old_file_while_writing(tmp_path):
    path = tmp_path / "v.raw"
    data = random_volume((8, 9, 10), np.uint16)
    data.tofile(path)
    arr = open_raw(path, data.shape, np.uint16, chunks=(3, 4, 5))
    save_raw(arr[::-1] + 1, path, overwrite=True, progress=False)
    np.testing.assert_array_equal(np.fromfile(path, np.uint16).reshape(data.shape), data[::-1] + 1)
