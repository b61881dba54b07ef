"""Argument handling shared by the measurement functions: scipy's labels/index modes.

scipy.ndimage's measurements read ``labels`` and ``index`` the same way everywhere:

* ``labels is None`` — the whole input is one region (``index`` is ignored);
* ``index is None`` — the voxels with ``labels > 0`` are one region;
* scalar ``index`` — the voxels with ``labels == index`` are one region; the result
  is a scalar;
* array ``index`` — one region per entry; the result has ``index.shape``.

:func:`regions` turns the arguments into that mode, validated before any graph is
built, plus the :class:`~bigimg._tables._reduce.BlockSpec` fields that
select the labels in every block.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from bigimg._tables._reduce import _MAX_EMBEDDED_MEMBERS, align

__all__ = ["Regions", "check_values", "regions"]


@dataclass
class Regions:
    """Validated ``input``/``labels``/``index``: aligned dask arrays and the region mode."""

    x: da.Array | None
    labels: da.Array | None
    mode: str
    index: np.ndarray | None
    scalar: bool
    filters: dict

    @property
    def shape(self) -> tuple[int, ...]:
        ref = self.x if self.x is not None else self.labels
        return tuple(int(s) for s in ref.shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of per-index results: ``index.shape``, or ``()`` for one region."""
        return () if self.mode != "labels" else tuple(self.index.shape)


def check_values(x: Any, name: str = "input") -> None:
    """Refuse dtypes scipy's measurements cannot handle here (complex, object, text)."""
    dt = np.dtype(x.dtype)
    if dt.kind == "c":
        raise NotImplementedError(
            f"`{name}` of complex dtype is not supported; got {dt}. Measure the real and "
            "imaginary parts separately."
        )
    if dt.kind not in "biuf":
        raise TypeError(f"`{name}` must hold numbers; got dtype {dt}.")


def _is_scalar(index: Any) -> bool:
    return np.isscalar(index) or isinstance(index, numbers.Number)


def _index_array(index: Any) -> np.ndarray:
    arr = np.asarray(index)  # computes a dask index (it is small)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`index` must hold label values (numbers); got dtype {arr.dtype}.")
    return arr


def _scipy_index_values(arr: np.ndarray, lab: da.Array) -> np.ndarray:
    """The labels scipy measures for an array ``index`` with non-integral values.

    scipy casts such an ``index`` to integers (1.5 -> 1, -0.5 -> 0; NaN cannot be
    cast: ``ValueError``) when the labels are integers in ``[0, labels.size]``, and
    matches values exactly otherwise (1.5 is then absent). Deciding which computes the
    labels' minimum and maximum, only for such an ``index``.
    """
    if arr.dtype.kind != "f" or np.all(np.trunc(arr) == arr):
        return arr
    if lab.dtype.kind not in "biu":
        return arr
    lo, hi = (int(v) for v in da.compute(lab.min(), lab.max()))
    if lo < 0 or hi > lab.size:
        return arr
    if np.isnan(arr).any():
        raise ValueError(
            f"`index` must hold label values; got NaN in {arr.tolist()!r} (scipy casts "
            "this index to integers and cannot convert NaN)."
        )
    return np.trunc(arr)


def regions(
    input: Any,
    labels: Any,
    index: Any,
    *,
    need_input: bool = True,
    input_name: str = "input",
) -> Regions:
    """Validate and align ``input``/``labels`` and classify ``index`` (scipy's rules)."""
    if need_input:
        if input is None:
            raise TypeError(f"`{input_name}` must be an array; got None.")
        x, lab = align(input, labels, input_name=input_name)
        check_values(x, input_name)
    else:
        x, lab = None, align(None, labels)[1]
    ref = x if x is not None else lab
    if ref is not None and ref.ndim == 0:  # one voxel: scipy measures it as such
        x = None if x is None else x.reshape(1)
        lab = None if lab is None else lab.reshape(1)
    if lab is not None:
        check_values(lab, "labels")
    if lab is None:
        return Regions(x, None, "all", None, True, {})
    if index is None:
        return Regions(x, lab, "positive", None, True, {})
    if _is_scalar(index):
        _index_array(index)
        return Regions(x, lab, "equal", np.asarray(index), True, {"target": index})
    arr = _scipy_index_values(_index_array(index), lab)
    flat = arr.reshape(-1)
    if flat.size == 0:
        filters: dict = {"members": ()}
    else:
        filters = {"lo": flat.min().item(), "hi": flat.max().item()}
        if flat.size <= _MAX_EMBEDDED_MEMBERS:
            filters["members"] = tuple(v.item() for v in np.unique(flat))
    return Regions(x, lab, "labels", arr, False, filters)
