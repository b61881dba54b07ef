"""4-D series (t, z, y, x) chunked one time point per block (issue 14): filters with
scipy's ``axes=(1, 2, 3)`` stay streaming (no halo, no rechunk along t, tasks per block,
no block reads another time point), and ``label`` with a structure that has no
neighbours along t gives scipy's labels, numbered across the series; the per-time-point
numbering of docs/4d.md is checked against scipy on each time point."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg import ndimage
from bigimg.testing import blobs, raise_if_dask_computes, random_volume

SHAPE = (3, 9, 12, 11)
CHUNKS = (1, 5, 6, 11)  # one time point per block, two blocks along z and y

FILTERS = {
    "gaussian_filter": {"sigma": (1.0, 0.5, 1.5)},
    "gaussian_filter-wrap": {"sigma": 1.0, "mode": "wrap"},
    "median_filter": {"size": 3},
    "median_filter-footprint": {"footprint": ndi.generate_binary_structure(3, 1)},
    "uniform_filter": {"size": (3, 5, 3), "mode": "constant", "cval": 2.0},
}


def _blocks_read(result: da.Array, source: da.Array) -> dict:
    """For each output block, the time indices of the source blocks it depends on."""
    dsk = dict(result.__dask_graph__())
    deps = {k: dask.core.get_dependencies(dsk, k) for k in dsk}
    out = {}
    for key in dask.core.flatten(result.__dask_keys__()):
        seen, stack = set(), [key]
        while stack:
            for dep in deps[stack.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        out[key] = {k[1] for k in seen if isinstance(k, tuple) and k[0] == source.name}
    return out


def _own_tasks(result: da.Array, source: da.Array) -> int:
    return len(dict(result.__dask_graph__())) - len(dict(source.__dask_graph__()))


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_on_space_axes_stream_per_time_point(name):
    func, kwargs = name.split("-")[0], FILTERS[name]
    img = random_volume(SHAPE, np.float32, seed=5)
    src = da.from_array(img, chunks=CHUNKS)
    with raise_if_dask_computes():
        got = getattr(ndimage, func)(src, axes=(1, 2, 3), **kwargs)
    assert got.chunks == src.chunks  # no rechunk, along t or anywhere
    reads = _blocks_read(got, src)
    assert reads and all(t == {key[1]} for key, t in reads.items()), reads  # no t halo
    # tasks per block: three time points cost three times one time point
    one = da.from_array(img[:1], chunks=CHUNKS)
    assert _own_tasks(got, src) == 3 * _own_tasks(
        getattr(ndimage, func)(one, axes=(1, 2, 3), **kwargs), one
    )
    expected = getattr(ndi, func)(img, axes=(1, 2, 3), **kwargs)
    np.testing.assert_allclose(got.compute(), expected, rtol=1e-5, atol=1e-5)


def test_two_time_points_per_block_keep_their_chunks():
    img = random_volume((4, 8, 9, 10), np.uint16, seed=1)
    src = da.from_array(img, chunks=(2, 4, 9, 5))
    got = ndimage.median_filter(src, size=(3, 1, 3), axes=(1, 2, 3))
    assert got.chunks == src.chunks
    assert all(t == {key[1]} for key, t in _blocks_read(got, src).items())
    np.testing.assert_array_equal(got.compute(), ndi.median_filter(img, (3, 1, 3), axes=(1, 2, 3)))


def _series_mask(seed=0):
    return np.stack([blobs(SHAPE[1:], sigma=1.2, fraction=0.3, seed=seed + t) for t in range(3)])


@pytest.mark.parametrize("connectivity", [1, 3])
def test_label_per_time_point_is_scipys_numbering_across_the_series(connectivity):
    mask = _series_mask()
    structure = np.zeros((3, 3, 3, 3), bool)
    structure[1] = ndi.generate_binary_structure(3, connectivity)  # no neighbours along t
    labels, n = ndimage.label(da.from_array(mask, chunks=CHUNKS), structure=structure)
    expected, count = ndi.label(mask, structure=structure)
    assert n == count and count > 3
    assert labels.chunks[0] == (1, 1, 1)
    np.testing.assert_array_equal(labels.compute(), expected)
    # numbered across time points, in scan order: each time point's labels are a run
    per_t = [np.unique(expected[t][expected[t] > 0]) for t in range(3)]
    runs = np.concatenate(per_t)
    np.testing.assert_array_equal(runs, np.arange(1, count + 1))
    # numbering from 1 in every time point (docs/4d.md): subtract the labels before
    highest = labels.max(axis=(1, 2, 3)).compute()
    before = np.maximum.accumulate(np.concatenate([[0], highest[:-1]]))
    restarted = da.where(labels > 0, labels - before[:, None, None, None].astype(labels.dtype), 0)
    looped = [
        ndimage.label(da.from_array(mask[t], chunks=CHUNKS[1:]), structure[1]) for t in range(3)
    ]
    for t in range(3):
        own, own_count = ndi.label(mask[t], structure=structure[1])
        np.testing.assert_array_equal(restarted[t].compute(), own)
        assert looped[t][1] == own_count
        np.testing.assert_array_equal(looped[t][0].compute(), own)


def test_label_with_scipys_default_4d_structure_joins_time_points():
    mask = _series_mask(seed=7)
    labels, n = ndimage.label(da.from_array(mask, chunks=CHUNKS))
    expected, count = ndi.label(mask)  # connectivity 1 in 4-D: t neighbours too
    assert n == count
    np.testing.assert_array_equal(labels.compute(), expected)
