"""The label engine's two merges: exact against scipy, and the tree merge's O(blocks) costs.

``tests/ndimage/test_label.py`` runs every ``label`` test with both merges; here: the
engine's flag tables and flag painting with both merges, the choice of merge, and what
makes the tree merge scale (graph bytes and task results that do not grow with the
number of objects, nothing but scalars coming back to the client, the tree itself).
"""

from __future__ import annotations

import pickle
from collections import defaultdict

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from dask.callbacks import Callback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg._labels import label_across_blocks
from bigimg._labels._engine import AUTO_SAMPLE_BLOCKS, MERGE_KEY, expected_labels, merge_mode
from bigimg._labels._kernel import BlockLabeller
from bigimg._labels._tree import build_tree, route_pairs
from bigimg.ndimage import label
from bigimg.testing import blobs, count_computes, shapes_and_chunkings

MERGES = ["client", "tree"]


def _symmetric(offsets, ndim):
    """A structure holding the centre and each offset with its mirror image."""
    s = np.zeros((3,) * ndim, dtype=bool)
    s[(1,) * ndim] = True
    for d in offsets:
        s[tuple(1 + np.asarray(d))] = True
        s[tuple(1 - np.asarray(d))] = True
    return s


def _expected_flags(expected, n, structure, seeds, border):
    """scipy-side ``touches_border`` and ``has_seed`` tables."""
    on_border = np.zeros(n + 1, dtype=bool)
    for ax, flag in enumerate(border):
        if flag:
            on_border[np.take(expected, [0, -1], axis=ax).ravel()] = True
    reach = structure.copy()
    reach[(1,) * structure.ndim] = True
    has_seed = np.zeros(n + 1, dtype=bool)
    has_seed[expected[ndi.binary_dilation(seeds, reach)]] = True
    on_border[0] = has_seed[0] = False
    return on_border, has_seed


def _check_engine(x, chunks, structure, seeds, border, merge):
    expected, n = ndi.label(x, structure)
    with dask.config.set({MERGE_KEY: merge}):
        found = label_across_blocks(
            da.from_array(x, chunks=chunks),
            structure,
            seeds=da.from_array(seeds, chunks=chunks),
            border=border,
        )
        assert found.merge == merge
        assert found.count == n
        np.testing.assert_array_equal(found.labels().compute(), expected)
        on_border, has_seed = _expected_flags(expected, n, structure, seeds, border)
        np.testing.assert_array_equal(found.touches_border, on_border)
        np.testing.assert_array_equal(found.has_seed, has_seed)
        painted = found.paint_flags(border=True, seed=True, invert=True, background=True)
        wanted = ~(on_border | has_seed)
        wanted[0] = True
        np.testing.assert_array_equal(painted.compute(), wanted[expected])
        seeded = found.paint_flags(seed=True).compute()
        np.testing.assert_array_equal(seeded, has_seed[expected])


@st.composite
def _engine_cases(draw):
    shape, chunks = draw(shapes_and_chunkings(max_dims=4, max_side=9, max_chunks_per_axis=4))
    ndim = len(shape)
    offsets = draw(st.lists(st.tuples(*[st.integers(-1, 1)] * ndim), max_size=4))
    border = tuple(draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim)))
    return shape, chunks, _symmetric(offsets, ndim), border, draw(st.integers(0, 2**16))


@pytest.mark.parametrize("merge", MERGES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_engine_cases())
def test_flags_and_labels_match_scipy(merge, case):
    shape, chunks, structure, border, seed = case
    rng = np.random.default_rng(seed)
    x = rng.random(shape) < rng.uniform(0.2, 0.8)
    seeds = rng.random(shape) < 0.05
    with dask.config.set(scheduler="sync"):
        _check_engine(x, chunks, structure, seeds, border, merge)


@pytest.mark.parametrize("connectivity", [1, 2, 3])
@pytest.mark.parametrize(
    "chunks", [(1, 23, 29), (19, 1, 15), (19, 23, 29), (19, 12, 1), (5, 8, 11)]
)
def test_tree_flags_every_connectivity_3d(chunks, connectivity):
    x = blobs((19, 23, 29), sigma=1.5, fraction=0.35, seed=3)
    seeds = np.random.default_rng(2).random(x.shape) < 0.002
    structure = ndi.generate_binary_structure(3, connectivity)
    _check_engine(x, chunks, structure, seeds, (True, False, True), "tree")


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [((50,), (7,)), ((50,), (1,)), ((30, 31), (7, 4)), ((6, 7, 5, 8), (2, 3, 5, 3))],
    ids=["1d", "1d-ones", "2d", "4d"],
)
def test_tree_any_rank_every_connectivity(shape, chunks):
    rng = np.random.default_rng(len(shape))
    x = rng.random(shape) < 0.45
    for connectivity in range(1, len(shape) + 1):
        structure = ndi.generate_binary_structure(len(shape), connectivity)
        seeds = rng.random(shape) < 0.03
        _check_engine(x, chunks, structure, seeds, (True,) * len(shape), "tree")


def test_merge_config():
    labeller = BlockLabeller(ndi.generate_binary_structure(2, 1))
    x = da.ones((8, 8), chunks=4, dtype=bool)
    assert merge_mode(x, labeller) == "client"  # "auto": too small to matter
    for mode in ("tree", "client"):
        with dask.config.set({MERGE_KEY: mode}):
            assert merge_mode(x, labeller) == mode
    with dask.config.set({MERGE_KEY: "central"}), pytest.raises(ValueError, match="central"):
        label_across_blocks(x, np.ones((3, 3), bool))


def test_auto_picks_the_tree_for_many_labels(monkeypatch):
    monkeypatch.setattr("bigimg._labels._engine.AUTO_CLIENT_LABELS", 100)
    structure = ndi.generate_binary_structure(2, 1)
    labeller = BlockLabeller(structure)
    many = da.from_array(_isolated((60, 60), 2, 0), chunks=10)  # 900 objects
    few = da.from_array(np.pad(np.ones((50, 50), bool), 5), chunks=10)  # 1 object
    assert expected_labels(many, labeller) == 900  # every block is alike
    assert 0 < expected_labels(few, labeller) < 100
    with count_computes() as counter:
        assert label_across_blocks(many, structure).merge == "tree"
    assert 0 < counter.tasks <= 4 * AUTO_SAMPLE_BLOCKS  # the sample only
    assert label_across_blocks(few, structure).merge == "client"


def test_paint_flags_needs_the_flags():
    found = label_across_blocks(da.ones((4, 4), chunks=2, dtype=bool), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="pass `border=`"):
        found.paint_flags(border=True)
    with pytest.raises(ValueError, match="pass `seeds=`"):
        found.paint_flags(seed=True)


@pytest.mark.parametrize("merge", MERGES)
def test_paint_table(merge):
    x = blobs((20, 21, 22), sigma=1.2, fraction=0.4, seed=4)
    expected, n = ndi.label(x)
    table = np.random.default_rng(0).random(n + 1).astype(np.float32)
    with dask.config.set({MERGE_KEY: merge}):
        found = label_across_blocks(
            da.from_array(x, chunks=(6, 7, 8)), ndi.generate_binary_structure(3, 1)
        )
        np.testing.assert_array_equal(found.paint(table).compute(), table[expected])
        as_bool = found.paint(table > 0.5).compute()
        assert as_bool.dtype == bool
        np.testing.assert_array_equal(as_bool, (table > 0.5)[expected])
        with pytest.raises(ValueError, match="count \\+ 1"):
            found.paint(table[:-1])


def test_tree_call_is_lazy_and_paint_flags_needs_no_count():
    x = da.from_array(blobs((16, 17, 18), sigma=1.2, fraction=0.6, seed=2), chunks=6)
    with dask.config.set({MERGE_KEY: "tree"}), count_computes() as counter:
        found = label_across_blocks(x == 0, ndi.generate_binary_structure(3, 1), border=(True,) * 3)
        filled = found.paint_flags(border=True, invert=True, background=True)
    assert counter.tasks == 0
    np.testing.assert_array_equal(filled.compute(), ndi.binary_fill_holes(x.compute()))


def _isolated(shape, step, inset):
    """Single voxels every ``step`` voxels, ``inset`` voxels in from each block face."""
    x = np.zeros(shape, dtype=bool)
    x[tuple(slice(inset, None, step) for _ in shape)] = True
    return x


def _lazy(volume, chunks):
    """A dask array with ``volume``'s values whose graph holds no copy of them per block."""
    source = da.from_array(volume, chunks=chunks)
    return source.map_blocks(np.copy, dtype=volume.dtype)


def test_tree_graph_bytes_do_not_grow_with_objects():
    # 96 x 96 x 96 in 24^3 blocks (64 blocks): 10 objects, 110,592 single voxels, and
    # their complement (objects on every block face)
    few = np.zeros((96, 96, 96), dtype=bool)
    for k in range(10):
        few[9 * k : 9 * k + 5, 10:20, 30:40] = True
    many = _isolated(few.shape, 2, 1)
    sizes = {}
    for merge in MERGES:
        with dask.config.set({MERGE_KEY: merge}):
            for name, volume in (("few", few), ("many", many), ("faces", ~many)):
                x = da.from_array(volume, chunks=24)
                labels, n = label(x)
                sizes[merge, name] = len(pickle.dumps(labels)) - len(pickle.dumps(x))
                assert n == ndi.label(volume)[1]
    assert ndi.label(few)[1] == 10 and ndi.label(many)[1] == 110_592
    assert abs(sizes["tree", "many"] - sizes["tree", "few"]) < 2048
    assert abs(sizes["tree", "faces"] - sizes["tree", "few"]) < 2048
    assert sizes["tree", "many"] < 2_500 * 64  # bytes per block
    # the client merge embeds every block's lookup table: 4 bytes per object (int32)
    assert sizes["client", "many"] > sizes["client", "few"] + 4 * 110_000


def _task_result_sizes(func):
    """Run ``func`` recording, per task name, the largest task result (pickled bytes;
    dask's ``sizeof`` samples long sequences at random, so it is not repeatable)."""
    largest: dict[str, int] = defaultdict(int)

    def posttask(key, result, dsk, state, worker_id):
        name = key[0] if isinstance(key, tuple) else key
        step = name.rsplit("-", 1)[0]
        largest[step] = max(largest[step], len(pickle.dumps(result, protocol=5)))

    with Callback(posttask=posttask):
        func()
    return largest


def test_tree_task_results_do_not_grow_with_objects():
    """Objects inside blocks: only the summaries (and the painted blocks) grow."""
    shape, chunks = (40, 40, 40), 10
    few = np.zeros(shape, dtype=bool)
    few[3:6, 3:6, 3:6] = True
    many = _isolated(shape, 2, 1)
    many[:, :, 0::10] = many[:, :, 9::10] = False  # nothing on a block face
    many[:, 0::10] = many[:, 9::10] = False
    many[0::10] = many[9::10] = False
    results = {}
    with dask.config.set({MERGE_KEY: "tree", "scheduler": "sync"}):
        for name, volume in (("few", few), ("many", many)):
            found = label_across_blocks(_lazy(volume, chunks), ndi.generate_binary_structure(3, 1))

            def run(found=found, volume=volume):
                assert found.count == ndi.label(volume)[1]
                found.labels().max().compute()

            results[name] = _task_result_sizes(run)
    assert ndi.label(many)[1] > 4000
    grows = {"label-summary", "label-paint"}
    # a block's base and plan keep the rows holding its labels, at most every row:
    # 8 bytes per row of the slab's 16 blocks of 100 rows
    rows = {"label-slab": 16 * 100 * 8, "label-base": 100 * 8, "label-plan": 100 * 8}
    for step, size in results["many"].items():
        if step in rows:
            assert size <= rows[step] + 512, step
        elif step.startswith("label-") and step not in grows:
            assert size <= results["few"][step] + 256, step


def test_tree_plans_keep_only_the_rows_holding_labels():
    """A block's plan stays on the workers until its labels are painted, and a slab's
    bases until each of its blocks took its own: with few objects they hold their rows,
    not a number per row of the block (a 256³ block's dense table was 256 KiB, 1 GiB
    over 4096 blocks)."""
    shape, chunks = (64, 64, 128), 64
    volume = np.zeros(shape, dtype=bool)
    volume[10:14, 20:24, 30:34] = volume[40:44, 50:60, 60:70] = True  # one block's
    volume[30:34, 30:34, 60:70] = True  # across the face between the two blocks
    with dask.config.set({MERGE_KEY: "tree", "scheduler": "sync"}):
        found = label_across_blocks(_lazy(volume, chunks), ndi.generate_binary_structure(3, 3))

        def run():
            assert found.count == 3
            np.testing.assert_array_equal(found.labels().compute(), ndi.label(volume)[0])

        sizes = _task_result_sizes(run)
    assert sizes["label-plan"] < 64 * 64 // 4  # the dense table: 4096 rows
    assert sizes["label-slab"] < 64 * 64 // 2  # two blocks' tables, made in the slab's task


def test_row_base_sparse_equals_dense():
    from bigimg._labels._rank import RowBase

    dense = RowBase(7, np.array([0, 0, 1, 1, 1, 3, 3, 4], dtype=np.uint8))
    kept = dense.keep(np.array([2, 5]))
    assert kept.at is not None and kept.rows.size == 2
    np.testing.assert_array_equal(kept.values(np.array([5, 2, 5])), dense.values([5, 2, 5]))
    assert dense.keep(np.arange(6)) is dense  # no smaller sparse: kept dense
    with pytest.raises(RuntimeError, match="same values every time"):
        kept.values(np.array([3]))


def test_tree_count_brings_back_one_integer():
    returned = []

    def recording_get(dsk, keys, **kwargs):
        out = dask.get(dsk, keys, **kwargs)
        returned.append(out)
        return out

    x = _lazy(_isolated((30, 30, 30), 2, 0), 10)
    with dask.config.set({MERGE_KEY: "tree", "scheduler": recording_get}):
        labels, n = label(x)
    assert n == 15**3
    assert len(returned) == 1
    (values,) = returned

    def leaves(value):
        if isinstance(value, list | tuple):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert [type(v) for v in leaves(values)] == [int]


@pytest.mark.parametrize(
    "grid", [(1,), (7,), (1, 1, 1), (2, 3), (3, 1, 4), (5, 2, 3), (2, 2, 2, 3)]
)
def test_tree_covers_the_grid_once(grid):
    tree = build_tree(grid)
    leaves = np.flatnonzero(tree.axis < 0)
    assert sorted(tree.block[leaves].tolist()) == list(range(int(np.prod(grid))))
    for node in np.flatnonzero(tree.axis >= 0):
        c1, c2 = tree.children[node]
        volume = np.prod(tree.hi[node] - tree.lo[node])
        parts = np.prod(tree.hi[c1] - tree.lo[c1]) + np.prod(tree.hi[c2] - tree.lo[c2])
        assert volume == parts
        assert tree.parent[c1] == tree.parent[c2] == node
    # each pair of blocks goes to the smallest box holding both
    blocks = np.arange(int(np.prod(grid)))
    a, b = np.meshgrid(blocks, blocks)
    a, b = a.ravel(), b.ravel()
    a, b = a[a != b], b[a != b]
    nodes = route_pairs(tree, a, b)
    ca = np.stack(np.unravel_index(a, grid), axis=1)
    cb = np.stack(np.unravel_index(b, grid), axis=1)
    for node, x, y in zip(nodes, ca, cb, strict=True):
        lo, hi = tree.lo[node], tree.hi[node]
        assert np.all((lo <= x) & (x < hi) & (lo <= y) & (y < hi))
        for child in tree.children[node]:
            inside = (tree.lo[child] <= x) & (x < tree.hi[child])
            inside_y = (tree.lo[child] <= y) & (y < tree.hi[child])
            assert not (inside.all() and inside_y.all())


def test_tree_on_distributed_keeps_the_plans_on_the_workers(monkeypatch):
    distributed = pytest.importorskip("distributed")
    calls = []
    original = BlockLabeller.runs

    def counting(self, block):
        calls.append(block.shape)
        return original(self, block)

    monkeypatch.setattr(BlockLabeller, "runs", counting)
    x = blobs((20, 22, 24), sigma=1.2, fraction=0.4, seed=8)
    structure = ndi.generate_binary_structure(3, 2)
    expected, n = ndi.label(x, structure)
    seeds = np.random.default_rng(3).random(x.shape) < 0.01
    on_border, has_seed = _expected_flags(expected, n, structure, seeds, (True,) * 3)
    chunks = (7, 8, 9)
    blocks = da.from_array(x, chunks=chunks).npartitions
    with (
        distributed.Client(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0"
        ),
        dask.config.set({MERGE_KEY: "tree"}),
    ):
        labels, m = label(da.from_array(x, chunks=chunks), structure)
        assert m == n
        assert len(calls) == blocks  # the count labelled each block once
        assert not any("summary" in str(k) for k in labels.__dask_graph__())
        np.testing.assert_array_equal(labels.compute(), expected)
        assert len(calls) == 2 * blocks  # and the paint once more: the plans were kept
        restored = pickle.loads(pickle.dumps(labels))
        np.testing.assert_array_equal(restored.compute(), expected)
        # flags: the leaf tables and finals are kept too
        found = label_across_blocks(
            da.from_array(x, chunks=chunks),
            structure,
            seeds=da.from_array(seeds, chunks=chunks),
            border=(True,) * 3,
        )
        assert found.count == n
        np.testing.assert_array_equal(found.touches_border, on_border)
        np.testing.assert_array_equal(found.has_seed, has_seed)
        flags = found.paint_flags(border=True, seed=True).compute()
        np.testing.assert_array_equal(flags, (on_border | has_seed)[expected])
        # without the count nothing is kept: painting flags recomputes the merge
        lazy = label_across_blocks(da.from_array(x, chunks=chunks), structure, border=(True,) * 3)
        filled = lazy.paint_flags(border=True, invert=True, background=True).compute()
        wanted = ~on_border
        wanted[0] = True
        np.testing.assert_array_equal(filled, wanted[expected])


def test_tree_count_collects_the_schedulers_garbage():
    """Accepting a big graph leaves cyclic garbage on the scheduler that Python's
    collector is slow to reach; the count frees it once the graph has run."""
    import gc
    import weakref

    distributed = pytest.importorskip("distributed")

    class Cycle:
        pass

    x = blobs((20, 22, 24), sigma=1.2, fraction=0.4, seed=8)
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
        ),
        dask.config.set({MERGE_KEY: "tree"}),
    ):
        gc.disable()
        try:
            junk = Cycle()
            junk.me = junk
            alive = weakref.ref(junk)
            del junk
            assert alive() is not None
            labels, m = label(da.from_array(x, chunks=(7, 8, 9)))
            assert m == ndi.label(x)[1]
            assert alive() is None  # collected on the (here in-process) scheduler
        finally:
            gc.enable()
