"""``label`` against scipy.ndimage.label: values and count for any chunking and structure.

Every test runs with both merges of the label engine (dask config
``bigimg.label-merge``: ``"client"`` and ``"tree"``); the ones about what the call
computes and how big its graph is pin the merge they describe.
"""

from __future__ import annotations

import pickle

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg._errors import ArgumentError
from bigimg._labels import label_across_blocks
from bigimg._labels._kernel import BlockLabeller
from bigimg.ndimage._label import StructureNotSymmetricError, label
from bigimg.testing import (
    assert_dask_matches,
    blobs,
    count_computes,
    odd_chunkings,
    shapes_and_chunkings,
)
from tests.conftest import SHAPE


@pytest.fixture(params=["client", "tree"], autouse=True)
def merge(request):
    """Run the test with each merge of the label engine."""
    with dask.config.set({"bigimg.label-merge": request.param}):
        yield request.param


def _symmetric(offsets, ndim):
    """A structure holding the centre and each offset with its mirror image."""
    s = np.zeros((3,) * ndim, dtype=bool)
    s[(1,) * ndim] = True
    for d in offsets:
        s[tuple(1 + np.asarray(d))] = True
        s[tuple(1 - np.asarray(d))] = True
    return s


STRUCTURES_3D = {
    "6": ndi.generate_binary_structure(3, 1),
    "18": ndi.generate_binary_structure(3, 2),
    "26": ndi.generate_binary_structure(3, 3),
}
ODD_STRUCTURES_3D = {
    "corners_only": _symmetric([(1, 1, 1), (1, -1, 1)], 3),
    "planes_and_diagonal": _symmetric([(0, 1, 0), (0, 0, 1), (1, 1, -1)], 3),
    "no_centre_18": ndi.generate_binary_structure(3, 2) & ~_symmetric([], 3),
}
VOLUME = blobs(SHAPE, sigma=1.5, fraction=0.35, seed=3)


def _check(x, chunks, structure=None, output=None):
    expected, n = ndi.label(x, structure, output)
    got, m = label(da.from_array(x, chunks=chunks), structure, output)
    assert m == n
    assert isinstance(m, int)
    assert_dask_matches(got, expected, chunks=da.from_array(x, chunks=chunks).chunks)


@pytest.mark.parametrize("structure", list(STRUCTURES_3D), ids=list(STRUCTURES_3D))
def test_matches_scipy_3d(chunks, structure):
    _check(VOLUME, chunks, STRUCTURES_3D[structure])


@pytest.mark.parametrize("chunking", ["remainder", "ones"])
@pytest.mark.parametrize("structure", list(ODD_STRUCTURES_3D), ids=list(ODD_STRUCTURES_3D))
def test_matches_scipy_odd_structures_3d(chunking, structure):
    _check(VOLUME, odd_chunkings(SHAPE, halo=3)[chunking], ODD_STRUCTURES_3D[structure])


def test_default_structure_and_numpy_input():
    expected, n = ndi.label(VOLUME)
    got, m = label(VOLUME)
    assert m == n
    assert_dask_matches(got, expected)


@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("chunks", [(40, 37), (7, 9), (1, 13), (5, (30, 1, 2, 4)), (2, 2)])
def test_matches_scipy_2d(chunks, connectivity):
    image = blobs((40, 37), sigma=1.2, fraction=0.4, seed=5)
    _check(image, chunks, ndi.generate_binary_structure(2, connectivity))


@pytest.mark.parametrize(
    "structure",
    [[[0, 0, 0], [1, 1, 1], [0, 0, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.zeros((3, 3))],
    ids=["rows_only", "one_diagonal", "empty"],
)
def test_matches_scipy_odd_2d(structure):
    image = blobs((30, 31), sigma=1.0, fraction=0.5, seed=6)
    _check(image, (7, 4), structure)


@pytest.mark.parametrize("chunks", [(50,), (7,), (1,), ((3, 1, 20, 26),)])
def test_matches_scipy_1d(chunks):
    line = np.random.default_rng(0).random(50) > 0.5
    _check(line, chunks)


def test_matches_scipy_4d():
    vol = blobs((6, 7, 5, 8), sigma=1.0, fraction=0.4, seed=7)
    for connectivity in (1, 4):
        _check(vol, (2, 3, 5, 3), ndi.generate_binary_structure(4, connectivity))


def test_zero_size_chunks():
    x = da.from_array(VOLUME, chunks=((10, 0, 9), (23,), (0, 29)))
    expected, n = ndi.label(VOLUME)
    got, m = label(x)
    assert m == n
    assert_dask_matches(got, expected, chunks=x.chunks)


@pytest.mark.parametrize(
    "dtype", [bool, np.uint8, np.int16, np.int32, np.uint64, np.float32, np.float64]
)
def test_input_dtypes(dtype):
    rng = np.random.default_rng(1)
    values = (rng.integers(-2, 3, SHAPE) * VOLUME).astype(dtype)
    if np.dtype(dtype).kind == "f":
        values[0, 0, :3] = [np.nan, 0.5, -np.inf]  # nonzero like anything else
    _check(values, (7, 8, 10), ndi.generate_binary_structure(3, 2))


@pytest.mark.parametrize("output", [np.int64, np.uint16, np.float32, np.float64, "i8"])
def test_output_dtypes(output):
    _check(VOLUME, (10, 12, 9), None, output)


def test_output_bool_like_scipy():
    # scipy writes label bytes into a bool array; one object keeps it an ordinary bool
    x = np.zeros((5, 6), dtype=bool)
    x[1:4, 2:5] = True
    _check(x, (2, 4), None, bool)


def test_output_too_small_raises_like_scipy():
    line = np.arange(600) % 2
    with pytest.raises(RuntimeError, match="insufficient bit-depth"):
        ndi.label(line, output=np.int8)
    with pytest.raises(ArgumentError, match="`output` dtype int8 cannot hold 300"):
        label(da.from_array(line, chunks=64), output=np.int8)
    labels, n = label(da.from_array(line, chunks=64), output=np.uint16)
    assert n == 300


def test_scalar_and_empty_inputs():
    for value in (3.0, 0):
        expected, n = ndi.label(np.array(value))
        got, m = label(np.array(value))
        assert m == n
        assert_dask_matches(got, expected)
    empty = np.zeros((0, 4, 3))
    expected, n = ndi.label(empty)
    got, m = label(da.from_array(empty, chunks=(1, 2, 3)))
    assert m == n == 0
    assert_dask_matches(got, expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(input=np.ones((4, 4), np.complex64)), TypeError, "`input` must be real"),
        (dict(input=np.ones((4, 4), np.float16)), TypeError, "`input` dtype must be"),
        (dict(input="abc"), TypeError, "`input`"),
        (dict(structure=np.ones((3, 3))), ArgumentError, "same rank"),
        (dict(structure=np.ones((3, 3, 2))), ValueError, "must be equal to 3"),
        (
            dict(structure=_symmetric([], 3) | (np.arange(27).reshape(3, 3, 3) == 0)),
            StructureNotSymmetricError,
            "centrosymmetric",
        ),
        (dict(output=da.zeros((4, 4, 4), dtype=np.int32)), TypeError, "array"),
        (dict(output=np.complex64), TypeError, "`output` must be"),
        (dict(output="not a dtype"), TypeError, "`output`"),
    ],
    ids=[
        "complex",
        "float16",
        "string",
        "rank",
        "shape",
        "asymmetric",
        "output_array",
        "output_complex",
        "output_name",
    ],
)
def test_invalid_arguments(kwargs, error, match):
    kwargs = {"input": da.ones((4, 4, 4), chunks=2), **kwargs}
    with pytest.raises(error, match=match), count_computes() as counter:
        label(**kwargs)
    assert counter.tasks == 0


def test_errors_keep_scipys_classes():
    asymmetric = [[0, 1, 0], [1, 1, 0], [0, 0, 0]]
    image = np.ones((4, 4))
    for structure, scipy_error in [
        (asymmetric, AssertionError),
        (np.ones((3, 3, 3)), RuntimeError),
    ]:
        with pytest.raises(scipy_error):
            ndi.label(image, structure)
        with pytest.raises(scipy_error):
            label(image, structure)
    # scipy skips the symmetry check on empty input; so does label
    assert label(np.zeros((0, 3)), asymmetric)[1] == 0


@st.composite
def _chunked_volumes(draw):
    shape, chunks = draw(shapes_and_chunkings(max_dims=3, max_side=12, max_chunks_per_axis=5))
    ndim = len(shape)
    offsets = draw(st.lists(st.tuples(*[st.integers(-1, 1)] * ndim), max_size=4))
    seed = draw(st.integers(0, 2**16))
    fraction = draw(st.floats(0.2, 0.8))
    return shape, chunks, _symmetric(offsets, ndim), seed, fraction


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chunked_volumes())
def test_hypothesis_chunkings_and_structures(case):
    shape, chunks, structure, seed, fraction = case
    x = np.random.default_rng(seed).random(shape) < fraction
    _check(x, chunks, structure)


def _label_task_counts(volume, chunks):
    """(tasks run by the call, tasks in the lazy result's graph)."""
    with count_computes() as counter:
        labels, n = label(da.from_array(volume, chunks=chunks))
    return counter.tasks, len(labels.__dask_graph__()), n


def test_graph_grows_with_chunks_not_labels():
    few = np.zeros((24, 24, 24), dtype=bool)
    few[2:20, 3:21, 4:22] = True
    many = np.zeros_like(few)
    many[::2, ::2, ::2] = True  # 1728 isolated voxels
    run_few, graph_few, n_few = _label_task_counts(few, 6)
    run_many, graph_many, n_many = _label_task_counts(many, 6)
    assert (n_few, n_many) == (1, 1728)
    assert run_few == run_many
    assert graph_few == graph_many


@pytest.mark.parametrize("merge", ["client"], indirect=True)
def test_graph_guard_64_blocks():
    run, graph, _ = _label_task_counts(VOLUME[:16, :16, :16], 4)  # 4 x 4 x 4 blocks
    blocks = 64
    # run: per block input, summary and face-pair tasks; one collect
    assert run <= 3 * blocks + 1
    # lazy result: input + relabel per block
    assert graph <= 2 * blocks + 1


@pytest.mark.parametrize("merge", ["client"], indirect=True)
def test_computes_summaries_only_and_labels_each_block_twice(monkeypatch):
    calls = []
    original = BlockLabeller.runs

    def counting(self, block):
        calls.append(block.shape)
        return original(self, block)

    monkeypatch.setattr(BlockLabeller, "runs", counting)
    x = da.from_array(VOLUME, chunks=(7, 8, 10))
    blocks = x.npartitions
    with dask.config.set(scheduler="sync"):
        labels, _ = label(x, ndi.generate_binary_structure(3, 3))
        assert len(calls) == blocks  # the call labelled every block once, no more
        labels.compute()
    assert len(calls) == 2 * blocks


@pytest.mark.parametrize("merge", ["tree"], indirect=True)
def test_graph_guard_64_blocks_tree():
    run, graph, _ = _label_task_counts(VOLUME[:16, :16, :16], 4)  # 4 x 4 x 4 blocks
    blocks = 64
    # run (the count): per block input, summary, leaf and its two parts; per tree node
    # the merge and its part for the parent; the count
    assert run <= 6 * blocks + 1
    # lazy result: the count's tasks, the down pass (4 per node), the rank (5 per
    # block, 2 per slab, 1), the input again and the paint (2 per block)
    assert graph <= 20 * blocks


@pytest.mark.parametrize("merge", ["tree"], indirect=True)
def test_tree_labels_each_block_once_per_pass(monkeypatch):
    calls = []
    original = BlockLabeller.runs

    def counting(self, block):
        calls.append(block.shape)
        return original(self, block)

    monkeypatch.setattr(BlockLabeller, "runs", counting)
    x = da.from_array(VOLUME, chunks=(7, 8, 10))
    blocks = x.npartitions
    with dask.config.set(scheduler="sync"):
        labels, _ = label(x, ndi.generate_binary_structure(3, 3))
        assert len(calls) == blocks  # the count labelled every block once, no more
        labels.compute()
    assert len(calls) == 3 * blocks  # summaries again, then the paint


def test_pickle_roundtrip():
    labels, n = label(da.from_array(VOLUME, chunks=(10, 12, 15)))
    graph_bytes = pickle.dumps(labels)
    assert len(graph_bytes) < 5 * VOLUME.size  # the input array plus small tables
    restored = pickle.loads(graph_bytes)
    expected, _ = ndi.label(VOLUME)
    np.testing.assert_array_equal(restored.compute(scheduler="sync"), expected)


@pytest.mark.parametrize("structure", [1, 3])
def test_engine_border_and_seed_tables(structure):
    s = ndi.generate_binary_structure(3, structure)
    expected, n = ndi.label(VOLUME, s)
    seeds = np.random.default_rng(2).random(SHAPE) < 0.002
    x = da.from_array(VOLUME, chunks=(5, 8, 11))
    border = (True, False, True)
    result = label_across_blocks(x, s, seeds=da.from_array(seeds, chunks=(9, 9, 9)), border=border)
    assert result.count == n
    np.testing.assert_array_equal(result.labels().compute(), expected)
    on_border = np.zeros(n + 1, dtype=bool)
    for ax, flag in enumerate(border):
        if flag:
            on_border[np.take(expected, [0, -1], axis=ax).ravel()] = True
    on_border[0] = False
    # seeded: objects holding a seed or touching one (background seeds touch neighbours)
    has_seed = np.zeros(n + 1, dtype=bool)
    has_seed[expected[ndi.binary_dilation(seeds, s | _symmetric([], 3))]] = True
    has_seed[0] = False
    np.testing.assert_array_equal(result.touches_border, on_border)
    np.testing.assert_array_equal(result.has_seed, has_seed)
    assert 0 < on_border.sum() < n and 0 < has_seed.sum() < n


def test_odd_chunkings_cover_thin_blocks():
    # line-like blocks (two axes of length 1) and blocks one voxel thick
    x = blobs((5, 6, 7), sigma=1.0, fraction=0.5, seed=9)
    for chunks in [*odd_chunkings((5, 6, 7), halo=2).values(), (1, 1, 7), (5, 1, 1)]:
        _check(x, chunks, ndi.generate_binary_structure(3, 3))


def test_block_kernel_numbers_like_scipy():
    """The run-length kernel alone: scipy's labels and numbering, any structure and rank."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        ndim = int(rng.integers(1, 5))
        shape = tuple(int(s) for s in rng.integers(1, 9 if ndim < 4 else 5, ndim))
        mask = rng.random(shape) < rng.uniform(0.2, 0.8)
        structure = rng.random((3,) * ndim) < rng.uniform(0.0, 1.0)
        structure |= structure[(slice(None, None, -1),) * ndim]
        expected, n = ndi.label(mask, structure)
        labels, count, first = BlockLabeller(structure)(mask)
        assert count == n
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(
            first, [np.flatnonzero(expected == k)[0] for k in range(1, n + 1)]
        )


def test_block_labeller_pickles_small():
    labeller = BlockLabeller(ndi.generate_binary_structure(3, 3))
    data = pickle.dumps(labeller)
    assert len(data) < 400
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored(VOLUME)[0], labeller(VOLUME)[0])


def test_summaries_hold_copies_not_views_of_the_block():
    """A summary must not keep the block's label array alive (memory per task)."""
    from bigimg._labels._kernel import SummarySpec, summarise_block

    faces = tuple((ax, side) for ax in range(3) for side in (0, 1))
    spec = SummarySpec((0, 0, 0), SHAPE, faces, faces)
    seeds = np.zeros(SHAPE, dtype=bool)
    seeds[0, 0, :] = True
    summary = summarise_block(
        VOLUME, BlockLabeller(ndi.generate_binary_structure(3, 1)), spec, seeds
    )
    for slab in summary.faces.values():
        assert slab.base is None or slab.base.nbytes <= slab.nbytes
    expected, _ = ndi.label(VOLUME)
    on_faces = np.unique(
        np.concatenate([np.take(expected, [0, -1], axis=ax).ravel() for ax in range(3)])
    )
    np.testing.assert_array_equal(summary.border, on_faces[on_faces > 0])
