"""open_hdf5, open_mrc, open_nrrd: files written by h5py, mrcfile and pynrrd; bad files."""

from __future__ import annotations

import os

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
mrcfile = pytest.importorskip("mrcfile")
nrrd = pytest.importorskip("nrrd")

import bigimg  # noqa: E402
from bigimg.io import header, open_hdf5, open_mrc, open_nrrd  # noqa: E402
from bigimg.io._formats import Hdf5Reader, MrcReader, NrrdReader  # noqa: E402
from bigimg.testing import ReaderConformance  # noqa: E402

# --- HDF5 ---------------------------------------------------------------------------


class TestHdf5Conformance(ReaderConformance):
    """A chunked, compressed dataset inside a group; blocks are the stored chunks."""

    reader_cls = Hdf5Reader
    name = "scan.h5"

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        with h5py.File(path, "w") as f:
            f.create_dataset("entry/data", data=data, chunks=chunks, compression="gzip")
        return path

    def open(self, source, chunks):
        return open_hdf5(source, "/entry/data", chunks=chunks)


class TestHdf5ContiguousConformance(TestHdf5Conformance):
    """A contiguous (unchunked) dataset, the only one in the file (no path needed)."""

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        with h5py.File(path, "w") as f:
            f.create_dataset("volume", data=data)
        return path

    def open(self, source, chunks):
        return open_hdf5(source, chunks=chunks)


def test_hdf5_auto_chunks_are_whole_stored_chunks_and_spacing(tmp_path):
    path = str(tmp_path / "s.h5")
    data = np.arange(40 * 30 * 20, dtype=">u2").reshape(40, 30, 20)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("tomo", data=data, chunks=(7, 30, 20))
        d.attrs["element_size_um"] = [2.0, 0.65, 0.65]
    arr = bigimg.open(path)
    assert all(c % 7 == 0 for c in arr.chunks[0][:-1]) and arr.dtype.str == ">u2"
    np.testing.assert_array_equal(arr.compute(), data)
    h = header(arr)
    assert h.spacing == (2.0, 0.65, 0.65) and h.units == ("micrometer",) * 3
    assert h.fields["chunks"] == (7, 30, 20)


def test_hdf5_group_missing_and_ambiguous_paths(tmp_path):
    path = str(tmp_path / "g.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/a", data=np.zeros((2, 2)))
        f.create_dataset("entry/b", data=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"'/entry' in HDF5 file .*g\.h5 is a group.*/entry/a"):
        open_hdf5(path, "/entry")
    with pytest.raises(KeyError, match=r"no '/entry/c'.*/entry/a, /entry/b"):
        open_hdf5(path, "/entry/c")
    with pytest.raises(ValueError, match="holds 2 datasets"):
        open_hdf5(path)
    with open(tmp_path / "x.h5", "wb") as f:
        f.write(b"not hdf5")
    with pytest.raises(ValueError, match=r"x\.h5 is not a readable HDF5 file"):
        open_hdf5(str(tmp_path / "x.h5"))


def test_hdf5_graph_holds_no_h5py_object(tmp_path):
    import pickle

    path = str(tmp_path / "p.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=np.ones((4, 5, 6)))
    arr = open_hdf5(path, "d", chunks=2)
    arr.compute()  # opens the file in this process's cache
    blob = pickle.dumps(arr)
    assert b"h5py._hl" not in blob and b"h5py.h5" not in blob  # no h5py object


# --- MRC ----------------------------------------------------------------------------


class TestMrcConformance(ReaderConformance):
    reader_cls = MrcReader
    name = "tomo.mrc"
    dtypes = ("int16", ">i2", "float32", "uint16", "float16")

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        with mrcfile.new(path + ".tmp") as mrc:
            mrc.set_data(data)
        os.replace(path + ".tmp", path)
        return path

    def open(self, source, chunks):
        return open_mrc(source, chunks=chunks)


def test_mrc_voxel_size_and_big_endian(tmp_path):
    path = str(tmp_path / "be.rec")
    data = np.arange(3 * 4 * 5, dtype=">f4").reshape(3, 4, 5)
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = (1.25, 1.5, 2.0)
    arr = bigimg.open(path, chunks=(2, 3, 4))
    assert arr.dtype.str == ">f4"
    np.testing.assert_array_equal(arr.compute(), data)
    h = header(arr)
    assert h.spacing == (2.0, 1.5, 1.25) and h.units == ("angstrom",) * 3
    with mrcfile.open(path, header_only=True) as mrc:
        assert h.fields["mode"] == int(mrc.header.mode)


def test_mrc_header_disagreeing_with_file_size(tmp_path):
    path = str(tmp_path / "short.mrc")
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((4, 5, 6), np.float32))
    with open(path, "r+b") as f:
        f.truncate(1024 + 100)
    with pytest.raises(
        ValueError, match=r"short\.mrc holds 1,124 bytes .* = 6, 5, 4, mode 2 .* needs 1,504"
    ):
        open_mrc(path)


# --- NRRD ---------------------------------------------------------------------------


class TestNrrdRawConformance(ReaderConformance):
    reader_cls = NrrdReader
    name = "vol.nrrd"
    dtypes = ("uint8", ">u2", "float32", ">f8")
    encoding = "raw"
    detached = False

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        options = {
            "encoding": self.encoding,
            "endian": "big" if data.dtype.byteorder == ">" else "little",
        }
        nrrd.write(path, data, options, detached_header=self.detached, index_order="C")
        return path

    def open(self, source, chunks):
        return open_nrrd(source, chunks=chunks)


class TestNrrdGzipConformance(TestNrrdRawConformance):
    encoding = "gzip"


class TestNrrdDetachedConformance(TestNrrdRawConformance):
    name = "vol.nhdr"
    detached = True


def test_nrrd_geometry(tmp_path):
    path = str(tmp_path / "ct.nrrd")
    data = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    directions = np.array([[0.5, 0, 0], [0, -0.75, 0], [0, 0, 3.0]])  # per NRRD axis (x first)
    fields = {"space": "left-posterior-superior", "space directions": directions,
              "space origin": [1.0, 2.0, 3.0], "space units": ["mm", "mm", "mm"]}  # fmt: skip
    nrrd.write(path, data, fields, index_order="C")
    ref, _ = nrrd.read(path, index_order="C")
    arr = bigimg.open(path)
    np.testing.assert_array_equal(arr.compute(), ref)
    h = header(arr)
    assert h.spacing == (3.0, 0.75, 0.5) and h.units == ("millimeter",) * 3
    assert h.direction == ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), (1.0, 0.0, 0.0))
    assert h.space == "LPS" and h.origin == (1.0, 2.0, 3.0)


def test_detached_nrrd_with_missing_data_file(tmp_path):
    path = str(tmp_path / "d.nhdr")
    nrrd.write(path, np.zeros((2, 3, 4), np.uint8), {"encoding": "raw"}, detached_header=True)
    os.remove(tmp_path / "d.raw")
    with pytest.raises(FileNotFoundError, match=r"d\.nhdr names the data file 'd\.raw'"):
        open_nrrd(path)


def test_nrrd_short_data_and_unsupported_encoding(tmp_path):
    path = str(tmp_path / "s.nrrd")
    nrrd.write(path, np.zeros((4, 5, 6), np.uint16), {"encoding": "raw"}, index_order="C")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 10)
    with pytest.raises(ValueError, match=r"s\.nrrd holds 230 bytes .* needs 240"):
        open_nrrd(path)
    nrrd.write(str(tmp_path / "a.nrrd"), np.zeros((2, 2), np.uint8), {"encoding": "ascii"})
    with pytest.raises(NotImplementedError, match="ascii-encoded"):
        open_nrrd(str(tmp_path / "a.nrrd"))
