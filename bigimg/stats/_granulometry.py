"""Granulometry and radial profiles: the tutorial's size and radial measurements.

``granulometry`` counts the voxels left by binary openings with balls of growing radius
(the scipy tutorial's ``granulometry`` with ``disk_structure``, in any dimension). The
openings are bigimg's blockwise ``binary_opening`` (exact for any chunking), summed in
one computation.

``radial_profile`` is the tutorial's radial mean (``ndimage.mean(f, labels=rbin,
index=...)``) without building a label volume: each block bins its voxels by distance
from the center and returns per-bin sums and counts, added in a tree.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import dask
import numpy as np
from numpy.typing import ArrayLike

from bigimg._args import as_dask, normalize_sequence
from bigimg._tables import add_merge, run_passes, tree_pass
from bigimg.ndimage import binary_opening

__all__ = ["ball", "granulometry", "radial_profile"]


def ball(radius: int, ndim: int = 3) -> np.ndarray:
    """Boolean ball of ``radius`` voxels: ``sum((i - radius)**2) <= radius**2``.

    The tutorial's ``disk_structure`` in ``ndim`` dimensions; shape ``(2r + 1,) * ndim``.

    Parameters
    ----------
    radius : int
        Radius in voxels (0: a single voxel).
    ndim : int, optional
        Number of dimensions (default 3).

    Returns
    -------
    ndarray of bool
        Shape ``(2 * radius + 1,) * ndim``; a structuring element for
        :func:`bigimg.ndimage.binary_opening` and the other morphology functions.

    Raises
    ------
    ValueError
        A negative or non-integer ``radius``.

    Examples
    --------
    >>> from bigimg.stats import ball
    >>> ball(1, 2).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    if isinstance(radius, bool) or not isinstance(radius, numbers.Integral) or radius < 0:
        raise ValueError(f"`radius` must be a non-negative integer; got {radius!r}.")
    grids = np.indices((2 * radius + 1,) * ndim)
    return ((grids - radius) ** 2).sum(axis=0) <= radius**2


def granulometry(mask: ArrayLike, sizes: Sequence[int]) -> np.ndarray:
    """Voxels left by binary openings with balls of growing radius (computes eagerly).

    ``result[i] == scipy.ndimage.binary_opening(mask, structure=ball(sizes[i])).sum()``,
    the scipy tutorial's granulometry, for a volume of any size.

    Parameters
    ----------
    mask : numpy or dask array
        Binary volume (non-zero is foreground).
    sizes : sequence of int
        Ball radii (0 leaves the mask unchanged).

    Returns
    -------
    ndarray of int64
        One count per size.

    Raises
    ------
    ValueError
        A negative or non-integer radius, or no sizes.

    Notes
    -----
    All openings are computed in one ``dask.compute`` (the mask is read once). Halo of
    the opening with radius ``r``: ``r`` voxels for each of its erosion and dilation
    (see :func:`bigimg.ndimage.binary_opening`); a task holds one block plus its halo.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import stats
    >>> from bigimg.testing import blobs
    >>> m = blobs((12, 13, 14), sigma=2.0, fraction=0.4)
    >>> sizes = [0, 1, 2]
    >>> g = stats.granulometry(m, sizes)
    >>> ref = [ndi.binary_opening(m, structure=stats.ball(n)).sum() for n in sizes]
    >>> g.tolist() == ref
    True
    """
    x = as_dask(mask, name="mask")
    sizes = list(sizes)
    if not sizes:
        raise ValueError("`sizes` must hold at least one radius; got none.")
    footprints = [ball(n, x.ndim) for n in sizes]
    binary = x != 0
    sums = [
        binary_opening(binary, structure=fp).sum(dtype=np.int64)
        if fp.size > 1
        else binary.sum(dtype=np.int64)
        for fp in footprints
    ]
    return np.array(dask.compute(*sums), dtype=np.int64)


# --------------------------------------------------------------------- radial profile
def _radius_bins(shape_block, offset, center, spacing, bin_width):
    r2 = None
    for ax, (n, o) in enumerate(zip(shape_block, offset)):
        d = ((np.arange(o, o + n, dtype=np.float64) - center[ax]) * spacing[ax]) ** 2
        d = d.reshape((-1,) + (1,) * (len(shape_block) - ax - 1))
        r2 = d if r2 is None else r2 + d
    return (np.sqrt(r2) / bin_width).astype(np.intp)


def _profile_block(block, *, offset, center, spacing, bin_width, nbins):
    bins = _radius_bins(block.shape, offset, center, spacing, bin_width)
    bins = np.broadcast_to(bins, block.shape).reshape(-1)
    sums = np.bincount(bins, weights=block.reshape(-1).astype(np.float64), minlength=nbins)
    return sums, np.bincount(bins, minlength=nbins)


def radial_profile(
    image: ArrayLike,
    center: Sequence[float] | None = None,
    bin_width: float = 1.0,
    *,
    spacing: float | Sequence[float] | None = None,
) -> np.ndarray:
    """Mean value per distance shell around ``center`` (computes eagerly).

    The tutorial's radial mean: voxel ``i`` falls in bin
    ``int(sqrt(sum(((i - center) * spacing)**2)) / bin_width)`` and
    ``result[k] == ndimage.mean(image, labels=bins, index=k)``.

    Parameters
    ----------
    image : numpy or dask array
    center : sequence of float, optional
        In voxel coordinates (plane, row, column). Default ``shape / 2``, as in the
        tutorial.
    bin_width : float, optional
        Width of a shell, in the units of ``spacing``.
    spacing : sequence of float, optional
        Voxel size per axis (default 1).

    Returns
    -------
    ndarray of float64
        One mean per shell from the center outwards; NaN for empty shells.

    Raises
    ------
    ValueError
        Non-positive ``bin_width`` or ``spacing``, or sequences of the wrong length.

    Notes
    -----
    One pass; each task holds one block, its bin indices and two vectors of
    ``nbins`` (the number of shells up to the farthest corner).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi
    >>> from bigimg import stats
    >>> f = np.random.default_rng(0).random((9, 10, 11))
    >>> prof = stats.radial_profile(f, bin_width=2.0)
    >>> g = np.indices(f.shape)
    >>> r = np.sqrt(sum((g[i] - f.shape[i] / 2) ** 2 for i in range(3)))
    >>> bins = (r / 2.0).astype(int)
    >>> np.allclose(prof, ndi.mean(f, labels=bins, index=np.arange(bins.max() + 1)))
    True
    """
    x = as_dask(image, name="image")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"`image` must be real; got dtype {x.dtype}.")
    ndim = x.ndim
    center = tuple(
        float(c)
        for c in normalize_sequence(
            tuple(s / 2 for s in x.shape) if center is None else center, ndim, "center"
        )
    )
    spacing = tuple(
        float(s) for s in normalize_sequence(1.0 if spacing is None else spacing, ndim, "spacing")
    )
    bin_width = float(bin_width)
    if not bin_width > 0:
        raise ValueError(f"`bin_width` must be positive; got {bin_width}.")
    if not all(s > 0 for s in spacing):
        raise ValueError(f"`spacing` must be positive; got {spacing}.")
    if x.size == 0:
        return np.zeros(0)
    # the farthest voxel is a corner: its bin is the last one (one spare bin for safety)
    corners = np.array(np.meshgrid(*[(0, n - 1) for n in x.shape], indexing="ij"))
    corners = corners.reshape(ndim, -1).T
    nbins = 2 + max(
        int(_radius_bins((1,) * ndim, tuple(c), center, spacing, bin_width).max()) for c in corners
    )
    p = tree_pass(
        x,
        _profile_block,
        add_merge,
        name="radial",
        with_offset=True,
        center=center,
        spacing=spacing,
        bin_width=bin_width,
        nbins=nbins,
    )
    ((sums, counts),) = run_passes(p)
    last = int(np.flatnonzero(counts)[-1]) + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[:last] / counts[:last]
