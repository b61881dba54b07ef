"""The block kernel (word scan, run union-find, one-pass numbering) and the compiled face
pairs, against scipy: every structure family, every rank, every dtype, strided views,
worst-case patterns, and odd chunkings through ``bigimg.ndimage.label``."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg._labels import _merge, _pairs
from bigimg._labels._engine import MERGE_KEY
from bigimg._labels._graph import summary_tasks
from bigimg._labels._kernel import BlockLabeller, summarise_block
from bigimg._labels._runs import RunGeometry, block_rows
from bigimg.ndimage import label
from bigimg.testing import odd_chunkings

RNG_SEEDS = range(6)


def _random_structure(ndim: int, seed: int, density: float = 0.5) -> np.ndarray:
    """A centrosymmetric structure holding its centre, offsets drawn at random."""
    rng = np.random.default_rng(seed)
    s = rng.random((3,) * ndim) < density
    s |= s[(slice(None, None, -1),) * ndim]
    s[(1,) * ndim] = True
    return s


def _structures(ndim: int) -> dict[str, np.ndarray]:
    named = {f"conn{c}": ndi.generate_binary_structure(ndim, c) for c in range(1, ndim + 1)}
    named.update({f"random{k}": _random_structure(ndim, 100 * ndim + k) for k in RNG_SEEDS})
    if ndim >= 2:
        # the row above at offsets -1 and +1 but not 0 ("gap": not along the row
        # either, so every voxel is a run of its own; "gap-rows": runs along rows)
        gap = np.zeros((3,) * ndim, dtype=bool)
        middle = (1,) * (ndim - 2)
        for corner in [(0, *middle, 0), (0, *middle, 2), (2, *middle, 0), (2, *middle, 2)]:
            gap[corner] = True
        gap[(1,) * ndim] = True
        named["gap"] = gap
        rows = gap.copy()
        rows[(1,) * (ndim - 1) + (0,)] = rows[(1,) * (ndim - 1) + (2,)] = True
        named["gap-rows"] = rows
    return named


def _first_voxels(expected: np.ndarray) -> np.ndarray:
    """Flat index of each label's first voxel, by label."""
    values, first = np.unique(expected.ravel(), return_index=True)
    return first[values > 0]


def _check(block, structure):
    expected, n = ndi.label(np.asarray(block) != 0, structure)
    labels, count, first = BlockLabeller(structure)(block)
    assert count == n
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(first, _first_voxels(expected))


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_every_structure_family(ndim):
    rng = np.random.default_rng(ndim)
    shapes = {1: [(1,), (7,), (64,), (130,)], 2: [(1, 9), (9, 1), (13, 70)]}
    shapes[3] = [(1, 1, 1), (1, 6, 7), (6, 1, 7), (6, 7, 1), (7, 9, 66)]
    shapes[4] = [(3, 1, 4, 5), (3, 4, 5, 9)]
    for structure in _structures(ndim).values():
        for shape in shapes[ndim]:
            for fraction in (0.2, 0.5, 0.8):
                _check(rng.random(shape) < fraction, structure)


@pytest.mark.parametrize("width", [1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 200])
def test_row_widths_around_the_64_voxel_words(width):
    rng = np.random.default_rng(width)
    block = rng.random((3, 4, width)) < 0.5
    block[0, 0, :] = True  # a run over whole words
    block[0, 1, ::2] = True  # a transition at every voxel
    for connectivity in (1, 3):
        _check(block, ndi.generate_binary_structure(3, connectivity))
    _check(block, np.array([[[0, 0, 0], [0, 1, 0], [0, 0, 0]]] * 3, dtype=bool))  # no runs


@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_empty_and_full_blocks(connectivity):
    structure = ndi.generate_binary_structure(3, connectivity)
    for shape in [(1, 1, 1), (4, 5, 70)]:
        labels, count, first = BlockLabeller(structure)(np.zeros(shape, dtype=bool))
        assert count == 0 and first.size == 0 and not labels.any()
        labels, count, first = BlockLabeller(structure)(np.ones(shape, dtype=np.float32))
        assert count == 1 and first.tolist() == [0] and (labels == 1).all()


def _spiral(n: int) -> np.ndarray:
    """A one-voxel-wide square spiral in an ``n x n`` plane (one object, long path)."""
    a = np.zeros((n, n), dtype=bool)
    lo, hi = 0, n - 1
    while lo <= hi:
        a[lo, lo : hi + 1] = a[lo : hi + 1, hi] = a[hi, lo : hi + 1] = True
        a[lo + 2 : hi + 1, lo] = True
        if lo + 2 <= hi:
            a[lo + 2, lo : lo + 3] = True
        lo, hi = lo + 2, hi - 2
    return a


def _patterns() -> dict[str, np.ndarray]:
    z, y, x = np.indices((6, 9, 70))
    spiral = _spiral(31)
    return {
        "checkerboard": (z + y + x) % 2 == 0,
        "checker-columns": (y + x) % 2 == 0,
        "stripes-x": x % 2 == 0,
        "stripes-y": y % 2 == 0,
        "stripes-z": z % 2 == 0,
        "diagonals": (x + y) % 3 == 0,
        "spiral": spiral[None],
        "spiral-stack": np.stack([spiral, ~spiral, spiral.T]),
        "comb": (y == 0) | (x % 2 == 0) & (y < 8),
        "staircase": (x - 7 * y - z) % 70 < 3,
    }


@pytest.mark.parametrize("pattern", list(_patterns()))
def test_worst_case_patterns(pattern):
    block = _patterns()[pattern]
    for structure in _structures(3).values():
        _check(block, structure)


@pytest.mark.parametrize(
    "dtype",
    ["u1", "i1", "<i2", ">i2", "<u4", ">i4", "<i8", "u8", "<f2", "<f4", ">f4", "<f8", ">f8"],
)
def test_every_dtype_is_compared_with_zero(dtype):
    rng = np.random.default_rng(1)
    values = np.where(rng.random((4, 5, 70)) < 0.5, rng.integers(1, 127, (4, 5, 70)), 0)
    if np.dtype(dtype).kind == "f":
        values = values * np.where(rng.random(values.shape) < 0.5, -1.0, 1.0)
        values[values == 0] = rng.choice([0.0, -0.0], int((values == 0).sum()))
        values.flat[::17] = np.nan
        values.flat[5::23] = -np.inf
    elif np.dtype(dtype).kind == "i":
        values = values * np.where(rng.random(values.shape) < 0.5, -1, 1)
    block = values.astype(dtype)
    for connectivity in (1, 3):
        _check(block, ndi.generate_binary_structure(3, connectivity))


def test_bytes_other_than_one_and_wide_or_odd_dtypes():
    rng = np.random.default_rng(2)
    shape = (3, 4, 75)
    block = np.where(rng.random(shape) < 0.5, rng.integers(1, 256, shape), 0).astype(np.uint8)
    block[0, 0, :8] = [128, 1, 2, 4, 8, 16, 32, 64]  # one bit per byte
    _check(block, ndi.generate_binary_structure(3, 1))
    complex_block = (rng.random(shape) < 0.5) * 1j + (rng.random(shape) < 0.2)
    _check(complex_block.astype(np.complex64), ndi.generate_binary_structure(3, 2))
    _check(block.astype(np.longdouble), ndi.generate_binary_structure(3, 3))
    assert block_rows(block).nonzero == 255
    assert block_rows(block.astype(np.float32)).nonzero == 0x7FFFFFFF


def test_strided_views_and_broadcast_blocks():
    rng = np.random.default_rng(3)
    big = rng.random((12, 14, 150)) < 0.45
    views = [
        big[2:9, 3:12, 5:140],
        big[:, ::2],
        big[::-1],
        big[:, :, ::-1],
        big[:, :, ::3],
        big.transpose(1, 0, 2),
        big.transpose(2, 1, 0),
        big[4:5, :, 64:65],
        np.broadcast_to(big[:1, :1], (5, 6, 150)),
        np.broadcast_to(big[:, :, :1], (12, 14, 150)),
        big.reshape(6, 2, 14, 150),
    ]
    for view in views:
        for connectivity in (1, 3):
            _check(view, ndi.generate_binary_structure(view.ndim, connectivity))
    packed = np.zeros((4, 5, 70), dtype=[("a", "u1"), ("b", "<u2")])  # strides of 3 bytes
    packed["b"] = (rng.random(packed.shape) < 0.5) * 300
    _check(packed["b"], ndi.generate_binary_structure(3, 2))
    # a C-contiguous-row view is read in place, not copied
    rows = block_rows(big[2:9, 3:12, 5:140])
    assert np.shares_memory(rows.buf.view(bool), big)
    assert (rows.plane_stride, rows.row_stride, rows.width) == (14 * 150, 150, 135)


def test_run_geometry_lists_a_gapped_row_once_per_offset():
    geometry = RunGeometry(_structures(2)["gap"])
    assert geometry.steps.tolist() == [[-1], [-1]]
    assert (geometry.low.tolist(), geometry.high.tolist()) == ([-1, 1], [-1, 1])
    assert not geometry.along_row
    # lone voxels straight above each other do not touch; diagonal ones do
    labels, count, _ = BlockLabeller(_structures(2)["gap"])(np.array([[1, 0, 1], [1, 1, 0]]))
    assert count == ndi.label(np.array([[1, 0, 1], [1, 1, 0]]), _structures(2)["gap"])[1]


def _summaries(volume, chunks, structure, seeds=None):
    x = da.from_array(volume, chunks=chunks)
    s = None if seeds is None else da.from_array(seeds, chunks=chunks)
    labeller = BlockLabeller(structure)
    dsk, blocks = summary_tasks(
        x, labeller, seeds=s, border=None, name="s", summarise=summarise_block
    )
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in x.chunks]
    summaries = {}
    for key, task in dsk.items():
        index = tuple(
            slice(starts[a][i], starts[a][i] + x.chunks[a][i]) for a, i in enumerate(key[1:])
        )
        extra = () if seeds is None else (seeds[index],)
        summaries[key] = task[0](volume[index], task[2], task[3], *extra)
    return summaries, blocks


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_compiled_face_pairs_equal_the_reference(ndim):
    rng = np.random.default_rng(10 + ndim)
    for _ in range(4):
        shape = tuple(int(n) for n in rng.integers(3, 11 if ndim < 4 else 6, ndim))
        volume = rng.random(shape) < 0.5
        seeds = rng.random(shape) < 0.1
        chunks = tuple(int(rng.integers(1, n + 1)) for n in shape)
        for structure in (ndi.generate_binary_structure(ndim, 1), np.ones((3,) * ndim, bool)):
            for with_seeds in (None, seeds):
                summaries, blocks = _summaries(volume, chunks, structure, with_seeds)
                for block in blocks:
                    mine = summaries[("s", *block.index)]
                    around = [summaries[key] for key in block.neighbour_keys]
                    for face in block.edge.faces:
                        fast = _pairs.face_pairs(mine, around, face)
                        slow = _merge.face_pairs(mine, around, face)
                        for a, b in zip(fast, slow, strict=True):
                            assert a.dtype == b.dtype
                            np.testing.assert_array_equal(a, b)
                    fast = _pairs.block_edges(mine, around, block.edge)
                    slow = _merge.block_edges(mine, around, block.edge)
                    for a, b in zip(fast, slow, strict=True):
                        np.testing.assert_array_equal(a, b)


def test_face_pairs_with_labels_past_255():
    rng = np.random.default_rng(4)
    volume = rng.random((24, 40, 50)) < 0.08
    seeds = rng.random(volume.shape) < 0.05
    for structure in (ndi.generate_binary_structure(3, 1), np.ones((3, 3, 3), bool)):
        summaries, blocks = _summaries(volume, (12, 40, 25), structure, seeds)
        assert max(s.count for s in summaries.values()) > 255
        for block in blocks:
            mine = summaries[("s", *block.index)]
            around = [summaries[key] for key in block.neighbour_keys]
            for face in block.edge.faces:
                fast = _pairs.face_pairs(mine, around, face)
                slow = _merge.face_pairs(mine, around, face)
                for a, b in zip(fast, slow, strict=True):
                    np.testing.assert_array_equal(a, b)


SHAPE = (7, 9, 70)
CHUNKINGS = odd_chunkings(SHAPE, halo=3)


CASES = [(name, "client") for name in CHUNKINGS] + [
    (name, "tree") for name in ("halves", "ones", "smaller_than_halo")
]


@pytest.mark.parametrize(("name", "merge"), CASES)
def test_label_through_odd_chunkings(name, merge):
    rng = np.random.default_rng(5)
    volume = ndi.uniform_filter(rng.random(SHAPE), 3) > 0.5
    y, x = np.indices(SHAPE[1:])
    volume[3] = (y + x) % 2 == 0  # a checkerboard plane
    named = _structures(3)
    names = ["conn1", "conn3", "random0", "gap-rows"] if merge == "client" else ["conn3", "gap"]
    with dask.config.set({MERGE_KEY: merge}):
        for structure in (named[k] for k in names):
            expected, n = ndi.label(volume, structure)
            labels, count = label(da.from_array(volume, chunks=CHUNKINGS[name]), structure)
            assert count == n
            np.testing.assert_array_equal(labels.compute(), expected)


def test_neighbour_rows_shared_by_every_unpickled_labeller():
    """Every task unpickles its own labeller; the neighbour-row table of a block shape
    is made once per process and shared, not kept once per task (a 4096-block run held
    2 MiB per task it still knew and grew each worker past 3 GiB)."""
    import pickle

    from bigimg._labels import _runs

    structure = ndi.generate_binary_structure(3, 3)
    labellers = [pickle.loads(pickle.dumps(BlockLabeller(structure))) for _ in range(3)]
    tables = [lab._geometry.neighbour_rows((8, 9, 10)) for lab in labellers]
    assert tables[0] is tables[1] is tables[2]
    other = BlockLabeller(ndi.generate_binary_structure(3, 1))._geometry
    assert other.neighbour_rows((8, 9, 10)).shape[0] != tables[0].shape[0]
    budget = _runs.NEIGHBOUR_CACHE_BYTES
    try:
        _runs.NEIGHBOUR_CACHE_BYTES = tables[0].nbytes
        labellers[0]._geometry.neighbour_rows((8, 9, 11))
        assert sum(t.nbytes for t in _runs._NEIGHBOURS.values()) <= tables[0].nbytes * 1.2
    finally:
        _runs.NEIGHBOUR_CACHE_BYTES = budget
    block = np.random.default_rng(0).random((8, 9, 10)) > 0.6
    runs = labellers[1].runs(block)
    expected, n = ndi.label(block, structure)
    assert runs.count == n
    np.testing.assert_array_equal(labellers[1].paint(runs, runs.labels), expected)
