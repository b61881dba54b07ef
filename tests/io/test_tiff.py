"""open_tiff / save_tiff: conformance for files, OME-TIFF and slice stacks; errors."""

from __future__ import annotations

import os

import dask
import dask.array as da
import numpy as np
import pytest
import tifffile

from bigimg.io import open_tiff, save_tiff
from bigimg.io._tiff import TiffReader, TiffSequenceReader, natural_key
from bigimg.testing import ReaderConformance, random_volume


class TestTiffFileConformance(ReaderConformance):
    """A multi-page TIFF written by tifffile (one page per plane)."""

    reader_cls = TiffReader
    name = "vol.tif"

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        tifffile.imwrite(path, data, photometric="minisblack")
        return path

    def open(self, source, chunks):
        return open_tiff(source, chunks=chunks)

    def expected_dtype(self, dtype):
        return dtype.newbyteorder("=")  # tifffile decodes to native byte order


class TestOmeTiffConformance(TestTiffFileConformance):
    """An OME-TIFF written by save_tiff (big-endian input makes a big-endian file)."""

    name = "vol.ome.tif"

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        if ".bigimg-partial-" in name:
            return super().write(directory, data, name, chunks)
        return save_tiff(da.from_array(data, chunks=chunks), path, progress=False)


class TestTiffStackConformance(TestTiffFileConformance):
    """A folder of 2-D slice files, one per plane."""

    reader_cls = TiffSequenceReader
    name = "slices"
    # the stack's pickled graph holds one path per file: grow the planes, not the count
    small_shape, big_shape = (8, 10, 12), (8, 40, 48)

    def write(self, directory, data, name, chunks):
        folder = os.path.join(directory, name)
        os.makedirs(folder)
        for z, plane in enumerate(data):
            tifffile.imwrite(os.path.join(folder, f"z{z}.tif"), plane)
        if ".bigimg-partial-" in name:  # a partial slice file inside the stack
            os.rename(os.path.join(folder, "z3.tif"), os.path.join(folder, "z3.tif" + name[-26:]))
            return os.path.join(folder, "z*")
        return folder


def test_stack_sorts_naturally_and_reads_one_file_per_task(tmp_path):
    for z in [10, 2, 1, 0, 11, 3, 9, 4, 5, 6, 7, 8]:
        tifffile.imwrite(tmp_path / f"slice_{z}.tif", np.full((3, 4), z, np.uint16))
    (tmp_path / "notes.txt").write_text("not a slice")
    arr = open_tiff(tmp_path)
    assert arr.chunks == ((1,) * 12, (3,), (4,))
    assert arr[:, 0, 0].compute().tolist() == list(range(12))
    assert natural_key("slice_2.tif") < natural_key("slice_10.tif")
    pattern = open_tiff(str(tmp_path / "slice_1*.tif"))
    assert pattern[:, 0, 0].compute().tolist() == [1, 10, 11]
    given = [tmp_path / "slice_5.tif", tmp_path / "slice_2.tif"]
    assert open_tiff(given)[:, 0, 0].compute().tolist() == [5, 2]  # lists keep their order
    assert open_tiff(tmp_path, chunks=(5, 3, 4)).chunks[0] == (5, 5, 2)


def test_stack_shape_mismatch_names_file_and_both_shapes(tmp_path):
    for z in range(4):
        tifffile.imwrite(tmp_path / f"s{z}.tif", np.zeros((5, 6) if z != 2 else (5, 7), np.uint8))
    with pytest.raises(ValueError) as info:
        open_tiff(tmp_path)
    msg = str(info.value)
    assert f"{tmp_path / 's2.tif'} holds (5, 7) uint8" in msg
    assert f"first slice {tmp_path / 's0.tif'} holds (5, 6) uint8" in msg


def test_stack_file_changed_after_opening(tmp_path):
    for z in range(3):
        tifffile.imwrite(tmp_path / f"s{z}.tif", np.zeros((5, 6), np.uint8))
    arr = open_tiff(tmp_path)
    tifffile.imwrite(tmp_path / "s1.tif", np.zeros((6, 6), np.uint8))
    with pytest.raises(OSError, match="s1.tif holds shape"):
        arr.compute(scheduler="sync")


def test_file_changed_after_opening(tmp_path):
    path = tmp_path / "v.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    arr = open_tiff(path)
    tifffile.imwrite(path, np.ones((3, 4, 6), np.uint8), photometric="minisblack")
    with pytest.raises(OSError, match="changed after it was opened"):
        arr.compute(scheduler="sync")
    np.testing.assert_array_equal(open_tiff(path).compute(), np.ones((3, 4, 6), np.uint8))


def test_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tif does not exist"):
        open_tiff(tmp_path / "nope.tif")
    with pytest.raises(FileNotFoundError, match="no files match"):
        open_tiff(str(tmp_path / "*.tif"))
    (tmp_path / "a.png").write_bytes(b"png")
    with pytest.raises(
        FileNotFoundError, match=r"holds no .tif or .tiff files \(it holds 1 entries: a.png"
    ):
        open_tiff(tmp_path)
    (tmp_path / "bad.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ValueError, match="bad.tif is not a readable TIFF"):
        open_tiff(tmp_path / "bad.tif")
    with pytest.raises(ValueError, match="empty list"):
        open_tiff([])
    with pytest.raises(TypeError, match="`series` must be an int"):
        open_tiff(tmp_path / "bad.tif", series="0")
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(ValueError, match=r"`series` must be in 0..0"):
        open_tiff(tmp_path / "ok.tif", series=1)
    with pytest.raises(ValueError, match=r"`level` must be in 0..0"):
        open_tiff(tmp_path / "ok.tif", level=2)
    with pytest.raises(NotImplementedError, match="a stack of 1 files"):
        open_tiff([tmp_path / "ok.tif"], level=1)


def test_pyramid_level(tmp_path):
    data = random_volume((4, 32, 32), np.uint16)
    path = tmp_path / "pyr.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, subifds=1, metadata={"axes": "ZYX"}, tile=(16, 16))
        tif.write(data[:, ::2, ::2], subfiletype=1, tile=(16, 16))
    full = open_tiff(path)
    assert full.chunks[1:] == ((32,), (32,))  # whole tiles grouped, never split
    np.testing.assert_array_equal(full.compute(), data)
    np.testing.assert_array_equal(open_tiff(path, level=1).compute(), data[:, ::2, ::2])


@pytest.mark.parametrize("dtype", ["uint8", ">u2", "float32", "bool", "complex64", "int64"])
def test_save_tiff_round_trip(tmp_path, dtype):
    data = random_volume((5, 6, 7), np.dtype(dtype).newbyteorder("=")).astype(dtype)
    path = save_tiff(da.from_array(data, chunks=(2, 3, 7)), tmp_path / "o.tif", progress=False)
    with tifffile.TiffFile(path) as tif:
        assert tif.byteorder == (">" if dtype == ">u2" else "<")
        assert len(tif.pages) == 5 and not tif.is_ome
    out = open_tiff(path).compute()
    assert out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, data)


def test_save_tiff_shapes_ome_and_compression(tmp_path):
    plane = random_volume((6, 7), np.uint16)
    np.testing.assert_array_equal(
        tifffile.imread(save_tiff(plane, tmp_path / "p.tif", progress=False)), plane
    )
    four = random_volume((2, 3, 4, 5), np.float32)
    p4 = save_tiff(four, tmp_path / "f.ome.tif", compression="zlib", progress=False)
    with tifffile.TiffFile(p4) as tif:
        assert tif.is_ome and tif.series[0].axes == "TZYX"
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    np.testing.assert_array_equal(open_tiff(p4).compute(), four)
    p3 = save_tiff(four[0], tmp_path / "plain.tif", ome=True, progress=False)
    with tifffile.TiffFile(p3) as tif:
        assert tif.is_ome and tif.series[0].axes == "ZYX"


def test_save_tiff_streams_one_slab_per_compute(tmp_path):
    data = random_volume((9, 6, 7), np.uint8)
    src = da.from_array(data, chunks=(3, 2, 7))
    computes = []
    with dask.callbacks.Callback(start=lambda dsk: computes.append(len(dsk))):
        save_tiff(src, tmp_path / "s.tif", progress=False)
    assert len(computes) == 3  # one compute per row of blocks along the first axis
    assert max(computes) < len(src.__dask_graph__())  # none of them holds the whole volume
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "s.tif"), data)


@pytest.mark.parametrize("dtype", ["datetime64[s]", "longdouble", "U3", "V4"])
def test_save_tiff_refuses_dtypes_tiff_cannot_hold(tmp_path, dtype):
    with pytest.raises(TypeError, match="cannot be stored in a TIFF file"):
        save_tiff(np.zeros((2, 3, 4), dtype), tmp_path / "x.tif", progress=False)
    assert not os.listdir(tmp_path)


def test_save_tiff_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="at least 2-D"):
        save_tiff(np.zeros(5), tmp_path / "x.tif")
    with pytest.raises(TypeError, match="`ome` must be True, False or None"):
        save_tiff(np.zeros((2, 2)), tmp_path / "x.tif", ome="yes")
    with pytest.raises(ValueError, match="more than 5 axes"):
        save_tiff(np.zeros((1,) * 6 + (2, 2)), tmp_path / "x.tif", ome=True)
    with pytest.raises(TypeError, match="`compression`"):
        save_tiff(np.zeros((2, 2)), tmp_path / "x.tif", compression=5)
    assert not os.listdir(tmp_path)
