"""open_dicom: pydicom's own test files, series built from CT_small, bad series."""

from __future__ import annotations

import copy
import os
import pickle
import shutil

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.pixels import apply_modality_lut, pixel_array  # noqa: E402
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, generate_uid  # noqa: E402

import bigimg  # noqa: E402
from bigimg.io import header, open_dicom  # noqa: E402
from bigimg.io._formats import DicomReader  # noqa: E402
from bigimg.testing import ReaderConformance, raise_if_dask_computes  # noqa: E402

TEST_FILES = os.path.dirname(get_testdata_file("CT_small.dcm"))
MR2 = os.path.join(TEST_FILES, "dicomdirtests", "98892003", "MR2")


def write_slice(path, plane, z, *, big=False, series="1.2.3.4", template="CT_small.dcm"):
    """One DICOM slice at height ``z`` (mm) with CT_small's header, written by pydicom."""
    ds = copy.deepcopy(pydicom.dcmread(get_testdata_file(template)))
    for key in ("RescaleSlope", "RescaleIntercept", "SmallestImagePixelValue",
                "LargestImagePixelValue"):  # fmt: skip
        if key in ds:
            del ds[key]
    ds.Rows, ds.Columns = plane.shape
    if plane.dtype.kind == "f":
        del ds.PixelData
        ds.FloatPixelData = plane.astype("<f4").tobytes()
        ds.BitsAllocated = 32
        for key in ("BitsStored", "HighBit", "PixelRepresentation", "WindowCenter", "WindowWidth"):
            if key in ds:
                del ds[key]
    else:
        bits = plane.dtype.itemsize * 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
        ds.PixelRepresentation = int(plane.dtype.kind == "i")
        ds.PixelData = plane.astype(plane.dtype.newbyteorder(">" if big else "<")).tobytes()
    ds.ImagePositionPatient = [-10.0, 20.0, float(z)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.75]
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian if big else ExplicitVRLittleEndian
    pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=not big, force_encoding=True)


def write_series(folder, data, *, step=2.5, big=False, skip=(), series="1.2.3.4"):
    """A folder of slices named in *reverse* order of position (sorting must use position)."""
    os.makedirs(folder, exist_ok=True)
    n = len(data)
    for z, plane in enumerate(data):
        if z in skip:
            continue
        write_slice(os.path.join(folder, f"im{n - z:04d}.dcm"), plane, z * step, big=big,
                    series=series)  # fmt: skip
    return folder


class TestDicomSeriesConformance(ReaderConformance):
    """A folder of single-frame slices (big-endian for >u2, Float Pixel Data for float32)."""

    reader_cls = DicomReader
    name = "series"
    dtypes = ("uint8", ">u2", "float32")
    small_shape, big_shape = (8, 10, 12), (8, 40, 48)  # a file per plane: same planes

    def write(self, directory, data, name, chunks):
        return write_series(os.path.join(directory, name), data, big=data.dtype.byteorder == ">")

    def open(self, source, chunks):
        return open_dicom(source, chunks=chunks)

    def expected_dtype(self, dtype):
        return dtype.newbyteorder("=")


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
     "MR_small_implicit.dcm", "rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"],
)  # fmt: skip
def test_real_files_match_pydicom(name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    expected = apply_modality_lut(ds.pixel_array, ds)
    arr = open_dicom(path, chunks=(1, 7, 9))
    got = arr.compute()
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)
    h = header(arr)
    assert h.spacing[1:] == tuple(float(v) for v in ds.PixelSpacing)
    assert h.origin == tuple(float(v) for v in ds.ImagePositionPatient)
    assert h.units[1:] == ("millimeter", "millimeter")
    if "GridFrameOffsetVector" in ds:  # multi-frame dose grid: one frame per plane
        assert arr.shape[0] == int(ds.NumberOfFrames)
        assert h.spacing[0] == pytest.approx(float(np.diff(ds.GridFrameOffsetVector)[0]))


def test_ct_rescale_is_exact_and_integer(tmp_path):
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    arr = open_dicom(path)
    assert ds.BitsStored == 16 and arr.dtype == np.int32  # int16 + (-1024) needs int32
    raw = open_dicom(path, rescale=False).compute()
    np.testing.assert_array_equal(raw[0], ds.pixel_array)
    np.testing.assert_array_equal(arr.compute()[0], apply_modality_lut(ds.pixel_array, ds))
    ds.BitsStored, ds.HighBit = 12, 11  # the usual CT: 12 bits stored, so int16 holds it
    ds.save_as(tmp_path / "ct12.dcm")
    ct12 = open_dicom(tmp_path / "ct12.dcm")
    assert ct12.dtype == np.int16
    np.testing.assert_array_equal(ct12.compute()[0], apply_modality_lut(ds.pixel_array, ds))


def test_two_slice_series_from_nibabel_sorted_by_position():
    nib_data = pytest.importorskip("nibabel")
    folder = os.path.join(os.path.dirname(nib_data.__file__), "nicom", "tests", "data")
    files = [os.path.join(folder, "1.dcm"), os.path.join(folder, "0.dcm")]  # reversed
    arr = open_dicom(files)
    want = np.stack([pixel_array(files[1]), pixel_array(files[0])])
    np.testing.assert_array_equal(arr.compute(), want)
    ds0, ds1 = (pydicom.dcmread(f) for f in files[::-1])
    normal = np.cross(ds0.ImageOrientationPatient[:3], ds0.ImageOrientationPatient[3:])
    step = np.dot(np.subtract(ds1.ImagePositionPatient, ds0.ImagePositionPatient), normal)
    assert header(arr).spacing[0] == pytest.approx(step)


def test_sorted_by_position_not_file_name(tmp_path):
    data = np.arange(5 * 3 * 4, dtype=np.uint16).reshape(5, 3, 4)
    folder = write_series(tmp_path / "s", data, step=1.25)
    arr = bigimg.open(str(folder))
    np.testing.assert_array_equal(arr.compute(), data)
    h = header(arr)
    assert h.spacing == (1.25, 0.5, 0.75) and h.origin == (-10.0, 20.0, 0.0)
    assert h.direction == ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0))
    glob_arr = open_dicom(str(folder / "*.dcm"))
    assert glob_arr.name == arr.name


def test_opening_reads_headers_only(tmp_path, monkeypatch):
    folder = write_series(tmp_path / "s", np.ones((4, 3, 4), np.uint8))
    calls = []
    monkeypatch.setattr(pydicom.pixels, "pixel_array", lambda *a, **k: calls.append(a))
    with raise_if_dask_computes():
        arr = open_dicom(folder)
    assert calls == [] and arr.shape == (4, 3, 4)
    assert len(pickle.dumps(arr)) < 3000


def test_mixed_series_are_listed_and_picked():
    with pytest.raises(ValueError, match="holds 3 DICOM series") as info:
        open_dicom(MR2)
    text = str(info.value)
    assert "1: MR series 2" in text and "3: MR series 2 'FAST LOCALIZER'" in text
    assert "18148.0.481" in text and MR2 in text
    localizer = open_dicom(MR2, series=3)
    assert localizer.shape == (1, 16, 16)
    uid = header(localizer).fields["SeriesInstanceUID"]
    assert open_dicom(MR2, series=uid).name == localizer.name
    with pytest.raises(ValueError, match="orientation"):  # series 1 is a 3-plane localizer
        open_dicom(MR2, series=1)
    with pytest.raises(ValueError, match=r"in 1\.\.3"):
        open_dicom(MR2, series=4)


def test_two_series_in_one_folder(tmp_path):
    write_series(tmp_path, np.zeros((3, 2, 2), np.uint8), series="1.2.3")
    for n, plane in enumerate(np.ones((2, 2, 2), np.uint8)):
        write_slice(str(tmp_path / f"b{n}.dcm"), plane, n, series="9.9.9")
    with pytest.raises(ValueError, match="2 DICOM series") as info:
        open_dicom(tmp_path)
    assert "SeriesInstanceUID 1.2.3" in str(info.value) and "9.9.9" in str(info.value)
    assert open_dicom(tmp_path, series="9.9.9").shape == (2, 2, 2)


def test_missing_slice_says_where_the_gap_is(tmp_path):
    data = np.zeros((8, 3, 4), np.int16)
    folder = write_series(tmp_path / "s", data, step=2.0, skip=(5,))
    with pytest.raises(ValueError, match="unevenly spaced") as info:
        open_dicom(folder)
    text = str(info.value)
    assert "4 mm between slice 4" in text and "at 8 mm" in text and "at 12 mm" in text
    assert "about 1 slice(s) missing" in text and "im0004.dcm" in text
    arr = open_dicom(folder, allow_gaps=True)
    assert arr.shape == (7, 3, 4) and header(arr).spacing[0] == 2.0


def test_slices_of_different_shapes(tmp_path):
    folder = write_series(tmp_path / "s", np.zeros((3, 3, 4), np.uint8))
    write_slice(str(folder / "odd.dcm"), np.zeros((5, 4), np.uint8), 10.0)
    with pytest.raises(ValueError, match=r"odd\.dcm is 5 x 4 but .* is 3 x 4"):
        open_dicom(folder)


def test_repeated_position(tmp_path):
    folder = write_series(tmp_path / "s", np.zeros((3, 3, 4), np.uint8))
    shutil.copy(folder / "im0001.dcm", folder / "copy.dcm")
    with pytest.raises(ValueError, match="same position"):
        open_dicom(folder)


def test_truncated_and_non_dicom_files(tmp_path):
    with pytest.raises(ValueError, match=r"MR_truncated.dcm is truncated: .* 8,192 bytes"):
        open_dicom(get_testdata_file("MR_truncated.dcm"))  # refused before any compute
    (tmp_path / "notes.txt").write_text("not dicom")
    with pytest.raises(ValueError, match="notes.txt is not a readable DICOM"):
        open_dicom([str(tmp_path / "notes.txt")])
    with pytest.raises(FileNotFoundError, match="none of the 1 files"):
        open_dicom(tmp_path)


def test_dicomdir_lists_its_series():
    with pytest.raises(ValueError, match="holds 13 DICOM series"):
        open_dicom(os.path.join(TEST_FILES, "dicomdirtests", "DICOMDIR"))
