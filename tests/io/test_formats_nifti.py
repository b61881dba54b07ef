"""open_nifti: nibabel's own test files, written volumes, truncated files."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

nibabel = pytest.importorskip("nibabel")

import bigimg  # noqa: E402
from bigimg.io import header, open_nifti  # noqa: E402
from bigimg.io._formats import NiftiReader  # noqa: E402
from bigimg.testing import ReaderConformance  # noqa: E402

DATA = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")


def write_nifti(path, data, *, zooms=(1.0, 1.0, 1.0), slope=None, inter=None):
    """``data`` (plane, row, column) as NIfTI: the file's (i, j, k) is data.T."""
    endian = ">" if data.dtype.byteorder == ">" else "<"
    hdr = nibabel.Nifti1Header(endianness=endian)
    img = nibabel.Nifti1Image(data.T, np.diag([*zooms, 1.0]), header=hdr)
    img.set_data_dtype(data.dtype.newbyteorder("="))  # else nibabel writes float32
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    tmp = path + ".nii.gz" if path.endswith(".gz") and not path.endswith(".nii.gz") else path
    if not tmp.endswith((".nii", ".nii.gz")):  # a partial-output name: write, then rename
        tmp = path + (".nii.gz" if ".nii.gz" in path else ".nii")
    nibabel.save(img, tmp)
    if tmp != path:
        os.replace(tmp, path)
    return path


class TestNiftiConformance(ReaderConformance):
    reader_cls = NiftiReader
    name = "vol.nii"
    dtypes = ("uint8", ">u2", "float32", ">f8")

    def write(self, directory, data, name, chunks):
        return write_nifti(os.path.join(directory, name), data)

    def open(self, source, chunks):
        return open_nifti(source, chunks=chunks)


class TestNiftiGzConformance(TestNiftiConformance):
    """``.nii.gz`` through the gzip index (indexed_gzip)."""

    name = "vol.nii.gz"


@pytest.mark.parametrize(
    "name",
    ["anatomical.nii", "functional.nii", "example4d.nii.gz", "example_nifti2.nii.gz",
     "standard.nii.gz", "reoriented_anat_moved.nii"],
)  # fmt: skip
def test_real_files_match_nibabel(name):
    img = nibabel.load(os.path.join(DATA, name))
    expected = np.asanyarray(img.dataobj).T
    arr = bigimg.open(os.path.join(DATA, name), chunks=(3,) * (img.ndim - 2) + (40, 50))
    assert arr.shape == expected.shape and arr.dtype == expected.dtype
    np.testing.assert_array_equal(arr.compute(), expected)
    h = header(arr)
    zooms = tuple(float(z) for z in img.header.get_zooms())
    assert h.spacing == pytest.approx(zooms[::-1])
    assert h.origin == pytest.approx(tuple(img.affine[:3, 3]))
    if img.header.get_xyzt_units()[0] == "mm":
        assert h.units[-3:] == ("millimeter",) * 3
    if img.ndim == 4:  # the series axis leads, in seconds
        assert h.units[0] == "second" and h.direction[0] is None


def test_scaling_is_applied_as_nibabel_does(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = write_nifti(str(tmp_path / "s.nii"), data, slope=0.5, inter=-3.0)
    img = nibabel.load(path)
    want = np.asanyarray(img.dataobj).T
    arr = open_nifti(path, chunks=(3, 2, 5))
    assert arr.dtype == want.dtype
    np.testing.assert_array_equal(arr.compute(), want)
    assert header(arr).fields["scl_slope"] == 0.5


def test_axes_keep_the_file_order_and_direction(tmp_path):
    affine = np.array([[0, 0, 3.0, 1], [0, -2.0, 0, 2], [0.5, 0, 0, 3], [0, 0, 0, 1]])
    data = np.zeros((4, 5, 6), np.uint8)  # (i, j, k) in the file
    path = str(tmp_path / "o.nii")
    nibabel.save(nibabel.Nifti1Image(data, affine), path)
    h = header(path)
    assert h.shape == (6, 5, 4) and h.spacing == (3.0, 2.0, 0.5)
    assert h.direction == ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
    assert h.space == "RAS" and h.origin == (1.0, 2.0, 3.0)


def test_truncated_nifti_is_refused_before_computing(tmp_path):
    path = write_nifti(str(tmp_path / "t.nii"), np.ones((6, 7, 8), np.int16))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(
        ValueError, match=r"t\.nii holds 924 bytes .* data at byte 352\) needs 1,024"
    ):
        open_nifti(path)


def test_truncated_nii_gz_is_refused(tmp_path):
    data = np.random.default_rng(0).integers(0, 1000, (20, 30, 40), dtype=np.int16)
    path = write_nifti(str(tmp_path / "t.nii.gz"), data)
    cut = str(tmp_path / "cut.nii.gz")
    with open(path, "rb") as f:
        blob = f.read()
    with open(cut, "wb") as f:
        f.write(blob[: len(blob) // 2])
    with pytest.raises((ValueError, OSError), match="cut.nii.gz"):
        open_nifti(cut).compute()


def test_gz_blocks_read_through_the_index(tmp_path):
    data = np.arange(9 * 11 * 13, dtype=np.float32).reshape(9, 11, 13)
    path = write_nifti(str(tmp_path / "g.nii.gz"), data)
    arr = open_nifti(path)
    assert arr.chunks[0] == (9,) or all(c >= 1 for c in arr.chunks[0])
    np.testing.assert_array_equal(arr[3:7, 2:9, 5].compute(), data[3:7, 2:9, 5])
    np.testing.assert_array_equal(arr[::-2, ::3].compute(), data[::-2, ::3])


def test_missing_indexed_gzip_says_how_to_get_out(tmp_path, monkeypatch):
    from bigimg.io._formats import _gzip

    path = write_nifti(str(tmp_path / "g.nii.gz"), np.zeros((2, 3, 4), np.uint8))

    def missing(module, extra, what):
        raise ImportError(f"reading {what} needs indexed_gzip: pip install 'bigimg[{extra}]'")

    monkeypatch.setattr(_gzip, "need", missing)
    with pytest.raises(ImportError, match=r"bigimg\[nifti\].*gzip -dk .*g\.nii\.gz.*g\.nii"):
        open_nifti(path)


def test_pair_with_missing_image_file(tmp_path):
    shutil.copy(os.path.join(DATA, "nifti1.hdr"), tmp_path / "pair.hdr")
    with pytest.raises(FileNotFoundError, match=r"pair\.img"):
        bigimg.open(str(tmp_path / "pair.hdr"))


def test_pair_hdr_img(tmp_path):
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    img = nibabel.Nifti1Pair(data.T, np.eye(4))
    nibabel.save(img, str(tmp_path / "p.img"))
    np.testing.assert_array_equal(bigimg.open(str(tmp_path / "p.hdr")).compute(), data)
    np.testing.assert_array_equal(bigimg.open(str(tmp_path / "p.img")).compute(), data)
