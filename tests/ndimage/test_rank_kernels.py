"""The numba rank-filter kernel against scipy.ndimage.rank_filter, bit for bit."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from bigimg._args import FILTER_MODES
from bigimg._morphology import _rank as _rank_kernels
from bigimg._morphology._rank import _Network, rank_filter_block

MODES = list(FILTER_MODES)
ALL_DTYPES = [
    np.uint8,
    np.int8,
    np.uint16,
    np.int16,
    np.uint32,
    np.int32,
    np.uint64,
    np.int64,
    np.float32,
    np.float64,
]
CUBE3 = np.ones((3, 3, 3), dtype=bool)
CUBE5 = np.ones((5, 5, 5), dtype=bool)
CROSS3 = ndi.generate_binary_structure(3, 1)


def data(shape, dtype, seed=0, levels=12):
    """Random values with many ties; integer extremes and float infinities included."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        x = rng.integers(-levels, levels, shape).astype(dtype) * dtype.type(0.75)
        flat = x.reshape(-1)
        if flat.size > 8:
            flat[rng.choice(flat.size, 2, replace=False)] = [np.inf, -np.inf]
            flat[flat == 0] = 0.5  # no signed zeros here; they have their own tests
        return x
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -(2**40)), min(info.max, 2**40)
    pool = np.unique(np.array([info.min, info.max, lo, hi, 0, 1, 2, lo + 1, hi - 1], dtype=dtype))
    pool = np.concatenate([pool, rng.integers(lo, hi, levels, dtype=dtype, endpoint=True)])
    if dtype.itemsize == 8:  # scipy ranks 64-bit integers exactly only within 2**53
        pool = pool[np.abs(pool.astype(np.float64)) <= 2**53]
    return rng.choice(pool, shape)


def check(block, rank, footprint, mode="reflect", cval=0.0, origin=0):
    """Assert the kernel applies and equals scipy bit for bit (dtype, shape and bits)."""
    origin = (origin,) * block.ndim if np.isscalar(origin) else tuple(origin)
    expected = ndi.rank_filter(
        block, rank, footprint=footprint, mode=mode, cval=cval, origin=origin
    )
    got = rank_filter_block(block, rank, footprint, mode, cval, origin)
    assert got is not None, (block.dtype, rank, footprint.shape, mode, cval, origin)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.flags.c_contiguous
    bits = f"u{expected.dtype.itemsize}"
    np.testing.assert_array_equal(
        got.view(bits),
        expected.view(bits),
        err_msg=f"{block.dtype} rank={rank} mode={mode} cval={cval} "
        f"origin={origin} footprint={footprint.shape}",
    )


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_cubes_3_and_5(dtype, mode):
    x = data((7, 9, 11), dtype)
    for fp in (CUBE3, CUBE5):
        n = int(fp.sum())
        for rank in (0, 1, n // 2, n - 2, n - 1):
            check(x, rank, fp, mode, cval=2.5)


@pytest.mark.parametrize("dtype", [np.float64, np.int16])
def test_footprint_shapes_and_origins(dtype):
    rng = np.random.default_rng(3)
    footprints = {
        "cross": CROSS3,
        "ball": ndi.generate_binary_structure(3, 2),
        "even": np.ones((2, 4, 3), dtype=bool),
        "flat": np.ones((1, 3, 3), dtype=bool),
        "line": np.ones((3, 1, 1), dtype=bool),
        "random": rng.random((4, 3, 5)) < 0.5,
        "two_planes": np.arange(3)[:, None, None] != np.ones((1, 3, 3), int),
    }
    x = data((8, 9, 10), dtype, seed=1)
    for fp in footprints.values():
        n = int(fp.sum())
        lows = tuple(-(s // 2) for s in fp.shape)
        highs = tuple(s - s // 2 - 1 for s in fp.shape)
        mixed = tuple(
            lo if i % 2 else hi for i, (lo, hi) in enumerate(zip(lows, highs, strict=True))
        )
        for origin, rank, mode in itertools.product(
            [(0, 0, 0), lows, highs, mixed], sorted({0, n // 2, n - 1}), ["reflect", "constant"]
        ):
            check(x, rank, fp, mode, cval=-3.0, origin=origin)


@pytest.mark.parametrize("mode", MODES)
def test_1d_and_2d(mode):
    x1 = data((50,), np.float32, seed=2)
    x2 = data((13, 17), np.float32, seed=3)
    for x, shapes in ((x1, [(3,), (4,), (7,), (1,)]), (x2, [(3, 3), (5, 5), (2, 3), (1, 4)])):
        for shape in shapes:
            fp = np.ones(shape, dtype=bool)
            n = fp.size
            for rank in sorted({0, n // 2, n - 1}):
                check(x, rank, fp, mode, cval=1.25)
                check(x, rank, fp, mode, origin=tuple(-(s // 2) for s in shape))


def test_every_rank_of_the_3x3x3_and_3x3_boxes():
    x3 = data((6, 7, 8), np.float32, seed=4, levels=40)
    x2 = data((9, 10), np.uint8, seed=5, levels=40)
    for rank in range(27):
        check(x3, rank, CUBE3)
    for rank in range(9):
        check(x2, rank, np.ones((3, 3), dtype=bool), "mirror")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=[np.dtype(d).name for d in ALL_DTYPES])
def test_every_dtype_with_extremes(dtype):
    x = data((4, 5, 6), dtype, seed=6, levels=3)
    for mode, rank in itertools.product(["reflect", "constant", "wrap"], (0, 13, 26)):
        check(x, rank, CUBE3, mode, cval=0.0)
        check(x, rank, CUBE3, mode, cval=1.9)
    check(x[0], 4, np.ones((3, 3), dtype=bool), "nearest")
    check(x[0, 0], 1, np.ones(3, dtype=bool), "constant", cval=2.0)  # scipy's 1-d path


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint32])
def test_integer_cval_is_truncated_like_scipy(dtype):
    info = np.iinfo(dtype)
    for shape, fp in (
        ((12,), np.ones(3, bool)),
        ((5, 6), np.ones((3, 3), bool)),
        ((5, 6), ndi.generate_binary_structure(2, 1)),
    ):
        x = data(shape, dtype, seed=7, levels=4)
        n = int(fp.sum())
        for cval in (0.5, -0.5, 2.7, -0.9, info.max + 0.9, info.min - 0.9, float(info.max)):
            for rank in (0, n // 2, n - 1):
                check(x, rank, fp, "constant", cval=cval)


@pytest.mark.parametrize("cval", [-1.0, 256.0, 1e40, np.nan, np.inf, -np.inf])
def test_integer_cval_out_of_range_is_declined(cval):
    # scipy's C and NumPy code paths cast these differently (or raise): leave them to scipy
    x = data((5, 6), np.uint8)
    assert rank_filter_block(x, 4, np.ones((3, 3), bool), "constant", cval, (0, 0)) is None


def test_64bit_integers_exact_up_to_2_53_only():
    fp = np.ones((3, 3), dtype=bool)
    for dtype in (np.int64, np.uint64):
        x = data((6, 7), dtype, seed=8)
        check(x, 4, fp, "reflect")
        big = x.copy()
        big[2, 3] = 2**53 + 1
        assert rank_filter_block(big, 4, fp, "reflect", 0.0, (0, 0)) is None
        assert rank_filter_block(x, 4, fp, "constant", 2.0**60, (0, 0)) is None
    neg = data((6, 7), np.int64)
    neg[0, 0] = -(2**53) - 1
    assert rank_filter_block(neg, 4, fp, "reflect", 0.0, (0, 0)) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_special_values(dtype):
    fp = CUBE3
    x = data((5, 6, 7), dtype, seed=9)
    x[0, 0, :3] = [np.inf, -np.inf, np.inf]
    check(x, 13, fp, "reflect")
    check(x, 0, fp, "constant", cval=-np.inf)
    check(x, 26, fp, "constant", cval=np.inf)
    check(x, 13, fp, "reflect", cval=np.nan)  # cval unused outside the constant modes
    for cval in (0.1, 1e40, -1e40):  # rounded to the dtype (float32: 1e40 -> inf)
        for rank in (0, 13, 26):
            check(x, rank, fp, "constant", cval=cval)

    negzero = x.copy()
    negzero[negzero < 1] = -0.0
    expected = ndi.rank_filter(negzero, 13, footprint=fp)
    assert np.signbit(expected[expected == 0]).all() and (expected == 0).any()
    check(negzero, 13, fp, "nearest")
    check(negzero, 13, fp, "constant", cval=-0.0)

    # -0.0 and +0.0 compare equal: which one scipy returns depends on its algorithm
    mixed = negzero.copy()
    mixed[1, 1, 1] = 0.0
    assert rank_filter_block(mixed, 13, fp, "reflect", 0.0, (0, 0, 0)) is None
    assert rank_filter_block(negzero, 13, fp, "constant", 0.0, (0, 0, 0)) is None

    nan = x.copy()
    nan[2, 3, 4] = np.nan
    assert rank_filter_block(nan, 13, fp, "reflect", 0.0, (0, 0, 0)) is None
    assert rank_filter_block(x, 13, fp, "constant", np.nan, (0, 0, 0)) is None


def test_arrays_smaller_than_the_footprint():
    """Where the extension reaches past the far end, the kernel matches scipy or declines."""
    rng = np.random.default_rng(10)
    for n, size, mode in itertools.product((1, 2, 3), (3, 4, 7), MODES):
        x1 = rng.integers(0, 9, n).astype(np.float64)
        x3 = rng.integers(0, 9, (n, 4, 3)).astype(np.float64)
        for origin in range(-(size // 2), size - size // 2):
            before = size // 2 + origin
            reach = max(before, size - 1 - before)
            supported = mode in ("nearest", "constant", "grid-constant") or (
                reach < n if mode == "mirror" else reach <= n
            )
            for x, fp in ((x1, np.ones(size, bool)), (x3, np.ones((size, 1, 3), bool))):
                org = (origin,) + (0,) * (x.ndim - 1)
                for rank in sorted({0, int(fp.sum()) // 2, int(fp.sum()) - 1}):
                    if supported:
                        check(x, rank, fp, mode, cval=4.0, origin=org)
                    else:
                        assert rank_filter_block(x, rank, fp, mode, 4.0, org) is None


def test_per_axis_modes_only_where_scipy_accepts_them():
    x = data((6, 7, 8), np.float32, seed=11)
    modes = ("reflect", "wrap", "constant")
    for rank in (0, 26):
        check(x, rank, CUBE3, modes, cval=-1.5)
        check(x, rank, CUBE3, list(modes[::-1]), cval=7.0)
    with pytest.raises(RuntimeError):
        ndi.rank_filter(x, 13, footprint=CUBE3, mode=modes)
    assert rank_filter_block(x, 13, CUBE3, modes, 0.0, (0, 0, 0)) is None
    assert rank_filter_block(x, 0, CROSS3, modes, 0.0, (0, 0, 0)) is None  # not separable
    assert rank_filter_block(x, 0, CUBE3, modes[:2], 0.0, (0, 0, 0)) is None


def test_declines_what_it_does_not_support():
    fp = np.ones((3, 3), dtype=bool)
    for dtype in (np.complex64, np.bool_, np.float16, np.dtype(">f4")):
        assert rank_filter_block(np.ones((4, 5), dtype), 4, fp, "reflect", 0.0, (0, 0)) is None
    x = data((4, 5), np.float32)
    zero = (0, 0)
    assert rank_filter_block(x, 0, np.zeros((3, 3), bool), "reflect", 0.0, zero) is None
    assert rank_filter_block(x, 0, np.ones((3, 0), bool), "reflect", 0.0, zero) is None
    assert rank_filter_block(x, 0, np.ones(3, bool), "reflect", 0.0, (0,)) is None
    assert rank_filter_block(x, 9, fp, "reflect", 0.0, zero) is None
    assert rank_filter_block(x, -1, fp, "reflect", 0.0, zero) is None
    assert rank_filter_block(x, 4, fp, "reflect", 0.0, (2, 0)) is None
    assert rank_filter_block(x, 4, fp, "reflect", 0.0, (0, 0, 0)) is None
    assert rank_filter_block(x, 4, fp, "bogus", 0.0, zero) is None
    assert rank_filter_block(np.float32(1.0), 0, np.ones((), bool), "reflect", 0.0, ()) is None
    assert rank_filter_block(np.ones((0, 3)), 0, fp, "reflect", 0.0, zero) is None
    big = np.ones((10, 10, 8), dtype=bool)  # 800 voxels: above the network limit
    assert rank_filter_block(data((3, 3, 3), np.float32), 5, big, "reflect", 0.0, 0) is None


def test_large_footprint_and_scalar_origin():
    x = data((9, 10, 11), np.uint8, seed=12, levels=60)
    check(x, 171, np.ones((7, 7, 7), dtype=bool), "mirror")
    check(x, 100, np.ones((7, 7, 7), dtype=bool), "reflect", origin=1)


def test_input_untouched_and_views_accepted():
    base = data((8, 9, 10), np.int8, seed=13)
    x = base[::2, :, ::-1]
    before = x.copy()
    check(x, 13, CUBE3, "constant", cval=-5.0)
    np.testing.assert_array_equal(x, before)
    got = rank_filter_block(x, 13, CUBE3, "reflect", 0.0, (0, 0, 0))
    assert not np.shares_memory(got, base)


def _evaluate(net, values):
    """Run a shift-free network on scalars."""
    vals = list(values)
    for is_max, a, _, b, _ in net.nodes:
        vals.append(max(vals[a], vals[b]) if is_max else min(vals[a], vals[b]))
    return vals


def test_odd_even_merge_sorts_any_lengths():
    # 0-1 principle: a comparator network merges all sorted inputs iff it merges 0/1 ones
    for m, n in itertools.product(range(7), range(7)):
        net = _Network(m + n)
        merged = net.merge([(i, 0) for i in range(m)], [(m + i, 0) for i in range(n)])
        assert len(merged) == m + n
        for zeros_a, zeros_b in itertools.product(range(m + 1), range(n + 1)):
            inputs = [int(i >= zeros_a) for i in range(m)] + [int(i >= zeros_b) for i in range(n)]
            vals = _evaluate(net, inputs)
            out = [vals[node] for node, _ in merged]
            assert out == sorted(inputs), (m, n, zeros_a, zeros_b)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(*[st.integers(1, 6)] * 3),
    fshape=st.tuples(*[st.integers(1, 4)] * 3),
    seed=st.integers(0, 2**16),
    mode=st.sampled_from(MODES),
    dtype=st.sampled_from([np.uint8, np.float32]),
)
def test_random_cases_match_scipy_or_decline(shape, fshape, seed, mode, dtype):
    rng = np.random.default_rng(seed)
    fp = rng.random(fshape) < 0.6
    fp.flat[rng.integers(fp.size)] = True
    n = int(fp.sum())
    rank = int(rng.integers(n))
    origin = tuple(int(rng.integers(-(s // 2), s - s // 2)) for s in fshape)
    x = data(shape, dtype, seed=seed, levels=5)
    got = rank_filter_block(x, rank, fp, mode, 3.0, origin)
    fits = all(
        max(s // 2 + o, s - s // 2 - 1 - o) < d
        for s, o, d in zip(fshape, origin, shape, strict=True)
    )
    if got is None:
        assert not fits
    else:
        check(x, rank, fp, mode, cval=3.0, origin=origin)


def test_docstring_example():
    result = doctest.testmod(_rank_kernels, verbose=False)
    assert result.attempted > 0 and result.failed == 0
