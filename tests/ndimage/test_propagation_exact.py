"""Fixed points of binary dilation with any structure and origin, and
``distance_transform_bf``'s choice among equally near voxels, against scipy.

``binary_propagation``, ``binary_fill_holes`` and ``iterations < 1`` with off-centre
origins, structures reaching two voxels (a 5x5x5 ball), one-sided and random
asymmetric structures (directed propagation) and structures without their centre
(scipy's loop itself), over odd chunkings including chunks smaller than the reach.
The floods run on the chunks as given (``MIN_BLOCK_EDGE`` = 1, so the tiny arrays here
cross many block faces), except in :func:`test_default_merging`.

References: scipy's own functions where its fast path is sound (arrays at least as
large as the structure on every axis; on smaller ones scipy's ``binary_erosion2``
reads out of bounds), else :func:`_scipy_loop`, scipy's one-step dilation repeated
until nothing changes (what ``brute_force=True`` runs), which also reports a cycle.
"""

from __future__ import annotations

import contextlib
import pickle

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bigimg._morphology._reach as reach_module
from bigimg._morphology import NeverSettlesError, dilation_reach
from bigimg.ndimage import (
    binary_closing,
    binary_dilation,
    binary_erosion,
    binary_fill_holes,
    binary_opening,
    binary_propagation,
    distance_transform_bf,
)
from bigimg.testing import assert_dask_matches, blobs, count_computes, shapes_and_chunkings

SHAPE3 = (11, 13, 12)
SHAPE2 = (23, 19)
CHUNKS3 = {
    "irregular": ((1, 5, 2, 3), (6, 1, 6), (2, 3, 7)),
    "smaller_than_reach": ((3, 1, 1, 6), (7, 1, 5), (1, 1, 10)),
}
CHUNKS2 = {"irregular": ((7, 1, 9, 6), (2, 5, 12)), "smaller_than_reach": (1, (3, 1, 15))}

BALL5 = np.sum((np.indices((5, 5, 5)) - 2) ** 2, axis=0) <= 4
CROSS = ndi.generate_binary_structure(3, 1)
ASYM = np.random.default_rng(3).random((3, 5, 3)) < 0.45
ASYM[1, 2, 1] = True  # the centre: a directed neighbourhood that keeps its voxels

#: name -> (structure, origin); all hold their centre after the origin
STRUCTURES3 = {
    "full3_origin1": (np.ones((3, 3, 3), bool), 1),
    "cross_origin_axis0": (CROSS, (-1, 0, 0)),
    "cross_origin_axis1": (CROSS, (0, 1, 0)),
    "cross_origin_axis2": (CROSS, (0, 0, -1)),
    "ball5": (BALL5, 0),
    "ball5_origin": (BALL5, (1, 0, -1)),
    "full5": (np.ones((5, 5, 5), bool), 0),
    "asymmetric": (ASYM, (1, -1, 0)),
    "one_sided": ([[[1, 1, 0]]], 0),
    "even": (np.ones((2, 3, 2), bool), (0, 1, -1)),
}
STRUCTURES2 = {
    "full3_origin": (np.ones((3, 3), bool), (1, -1)),
    "disk5": (np.sum((np.indices((5, 5)) - 2) ** 2, axis=0) <= 4, (0, 1)),
    "asymmetric": (np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0]], bool), (0, -1)),
}

SOLID3 = ~blobs(SHAPE3, sigma=1.0, fraction=0.35, seed=41)
MASK3 = blobs(SHAPE3, sigma=1.2, fraction=0.55, seed=42)
SEEDS3 = np.random.default_rng(43).random(SHAPE3) < 0.01
SOLID2 = ~blobs(SHAPE2, sigma=1.0, fraction=0.35, seed=44)
MASK2 = blobs(SHAPE2, sigma=1.0, fraction=0.55, seed=45)
SEEDS2 = np.random.default_rng(46).random(SHAPE2) < 0.02


@contextlib.contextmanager
def _blocks_as_chunked():
    """Flood the chunks as given (no merging to ``MIN_BLOCK_EDGE``)."""
    before = reach_module.MIN_BLOCK_EDGE
    reach_module.MIN_BLOCK_EDGE = 1
    try:
        yield
    finally:
        reach_module.MIN_BLOCK_EDGE = before


@pytest.fixture
def floods():
    with _blocks_as_chunked():
        yield


def _scipy_loop(x, structure, mask, border_value, origin, limit=5000):
    """scipy's one-step dilation repeated until nothing changes; None if it cycles."""
    cur = np.asarray(x, dtype=bool)
    seen = {cur.tobytes()}
    for _ in range(limit):
        nxt = ndi.binary_dilation(
            cur, structure, mask=mask, border_value=border_value, origin=origin
        )
        if np.array_equal(nxt, cur):
            return cur
        if nxt.tobytes() in seen:
            return None
        seen.add(nxt.tobytes())
        cur = nxt
    raise AssertionError("the reference did not settle")


def _cases(structures, chunkings):
    """Each structure with one of the chunkings, in turn."""
    names = list(chunkings)
    return [
        pytest.param(structure, origin, chunkings[names[i % 2]], id=f"{name}-{names[i % 2]}")
        for i, (name, (structure, origin)) in enumerate(structures.items())
    ]


@pytest.mark.parametrize(
    ("structure", "origin", "chunks"),
    _cases(STRUCTURES3, CHUNKS3) + _cases(STRUCTURES2, CHUNKS2),
)
def test_propagation_and_fill_holes(structure, origin, chunks, floods):
    three = np.ndim(structure) == 3
    seeds, mask, solid = (SEEDS3, MASK3, SOLID3) if three else (SEEDS2, MASK2, SOLID2)
    x = da.from_array(seeds, chunks=chunks)
    kwargs = dict(structure=structure, origin=origin, border_value=1)
    result = binary_propagation(x, mask=mask, **kwargs)
    expected = ndi.binary_propagation(seeds, mask=mask, **kwargs)
    assert_dask_matches(result, expected, chunks=x.chunks)
    everywhere = binary_propagation(x, structure, origin=origin)  # border_value=0
    assert_dask_matches(everywhere, ndi.binary_propagation(seeds, structure, origin=origin))
    filled = binary_fill_holes(da.from_array(solid, chunks=chunks), structure, origin=origin)
    assert_dask_matches(filled, ndi.binary_fill_holes(solid, structure, origin=origin))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_origin_on_each_axis_with_axes(axis, floods):
    """A 2-D directed structure over two of three axes, the third left alone."""
    structure, origin = STRUCTURES2["asymmetric"]
    axes = [a for a in range(3) if a != axis]
    chunks = CHUNKS3["irregular"]
    kwargs = dict(structure=structure, origin=origin, axes=axes)
    result = binary_propagation(da.from_array(SEEDS3, chunks=chunks), mask=MASK3, **kwargs)
    assert_dask_matches(result, ndi.binary_propagation(SEEDS3, mask=MASK3, **kwargs))
    filled = binary_fill_holes(da.from_array(SOLID3, chunks=chunks), **kwargs)
    assert_dask_matches(filled, ndi.binary_fill_holes(SOLID3, **kwargs))


def test_directed_chain_crossing_many_block_faces(floods):
    """A serpentine mask corridor that a directed step follows back and forth."""
    mask = np.zeros((21, 24), bool)
    mask[::4, 1:-1] = True
    for i, row in enumerate(range(0, 17, 4)):
        mask[row : row + 5, -2 if i % 2 == 0 else 1] = True
    seeds = np.zeros_like(mask)
    seeds[0, 1] = True
    structure, origin = np.ones((3, 3), bool), (-1, 0)  # steps never go up
    for order in (1, -1):
        s, m = seeds[::order], mask[::order]
        result = binary_propagation(da.from_array(s, chunks=(3, 5)), structure, m, origin=origin)
        assert_dask_matches(result, ndi.binary_propagation(s, structure, m, origin=origin))


@pytest.mark.parametrize("name", ["binary_erosion", "binary_dilation"])
@pytest.mark.parametrize("structure_name", ["full3_origin1", "ball5", "asymmetric"])
def test_iterations_below_one(name, structure_name, floods):
    structure, origin = STRUCTURES3[structure_name]
    ours, theirs = (
        {"binary_erosion": binary_erosion, "binary_dilation": binary_dilation}[name],
        getattr(ndi, name),
    )
    x = SOLID3 if name == "binary_erosion" else SEEDS3
    for border in (0, 1):
        kwargs = dict(structure=structure, origin=origin, border_value=border, iterations=0)
        result = ours(da.from_array(x, chunks=CHUNKS3["irregular"]), mask=MASK3, **kwargs)
        assert_dask_matches(result, theirs(x, mask=MASK3, **kwargs))


@pytest.mark.parametrize("func", [binary_opening, binary_closing], ids=["opening", "closing"])
def test_opening_and_closing_until_nothing_changes(func, floods):
    structure, origin = STRUCTURES3["cross_origin_axis1"]
    kwargs = dict(structure=structure, origin=origin, iterations=-1)
    result = func(da.from_array(SOLID3, chunks=CHUNKS3["smaller_than_reach"]), **kwargs)
    assert_dask_matches(result, getattr(ndi, func.__name__)(SOLID3, **kwargs))


# ---------------------------------------------- neighbourhoods without their centre
SHIFT = np.array([[[1, 0, 0]]], bool)  # each step moves every voxel one column on


@pytest.mark.parametrize("border", [0, 1])
def test_without_centre_runs_scipys_loop_over_several_passes(border, floods):
    """Seeds travel one voxel per step until they leave the mask: > 16 steps."""
    shape = (6, 5, 40)
    mask = np.ones(shape, bool)
    mask[:, :, 37] = False
    mask[2, 2, 25] = False
    seeds = np.zeros(shape, bool)
    seeds[:, :, 0] = True
    seeds[1, 3, 30] = seeds[4, 0, 39] = True
    chunks = (2, 5, (9, 1, 13, 17))
    result = binary_propagation(
        da.from_array(seeds, chunks=chunks), SHIFT, mask, border_value=border
    )
    expected = _scipy_loop(seeds, SHIFT, mask, border, 0)
    assert_dask_matches(result, expected, chunks=da.from_array(seeds, chunks=chunks).chunks)
    eroded = binary_erosion(
        da.from_array(~seeds, chunks=chunks), SHIFT[..., ::-1], iterations=-1, mask=mask
    )
    assert_dask_matches(eroded, ~_scipy_loop(seeds, SHIFT, mask, 1, 0))


def test_without_centre_cycling_forever_is_an_error(floods):
    """Steps of +-1 column flip a lone seed's parity forever: scipy never returns."""
    seeds = np.zeros((4, 9), bool)
    seeds[1, 4] = True
    assert _scipy_loop(seeds, [[1, 0, 1]], None, 0, 0) is None
    with pytest.raises(NeverSettlesError, match="cycle forever"):
        binary_propagation(da.from_array(seeds, chunks=(2, 3)), [[1, 0, 1]])
    with pytest.raises(ValueError, match="binary_dilation"):
        binary_dilation(da.from_array(seeds, chunks=3), [[1, 0, 1]], iterations=0)


def test_without_centre_fill_holes_is_monotone(floods):
    """fill_holes starts from nothing, so the floods apply whatever the structure."""
    for structure in ([[[1, 0, 1]]], [[[0, 0, 0], [1, 0, 0], [0, 1, 0]]]):
        result = binary_fill_holes(da.from_array(SOLID3, chunks=CHUNKS3["irregular"]), structure)
        assert_dask_matches(result, ndi.binary_fill_holes(SOLID3, structure))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_structures_origins_and_chunkings(data):
    with _blocks_as_chunked():
        _random_case(data)


def _random_case(data):
    ndim = data.draw(st.integers(2, 3))
    sshape = tuple(data.draw(st.integers(1, 4)) for _ in range(ndim))
    shape, chunks = data.draw(
        shapes_and_chunkings(min_dims=ndim, max_dims=ndim, min_side=1, max_side=8)
    )
    shape = tuple(n + s for n, s in zip(shape, sshape))  # scipy is sound on these
    chunks = tuple((*c, s) for c, s in zip(chunks, sshape))
    seed = data.draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    structure = rng.random(sshape) < 0.5
    origin = tuple(data.draw(st.integers(-(s // 2), (s - 1) // 2)) for s in sshape)
    seeds = rng.random(shape) < 0.1
    mask = rng.random(shape) < 0.7
    border = data.draw(st.integers(0, 1))
    expected = _scipy_loop(seeds, structure, mask, border, origin)
    x = da.from_array(seeds, chunks=chunks)
    if expected is None:
        with pytest.raises(NeverSettlesError):
            binary_propagation(x, structure, mask, border_value=border, origin=origin)
    else:
        result = binary_propagation(x, structure, mask, border_value=border, origin=origin)
        assert_dask_matches(result, expected, chunks=x.chunks)
    filled = binary_fill_holes(x, structure, origin=origin)
    assert_dask_matches(filled, ndi.binary_fill_holes(seeds, structure, origin=origin))


# ------------------------------------------------------------------ engine contract
def test_neighbourhood_is_what_scipy_dilation_reaches():
    for structure, origin in [*STRUCTURES3.values(), ([[[1, 0, 1]]], 0), (SHIFT, 0)]:
        reach = dilation_reach(3, structure, origin, None, False)
        delta = np.zeros((13, 13, 13), bool)
        delta[6, 6, 6] = True
        reached = ndi.binary_dilation(delta, structure, origin=origin)
        assert set(reach.offsets) == {tuple(d) for d in (np.argwhere(reached) - 6).tolist()}


def test_default_merging():
    """Chunks below ``MIN_BLOCK_EDGE`` are merged for the floods; chunks come back."""
    structure, origin = STRUCTURES3["ball5_origin"]
    x = da.from_array(SEEDS3, chunks=CHUNKS3["smaller_than_reach"])
    result = binary_propagation(x, structure, MASK3, origin=origin, border_value=1)
    expected = ndi.binary_propagation(SEEDS3, structure, MASK3, origin=origin, border_value=1)
    assert_dask_matches(result, expected, chunks=x.chunks)
    assert reach_module.work_chunks(x.chunks, (2, 2, 2)) == tuple((n,) for n in SHAPE3)


def test_result_is_lazy_and_pickles(floods):
    x = da.from_array(SEEDS3, chunks=CHUNKS3["irregular"])
    structure, origin = STRUCTURES3["ball5_origin"]
    result = binary_propagation(x, structure, MASK3, origin=origin)  # rounds run here
    with count_computes() as counter:
        again = pickle.loads(pickle.dumps(result))
    assert counter.tasks == 0
    expected = ndi.binary_propagation(SEEDS3, structure, MASK3, origin=origin)
    assert_dask_matches(again, expected, chunks=x.chunks)


# --------------------------------------------- distance_transform_bf's nearest voxel
def _bf_cases():
    lattice = np.ones((10, 12, 9), bool)
    lattice[::3, ::4, ::3] = False  # most voxels have several nearest background voxels
    blob = blobs((13, 11, 12), sigma=1.5, fraction=0.7, seed=47)
    plate = np.zeros((9, 9), bool)
    plate[2:7, 2:7] = True
    plate[[2, 2, 6, 6], [2, 6, 2, 6]] = False  # scipy's test_distance_transform_bf03
    line = np.random.default_rng(48).random(40) < 0.9
    return [
        pytest.param(lattice, (4, 5, 2), id="lattice"),
        pytest.param(blob, (1, 4, (5, 1, 6)), id="blob-size1"),
        pytest.param(blob, 13, id="blob-one-chunk"),
        pytest.param(plate, (2, 3), id="plate"),
        pytest.param(line, 3, id="line"),
        pytest.param(np.ones((4, 5), bool), 2, id="no-background"),
    ]


@pytest.mark.parametrize(("a", "chunks"), _bf_cases())
@pytest.mark.parametrize("metric", ["chessboard", "taxicab"])
def test_bf_indices_are_scipys(a, chunks, metric):
    """Among equally near background voxels, scipy's brute force keeps the last one."""
    x = da.from_array(a, chunks=chunks)
    with count_computes() as counter:
        d, i = distance_transform_bf(x, metric, return_indices=True)
    assert counter.tasks == 0
    ref_d, ref_i = ndi.distance_transform_bf(a, metric, return_indices=True)
    assert_dask_matches(i, ref_i, chunks=((a.ndim,),) + x.chunks)
    assert_dask_matches(d, ref_d, rtol=0)


def test_bf_chessboard_indices_through_an_object_store():
    """The mask goes to scratch block by block; a URL prefix works like a directory."""
    a = blobs((9, 10, 11), sigma=1.5, fraction=0.7, seed=49)
    x = da.from_array(a, chunks=(4, 3, 5))
    _, i = distance_transform_bf(x, "chessboard", return_indices=True, temp_dir="memory://bf")
    assert_dask_matches(i, ndi.distance_transform_bf(a, "chessboard", return_indices=True)[1])
