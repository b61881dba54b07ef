"""The physical header every format reader returns, and how an array carries it.

:class:`Header` is what :func:`bigimg.io.header` returns: shape, dtype, spacing per
array axis, units, the world position of the first voxel, each axis's direction and
the format's own fields, all read without touching a voxel.

An array opened by one of these readers carries its header through the region-source
registry (:mod:`bigimg._sources`): the header is recorded against the region source
the reader's graph holds, so :func:`header_of` finds it for that array and for a
source-level rechunk of it (same voxels), and for nothing else. A sliced, transposed,
filtered or thresholded array has another source or none, so it never carries a
spacing that may no longer be true.
"""

from __future__ import annotations

import dataclasses
import importlib
import weakref
from typing import Any

import dask.array as da
import numpy as np

from bigimg._sources import RegionSource, source_of

__all__ = ["Header", "attach_header", "header_of", "need"]

_HEADERS: weakref.WeakKeyDictionary[RegionSource, Header] = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class Header:
    """What a file says about its volume, in the array's (plane, row, column) order.

    Attributes
    ----------
    format : str
        ``"nifti"``, ``"dicom"``, ``"hdf5"``, ``"mrc"`` or ``"nrrd"``.
    path : str
        The file (for a DICOM series, its folder or first file).
    shape : tuple of int
        The array's shape.
    dtype : numpy.dtype
        The array's dtype (after any scaling the reader applies).
    spacing : tuple of float or None
        Distance between neighbouring voxels along each axis; ``None`` where the file
        does not say.
    units : tuple of str or None
        The unit of each spacing (UDUNITS-2 names: ``"millimeter"``, ``"angstrom"``,
        ``"second"``), ``None`` where the file does not say.
    origin : tuple of float or None
        World coordinates of the first voxel, in the file's ``space``.
    direction : tuple or None
        For each array axis, the world unit vector it runs along (``None`` for
        non-spatial axes such as time); the file's orientation, never changed.
    space : str or None
        The world frame: ``"RAS"`` (NIfTI), ``"LPS"`` (DICOM, most NRRD), ...
    fields : dict
        The format's own fields (NIfTI's affine and intent, DICOM's modality and
        series UID, MRC's map mode, ...).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from bigimg.io import header
    >>> h = header(get_testdata_file("rtdose.dcm"))  # a 15-frame RT dose grid
    >>> h.shape, h.spacing, h.unit, h.space
    ((15, 10, 10), (5.0, 10.0, 10.0), 'millimeter', 'LPS')
    >>> h.as_dict()["origin"]
    [189.43125, 199.43125, -761.87]
    """

    format: str
    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    spacing: tuple[float | None, ...]
    units: tuple[str | None, ...]
    origin: tuple[float, ...] | None = None
    direction: tuple[tuple[float, ...] | None, ...] | None = None
    space: str | None = None
    fields: dict = dataclasses.field(default_factory=dict)

    @property
    def unit(self) -> str | None:
        """The one unit of the spatial axes, if they share one (else ``None``)."""
        spatial = {u for u, d in zip(self.units, self._spatial(), strict=True) if d}
        return spatial.pop() if len(spatial) == 1 else None

    def _spatial(self) -> tuple[bool, ...]:
        if self.direction is not None:
            return tuple(d is not None for d in self.direction)
        return tuple(u not in ("second", "millisecond", "microsecond") for u in self.units)

    def as_dict(self) -> dict:
        """A JSON-ready dict of every attribute."""
        out = dataclasses.asdict(self)
        out["dtype"] = str(self.dtype)
        out["fields"] = _jsonable(self.fields)
        for key in ("shape", "spacing", "units", "origin"):
            out[key] = None if out[key] is None else list(out[key])
        if self.direction is not None:
            out["direction"] = [None if d is None else list(d) for d in self.direction]
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def attach_header(array: da.Array, header: Header) -> da.Array:
    """Record ``header`` for ``array`` (built by ``reader_to_dask``) and return it."""
    source = source_of(array)
    if source is None or tuple(source.shape) != tuple(array.shape):  # pragma: no cover
        raise ValueError("attach_header takes an array straight from a reader")
    _HEADERS[source] = header
    return array


def header_of(array: Any) -> Header | None:
    """The header of the file ``array`` was read from, if it comes straight from a reader.

    ``None`` for anything derived from it (slices, transposes, filters, arithmetic):
    their spacing may differ, so none is claimed.
    """
    if not isinstance(array, da.Array):
        return None
    source = source_of(array)
    if source is None or tuple(source.shape) != tuple(array.shape):
        return None
    return _HEADERS.get(source)


def need(module: str, extra: str, what: str):
    """Import ``module`` or raise ImportError saying which bigimg extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = {"nrrd": "pynrrd", "indexed_gzip": "indexed_gzip"}.get(module, module)
        raise ImportError(
            f"reading {what} needs the {package} package, which is not installed: "
            f"pip install 'bigimg[{extra}]' (or pip install {package})."
        ) from exc
