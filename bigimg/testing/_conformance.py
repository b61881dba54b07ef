"""The conformance suite every lazy reader passes: raw, zarr, TIFF file, TIFF stack, yours.

One class of tests, :class:`ReaderConformance`, and one small subclass per reader
saying how to put a volume on disk in its format and how to open it lazily; every
check is shared (the idea of zarr-python's store test base class). bigimg's own
readers are tested this way in ``tests/io/``, and a reader written outside bigimg can
be held to the same standard by subclassing it in its own test suite.

The tests use pytest's ``tmp_path`` and ``monkeypatch`` fixtures and ``pytest.raises``
(pytest is imported when a test runs, so ``import bigimg.testing`` does not need it).
"""

from __future__ import annotations

import itertools
import math
import os
import pickle
from typing import Any

import dask
import dask.array as da
import numpy as np

from bigimg._atomic import PARTIAL_TAG  # every reader must refuse such a name
from bigimg._errors import IncompleteOutputError
from bigimg.testing._assert import assert_dask_matches, raise_if_dask_computes
from bigimg.testing._data import random_volume

__all__ = ["ReaderConformance"]

SHAPE = (19, 23, 29)
CHUNKS = (7, 10, 12)  # 3 x 3 x 3 blocks with remainders


class ReadCounter:
    """Counts calls of ``reader_cls._read`` and the voxels they return."""

    def __init__(self, monkeypatch: Any, reader_cls: type) -> None:
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
    """Base class of a reader's conformance tests: subclass it and fill in three blanks.

    A subclass (named ``Test...`` so that pytest collects it) sets :attr:`reader_cls`
    and implements :meth:`write` and :meth:`open`; it inherits every ``test_*`` method.
    Together they check that a lazy reader

    * gives the stored values, shape, dtype and the requested chunks, for each of
      :attr:`dtypes`;
    * reads no voxel when opened or sliced lazily, and when computed reads only the
      blocks an index touches (``reader_cls._read`` is counted);
    * pickles: the array, and the one reader its graph holds (alone or as the
      ``.reader`` of a bigimg region source), with a graph that does not grow with the
      volume;
    * computes with the threaded scheduler and after a rechunk;
    * gives the same graph name when the same data is opened twice;
    * raises :class:`FileNotFoundError` for a missing source and
      :class:`bigimg.IncompleteOutputError` for an unfinished write (a name holding
      ``.bigimg-partial-``, as bigimg's writers leave behind).

    Every test writes its volumes under pytest's ``tmp_path``; the fixed volume is
    :attr:`SHAPE` in blocks of :attr:`CHUNKS`.

    Attributes
    ----------
    reader_cls : type
        The reader's class. Its ``_read(self, region)`` (one ``slice`` per axis) must
        be what the tasks call to read voxels; the tests count those calls.
    dtypes : tuple of str
        Dtypes the format stores (default uint8, big-endian uint16, float32, bool).
    name : str
        File or folder name the tests write to (give it the format's suffix).
    small_shape, big_shape : tuple of int
        Two volumes of the same 2 x 2 x 2 block grid, the second 8 times larger, for
        the graph-size test.

    Examples
    --------
    A reader of ``.npy`` files written without bigimg's internals. Defined in a test
    module, ``TestNpyConformance`` passes the whole suite under pytest; here (where its
    classes cannot be pickled by name) three of the tests are run by hand:

    >>> import os, pathlib, tempfile
    >>> import dask.array as da
    >>> import numpy as np
    >>> from bigimg import IncompleteOutputError
    >>> from bigimg.testing import ReaderConformance
    >>> class NpyReader:
    ...     def __init__(self, path):
    ...         if ".bigimg-partial-" in os.path.basename(path):
    ...             raise IncompleteOutputError(f"{path} is incomplete")
    ...         stored = np.load(path, mmap_mode="r")  # FileNotFoundError if missing
    ...         self.path, self.shape, self.dtype = path, stored.shape, stored.dtype
    ...         self.ndim = len(self.shape)
    ...     def __getitem__(self, region):
    ...         return self._read(region)
    ...     def _read(self, region):
    ...         return np.array(np.load(self.path, mmap_mode="r")[region])
    >>> class TestNpyConformance(ReaderConformance):
    ...     reader_cls = NpyReader
    ...     name = "vol.npy"
    ...     def write(self, directory, data, name, chunks):
    ...         path = os.path.join(directory, name)
    ...         with open(path, "wb") as f:  # np.save(path) would append ".npy"
    ...             np.save(f, data)
    ...         return path
    ...     def open(self, source, chunks):
    ...         reader = NpyReader(source)
    ...         meta = np.empty((0,) * reader.ndim, reader.dtype)  # so opening reads nothing
    ...         return da.from_array(reader, chunks=chunks, asarray=False, meta=meta)
    >>> suite = TestNpyConformance()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     suite.test_values_shape_dtype_chunks(pathlib.Path(tmp, "values"))
    ...     suite.test_missing_source_is_file_not_found(pathlib.Path(tmp))
    ...     suite.test_refuses_partial_output(pathlib.Path(tmp))
    """

    #: The volume most tests write, and the chunks they open it with (3 x 3 x 3
    #: blocks with remainders); fixed, since the expected reads are worked out for it.
    SHAPE: tuple[int, ...] = SHAPE
    CHUNKS: tuple[int, ...] = CHUNKS

    reader_cls: type
    dtypes: tuple[str, ...] = ("uint8", ">u2", "float32", "bool")
    name: str = "vol"
    #: shapes for the pickle-size test: same block grid, 8x the voxels
    small_shape: tuple[int, ...] = (8, 10, 12)
    big_shape: tuple[int, ...] = (16, 20, 24)

    # hooks ---------------------------------------------------------------------------
    def write(self, directory: str, data: np.ndarray, name: str, chunks: Any) -> Any:
        """Store ``data`` as ``directory/name`` in the format; return what :meth:`open` takes.

        ``chunks`` is the block shape, for formats that store chunks (others ignore
        it). ``name`` may hold ``.bigimg-partial-``: write it under that name anyway,
        so that :meth:`open` can be shown to refuse it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement write()")

    def open(self, source: Any, chunks: Any) -> da.Array:
        """Open ``source`` lazily as a dask array in blocks of ``chunks``.

        ``source`` is what :meth:`write` returned, or :meth:`missing`'s path.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement open()")

    def expected_dtype(self, dtype: np.dtype) -> np.dtype:
        """The dtype the reader gives for data written as ``dtype`` (default: the same)."""
        return dtype

    def missing(self, directory: str) -> Any:
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
        # the graph holds the reader, alone or inside a bigimg region source (bigimg._sources)
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
        import pytest

        missing = self.missing(str(tmp_path))
        with pytest.raises(FileNotFoundError, match="missing"):
            self.open(missing, CHUNKS)

    def test_refuses_partial_output(self, tmp_path):
        import pytest

        data = random_volume(SHAPE, np.uint8)
        source = self.write(str(tmp_path), data, self.name + PARTIAL_TAG + "0123456789", CHUNKS)
        with pytest.raises(IncompleteOutputError, match="incomplete"):
            self.open(source, CHUNKS)

    def test_computes_with_dask_default_scheduler(self, tmp_path):
        data, arr = self._make(tmp_path, "uint8")
        with dask.config.set(scheduler="threads"):
            assert int(arr.sum().compute()) == int(data.sum(dtype=np.int64))
