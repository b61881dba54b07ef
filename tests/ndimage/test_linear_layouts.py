"""The layouts of the compiled linear kernels give scipy.ndimage's arrays bit for bit.

``bigimg._linear`` sums a 1-D correlation over tiles of ``ROW`` lanes (two output rows
per loop, terms four at a time, a spare row for an odd last output row), over blocks of
lines, and the N-D correlation over flat extended planes a few thousand lanes at a
time. These tests put every edge of those layouts under scipy: rows wider than a tile,
odd, single and blocked output rows, lines longer than a block and blocks of short
lines, weights of every length (every split into groups of four and single terms,
symmetric, antisymmetric and other), every mode with ``cval``, several dtypes, in
place; planes wider than a chunk of lanes and split into several, any number of taps.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy.testing import assert_array_equal

from bigimg import _linear
from bigimg._linear._passes import correlate_pass
from bigimg._linear._terms import ROW

MODES = ["reflect", "grid-mirror", "mirror", "nearest", "wrap", "grid-wrap", "constant"]
MODES += ["grid-constant"]
RNG = np.random.default_rng(11)


def _data(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 120
    if np.dtype(dtype).kind == "u":
        x = np.abs(x) + 10
    return x.astype(dtype)


def _weights(n, kind):
    """Weights of length ``n``: symmetric (``+``), antisymmetric (``-``) or other."""
    w = np.round(RNG.standard_normal(n), 3)
    if kind == "+":
        return w + w[::-1]
    if kind == "-":
        return w - w[::-1]
    return w


# odd lengths 1 .. 19 split as 0, 1, 1+1, 1+1+1, 4, 4+1, 4+4 and 4+4+1 pairs; other
# weights of 2 .. 10 taps split as 1, 1+1, 4, 4+1, 4+4+1 after scipy's first term
WEIGHTS = [(n, k) for n in (1, 3, 5, 7, 9, 11, 17, 19) for k in "+-"]
WEIGHTS += [(n, "o") for n in (2, 3, 4, 5, 6, 10)]


def _same(name, *args, **kwargs):
    expected = getattr(ndi, name)(*args, **kwargs)
    result = getattr(_linear, name)(*args, **kwargs)
    assert result.dtype == expected.dtype
    assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", ["uint16", "int8", "float32", "float64"])
def test_tiles_wider_than_a_row_and_odd_rows(dtype):
    # axis 0: 9 output rows (a block of 8 and an odd one) of 185 lanes (two tiles);
    # axis 1: 11 rows (8 + 3) of 170 lanes; axis 0 again with a single output row
    assert 5 * 37 > ROW and 170 > ROW
    cases = [(_data((9, 5, 37), dtype), 0), (_data((2, 11, 170), dtype, 1), 1)]
    cases.append((_data((1, 3, ROW + 40), dtype, 2), 0))
    for x, axis in cases:
        for n, kind in WEIGHTS:
            w = _weights(n, kind)
            origin = (n - 1) // 2 if n > 2 else 0  # the largest origin scipy takes
            for mode in MODES:
                _same("correlate1d", x, w, axis, None, mode, -7.5, 0)
            _same("correlate1d", x, w, axis, np.float32, "constant", 3.0, origin)
            _same("correlate1d", x, w, axis, None, "mirror", 0.0, -(n // 2))


@pytest.mark.parametrize("dtype", ["uint16", "int8", "float32", "float64"])
def test_lines_in_blocks(dtype):
    # lines longer than a block of lines (one line a block), and many short lines,
    # shorter than most kernels, a block
    for x in (_data((3, 2100), dtype), _data((7, 40, 3), dtype, 3), _data((5, 1), dtype, 4)):
        for n, kind in WEIGHTS:
            w = _weights(n, kind)
            for mode in MODES:
                _same("correlate1d", x, w, -1, None, mode, 2.25, 0)
            _same("correlate1d", x, w, -1, np.float64, "wrap", 0.0, (n - 1) // 2)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_in_place(axis):
    x = _data((6, 7, 180), "float32")
    w = _weights(9, "+")
    expected = ndi.correlate1d(x, w, axis, None, "nearest")
    y = x.copy()
    correlate_pass(y, y, axis, w, "nearest", 0.0, 0)
    assert_array_equal(y, expected)
    y = x.copy()
    result = _linear.correlate1d(y, w, axis, y, "nearest")
    assert result is y
    assert_array_equal(y, expected)


def test_empty_arrays():
    for shape in [(0, 5), (3, 0), (2, 0, 4)]:
        x = np.zeros(shape, "float32")
        for axis in range(x.ndim):
            _same("correlate1d", x, [1.0, 2.0, 0.5], axis)
        _same("gaussian_filter", x, 1.0)
        _same("correlate", x, np.ones((3,) * x.ndim))


def test_gaussians_on_a_halo_block():
    # the shape the halo engine gives a 40-voxel block with a sigma=2 halo (8), and
    # a uint16 block into float32
    x = _data((56, 56, 56), "float32")
    _same("gaussian_filter", x, 2.0)
    _same("gaussian_filter", x, 2.0, order=(1, 0, 2))
    _same("gaussian_filter", _data((56, 30, 56), "uint16"), 3.0, output=np.float32)
    _same("sobel", x, 1)


def _taps(weights):
    """Weights with some taps dropped (0 and within DBL_EPSILON), as scipy drops them."""
    w = weights.copy()
    flat = w.reshape(-1)
    flat[::4] = 0.0
    flat[1::5] = 1e-17
    return w


W_ND = [
    RNG.standard_normal((3, 3, 3)),  # 27 taps: six groups of four and three single
    _taps(RNG.standard_normal((3, 3, 3))),
    np.zeros((3, 3, 3)),  # no taps: scipy's sum is 0.0 everywhere
    np.full((3, 2, 3), 1e-17),
    RNG.standard_normal((1, 1, 1)),
    RNG.standard_normal((1, 1, 5)),
    RNG.standard_normal((2, 2, 2)),
    RNG.standard_normal((3, 1, 2)),
    RNG.standard_normal((1, 3, 3)),
]


@pytest.mark.parametrize("dtype", ["uint16", "float32", "float64"])
def test_correlate_planes_in_chunks(dtype):
    # planes of 40 rows of 60 (several chunks of lanes), rows of 2100 (wider than a
    # chunk: one row a chunk), a single plane
    shapes = [(4, 40, 60), (3, 2, 2100), (1, 5, 7)]
    for shape in shapes:
        x = _data(shape, dtype, seed=len(shape))
        for w in W_ND:
            for mode in MODES:
                _same("correlate", x, w, None, mode, -2.5)
            origin = tuple(-(n // 2) for n in w.shape)
            _same("correlate", x, w, np.float32, "constant", 1.5, origin)
            _same("convolve", x, w, None, "wrap", 0.0)


def test_correlate_fewer_dimensions():
    x2, x1 = _data((30, 50), "float32"), _data((3000,), "float64")
    for mode in MODES:
        _same("correlate", x2, W_ND[0][1], None, mode, 4.0)
        _same("correlate", x2, W_ND[1][0, :2], np.int32, mode, 4.0)
        _same("correlate", x1, W_ND[5][0, 0], None, mode, 4.0)
        _same("convolve", x1, W_ND[0][0, 0], None, mode, 4.0)
