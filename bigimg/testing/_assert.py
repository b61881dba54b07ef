"""Assertions shared by the test-suite (and usable by downstream projects)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["assert_dask_matches", "count_computes", "raise_if_dask_computes"]


def assert_dask_matches(
    result: Any,
    expected: ArrayLike,
    *,
    chunks: tuple[tuple[int, ...], ...] | None = None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    check_dtype: bool = True,
    scheduler: str = "sync",
) -> np.ndarray:
    """Check a lazy result against an in-memory reference; return the computed array.

    Integer, bool and complex-integer results must be equal; floats within
    ``rtol``/``atol`` (NaN positions must agree). With ``chunks`` the result must have
    exactly those chunks. The dtype of the graph's metadata must match the data.

    Parameters
    ----------
    result : dask array
        The lazy result under test (anything else fails the assertion).
    expected : array_like
        The reference, e.g. scipy.ndimage's answer on the same in-memory data.
    chunks : tuple of tuple of int, optional
        Keyword-only. The chunks ``result`` must have (default: not checked).
    rtol, atol : float, optional
        Keyword-only. Relative and absolute tolerance for floats (defaults 1e-6
        and 0); ``rtol`` is scaled by the largest ``|expected|``.
    check_dtype : bool, optional
        Keyword-only. Also require ``expected``'s dtype (default True).
    scheduler : str, optional
        Keyword-only. dask scheduler used to compute (default ``"sync"``).

    Returns
    -------
    ndarray
        ``result``, computed.

    Raises
    ------
    AssertionError
        The first difference found: type, chunks, shape, dtype or values.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg import ndimage
    >>> from bigimg.testing import assert_dask_matches
    >>> x = np.arange(24.0).reshape(4, 6)
    >>> got = ndimage.gaussian_filter(da.from_array(x, chunks=(2, 3)), 1.0)
    >>> out = assert_dask_matches(got, ndi.gaussian_filter(x, 1.0), chunks=((2, 2), (3, 3)))
    >>> out.shape
    (4, 6)
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
    """Count the dask tasks executed inside the block (local schedulers).

    A context manager: every task the local schedulers (synchronous, threads,
    processes) run inside the ``with`` block is counted; the distributed scheduler's
    tasks are not seen. Use it to check how many tasks a computation runs, or that a
    cached result runs none.

    Yields
    ------
    counter
        An object whose ``tasks`` attribute is the number of tasks run so far (read it
        inside or after the block).

    Examples
    --------
    >>> import dask.array as da
    >>> from bigimg.testing import count_computes
    >>> x = da.ones((4, 4), chunks=2)
    >>> with count_computes() as counter:
    ...     total = float(x.sum().compute())
    >>> total, counter.tasks > 0
    (16.0, True)
    >>> with count_computes() as counter:
    ...     y = x + 1  # building a graph runs nothing
    >>> counter.tasks
    0
    """
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
    """Fail if anything inside the block asks dask to compute (the call stays lazy).

    A context manager (after xarray's test helper of the same name): inside the
    ``with`` block dask's default scheduler is replaced by one that raises, so any
    ``compute``, ``persist`` or conversion to numpy fails. Only calls that use the
    default scheduler are caught (not an explicit ``scheduler=`` or a distributed
    client).

    Yields
    ------
    None

    Raises
    ------
    AssertionError
        When dask is asked to compute inside the block.

    Examples
    --------
    >>> import dask.array as da
    >>> from bigimg import ndimage
    >>> from bigimg.testing import raise_if_dask_computes
    >>> x = da.ones((6, 6), chunks=3)
    >>> with raise_if_dask_computes():
    ...     y = ndimage.uniform_filter(x, 3)  # lazy: builds a graph only
    >>> with raise_if_dask_computes():
    ...     y.sum().compute()
    Traceback (most recent call last):
    ...
    AssertionError: dask was asked to compute ...
    """
    with dask.config.set(scheduler=_refuse_to_compute):
        yield
