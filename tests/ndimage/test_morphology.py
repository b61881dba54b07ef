"""Binary and grey morphology against scipy.ndimage: kernels, chunkings, passes, errors."""

from __future__ import annotations

import pickle
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigimg import ArgumentError, BigimgWarning
from bigimg._args import FILTER_MODES
from bigimg._morphology import _args as margs
from bigimg._morphology import _kernels as mk
from bigimg.ndimage import _grey_morphology as grey
from bigimg.ndimage import _morphology as binary
from bigimg.testing import (
    assert_dask_matches,
    blobs,
    chunkings,
    odd_chunkings,
    raise_if_dask_computes,
    random_volume,
)

BINARY = binary.__all__
GREY = grey.__all__
ITERATED = ["binary_erosion", "binary_dilation", "binary_opening", "binary_closing"]
SMALL = (9, 11, 13)
SMALL_CHUNKINGS = odd_chunkings(SMALL, halo=3)
MODES = list(FILTER_MODES)
RNG = np.random.default_rng(7)
RANDOM_S = RNG.random((3, 3, 3)) > 0.5
RANDOM_S[1, 1, 1] = True
EVEN_S = RNG.random((2, 3, 4)) > 0.3
STRUCTURES = {
    "default": None,
    "conn6": ndi.generate_binary_structure(3, 1),
    "conn18": ndi.generate_binary_structure(3, 2),
    "conn26": ndi.generate_binary_structure(3, 3),
    "random": RANDOM_S,
    "even": EVEN_S,
    "box_even": np.ones((2, 1, 4), bool),
    "ball": (np.mgrid[-2:3, -2:3, -2:3] ** 2).sum(axis=0) <= 4,  # runs along the last axis
}


def _ours(name):
    return getattr(binary if name in BINARY else grey, name)


def _check(name, data, chunks, *args, **kwargs):
    expected = getattr(ndi, name)(data, *args, **kwargs)
    x = da.from_array(data, chunks=chunks)
    result = _ours(name)(x, *args, **kwargs)
    return assert_dask_matches(result, expected, chunks=x.chunks)


@pytest.fixture
def small_passes(monkeypatch):
    """A 4-voxel halo budget: many passes on small test volumes."""
    monkeypatch.setattr(binary, "_MAX_PASS_HALO", 4)
    monkeypatch.setattr(grey, "_MAX_PASS_HALO", 4)


# ------------------------------------------------------------- in-memory kernels
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_binary_kernel_is_scipy(data):
    """The numpy kernel on a whole array: any structure, origin, mask, border, count."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    shape = tuple(data.draw(st.lists(st.integers(4, 9), min_size=3, max_size=3)))
    sshape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=3, max_size=3)))
    structure = rng.random(sshape) > data.draw(st.sampled_from([0.0, 0.4, 1.0]))
    origin = tuple(data.draw(st.integers(-(s // 2), (s - 1) // 2)) for s in sshape)
    x = rng.random(shape) > rng.random()
    mask = rng.random(shape) > 0.3 if data.draw(st.booleans()) else None
    border = data.draw(st.integers(0, 1))
    iterations = data.draw(st.integers(1, 4))
    dilate = data.draw(st.booleans())
    geometry = tuple(
        margs.geometry(*margs.full_structure(structure, origin, (0, 1, 2), 3, dilate=d))[0]
        for d in (0, 1)
    )
    block = x if mask is None else mk.pack_with_mask(x, mask)
    ours = mk.binary_steps(
        block,
        geometry=geometry,
        steps=((dilate, iterations),),
        border=bool(border),
        packed=mask is not None,
        keep_packed=False,
        dtype=bool,
    )
    twin = ndi.binary_dilation if dilate else ndi.binary_erosion
    np.testing.assert_array_equal(
        ours, twin(x, structure, iterations, mask, None, border, origin, brute_force=True)
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint32", "float32", "bool"])
def test_grey_kernel_is_scipy(mode, dtype):
    """Box (separable) and footprint kernels on a whole array, every mode."""
    x = random_volume((6, 7, 8), np.dtype(dtype), seed=3)
    cval = 1 if dtype == "bool" else 5
    footprint = RNG.random((3, 2, 4)) > 0.4
    footprint[0, 0, 0] = True
    for size, origin in [((3, 4, 1), (0, -1, 0)), ((5, 2, 3), (1, 0, -1)), ((1, 1, 7), 0)]:
        for twin, dilate in [(ndi.grey_erosion, False), (ndi.grey_dilation, True)]:
            expected = twin(x, size=size, mode=mode, cval=cval, origin=origin)
            geometry, modes = grey._fast_geometry(
                x.dtype,
                x.dtype,
                size,
                None,
                None,
                mode,
                cval,
                tuple(np.broadcast_to(origin, 3)),
                size,
                (0, 1, 2),
                3,
            )
            ours = mk.grey_flat(x, geometry=geometry, dilate=dilate, modes=modes, cval=cval)
            np.testing.assert_array_equal(ours, expected)
    for twin, dilate in [(ndi.grey_erosion, False), (ndi.grey_dilation, True)]:
        expected = twin(x, footprint=footprint, mode=mode, cval=cval, origin=(1, 0, -1))
        geometry, modes = grey._fast_geometry(
            x.dtype,
            x.dtype,
            None,
            footprint,
            None,
            mode,
            cval,
            (1, 0, -1),
            footprint.shape,
            (0, 1, 2),
            3,
        )
        ours = mk.grey_flat(x, geometry=geometry, dilate=dilate, modes=modes, cval=cval)
        np.testing.assert_array_equal(ours, expected)


def test_fast_path_declines_what_it_cannot_do():
    fp = ndi.generate_binary_structure(3, 1)
    args = dict(
        size=3,
        footprint=None,
        structure=None,
        mode="reflect",
        cval=0.0,
        origins=(0, 0, 0),
        shape=(3, 3, 3),
        axes=(0, 1, 2),
        ndim=3,
    )
    u8 = np.dtype(np.uint8)
    assert grey._fast_geometry(u8, u8, **args) is not None
    assert grey._fast_geometry(np.dtype(np.int64), np.dtype(np.int64), **args) is None
    assert grey._fast_geometry(u8, np.dtype(np.float32), **args) is None
    assert grey._fast_geometry(u8, u8, **{**args, "axes": (2, 1, 0)}) is None
    assert grey._fast_geometry(u8, u8, **{**args, "structure": fp}) is None
    for cval in (3.5, -1, 256):
        assert grey._fast_geometry(u8, u8, **{**args, "mode": "constant", "cval": cval}) is None
    geometry = grey._fast_geometry(u8, u8, **args)[0]
    nan_block = np.zeros((4, 4, 4), np.float32)
    assert mk.fits_fast_path(nan_block, geometry)
    nan_block[1, 2, 3] = np.nan
    assert not mk.fits_fast_path(nan_block, geometry)
    assert not mk.fits_fast_path(np.zeros((4, 1, 4)), geometry)  # pad longer than the axis


# ------------------------------------------------------------- binary, blockwise
@pytest.mark.parametrize("name", ["binary_opening", "binary_closing"])
@pytest.mark.parametrize("chunking", list(SMALL_CHUNKINGS))
def test_binary_every_chunking(name, chunking):
    x = blobs(SMALL, sigma=1.0, fraction=0.4, seed=1)
    _check(name, x, SMALL_CHUNKINGS[chunking], STRUCTURES["conn18"], 2)


@pytest.mark.parametrize("structure", list(STRUCTURES))
@pytest.mark.parametrize("name", ITERATED)
def test_binary_structures_and_origins(name, structure):
    x = blobs(SMALL, sigma=1.0, fraction=0.5, seed=2)
    s = STRUCTURES[structure]
    shape = (3, 3, 3) if s is None else s.shape
    origin = tuple(-(n // 2) if i % 2 else (n - 1) // 2 for i, n in enumerate(shape))
    _check(name, x, (5, 6, 7), s, 1, origin=origin)
    _check(name, x, (2, 11, 7), s, 3, border_value=1)


@pytest.mark.parametrize("iterations", [1, 2, 5, 40])
@pytest.mark.parametrize("name", ITERATED)
def test_binary_iterations_in_passes(name, iterations, small_passes):
    x = blobs(SMALL, sigma=1.2, fraction=0.45, seed=3)
    mask = blobs(SMALL, sigma=1.0, fraction=0.7, seed=4)
    _check(name, x, (5, 6, 7), None, iterations, mask=mask)
    if iterations < 40:
        _check(name, x, (5, 6, 7), STRUCTURES["even"], iterations, border_value=1)


def test_conftest_chunkings(chunks):
    """The shared 19x23x29 chunkings (some smaller than the halo), mask and border 1."""
    x = blobs((19, 23, 29), sigma=1.5, fraction=0.4, seed=5)
    mask = blobs((19, 23, 29), sigma=2.0, fraction=0.6, seed=6)
    _check("binary_opening", x, chunks, None, 3, mask=mask, border_value=1)
    if min(min(c) for c in da.from_array(x, chunks=chunks).chunks) > 1:  # keep CI fast
        _check(
            "grey_opening", random_volume((19, 23, 29), np.uint16, seed=7), chunks, size=(3, 4, 5)
        )


@pytest.mark.parametrize("name", ITERATED)
def test_binary_masks_inputs_and_outputs(name):
    x = random_volume(SMALL, np.int16, seed=8) * (RNG.random(SMALL) > 0.4)
    mask = random_volume(SMALL, np.float32, seed=9) > 0  # float mask, nonzero = True
    chunks = (5, 4, 6)
    _check(name, x, chunks, None, 2, mask=mask.astype(np.float32))
    dmask = da.from_array(mask, chunks=(3, 11, 7))  # other chunks than the input
    expected = getattr(ndi, name)(x, iterations=2, mask=mask)
    assert_dask_matches(
        _ours(name)(da.from_array(x, chunks=chunks), iterations=2, mask=dmask), expected
    )
    for out in (np.uint8, np.float32, bool):
        res = _ours(name)(da.from_array(x, chunks=chunks), iterations=2, output=out)
        assert res.dtype == np.dtype(out)
        assert_dask_matches(res, expected_into(name, x, out, iterations=2))


def expected_into(name, x, dtype, **kwargs):
    out = np.empty(x.shape, dtype)
    getattr(ndi, name)(x, output=out, **kwargs)
    return out


def test_binary_axes():
    x = blobs(SMALL, sigma=1.0, fraction=0.5, seed=10)
    s2 = RNG.random((3, 4)) > 0.3
    s2[1, 1] = True
    for name in ITERATED:
        _check(name, x, (4, 3, 5), s2, 2, origin=(1, -1), axes=(2, 0))
        _check(name, x, (4, 3, 5), None, 3, axes=(1,))
        _check(name, x, (4, 3, 5), EVEN_S, 1, origin=(0, -1, 1), axes=(2, 0, 1))


def test_binary_one_and_two_dimensional():
    x1 = RNG.random(60) > 0.5
    _check("binary_erosion", x1, 7, np.ones(4), 3, origin=-1)
    x2 = RNG.random((20, 25)) > 0.4
    _check("binary_closing", x2, (6, 4), ndi.generate_binary_structure(2, 2), 4)


def test_thin_array_gives_brute_force_result():
    """scipy's coordinate-list algorithm differs from its brute force on arrays
    thinner than the structure; bigimg gives the brute-force (defining) result."""
    x = np.ones((6, 3, 2), bool)
    x[2, 1, 0] = False
    s = np.ones((4, 4, 4), bool)
    expected = ndi.binary_erosion(x, s, 4, None, None, 1, (-2, -1, 1), brute_force=True)
    res = binary.binary_erosion(
        da.from_array(x, chunks=(3, 2, 1)), s, 4, border_value=1, origin=(-2, -1, 1)
    )
    assert_dask_matches(res, expected)


@pytest.mark.parametrize("chunking", ["single", "irregular"])
def test_hit_or_miss(chunking):
    x = blobs(SMALL, sigma=0.8, fraction=0.5, seed=11)
    chunks = SMALL_CHUNKINGS[chunking]
    s1 = np.zeros((3, 3, 3), bool)
    s1[1, 1, :] = True
    s2 = np.zeros((3, 2, 3), bool)
    s2[0, 0, 0] = s2[2, 1, 2] = True
    _check("binary_hit_or_miss", x, chunks, s1, origin1=(1, 0, -1))
    _check("binary_hit_or_miss", x, chunks, s1, s2, origin1=(0, 1, 0), origin2=(-1, 0, 1))
    _check("binary_hit_or_miss", x, chunks, s1[1], axes=(0, 2))
    res = binary.binary_hit_or_miss(da.from_array(x, chunks=chunks), s1, output=np.float32)
    assert_dask_matches(res, expected_into("binary_hit_or_miss", x, np.float32, structure1=s1))


def test_hit_or_miss_chunks_smaller_than_halo():
    x = blobs(SMALL, sigma=0.8, fraction=0.5, seed=11)
    _check("binary_hit_or_miss", x, (2, 2, 13))


# ---------------------------------------------------------------- grey, blockwise
GREY_ARGS = {
    "size": dict(size=3),
    "size_aniso": dict(size=(2, 5, 1), origin=(0, 1, 0)),
    "footprint": dict(footprint=ndi.generate_binary_structure(3, 1), origin=(0, 0, 1)),
    "structure": dict(structure=RNG.integers(0, 4, (3, 2, 3)).astype(np.float64)),
}


GREY_CHUNKINGS = ["irregular", "remainder", "halves"]


@pytest.mark.parametrize("args", list(GREY_ARGS))
@pytest.mark.parametrize("name", GREY)
def test_grey_chunkings(name, args):
    """Every op with every kind of element; the chunkings rotate over the cases."""
    x = random_volume(SMALL, np.float32, seed=12)
    turn = GREY.index(name) + list(GREY_ARGS).index(args)
    _check(name, x, SMALL_CHUNKINGS[GREY_CHUNKINGS[turn % len(GREY_CHUNKINGS)]], **GREY_ARGS[args])


@pytest.mark.parametrize("chunking", ["ones", "smaller_than_halo"])
def test_grey_tiny_chunks(chunking):
    x = random_volume(SMALL, np.float32, seed=12)
    if chunking == "ones":
        _check("white_tophat", x, SMALL_CHUNKINGS[chunking], **GREY_ARGS["size_aniso"])
    else:
        _check("morphological_laplace", x, SMALL_CHUNKINGS[chunking], **GREY_ARGS["footprint"])


@pytest.mark.parametrize("name", GREY)
def test_grey_every_dtype(name, dtype):
    x = random_volume(SMALL, dtype, seed=13)
    if name == "morphological_laplace":  # scipy's sums wrap around in small ints too
        x = x // 4 if dtype.kind in "ui" else x
    if dtype.kind == "f":
        _check(name, x, (5, 6, 7), size=(3, 2, 3))
    _check(name, x, (5, 6, 7), footprint=RANDOM_S)


@pytest.mark.parametrize(
    "name", ["grey_erosion", "grey_dilation", "grey_opening", "morphological_laplace"]
)
def test_grey_every_mode(name, mode):
    x = random_volume(SMALL, np.int32, seed=14)
    chunks = ((3, 6), (6, 5), (13,))
    _check(name, x, chunks, size=(3, 4, 3), mode=mode, cval=7)
    if name in ("grey_erosion", "grey_dilation"):
        _check(name, x, chunks, footprint=EVEN_S, mode=mode, cval=-3)
    if name == "grey_erosion":
        _check(name, x, chunks, structure=np.ones((3, 3, 3)), mode=mode, cval=2.5)


def test_grey_fallbacks_and_options():
    x = random_volume(SMALL, np.float64, seed=15)
    x[3, 4, 5] = np.nan  # NaN blocks run scipy's kernel
    for name in GREY:
        _check(name, x, (4, 6, 5), size=3)
    xi = random_volume(SMALL, np.uint8, seed=16)
    _check("grey_dilation", xi, (4, 6, 5), size=3, mode="constant", cval=3.5)
    _check("grey_dilation", xi, (4, 6, 5), size=3, mode="reflect", cval=-1)  # cval unused
    _check("grey_erosion", xi, (4, 6, 5), size=(3, 5), axes=(2, 0), mode=["wrap", "nearest"])
    _check("grey_opening", xi, (4, 6, 5), footprint=RANDOM_S[0], axes=(0, 2), origin=(1, 0))
    _check("grey_closing", xi, (4, 6, 5), size=4, mode=["wrap", "mirror", "constant"])
    _check("white_tophat", random_volume(SMALL, np.int64, seed=17), (4, 6, 5), size=3)
    _check("black_tophat", xi > 100, (4, 6, 5), size=3)
    _check("white_tophat", xi, (4, 6, 5), size=3, mode="constant", cval=250)  # wraps, as scipy


@pytest.mark.parametrize("name", GREY)
def test_grey_output_dtype(name):
    x = random_volume(SMALL, np.uint8, seed=18)
    res = _ours(name)(da.from_array(x, chunks=5), size=3, output=np.float32)
    assert res.dtype == np.float32
    assert_dask_matches(res, expected_into(name, x, np.float32, size=3))


@pytest.mark.parametrize("name", ["grey_opening", "grey_closing", "white_tophat", "black_tophat"])
def test_grey_two_step_compositions(name, small_passes):
    x = random_volume(SMALL, np.int16, seed=19)
    _check(name, x, (4, 6, 5), size=(3, 2, 3))
    _check(name, x, (4, 6, 5), structure=np.ones((3, 3, 3)), mode="constant", cval=9)
    res = _ours(name)(da.from_array(x, chunks=5), size=3, output=np.float64)
    assert_dask_matches(res, expected_into(name, x, np.float64, size=3))


def test_size_ignored_with_footprint_warns_once_at_call():
    x = random_volume(SMALL, np.uint8, seed=20)
    with pytest.warns(BigimgWarning, match="ignored"):
        res = grey.grey_opening(da.from_array(x, chunks=5), size=5, footprint=RANDOM_S)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_dask_matches(res, ndi.grey_opening(x, footprint=RANDOM_S))


# ------------------------------------------------------------------------ errors
X = np.zeros((4, 5, 6), bool)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: binary.binary_erosion(X, iterations=1.5), TypeError, "iterations"),
        (lambda: binary.binary_erosion(X.astype(complex)), TypeError, "Complex"),
        (lambda: binary.binary_erosion(X, np.ones((3, 3))), ArgumentError, "structure"),
        (lambda: binary.binary_erosion(X, np.ones((0, 3, 3))), ArgumentError, "empty"),
        (lambda: binary.binary_erosion(X, origin=2), ValueError, "origin"),
        (lambda: binary.binary_dilation(X, np.ones((2, 2, 2)), origin=1), ValueError, "origin"),
        (lambda: binary.binary_opening(X, origin=(0, 1)), ArgumentError, "origin"),
        (lambda: binary.binary_closing(X, mask=np.ones((4, 5))), ArgumentError, "mask"),
        (lambda: binary.binary_erosion(X, border_value=0.5), TypeError, "border_value"),
        (lambda: binary.binary_erosion(X, axes=(0, 5)), ValueError, "axes"),
        (lambda: binary.binary_erosion(X, output=da.zeros(X.shape)), TypeError, "array"),
        (lambda: binary.binary_erosion(X, output=np.complex64), TypeError, "omplex"),
        (
            lambda: binary.binary_dilation(X, np.ones((3, 4)), origin=(-1, 1), axes=(2, 0)),
            ValueError,
            "reflection",
        ),  # scipy may crash here
        (lambda: binary.binary_hit_or_miss(X, origin1=3), ValueError, "origin1"),
        (lambda: binary.binary_hit_or_miss(X, origin2=(0, 0, -2)), ValueError, "origin2"),
        (lambda: grey.grey_erosion(X), ValueError, "size"),
        (lambda: grey.grey_dilation(X, size=3, origin=2), ValueError, "origin"),
        (lambda: grey.grey_opening(X, size=3, mode="bogus"), ArgumentError, "mode"),
        (lambda: grey.grey_closing(X, footprint=np.zeros((3, 3, 3))), ValueError, "zero"),
        (
            lambda: grey.white_tophat(X.astype(np.float32), size=3, output=np.uint8),
            TypeError,
            "cast",
        ),
        (lambda: grey.morphological_laplace(X, size=3), TypeError, "boolean"),
        (lambda: grey.grey_erosion(X, size=3, output=da.zeros(X.shape)), TypeError, "array"),
    ],
)
def test_invalid_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name", ITERATED)
def test_iterations_below_one_until_nothing_changes(name):
    """Through bigimg's cross-chunk binary_propagation (computes label tables)."""
    x = blobs(SMALL, sigma=1.0, fraction=0.5, seed=27)
    mask = blobs(SMALL, sigma=1.0, fraction=0.6, seed=28)
    _check(name, x, (5, 6, 7), None, 0, mask=mask, border_value=1)
    _check(name, x, (5, 6, 7), STRUCTURES["conn26"], -1)


def test_iterations_below_one_any_structure():
    """Any structure and origin (tests/ndimage/test_propagation_exact.py has more)."""
    x = blobs(SMALL, sigma=1.0, fraction=0.5, seed=27)
    _check("binary_erosion", x, (5, 6, 7), np.ones((2, 2, 2)), 0)
    _check("binary_dilation", x, (5, 6, 7), None, 0, origin=(0, 1, 0))
    with pytest.raises(TypeError):  # other arguments are still validated first
        binary.binary_opening(X.astype(complex), iterations=0)


def test_signatures_match_scipy():
    import inspect

    def bare(func):  # names, kinds and defaults; our type hints are extra
        sig = inspect.signature(func)
        return sig.replace(
            parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
            return_annotation=sig.empty,
        )

    for name in BINARY + GREY:
        assert bare(_ours(name)) == bare(getattr(ndi, name)), name


# ---------------------------------------------------------------- laziness, graphs
def test_building_graphs_computes_nothing():
    x = da.from_array(blobs(SMALL, seed=21), chunks=4)
    mask = da.from_array(blobs(SMALL, seed=22), chunks=5)
    with raise_if_dask_computes():
        for name in ITERATED:
            _ours(name)(x, iterations=7, mask=mask)
        binary.binary_hit_or_miss(x)
        for name in GREY:
            _ours(name)(x.astype(np.uint8), size=3)


def test_graph_linear_in_blocks_and_passes(small_passes):
    def tasks(chunks, iterations):
        x = da.zeros((32, 32, 32), dtype=bool, chunks=chunks)
        return len(binary.binary_dilation(x, iterations=iterations).__dask_graph__())

    one = tasks(8, 4)  # 64 blocks, one pass at the budget of 4 iterations
    per_pass = tasks(8, 8) - one
    assert tasks(8, 40) == one + 9 * per_pass  # ten passes: exactly linear
    assert per_pass <= 30 * 64  # at most the 27 neighbour pieces and a few per block
    assert tasks(16, 8) - tasks(16, 4) <= 30 * 8


def test_each_pass_halo_is_bounded():
    x = da.zeros((40, 40, 40), dtype=bool, chunks=20)
    y = binary.binary_erosion(x, np.ones((5, 5, 5)), iterations=30)
    for layer in y.dask.layers.values():
        depth = getattr(layer, "depth", None)
        assert depth is None or max(depth.values()) <= binary._MAX_PASS_HALO
    assert len(binary._plan(((False, 30),), 2)) == 4


def test_graph_pickles_small():
    x = da.zeros((256, 256, 256), dtype=bool, chunks=64)
    y = binary.binary_opening(
        x, ndi.generate_binary_structure(3, 2), 3, mask=da.ones(x.shape, bool, chunks=64)
    )
    assert len(pickle.dumps(dict(y.__dask_graph__()))) < 3_000_000
    z = grey.white_tophat(x.astype(np.uint8), footprint=RANDOM_S)
    assert len(pickle.dumps(dict(z.__dask_graph__()))) < 3_000_000


def test_numpy_input_and_threads():
    x = blobs((24, 25, 26), seed=23)
    res = binary.binary_closing(x, iterations=2)
    assert isinstance(res, da.Array)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(res.compute(), ndi.binary_closing(x, iterations=2))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_arbitrary_chunkings(data):
    shape = (7, 9, 8)
    chunks = data.draw(chunkings(shape, max_chunks_per_axis=4))
    x = blobs(shape, sigma=1.0, fraction=0.5, seed=24)
    iterations = data.draw(st.integers(1, 4))
    border = data.draw(st.integers(0, 1))
    _check(
        "binary_opening",
        x,
        tuple(chunks),
        STRUCTURES["random"],
        iterations,
        border_value=border,
        mask=blobs(shape, seed=25),
    )
    mode = data.draw(st.sampled_from(MODES))
    _check(
        "morphological_gradient",
        random_volume(shape, np.float32, seed=26),
        tuple(chunks),
        size=data.draw(st.integers(1, 5)),
        mode=mode,
    )
