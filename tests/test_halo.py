"""The halo engine on its own: depths, chunk merging, boundaries, chunks given back."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st

from bigimg import ArgumentError
from bigimg._args import normalize_modes, resolve_output
from bigimg._halo import apply_blockwise, footprint_depth, merge_small_chunks
from bigimg.testing import shapes_and_chunkings


@pytest.mark.parametrize("size", range(1, 8))
def test_footprint_depth_is_the_measured_reach(size):
    for origin in range(-(size // 2), (size - 1) // 2 + 1):
        impulse = np.zeros(41)
        impulse[20] = 1.0
        response = ndi.correlate1d(impulse, np.ones(size), origin=origin, mode="constant")
        support = np.nonzero(response)[0] - 20
        reach = int(np.abs(support).max())
        assert footprint_depth((size,), (origin,)) == (reach,)


@given(
    shapes_and_chunkings(max_dims=1, max_side=108, max_chunk=9, max_chunks_per_axis=12),
    st.integers(1, 12),
)
def test_merge_small_chunks(case, minimum):
    _, (chunks,) = case  # 1 to 12 chunks of 1 to 9 elements
    merged = merge_small_chunks(tuple(chunks), minimum)
    assert sum(merged) == sum(chunks)
    bounds = set(np.cumsum(chunks).tolist())
    assert set(np.cumsum(merged).tolist()) <= bounds
    if len(merged) > 1:
        assert min(merged) >= minimum


def _shift_sum(block, *, mode):
    """A 3-tap sum along axis 0 with scipy's boundary handling."""
    return ndi.correlate1d(block, [1.0, 1.0, 1.0], axis=0, mode=mode)


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", "mirror", "nearest"])
@pytest.mark.parametrize("chunks", [(1, 1, 1, 1, 1, 1, 1), (2, 5), (7,), (3, 1, 3)])
def test_apply_blockwise_exact_and_gives_chunks_back(mode, chunks):
    x = np.arange(7 * 3, dtype=float).reshape(7, 3)
    dx = da.from_array(x, chunks=(chunks, 2))
    y = apply_blockwise(_shift_sum, dx, (1, 0), (mode, "reflect"), dtype=float, mode=mode)
    assert y.chunks == dx.chunks
    np.testing.assert_array_equal(y.compute(), _shift_sum(x, mode=mode))


def test_depth_larger_than_axis_uses_one_chunk():
    x = np.arange(5.0)
    dx = da.from_array(x, chunks=1)

    def wide(block):
        return ndi.uniform_filter1d(block, 15, mode="wrap")

    y = apply_blockwise(wide, dx, (7,), ("wrap",), dtype=float)
    assert y.chunks == dx.chunks
    np.testing.assert_allclose(y.compute(), wide(x))


def test_empty_array():
    y = apply_blockwise(
        _shift_sum,
        da.zeros((0, 4), chunks=2),
        (1, 0),
        ("reflect",) * 2,
        dtype=np.float32,
        mode="reflect",
    )
    assert y.shape == (0, 4) and y.dtype == np.float32


def test_modes_validated():
    assert normalize_modes("wrap", 2) == ("wrap", "wrap")
    with pytest.raises(ArgumentError, match="mode"):
        normalize_modes("periodic", 2)
    with pytest.raises(ArgumentError, match="length"):
        normalize_modes(["wrap"], 2)


def test_resolve_output_rejects_arrays_and_wraps_runtime_errors():
    with pytest.raises(TypeError, match="lazy"):
        resolve_output(np.zeros(3), lambda out: out)

    def scipy_like(out):
        raise RuntimeError("boundary mode not supported")

    with pytest.raises(ArgumentError) as info:
        resolve_output(None, scipy_like)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)


def test_resolve_output_keeps_not_implemented_error():
    def unsupported(out):
        raise NotImplementedError("not for this input")

    with pytest.raises(NotImplementedError) as info:
        resolve_output(None, unsupported)
    assert not isinstance(info.value, ArgumentError)


def test_raise_if_dask_computes_fails_with_assertion():
    import dask.array as da

    from bigimg.testing import raise_if_dask_computes

    with pytest.raises(AssertionError, match="raise_if_dask_computes"):
        with raise_if_dask_computes():
            da.ones(4, chunks=2).sum().compute()
    with raise_if_dask_computes():
        da.ones(4, chunks=2).sum()


def test_reader_backed_chains_stream_from_the_source(tmp_path):
    """Filters on a file-backed array read their halo regions from the file."""
    import bigimg
    from bigimg import ndimage
    from bigimg.testing import random_volume

    data = random_volume((13, 17, 11), np.float32, seed=3)
    path = str(tmp_path / "v.raw")
    data.tofile(path)
    vol = bigimg.open_raw(path, data.shape, data.dtype, chunks=(2, 5, 4))
    out = ndimage.gaussian_filter(ndimage.median_filter(vol, size=3), 1.5, mode="nearest")
    assert getattr(out, "_bigimg_source", None) is not None
    assert out.chunks == vol.chunks
    # one task per block reads and filters its own region: no overlap/rechunk layers
    assert len(out.__dask_graph__()) == vol.npartitions
    expected = ndi.gaussian_filter(ndi.median_filter(data, size=3), 1.5, mode="nearest")
    np.testing.assert_array_equal(out.compute(), expected)
    # a periodic mode cannot stream from the source and uses the overlap path
    wrapped = ndimage.uniform_filter(vol, 3, mode="wrap")
    assert getattr(wrapped, "_bigimg_source", None) is None
    np.testing.assert_allclose(
        wrapped.compute(), ndi.uniform_filter(data, 3, mode="wrap"), rtol=1e-6
    )


def test_rechunk_reads_new_blocks_from_the_source(tmp_path):
    """A source-backed array rechunks by reading each new block's region on its own."""
    import bigimg
    from bigimg import ndimage
    from bigimg._sources import rechunk
    from bigimg.testing import random_volume

    data = random_volume((13, 17, 11), np.float32, seed=8)
    path = str(tmp_path / "v.raw")
    data.tofile(path)
    vol = bigimg.open_raw(path, data.shape, data.dtype, chunks=(4, 5, 3))
    smooth = ndimage.gaussian_filter(vol, 1.0) > 0
    out = rechunk(smooth, (6, 17, 5))
    assert out.chunks == ((6, 6, 1), (17,), (5, 5, 1))
    assert len(out.__dask_graph__()) == 9  # one task per new block, none per old one
    np.testing.assert_array_equal(out.compute(), ndi.gaussian_filter(data, 1.0) > 0)
    assert rechunk(out, out.chunks) is out
    plain = da.from_array(data, chunks=4)
    np.testing.assert_array_equal(rechunk(plain, 6).compute(), data)
