"""Unsharp-mask sharpening as in the scipy image-processing tutorial."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from bigimg._args import as_dask
from bigimg._docs import NDIMAGE, DocFiller
from bigimg.ndimage import gaussian_filter

__all__ = ["unsharp_mask"]

_docs = DocFiller(NDIMAGE)


@_docs
def unsharp_mask(
    input: ArrayLike,
    sigma: float | Sequence[float],
    alpha: float,
    *,
    mode: str | Sequence[str] = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> da.Array:
    """Sharpen by adding back the detail a Gaussian removes: the tutorial's formula.

    ``input + alpha * (input - gaussian_filter(input, sigma))``, exactly the tutorial's
    ``blurred_f + alpha * (blurred_f - filter_blurred_f)`` with ``input = blurred_f``.
    (scikit-image's ``unsharp_mask`` differs: it rescales to [0, 1], uses
    ``mode="nearest"`` and clips; this function follows the tutorial.)

    Parameters
    ----------
    %(input)s
        Integer input is converted to float64 first (the tutorial works on floats).
    sigma : float or sequence of float
        Standard deviation of the Gaussian, per axis.
    alpha : float
        Strength of the sharpening (the tutorial uses 30 on a blurred image).
    mode, cval, truncate
        Keyword-only. As in :func:`bigimg.ndimage.gaussian_filter`.

    Returns
    -------
    dask array
        Lazy, with ``input``'s chunks; float32 stays float32, other inputs give float64.

    Raises
    ------
    TypeError
        A non-numeric ``alpha`` or a complex input.

    Notes
    -----
    Halo: the Gaussian's, ``int(truncate * sigma + 0.5)`` per axis. A task holds one
    block plus halo.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import restoration
    >>> f = np.random.default_rng(0).random((8, 9, 10))
    >>> y = restoration.unsharp_mask(f, 1.0, 30.0)
    >>> np.allclose(y.compute(), f + 30.0 * (f - ndi.gaussian_filter(f, 1.0)), rtol=0, atol=1e-12)
    True
    """
    x = as_dask(input, name="input")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"`input` must be real; got dtype {x.dtype}.")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"`alpha` must be a real number; got {alpha!r}.")
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    blurred = gaussian_filter(x, sigma, mode=mode, cval=cval, truncate=truncate)
    return x + alpha * (x - blurred)
