"""NRRD volumes (``.nrrd`` attached, ``.nhdr`` detached; raw or gzip encoding), lazily.

bigimg finds where the header ends itself (it reads header lines only) and has pynrrd
parse the fields; pynrrd's own reader decodes whole arrays, so the voxels are read by
bigimg's positional reads (raw) or through an index into the gzip stream (gzip, see
:mod:`bigimg.io._formats._gzip`). NRRD's first axis is the fastest, so the array is
the file's axes reversed (``sizes: X Y Z`` gives shape ``(Z, Y, X)``), spacing and
directions reversed with it.
"""

from __future__ import annotations

import os

import dask.array as da
import numpy as np

from bigimg._atomic import refuse_partial
from bigimg._rawfile import read_runs
from bigimg.io._formats._gzip import gzip_size_check, read_gzip_region, require_indexed_gzip
from bigimg.io._formats._header import Header, attach_header, need
from bigimg.io._reader import BlockReader, check_path, normalize_chunks, reader_to_dask

__all__ = ["NrrdReader", "nrrd_header", "open_nrrd"]

_TYPES = {
    "i1": ("signed char", "int8", "int8_t"),
    "u1": ("uchar", "unsigned char", "uint8", "uint8_t"),
    "i2": ("short", "short int", "signed short", "signed short int", "int16", "int16_t"),
    "u2": ("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"),
    "i4": ("int", "signed int", "int32", "int32_t"),
    "u4": ("uint", "unsigned int", "uint32", "uint32_t"),
    "i8": ("longlong", "long long", "long long int", "signed long long", "signed long long int",
           "int64", "int64_t"),
    "u8": ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"),
    "f4": ("float",),
    "f8": ("double",),
}  # fmt: skip
_DTYPES = {name: code for code, names in _TYPES.items() for name in names}
_SPACES = {"left-posterior-superior": "LPS", "right-anterior-superior": "RAS",
           "left-anterior-superior": "LAS", "scanner-xyz": "scanner-xyz", "3d-right-handed": "XYZ"}  # fmt: skip
_UNITS = {"mm": "millimeter", "um": "micrometer", "µm": "micrometer", "micron": "micrometer",
          "nm": "nanometer", "m": "meter", "cm": "centimeter", "s": "second", "ms": "millisecond"}  # fmt: skip


class NrrdReader(BlockReader):
    """Picklable array-like view of an NRRD data block (raw: positional reads; gzip: index)."""

    def __init__(self, path, *, gz, start, stamp, shape, dtype, offset):
        self.path = path
        self.gz = gz
        self.start = int(start)  # where the gzip stream starts in the file
        self.stamp = tuple(stamp)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        whole = tuple(slice(s.start, s.stop) for s in region)
        if self.gz:
            args = (self.path, self.start, self.stamp, self.offset, self.shape, whole)
            block = read_gzip_region(*args, self.dtype)
        else:
            block = read_runs(self.path, self.offset, self.shape, whole, self.dtype)
        return np.ascontiguousarray(block[tuple(slice(None, None, s.step) for s in region)])


def _read_header_lines(path: str) -> tuple[list[str], int]:
    """The header's lines and the byte where the data of an attached file starts."""
    lines, used = [], 0
    with open(path, "rb") as f:
        first = f.readline(64)
        if not first.startswith(b"NRRD000"):
            raise ValueError(f"{path} is not an NRRD file (it does not start with 'NRRD000').")
        lines.append(first.decode("ascii").rstrip("\r\n"))
        used = len(first)
        while True:
            line = f.readline(1 << 20)
            used += len(line)
            if line in (b"", b"\n", b"\r\n"):
                break
            lines.append(line.decode("latin-1").rstrip("\r\n"))
    return lines, used


def _axis_geometry(header: dict, ndim: int):
    """Spacing, direction and units per NRRD axis (fastest first)."""
    spacing, direction = [None] * ndim, [None] * ndim
    dirs = header.get("space directions")
    if dirs is not None:
        for axis, row in enumerate(np.asarray(dirs, dtype=float)):
            if np.all(np.isfinite(row)):
                norm = float(np.linalg.norm(row))
                if norm:
                    spacing[axis] = norm
                    direction[axis] = tuple(float(v) / norm for v in row)
    elif header.get("spacings") is not None:
        spacing = [float(s) if np.isfinite(s) else None for s in header["spacings"]]
    names = header.get("space units")
    if names is None:
        units = [None] * ndim
    else:
        space_units = iter([_UNITS.get(str(u).strip().lower(), u or None) for u in names])
        units = [next(space_units, None) if spacing[a] is not None else None for a in range(ndim)]
    return spacing, direction, units


def _inspect(path: str):
    nrrd = need("nrrd", "nrrd", f"NRRD file {path}")
    refuse_partial(path, "NRRD file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"NRRD file {path} does not exist.")
    lines, data_start = _read_header_lines(path)
    try:
        fields = nrrd.read_header(lines)
    except Exception as exc:  # pynrrd raises NRRDError and others
        raise ValueError(f"NRRD header of {path} cannot be parsed ({exc}).") from None
    sizes = [int(n) for n in fields["sizes"]]
    try:
        dtype = np.dtype(_DTYPES[str(fields["type"]).strip()])
    except KeyError:
        raise NotImplementedError(
            f"NRRD file {path} stores type {fields['type']!r}; bigimg reads integer and "
            "float types."
        ) from None
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if fields.get("endian", "little") == "big" else "<")
    encoding = str(fields.get("encoding", "raw")).strip().lower()
    if encoding not in ("raw", "gzip", "gz"):
        raise NotImplementedError(
            f"NRRD file {path} is {encoding}-encoded; bigimg reads raw and gzip NRRD. "
            "Convert it once (e.g. unu save -e raw) to read it lazily."
        )
    gz = encoding != "raw"
    data_file = fields.get("data file", fields.get("datafile"))
    if data_file is not None:
        if str(data_file).startswith("LIST") or len(str(data_file).split()) > 1:
            raise NotImplementedError(
                f"NRRD header {path} spreads its data over several files ({data_file!r}); "
                "bigimg reads one data file."
            )
        data_path = os.path.join(os.path.dirname(os.path.abspath(path)), str(data_file))
        if not os.path.isfile(data_path):
            raise FileNotFoundError(
                f"NRRD header {path} names the data file {data_file!r}, but {data_path} "
                "does not exist."
            )
        data_start = 0
    else:
        data_path = os.path.abspath(path)
    shape = tuple(sizes[::-1])
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    line_skip, byte_skip = int(fields.get("line skip", 0)), int(fields.get("byte skip", 0))
    size = os.path.getsize(data_path)
    if gz:
        require_indexed_gzip(data_path, "nrrd")
        if line_skip or byte_skip:
            raise NotImplementedError(
                f"NRRD file {path}: gzip data with line/byte skip is not supported."
            )
        gzip_size_check(data_path, data_start, nbytes, "NRRD data file")
        start, offset = data_start, 0
    else:
        start, offset = 0, data_start
        if byte_skip == -1:
            offset = size - nbytes
        else:
            with open(data_path, "rb") as f:
                f.seek(offset)
                for _ in range(line_skip):
                    offset += len(f.readline())
            offset += byte_skip
        if size - offset < nbytes:
            raise ValueError(
                f"NRRD data file {data_path} holds {max(size - offset, 0):,} bytes of data "
                f"after byte {offset:,} but the header of {path} (sizes {sizes}, {dtype}) "
                f"needs {nbytes:,}: the file is truncated."
            )
    spacing, direction, units = _axis_geometry(fields, len(sizes))
    origin = fields.get("space origin")
    keep = {k: v for k, v in fields.items() if k not in ("sizes", "type", "dimension")}
    header = Header(
        format="nrrd",
        path=os.path.abspath(path),
        shape=shape,
        dtype=dtype,
        spacing=tuple(spacing[::-1]),
        units=tuple(units[::-1]),
        origin=None if origin is None else tuple(float(v) for v in origin),
        direction=tuple(direction[::-1]) if any(d is not None for d in direction) else None,
        space=_SPACES.get(str(fields.get("space", "")).lower(), fields.get("space")),
        fields=keep | {"data_file": data_path, "file_dtype": dtype.str},
    )
    st = os.stat(data_path)
    reader = NrrdReader(
        data_path,
        gz=gz,
        start=start,
        stamp=(st.st_size, st.st_mtime_ns),
        shape=shape,
        dtype=dtype,
        offset=offset,
    )
    return header, reader


def nrrd_header(path) -> Header:
    """The physical header of an NRRD file (see :func:`bigimg.io.header`)."""
    return _inspect(check_path(path))[0]


def open_nrrd(path, *, chunks="auto") -> da.Array:
    """Open an NRRD volume (``.nrrd`` or detached ``.nhdr``) lazily as a dask array.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nrrd`` file, or the ``.nhdr`` header of a detached pair.
    chunks : "auto", int or tuple, optional
        Block shape. ``"auto"`` gives blocks of about 32 MiB; whole planes for gzip data.

    Returns
    -------
    dask.array.Array
        The file's axes reversed (``sizes: X Y Z`` -> shape ``(Z, Y, X)``), in the
        file's type and byte order. Spacing, directions and origin are in
        ``bigimg.io.header(array)``.

    Raises
    ------
    ImportError
        If pynrrd (or, for gzip data, indexed_gzip) is not installed.
    FileNotFoundError
        If the file, or a detached header's data file, does not exist.
    ValueError
        If the data is shorter than the header says.
    NotImplementedError
        For encodings other than raw and gzip, and data spread over several files.

    Notes
    -----
    Each task reads its block with positional reads, or decompresses it from the
    nearest seek point of an index kept once per worker process.

    Examples
    --------
    >>> import os, tempfile, numpy as np, nrrd
    >>> from bigimg.io import header, open_nrrd
    >>> path = os.path.join(tempfile.mkdtemp(), "ct.nhdr")
    >>> data = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    >>> fields = {"spacings": [0.5, 0.5, 2.0]}  # NRRD lists axes fastest first
    >>> nrrd.write(path, data, fields, detached_header=True, index_order="C")
    >>> vol = open_nrrd(path)
    >>> vol.shape, header(vol).spacing
    ((2, 3, 4), (2.0, 0.5, 0.5))
    >>> bool((vol.compute() == data).all())
    True
    """
    header, reader = _inspect(check_path(path))
    if isinstance(chunks, str) and chunks == "auto" and reader.gz and len(header.shape) > 1:
        planes = (1,) * (len(header.shape) - 2) + header.shape[-2:]
        chunks = normalize_chunks(chunks, header.shape, header.dtype, previous=planes)
    else:
        chunks = normalize_chunks(chunks, header.shape, header.dtype)
    return attach_header(reader_to_dask(reader, chunks, "open_nrrd"), header)
