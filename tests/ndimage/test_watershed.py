"""``watershed_ift`` against scipy.ndimage.watershed_ift, bit for bit, for any chunking.

scipy's result depends on its pop order, its flat-index neighbours (which wrap around
row ends) and quirks of its queue bookkeeping, so the comparison runs on many small
random arrays where those matter, besides realistic volumes in every chunking.
"""

from __future__ import annotations

import gc
import os
import pickle

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from dask.callbacks import Callback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg import ndimage
from bigimg._errors import ArgumentError
from bigimg._scratch import Scratch
from bigimg._watershed import _kernel as K
from bigimg._watershed import _tasks as T
from bigimg.ndimage import watershed_ift
from bigimg.testing import (
    assert_dask_matches,
    odd_chunkings,
    raise_if_dask_computes,
    shapes_and_chunkings,
)
from tests.conftest import SHAPE

LABEL_DTYPES = [np.int8, np.int16, np.int32, np.int64]


def _scipy(x, m, structure=None, output=None):
    """scipy's labels; a dtype ``output`` means scipy's output array of that dtype."""
    if output is None:
        return ndi.watershed_ift(x, m, structure)
    out = np.zeros(np.shape(x), dtype=output)
    ndi.watershed_ift(x, m, structure, output=out)
    return out


def _random_case(rng, max_rank=4):
    """Small arrays where wrap-around, ties, negative markers and the quirks matter."""
    ndim = int(rng.integers(1, max_rank + 1))
    shape = tuple(int(n) for n in rng.integers(1, 8 if ndim < 4 else 4, size=ndim))
    dtype = np.dtype(rng.choice([np.uint8, np.uint16]))
    top = [2, 3, 5, 256] + ([65536] if dtype == np.uint16 else [])
    x = rng.integers(0, int(rng.choice(top)), shape).astype(dtype)
    if rng.random() < 0.3:  # the largest value: costs up to maxval + 1 = 65536
        x.flat[rng.integers(0, x.size)] = np.iinfo(dtype).max
    if rng.random() < 0.3:
        x = np.asfortranarray(x)
    mdtype = np.dtype(rng.choice(LABEL_DTYPES))
    m = np.zeros(shape, mdtype)
    k = int(rng.integers(0, max(2, m.size // 3)))
    if rng.random() < 0.8:
        values = rng.integers(-3, 4, k)
    else:  # labels that wrap in narrow outputs, and int64 markers beyond int32
        bound = 2**33 if mdtype == np.int64 else np.iinfo(mdtype).max
        values = rng.integers(-bound, bound, k)
    m.flat[rng.integers(0, m.size, k)] = values.astype(mdtype)
    if rng.random() < 0.5:
        structure = ndi.generate_binary_structure(ndim, int(rng.integers(1, ndim + 1)))
    else:
        structure = rng.random((3,) * ndim) < 0.5
    output = rng.choice([None, *LABEL_DTYPES])
    return x, m, structure, output


def test_kernel_matches_scipy_on_many_small_arrays():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        x, m, structure, output = _random_case(rng)
        expected = _scipy(x, m, structure, output)
        got = K.watershed_in_memory(x, m, structure, expected.dtype)
        np.testing.assert_array_equal(got, expected, err_msg=f"{x!r}\n{m!r}\n{structure!r}")


def test_kernel_matches_scipy_in_bricks():
    """The bricked kernel (neighbours from coordinates) on random brick sides."""
    rng = np.random.default_rng(5)
    for i in range(1500):
        x, m, structure, output = _random_case(rng)
        bits = tuple(int(b) for b in rng.integers(0, 4, 3)) if i % 3 else None
        expected = _scipy(x, m, structure, output)
        got = K.watershed_in_memory(x, m, structure, expected.dtype, bits=bits)
        np.testing.assert_array_equal(got, expected, err_msg=f"{bits}\n{x!r}\n{m!r}")


@pytest.mark.parametrize(
    ("shape", "bits"),
    [
        ((256, 256, 256), (3, 3, 3)),
        ((1, 4096, 4096), (0, 4, 5)),
        ((4096, 4096), (0, 4, 5)),
        ((10**6,), (0, 0, 9)),
        ((17, 1000, 1000), (1, 4, 4)),  # Z padded by 1/17, not 7/17
        ((2, 3, 50, 60), (1, 3, 5)),  # leading axes merged: Z = 6
        ((1, 1, 1), (0, 0, 0)),
    ],
)
def test_brick_sides(shape, bits):
    assert K.brick_bits(shape) == bits
    lay = K.layout(shape)
    padded = lay[6:9] << lay[3:6]
    assert (padded >= lay[:3]).all() and (padded <= lay[:3] * 9 // 8 + 1).all()
    assert lay[-1] == np.prod(padded)
    if np.prod(shape) <= 10**6:  # every voxel at its own address
        where = K.addresses(lay, 0, int(np.prod(shape)))
        assert len(np.unique(where)) == where.size and where.max() < lay[-1]


@pytest.fixture
def tiny_bursts(monkeypatch):
    """Bursts of 3 pops, mapped pages dropped after every one, files mapped plane by plane."""
    monkeypatch.setattr(T, "BURST_POPS", 3)
    monkeypatch.setattr(T, "BURST_VOXELS", 5)
    monkeypatch.setattr(T, "MIN_BURST", 1)
    monkeypatch.setattr(T, "RESIDENT_BUDGET", -1)
    monkeypatch.setattr(T, "MAP_BYTES", 1)


def test_out_of_core_matches_scipy_on_small_arrays(tmp_path, tiny_bursts):
    rng = np.random.default_rng(1)
    for _ in range(150):
        x, m, structure, output = _random_case(rng, max_rank=3)
        chunks = tuple(int(rng.integers(1, n + 1)) for n in x.shape)
        mchunks = tuple(int(rng.integers(1, n + 1)) for n in x.shape)
        got = watershed_ift(
            da.from_array(x, chunks=chunks),
            da.from_array(m, chunks=mchunks),
            structure,
            output,
            temp_dir=tmp_path,
        )
        assert_dask_matches(got, _scipy(x, m, structure, output), chunks=got.chunks)
        assert got.chunks == da.from_array(x, chunks=chunks).chunks
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((1500,), 333),
        ((45, 70), (20, 33)),
        ((13, 37, 22), (5, 12, 9)),
        ((3, 5, 19, 21), (2, 4, 7, 8)),
    ],
    ids=["1d", "2d", "3d", "4d"],
)
def test_mapped_bricks_match_scipy(shape, chunks, tmp_path, monkeypatch):
    """Forced onto the mapped path: bricks that do not divide the shape, blocks that cut
    bricks, pages dropped after every burst and every few bytes of a block."""
    monkeypatch.setattr(T, "RESIDENT_BUDGET", -1)
    monkeypatch.setattr(T, "MAP_BYTES", 1)
    monkeypatch.setattr(T, "MIN_BURST", 7)
    assert any(K.brick_bits(shape))
    rng = np.random.default_rng(len(shape))
    x = ndi.gaussian_filter(rng.random(shape), 1.5)
    x = (x / x.max() * 255).astype(np.uint8)
    m = np.zeros(shape, np.int32)
    m.flat[rng.choice(m.size, 12, replace=False)] = rng.integers(-3, 9, 12)
    for connectivity in (1, len(shape)):
        structure = ndi.generate_binary_structure(len(shape), connectivity)
        got = watershed_ift(da.from_array(x, chunks=chunks), m, structure, temp_dir=tmp_path)
        assert_dask_matches(got, ndi.watershed_ift(x, m, structure))
        assert list(tmp_path.iterdir()) == []


def _volume(shape=SHAPE, dtype=np.uint8, seed=0):
    """A gradient image of smoothed noise, 20 positive markers and one background marker."""
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.standard_normal(shape), 2.0)
    grad = ndi.gaussian_gradient_magnitude(smooth, 1.0)
    top = 255 if dtype == np.uint8 else 4000
    x = (grad / grad.max() * top).astype(dtype)
    m = np.zeros(shape, np.int32)
    m.flat[rng.choice(m.size, 20, replace=False)] = np.arange(1, 21)
    m[(0,) * len(shape)] = -1
    return x, m


VOLUME, MARKERS = _volume()


@pytest.mark.parametrize("connectivity", [1, 3])
def test_matches_scipy_in_every_chunking(chunks, connectivity, tmp_path):
    structure = ndi.generate_binary_structure(3, connectivity)
    got = watershed_ift(da.from_array(VOLUME, chunks=chunks), MARKERS, structure, temp_dir=tmp_path)
    assert_dask_matches(got, ndi.watershed_ift(VOLUME, MARKERS, structure))
    assert got.chunks == da.from_array(VOLUME, chunks=chunks).chunks
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("markers", LABEL_DTYPES)
@pytest.mark.parametrize("output", [None, *LABEL_DTYPES])
def test_every_supported_dtype(dtype, markers, output):
    x, m = _volume((9, 11, 13), dtype, seed=2)
    m = m.astype(markers)
    chunks = odd_chunkings(x.shape)["irregular"]
    got = watershed_ift(da.from_array(x, chunks=chunks), m, output=output)
    assert_dask_matches(got, _scipy(x, m, output=output))


def test_numpy_input_threads_and_default_temp_dir():
    got = watershed_ift(VOLUME, MARKERS)
    assert_dask_matches(got, ndi.watershed_ift(VOLUME, MARKERS), scheduler="threads")


def test_neighbours_wrap_around_row_ends():
    # scipy finds neighbours on the flat index: (0, 2) + 1 is (1, 0), at cost 0
    x = np.array([[5, 5, 0], [0, 5, 5]], np.uint8)
    m = np.array([[2, 0, 1], [0, 0, 0]], np.int32)
    expected = ndi.watershed_ift(x, m)
    assert expected[1, 0] == 1  # from the marker at the other end of the row above
    assert_dask_matches(watershed_ift(da.from_array(x, chunks=1), m), expected)


def test_ties_go_to_the_first_to_arrive():
    # the ring's corners cost 1 from either marker; the background reaches them first
    image = np.zeros((6, 7), np.uint8)
    image[1:5, 1:6] = 1
    image[2:4, 2:5] = 0
    m = np.zeros(image.shape, np.int8)
    m[2, 3], m[0, 0] = 1, -1
    expected = ndi.watershed_ift(image, m)
    assert expected[1, 1] == -1 and expected[1, 2] == 1
    assert_dask_matches(watershed_ift(da.from_array(image, chunks=(4, 3)), m), expected)


def test_queue_quirks_of_scipy_are_reproduced():
    # Voxel 1 moves from level 1 to level 0 while alone in level 1, so scipy does not
    # unlink it and level 1 keeps pointing at it; voxel 5 is appended behind that stale
    # pointer, never popped, and voxel 6 is never reached: scipy leaves it at 0.
    x = np.array([1, 1, 0, 0, 1, 1, 0], np.uint8)
    m = np.array([-2, 0, 1, -1, 0, 0, 0], np.int8)
    expected = ndi.watershed_ift(x, m, [1, 1, 1])
    assert expected[-1] == 0
    assert_dask_matches(watershed_ift(da.from_array(x, chunks=3), m, [1, 1, 1]), expected)


@pytest.mark.parametrize("shape", [(5, 1), (1, 6), (4, 1, 3), (1, 1, 7)])
def test_axes_of_length_one(shape):
    # offsets that cancel on a length-1 axis are 0 and skipped; others repeat
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(0, 4, shape).astype(np.uint8)
    m = np.zeros(shape, np.int32)
    m.flat[[0, -1]] = [1, -1]
    structure = np.ones((3,) * len(shape), bool)
    got = watershed_ift(da.from_array(x, chunks=2), m, structure)
    assert_dask_matches(got, ndi.watershed_ift(x, m, structure))


def test_costs_above_uint16_and_wrapping_markers():
    x = np.array([[0, 65535, 0], [3, 65535, 7]], np.uint16)
    m = np.array([[2**32 + 5, 0, 2**32], [0, 0, -(2**40) - 3]], np.int64)
    for output in (None, np.int8):
        expected = _scipy(x, m, output=output)
        assert_dask_matches(watershed_ift(da.from_array(x, chunks=1), m, output=output), expected)


def test_byte_order_and_views():
    x, m = _volume((8, 9, 10), np.uint16, seed=4)
    big_x, big_m = x.astype(">u2"), m.astype(">i4")
    assert_dask_matches(watershed_ift(big_x, big_m), ndi.watershed_ift(big_x, big_m))
    view, mview = x[::2, :, ::-1], m[::2, :, ::-1]
    assert_dask_matches(watershed_ift(view, mview), ndi.watershed_ift(view, mview))


def test_zero_dimensions_and_empty_arrays():
    for marker in (0, 7, -3, 2**32 + 9):
        mk = np.array(marker, np.int64)
        assert_dask_matches(watershed_ift(np.uint8(3), mk), ndi.watershed_ift(np.uint8(3), mk))
    x, m = np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.int16)
    assert_dask_matches(watershed_ift(x, m), ndi.watershed_ift(x, m))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hypothesis_chunkings(data):
    shape, chunks = data.draw(shapes_and_chunkings(max_dims=3, max_side=9), label="shape, chunks")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.integers(0, 4, shape).astype(np.uint8)
    m = np.zeros(shape, np.int16)
    m.flat[rng.integers(0, m.size, 3)] = rng.integers(-2, 3, 3)
    structure = rng.random((3,) * len(shape)) < 0.6
    got = watershed_ift(da.from_array(x, chunks=chunks), m, structure)
    assert_dask_matches(got, ndi.watershed_ift(x, m, structure))


# ------------------------------------------------------------------------------------
# laziness, graph, files


def test_building_the_graph_computes_and_writes_nothing(tmp_path):
    x = da.from_array(VOLUME, chunks=(7, 8, 9))
    m = da.from_array(MARKERS, chunks=(10, 10, 10))
    with raise_if_dask_computes():
        got = ndimage.watershed_ift(x, m, temp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert got.dtype == MARKERS.dtype and got.chunks == x.chunks


def test_graph_pickles_cheaply():
    x = da.zeros((64, 64, 64), dtype=np.uint8, chunks=16)
    m = da.zeros((64, 64, 64), dtype=np.int32, chunks=16)
    graph = dict(watershed_ift(x, m).__dask_graph__())
    ours = {k: v for k, v in graph.items() if "watershed_ift" in str(k)}
    assert len(ours) == 2 * x.npartitions + 1
    assert max(len(pickle.dumps(t)) for t in ours.values()) < 3_000
    assert len(pickle.dumps(graph)) / len(graph) < 500


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "mapped"])
def test_files_are_removed_after_the_last_block_is_read(tmp_path, monkeypatch, in_memory):
    if not in_memory:  # the records do not fit in the budget: flooded in the mapped file
        monkeypatch.setattr(T, "RESIDENT_BUDGET", 1000)
    x = da.from_array(VOLUME, chunks=(10, 12, 29))
    got = watershed_ift(x, MARKERS, temp_dir=tmp_path)
    seen = {}

    class Watch(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            name = str(key[0] if isinstance(key, tuple) else key)
            if "watershed_ift-solve" in name:
                (folder,) = tmp_path.iterdir()
                seen["after solve"] = sorted(p.name for p in folder.iterdir())

    with Watch():
        result = got.compute(scheduler="sync", optimize_graph=False)
    np.testing.assert_array_equal(result, ndi.watershed_ift(VOLUME, MARKERS))
    assert seen["after solve"] == (["labels", "reads"] if in_memory else ["reads", "state"])
    assert list(tmp_path.iterdir()) == []
    # a partial compute leaves the files until the graph is garbage collected
    got[:5].compute(scheduler="sync")
    assert len(list(tmp_path.iterdir())) == 1
    del got
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_result_can_be_computed_twice(tmp_path):
    got = watershed_ift(da.from_array(VOLUME, chunks=10), MARKERS, temp_dir=tmp_path)
    first = got.compute()
    np.testing.assert_array_equal(got.compute(scheduler="sync"), first)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["propagate", "marker_codes"])
def test_files_are_removed_when_a_task_fails(tmp_path, monkeypatch, where):
    def fail(*args, **kwargs):
        raise MemoryError(f"simulated failure in {where}")

    x = da.from_array(VOLUME, chunks=(10, 12, 29))
    got = watershed_ift(x, MARKERS, temp_dir=tmp_path)
    monkeypatch.setattr(K, where, fail)
    with pytest.raises(MemoryError, match="simulated"):
        got.compute(scheduler="sync")
    assert list(tmp_path.iterdir()) == []


def test_resident_memory_guard_drops_pages(tmp_path, monkeypatch):
    drops = []
    real = T._Mapped.drop
    monkeypatch.setattr(T, "RESIDENT_BUDGET", -1)
    monkeypatch.setattr(T, "BURST_POPS", 1000)
    monkeypatch.setattr(T._Mapped, "drop", lambda self: drops.append(1) or real(self))
    got = watershed_ift(da.from_array(VOLUME, chunks=10), MARKERS, temp_dir=tmp_path)
    assert_dask_matches(got, ndi.watershed_ift(VOLUME, MARKERS))
    assert len(drops) >= VOLUME.size // 1000


def test_scratch_dir_is_owned_by_the_graph_only(tmp_path):
    scratch = Scratch(tmp_path, "watershed")
    assert os.path.basename(scratch.path).startswith("bigimg-watershed-")
    os.makedirs(scratch.path)
    remote = pickle.loads(pickle.dumps(scratch))  # a worker's copy does not own it
    assert remote.path == scratch.path
    del remote
    gc.collect()
    assert os.path.isdir(scratch.path)
    del scratch
    gc.collect()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------
# errors: scipy's exception types (ArgumentError is also a RuntimeError)

X2, M2 = np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.int32)
BAD_CALLS = {
    "float input": ((X2.astype(np.float32), M2), {}, TypeError, "`input` must be uint8"),
    "int8 input": ((X2.astype(np.int8), M2), {}, TypeError, "`input` must be uint8"),
    "uint32 input": ((X2.astype(np.uint32), M2), {}, TypeError, "`input` must be uint8"),
    "unsigned markers": ((X2, M2.astype(np.uint8)), {}, ArgumentError, "`markers` must have"),
    "float markers": ((X2, M2.astype(float)), {}, ArgumentError, "`markers` must have"),
    "bool markers": ((X2, M2.astype(bool)), {}, ArgumentError, "`markers` must have"),
    "markers shape": ((X2, M2[:3]), {}, ArgumentError, "shape of `input`"),
    "structure rank": ((X2, M2), {"structure": np.ones((3, 3, 3))}, ArgumentError, "rank"),
    "structure size": ((X2, M2), {"structure": np.ones((3, 5))}, ArgumentError, "3 elements"),
    "rank 8": (
        (np.zeros((1,) * 8, np.uint8), np.zeros((1,) * 8, np.int32)),
        {},
        ArgumentError,
        "at most 7",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_errors_match_scipy_types(case):
    args, kwargs, error, match = BAD_CALLS[case]
    with pytest.raises(error, match=match):
        watershed_ift(*args, **kwargs)
    scipy_error = RuntimeError if error is ArgumentError else error
    assert issubclass(error, scipy_error)
    with pytest.raises(scipy_error):
        ndi.watershed_ift(*args, **kwargs)


def test_output_errors():
    out = np.zeros((4, 5), np.int32)
    assert ndimage.watershed_ift(X2, M2, output=out) is out  # filled, as scipy
    np.testing.assert_array_equal(out, ndi.watershed_ift(X2, M2, output=np.int32))
    for dtype in (np.uint8, np.float32, bool):
        with pytest.raises(ArgumentError, match="`output` must be a signed integer"):
            watershed_ift(X2, M2, output=dtype)
        with pytest.raises(RuntimeError):  # what scipy raises for such an output array
            ndi.watershed_ift(X2, M2, output=np.zeros((4, 5), dtype))
    with pytest.raises(TypeError, match="`output` must be a dtype"):
        watershed_ift(X2, M2, output="not a dtype")


def test_temp_dir_errors():
    with pytest.raises(TypeError, match="`temp_dir`"):
        watershed_ift(X2, M2, temp_dir=3)
    with pytest.raises(ValueError, match="existing directory"):
        watershed_ift(X2, M2, temp_dir="/nonexistent/bigimg-scratch")


def test_scheduler_threads_many_blocks(tmp_path):
    x, m = _volume((16, 17, 18), np.uint8, seed=7)
    with dask.config.set(scheduler="threads", num_workers=4):
        got = watershed_ift(da.from_array(x, chunks=3), m, temp_dir=tmp_path).compute()
    np.testing.assert_array_equal(got, ndi.watershed_ift(x, m))
    assert list(tmp_path.iterdir()) == []
