"""Run a ``scipy.ndimage`` twin blockwise: the kernel is the twin with its output dtype."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np

from bigimg._halo._blockwise import apply_blockwise

__all__ = ["run_twin"]


def run_twin(
    twin: Callable[..., np.ndarray],
    x: da.Array,
    depth: Sequence[int],
    modes: Sequence[str],
    *,
    dtype: np.dtype,
    name: str,
    **kwargs: Any,
) -> da.Array:
    """``twin(block, output=dtype, **kwargs)`` on every block with a halo of ``depth``.

    The in-memory twin (or any kernel taking ``output=`` as a dtype) is bound to the
    user's arguments and run by :func:`bigimg._halo.apply_blockwise`.

    >>> import numpy as np, scipy.ndimage as ndi, dask.array as da
    >>> x = np.arange(20.0)
    >>> y = run_twin(ndi.uniform_filter1d, da.from_array(x, chunks=5), (1,), ("reflect",),
    ...              dtype=np.dtype(float), name="uniform_filter1d", size=3)
    >>> np.allclose(y.compute(), ndi.uniform_filter1d(x, 3))
    True
    """
    kernel = functools.partial(twin, output=dtype, **kwargs)
    return apply_blockwise(kernel, x, depth, modes, dtype=dtype, name=name)
