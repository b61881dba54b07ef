"""Segmentation clean-up on chunked label volumes, lazily and out of core.

Every function here follows one pattern: a tree reduction computes a small per-label
table (sizes, or the labels seen on the border), one task turns it into a lookup
table, and ``map_blocks`` applies the lookup to every block. The lookup enters the
graph once (a single key), so the graph has O(chunks) tasks and pickles small.
``relabel_sequential`` is the exception that computes: its output dtype and maps
depend on the set of labels present.

Boolean inputs are first labelled with :func:`bigimg.ndimage._label.label` (which
computes the number of objects), exactly as scikit-image labels them.
"""

from __future__ import annotations

import operator
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from bigimg._args import as_dask, index_of
from bigimg._tables import make_spec, merge_tables, reduce_tables, tree_reduce

__all__ = [
    "LabelMap",
    "clear_border",
    "keep_largest",
    "relabel_sequential",
    "remove_small_objects",
]


# ----------------------------------------------------------------- shared machinery
def map_labels_block(block: np.ndarray, mapping: dict, out_dtype=None) -> np.ndarray:
    """Replace the values ``mapping["keys"]`` (sorted) of ``block`` by ``mapping["values"]``.

    Other values are kept (``mapping["other"] is None``) or set to ``mapping["other"]``.
    A dense lookup over the block's value range is used when it is small, else a
    binary search.
    """
    keys, vals, other = mapping["keys"], mapping["values"], mapping["other"]
    flat = np.asarray(block)
    out_dtype = np.dtype(out_dtype)
    if flat.size == 0:
        return flat.astype(out_dtype)
    lo, hi = int(flat.min()), int(flat.max())
    a, b = np.searchsorted(keys, [lo, hi], side="left")[0], np.searchsorted(keys, hi, "right")
    k, v = keys[a:b], vals[a:b]
    span = hi - lo + 1
    if span <= 2 * flat.size + 65536:
        if other is None:
            lut = np.arange(lo, hi + 1, dtype=np.int64).astype(out_dtype)
        else:
            lut = np.full(span, other, out_dtype)
        lut[(k - lo).astype(np.intp)] = v
        off = np.subtract(flat, flat.dtype.type(lo), dtype=np.intp, casting="unsafe")
        return np.take(lut, off)
    pos = np.minimum(np.searchsorted(k, flat), max(k.size - 1, 0))
    hit = (k[pos] == flat) if k.size else np.zeros(flat.shape, bool)
    base = flat.astype(out_dtype) if other is None else np.full(flat.shape, other, out_dtype)
    return np.where(hit, v[pos] if k.size else base, base).astype(out_dtype)


def _apply_mapping(lab: da.Array, mapping, dtype) -> da.Array:
    meta = np.empty((0,) * lab.ndim, dtype)
    return da.map_blocks(map_labels_block, lab, mapping, out_dtype=dtype, dtype=dtype, meta=meta)


def _check_labels(ar: Any, name: str, *, allow_bool: bool) -> da.Array:
    x = as_dask(ar, name=name)
    kinds = "biu" if allow_bool else "iu"
    if x.dtype.kind not in kinds:
        raise TypeError(
            f"`{name}` must be {'a bool or ' if allow_bool else 'an '}integer array; got "
            f"dtype {x.dtype}."
        )
    return x


def _check_out(out: Any) -> None:
    if out is not None:
        raise TypeError(
            f"`out` must be None: results are lazy dask arrays; got {type(out).__name__}. "
            "Store the result with bigimg's writers or .compute()."
        )


def _label_mask(mask: da.Array, connectivity: int) -> da.Array:
    from bigimg.ndimage import label

    structure = ndi.generate_binary_structure(mask.ndim, connectivity)
    labels, _ = label(mask, structure)
    return labels


def _connectivity(connectivity: Any, ndim: int) -> int:
    c = index_of(connectivity, "connectivity")
    if not 1 <= c <= ndim:
        raise ValueError(f"`connectivity` must be in 1..{ndim}; got {c}.")
    return c


def _sizes(lab: da.Array):
    """Lazy table of voxel counts of every label value (all values, 0 and negatives too)."""
    return reduce_tables(None, lab, {"mode": "labels"})


# ------------------------------------------------------------------ small objects
def _small_mapping(table, threshold, strict):
    keys, counts = table["labels"], table["count"]
    if keys.size and keys[0] < 0:
        raise ValueError(
            "`ar` must not hold negative labels; got "
            f"{keys[0]}. Relabel with bigimg.ndimage.label or relabel_sequential."
        )
    small = counts < threshold if strict else counts <= threshold
    small &= keys != 0
    k = keys[small]
    return {"keys": k, "values": np.zeros(k.size, keys.dtype), "other": None}


def remove_small_objects(
    ar: Any,
    min_size: int | None = None,
    connectivity: int = 1,
    *,
    max_size: int = 64,
    out: Any = None,
) -> da.Array:
    """Remove objects of at most ``max_size`` voxels; twin of
    ``skimage.morphology.remove_small_objects``.

    Parameters
    ----------
    ar : array_like or dask array of ints or bools
        Labels (non-negative; each label value is one object) or a mask (labelled
        first with ``connectivity``).
    min_size : int, optional
        scikit-image's deprecated threshold: removes objects strictly smaller.
    connectivity : int, optional
        Connectivity used to label a boolean ``ar`` (1..ndim).
    max_size : int, keyword-only
        Objects with this many voxels or fewer are removed (default 64).
    out : None, keyword-only
        Must be None (results are lazy).

    Returns
    -------
    dask array
        Lazy, ``ar``'s dtype and chunks, small objects set to 0 (False).

    Raises
    ------
    TypeError
        ``ar`` not integer/bool; ``out`` given.
    ValueError
        Negative labels (raised when the result computes).

    Notes
    -----
    Lazy (a boolean ``ar`` is labelled first, which computes the object count). One
    tree reduction counts voxels per label (tasks hold a block or O(labels) rows),
    then every block maps its labels through one lookup table of removed labels.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from skimage.morphology import remove_small_objects as sk_remove
    >>> from bigimg.measure import remove_small_objects
    >>> lab = np.array([[1, 1, 0, 2], [1, 1, 0, 0], [0, 0, 0, 3]])
    >>> got = remove_small_objects(da.from_array(lab, chunks=2), max_size=1).compute()
    >>> got
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 0, 0]])
    >>> bool((got == sk_remove(lab, max_size=1)).all())
    True
    """
    x = _check_labels(ar, "ar", allow_bool=True)
    _check_out(out)
    connectivity = _connectivity(connectivity, x.ndim)
    threshold = operator.index(max_size if min_size is None else min_size)
    if min_size is None and threshold == 0:
        return x.copy()
    lab = _label_mask(x, connectivity) if x.dtype == bool else x
    table = _sizes(lab)
    mapping = dask.delayed(_small_mapping, pure=True)(
        table.delayed, threshold, min_size is not None
    )
    kept = _apply_mapping(lab, mapping, lab.dtype)
    return kept > 0 if x.dtype == bool else kept


# ---------------------------------------------------------------------- largest k
def _largest_mapping(table, k):
    keys, counts = table["labels"], table["count"]
    pos = keys > 0
    keys, counts = keys[pos], counts[pos]
    order = np.lexsort((keys, -counts))
    drop = np.sort(keys[order[k:]])
    return {"keys": drop, "values": np.zeros(drop.size, keys.dtype), "other": None}


def keep_largest(ar: Any, k: int = 1, connectivity: int = 1) -> da.Array:
    """Keep the ``k`` largest objects (by voxel count), set the others to 0.

    No scikit-image twin (``remove_small_objects`` with a computed threshold).

    Parameters
    ----------
    ar : array_like or dask array of ints or bools
        Labels (labels <= 0 are background and kept as they are) or a mask.
    k : int, optional
        How many objects to keep; ties are broken towards the smaller label.
    connectivity : int, optional
        Connectivity used to label a boolean ``ar``.

    Returns
    -------
    dask array
        Lazy, ``ar``'s dtype and chunks.

    Raises
    ------
    TypeError
        ``ar`` not integer/bool, ``k`` not an integer.
    ValueError
        ``k`` < 0.

    Notes
    -----
    Lazy: one tree reduction of per-label voxel counts, one task choosing the
    labels to drop, one lookup per block.

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg.measure import keep_largest
    >>> lab = np.array([[1, 1, 0, 2], [1, 3, 3, 3]])
    >>> keep_largest(lab, k=2).compute()
    array([[1, 1, 0, 0],
           [1, 3, 3, 3]])
    """
    x = _check_labels(ar, "ar", allow_bool=True)
    k = index_of(k, "k")
    if k < 0:
        raise ValueError(f"`k` must be >= 0; got {k}.")
    connectivity = _connectivity(connectivity, x.ndim)
    lab = _label_mask(x, connectivity) if x.dtype == bool else x
    mapping = dask.delayed(_largest_mapping, pure=True)(_sizes(lab).delayed, k)
    kept = _apply_mapping(lab, mapping, lab.dtype)
    return kept > 0 if x.dtype == bool else kept


# -------------------------------------------------------------------- clear border
def _border_block(spec, lab, mask=None, block_id=None):
    """Labels of one block on the border: outside ``mask``, or within ``spec.target``
    voxels of the array's faces."""
    if mask is not None:
        border = ~np.asarray(mask, bool)
    else:
        ext = spec.target
        border = np.zeros(lab.shape, bool)
        for d, (off, n) in enumerate(zip(spec.offsets, spec.shape, strict=True)):
            coord = np.arange(lab.shape[d]) + off[block_id[d]]
            hit = (coord < ext) | (coord >= n - ext)
            border |= hit.reshape((-1,) + (1,) * (lab.ndim - d - 1))
    keys = np.unique(np.asarray(lab)[border])
    return {"labels": keys, "count": np.ones(keys.size, np.int64)}


def _border_mapping(table, bgval, dtype):
    keys = table["labels"]
    return {"keys": keys, "values": np.full(keys.size, bgval, dtype), "other": None}


def _frame_blocks(chunks, shape, ext) -> list[tuple[int, ...]]:
    """Block indices that meet the frame of width ``ext`` along the array's faces."""
    starts = [np.cumsum((0,) + tuple(c))[:-1] for c in chunks]
    ends = [np.cumsum(c) for c in chunks]
    near = [(s < ext) | (e > n - ext) for s, e, n in zip(starts, ends, shape, strict=True)]
    return [
        b for b in np.ndindex(*(len(c) for c in chunks)) if any(near[d][i] for d, i in enumerate(b))
    ]


def clear_border(
    labels: Any, buffer_size: int = 0, bgval: int = 0, mask: Any = None, *, out: Any = None
) -> da.Array:
    """Clear objects touching the image border; twin of
    ``skimage.segmentation.clear_border``.

    Parameters
    ----------
    labels : array_like or dask array of ints or bools
        Labels (each label value is one object) or a mask (labelled with full
        connectivity first, as scikit-image).
    buffer_size : int, optional
        Width of the border frame beyond the first voxel.
    bgval : int, optional
        Value given to cleared voxels.
    mask : array_like or dask array of bool, optional
        Voxels outside ``mask`` are the border (``buffer_size`` is ignored).
    out : None, keyword-only
        Must be None (results are lazy).

    Returns
    -------
    dask array
        Lazy, ``labels``' dtype and chunks.

    Raises
    ------
    TypeError
        Non-integer/bool labels, non-bool mask, ``out`` given.
    ValueError
        ``buffer_size`` not smaller than every dimension; mask of another shape.

    Notes
    -----
    Lazy. Without ``mask`` only blocks meeting the border frame are read to collect
    the border labels (a tree of unions, O(labels) per task); then every block maps
    those labels to ``bgval``. scikit-image relabels each value's connected pieces
    first and clears only the pieces that touch the border; here a label value is
    one object, which gives scikit-image's result whenever labels are connected (as
    the outputs of ``label`` are). Background (0) on the border becomes ``bgval``
    everywhere, as in scikit-image.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from skimage.segmentation import clear_border as sk_clear
    >>> from bigimg.measure import clear_border
    >>> lab = np.array([[1, 0, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0], [3, 3, 0, 0]])
    >>> got = clear_border(da.from_array(lab, chunks=2)).compute()
    >>> got[1]
    array([0, 0, 2, 0])
    >>> bool((got == sk_clear(lab)).all())
    True
    """
    x = _check_labels(labels, "labels", allow_bool=True)
    _check_out(out)
    buffer_size = operator.index(buffer_size)
    if mask is None and any(buffer_size >= s for s in x.shape):
        raise ValueError(
            f"`buffer_size` must be smaller than every dimension {x.shape}; got {buffer_size}."
        )
    m = None
    if mask is not None:
        m = as_dask(mask, name="mask")
        if m.shape != x.shape:
            raise ValueError(f"`mask` must have the shape of labels {x.shape}; got {m.shape}.")
        if m.dtype != bool:
            raise TypeError(f"`mask` must be a bool array; got dtype {m.dtype}.")
        m = m.rechunk(x.chunks)
    lab = _label_mask(x, x.ndim) if x.dtype == bool else x
    if m is None:
        spec = make_spec(lab, "l", mode="labels", target=buffer_size + 1)
        frame = _frame_blocks(lab.chunks, lab.shape, buffer_size + 1)
        border = tree_reduce([lab], _border_block, merge_tables, spec, name="border", blocks=frame)
    else:
        spec = make_spec(lab, "lm", mode="labels")
        border = tree_reduce([lab, m], _border_block, merge_tables, spec, name="border")
    dtype = lab.dtype
    mapping = dask.delayed(_border_mapping, pure=True)(border, bgval, dtype)
    cleared = _apply_mapping(lab, mapping, dtype)
    if x.dtype == bool:
        return (cleared > 0) if bgval == 0 else cleared.astype(bool)
    return cleared


# --------------------------------------------------------------- relabel sequential
class LabelMap:
    """A label mapping ``in_values[i] -> out_values[i]`` (scikit-image's ``ArrayMap``).

    Index it with labels (scalar or array) to map them; unknown labels map to 0.
    ``np.asarray(m)`` gives the dense lookup array of length ``max(in_values) + 1``.
    :func:`relabel_sequential` returns two of them (forward and inverse).

    Parameters
    ----------
    in_values : ndarray
        The labels mapped, sorted increasing.
    out_values : ndarray
        What each of ``in_values`` maps to (same length); its dtype is the map's.

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg.measure import LabelMap
    >>> m = LabelMap(np.array([0, 5, 42]), np.array([0, 1, 2]))
    >>> m[42], m[7]
    (np.int64(2), np.int64(0))
    >>> m[np.array([5, 42, 5])]
    array([1, 2, 1])
    >>> np.asarray(m)[[0, 5, 42]]
    array([0, 1, 2])
    """

    def __init__(self, in_values: np.ndarray, out_values: np.ndarray):
        self.in_values = in_values
        self.out_values = out_values

    def __len__(self) -> int:
        return int(np.max(self.in_values)) + 1 if self.in_values.size else 0

    @property
    def dtype(self):
        return self.out_values.dtype

    def __array__(self, dtype=None, copy=None):
        out = np.zeros(len(self), dtype or self.out_values.dtype)
        out[self.in_values] = self.out_values
        return out

    def __getitem__(self, index):
        scalar = np.isscalar(index)
        arr = np.atleast_1d(np.asarray(index))
        pos = np.minimum(np.searchsorted(self.in_values, arr), max(self.in_values.size - 1, 0))
        hit = self.in_values[pos] == arr if self.in_values.size else np.zeros(arr.shape, bool)
        out = np.where(hit, self.out_values[pos] if self.in_values.size else 0, 0)
        out = out.astype(self.out_values.dtype)
        return out[0] if scalar else out

    __call__ = __getitem__

    def __repr__(self) -> str:
        return f"LabelMap({self.in_values!r}, {self.out_values!r})"


def relabel_sequential(label_field: Any, offset: int = 1) -> tuple[da.Array, LabelMap, LabelMap]:
    """Relabel to ``offset, offset + 1, ...`` keeping order; twin of
    ``skimage.segmentation.relabel_sequential``.

    Parameters
    ----------
    label_field : array_like or dask array of ints
        Non-negative labels; 0 stays 0.
    offset : int, optional
        First new label (> 0).

    Returns
    -------
    relabeled : dask array
        Lazy, with scikit-image's output dtype (the input's unless the new labels
        overflow it).
    forward_map, inverse_map : LabelMap
        Old -> new and new -> old label maps (like scikit-image's ``ArrayMap``).

    Raises
    ------
    TypeError
        Non-integer ``label_field``.
    ValueError
        ``offset`` <= 0 or negative labels.

    Notes
    -----
    Computes the set of labels present first (one tree reduction; tasks hold a block
    or O(labels) values): the output dtype and the maps depend on it. The relabelling
    itself is lazy: each block looks its labels up in the sorted label set (the
    tutorial's ``searchsorted`` step); the set enters the graph once.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from skimage.segmentation import relabel_sequential as sk_relabel
    >>> from bigimg.measure import relabel_sequential
    >>> lab = np.array([[5, 5, 0], [0, 99, 42]])
    >>> new, fw, inv = relabel_sequential(da.from_array(lab, chunks=2))
    >>> new.compute()
    array([[1, 1, 0],
           [0, 3, 2]])
    >>> bool((new.compute() == sk_relabel(lab)[0]).all() and fw[99] == 3)
    True
    """
    x = _check_labels(label_field, "label_field", allow_bool=False)
    offset = operator.index(offset)
    if offset <= 0:
        raise ValueError(f"`offset` must be strictly positive; got {offset}.")
    in_vals = _sizes(x).compute()["labels"]
    if in_vals.size and in_vals[0] < 0:
        raise ValueError(
            f"`label_field` must not hold negative values; got {in_vals[0]}. "
            "Relabel with bigimg.ndimage.label first."
        )
    if in_vals.size and in_vals[0] == 0:
        out_vals = np.concatenate([[0], np.arange(offset, offset + in_vals.size - 1)])
    else:
        out_vals = np.arange(offset, offset + in_vals.size)
    out_dtype = _relabel_dtype(x.dtype, int(out_vals[-1]) if out_vals.size else 0)
    out_vals = out_vals.astype(out_dtype)
    mapping = dask.delayed({"keys": in_vals, "values": out_vals, "other": 0}, pure=True)
    relabeled = _apply_mapping(x, mapping, out_dtype)
    return relabeled, LabelMap(in_vals, out_vals), LabelMap(out_vals, in_vals)


def _relabel_dtype(input_type: np.dtype, top: int) -> np.dtype:
    required = np.min_scalar_type(top)
    if input_type.itemsize < required.itemsize:
        return required
    return input_type if top < np.iinfo(input_type).max else required
