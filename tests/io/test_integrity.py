"""Data integrity on the read side: damaged, truncated or rewritten inputs are errors.

Every case here was a silent wrong result before: a truncated TIFF opened as its first
page, a rewritten raw file or zarr store mixed old and new voxels, a chunk cut in half
decoded to garbage, a lost chunk read as zeros, a TIFF slice of another dtype was cast.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import tifffile
import zarr

from bigimg.io import open_raw, open_tiff, open_zarr, save_ome_zarr, save_zarr
from bigimg.testing import random_volume

VOL = random_volume((20, 30, 40), np.uint8, seed=3)


@pytest.fixture(autouse=True)
def _quiet_tifffile():
    """tifffile logs the damage it finds; the tests check bigimg's error instead."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    yield
    logger.setLevel(level)


def _cut(path, fraction=2 / 3):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))


# --- TIFF ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "zlib"},
        {"tile": (16, 16)},
        {},  # contiguous, uncompressed
        {"compression": "zlib", "imagej": True},
        {"compression": "zlib", "ome": True, "metadata": {"axes": "ZYX"}},
    ],
    ids=["compressed", "tiled", "contiguous", "imagej", "ome"],
)
def test_truncated_tiff_is_an_error_not_fewer_planes(tmp_path, options):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, VOL, **options)
    assert open_tiff(path).shape == VOL.shape  # intact: the whole volume
    _cut(path)
    with pytest.raises(ValueError, match=r"cut.tif is truncated or damaged .*readable page"):
        open_tiff(path)


def test_truncated_slice_of_a_stack_is_named(tmp_path):
    for z in range(3):
        tifffile.imwrite(tmp_path / f"s{z}.tif", VOL[:6], compression="zlib")
    _cut(tmp_path / "s1.tif")
    with pytest.raises(ValueError, match=r"s1.tif is truncated or damaged"):
        open_tiff(tmp_path)


def test_tiff_header_without_pages_and_non_tiff_files(tmp_path):
    (tmp_path / "h.tif").write_bytes(b"II*\x00\xff\xff\xff\x00")
    with pytest.raises(ValueError, match=r"h.tif holds no readable image: it has a TIFF header"):
        open_tiff(tmp_path / "h.tif")
    (tmp_path / "t.tif").write_text("not an image\n")
    with pytest.raises(ValueError, match=r"t.tif is not a readable TIFF file"):
        open_tiff(tmp_path / "t.tif")


def test_stack_slice_rewritten_with_another_dtype_is_an_error(tmp_path):
    for z in range(3):
        tifffile.imwrite(tmp_path / f"s{z}.tif", np.full((5, 6), z, np.uint8))
    arr = open_tiff(tmp_path)
    np.testing.assert_array_equal(arr[2].compute(), 2)
    tifffile.imwrite(tmp_path / "s1.tif", np.full((5, 6), 300, np.uint16))  # same shape
    with pytest.raises(OSError, match=r"s1.tif holds shape \(5, 6\) and dtype uint16 but had"):
        arr.compute()
    assert arr[2].compute().max() == 2  # the untouched slices still read


def test_stack_slice_rewritten_with_the_same_layout_is_an_error(tmp_path):
    for z in range(3):
        tifffile.imwrite(tmp_path / f"s{z}.tif", np.full((5, 6), z, np.uint8))
    arr = open_tiff(tmp_path)
    tifffile.imwrite(tmp_path / "s1.tif", np.full((5, 6), 9, np.uint8))
    stat = os.stat(tmp_path / "s1.tif")
    os.utime(tmp_path / "s1.tif", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(OSError, match=r"s1.tif changed after the stack was opened"):
        arr.compute()


def test_big_endian_stack_still_reads(tmp_path):
    for z in range(2):
        tifffile.imwrite(tmp_path / f"s{z}.tif", np.full((3, 4), 1000 + z, ">u2"))
    np.testing.assert_array_equal(open_tiff(tmp_path)[:, 0, 0].compute(), [1000, 1001])


# --- raw ----------------------------------------------------------------------------


def test_raw_file_replaced_after_opening_is_an_error(tmp_path):
    path = tmp_path / "v.raw"
    VOL.tofile(path)
    arr = open_raw(path, VOL.shape, VOL.dtype, chunks=(5, 30, 40))
    np.testing.assert_array_equal(arr[:5].compute(), VOL[:5])
    (VOL + 1).tofile(tmp_path / "new.raw")
    os.replace(tmp_path / "new.raw", path)  # same size, another file
    with pytest.raises(OSError, match=r"v.raw changed after it was opened"):
        arr.compute()


def test_raw_file_rewritten_in_place_is_an_error(tmp_path):
    path = tmp_path / "v.raw"
    VOL.tofile(path)
    arr = open_raw(path, VOL.shape, VOL.dtype, chunks=(5, 30, 40))
    stat = os.stat(path)
    with open(path, "r+b") as fh:
        fh.write(b"\xff" * 100)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(OSError, match=r"v.raw changed after it was opened"):
        arr[10:].compute()


def test_raw_trailing_bytes_are_refused_unless_allowed(tmp_path):
    path = tmp_path / "v.raw"
    with open(path, "wb") as fh:
        fh.write(VOL.tobytes() + b"footer")
    with pytest.raises(ValueError, match=r"6 more bytes: .*\(offset=6\).*allow_trailing=True"):
        open_raw(path, VOL.shape, VOL.dtype)
    np.testing.assert_array_equal(
        open_raw(path, VOL.shape, VOL.dtype, allow_trailing=True).compute(), VOL
    )
    with pytest.raises(ValueError, match=r"holds 24,006 bytes but .* needs 24,000 after offset 12"):
        open_raw(path, VOL.shape, VOL.dtype, offset=12, allow_trailing=True)
    with pytest.raises(TypeError, match="`allow_trailing` must be True or False"):
        open_raw(path, VOL.shape, VOL.dtype, allow_trailing="yes")


def test_raw_offset_is_suggested_only_when_it_could_be_a_header(tmp_path):
    path = tmp_path / "big.raw"
    with open(path, "wb") as fh:  # sparse 128 MiB: a 512^3 uint8 volume
        fh.truncate(512**3)
    with pytest.raises(ValueError) as info:
        open_raw(path, (256, 256, 256), np.uint8)
    msg = str(info.value)
    assert "offset=" not in msg and "header of that size" not in msg  # not a 112 MiB header
    assert "8 times the bytes the shape needs: the shape or the dtype is wrong" in msg
    assert "shape (512, 512, 512)" in msg
    with pytest.raises(ValueError, match="too many for a header: the shape or the dtype"):
        open_raw(path, (256, 256, 255), np.uint8)


# --- zarr ---------------------------------------------------------------------------


def _chunk(path, fmt, index=(1, 0, 0)):
    key = ("c/" + "/".join(map(str, index))) if fmt == 3 else ".".join(map(str, index))
    return os.path.join(path, *key.split("/"))


@pytest.mark.parametrize("fmt", [3, 2])
def test_zarr_chunk_cut_in_half_is_an_error(tmp_path, fmt):
    path = save_zarr(VOL, tmp_path / "v.zarr", chunks=(10, 30, 40), zarr_format=fmt, progress=False)
    _cut(_chunk(path, fmt), 1 / 2)
    arr = open_zarr(path)
    np.testing.assert_array_equal(arr[:10].compute(), VOL[:10])  # the other chunk is fine
    with pytest.raises(
        OSError, match=r"v.zarr: stored chunk\(s\) .* of voxels \[10:20, 0:30, 0:40\]"
    ):
        arr.compute()


@pytest.mark.parametrize("fmt", [3, 2])
def test_zarr_chunk_with_a_flipped_bit_is_an_error(tmp_path, fmt):
    path = save_zarr(VOL, tmp_path / "v.zarr", chunks=(10, 30, 40), zarr_format=fmt, progress=False)
    data = bytearray(open(_chunk(path, fmt), "rb").read())
    data[len(data) // 2] ^= 0x10
    with open(_chunk(path, fmt), "wb") as fh:
        fh.write(bytes(data))
    with pytest.raises(OSError, match="cannot be decoded .*the store is damaged"):
        open_zarr(path).compute()


@pytest.mark.parametrize("fmt", [3, 2])
def test_lost_chunk_of_a_bigimg_store_is_an_error_not_zeros(tmp_path, fmt):
    data = VOL.copy()
    data[10:] = 0  # a chunk of fill values is stored too
    path = save_zarr(
        data, tmp_path / "v.zarr", chunks=(10, 30, 40), zarr_format=fmt, progress=False
    )
    np.testing.assert_array_equal(open_zarr(path).compute(), data)
    os.remove(_chunk(path, fmt))
    with pytest.raises(FileNotFoundError, match=r"is missing, but bigimg stored every chunk"):
        open_zarr(path).compute()


def test_lost_chunk_of_an_ome_zarr_level_is_an_error(tmp_path):
    path = save_ome_zarr(VOL, tmp_path / "v.ome.zarr", chunks=10, levels=2, progress=False)
    arr = open_zarr(path, component="1")
    (first,) = [f for f in os.listdir(os.path.join(path, "1", "c"))][:1]
    import shutil

    shutil.rmtree(os.path.join(path, "1", "c", first))
    with pytest.raises(FileNotFoundError, match="is missing, but bigimg stored every chunk"):
        arr.compute()


def test_missing_chunks_of_other_stores_keep_zarr_semantics(tmp_path):
    """A store bigimg did not write may leave fill-value chunks out: they read as fill."""
    z = zarr.create_array(tmp_path / "plain.zarr", shape=(4, 4), chunks=(2, 2), dtype="u1")
    z[:2, :2] = 5
    out = open_zarr(tmp_path / "plain.zarr").compute()
    assert out.sum() == 20


def test_zarr_store_rewritten_after_opening_is_an_error(tmp_path):
    path = save_zarr(VOL, tmp_path / "v.zarr", chunks=(10, 30, 40), progress=False)
    arr = open_zarr(path)
    save_zarr(VOL + 1, path, chunks=(10, 30, 40), overwrite=True, progress=False)
    with pytest.raises(OSError, match="v.zarr changed after it was opened"):
        arr.compute()
    np.testing.assert_array_equal(open_zarr(path).compute(), VOL + 1)  # opened again: fine


def test_checksum_can_be_left_out_and_is_validated(tmp_path):
    path = save_zarr(VOL, tmp_path / "v.zarr", checksum=False, progress=False)
    assert "crc32c" not in repr(zarr.open_array(path).compressors).lower()
    with pytest.raises(TypeError, match="`checksum` must be True or False"):
        save_zarr(VOL, tmp_path / "w.zarr", checksum=1, progress=False)
    assert not os.path.exists(tmp_path / "w.zarr")
