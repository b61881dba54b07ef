"""regionprops_table(..., as_dask=True): a dask DataFrame by label range, never on the client."""

from __future__ import annotations

import pickle

import dask
import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import regionprops_table as sk_table

from bigimg.measure import PROPERTIES, regionprops_table
from bigimg.testing import blobs, count_computes, odd_chunkings
from tests.measure.test_regionprops import compare, properties

pytest.importorskip("pyarrow")

SHAPE = (19, 23, 29)
LAB = ndi.label(blobs(SHAPE, sigma=1.0, fraction=0.25))[0]
INTEN = np.random.default_rng(0).random(SHAPE).astype(np.float32) * 100
CHUNKS = odd_chunkings(SHAPE, halo=3)
CROP = {"coords", "coords_scaled", "image", "image_intensity", "image_filled", "image_convex",
        "area_filled", "area_convex", "solidity", "perimeter", "perimeter_crofton",
        "euler_number", "feret_diameter_max", "slice", "intensity_median"}  # fmt: skip
TABLE_PROPS = [p for p in properties(3, None, True) if p not in CROP]


def _as_dict(frame) -> dict:
    return {k: frame[k].to_numpy() for k in frame.columns}


@pytest.mark.parametrize(
    ("chunking", "per_partition"), [("single", 2**18), ("irregular", 7), ("ones", 5)]
)
def test_every_table_property_matches_skimage(chunking, per_partition):
    chunks = CHUNKS[chunking]
    lab, inten = da.from_array(LAB, chunks=chunks), da.from_array(INTEN, chunks=chunks)
    with dask.config.set({"bigimg.table-partition-labels": per_partition}):
        frame = regionprops_table(lab, inten, TABLE_PROPS, as_dask=True)
    got = frame.compute()
    assert got.index.is_monotonic_increasing and got.index.is_unique
    np.testing.assert_array_equal(got.index.to_numpy(), np.unique(LAB[LAB > 0]))
    compare(_as_dict(got), sk_table(LAB, INTEN, properties=TABLE_PROPS), rtol=1e-6)
    eager = regionprops_table(lab, inten, TABLE_PROPS)
    for key, col in eager.items():
        np.testing.assert_allclose(got[key].to_numpy(), col, rtol=1e-9, atol=1e-9, err_msg=key)


def test_partitions_are_label_ranges_and_the_call_computes_only_the_maximum():
    lab = da.from_array(LAB, chunks=7)
    with dask.config.set({"bigimg.table-partition-labels": 10}), count_computes() as c:
        frame = regionprops_table(lab, None, ("label", "area", "centroid"), as_dask=True)
    assert 0 < c.tasks <= 3 * lab.npartitions  # only the largest label: read, max, merge
    top = int(LAB.max())
    assert frame.divisions[0] == 1 and frame.divisions[-1] == top
    assert frame.npartitions == -(-top // 10)
    part = frame.get_partition(2).compute()
    assert part.index.min() >= 21 and part.index.max() <= 30
    assert frame.npartitions == len(frame.divisions) - 1
    restored = pickle.loads(pickle.dumps(frame))
    assert len(restored.compute()) == top


def test_graph_grows_with_blocks_not_labels():
    """Many more labels in the same blocks: the same graph size."""
    few = np.zeros((32, 32, 32), np.int32)
    few[4:8, 4:8, 4:8] = 1
    many = np.arange(1, 32**3 + 1, dtype=np.int32).reshape(few.shape)
    sizes = []
    for lab in (few, many):
        frame = regionprops_table(da.from_array(lab, chunks=8), None, ("label",), as_dask=True)
        graph = frame.__dask_graph__()
        sizes.append((len(graph), frame.npartitions))
        assert len(pickle.dumps(frame)) < 2**20
    assert sizes[1][0] <= 3 * sizes[0][0], sizes
    table = regionprops_table(da.from_array(many, chunks=8), None, ("label",), as_dask=True)
    np.testing.assert_array_equal(table["label"].compute().to_numpy(), many.ravel())


def test_spacing_and_empty_labels():
    sp = (2.0, 0.5, 1.5)
    props = ["label", "area", "centroid", "bbox", "inertia_tensor"]
    frame = regionprops_table(da.from_array(LAB, chunks=9), None, props, spacing=sp, as_dask=True)
    compare(_as_dict(frame.compute()), sk_table(LAB, properties=props, spacing=sp), rtol=1e-6)
    empty = regionprops_table(da.zeros(SHAPE, chunks=9, dtype=np.uint16), None, props, as_dask=True)
    got = empty.compute()
    assert len(got) == 0 and list(got.columns) == list(sk_table(LAB, properties=props))


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # dask's parquet reader, pandas 3.1
def test_parquet_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    props = ["label", "area", "centroid", "intensity_mean"]
    frame = regionprops_table(da.from_array(LAB, chunks=8), INTEN, props, as_dask=True)
    frame.to_parquet(tmp_path / "table")
    back = pd.read_parquet(tmp_path / "table").sort_index()
    compare(_as_dict(back), sk_table(LAB, INTEN, properties=props), rtol=1e-6)


def test_voxel_properties_are_refused_before_computing():
    lab = da.from_array(LAB, chunks=8)
    with count_computes() as c:
        for props, extra in ((["label", "image"], None), (["intensity_median"], None)):
            with pytest.raises(NotImplementedError, match="as_dask=False"):
                regionprops_table(lab, INTEN, props, as_dask=True, extra_properties=extra)
        with pytest.raises(NotImplementedError, match="peak"):

            def peak(mask, inten):
                return inten[mask].max()

            regionprops_table(lab, INTEN, ["label"], extra_properties=[peak], as_dask=True)
    assert c.tasks == 0
    assert "image" in PROPERTIES


def test_max_label_saves_the_pass_and_is_checked():
    lab = da.from_array(LAB, chunks=8)
    top = int(LAB.max())
    with count_computes() as c:
        frame = regionprops_table(lab, None, ("label", "area"), as_dask=True, max_label=top)
    assert c.tasks == 0
    np.testing.assert_array_equal(frame["label"].compute().to_numpy(), np.arange(1, top + 1))
    short = regionprops_table(lab, None, ("label",), as_dask=True, max_label=top - 3)
    with pytest.raises(ValueError, match=f"label {top}, above `max_label={top - 3}`"):
        short.compute()
    with pytest.raises(TypeError, match="max_label"):
        regionprops_table(lab, None, ("label",), as_dask=True, max_label=2.5)
