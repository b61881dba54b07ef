"""binary_fill_holes and binary_propagation against scipy for any chunking."""

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
from bigimg.ndimage._global_morphology import binary_fill_holes, binary_propagation
from bigimg.testing import (
    assert_dask_matches,
    blobs,
    count_computes,
    odd_chunkings,
    shapes_and_chunkings,
)
from tests.conftest import SHAPE

# objects with many enclosed background pockets
SOLID = ~blobs(SHAPE, sigma=1.2, fraction=0.3, seed=4)
MASK = blobs(SHAPE, sigma=1.5, fraction=0.45, seed=5)
SEEDS = np.random.default_rng(6).random(SHAPE) < 0.003
STRUCTURES = {
    "6": None,
    "18": ndi.generate_binary_structure(3, 2),
    "26": ndi.generate_binary_structure(3, 3),
}


def _chunked(x, chunks):
    return da.from_array(x, chunks=chunks)


def test_data_has_holes_and_seeds():
    assert (ndi.binary_fill_holes(SOLID) != SOLID).sum() > 20
    grown = ndi.binary_propagation(SEEDS, mask=MASK)
    assert 0 < (grown & ~SEEDS).sum() < MASK.sum()


def test_fill_holes_matches_scipy_any_chunking(chunks):
    result = binary_fill_holes(_chunked(SOLID, chunks), STRUCTURES["26"])
    expected = ndi.binary_fill_holes(SOLID, STRUCTURES["26"])
    assert_dask_matches(result, expected, chunks=_chunked(SOLID, chunks).chunks)


def test_propagation_matches_scipy_any_chunking(chunks):
    s = STRUCTURES["18"]
    result = binary_propagation(_chunked(SEEDS, chunks), s, _chunked(MASK, chunks), border_value=1)
    expected = ndi.binary_propagation(SEEDS, s, MASK, border_value=1)
    assert_dask_matches(result, expected, chunks=_chunked(SEEDS, chunks).chunks)


@pytest.mark.parametrize("structure", list(STRUCTURES), ids=list(STRUCTURES))
def test_fill_holes_matches_scipy(structure):
    chunks = odd_chunkings(SHAPE, halo=3)["remainder"]
    s = STRUCTURES[structure]
    assert_dask_matches(
        binary_fill_holes(_chunked(SOLID, chunks), s), ndi.binary_fill_holes(SOLID, s)
    )


@pytest.mark.parametrize("border_value", [0, 1])
@pytest.mark.parametrize("structure", list(STRUCTURES), ids=list(STRUCTURES))
def test_propagation_matches_scipy(structure, border_value):
    chunks = odd_chunkings(SHAPE, halo=3)["remainder"]
    s = STRUCTURES[structure]
    result = binary_propagation(
        _chunked(SEEDS, chunks), s, _chunked(MASK, chunks), border_value=border_value
    )
    expected = ndi.binary_propagation(SEEDS, s, MASK, border_value=border_value)
    assert_dask_matches(result, expected)


def test_propagation_seeds_outside_mask_and_no_mask():
    seeds = SEEDS & ~MASK  # seeds reach the mask only through the first dilation
    result = binary_propagation(_chunked(seeds, (5, 7, 9)), mask=_chunked(MASK, (9, 7, 5)))
    assert_dask_matches(result, ndi.binary_propagation(seeds, mask=MASK))
    everywhere = binary_propagation(_chunked(SEEDS, (5, 7, 9)))
    assert_dask_matches(everywhere, ndi.binary_propagation(SEEDS))


@pytest.mark.parametrize(
    ("structure", "origin", "axes"),
    [
        (np.ones((3, 1, 3), bool), 0, None),  # smaller along an axis
        (ndi.generate_binary_structure(2, 2), 0, (0, 2)),
        (ndi.generate_binary_structure(2, 1), 0, (2, 1)),
        (np.pad(ndi.generate_binary_structure(3, 1), 1), 0, None),  # 5x5x5, reach 1
        ([[[1, 1, 1]]], 0, None),
    ],
    ids=["3x1x3", "axes02", "axes21", "padded5", "rows"],
)
def test_odd_structures_origins_and_axes(structure, origin, axes):
    chunks = odd_chunkings(SHAPE, halo=3)["remainder"]
    kwargs = dict(structure=structure, origin=origin, axes=axes)
    result = binary_fill_holes(_chunked(SOLID, chunks), **kwargs)
    assert_dask_matches(result, ndi.binary_fill_holes(SOLID, **kwargs))
    result = binary_propagation(_chunked(SEEDS, chunks), mask=MASK, border_value=1, **kwargs)
    assert_dask_matches(result, ndi.binary_propagation(SEEDS, mask=MASK, border_value=1, **kwargs))


def test_two_dimensional_and_input_dtypes():
    image = ~blobs((40, 37), sigma=1.0, fraction=0.3, seed=8)
    for dtype in (bool, np.uint8, np.int32, np.float32, np.float64):
        values = image.astype(dtype) * 3
        result = binary_fill_holes(_chunked(values, (7, 9)), np.ones((3, 3)))
        assert_dask_matches(result, ndi.binary_fill_holes(values, np.ones((3, 3))))


@pytest.mark.parametrize(
    ("kwargs", "func"),
    [
        (dict(origin=1), binary_fill_holes),
        (dict(origin=(0, -1, 0)), binary_propagation),
        (dict(structure=[[[1, 1, 0]]]), binary_propagation),
        (dict(structure=np.pad(np.ones((3, 3, 3)), 1, constant_values=1)), binary_fill_holes),
        (dict(structure=[[[1, 0, 1]]]), binary_fill_holes),
    ],
    ids=["origin", "origin_seq", "one_sided", "reach_2", "no_centre"],
)
def test_directional_neighbourhoods(kwargs, func):
    """Exact too (rounds of block floods; tests/ndimage/test_propagation_exact.py)."""
    result = func(_chunked(SOLID, 7), **kwargs)
    assert_dask_matches(result, getattr(ndi, func.__name__)(SOLID, **kwargs))


@pytest.mark.parametrize(
    ("func", "kwargs", "error", "match"),
    [
        (binary_fill_holes, dict(input=np.ones((4, 4), np.complex64)), TypeError, "real"),
        (binary_fill_holes, dict(structure=np.ones((3, 3))), ArgumentError, "dimensionality"),
        (binary_fill_holes, dict(output=da.zeros((6, 6, 6), dtype=bool)), TypeError, "array"),
        (binary_propagation, dict(mask=np.ones((6, 6))), ArgumentError, "`mask`"),
        (binary_propagation, dict(axes=(0, 5)), ValueError, "`axes`"),
    ],
    ids=["complex", "rank", "output_array", "mask_shape", "axes"],
)
def test_invalid_arguments(func, kwargs, error, match):
    kwargs = {"input": da.ones((6, 6, 6), chunks=3, dtype=bool), **kwargs}
    with pytest.raises(error, match=match), count_computes() as c:
        func(**kwargs)
    assert c.tasks == 0


def test_runtime_errors_stay_catchable_as_runtime_error():
    with pytest.raises(RuntimeError):
        ndi.binary_fill_holes(np.ones((4, 4, 4)), np.ones((3, 3, 3, 3)))
    with pytest.raises(RuntimeError):
        binary_fill_holes(np.ones((4, 4, 4)), np.ones((3, 3, 3, 3)))
    # scipy fails with an IndexError for too few structure axes; bigimg's error is clearer
    with pytest.raises(ArgumentError, match="one axis per entry"):
        binary_fill_holes(np.ones((4, 4, 4)), np.ones((3, 3)))


def test_scalar_and_empty_inputs():
    for value in (0, 1):
        assert_dask_matches(
            binary_fill_holes(np.array(value)), ndi.binary_fill_holes(np.array(value))
        )
        assert_dask_matches(
            binary_propagation(np.array(value), border_value=1),
            ndi.binary_propagation(np.array(value), border_value=1),
        )
    empty = np.zeros((0, 3, 4), bool)
    assert_dask_matches(binary_fill_holes(empty), ndi.binary_fill_holes(empty))


def test_pickle_and_graph_size():
    x = _chunked(SOLID[:16, :16, :16], 4)  # 64 blocks
    with count_computes() as c:
        result = binary_fill_holes(x)
    assert c.tasks <= 4 * 64 + 1
    assert len(result.__dask_graph__()) <= 3 * 64 + 1
    restored = pickle.loads(pickle.dumps(result))
    np.testing.assert_array_equal(
        restored.compute(scheduler="sync"), ndi.binary_fill_holes(SOLID[:16, :16, :16])
    )


def test_tree_merge_computes_nothing_until_asked():
    """With the tree merge the flags travel through the tree: the call computes nothing
    and the graph grows with the blocks only."""
    x = _chunked(SOLID[:16, :16, :16], 4)  # 64 blocks
    with dask.config.set({"bigimg.label-merge": "tree"}), count_computes() as c:
        filled = binary_fill_holes(x)
        grown = binary_propagation(x & ~x, mask=x, border_value=1)
    assert c.tasks == 0
    assert len(filled.__dask_graph__()) <= 16 * 64
    np.testing.assert_array_equal(filled.compute(), ndi.binary_fill_holes(SOLID[:16, :16, :16]))
    solid = SOLID[:16, :16, :16]
    ref = ndi.binary_propagation(np.zeros_like(solid), mask=solid, border_value=1)
    np.testing.assert_array_equal(grown.compute(), ref)


@st.composite
def _cases(draw):
    shape, chunks = draw(shapes_and_chunkings(max_dims=3, max_side=10, max_chunks_per_axis=4))
    ndim = len(shape)
    rank = draw(st.integers(1, ndim))
    seed = draw(st.integers(0, 2**16))
    return shape, chunks, ndi.generate_binary_structure(ndim, rank), seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases(), st.booleans())
def test_hypothesis_chunkings(case, border_value):
    shape, chunks, structure, seed = case
    rng = np.random.default_rng(seed)
    solid = rng.random(shape) < 0.6
    seeds, mask = rng.random(shape) < 0.1, rng.random(shape) < 0.6
    assert_dask_matches(
        binary_fill_holes(_chunked(solid, chunks), structure),
        ndi.binary_fill_holes(solid, structure),
    )
    assert_dask_matches(
        binary_propagation(_chunked(seeds, chunks), structure, mask, border_value=border_value),
        ndi.binary_propagation(seeds, structure, mask, border_value=border_value),
    )
