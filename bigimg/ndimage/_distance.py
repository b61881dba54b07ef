"""Exact distance transforms across chunks: scipy.ndimage's three distance transforms.

``distance_transform_edt``, ``distance_transform_cdt`` and ``distance_transform_bf``
give scipy's result on the whole array for any chunking; nothing is approximated near
chunk borders. The cross-chunk engine (per-block kernels, stage graphs, exchanges through
scratch files, the chamfer slab chain) is :mod:`bigimg._distance`; this module holds the
public functions, their argument checks and their docstrings.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, check_returns, normalize_sequence, returned
from bigimg._distance import (
    bf_features,
    chamfer_chain,
    chamfer_distances,
    edt_distances,
    exact_ties_possible,
    features_to_distances,
    ft_features,
)
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._errors import ArgumentError
from bigimg._scratch import check_temp_dir

__all__ = ["distance_transform_bf", "distance_transform_cdt", "distance_transform_edt"]

_TAXICAB = ("taxicab", "cityblock", "manhattan")
#: distance_transform_bf's value where there is no background at all.
_BF_NO_BACKGROUND_FLOAT = math.sqrt(sys.float_info.max)
_BF_NO_BACKGROUND_UINT = np.iinfo(np.uint32).max

#: Parameter and result texts the three transforms share.
_docs = DocFiller(
    NDIMAGE,
    flags="""
        return_distances : bool, optional
            Return the distance transform. Default True.
        return_indices : bool, optional
            Return the feature transform (coordinates of the nearest background voxel).
            Default False.
        distances, indices : array, optional
            Arrays to fill instead of returning the result (scipy's dtypes: float64,
            int32 or uint32 distances as the result's, int32 indices; numpy,
            ``np.memmap`` or zarr), block by block. What was filled is not returned:
            as scipy, the function returns the rest (a tuple, one array, or None).""",
    indices_result="""
        indices : dask array of int32, optional
            Shape ``(input.ndim,) + input.shape``, chunked like ``input`` along the spatial
            axes and one chunk along the first axis.""",
)


# --------------------------------------------------------------------------------------
# argument checks (all run before any graph is built)
# --------------------------------------------------------------------------------------
def _as_input(input: Any) -> da.Array:
    x = as_dask(input)
    if x.dtype.kind not in "biufc":
        raise TypeError(f"`input` must be a numeric or boolean array; got dtype {x.dtype}.")
    if any(math.isnan(c) for chunks in x.chunks for c in chunks):
        raise ValueError(
            "`input` must have known chunk sizes; got unknown (nan) chunks. Call "
            "input.compute_chunk_sizes() first."
        )
    if x.size and any(0 in chunks for chunks in x.chunks):
        # empty chunks (e.g. from slicing) carry no voxels; the engines plan per chunk
        x = x.rechunk(tuple(tuple(c for c in chunks if c) for chunks in x.chunks))
    return x


def _normalize_sampling(sampling: Any, ndim: int) -> tuple[float, ...] | None:
    if sampling is None:
        return None
    values = normalize_sequence(sampling, ndim, "sampling")
    out = []
    for v in values:
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            raise TypeError(f"`sampling` must hold real numbers; got {v!r}.")
        v = float(v)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(
                f"`sampling` entries must be positive and finite (a voxel spacing); got {v}."
            )
        out.append(v)
    return tuple(out)


def _structure_offsets(structure: np.ndarray) -> np.ndarray:
    """Offsets of the structure's elements before its centre, in raveled order.

    scipy's chamfer reads only these elements (the first half of the structure).
    """
    flat = structure.ravel()
    half = [j for j in range(flat.size // 2) if flat[j]]
    offsets = np.array(np.unravel_index(np.array(half, np.intp), structure.shape), np.int64).T - 1
    return np.ascontiguousarray(offsets.reshape(len(half), structure.ndim))


def _cdt_structure(metric: Any, ndim: int) -> np.ndarray:
    if isinstance(metric, str):
        if metric in _TAXICAB:
            return ndi.generate_binary_structure(ndim, 1)
        if metric == "chessboard":
            return ndi.generate_binary_structure(ndim, ndim)
        raise ValueError(
            "invalid metric provided: `metric` must be 'chessboard', 'taxicab' "
            f"('cityblock', 'manhattan') or a structure array with every side 3; got {metric!r}."
        )
    try:
        structure = np.asarray(metric)
    except Exception as exc:  # noqa: BLE001 - anything that is not array-like
        raise TypeError(f"`metric` must be a string or an array; got {metric!r}.") from exc
    if structure.dtype.kind not in "biuf":
        raise TypeError(f"`metric` array must be boolean or numeric; got dtype {structure.dtype}.")
    if any(s != 3 for s in structure.shape):
        raise ValueError(f"`metric` sizes must be equal to 3; got shape {structure.shape}.")
    if structure.ndim != ndim:
        raise ValueError(
            f"`metric` must have the input's rank ({ndim}); got a {structure.ndim}-d "
            "structure. Build one with scipy.ndimage.generate_binary_structure(input.ndim, c)."
        )
    # scipy's C pass reads the array's first ``size`` BYTES as booleans whatever its
    # dtype (ones((3, 3)) of float64 has nonzero bytes only at 6 and 7): so do we
    raw = np.frombuffer(np.ascontiguousarray(structure).tobytes(), dtype=np.uint8)
    return (raw[: structure.size] != 0).reshape(structure.shape)


def _bf_metric(metric: Any) -> str:
    if not isinstance(metric, str):
        raise TypeError(f"`metric` must be a string; got {type(metric).__name__}.")
    name = metric.lower()
    if name == "euclidean" or name == "chessboard":
        return name
    if name in _TAXICAB:
        return "taxicab"
    raise ArgumentError(
        "`metric` must be 'euclidean', 'taxicab' ('cityblock', 'manhattan') or "
        f"'chessboard'; got {metric!r}."
    )


def _empty(x: da.Array, ddtype) -> tuple[da.Array, da.Array]:
    dist = da.zeros(x.shape, chunks=x.chunks, dtype=ddtype)
    ind = da.zeros((x.ndim,) + x.shape, chunks=((x.ndim,),) + x.chunks, dtype=np.int32)
    return dist, ind


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------
@_docs
def distance_transform_edt(
    input: ArrayLike,
    sampling: float | Sequence[float] | None = None,
    return_distances: bool = True,
    return_indices: bool = False,
    distances: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    *,
    temp_dir: str | os.PathLike[str] | None = None,
) -> da.Array | tuple[da.Array, da.Array]:
    """Exact Euclidean distance transform across chunks (twin of ``scipy.ndimage``'s).

    Every non-zero voxel gets its distance to the nearest zero (background) voxel of
    the whole array, whatever the chunking; ``return_indices`` gives the coordinates of
    that voxel, with scipy's choice among equally near ones.

    Parameters
    ----------
    %(input)s
        Values equal to 0 are background.
    sampling : float or sequence of float, optional
        Voxel spacing along each axis (one value for all axes, or one per axis).
        Default: 1 for every axis.
    %(flags)s
    temp_dir : str or os.PathLike, optional
        Keyword-only. Where the exchanges between passes spill when the input's layers
        are big (see Notes): an existing directory or an fsspec URL prefix
        (``s3://bucket/tmp``, ``gs://...``; storage options from ``dask.config``'s
        ``"bigimg.scratch-options"``), one object per exchanged piece there. Default:
        the scratch space, ``dask.config``'s ``"bigimg.scratch"``, else dask's
        ``"temporary-directory"``, else the system's temporary directory. On a
        cluster every worker must reach it: a shared filesystem, or an object store
        when the machines share no disk.

    Returns
    -------
    distances : dask array of float64, optional
        Same shape and chunks as ``input``.
    %(indices_result)s

    Raises
    ------
    TypeError
        ``distances`` or ``indices`` not an array; non-numeric input or sampling;
        ``temp_dir`` is not a path.
    ValueError
        ``sampling`` has the wrong length or a non-positive entry; both returns are
        False, or a given array of the wrong dtype or shape
        (:class:`bigimg.ArgumentError`, also a ``RuntimeError`` like scipy's);
        ``temp_dir`` is not an existing directory.

    Notes
    -----
    The squared distance is separable (Felzenszwalb & Huttenlocher; Maurer et al. for
    the feature transform, which is scipy's algorithm), and bigimg runs scipy's passes
    in scipy's order, each over whole lines, so the result does not depend on the
    chunks:

    * axis 0 runs in the input's own chunks. A block needs from the rest of its column
      only the nearest background above and below it; a summary pass (first and last
      background row of each column of each block: two small 2-d arrays per block)
      and a scan along the column of blocks provide it. No halo, no rechunk. The
      result is kept as a 2-byte index (4 bytes if axis 0 has 32768 voxels or more);
    * the other axes run in stages of whole lines: for a 384³ volume in 128³ chunks
      one stage of whole planes a few voxels thick, and one axis at a time ("pencils")
      when a plane exceeds the task budget. Blocks hold at most ``max(largest input
      chunk, longest axis, 4096)`` voxels (the task budget) and are thin along axis 0.

    Between the passes the state is exchanged between chunkings: the 2-byte axis-0
    result once into the first stage, 8 bytes per voxel (float64 squared distances;
    int32 coordinates, 4 bytes per processed axis, for the indices) into each further
    stage, and the result once back into the input's chunks. No task grows with the
    plane (tested on lazy 256 x 2048² volumes in 128³ chunks): a stage task holds its
    block of the state in and out plus line buffers, 16 bytes per voxel of its block
    for distances (two float64 blocks: 16x a bool input block) and 20 with indices;
    the last task, which turns the features into float64 distances and intp indices
    (32 bytes per voxel of output in 3-D), 40 bytes per voxel (measured on a bool
    input in 64³ and 128³ chunks, ``benchmarks/bench_task_memory.py``). Each exchange
    is all-to-all within a layer (the thickest input chunk along axis 0, the whole
    plane wide): no output chunk of a layer is complete before every pass has run over
    the whole layer.

    Memory. When a layer of the state is small (at most 8 task budgets of float64 and
    at most 64 MiB), the exchanges are dask rechunks in memory, and the scheduler may
    hold a layer of the state, or more. Otherwise every exchange goes through disk:
    each block of a stage writes the pieces that the blocks of the next stage (or the
    output chunks) need into their files in a fresh directory under ``temp_dir``, and
    each of those blocks reads its file and deletes it; the first stage of a layer
    starts only once the layer before has written its last exchange. Then no task
    holds more than its own block, and peak memory is a few task budgets per worker
    thread, whatever the plane and the depth. Measured
    (``benchmarks/bench_distance.py``), streaming the result to zarr with 2 threads:
    a lazy 64 x 2048² volume in 64³ chunks peaked at 0.39 GiB RSS (0.16 GiB above the
    start; 2.7 GiB before the exchanges went to disk), a lazy 256 x 1024² volume in
    64³ chunks at 0.32 GiB (2.5 GiB before), and a 384³ volume in 128³ chunks 75 MB
    above the input in memory (0.39 GB before), no slower. The files cost some time:
    the 64 x 2048² transform took about 30 % longer (10-15 % more CPU time) than
    with in-memory exchanges.

    Disk: the axis-0 result of the whole volume (2 bytes per voxel; it is produced
    column by column, through every layer) plus about two layers of the state
    (8 bytes per voxel of a layer for distances): 2.0 GiB at most for the 64 x 2048²
    volume (one layer), 0.9 GiB for the 256 x 1024² one (2 GiB of float64 in all).
    The directory is removed once every file has been read, at once when a task of
    the transform fails, and otherwise when the graph is garbage collected or Python
    exits; files for blocks that a partial computation (a slice of the result) never
    reads stay until then. Every file is read once: a block that must be computed a
    second time in the same run (a distributed worker was lost after it had read its
    file) raises a ``RuntimeError`` saying so, and the computation must be re-run.
    Nothing is computed eagerly.

    Distances are exact: with unit or integer ``sampling`` they are bit-identical to
    scipy's; otherwise they agree to rounding (they are summed in scipy's order).
    Indices use scipy's floating point comparisons and tie-breaking, so they equal
    scipy's. Without any background, scipy's feature is ``(-1, 0, ..., 0)`` for every
    voxel and its distance is measured to that point; bigimg returns the same. A 0-d
    input is treated as 1-d, as scipy does. ``sampling`` must be positive (scipy
    accepts zero or negative spacings and then gives meaningless results).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import distance_transform_edt
    >>> a = np.array([[0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1],
    ...               [0, 1, 1, 1, 0], [0, 1, 1, 0, 0]])
    >>> x = da.from_array(a, chunks=2)
    >>> d, i = distance_transform_edt(x, sampling=(2, 1), return_indices=True)
    >>> d.chunks, i.chunks
    (((2, 2, 1), (2, 2, 1)), ((2,), (2, 2, 1), (2, 2, 1)))
    >>> d_ref, i_ref = ndi.distance_transform_edt(a, sampling=(2, 1), return_indices=True)
    >>> bool(np.array_equal(d.compute(), d_ref) and np.array_equal(i.compute(), i_ref))
    True
    """
    check_returns(return_distances, return_indices, distances, indices)
    check_temp_dir(temp_dir)
    x = _as_input(input)
    if x.ndim == 0:
        x = x.reshape((1,))
    samp = _normalize_sampling(sampling, x.ndim)
    if x.size == 0:
        return returned(
            *_empty(x, np.float64), return_distances, return_indices, distances, indices
        )
    mask = x != 0
    dist = ind = None
    if return_indices:
        ind = ft_features(mask, samp or (1.0,) * x.ndim, temp_dir)
        if return_distances:
            dist = features_to_distances(ind, samp)
    else:
        dist = edt_distances(mask, samp or (1.0,) * x.ndim, temp_dir=temp_dir)
    return returned(dist, ind, return_distances, return_indices, distances, indices)


@_docs
def distance_transform_cdt(
    input: ArrayLike,
    metric: str | ArrayLike = "chessboard",
    return_distances: bool = True,
    return_indices: bool = False,
    distances: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    *,
    temp_dir: str | os.PathLike[str] | None = None,
) -> da.Array | tuple[da.Array, da.Array]:
    """Chamfer distance transform across chunks (twin of ``scipy.ndimage``'s).

    Every non-zero voxel gets the number of structure steps to the nearest zero
    (background) voxel, exactly as scipy's two-pass chamfer computes it on the whole
    array; ``return_indices`` gives the coordinates of that background voxel.

    Parameters
    ----------
    %(input)s
        Values equal to 0 are background. At least one dimension.
    metric : {'chessboard', 'taxicab', 'cityblock', 'manhattan'} or array_like, optional
        'taxicab' uses ``generate_binary_structure(ndim, 1)``, 'chessboard'
        ``generate_binary_structure(ndim, ndim)``; or a structure with every side 3 and
        the input's rank (non-zero elements are neighbours). Default 'chessboard'.
    %(flags)s
    temp_dir : str or os.PathLike, optional
        Keyword-only. Where the scan's slabs and the exchanges spill (see Notes): an
        existing directory or an fsspec URL prefix (``s3://bucket/tmp``, ``gs://...``;
        storage options from ``dask.config``'s ``"bigimg.scratch-options"``).
        Default: the scratch space, ``dask.config``'s ``"bigimg.scratch"``, else
        dask's ``"temporary-directory"``, else the system's temporary directory. On a
        cluster every worker must reach it: a shared filesystem, or an object store
        when the machines share no disk. The ``.npy`` slab files of the Notes are for
        a local directory only; under a URL each slab is a pair of raw objects and
        each exchanged piece one object.

    Returns
    -------
    distances : dask array of int32, optional
        Same shape and chunks as ``input``; -1 where no background can be reached.
    %(indices_result)s

    Raises
    ------
    TypeError
        ``distances`` or ``indices`` not an array; ``metric`` of a wrong kind.
    ValueError
        Unknown metric name, a structure side other than 3 or of the wrong rank,
        0-d input, both returns False, or a given array of the wrong dtype or shape
        (:class:`bigimg.ArgumentError`).

    Notes
    -----
    Two exact schemes:

    * 'taxicab' and 'chessboard' distances (and structures whose first half equals
      theirs) without indices: scipy's chamfer gives exactly the L1 and L∞ distance to
      the nearest background, which are separable min-plus transforms (the chessboard
      pass is Meijster's linear-time one). They run in parallel exactly like
      :func:`distance_transform_edt` (same task budget, same exchanges, through
      temporary files under ``temp_dir`` when layers are big), with a 4-byte integer
      state: a stage task holds about 9 bytes per voxel of its block (measured,
      chessboard, ``benchmarks/bench_task_memory.py``).
    * indices, or any other structure: scipy's result depends on its raster scan order
      (the choice among equally near voxels; and with some structures two scans leave
      reachable voxels at -1, so iterating blockwise chamfer passes to convergence
      would *not* give scipy's result). bigimg runs the same forward and backward
      scans slab by slab, each slab seeded with the neighbouring slab's edge plane. A
      slab holds whole planes (all axes but the first), at least one plane, and at
      most the task budget when planes are small. The scans are sequential (no
      parallelism, about half scipy's speed). The backward scan needs the forward
      result of every slab, so it is written to disk: a fresh directory under
      ``temp_dir`` gets one ``.npy`` pair per slab (12 bytes per voxel in all),
      each deleted as the backward scan reads it; the directory is removed after the
      last slab, when a scan task fails, and otherwise when the graph is garbage
      collected or Python exits. Cutting the input's chunks into slabs and the
      slabs' results into output chunks are exchanges within a layer of chunks, made
      in memory when a layer is small and otherwise through temporary files as in
      :func:`distance_transform_edt` (same conditions and limits); the backward scan
      of a slab waits until the results of the slab after it are on disk. Peak
      memory is then a few slabs: 0.74 GiB RSS for a lazy 64 x 2048² volume in 64³
      chunks, distances and indices streamed to zarr (4.9 GiB before;
      ``benchmarks/bench_distance.py --layer``), with at most 4.0 GiB of temporary
      files. If only one of the two results of ``return_indices=True`` is computed,
      the other's files stay until the graph is dropped.

    Nothing is computed eagerly.

    Both give scipy's distances and indices exactly. scipy reads a non-boolean
    ``metric`` array's raw bytes as booleans (and crashes on a structure of the wrong
    rank); bigimg uses ``metric != 0`` and raises on the wrong rank.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import distance_transform_cdt
    >>> a = np.array([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    >>> d = distance_transform_cdt(da.from_array(a, chunks=2), metric="taxicab")
    >>> d.compute()
    array([[0, 1, 2, 3, 2],
           [1, 2, 3, 2, 1],
           [2, 3, 2, 1, 0]], dtype=int32)
    >>> bool(np.array_equal(d.compute(), ndi.distance_transform_cdt(a, metric="taxicab")))
    True
    """
    check_returns(return_distances, return_indices, distances, indices)
    check_temp_dir(temp_dir)
    x = _as_input(input)
    if x.ndim == 0:
        raise ValueError("`input` must have at least one dimension; got a 0-d array.")
    structure = _cdt_structure(metric, x.ndim)
    if x.size == 0:
        return returned(*_empty(x, np.int32), return_distances, return_indices, distances, indices)
    mask = x != 0
    offsets = _structure_offsets(structure)
    if not return_indices:
        kind = _separable_kind(offsets, x.ndim)
        if kind is not None:
            dist = chamfer_distances(mask, kind, temp_dir=temp_dir)
            return returned(dist, None, True, False, distances, None)
    dist, ind = chamfer_chain(
        mask, offsets, temp_dir, distances=return_distances, features=return_indices
    )
    return returned(dist, ind, return_distances, return_indices, distances, indices)


def _separable_kind(offsets: np.ndarray, ndim: int) -> str | None:
    """'taxicab' or 'chessboard' if the chamfer reads exactly their structure's elements."""
    for kind, rank in (("taxicab", 1), ("chessboard", ndim)):
        ref = _structure_offsets(ndi.generate_binary_structure(ndim, rank))
        if np.array_equal(offsets, ref):
            return kind
    return None


@_docs
def distance_transform_bf(
    input: ArrayLike,
    metric: str = "euclidean",
    sampling: float | Sequence[float] | None = None,
    return_distances: bool = True,
    return_indices: bool = False,
    distances: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    *,
    temp_dir: str | os.PathLike[str] | None = None,
) -> da.Array | tuple[da.Array, da.Array]:
    """Exact distance transform for a metric (twin of ``scipy.ndimage``'s brute force).

    Every non-zero voxel gets its distance to the nearest zero (background) voxel in
    the chosen metric. scipy computes this by brute force; the results are the exact
    transforms, so bigimg computes them with :func:`distance_transform_edt` (Euclidean)
    and the separable city-block and chessboard transforms.

    Parameters
    ----------
    %(input)s
        Values equal to 0 are background.
    metric : {'euclidean', 'taxicab', 'cityblock', 'manhattan', 'chessboard'}, optional
        Case-insensitive. Default 'euclidean'.
    sampling : float or sequence of float, optional
        Voxel spacing per axis; used by the Euclidean metric only (but checked always,
        as scipy does).
    %(flags)s
    temp_dir : str or os.PathLike, optional
        Keyword-only. Where the transforms spill (see Notes): an existing directory or
        an fsspec URL prefix (``s3://bucket/tmp``, ``gs://...``; storage options from
        ``dask.config``'s ``"bigimg.scratch-options"``). Default: the scratch space,
        ``dask.config``'s ``"bigimg.scratch"``, else dask's ``"temporary-directory"``,
        else the system's temporary directory. On a cluster every worker must reach
        it: a shared filesystem, or an object store when the machines share no disk.
        The chamfer scans' ``.npy`` slab files are for a local directory only; under
        a URL each slab is a pair of raw objects.

    Returns
    -------
    distances : dask array, optional
        float64 for 'euclidean', uint32 otherwise; same shape and chunks as ``input``.
    %(indices_result)s

    Raises
    ------
    TypeError
        ``distances`` or ``indices`` not an array; ``metric`` not a string.
    ValueError
        Unknown metric or bad ``sampling`` (:class:`bigimg.ArgumentError`, also a
        ``RuntimeError`` like scipy's); both returns False; a given array of the
        wrong dtype or shape.

    Notes
    -----
    Distances are computed by the exact separable transforms: memory, data movement
    and temporary files (under ``temp_dir``) are those of
    :func:`distance_transform_edt` ('euclidean') and of the parallel path of
    :func:`distance_transform_cdt` (other metrics). They equal scipy's (Euclidean:
    to rounding, bit-identical with unit or integer sampling). Without any background
    scipy returns ``sqrt(DBL_MAX)`` (Euclidean) or ``2**32 - 1`` with indices 0, and so
    does bigimg. Nothing is computed eagerly.

    Indices: among equally near background voxels scipy's brute force keeps the one
    last in C order (largest flat index). For 'taxicab', and for 'euclidean' with unit
    or integer ``sampling``, that choice minimises the separable key (distance, -flat
    index), which bigimg computes exactly with integer arithmetic in the stages of
    :func:`distance_transform_edt` (the first stage stores a 2-byte index, later ones 4
    bytes per voxel and processed axis): the indices equal scipy's. For 'chessboard'
    the key is not separable (the distance is a maximum over axes); scipy's choice is
    then the background voxel last in C order within the box of the voxel's distance,
    which bigimg finds on blocks extended by the largest distance of the volume: the
    mask is written block by block to scratch space under ``temp_dir`` (one byte per
    voxel) while that largest distance is computed, then each block's task reads its
    block grown by that distance on every side and holds ``ndim + 2`` int32 values
    per voxel of it. The indices equal scipy's. For
    'euclidean' with non-integer sampling (scipy's ties then depend on rounding),
    bigimg returns the voxel :func:`distance_transform_edt` finds: a nearest
    background voxel, at exactly the same distance, but where there are several it
    may differ from scipy's.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import distance_transform_bf
    >>> a = np.array([[0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]])
    >>> x = da.from_array(a, chunks=2)
    >>> bool(np.array_equal(distance_transform_bf(x).compute(), ndi.distance_transform_bf(a)))
    True
    >>> distance_transform_bf(x, metric="chessboard").compute()
    array([[0, 1, 2, 2],
           [1, 1, 1, 1],
           [2, 2, 1, 0]], dtype=uint32)
    """
    check_returns(return_distances, return_indices, distances, indices)
    check_temp_dir(temp_dir)
    name = _bf_metric(metric)
    x = _as_input(input)
    samp = _normalize_sampling(sampling, x.ndim)
    ddtype = np.float64 if name == "euclidean" else np.uint32
    fill = _BF_NO_BACKGROUND_FLOAT if name == "euclidean" else _BF_NO_BACKGROUND_UINT
    if x.ndim == 0:
        dist = da.where(x != 0, fill, 0).astype(ddtype)
        ind = da.zeros((0,), dtype=np.int32)
        return returned(dist, ind, return_distances, return_indices, distances, indices)
    if x.size == 0:
        return returned(*_empty(x, ddtype), return_distances, return_indices, distances, indices)
    mask = x != 0
    dist = ind = None
    if return_indices:
        if exact_ties_possible(name, samp, x.shape):
            ind = bf_features(mask, name, samp, temp_dir)
        else:  # euclidean with non-integer sampling: scipy's ties follow its rounding
            ind = ft_features(mask, samp or (1.0,) * x.ndim, temp_dir)
        unreached = ind[0] < 0
    if return_distances:
        if name != "euclidean":
            dist = chamfer_distances(mask, name, fill=fill, temp_dir=temp_dir)
        elif return_indices:
            dist = features_to_distances(ind, samp, fill=fill)
        else:
            dist = edt_distances(mask, samp or (1.0,) * x.ndim, fill=fill, temp_dir=temp_dir)
    if return_indices:
        ind = _bf_no_background_indices(ind, unreached)
    return returned(dist, ind, return_distances, return_indices, distances, indices)


def _zero_unreached(feat, reached):
    out = feat.copy()
    out[:, reached] = 0
    return out


def _bf_no_background_indices(ind: da.Array, reached_mask: da.Array) -> da.Array:
    """scipy's bf points every voxel to index 0 when there is no background."""
    return da.map_blocks(_zero_unreached, ind, reached_mask, dtype=np.int32)
