"""The conformance suite every lazy reader passes (raw, zarr, TIFF file, TIFF stack).

A reader's test class subclasses :class:`ReaderConformance` and fills in
``reader_cls`` (whose ``_read`` runs inside the tasks and is counted here),
:meth:`write` (put an array on disk in the format, under a given name) and
:meth:`open` (open it lazily with the given chunks). Everything else is shared.
"""

from __future__ import annotations

import itertools
import math
import os
import pickle

import dask
import dask.array as da
import numpy as np
import pytest

from bigimg import IncompleteOutputError
from bigimg.io._atomic import PARTIAL_TAG
from bigimg.testing import assert_dask_matches, raise_if_dask_computes, random_volume

SHAPE = (19, 23, 29)
CHUNKS = (7, 10, 12)  # 3 x 3 x 3 blocks with remainders


class ReadCounter:
    """Counts calls of ``reader_cls._read`` and the voxels they return."""

    def __init__(self, monkeypatch, reader_cls) -> None:
        self.calls = 0
        self.voxels = 0
        original = reader_cls._read

        def counting(reader, region):
            block = original(reader, region)
            self.calls += 1
            self.voxels += block.size
            return block

        monkeypatch.setattr(reader_cls, "_read", counting)


class ReaderConformance:
    """Shared tests; subclasses set ``reader_cls``/``dtypes`` and implement the hooks."""

    reader_cls: type
    dtypes: tuple = ("uint8", ">u2", "float32", "bool")
    name = "vol"
    #: shapes for the pickle-size test: same block grid, 8x the voxels
    small_shape, big_shape = (8, 10, 12), (16, 20, 24)

    # hooks ---------------------------------------------------------------------------
    def write(self, directory, data: np.ndarray, name: str, chunks):
        """Write ``data`` as ``directory/name...`` (stored in ``chunks`` where the format
        has chunks); return what ``open`` takes."""
        raise NotImplementedError

    def open(self, source, chunks) -> da.Array:
        raise NotImplementedError

    def expected_dtype(self, dtype: np.dtype) -> np.dtype:
        return dtype

    def missing(self, directory):
        """A source that does not exist."""
        return os.path.join(directory, "missing")

    # helpers -------------------------------------------------------------------------
    def _make(self, tmp_path, dtype="uint16", shape=SHAPE, chunks=CHUNKS, name=None):
        data = random_volume(shape, np.dtype(dtype).newbyteorder("="), seed=3).astype(dtype)
        os.makedirs(tmp_path, exist_ok=True)
        source = self.write(str(tmp_path), data, name or self.name, chunks)
        return data, self.open(source, chunks)

    # tests ---------------------------------------------------------------------------
    def test_values_shape_dtype_chunks(self, tmp_path):
        for dtype in map(np.dtype, self.dtypes):
            data, arr = self._make(tmp_path / dtype.str.replace("|", "").replace(">", "be"), dtype)
            assert arr.shape == data.shape
            assert arr.dtype == self.expected_dtype(dtype)
            out = assert_dask_matches(
                arr, data, check_dtype=False, chunks=da.core.normalize_chunks(CHUNKS, SHAPE)
            )
            assert out.dtype == self.expected_dtype(dtype)

    def test_opening_reads_no_voxels(self, tmp_path, monkeypatch):
        data = random_volume(SHAPE, np.uint16)
        source = self.write(str(tmp_path), data, self.name, CHUNKS)
        counter = ReadCounter(monkeypatch, self.reader_cls)
        with raise_if_dask_computes():
            arr = self.open(source, CHUNKS)
            view = arr[3:9, ::2] + 1
        assert counter.calls == 0
        view.compute(scheduler="sync")
        assert counter.calls > 0  # the counter does see the task-side reads

    def test_slicing_reads_only_needed_blocks(self, tmp_path, monkeypatch):
        data, arr = self._make(tmp_path)
        counter = ReadCounter(monkeypatch, self.reader_cls)
        index = (slice(5, 9), slice(None), 25)
        got = arr[index].compute(scheduler="sync")
        np.testing.assert_array_equal(got, data[index])
        blocks = [range(2), range(3), [2]]  # the blocks this index touches
        assert counter.calls == math.prod(len(b) for b in blocks)
        needed = sum(
            math.prod(arr.chunks[a][i] for a, i in enumerate(ijk))
            for ijk in itertools.product(*blocks)
        )
        assert counter.voxels <= needed

    def test_pickle_roundtrip(self, tmp_path):
        data, arr = self._make(tmp_path)
        back = pickle.loads(pickle.dumps(arr))
        np.testing.assert_array_equal(back.compute(scheduler="sync"), data)
        # the graph holds the reader inside its region source (bigimg._halo)
        held = (getattr(v, "reader", v) for v in arr.dask.values())
        (reader,) = (v for v in held if isinstance(v, self.reader_cls))
        again = pickle.loads(pickle.dumps(reader))
        np.testing.assert_array_equal(again[2:4, 1, ::3], data[2:4, 1, ::3])

    def test_pickled_graph_is_small_and_independent_of_volume(self, tmp_path):
        sizes = []
        for shape in (self.small_shape, self.big_shape):
            chunks = tuple(-(-n // 2) for n in shape)  # the same 2 x 2 x 2 block grid
            data, arr = self._make(tmp_path / "x".join(map(str, shape)), "uint16", shape, chunks)
            sizes.append(len(pickle.dumps(arr)))
            assert sizes[-1] < data.nbytes or data.nbytes < 10_000
        assert sizes[1] < 10_000
        assert abs(sizes[1] - sizes[0]) < 200, sizes

    def test_threaded_compute_and_rechunk(self, tmp_path):
        data, arr = self._make(tmp_path, "float32")
        got = arr.rechunk((5, 23, 8)).sum(axis=1).compute(scheduler="threads")
        np.testing.assert_allclose(got, data.sum(axis=1), rtol=1e-5)

    def test_reopening_gives_the_same_graph_name(self, tmp_path):
        data = random_volume(SHAPE, np.uint8)
        source = self.write(str(tmp_path), data, self.name, CHUNKS)
        assert self.open(source, CHUNKS).name == self.open(source, CHUNKS).name

    def test_missing_source_is_file_not_found(self, tmp_path):
        missing = self.missing(str(tmp_path))
        with pytest.raises(FileNotFoundError, match="missing"):
            self.open(missing, CHUNKS)

    def test_refuses_partial_output(self, tmp_path):
        data = random_volume(SHAPE, np.uint8)
        source = self.write(str(tmp_path), data, self.name + PARTIAL_TAG + "0123456789", CHUNKS)
        with pytest.raises(IncompleteOutputError, match="incomplete"):
            self.open(source, CHUNKS)

    def test_computes_with_dask_default_scheduler(self, tmp_path):
        data, arr = self._make(tmp_path, "uint8")
        with dask.config.set(scheduler="threads"):
            assert int(arr.sum().compute()) == int(data.sum(dtype=np.int64))
