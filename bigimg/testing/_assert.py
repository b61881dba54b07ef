"""Assertions shared by the test-suite (and usable by downstream projects)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dask
import dask.array as da
import numpy as np

__all__ = ["assert_dask_matches", "count_computes", "raise_if_dask_computes"]


def assert_dask_matches(
    result,
    expected,
    *,
    chunks=None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    check_dtype: bool = True,
    scheduler: str = "sync",
) -> np.ndarray:
    """Check a lazy result against an in-memory reference; return the computed array.

    Integer, bool and complex-integer results must be equal; floats within
    ``rtol``/``atol`` (NaN positions must agree). With ``chunks`` the result must have
    exactly those chunks. The dtype of the graph's metadata must match the data.
    """
    assert isinstance(result, da.Array), f"expected a dask array, got {type(result)}"
    if chunks is not None:
        assert result.chunks == tuple(chunks), f"chunks {result.chunks} != {chunks}"
    computed = result.compute(scheduler=scheduler)
    expected = np.asarray(expected)
    assert computed.shape == expected.shape, f"shape {computed.shape} != {expected.shape}"
    assert computed.dtype == result.dtype, (
        f"graph says dtype {result.dtype} but blocks hold {computed.dtype}"
    )
    if check_dtype:
        assert computed.dtype == expected.dtype, f"dtype {computed.dtype} != {expected.dtype}"
    if expected.dtype.kind in "fc" or computed.dtype.kind in "fc":
        scale = float(np.nanmax(np.abs(expected))) if expected.size else 0.0
        np.testing.assert_allclose(
            computed, expected, rtol=rtol, atol=atol + rtol * scale, equal_nan=True
        )
    else:
        np.testing.assert_array_equal(computed, expected)
    return computed


class _ComputeCounter:
    def __init__(self) -> None:
        self.tasks = 0


@contextlib.contextmanager
def count_computes() -> Iterator[_ComputeCounter]:
    """Count the dask tasks executed inside the block (local schedulers)."""
    counter = _ComputeCounter()

    def _pretask(key, dsk, state):
        counter.tasks += 1

    with dask.callbacks.Callback(pretask=_pretask):
        yield counter


def _refuse_to_compute(dsk, keys, **kwargs):
    raise AssertionError(
        f"dask was asked to compute {keys!r:.200} inside raise_if_dask_computes(); "
        "the operation should only build a graph"
    )


@contextlib.contextmanager
def raise_if_dask_computes() -> Iterator[None]:
    """Fail if anything inside the block asks dask to compute (the call stays lazy)."""
    with dask.config.set(scheduler=_refuse_to_compute):
        yield
