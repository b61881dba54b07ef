"""Hypothesis strategies for arbitrary chunkings: the sweep no fixed list can cover.

:func:`odd_chunkings <bigimg.testing.odd_chunkings>` names the chunkings every blockwise
test should pass (single chunk, halves, remainder, irregular, size 1, smaller than the
halo); :func:`chunkings` and :func:`shapes_and_chunkings` let hypothesis search all of
them, and shrink a failure to the fewest, simplest chunks that still fail.

hypothesis is optional: it is imported when a strategy is *built*, so
``import bigimg.testing`` works without it and only calling :func:`chunkings` or
:func:`shapes_and_chunkings` needs it (``pip install hypothesis``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy

__all__ = ["chunkings", "shapes_and_chunkings"]

#: dask's normalised chunks: one tuple of block lengths per axis.
Chunks = tuple[tuple[int, ...], ...]


def chunkings(
    shape: Sequence[int],
    *,
    min_chunk: int = 1,
    max_chunk: int | None = None,
    max_chunks_per_axis: int | None = None,
) -> SearchStrategy[Chunks]:
    """A hypothesis strategy for every way to cut an array of ``shape`` into blocks.

    Each axis is cut independently: sometimes dask-style regular blocks with a
    remainder (``(3, 3, 1)``), otherwise any irregular tuple (``(1, 5, 1)``), including
    blocks of length 1 and blocks thinner than any halo. Failures shrink towards fewer
    blocks per axis and regular cuts.

    Parameters
    ----------
    shape : sequence of int
        The array's shape; axes of length 0 get the single block ``(0,)``.
    min_chunk : int, optional
        Shortest block (default 1). An axis shorter than ``min_chunk`` is one block.
    max_chunk : int, optional
        Longest block (default: the axis length).
    max_chunks_per_axis : int, optional
        Most blocks on one axis (default: no limit); bounds the size of the graphs
        a test builds.

    Returns
    -------
    hypothesis SearchStrategy
        Drawing gives dask's normalised chunks, a tuple of one tuple of block lengths
        per axis, ready for ``da.from_array(x, chunks=...)``.

    Raises
    ------
    ImportError
        If hypothesis is not installed.
    TypeError, ValueError
        For a bad argument, or an axis that no chunking within the limits fits.

    See Also
    --------
    shapes_and_chunkings : draw the shape too.
    bigimg.testing.odd_chunkings : the named chunkings every test should pass.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bigimg.testing import chunkings
    >>> x = np.arange(7 * 9).reshape(7, 9)
    >>> @settings(max_examples=20, deadline=None)
    ... @given(chunkings(x.shape, max_chunks_per_axis=4))
    ... def test_sum(chunks):
    ...     y = da.from_array(x, chunks=chunks)
    ...     assert y.chunks == chunks and max(map(len, chunks)) <= 4
    ...     assert int(y.sum()) == int(x.sum())
    >>> test_sum()
    """
    st = _hypothesis()
    shape = _shape(shape)
    limits = _limits(min_chunk, max_chunk, max_chunks_per_axis)
    axes = []
    for axis, n in enumerate(shape):
        counts = _block_counts(n, *limits)
        if counts is None:
            raise ValueError(
                f"`shape` axis {axis} of length {n} cannot be cut into {_describe(limits)}; "
                "raise max_chunk or max_chunks_per_axis, or lower min_chunk."
            )
        axes.append(st.composite(_draw_axis)(n, counts, limits[0], limits[1]))
    return st.tuples(*axes)


def shapes_and_chunkings(
    *,
    min_dims: int = 1,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 9,
    min_chunk: int = 1,
    max_chunk: int | None = None,
    max_chunks_per_axis: int | None = None,
) -> SearchStrategy[tuple[tuple[int, ...], Chunks]]:
    """A hypothesis strategy for a shape and one of its chunkings, drawn together.

    The shape has ``min_dims`` to ``max_dims`` axes of ``min_side`` to ``max_side``
    elements (sides no chunking within the limits fits are never drawn); the
    chunking is drawn from :func:`chunkings` with the same limits.

    Parameters
    ----------
    min_dims, max_dims : int, optional
        Number of axes (default 1 to 3).
    min_side, max_side : int, optional
        Length of each axis (default 1 to 9; ``min_side=0`` allows empty axes).
    min_chunk, max_chunk, max_chunks_per_axis : int, optional
        As in :func:`chunkings`.

    Returns
    -------
    hypothesis SearchStrategy
        Drawing gives ``(shape, chunks)``: a tuple of ints and dask's normalised chunks.

    Raises
    ------
    ImportError
        If hypothesis is not installed.
    TypeError, ValueError
        For a bad argument, or limits that no side in ``min_side..max_side`` fits.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import math
    >>> from hypothesis import given, settings
    >>> from bigimg.testing import shapes_and_chunkings
    >>> @settings(max_examples=20, deadline=None)
    ... @given(shapes_and_chunkings(max_dims=2, max_side=6))
    ... def test_cumsum(case):
    ...     shape, chunks = case
    ...     x = np.arange(math.prod(shape)).reshape(shape)
    ...     y = da.from_array(x, chunks=chunks).cumsum(axis=0)
    ...     np.testing.assert_array_equal(y.compute(), x.cumsum(axis=0))
    >>> test_cumsum()
    """
    st = _hypothesis()
    dims = _counts("min_dims", min_dims, 0), _counts("max_dims", max_dims, 0)
    sides = _counts("min_side", min_side, 0), _counts("max_side", max_side, 0)
    for low, high, name in ((*dims, "dims"), (*sides, "side")):
        if low > high:
            raise ValueError(f"`min_{name}` must be <= `max_{name}`; got {low} > {high}.")
    limits = _limits(min_chunk, max_chunk, max_chunks_per_axis)
    side = st.integers(*sides)
    low, high, count = limits
    if high is not None:  # with a longest block, some sides fit no chunking
        longest = sides[1] if count is None else min(sides[1], count * high)
        if not any(_block_counts(n, *limits) for n in range(sides[0], longest + 1)):
            raise ValueError(
                f"no side from {sides[0]} to {sides[1]} can be cut into "
                f"{_describe(limits)}; widen the limits."
            )
        side = side.filter(lambda n: _block_counts(n, *limits) is not None)
    return st.composite(_draw_case)(side, dims, limits)


# ------------------------------------------------------------------------- drawing
def _draw_axis(
    draw: DrawFn, n: int, counts: tuple[int, int], min_chunk: int, max_chunk: int | None
) -> tuple[int, ...]:
    """One axis of length ``n`` cut into a number of blocks within ``counts``."""
    st = _hypothesis()
    if n == 0:
        return (0,)
    low = min(min_chunk, n)
    high = n if max_chunk is None else max_chunk
    k = draw(st.integers(*counts))
    if not draw(st.booleans()):  # dask's regular cut: equal blocks and a remainder
        size = -(-n // k)
        regular = (size,) * (n // size) + ((n % size,) if n % size else ())
        if regular[-1] >= low:
            return regular
    sizes, left = [], n
    for after in range(k - 1, 0, -1):  # `after` blocks still to come must fit the rest
        size = draw(st.integers(max(low, left - after * high), min(high, left - after * low)))
        sizes.append(size)
        left -= size
    return (*sizes, left)


def _draw_case(
    draw: DrawFn, side: SearchStrategy[int], dims: tuple[int, int], limits: tuple
) -> tuple[tuple[int, ...], Chunks]:
    """A shape of ``dims`` axes with sides from ``side``, and one of its chunkings."""
    st = _hypothesis()
    shape = tuple(draw(st.lists(side, min_size=dims[0], max_size=dims[1])))
    low, high, count = limits
    chunks = draw(chunkings(shape, min_chunk=low, max_chunk=high, max_chunks_per_axis=count))
    return shape, chunks


# ---------------------------------------------------------------------- arguments
def _hypothesis() -> Any:
    try:
        from hypothesis import strategies
    except ImportError as exc:  # pragma: no cover - hypothesis is in the test extra
        raise ImportError(
            "bigimg.testing's chunking strategies need hypothesis: pip install hypothesis"
        ) from exc
    return strategies


def _counts(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {value!r}.")
    if value < least:
        raise ValueError(f"`{name}` must be >= {least}; got {value}.")
    return int(value)


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral) or not isinstance(shape, Sequence):
        raise TypeError(f"`shape` must be a sequence of ints; got {shape!r}.")
    return tuple(_counts("shape", n, 0) for n in shape)


def _limits(min_chunk: Any, max_chunk: Any, max_chunks: Any) -> tuple:
    low = _counts("min_chunk", min_chunk, 1)
    high = None if max_chunk is None else _counts("max_chunk", max_chunk, 1)
    if high is not None and high < low:
        raise ValueError(f"`max_chunk` must be >= `min_chunk`; got {high} < {low}.")
    count = None if max_chunks is None else _counts("max_chunks_per_axis", max_chunks, 1)
    return low, high, count


def _block_counts(
    n: int, min_chunk: int, max_chunk: int | None, max_chunks: int | None
) -> tuple[int, int] | None:
    """Fewest and most blocks an axis of length ``n`` can have, or None if none fits."""
    if n == 0:
        return 1, 1
    low = min(min_chunk, n)  # an axis shorter than min_chunk is one block
    fewest = 1 if max_chunk is None else math.ceil(n / max_chunk)
    most = n // low if max_chunks is None else min(n // low, max_chunks)
    return (fewest, most) if fewest <= most else None


def _describe(limits: tuple) -> str:
    low, high, count = limits
    blocks = "blocks" if count is None else f"at most {count} blocks"
    size = f"at least {low}" if high is None else f"{low} to {high}"
    return f"{blocks} of {size} elements"
