"""Segmentation clean-up against scikit-image on the same arrays, across chunkings."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from dask.optimization import cull
from scipy import ndimage as ndi
from skimage.morphology import remove_small_objects as sk_remove
from skimage.segmentation import clear_border as sk_clear
from skimage.segmentation import relabel_sequential as sk_relabel

from bigimg.measure._cleanup import (
    LabelMap,
    clear_border,
    keep_largest,
    map_labels_block,
    relabel_sequential,
    remove_small_objects,
)
from bigimg.testing import blobs, odd_chunkings, raise_if_dask_computes

SHAPE = (19, 23, 29)
CHUNKINGS = odd_chunkings(SHAPE, halo=3)
MASK = blobs(SHAPE, sigma=1.0, fraction=0.25)
LABELS = ndi.label(MASK)[0]


@pytest.fixture(params=["irregular", "ones"])
def chunked(request):
    return CHUNKINGS[request.param]


def test_remove_small_objects(chunked):
    lab = da.from_array(LABELS, chunks=chunked)
    with raise_if_dask_computes():
        got = remove_small_objects(lab, max_size=20)
    assert got.chunks == lab.chunks and got.dtype == LABELS.dtype
    np.testing.assert_array_equal(got.compute(), sk_remove(LABELS, max_size=20))
    with pytest.warns(FutureWarning):
        ref = sk_remove(LABELS, min_size=20)
    np.testing.assert_array_equal(remove_small_objects(lab, 20).compute(), ref)
    np.testing.assert_array_equal(remove_small_objects(lab, max_size=0).compute(), LABELS)


def test_remove_small_objects_bool_and_sparse_labels():
    pytest.importorskip("bigimg.ndimage._label")
    mask = da.from_array(MASK, chunks=(7, 8, 9))
    for conn in (1, 3):
        got = remove_small_objects(mask, max_size=15, connectivity=conn)
        assert got.dtype == bool
        np.testing.assert_array_equal(
            got.compute(), sk_remove(MASK, max_size=15, connectivity=conn)
        )
    sparse = (LABELS.astype(np.int64) * 1_000_003) % (2**40)
    got = remove_small_objects(da.from_array(sparse, chunks=8), max_size=30).compute()
    np.testing.assert_array_equal(got, sk_remove(sparse, max_size=30))


def test_remove_small_objects_negative_raises_on_compute():
    lab = LABELS - 2
    lazy = remove_small_objects(da.from_array(lab, chunks=8))
    with pytest.raises(ValueError, match="negative"):
        lazy.compute()


def test_relabel_sequential(chunked):
    lab = np.where(LABELS > 0, LABELS * 7 + 3, 0).astype(np.int32)
    for offset in (1, 5):
        got, fw, inv = relabel_sequential(da.from_array(lab, chunks=chunked), offset)
        ref, rfw, rinv = sk_relabel(lab, offset)
        out = got.compute()
        np.testing.assert_array_equal(out, ref)
        assert out.dtype == ref.dtype == got.dtype
        for a, b in ((fw, rfw), (inv, rinv)):
            np.testing.assert_array_equal(a.in_values, b.in_values)
            np.testing.assert_array_equal(a.out_values, b.out_values)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            assert len(a) == len(b) and a.dtype == b.dtype
        probe = np.array([0, 3, 10, 11, 999])
        np.testing.assert_array_equal(fw[probe], rfw[probe])
        assert fw[10] == rfw[10]


def test_relabel_sequential_dtype_growth_and_no_zero():
    lab = np.arange(255, dtype=np.uint8).reshape(15, 17)  # offset 10 overflows uint8
    got, fw, _ = relabel_sequential(lab, offset=10)
    ref, rfw, _ = sk_relabel(lab, offset=10)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got.compute(), ref)
    no_zero = LABELS + 4
    got, _, _ = relabel_sequential(da.from_array(no_zero, chunks=9))
    np.testing.assert_array_equal(got.compute(), sk_relabel(no_zero)[0])


@pytest.mark.parametrize(("buffer_size", "bgval"), [(0, 0), (2, 0), (1, -3)])
def test_clear_border(chunked, buffer_size, bgval):
    lab = da.from_array(LABELS, chunks=chunked)
    with raise_if_dask_computes():
        got = clear_border(lab, buffer_size=buffer_size, bgval=bgval)
    ref = sk_clear(LABELS, buffer_size=buffer_size, bgval=bgval)
    np.testing.assert_array_equal(got.compute(), ref)


def test_clear_border_reads_only_frame_blocks():
    lab = da.from_array(LABELS, chunks=(5, 5, 5))  # 4 x 5 x 6 blocks, 2 x 3 x 4 inside
    graph = dict(clear_border(lab).__dask_graph__())
    merges = [k for k in graph if isinstance(k, tuple) and "border-merge" in str(k[0])]
    needed, _ = cull(graph, merges)
    read = [k for k in needed if isinstance(k, tuple) and "border-block" in str(k[0])]
    assert len(read) == lab.npartitions - 2 * 3 * 4


def test_clear_border_mask_and_bool():
    mask = np.ones(SHAPE, bool)
    mask[:, :3] = False
    got = clear_border(da.from_array(LABELS, chunks=7), mask=da.from_array(mask, chunks=5))
    np.testing.assert_array_equal(got.compute(), sk_clear(LABELS, mask=mask))
    pytest.importorskip("bigimg.ndimage._label")
    got = clear_border(da.from_array(MASK, chunks=(7, 8, 9)))
    assert got.dtype == bool
    np.testing.assert_array_equal(got.compute(), sk_clear(MASK))


def test_keep_largest(chunked):
    sizes = np.bincount(LABELS.ravel())[1:]
    lab = da.from_array(LABELS, chunks=chunked)
    for k in (0, 1, 3, sizes.size + 2):
        order = np.lexsort((np.arange(1, sizes.size + 1), -sizes))
        keep = np.arange(1, sizes.size + 1)[order[:k]]
        ref = np.where(np.isin(LABELS, keep), LABELS, 0)
        np.testing.assert_array_equal(keep_largest(lab, k).compute(), ref)


def test_keep_largest_bool():
    pytest.importorskip("bigimg.ndimage._label")
    got = keep_largest(da.from_array(MASK, chunks=9), 2).compute()
    ref_lab = ndi.label(MASK)[0]
    sizes = np.bincount(ref_lab.ravel())[1:]
    top = np.argsort(-sizes, kind="stable")[:2] + 1
    np.testing.assert_array_equal(got, np.isin(ref_lab, top))


def test_map_labels_block_paths():
    mapping = {"keys": np.array([2, 5, 2**40]), "values": np.array([20, 50, 7]), "other": None}
    block = np.array([[0, 2, 5], [2**40, 3, 2]], np.int64)
    dense = map_labels_block(block, mapping, out_dtype=np.int64)
    np.testing.assert_array_equal(dense, [[0, 20, 50], [7, 3, 20]])
    mapping["other"] = -1
    np.testing.assert_array_equal(
        map_labels_block(block, mapping, out_dtype=np.int64), [[-1, 20, 50], [7, -1, 20]]
    )
    small = np.array([[0, 2, 5]], np.int64)
    np.testing.assert_array_equal(
        map_labels_block(small, mapping, out_dtype=np.int64), [[-1, 20, 50]]
    )


def test_label_map():
    m = LabelMap(np.array([0, 4, 9]), np.array([0, 1, 2]))
    assert len(m) == 10 and m[9] == 2 and m[5] == 0
    np.testing.assert_array_equal(np.asarray(m), [0, 0, 0, 0, 1, 0, 0, 0, 0, 2])
    np.testing.assert_array_equal(m(np.array([4, 4, 7])), [1, 1, 0])


def test_errors():
    with pytest.raises(TypeError, match="integer"):
        remove_small_objects(LABELS.astype(float))
    with pytest.raises(TypeError, match="out"):
        remove_small_objects(LABELS, out=np.zeros_like(LABELS))
    with pytest.raises(ValueError, match="connectivity"):
        remove_small_objects(MASK, connectivity=4)
    with pytest.raises(ValueError, match="offset"):
        relabel_sequential(LABELS, 0)
    with pytest.raises(TypeError, match="integer"):
        relabel_sequential(LABELS.astype(bool))
    with pytest.raises(ValueError, match="negative"):
        relabel_sequential(LABELS - 1)
    with pytest.raises(ValueError, match="buffer_size"):
        clear_border(LABELS, buffer_size=19)
    with pytest.raises(TypeError, match="mask"):
        clear_border(LABELS, mask=np.ones(SHAPE, int))
    with pytest.raises(ValueError, match="mask"):
        clear_border(LABELS, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="k"):
        keep_largest(LABELS, -1)
    with pytest.raises(TypeError, match="k"):
        keep_largest(LABELS, 1.5)
