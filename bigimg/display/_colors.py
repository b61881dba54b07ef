"""Label colours: random-looking but deterministic, one per label id, background transparent.

A label's colour is a function of its id and a seed only (a 64-bit integer hash mapped
to a bright hue), never of which other labels are present. So one object has the
same colour in every panel, every plane and every block of a lazy overlay, and a
label volume of any size can be coloured block by block.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from bigimg._args import whole_number
from bigimg.display._mpl import require_matplotlib

if TYPE_CHECKING:
    from matplotlib.colors import ListedColormap

__all__ = ["label_colormap", "label_colors", "label_rgba"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective scramble of uint64 values (wraps silently)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] to RGB in [0, 1], last axis (r, g, b)."""
    h6 = h * 6.0
    sector = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def _check_seed(seed: Any) -> int:
    return whole_number(seed, "seed", minimum=0, requirement="a non-negative integer")


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"`alpha` must be a number in [0, 1]; got {alpha!r}.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be in [0, 1]; got {alpha!r}.")
    return float(alpha)


def _colors(ids: np.ndarray, seed: int, alpha: float) -> np.ndarray:
    """RGBA float32 rows for integer ``ids`` (id 0 fully transparent)."""
    ids = np.asarray(ids)
    flat = ids.reshape(-1)
    keys = (
        flat.astype(np.uint64) if ids.dtype.kind == "u" else flat.astype(np.int64).view(np.uint64)
    )
    z = _mix64(keys ^ _mix64(np.full(1, seed, dtype=np.uint64)))
    unit = [
        ((z >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.float64) / 65535.0 for s in (0, 16, 32)
    ]
    # bright, saturated colours: hue anywhere, saturation >= 0.55, value >= 0.75
    rgb = _hsv_to_rgb(unit[0], 0.55 + 0.45 * unit[1], 0.75 + 0.25 * unit[2])
    rgba = np.concatenate([rgb, np.full(flat.shape + (1,), alpha)], axis=-1)
    rgba[flat == 0] = 0.0
    return rgba.astype(np.float32).reshape(ids.shape + (4,))


def label_colors(ids: ArrayLike, seed: int = 0, *, alpha: float = 1.0) -> np.ndarray:
    """The RGBA colour of each label id: deterministic, random-looking, 0 transparent.

    Parameters
    ----------
    ids : int or array_like of int
        Label ids (any integer or bool dtype).
    seed : int, optional
        Another seed gives another, equally deterministic, set of colours.
    alpha : float, optional
        Opacity of every non-zero label, in [0, 1].

    Returns
    -------
    ndarray of float32, shape ``ids.shape + (4,)``
        Red, green, blue, alpha in [0, 1]; id 0 is ``(0, 0, 0, 0)``.

    Examples
    --------
    >>> from bigimg.display import label_colors
    >>> c = label_colors([0, 1, 2, 1])
    >>> c.shape, c[0].tolist(), bool((c[1] == c[3]).all()), bool((c[1] != c[2]).any())
    ((4, 4), [0.0, 0.0, 0.0, 0.0], True, True)
    """
    seed, alpha = _check_seed(seed), _check_alpha(alpha)
    ids = np.asarray(ids)
    if ids.dtype.kind not in "biu":
        raise TypeError(f"`ids` must be integers; got dtype {ids.dtype}.")
    return _colors(ids, seed, alpha)


def _rgba_block(block: np.ndarray, seed: int, alpha: float) -> np.ndarray:
    uniq, inverse = np.unique(block, return_inverse=True)
    return _colors(uniq, seed, alpha)[inverse.reshape(block.shape)]


def label_rgba(labels: ArrayLike, *, seed: int = 0, alpha: float = 0.5) -> np.ndarray | da.Array:
    """An RGBA overlay of a label image: one colour per label id, background transparent.

    Draw it over an image with ``ax.imshow(label_rgba(plane), interpolation="nearest")``.

    Parameters
    ----------
    labels : numpy or dask array of int or bool
        A label image of any shape (usually one plane). A dask array gives a lazy dask
        result, coloured block by block (colours do not depend on the chunking).
    seed : int, optional
        Selects the colour set, as in :func:`label_colors`.
    alpha : float, optional
        Opacity of the labels; the background (label 0) is always fully transparent.

    Returns
    -------
    numpy or dask array of float32, shape ``labels.shape + (4,)``

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg.display import label_rgba
    >>> rgba = label_rgba(np.array([[0, 3], [3, 7]]), alpha=0.5)
    >>> rgba.shape, rgba[..., 3].tolist()
    ((2, 2, 4), [[0.0, 0.5], [0.5, 0.5]])
    """
    seed, alpha = _check_seed(seed), _check_alpha(alpha)
    if not isinstance(labels, da.Array):
        labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise TypeError(f"`labels` must have an integer or bool dtype; got {labels.dtype}.")
    if isinstance(labels, da.Array):
        return labels.map_blocks(
            _rgba_block,
            seed,
            alpha,
            new_axis=labels.ndim,
            chunks=labels.chunks + ((4,),),
            dtype=np.float32,
        )
    return _rgba_block(labels, seed, alpha)


def label_colormap(n: int, seed: int = 0, *, alpha: float = 1.0) -> ListedColormap:
    """A matplotlib colormap of ``n`` label colours, entry 0 (background) transparent.

    Entry ``i`` is :func:`label_colors` of id ``i``, so the colours match
    :func:`label_rgba` and the overlays of :func:`orthoslices`. Needs matplotlib.

    Parameters
    ----------
    n : int
        Number of entries (label ids ``0 .. n - 1``), at least 2.
    seed : int, optional
        Selects the colour set.
    alpha : float, optional
        Opacity of the non-zero entries.

    Returns
    -------
    matplotlib.colors.ListedColormap
        Use it with ``vmin=-0.5, vmax=n - 0.5`` and ``interpolation="nearest"`` so that
        id ``i`` gets entry ``i``.

    Examples
    --------
    >>> from bigimg.display import label_colormap, label_colors
    >>> cmap = label_colormap(5)
    >>> cmap.N, [float(c) for c in cmap(0)], bool((cmap(3) == label_colors(3)).all())
    (5, [0.0, 0.0, 0.0, 0.0], True)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"`n` must be an integer; got {n!r}.")
    if n < 2:
        raise ValueError(f"`n` must be at least 2 (background and one label); got {n!r}.")
    seed, alpha = _check_seed(seed), _check_alpha(alpha)
    mpl = require_matplotlib("label_colormap")
    cmap = mpl.colors.ListedColormap(_colors(np.arange(n), seed, alpha), name=f"labels{seed}")
    return cmap.with_extremes(bad=(0, 0, 0, 0))
