"""``watershed_ift``: scipy's image foresting transform on volumes larger than memory.

scipy's algorithm is sequential (see :func:`watershed_ift`'s Notes), so this is not a
chunk-parallel scheme: the blocks are streamed into a file on disk, one task runs
scipy's algorithm over that file (memory-mapped, in bursts that keep resident memory
bounded) and the result is read back block by block. That is the watershed engine,
:mod:`bigimg._watershed` (kernel, tasks and graph); this module checks the arguments.
"""

from __future__ import annotations

import os
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from bigimg._args import as_dask
from bigimg._docs import NDIMAGE, DocFiller
from bigimg._errors import ArgumentError
from bigimg._labels import validate_label_structure
from bigimg._scratch import check_temp_dir
from bigimg._watershed import watershed_on_disk

__all__ = ["watershed_ift"]

#: The marker and output types scipy's ``watershed_ift`` accepts (compared by ``.type``).
_LABEL_TYPES = (np.int8, np.int16, np.int32, np.int64, np.intc, np.intp)
#: scipy's limit on the rank (``WS_MAXDIM``).
_MAX_RANK = 7

_docs = DocFiller(NDIMAGE)


@_docs
def watershed_ift(
    input: ArrayLike,
    markers: ArrayLike,
    structure: ArrayLike | None = None,
    output: DTypeLike | None = None,
    *,
    temp_dir: str | os.PathLike | None = None,
) -> da.Array:
    """Watershed from markers by the image foresting transform; twin of scipy's.

    Gives exactly ``scipy.ndimage.watershed_ift``'s labels for any chunking, on
    volumes larger than memory (the work happens on disk, see Notes).

    Parameters
    ----------
    %(input)s
        The image to flood (e.g. a gradient magnitude), uint8 or uint16 (scipy's
        limit). The cost of a path is the largest absolute difference between
        neighbouring values along it.
    markers : array_like or dask array
        Same shape as ``input``, a signed integer dtype (int8, int16, int32, int64, as
        scipy). Nonzero voxels are the seeds; negative markers are processed after
        the positive ones (background markers). scipy reads markers as 32-bit C
        ``int`` (int64 markers wrap), and so does this.
    structure : array_like, optional
        Connectivity: an array of the input's rank with 3 on every axis (nonzero
        elements are neighbours). Default ``generate_binary_structure(input.ndim, 1)``.
    output : dtype or array, optional
        dtype of the labels: int8, int16, int32 or int64. Default ``markers.dtype``.
        The labels equal what scipy writes into an ``output`` array of that dtype
        (scipy itself ignores a dtype here and returns ``markers.dtype``). An array
        of ``input``'s shape is filled block by block and returned, as scipy.
    temp_dir : str or os.PathLike, optional
        Keyword-only. Where the state spills (see Notes), for this call: an existing
        directory or an fsspec URL prefix (``s3://bucket/tmp``, ``gs://...``; storage
        options from ``dask.config``'s ``"bigimg.scratch-options"``). Default: the
        scratch space, ``dask.config``'s ``"bigimg.scratch"``, else dask's
        ``"temporary-directory"``, else the system's temporary directory. On a
        cluster of several machines: a filesystem every worker sees, or an object
        store when they share no disk. The one mapped file of the Notes is for a
        directory; under a URL each block's records and labels are one object, and
        the solve task assembles the state in memory or, over its budget, in a file
        under its own worker's temporary directory.

    Returns
    -------
    labels : dask.array.Array
        Lazy labels with ``input``'s chunks (numpy input gets dask's automatic
        chunks), ``markers``' chunks being aligned to them.

    Raises
    ------
    TypeError
        ``input`` not uint8/uint16, an array as ``output``, or ``temp_dir`` not a path.
    ArgumentError
        ``markers`` of another shape or not a signed integer type, ``structure`` of
        another rank or not 3 long on every axis, an ``output`` dtype that is not a
        signed integer, more than 7 dimensions (scipy raises ``RuntimeError`` for all
        of these; so does this ``ValueError`` subclass).
    ValueError
        ``temp_dir`` (or the ``"bigimg.scratch"`` setting) is not an existing
        directory.

    Notes
    -----
    **Why it is sequential.** scipy floods from the markers with a bucket queue over
    the cost levels 0 to ``input.max()``. Within a level the order is LIFO for
    voxels reached from positive markers and FIFO for negative ones, and ties go to
    whichever voxel was popped first; neighbours are found on the flat index (they
    wrap around row and plane ends) and scipy's list bookkeeping has quirks (a voxel
    alone in its level is not unlinked when it moves on) that drop or reorder queued
    voxels. Where two basins meet, the label a voxel gets therefore depends on the
    global pop order over the whole volume, which no chunk-parallel scheme
    reproduces. So the algorithm runs once, in scipy's order, over the whole volume
    (:mod:`bigimg._watershed._kernel`, checked against scipy on many thousand
    random arrays).

    **What computes.** Nothing at call time. Computing the result runs one task per
    block writing its input and markers into a file on disk, one solve task (numba,
    releases the GIL) and one task per block reading its labels back.

    **Disk.** One file in a fresh directory under ``temp_dir`` (or the scratch space),
    one packed record per voxel: two queue links (4 bytes each; 8 from 2**31 - 1 voxels
    on), the label (the output's itemsize), the cost (2 bytes for uint8 input, 4 for
    uint16) and the input value (1 or 2 bytes). That is 15 bytes per voxel for uint8
    input and int32 labels (6.3 GiB for 768³), 18 for uint16 input. The records are in C
    order when they fit in the solve's budget (see Memory) as the graph is built,
    otherwise in bricks of 8 x 8 x 8 voxels so that neighbours along every axis share
    pages of the mapped file; each axis is then padded to whole bricks (by at most an
    eighth). After an in-memory solve (see Memory) only the labels stay on disk (4 bytes
    per voxel for int32). The directory is removed once every block of the result has
    been read, at once when a task fails, and otherwise when the graph is garbage
    collected or the interpreter exits (whatever an interrupted or partial computation
    left).

    **Memory.** Write and read tasks hold one block and map at most 32 MiB of a file
    at a time; mapped pages count as resident memory (measured with uint8 input and
    int32 markers, ``benchmarks/bench_task_memory.py``: a write task rose 14 bytes per
    voxel of its block, a read task 20). The solve task has a resident budget: a
    quarter of the memory (the worker's memory limit on dask.distributed, else the
    machine's RAM), at least 256 MiB, which is more than half a 500 MB worker (set
    ``bigimg.watershed-resident-bytes`` lower there). When the records fit in it, the
    solve reads them into memory and floods them there, holding the records plus the
    queue heads (16 bytes per input level, at most 1 MiB): 15 bytes per voxel of the
    whole volume (measured: 244 MiB for 256³ uint8). Otherwise it maps the file and
    floods it in place in short bursts (256 pops up to a 1 GiB budget, 1,024 for 4
    GiB, at most 8,192), dropping its mapped pages (``madvise(MADV_DONTNEED)``; not on
    Windows) whenever the process's resident memory has grown by more than the budget: measured, it stays within
    1.4 times the budget. The file then lives in the page cache, which the operating
    system manages and writes back to disk.

    **Time.** The solve pops every voxel once in scipy's order. In memory it runs at
    scipy's speed: 256³ uint8 smoothed noise with 1000 markers took 7.2 s (5.5 s of
    it the solve) against scipy's 6.6 s, and 768³ (6.3 GiB of records) 281 s, 173 s
    of it the solve (0.38 µs per voxel), on 2 cores shared with other work. Flooding
    a file several times larger than the budget is much slower: the flood visits the
    basins' borders across the whole volume at every level, so bursts keep faulting
    pages in again, and the operating system keeps writing the dirty pages back. At
    512³ with a 256 MiB budget (a 1.9 GiB file) the solve took 2.9 µs per voxel
    (104 million page faults, 69 GiB written back), with the solve's resident memory
    peaking 289 MiB above its start (C-order records). Bricks cut the page faults:
    at 256³ with a 32 MiB budget the solve took 18.5 s in bricks against 29.0 s in C
    order (6.5 against 11.5 million page faults). See ``benchmarks/bench_watershed.py``.

    **Distributed.** ``temp_dir`` (or the ``bigimg.scratch`` setting) is either a
    directory every worker sees or an object-store prefix (``s3://bucket/tmp``). On an
    object store there is no shared file: each block's records and labels are one
    object, and the solve task assembles the flood in memory or, over
    ``bigimg.watershed-resident-bytes``, in a file under its own worker's temporary
    directory. Read tasks find the scratch gone if one of them runs again after the
    last block was read (a worker lost after that point); the computation then fails
    with a ``FileNotFoundError`` saying so, and must be run again.

    scipy computes byte offsets in 32-bit ``int``; on inputs or outputs of more than
    2 GiB scipy's own result is undefined. bigimg uses 64-bit indices throughout.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy import ndimage as ndi
    >>> from bigimg.ndimage import watershed_ift
    >>> image = np.array([[0, 0, 0, 0, 0, 0, 0],
    ...                   [0, 1, 1, 1, 1, 1, 0],
    ...                   [0, 1, 0, 0, 0, 1, 0],
    ...                   [0, 1, 0, 0, 0, 1, 0],
    ...                   [0, 1, 1, 1, 1, 1, 0],
    ...                   [0, 0, 0, 0, 0, 0, 0]], dtype=np.uint8)
    >>> markers = np.zeros(image.shape, dtype=np.int8)
    >>> markers[2, 3], markers[0, 0] = 1, -1
    >>> labels = watershed_ift(da.from_array(image, chunks=(3, 4)), markers)
    >>> labels.chunks  # the input's
    ((3, 3), (4, 3))
    >>> labels.compute()  # the ring's corners cost 1 from both; the background came first
    array([[-1, -1, -1, -1, -1, -1, -1],
           [-1, -1,  1,  1,  1, -1, -1],
           [-1,  1,  1,  1,  1,  1, -1],
           [-1,  1,  1,  1,  1,  1, -1],
           [-1, -1,  1,  1,  1, -1, -1],
           [-1, -1, -1, -1, -1, -1, -1]], dtype=int8)
    >>> bool((labels.compute() == ndi.watershed_ift(image, markers)).all())
    True
    """
    x = as_dask(input, name="input")
    if x.dtype.type not in (np.uint8, np.uint16):
        raise TypeError(
            f"`input` must be uint8 or uint16 (scipy's watershed_ift supports only "
            f"those); got {x.dtype}. Rescale it, e.g. with bigimg.stats.rescale_intensity "
            "and .astype(np.uint16)."
        )
    structure = validate_label_structure(structure, x.ndim, check_symmetry=False)
    m = as_dask(markers, name="markers")
    if m.shape != x.shape:
        raise ArgumentError(f"`markers` must have the shape of `input` {x.shape}; got {m.shape}.")
    if m.dtype.type not in _LABEL_TYPES:
        raise ArgumentError(
            "`markers` must have a signed integer dtype (int8, int16, int32 or int64, as "
            f"scipy requires); got {m.dtype}. Cast it, e.g. markers.astype(np.int32)."
        )
    dtype = _output_dtype(output, m.dtype)
    if x.ndim > _MAX_RANK:
        raise ArgumentError(
            f"`input` may have at most {_MAX_RANK} dimensions (scipy's limit); got {x.ndim}."
        )
    check_temp_dir(temp_dir)

    if x.size == 0:
        return da.zeros(x.shape, chunks=x.chunks, dtype=dtype)
    return watershed_on_disk(x, m.rechunk(x.chunks), structure, dtype, temp_dir=temp_dir)


def _output_dtype(output: Any, markers: np.dtype) -> np.dtype:
    if isinstance(output, np.ndarray | da.Array):
        raise TypeError(
            "`output` must be a dtype (e.g. np.int32) or None; got an array. bigimg "
            "returns a lazy dask array, so it cannot write into one: pass "
            "output=arr.dtype and store the result with bigimg.save_zarr or da.store."
        )
    if output is None:
        return markers
    try:
        dtype = np.dtype(output)
    except TypeError as exc:
        raise TypeError(f"`output` must be a dtype or None; got {output!r}.") from exc
    if dtype.type not in _LABEL_TYPES:
        raise ArgumentError(
            "`output` must be a signed integer dtype (int8, int16, int32 or int64, as "
            f"scipy requires of an output array); got {dtype}."
        )
    return dtype
