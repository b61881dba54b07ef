"""MRC/CCP4 maps and tomograms (``.mrc``, ``.rec``, ``.map``, ``.st``, ...), read lazily.

mrcfile parses the 1024-byte header (``header_only``: no voxels); the data block that
follows the header and its extended header is a C-order ``(sections, rows, columns)``
array in the byte order of the machine stamp, read by bigimg's positional reads. The
voxel size (``cella / mx, my, mz``, in ångström) becomes the spacing, mapped to the
array's axes through ``mapc, mapr, maps``.
"""

from __future__ import annotations

import math
import os

import dask.array as da
import numpy as np

from bigimg._atomic import refuse_partial
from bigimg._rawfile import read_runs
from bigimg.io._formats._header import Header, attach_header, need
from bigimg.io._reader import BlockReader, check_path, normalize_chunks, reader_to_dask

__all__ = ["MrcReader", "mrc_header", "open_mrc"]


class MrcReader(BlockReader):
    """Picklable array-like view of an MRC data block (positional reads)."""

    def __init__(self, path, *, stamp, shape, dtype, offset):
        self.path = path
        self.stamp = tuple(stamp)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        whole = tuple(slice(s.start, s.stop) for s in region)
        block = read_runs(self.path, self.offset, self.shape, whole, self.dtype)
        return np.ascontiguousarray(block[tuple(slice(None, None, s.step) for s in region)])


def _inspect(path: str):
    mrcfile = need("mrcfile", "mrc", f"MRC file {path}")
    refuse_partial(path, "MRC file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"MRC file {path} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"MRC file {path} is a folder; give the file.")
    try:
        with mrcfile.open(path, header_only=True, permissive=True) as mrc:
            h = mrc.header
            voxel = mrc.voxel_size
            dtype = mrcfile.utils.data_dtype_from_header(h)
    except Exception as exc:  # mrcfile raises ValueError and others for a bad header
        raise ValueError(f"{path} is not a readable MRC file ({exc}).") from None
    nx, ny, nz = int(h.nx), int(h.ny), int(h.nz)
    offset = 1024 + int(h.nsymbt)
    shape = (nz, ny, nx)
    needed = offset + math.prod(shape) * dtype.itemsize
    size = os.path.getsize(path)
    if size != needed:
        raise ValueError(
            f"MRC file {path} holds {size:,} bytes but its header (nx, ny, nz = {nx}, {ny}, "
            f"{nz}, mode {int(h.mode)} = {dtype}, extended header {int(h.nsymbt):,} bytes) "
            f"needs {needed:,}: the file is truncated or its header is wrong."
        )
    axes = (int(h.maps), int(h.mapr), int(h.mapc))  # the physical axis (1=X) of each
    if sorted(axes) != [1, 2, 3]:
        axes = (3, 2, 1)
    sizes = (float(voxel.x), float(voxel.y), float(voxel.z))
    spacing = tuple(sizes[a - 1] if sizes[a - 1] > 0 else None for a in axes)
    unit_vectors = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    fields = {"mode": int(h.mode), "ispg": int(h.ispg), "mapc_mapr_maps": axes[::-1],
              "nsymbt": int(h.nsymbt), "exttyp": bytes(h.exttyp).decode("latin-1").strip("\0"),
              "nversion": int(h.nversion), "dmin": float(h.dmin), "dmax": float(h.dmax),
              "dmean": float(h.dmean), "rms": float(h.rms),
              "start": (int(h.nxstart), int(h.nystart), int(h.nzstart)),
              "file_dtype": dtype.str}  # fmt: skip
    header = Header(
        format="mrc",
        path=os.path.abspath(path),
        shape=shape,
        dtype=dtype,
        spacing=spacing,
        units=tuple("angstrom" if s is not None else None for s in spacing),
        origin=tuple(float(v) for v in (h.origin.x, h.origin.y, h.origin.z)),
        direction=tuple(unit_vectors[a - 1] for a in axes),
        space="XYZ",
        fields=fields,
    )
    st = os.stat(path)
    reader = MrcReader(
        os.path.abspath(path),
        stamp=(st.st_size, st.st_mtime_ns),
        shape=shape,
        dtype=dtype,
        offset=offset,
    )
    return header, reader


def mrc_header(path) -> Header:
    """The physical header of an MRC file (see :func:`bigimg.io.header`)."""
    return _inspect(check_path(path))[0]


def open_mrc(path, *, chunks="auto") -> da.Array:
    """Open an MRC/CCP4 map, tomogram or image stack lazily as a dask array.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.mrc``, ``.rec``, ``.map``, ``.st``, ``.mrcs`` or ``.ccp4`` file.
    chunks : "auto", int or tuple, optional
        Block shape; ``"auto"`` gives roughly cubic blocks of about 32 MiB.

    Returns
    -------
    dask.array.Array
        ``(sections, rows, columns)`` in the file's dtype and byte order (mode 0:
        int8, 1: int16, 2: float32, 4: complex64, 6: uint16, 12: float16). The voxel
        size in ångström is in ``bigimg.io.header(array).spacing``.

    Raises
    ------
    ImportError
        If mrcfile is not installed.
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file's size disagrees with its header (names both numbers).

    Notes
    -----
    Each task reads its block with positional reads; the graph holds the path and the
    layout only.

    Examples
    --------
    >>> import os, tempfile, numpy as np, mrcfile
    >>> from bigimg.io import header, open_mrc
    >>> path = os.path.join(tempfile.mkdtemp(), "tomo.mrc")
    >>> data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    >>> with mrcfile.new(path) as m:
    ...     m.set_data(data)
    ...     m.voxel_size = (1.5, 1.5, 2.0)  # x, y, z in angstrom
    >>> vol = open_mrc(path, chunks=2)
    >>> header(vol).spacing, header(vol).units[0]
    ((2.0, 1.5, 1.5), 'angstrom')
    >>> bool((vol.compute() == data).all())
    True
    """
    header, reader = _inspect(check_path(path))
    chunks = normalize_chunks(chunks, header.shape, header.dtype)
    return attach_header(reader_to_dask(reader, chunks, "open_mrc"), header)
