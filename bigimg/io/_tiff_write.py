"""Streaming TIFF / OME-TIFF writer: pages in order, one slab of planes in memory."""

from __future__ import annotations

import numbers
import os

import numpy as np
import tifffile

from bigimg._args import as_dask
from bigimg._atomic import commit, discard_on_error, prepare_output, resolve_progress
from bigimg.io._reader import check_path

__all__ = ["TIFF_DTYPES", "save_tiff"]

#: dtypes a TIFF holds exactly (sample format and bits per sample).
TIFF_DTYPES = tuple(
    np.dtype(t)
    for t in (
        "bool",
        "u1",
        "u2",
        "u4",
        "u8",
        "i1",
        "i2",
        "i4",
        "i8",
        "f2",
        "f4",
        "f8",
        "c8",
        "c16",
    )
)
_OME_AXES = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}
_BIGTIFF_ABOVE = 2**32 - 2**25  # classic TIFF offsets are 32-bit; keep room for tags


def _check_tiff_dtype(dtype: np.dtype) -> None:
    if dtype.newbyteorder("=") not in TIFF_DTYPES:
        held = ", ".join(str(t) for t in TIFF_DTYPES)
        raise TypeError(
            f"`array` dtype {dtype} cannot be stored in a TIFF file, which holds only {held}; "
            "cast the array (e.g. array.astype('float64')) or save it with save_zarr or save_raw."
        )


def _slabs(arr, bar):
    """Yield computed slabs of whole planes along axis 0, one dask chunk row at a time."""
    start = 0
    for size in arr.chunks[0]:
        slab = arr[start : start + size].compute()
        start += size
        for page in slab.reshape(-1, *arr.shape[-2:]):  # bilevel (bool) pages go one by one
            yield np.ascontiguousarray(page)
        bar.update(size)


def save_tiff(
    array, path, *, ome=None, compression=None, overwrite: bool = False, progress=None
) -> str:
    """Write an array as a multi-page TIFF or OME-TIFF, streaming page by page.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        The volume, at least 2-D; the last two axes are each page's rows and columns.
        Its dtype must be one TIFF holds (bool, (u)int8..64, float16..64, complex64/128);
        others raise ``TypeError`` rather than being cast. Big-endian input is written
        as a big-endian TIFF.
    path : str or os.PathLike
        The output file.
    ome : bool or None, optional
        Write OME-TIFF metadata (axes ``ZYX`` for 3-D). ``None``: if ``path`` ends in
        ``.ome.tif``/``.ome.tiff``.
    compression : None or str, optional
        A tifffile compression such as ``"zlib"`` (default uncompressed).
    overwrite : bool, optional
        Replace an existing file (only once the new one is complete).
    progress : bool or None, optional
        Show a progress bar over planes; by default only when stderr is a terminal.

    Returns
    -------
    str
        The absolute output path.

    Raises
    ------
    TypeError
        If TIFF cannot hold the dtype.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    Pages must be written in order by one process, so this computes one slab of
    ``array.chunks[0][i]`` planes at a time (its blocks in parallel) and appends its
    pages. Memory: one slab, i.e. a row of blocks along the first axis; rechunk the
    first axis thinner to use less. BigTIFF is used when the data pass ~4 GB. The file
    is written under a partial name and renamed when complete. There is no
    ``compute=False``: the write cannot be split into independent tasks.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_tiff, save_tiff
    >>> vol = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    >>> path = save_tiff(vol, os.path.join(tempfile.mkdtemp(), "vol.ome.tif"), progress=False)
    >>> bool((open_tiff(path).compute() == vol).all())
    True
    """
    arr = as_dask(array, name="array")
    path = check_path(path)
    if arr.ndim < 2:
        raise ValueError(
            f"`array` must be at least 2-D (pages of rows x columns); got shape {arr.shape}."
        )
    if any(not isinstance(n, numbers.Integral) for n in arr.shape):
        raise ValueError(
            f"`array` must have a known shape; got {arr.shape}. Call compute_chunk_sizes() first."
        )
    _check_tiff_dtype(arr.dtype)
    if ome is None:
        ome = path.lower().endswith((".ome.tif", ".ome.tiff"))
    if not isinstance(ome, bool):
        raise TypeError(f"`ome` must be True, False or None; got {ome!r}.")
    if ome and arr.ndim > 5:
        raise ValueError(
            f"`ome` must be False for arrays with more than 5 axes; got shape {arr.shape}."
        )
    if compression is not None and not isinstance(compression, str | tuple):
        raise TypeError(
            f"`compression` must be None or a tifffile compression name such as 'zlib'; got {compression!r}."
        )
    show = resolve_progress(progress)
    partial = prepare_output(path, overwrite=overwrite, kind="file", func="save_tiff")
    path = os.path.abspath(path)
    from tqdm.auto import tqdm

    planes = arr.shape[0] if arr.ndim > 2 else 1
    metadata = {"axes": _OME_AXES[arr.ndim]} if ome else {}
    with discard_on_error(partial):
        with (
            tqdm(
                total=planes, desc="save_tiff", unit="plane", disable=not show, leave=False
            ) as bar,
            tifffile.TiffWriter(
                partial,
                bigtiff=arr.nbytes > _BIGTIFF_ABOVE,
                ome=ome,
                byteorder=">" if arr.dtype.byteorder == ">" else "<",
            ) as tif,
        ):
            data = _slabs(arr, bar) if arr.ndim > 2 else np.ascontiguousarray(arr.compute())
            tif.write(
                data,
                shape=arr.shape,
                dtype=arr.dtype,
                photometric="minisblack",
                compression=compression,
                metadata=metadata,
            )
            if arr.ndim == 2:
                bar.update(1)
        return commit(partial, path, overwrite)
