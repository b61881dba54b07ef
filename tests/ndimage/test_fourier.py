"""Fourier filters against scipy.ndimage on chunked FFT output, any chunking."""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg import ArgumentError, ndimage, restoration
from bigimg.ndimage import (
    fourier_ellipsoid,
    fourier_gaussian,
    fourier_shift,
    fourier_uniform,
)
from bigimg.testing import assert_dask_matches, odd_chunkings, raise_if_dask_computes

SHAPE = (9, 10, 11)
CHUNKS = odd_chunkings(SHAPE, halo=3)
CHUNKS["ones"] = ((1,) * 9, (10,), (5, 6))
CHUNKS["smaller_than_halo"] = ((2, 2, 2, 2, 1), (1, 1, 1, 7), (11,))
RNG = np.random.default_rng(0)
VOL = RNG.random(SHAPE)

OURS = {
    "gaussian": fourier_gaussian,
    "uniform": fourier_uniform,
    "ellipsoid": fourier_ellipsoid,
    "shift": fourier_shift,
}
PARAM = {
    "gaussian": (1.5, 0.7, 2.0),
    "uniform": (3.0, 2.0, 4.5),
    "ellipsoid": (2.5, 3.0, 1.7),
    "shift": (1.5, -2.0, 0.25),
}
# separable kernels use scipy's own per-axis tables: bit-exact; the others use numpy's
# sin/cos and scipy.special.j1, equal to scipy's C library here but allowed 1e-14
RTOL = {"gaussian": 0, "uniform": 0, "ellipsoid": 1e-14, "shift": 1e-14}


def _inputs():
    f = np.fft.fftn(VOL)
    r = np.fft.rfftn(VOL)  # last axis: 6 = 11 // 2 + 1 values, n = 11
    return {
        "complex128": (f, -1, -1),
        "complex64": (f.astype(np.complex64), -1, -1),
        "rfft_last": (r, 11, -1),
        "rfft_first": (np.fft.rfftn(VOL, axes=(2, 1, 0)), 9, 0),
        "real64": (f.real.copy(), -1, -1),
        "real32": (f.real.astype(np.float32), -1, -1),
        "int": ((f.real * 10).astype(np.int32), -1, -1),
    }


INPUTS = _inputs()


@pytest.mark.parametrize("kind", list(OURS))
@pytest.mark.parametrize("cname", list(CHUNKS))
def test_chunkings(kind, cname):
    f, n, axis = INPUTS["complex128"]
    fd = da.from_array(f, chunks=CHUNKS[cname])
    with raise_if_dask_computes():
        y = OURS[kind](fd, PARAM[kind], n=n, axis=axis)
    ref = getattr(ndi, f"fourier_{kind}")(f, PARAM[kind], n=n, axis=axis)
    assert_dask_matches(y, ref, rtol=RTOL[kind], chunks=fd.chunks)


@pytest.mark.parametrize("kind", list(OURS))
@pytest.mark.parametrize("inp", list(INPUTS))
def test_dtypes_and_real_transforms(kind, inp):
    f, n, axis = INPUTS[inp]
    fd = da.from_array(f, chunks=(4, 3, 5))
    twin = getattr(ndi, f"fourier_{kind}")
    param = PARAM[kind] if inp.startswith("c") else 2.0
    ref = twin(f, param, n=n, axis=axis)
    assert_dask_matches(OURS[kind](fd, param, n=n, axis=axis), ref, rtol=RTOL[kind])


@pytest.mark.parametrize("kind", list(OURS))
def test_output_dtypes(kind):
    f, n, axis = INPUTS["real64"]
    fd = da.from_array(f, chunks=4)
    outs = [np.complex64, np.complex128] + ([] if kind == "shift" else [np.float32, np.float64])
    for out in outs:
        ref = getattr(ndi, f"fourier_{kind}")(f, PARAM[kind], output=out)
        assert_dask_matches(OURS[kind](fd, PARAM[kind], output=out), ref, rtol=RTOL[kind])


@pytest.mark.parametrize("shape", [(1, 8, 9), (8, 1, 9), (7,), (6, 5), (2, 1, 1)])
def test_other_ranks_and_unit_axes(shape):
    x = np.fft.fftn(RNG.random(shape))
    xd = da.from_array(x, chunks=3)
    for kind in OURS:
        twin = getattr(ndi, f"fourier_{kind}")
        for n, axis in [(-1, -1), (2 * shape[-1] - 1, -1), (2 * shape[0], 0)]:
            assert_dask_matches(
                OURS[kind](xd, 1.7, n=n, axis=axis), twin(x, 1.7, n=n, axis=axis), rtol=RTOL[kind]
            )


def test_dask_fft_roundtrip_gaussian_smooths_like_real_space():
    # the tutorial use: blur through the Fourier domain with dask's FFT along each axis
    x = da.from_array(VOL, chunks=(9, 10, 11))
    f = da.fft.fftn(x)
    g = fourier_gaussian(f.rechunk((3, 5, 4)), 1.0)
    back = da.fft.ifftn(g.rechunk(SHAPE)).real
    ref = np.fft.ifftn(ndi.fourier_gaussian(np.fft.fftn(VOL), 1.0)).real
    np.testing.assert_allclose(back.compute(), ref, rtol=1e-12, atol=1e-14)


def test_errors():
    f = np.fft.fftn(VOL)
    with pytest.raises(TypeError, match="dask array"):
        ndimage.fourier_gaussian(f, 1.0, output=da.zeros(SHAPE, dtype=complex))
    with pytest.raises(ValueError):
        fourier_gaussian(f, (1.0, 2.0))
    with pytest.raises(ValueError):
        fourier_uniform(f, 1.0, axis=3)
    with pytest.raises(ArgumentError):
        fourier_shift(f, 1.0, output=np.float64)
    with pytest.raises(ArgumentError):
        fourier_gaussian(f, 1.0, output=np.float64)  # complex input, real output
    with pytest.raises(NotImplementedError):
        fourier_ellipsoid(np.zeros((2, 2, 2, 2)), 1.0)
    with pytest.raises(TypeError, match="`n`"):
        fourier_gaussian(f, 1.0, n=2.5)
    with pytest.raises(ValueError, match="`n`"):
        fourier_gaussian(f, 1.0, n=0)


def test_graphs_pickle():
    """What crosses to a worker pickles with the standard pickle (module-level kernels)."""
    fd = da.from_array(INPUTS["complex128"][0], chunks=4)
    x = da.from_array(VOL, chunks=4)
    for y in (
        fourier_shift(fd, 1.0),
        fourier_ellipsoid(fd, 2.0),
        restoration.wiener(x, 3, noise=0.1),
        restoration.denoise_tv_chambolle(x, 0.1, max_num_iter=3),
    ):
        graph = dict(y.__dask_graph__())
        again = pickle.loads(pickle.dumps(graph))
        assert again.keys() == graph.keys()
