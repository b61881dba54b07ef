"""``label``: connected components across chunks, numbered exactly like scipy."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage as ndi

from bigimg._args import as_dask, resolve_output
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._errors import ArgumentError
from bigimg._labels import (
    StructureNotSymmetricError,
    label_across_blocks,
    validate_label_structure,
)

__all__ = ["StructureNotSymmetricError", "label"]

#: scipy's threshold (input size) above which ``label`` returns 64-bit labels.
_NEED_64BITS = 2**31 - 2

_docs = DocFiller(NDIMAGE)


def _max_label(dtype: np.dtype) -> int:
    """The largest count whose labels 1..count a ``dtype`` output holds exactly."""
    if dtype.kind == "b":
        return 255  # scipy writes the label bytes into the bool array
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).max)
    return 2 ** (np.finfo(dtype).nmant + 1)


def _output_dtype(x: da.Array, structure: np.ndarray, output: Any) -> np.dtype:
    shape = (1,) * x.ndim if x.size else (0,) * x.ndim
    try:
        ndi.label(np.zeros(shape, dtype=x.dtype), structure)
    except TypeError as exc:
        raise TypeError(
            f"`input` dtype must be bool, an integer or float32/float64; got {x.dtype}. "
            "Cast it, e.g. input.astype(np.float32)."
        ) from exc
    if output is None:
        return np.dtype(np.intp if x.size >= _NEED_64BITS else np.int32)

    def probe(out):
        try:
            return ndi.label(np.zeros(shape, dtype=x.dtype), structure, out)[0]
        except TypeError as exc:
            raise TypeError(
                f"`output` must be a bool, integer or float32/float64 dtype; got {out}."
            ) from exc

    return resolve_output(output, probe)


@_docs
def label(
    input: ArrayLike, structure: ArrayLike | None = None, output: DTypeLike | None = None
) -> tuple[da.Array, int]:
    """Label connected features across chunks; twin of ``scipy.ndimage.label``.

    The result equals scipy's for any chunking: the same objects with the same
    numbers (objects are numbered 1, 2, ... in raster order of their first voxel).

    Parameters
    ----------
    %(input)s
        Nonzero voxels are features, zeros background (bool, integer or float).
    structure : array_like, optional
        Connectivity: a centrosymmetric bool array of shape 3 on every axis (as for
        scipy). Default: ``generate_binary_structure(input.ndim, 1)`` (faces only).
    output : dtype or array, optional
        dtype of the labels. Default int32, or int64 (``intp``) when ``input.size >=
        2**31 - 2`` (scipy's rule). An array of ``input``'s shape is filled block by
        block and only the count is returned, as scipy.

    Returns
    -------
    label : dask.array.Array
        Lazy labels with ``input``'s chunks.
    num_features : int
        How many objects were found (computed now, see Notes).

    Raises
    ------
    TypeError
        Complex input, an unsupported dtype, or an array as ``output``.
    ValueError
        ``structure`` not 3 long on every axis, or not centrosymmetric
        (:class:`StructureNotSymmetricError`, also an ``AssertionError`` like scipy's).
    ArgumentError
        ``structure`` rank differs from ``input``'s, or the ``output`` dtype cannot
        hold ``num_features`` (scipy raises ``RuntimeError`` for both; so does this
        ``ValueError`` subclass).

    Notes
    -----
    What computes: the call labels ``input`` block by block and merges the labels that
    touch across block faces, edges and corners, to return the count; the returned
    labels are lazy: computing them labels each block a second time and paints it from
    that block's own lookup table. ``input`` must therefore give the same values each
    time it is computed (labelling twice was measured faster than storing provisional
    labels, see ``benchmarks/bench_label.py``). Blocks are labelled by a run-length
    kernel (numba, releases the GIL) that takes any structure and rank.

    Two merges give the same labels (dask config ``bigimg.label-merge``):

    * ``"tree"``: the union-find runs in a binary tree of tasks over boxes of blocks on
      the workers, scipy's numbering comes from a distributed rank over slabs of blocks,
      and each block's lookup table is built inside its paint task. Client memory and
      graph bytes grow with the number of blocks only (measured at 1024³ with 80.8 M
      objects: client peak 550 MiB, graph 1.0 MiB; see ``docs/cluster.md``).
    * ``"client"``: one task gathers an int64 table of every block-local label (8
      bytes each) and the client resolves the numbering; each block's lookup table is
      embedded in the labels' graph. Faster when there are few objects.
    * ``"auto"`` (default): ``"client"`` when at most 2**22 block-local labels are
      expected (inputs larger than that many voxels: 8 blocks spread over the grid are
      labelled at call time to estimate it), ``"tree"`` otherwise.

    Memory: one task holds one block, its bool mask, its output block and run tables
    of about 24 bytes per run of foreground voxels along the last axis (at most one
    run per foreground voxel). Measured (``benchmarks/bench_task_memory.py``, a bool
    input of blobs covering 10 %, int32 labels): the largest task, the one painting a
    block's labels, rose 4.2 bytes per voxel of its block above its input (its output
    block and the tables), for 64³ and 128³ blocks alike. The graph has O(blocks)
    tasks whatever the number of objects.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import label
    >>> a = np.array([[0, 0, 1, 1, 0, 0],
    ...               [0, 0, 0, 1, 0, 0],
    ...               [1, 1, 0, 0, 1, 0],
    ...               [0, 0, 0, 1, 0, 0]])
    >>> labels, n = label(da.from_array(a, chunks=(3, 2)), structure=np.ones((3, 3)))
    >>> n
    2
    >>> labels.compute()
    array([[0, 0, 1, 1, 0, 0],
           [0, 0, 0, 1, 0, 0],
           [2, 2, 0, 0, 1, 0],
           [0, 0, 0, 1, 0, 0]], dtype=int32)
    >>> expected, m = ndi.label(a, structure=np.ones((3, 3)))
    >>> bool((labels.compute() == expected).all()) and n == m
    True
    """
    x = as_dask(input, name="input")
    if np.iscomplexobj(np.empty(0, dtype=x.dtype)):
        raise TypeError(
            f"`input` must be real; got dtype {x.dtype} (complex type not supported). "
            "Label np.abs(input) != 0 or input.real instead."
        )
    structure = validate_label_structure(
        structure, x.ndim, check_symmetry=x.ndim > 0 and x.size > 0
    )
    dtype = _output_dtype(x, structure, output)

    if x.ndim == 0 or x.size == 0:
        if x.size == 0:
            return da.zeros(x.shape, chunks=x.chunks, dtype=dtype), 0
        count = int((x != 0).compute())
        return (x != 0).astype(dtype), count

    found = label_across_blocks(x, structure)
    if found.count > _max_label(dtype):
        raise ArgumentError(
            f"`output` dtype {dtype} cannot hold {found.count} labels (insufficient "
            "bit-depth in requested output type); pass output=np.int32 or leave "
            "output=None."
        )
    return found.labels(dtype), found.count
