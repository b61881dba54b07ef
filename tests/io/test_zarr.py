"""open_zarr / save_zarr: conformance for v2 and v3, OME-Zarr levels, errors, codecs."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest
import zarr

from bigimg import IncompleteOutputError
from bigimg._atomic import PARTIAL_TAG
from bigimg.io import open_zarr, save_zarr
from bigimg.io._zarr import INCOMPLETE_ATTR, ZarrReader
from bigimg.testing import ReaderConformance, random_volume


class TestZarrV3Conformance(ReaderConformance):
    """Written by zarr-python itself; opened with the store's chunks."""

    reader_cls = ZarrReader
    name = "vol.zarr"
    zarr_format = 3

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        z = zarr.create_array(
            path, shape=data.shape, chunks=chunks, dtype=data.dtype, zarr_format=self.zarr_format
        )
        z[...] = data
        return path

    def open(self, source, chunks):
        arr = open_zarr(source)
        assert arr.chunks == da.core.normalize_chunks(chunks, arr.shape)  # follows the store
        return arr

    def expected_dtype(self, dtype):
        return dtype.newbyteorder("=")  # zarr-python writes v3 little-endian


class TestZarrV2Conformance(TestZarrV3Conformance):
    zarr_format = 2

    def expected_dtype(self, dtype):
        return dtype  # v2 metadata keeps the byte order


class TestSaveZarrConformance(TestZarrV3Conformance):
    """Stores written by save_zarr read back with exactly the dtype written."""

    def write(self, directory, data, name, chunks):
        path = os.path.join(directory, name)
        if PARTIAL_TAG in name:  # save_zarr refuses such names: make one by hand
            return super().write(directory, data, name, chunks)
        return save_zarr(data, path, chunks=chunks, progress=False)

    def expected_dtype(self, dtype):
        return dtype


def _write_ome(root, data, zarr_format):
    """A minimal OME-Zarr image with two levels and a label image (spec 0.4 / 0.5)."""
    group = zarr.open_group(root, mode="w", zarr_format=zarr_format)

    def image(g, levels):
        multiscales = [
            {
                "version": "0.4",
                "axes": [{"name": a, "type": "space"} for a in "zyx"],
                "datasets": [
                    {
                        "path": str(i),
                        "coordinateTransformations": [{"type": "scale", "scale": [2.0**i] * 3}],
                    }
                    for i in range(len(levels))
                ],
            }
        ]
        if zarr_format == 3:
            g.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
        else:
            g.attrs["multiscales"] = multiscales
        for i, level in enumerate(levels):
            g.create_array(str(i), shape=level.shape, chunks=(4, 5, 6), dtype=level.dtype)[...] = (
                level
            )

    image(group, [data, data[::2, ::2, ::2]])
    labels = group.create_group("labels")
    labels.attrs["labels"] = ["cells"]
    image(labels.create_group("cells"), [(data > data.mean()).astype(np.uint32)])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_ome_zarr_levels_and_labels(tmp_path, zarr_format):
    data = random_volume((9, 10, 11), np.uint16)
    root = str(tmp_path / "img.ome.zarr")
    _write_ome(root, data, zarr_format)
    full = open_zarr(root)
    assert full.chunks == da.core.normalize_chunks((4, 5, 6), data.shape)
    np.testing.assert_array_equal(full.compute(), data)
    np.testing.assert_array_equal(open_zarr(root, component="1").compute(), data[::2, ::2, ::2])
    cells = (data > data.mean()).astype(np.uint32)
    for component in ("labels/cells", "labels/cells/0", "/labels/cells/0"):
        np.testing.assert_array_equal(open_zarr(root, component=component).compute(), cells)
    with pytest.raises(ValueError, match=r"group with members 'cells' \(group\)"):
        open_zarr(root, component="labels")


def test_group_without_array_says_what_it_holds(tmp_path):
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    group.create_array("raw", shape=(3, 4), dtype="u1")
    group.create_group("seg")
    with pytest.raises(ValueError) as info:
        open_zarr(tmp_path / "g.zarr")
    msg = str(info.value)
    assert "holds no array at its root" in msg
    assert "'raw' (array (3, 4) uint8)" in msg and "'seg' (group)" in msg
    with pytest.raises(ValueError, match="'nope', which does not exist.*'raw'"):
        open_zarr(tmp_path / "g.zarr", component="nope")
    np.testing.assert_array_equal(
        open_zarr(tmp_path / "g.zarr", component="raw").compute(), np.zeros((3, 4), np.uint8)
    )


def test_store_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.zarr"):
        open_zarr(tmp_path / "nothere.zarr")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ValueError, match="holds no zarr array or group"):
        open_zarr(tmp_path / "empty.zarr")
    z = zarr.create_array(tmp_path / "a.zarr", shape=(2, 3), dtype="u1")
    with pytest.raises(ValueError, match="`component` must be None"):
        open_zarr(tmp_path / "a.zarr", component="0")
    with pytest.raises(TypeError, match="`component` must be a str"):
        open_zarr(tmp_path / "a.zarr", component=0)
    with pytest.raises(TypeError, match="`store` must be a str"):
        open_zarr(3.5)
    assert z.shape == (2, 3)


def test_marker_attribute_refused_even_after_renaming(tmp_path):
    z = zarr.create_array(
        tmp_path / "a.zarr", shape=(4, 4), dtype="u1", attributes={INCOMPLETE_ATTR: True}
    )
    z[...] = 1
    with pytest.raises(IncompleteOutputError, match="marked incomplete"):
        open_zarr(tmp_path / "a.zarr")


def test_sharded_store_reads_one_shard_per_task(tmp_path):
    data = random_volume((8, 9, 10), np.float32)
    z = zarr.create_array(
        tmp_path / "s.zarr", shape=data.shape, chunks=(2, 3, 5), shards=(4, 9, 10), dtype=data.dtype
    )
    z[...] = data
    arr = open_zarr(tmp_path / "s.zarr")
    assert arr.chunks == ((4, 4), (9,), (10,))
    np.testing.assert_array_equal(arr.compute(), data)
    assert open_zarr(tmp_path / "s.zarr", chunks=(8, 9, 10)).npartitions == 1


def test_open_store_object():
    store = zarr.storage.MemoryStore()
    data = random_volume((5, 6, 7), np.int32)
    zarr.create_array(store, shape=data.shape, chunks=(2, 6, 7), dtype=data.dtype)[...] = data
    arr = open_zarr(store)
    assert arr.chunks == ((2, 2, 1), (6,), (7,))
    np.testing.assert_array_equal(arr.compute(scheduler="threads"), data)


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("dtype", ["uint8", ">u2", "<f4", "bool"])
def test_save_zarr_round_trip_keeps_dtype(tmp_path, zarr_format, dtype):
    data = random_volume((9, 10, 11), np.dtype(dtype).newbyteorder("=")).astype(dtype)
    path = save_zarr(
        da.from_array(data, chunks=(4, 5, 6)),
        tmp_path / "o.zarr",
        zarr_format=zarr_format,
        progress=False,
    )
    z = zarr.open_array(path, mode="r")
    assert z.metadata.zarr_format == zarr_format
    assert z.chunks == (4, 5, 6)
    assert INCOMPLETE_ATTR not in z.attrs
    back = open_zarr(path)
    assert back.dtype == np.dtype(dtype)
    out = back.compute()
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_save_zarr_compresses_by_default(tmp_path, zarr_format):
    data = np.zeros((16, 16, 16), np.uint16)
    data[4:12, 4:12, 4:12] = 1000
    default = save_zarr(
        data, tmp_path / "d.zarr", chunks=8, zarr_format=zarr_format, progress=False
    )
    plain = save_zarr(
        data,
        tmp_path / "p.zarr",
        chunks=8,
        zarr_format=zarr_format,
        compressor=None,
        progress=False,
    )
    codec, *checksum = zarr.open_array(default).compressors
    assert "zstd" in repr(codec).lower()
    # the CRC32C checksum follows the compressor (v3) or is a filter (v2)
    assert "crc32c" in repr(checksum or zarr.open_array(default).filters).lower()
    assert "zstd" not in repr(zarr.open_array(plain).compressors).lower()

    def size(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)

    assert size(default) < size(plain) / 3
    np.testing.assert_array_equal(open_zarr(default).compute(), data)


def test_save_zarr_custom_codec_and_bad_codec(tmp_path):
    from numcodecs import Zlib
    from zarr.codecs import GzipCodec

    data = random_volume((6, 7, 8), np.uint8)
    p3 = save_zarr(data, tmp_path / "g3.zarr", compressor=GzipCodec(level=1), progress=False)
    assert isinstance(zarr.open_array(p3).compressors[0], GzipCodec)
    p2 = save_zarr(
        data, tmp_path / "g2.zarr", compressor=Zlib(level=1), zarr_format=2, progress=False
    )
    np.testing.assert_array_equal(open_zarr(p2).compute(), data)
    with pytest.raises(TypeError, match="`compressor` must suit zarr_format=3"):
        save_zarr(data, tmp_path / "bad.zarr", compressor=object(), progress=False)
    assert not any("bad.zarr" in n for n in os.listdir(tmp_path))  # no partial left behind
    with pytest.raises(ValueError, match="`compressor` must be 'default', None"):
        save_zarr(data, tmp_path / "bad.zarr", compressor="zstd")
    with pytest.raises(ValueError, match="`zarr_format` must be 2 or 3"):
        save_zarr(data, tmp_path / "bad.zarr", zarr_format=4)


def test_save_zarr_aligns_irregular_dask_chunks(tmp_path):
    data = random_volume((19, 23, 29), np.float32)
    src = da.from_array(data, chunks=((1, 5, 2, 7, 4), (10, 13), (29,)))
    path = save_zarr(src, tmp_path / "o.zarr", chunks=(6, 8, 10), progress=False)
    assert zarr.open_array(path).chunks == (6, 8, 10)
    np.testing.assert_array_equal(open_zarr(path).compute(), data)
    with pytest.raises(ValueError, match="one regular chunk shape"):
        save_zarr(src, tmp_path / "x.zarr", chunks=((1, 18), 23, 29))
    # URLs are accepted now (issue 10); a scheme no filesystem knows is refused
    with pytest.raises(ValueError, match="no fsspec filesystem knows"):
        save_zarr(src, "nosuchfs://bucket/x.zarr")
