"""Contrast stretching of whole volumes: scikit-image's ``rescale_intensity``, lazily.

The only global quantities are the input and output ranges. Ranges taken from the image
cost one min/max pass (computed when the function is called); everything else is an
elementwise map over the blocks, with scikit-image's arithmetic on Python floats, so the
result equals scikit-image's for any chunking.
"""

from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from bigimg._docs import STATS, DocFiller
from bigimg._errors import BigimgWarning
from bigimg._tables import min_max
from bigimg.stats._args import as_real_dask

__all__ = ["rescale_intensity"]

_docs = DocFiller(STATS)

# scikit-image's DTYPE_RANGE: dtype types and names -> (min, max)
_RANGES: dict[Any, tuple] = {
    bool: (False, True),
    np.bool_: (False, True),
    float: (-1, 1),
    int: (np.iinfo(np.int64).min, np.iinfo(np.int64).max),
}
for _t in (np.float16, np.float32, np.float64):
    _RANGES[_t] = (-1, 1)
for _t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
    _RANGES[_t] = (int(np.iinfo(_t).min), int(np.iinfo(_t).max))
_RANGES.update({t.__name__: r for t, r in list(_RANGES.items())})
_RANGES.update(
    {
        "uint10": (0, 2**10 - 1),
        "uint12": (0, 2**12 - 1),
        "uint14": (0, 2**14 - 1),
        "bool": (False, True),
        "float": (-1, 1),
    }
)


def _float_type(dtype: np.dtype):
    """scikit-image's _supported_float_type: float32 stays, float16 widens, else float64."""
    return np.float32 if np.dtype(dtype) in (np.float16, np.float32) else np.float64


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _output_type(out_range: Any, dtype: np.dtype):
    if isinstance(out_range, str) and out_range in ("dtype", "image"):
        return dtype.type
    if _is_pair(out_range):
        return _float_type(dtype)
    if isinstance(out_range, type):
        return out_range
    if _hashable_key(out_range):
        try:
            return np.dtype(out_range).type
        except TypeError:
            return np.uint16
    raise ValueError(
        "Incorrect value for out_range, should be a valid image data type or a "
        f"pair of values, got {out_range!r}."
    )


def _hashable_key(value: Any) -> bool:
    try:
        return value in _RANGES
    except TypeError:
        return False


def _check_range(value: Any, name: str) -> None:
    if isinstance(value, str) and value in ("image", "dtype"):
        return
    if _is_pair(value):
        if len(value) != 2:
            raise ValueError(f"`{name}` must hold two values (min, max); got {value!r}.")
        return
    if not _hashable_key(value):
        raise ValueError(
            f"`{name}` must be 'image', 'dtype', a dtype name or a (min, max) pair; got {value!r}."
        )


def _range(value: Any, dtype: np.dtype, image_range, clip_negative=False) -> tuple:
    if isinstance(value, str) and value == "dtype":
        value = dtype.type
    if isinstance(value, str) and value == "image":
        return image_range
    if not _is_pair(value) and _hashable_key(value):
        lo, hi = _RANGES[value]
        return (0 if clip_negative else lo), hi
    lo, hi = value
    return lo, hi


def _rescale_block(block, *, imin, imax, omin, omax, out_type):
    block = np.clip(block, imin, imax)
    if imin != imax:
        block = (block - imin) / (imax - imin)
        return (block * (omax - omin) + omin).astype(out_type)
    return np.clip(block, omin, omax).astype(out_type)


@_docs
def rescale_intensity(
    image: ArrayLike,
    in_range: str | tuple[float, float] = "image",
    out_range: str | tuple[float, float] = "dtype",
) -> da.Array:
    """Stretch or shrink intensities: the lazy twin of :func:`skimage.exposure.rescale_intensity`.

    Values are clipped to ``in_range`` and mapped linearly onto ``out_range``. With
    percentiles as ``in_range`` this is the tutorial's contrast stretch that saturates
    5 % of the darkest and of the brightest voxels.

    Parameters
    ----------
    image : numpy or dask array
    in_range, out_range : str or 2-tuple, optional
        ``"image"`` (the image's min/max), ``"dtype"`` (the dtype's range: ``[-1, 1]``
        for floats), a dtype name (``"uint8"``, ``"uint12"``, ...) or an explicit
        ``(min, max)``.

    Returns
    -------
    dask array
        Lazy, with ``image``'s chunks; dtype as in scikit-image (the input's, or float
        when ``out_range`` is a pair).

    Raises
    ------
    ValueError
        An unknown range name or a pair of the wrong length.

    Warns
    -----
    BigimgWarning
        When a range is NaN (the result is then NaN everywhere, as in scikit-image).

    Notes
    -----
    ``"image"`` ranges cost one min/max pass, computed when this function is called;
    the result itself is elementwise (a task holds one block).

    %(exposure_example)s
    >>> x = np.random.default_rng(0).integers(0, 4000, (6, 7, 8), dtype=np.uint16)
    >>> p5, p95 = stats.percentile(x, (5, 95))
    >>> y = stats.rescale_intensity(x, in_range=(p5, p95), out_range=(0.0, 1.0))
    >>> np.array_equal(y.compute(), exposure.rescale_intensity(x, in_range=(p5, p95),
    ...                                                         out_range=(0.0, 1.0)))
    True
    """
    x = as_real_dask(image)
    _check_range(in_range, "in_range")
    _check_range(out_range, "out_range")
    out_type = _output_type(out_range, x.dtype)
    image_range = None
    if any(isinstance(v, str) and v == "image" for v in (in_range, out_range)):
        if x.size == 0:
            raise ValueError("`image` must not be empty when a range is 'image'.")
        _, nan, lo, hi = min_max(x)
        image_range = (np.nan, np.nan) if nan else (lo, hi)
    imin, imax = map(float, _range(in_range, x.dtype, image_range))
    omin, omax = map(float, _range(out_range, x.dtype, image_range, clip_negative=imin >= 0))
    if np.any(np.isnan([imin, imax, omin, omax])):
        warnings.warn(
            "One or more intensity levels are NaN. Rescaling will broadcast NaN to the full "
            "image. Provide intensity levels yourself to avoid this.",
            BigimgWarning,
            stacklevel=2,
        )
    dtype = np.dtype(out_type)
    levels = dict(imin=imin, imax=imax, omin=omin, omax=omax, out_type=out_type)
    meta = np.empty((0,) * x.ndim, dtype)
    return x.map_blocks(_rescale_block, dtype=dtype, meta=meta, **levels)
