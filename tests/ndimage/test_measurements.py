"""Measurements against scipy.ndimage on the same arrays, across chunkings and dtypes."""

from __future__ import annotations

import pickle
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from bigimg import ndimage
from bigimg._tables import BlockSpec, reduce_tables
from bigimg._tables import _select as _measure_select
from bigimg.ndimage import (
    find_objects,
    histogram,
    labeled_comprehension,
    median,
    value_indices,
)
from bigimg.ndimage._measurements import (
    STATISTICS,
    center_of_mass,
    extrema,
    label_statistics,
    maximum,
    maximum_position,
    mean,
    minimum,
    minimum_position,
    standard_deviation,
    sum_labels,
    variance,
)
from bigimg.ndimage._measurements import sum as sum_alias
from bigimg.testing import (
    blobs,
    odd_chunkings,
    raise_if_dask_computes,
    random_volume,
    shapes_and_chunkings,
)

SHAPE = (19, 23, 29)  # tests/conftest.py's SHAPE; its `chunks` fixture sweeps these:
CHUNKINGS = odd_chunkings(SHAPE, halo=3)

LABELS, NLAB = ndi.label(blobs(SHAPE, sigma=1.0, fraction=0.2))
IRREGULAR = CHUNKINGS["irregular"]

#: index modes: None, present scalar, absent scalar, array (absent, negative, repeated,
#: 0), 2-D array, empty.
INDEXES = {
    "none": None,
    "scalar": 3,
    "absent": NLAB + 7,
    "array": np.array([-1, 0, 2, 1, NLAB, NLAB + 4, 2, 5]),
    "all": np.arange(1, NLAB + 1),
    "2d": np.array([[1, 2], [NLAB + 1, 4]]),
    "empty": np.array([], int),
}

SCIPY = {
    "count": lambda x, lab, idx: ndi.sum_labels(np.ones(x.shape), lab, idx),
    "sum": ndi.sum_labels,
    "mean": ndi.mean,
    "variance": ndi.variance,
    "standard_deviation": ndi.standard_deviation,
    "minimum": ndi.minimum,
    "maximum": ndi.maximum,
    "minimum_position": ndi.minimum_position,
    "maximum_position": ndi.maximum_position,
    "center_of_mass": ndi.center_of_mass,
}


def values(dtype, seed=0):
    return random_volume(SHAPE, dtype, seed=seed)


def scipy_ref(name, x, lab, idx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return SCIPY[name](x, lab, idx)
        except ValueError:  # min/max/positions of an empty region
            return ValueError


def first_tied_position(x, lab, idx, which):
    """Flat index of the first voxel (C order) holding the label's min/max, or 0."""
    out = []
    for v in np.asarray(idx).reshape(-1):
        sel = np.flatnonzero(lab.reshape(-1) == v)
        if sel.size == 0:
            out.append(0)
            continue
        vals = x.reshape(-1)[sel]
        best = vals.min() if which == "min" else vals.max()
        out.append(sel[vals == best][0])
    return np.stack(np.unravel_index(np.array(out, np.intp), x.shape), axis=-1)


def check(name, got, ref, x, lab, idx, *, single):
    """Compare one statistic with scipy (dtype, shape, values)."""
    if ref is ValueError:
        with pytest.raises(ValueError):
            got.compute() if isinstance(got, da.Array) else got
        return
    got = np.asarray(got)
    ref = np.asarray(ref)
    if name.endswith("position") and not single and ref.size:
        # ties: scipy's unstable argsort may pick any tied voxel; we pick the first
        which = "min" if name.startswith("min") else "max"
        if np.unique(x).size == x.size:
            np.testing.assert_array_equal(got, ref)
        ref = first_tied_position(x, lab, idx, which)
    if name in ("center_of_mass", "minimum_position", "maximum_position") and not ref.size:
        ref = np.zeros((0, x.ndim), np.intp if "pos" in name else float)  # scipy: []
        got = got.reshape(ref.shape).astype(ref.dtype) if not got.size else got
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    if name != "count":
        assert got.dtype == ref.dtype, (name, got.dtype, ref.dtype)
    loose = single and x.dtype == np.float32  # scipy sums float32 in float32
    rtol = 2e-5 if loose else 1e-9
    if ref.dtype.kind in "f":
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * 1e-3, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, ref)


def run_all_stats(x, lab, chunks, modes=INDEXES):
    """label_statistics for every index mode in one dask.compute; compare with scipy."""
    xd = da.from_array(x, chunks=chunks)
    ld = da.from_array(lab, chunks=chunks)
    names = [n for n in STATISTICS]
    lazy = {}
    for mode, idx in modes.items():
        if mode == "2d":
            names_m = [n for n in names if n != "center_of_mass"]
        else:
            names_m = names
        lazy[mode] = label_statistics(xd, ld, idx, statistics=names_m)
    safe = {
        m: {n: a for n, a in d.items() if scipy_ref(n, x, lab, modes[m]) is not ValueError}
        for m, d in lazy.items()
    }
    (computed,) = dask.compute(safe, scheduler="sync")
    for mode, stats in lazy.items():
        idx = modes[mode]
        single = idx is None or np.isscalar(idx)
        for name, arr in stats.items():
            ref = scipy_ref(name, x, lab, idx)
            got = computed[mode].get(name, arr)
            check(name, got, ref, x, lab, idx, single=single)


# ------------------------------------------------------------------ scipy equality
def test_all_statistics_every_chunking(chunks):
    run_all_stats(values(np.float64), LABELS, chunks, {"array": INDEXES["array"]})


@pytest.mark.parametrize("name", ["single", "irregular"])
def test_all_index_modes(name):
    run_all_stats(values(np.float64, seed=14), LABELS, CHUNKINGS[name])


@pytest.mark.parametrize("dt", [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])
def test_all_statistics_every_dtype(dt):
    run_all_stats(values(dt, seed=3), LABELS, (7, 6, 10))


@pytest.mark.parametrize("dt", [np.int8, np.int64, np.uint64])
def test_more_integer_dtypes(dt):
    x = values(np.int32, seed=4)
    x = (np.abs(x) if np.dtype(dt).kind == "u" else x // 10).astype(dt)
    run_all_stats(x, LABELS, (5, 8, 9), {"none": None, "array": INDEXES["array"]})


def test_labels_none_is_one_region(chunks):
    x = values(np.float64, seed=1)
    xd = da.from_array(x, chunks=chunks)
    stats = label_statistics(xd, None, [1, 2], statistics=list(STATISTICS))
    (got,) = dask.compute(stats, scheduler="sync")
    for name, value in got.items():
        check(name, value, scipy_ref(name, x, None, [1, 2]), x, None, None, single=True)


@pytest.mark.parametrize(
    "func",
    [
        sum_labels,
        sum_alias,
        mean,
        variance,
        standard_deviation,
        minimum,
        maximum,
        minimum_position,
        maximum_position,
        center_of_mass,
    ],
)
@pytest.mark.parametrize("mode", ["none", "scalar", "array"])
def test_each_function_like_scipy(func, mode):
    x = values(np.float32, seed=2)
    idx = INDEXES[mode]
    lab = da.from_array(LABELS, chunks=(7, 6, 10))
    got = func(da.from_array(x, chunks=(5, 8, 9)), lab, idx)
    assert isinstance(got, da.Array) or func.__name__.endswith(("position", "of_mass"))
    assert dask.is_dask_collection(got)
    name = {"sum_labels": "sum", "sum": "sum"}.get(func.__name__, func.__name__)
    ref = scipy_ref(name, x, LABELS, idx)
    check(name, got.compute(), ref, x, LABELS, idx, single=mode != "array")


def test_extrema_tuple_one_pass():
    x = values(np.float64, seed=5)
    res = extrema(da.from_array(x, chunks=6), LABELS, INDEXES["array"])
    assert isinstance(res, tuple) and len(res) == 4
    got = dask.compute(*res)
    ref = ndi.extrema(x, LABELS, INDEXES["array"])
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g, np.asarray(r))
    scalar = dask.compute(*extrema(x, LABELS, 2))
    ref = ndi.extrema(x, LABELS, 2)
    assert scalar[0] == ref[0] and scalar[2:] == ref[2:]


@pytest.mark.parametrize(
    "index", [None, 2, [1, 3, 99], np.array([[1, 2], [3, 4]]), np.array(3)], ids=repr
)
@pytest.mark.parametrize("name", ["minimum_position", "maximum_position", "center_of_mass"])
def test_positions_compute_to_scipys_structure(name, index):
    """Tuples for one region, lists of tuples for an array index (issue 12): code such
    as ``pos == (0, 1)`` written against scipy keeps working."""
    x = values(np.float64, seed=3)
    lab = LABELS if index is not None else LABELS > 0
    got = getattr(ndimage, name)(da.from_array(x, chunks=5), lab, index).compute()
    if (
        name == "center_of_mass"
        and np.ndim(index) == 0
        and index is not None
        and (not np.isscalar(index))
    ):
        return  # scipy itself fails on a 0-d array index here; bigimg gives a tuple
    ref = getattr(ndi, name)(x, lab, index)
    assert type(got) is type(ref)
    if isinstance(ref, tuple):
        assert all(type(g) is type(r) for g, r in zip(got, ref, strict=True))
        np.testing.assert_allclose(got, ref, rtol=1e-13)
        return
    assert len(got) == len(ref)
    for g, r in zip(got, ref, strict=True):
        assert type(g) is tuple and len(g) == len(r)
        np.testing.assert_allclose(np.asarray(g, float), np.asarray(r, float))


def test_zero_d_inputs_as_scipy():
    assert float(sum_labels(np.array(5.0)).compute()) == ndi.sum(np.array(5.0))
    for v, m in [(3, 0), (0, 0), (2, 4)]:
        assert find_objects(np.array(v), max_label=m) == ndi.find_objects(np.array(v), m)
    assert value_indices(np.array(3)) == ndi.value_indices(np.array(3))
    assert value_indices(np.array(3), ignore_value=3) == {}


def test_labels_broadcast():
    x = values(np.float64, seed=6)
    lab = LABELS[:1]
    got = sum_labels(da.from_array(x, chunks=5), lab, [1, 2, 3]).compute()
    np.testing.assert_allclose(got, ndi.sum_labels(x, lab, [1, 2, 3]))
    got = mean(x, da.from_array(lab, chunks=4)).compute()
    assert got == pytest.approx(ndi.mean(x, lab))


def test_float_and_negative_labels():
    x = values(np.float64, seed=7)
    lab = (LABELS.astype(np.float64) - 3) / 2
    idx = np.unique(lab)[::3]
    got = sum_labels(da.from_array(x, chunks=7), lab, idx).compute()
    np.testing.assert_allclose(got, ndi.sum_labels(x, lab, idx))
    lab_i = LABELS.astype(np.int64) * 1_000_003 - 7  # sparse, negative: np.unique path
    idx = np.unique(lab_i)[:5]
    got = minimum_position(da.from_array(x, chunks=9), lab_i, idx).compute()
    np.testing.assert_array_equal(got, np.array(ndi.minimum_position(x, lab_i, idx)))


def test_bool_labels():
    x = values(np.float64, seed=8)
    lab = LABELS > 0
    got = sum_labels(da.from_array(x, chunks=7), lab, [True, False]).compute()
    np.testing.assert_allclose(got, ndi.sum_labels(x, lab, [True, False]))


# --------------------------------------------------------------- computing functions
@pytest.mark.parametrize("name", ["single", "remainder", "irregular", "ones"])
def test_find_objects(name):
    lab = da.from_array(LABELS, chunks=CHUNKINGS[name])
    assert find_objects(lab) == ndi.find_objects(LABELS)
    assert find_objects(lab, max_label=4) == ndi.find_objects(LABELS, max_label=4)
    assert find_objects(lab, NLAB + 3) == ndi.find_objects(LABELS, NLAB + 3)


def test_find_objects_negative_sparse_and_empty():
    lab = LABELS.astype(np.int16) * 3 - 2
    assert find_objects(da.from_array(lab, chunks=8)) == ndi.find_objects(lab)
    assert find_objects(np.zeros((3, 4), int)) == ndi.find_objects(np.zeros((3, 4), int))


@pytest.mark.parametrize("idx", [None, 2, NLAB + 5, [1, NLAB + 5, 3]])
def test_histogram(idx):
    x = values(np.float64, seed=9)
    got = histogram(da.from_array(x, chunks=(4, 9, 7)), -150, 150.0, 7, LABELS, idx)
    ref = ndi.histogram(x, -150, 150.0, 7, LABELS, idx)
    if ref is None:
        assert got is None
        return
    assert type(got) is type(ref) and np.shape(got) == np.shape(ref)
    if ref.dtype != object:
        np.testing.assert_array_equal(got, ref)
        assert got.dtype == ref.dtype
        return
    for g, r in zip(got.reshape(-1), ref.reshape(-1), strict=True):
        assert (g is None and r is None) or np.array_equal(g, r)


def test_histogram_whole_input_and_edges():
    x = np.array([0.0, 1.0, 2.0, 3.0, 3.0, -1.0, np.nan])
    np.testing.assert_array_equal(histogram(x, 0, 3, 3), ndi.histogram(x, 0, 3, 3))


@pytest.mark.parametrize(
    ("dt", "mode"),
    [
        (dt, m)
        for dt in (np.uint8, np.int16, np.float32, np.float64, bool)
        for m in ("none", "absent", "array")
    ]
    + [(np.float64, "scalar"), (np.int16, "2d")],
)
def test_median(dt, mode):
    x = values(dt, seed=10)
    idx = INDEXES[mode]
    got = median(da.from_array(x, chunks=IRREGULAR), LABELS, idx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = ndi.median(x, LABELS, idx)
    assert np.shape(got) == np.shape(ref) and np.asarray(got).dtype == np.asarray(ref).dtype
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("chunks", [CHUNKINGS["irregular"], CHUNKINGS["ones"], (19, 1, 29)])
def test_median_whole_input_and_many_rounds(monkeypatch, chunks):
    x = values(np.float64, seed=11)
    monkeypatch.setattr(_measure_select, "GATHER_LIMIT", 40)
    monkeypatch.setattr(_measure_select, "_BUCKET_BUDGET", 64)
    idx = np.arange(-1, NLAB + 2)
    got = median(da.from_array(x, chunks=chunks), da.from_array(LABELS, chunks=chunks), idx)
    np.testing.assert_array_equal(got, ndi.median(x, LABELS, idx))
    assert median(da.from_array(x, chunks=chunks)) == ndi.median(x)


def _weighted(v, p):
    return float((v * (p % 7)).sum() + p.min())


@pytest.mark.parametrize("name", ["irregular", "ones"])
@pytest.mark.parametrize("idx", [3, NLAB + 2, [NLAB + 2, 1, 4, 4, 2], np.arange(1, NLAB + 1)])
def test_labeled_comprehension(name, idx):
    x = values(np.float64, seed=12)
    xd = da.from_array(x, chunks=CHUNKINGS[name])
    got = labeled_comprehension(xd, LABELS, idx, _weighted, np.float64, -1.5, True)
    assert isinstance(got, da.Array)
    ref = ndi.labeled_comprehension(x, LABELS, idx, _weighted, np.float64, -1.5, True)
    np.testing.assert_allclose(got.compute(), ref, rtol=1e-12)
    assert got.shape == np.shape(ref)


def test_labeled_comprehension_order_and_modes():
    x = values(np.int32, seed=13)
    xd = da.from_array(x, chunks=(3, 8, 5))

    def c_order(v, p):
        return bool(np.all(np.diff(p) > 0)) and bool(np.array_equal(v, x.reshape(-1)[p]))

    got = labeled_comprehension(xd, LABELS, np.arange(1, NLAB + 1), c_order, bool, False, True)
    assert got.compute().all()
    for lab, idx in [(LABELS, None), (None, None)]:
        ref = ndi.labeled_comprehension(x, lab, idx, _weighted, float, 0, True)
        assert labeled_comprehension(xd, lab, idx, _weighted, float, 0, True) == ref
    got = labeled_comprehension(xd, LABELS, [1, 2], np.max, np.int32, 0).compute()
    np.testing.assert_array_equal(
        got, ndi.labeled_comprehension(x, LABELS, [1, 2], np.max, np.int32, 0)
    )
    with pytest.raises(ValueError, match="index"):
        labeled_comprehension(xd, None, 1, np.sum, float, 0)
    with pytest.raises(ValueError, match="without loss"):
        labeled_comprehension(xd, LABELS, [1.5], np.sum, float, 0)
    with pytest.raises(TypeError, match="func"):
        labeled_comprehension(xd, LABELS, [1], "sum", float, 0)


@pytest.mark.parametrize("name", ["single", "irregular", "ones", "smaller_than_halo"])
def test_value_indices(name):
    arr = LABELS.astype(np.int16) - 1
    for ignore in (None, 0, -1):
        got = value_indices(da.from_array(arr, chunks=CHUNKINGS[name]), ignore_value=ignore)
        ref = ndi.value_indices(arr, ignore_value=ignore)
        assert list(got) == list(ref)
        assert all(type(a) is type(b) for a, b in zip(got, ref, strict=True))
        for k, v in ref.items():
            for a, b in zip(got[k], v, strict=True):
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype


# ---------------------------------------------------------------------- validation
def test_argument_errors():
    x = values(np.float64)
    with pytest.raises(ValueError, match="labels"):
        sum_labels(x, LABELS[:5, :5])
    with pytest.raises(TypeError, match="index"):
        mean(x, LABELS, ["a", "b"])
    with pytest.raises(TypeError, match="input"):
        sum_labels(np.array(["a"]))
    with pytest.raises(NotImplementedError, match="complex"):
        sum_labels(x.astype(complex), LABELS)
    with pytest.raises(ValueError, match="statistics"):
        label_statistics(x, LABELS, statistics=("sum", "bogus"))
    with pytest.raises(TypeError, match="integer"):
        find_objects(x)
    with pytest.raises(TypeError, match="max_label"):
        find_objects(LABELS, max_label=1.5)
    with pytest.raises(ValueError, match="bins"):
        histogram(x, 0, 1, 0)
    with pytest.raises(TypeError, match="bins"):
        histogram(x, 0, 1, 2.5)
    with pytest.raises(ValueError, match="max"):
        histogram(x, 1, 0, 3)
    with pytest.raises(ValueError, match="index"):
        histogram(x, 0, 1, 3, None, 1)
    with pytest.raises(ValueError, match="integer"):
        value_indices(x)


def test_empty_region_raises_on_compute_like_scipy():
    x = values(np.float64)
    lazy = minimum(x, LABELS, NLAB + 10)
    with pytest.raises(ValueError):
        lazy.compute()
    assert np.isnan(mean(x, LABELS, NLAB + 10).compute())
    assert sum_labels(x, LABELS, NLAB + 10).compute() == 0


# ------------------------------------------------------------ laziness, graph size
def test_lazy_and_one_pass():
    x = da.from_array(values(np.float64), chunks=7)
    lab = da.from_array(LABELS, chunks=7)
    with raise_if_dask_computes():
        stats = label_statistics(x, lab, np.arange(1, NLAB + 1), statistics=list(STATISTICS))
        for f in (sum_labels, mean, minimum_position, center_of_mass):
            f(x, lab, [1, 2])
        extrema(x, lab)
    graph = _graph(stats.values())
    blocks = [k for k in graph if isinstance(k, tuple) and str(k[0]).startswith("measure-block")]
    assert len(blocks) == x.npartitions  # one block task per chunk serves all statistics


def _graph(arrays) -> dict:
    graph: dict = {}
    for a in arrays:
        graph.update(dict(a.__dask_graph__()))
    return graph


def _measure_graph_size(lab, chunks):
    x = da.from_array(values(np.float64), chunks=chunks)
    ld = da.from_array(lab, chunks=chunks)
    idx = np.unique(lab)[1:]
    stats = label_statistics(x, ld, idx, statistics=list(STATISTICS))
    return len(_graph(stats.values()))


def test_graph_grows_with_chunks_not_labels():
    few = (LABELS > 0).astype(np.int32)
    many = np.where(LABELS > 0, np.arange(LABELS.size).reshape(SHAPE) + 1, 0)
    assert np.unique(many).size > 1000
    assert _measure_graph_size(few, 7) == _measure_graph_size(many, 7)
    assert _measure_graph_size(many, 4) > _measure_graph_size(many, 7)


def test_tables_and_specs_pickle():
    lazy = reduce_tables(
        da.from_array(values(np.float64), chunks=8),
        da.from_array(LABELS, chunks=8),
        {"mode": "labels", "bbox": True, "values": True, "extrema": True, "m2": True, "moments": 2},
    )
    assert isinstance(lazy.spec, BlockSpec)
    assert len(pickle.dumps(lazy.spec)) < 2000
    table = lazy.compute()
    back = pickle.loads(pickle.dumps(table))
    np.testing.assert_array_equal(back["mom"], table["mom"])


# ---------------------------------------------------------------------- hypothesis
@st.composite
def chunked_case(draw):
    shape, chunks = draw(shapes_and_chunkings(max_dims=3, max_side=9))
    seed = draw(st.integers(0, 2**16))
    nlab = draw(st.integers(1, 6))
    return shape, chunks, seed, nlab


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_case())
def test_hypothesis_random_chunkings(case):
    shape, chunks, seed, nlab = case
    rng = np.random.default_rng(seed)
    lab = rng.integers(-1, nlab + 1, size=shape)
    x = rng.integers(-5, 5, size=shape).astype(np.float64)
    idx = np.arange(-1, nlab + 2)
    run_all_stats(x, lab, chunks, {"array": idx, "none": None})
    assert find_objects(da.from_array(lab, chunks=chunks)) == ndi.find_objects(lab)
    np.testing.assert_array_equal(
        median(da.from_array(x, chunks=chunks), lab, idx), ndi.median(x, lab, idx)
    )
