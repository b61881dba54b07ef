"""Region tables with scikit-image's property names, from one pass over chunked arrays.

Most properties are functions of a few per-label sums, so they come from ONE tree
reduction (:mod:`bigimg._tables._reduce`): voxel count, bounding box, raw
moments about the box corner (up to the order the properties need), intensity sum,
centred sum of squares, min and max, and intensity-weighted moments. Everything else
is derived per label on the client, vectorised over labels.

Properties that need each object's pixels (``image``, ``coords``, ``perimeter``,
``solidity``, ``euler_number``, ``extra_properties``, ...) gather each object's voxels
into one task (:func:`bigimg._tables.gather_apply`) and evaluate
scikit-image's own ``regionprops`` on the object's crop. ``intensity_median`` runs the
exact out-of-core median. Each of these adds passes over the data; the table says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import dask
import numpy as np

from bigimg._args import as_dask as to_dask
from bigimg._tables import (
    align,
    gather_apply,
    label_frame,
    reduce_tables,
    region_median,
    regions,
)
from bigimg.measure._props import assemble, extra_kind, finish_table

__all__ = ["INTENSITY_PROPERTIES", "PROPERTIES", "regionprops_table"]

_F, _I, _O = float, int, object

#: Every supported property and the dtype of its column(s), as scikit-image.
PROPERTIES = {
    "label": _I, "area": _F, "area_bbox": _F, "num_pixels": _I, "bbox": _I, "slice": _O,
    "extent": _F, "equivalent_diameter_area": _F, "centroid": _F, "centroid_local": _F,
    "moments": _F, "moments_central": _F, "moments_normalized": _F, "moments_hu": _F,
    "inertia_tensor": _F, "inertia_tensor_eigvals": _F, "axis_major_length": _F,
    "axis_minor_length": _F, "eccentricity": _F, "orientation": _F,
    "intensity_mean": _F, "intensity_min": _F, "intensity_max": _F, "intensity_std": _F,
    "intensity_median": _F, "centroid_weighted": _F, "centroid_weighted_local": _F,
    "moments_weighted": _F, "moments_weighted_central": _F,
    "moments_weighted_normalized": _F, "moments_weighted_hu": _F,
    # per-object (crop) properties
    "coords": _O, "coords_scaled": _O, "image": _O, "image_intensity": _O,
    "image_filled": _O, "image_convex": _O, "area_filled": _F, "area_convex": _F,
    "solidity": _F, "perimeter": _F, "perimeter_crofton": _F, "euler_number": _I,
    "feret_diameter_max": _F,
}  # fmt: skip

_CROP = {
    "coords", "coords_scaled", "image", "image_intensity", "image_filled", "image_convex",
    "area_filled", "area_convex", "solidity", "perimeter", "perimeter_crofton",
    "euler_number", "feret_diameter_max",
}  # fmt: skip
#: The properties that need ``intensity_image``.
INTENSITY_PROPERTIES = frozenset({
    "intensity_mean", "intensity_min", "intensity_max", "intensity_std", "intensity_median",
    "centroid_weighted", "centroid_weighted_local", "moments_weighted",
    "moments_weighted_central", "moments_weighted_normalized", "moments_weighted_hu",
    "image_intensity",
})  # fmt: skip
_ONLY_2D = {"eccentricity", "orientation", "moments_hu", "moments_weighted_hu", "perimeter",
            "perimeter_crofton"}  # fmt: skip
_ORDER3 = {"moments", "moments_central", "moments_normalized", "moments_hu"}
_ORDER2 = {"inertia_tensor", "inertia_tensor_eigvals", "axis_major_length",
           "axis_minor_length", "eccentricity", "orientation"}  # fmt: skip
_ORDER1 = {"centroid", "centroid_local"}


# ----------------------------------------------------------------------- validation
def _spacing(spacing: Any, ndim: int) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim)
    arr = np.array(spacing)
    if arr.shape == ():
        arr = np.broadcast_to(arr, (ndim,))
    elif arr.shape != (ndim,):
        raise ValueError(
            f"`spacing` must be a scalar or a sequence of {ndim} numbers; got {spacing!r}."
        )
    if not all(isinstance(s, Real) for s in arr.tolist()):
        raise TypeError(f"`spacing` must hold numbers; got {spacing!r}.")
    if not np.all(np.isfinite(arr.astype(float))):
        raise ValueError(f"`spacing` must be finite; got {spacing!r}.")
    return arr.astype(np.float64)


def _check_properties(properties, extra_properties, ndim, has_intensity, spacing):
    if isinstance(properties, str):
        properties = (properties,)
    properties = tuple(properties)
    unknown = [p for p in properties if p not in PROPERTIES]
    if unknown:
        raise ValueError(
            f"`properties` must be scikit-image property names among {sorted(PROPERTIES)}; "
            f"got {unknown!r}."
        )
    need_int = [p for p in properties if p in INTENSITY_PROPERTIES]
    if need_int and not has_intensity:
        raise AttributeError(
            f"`intensity_image` is required for {need_int!r}; got None. Pass intensity_image."
        )
    flat2d = [p for p in properties if p in _ONLY_2D]
    if flat2d and ndim != 2:
        raise NotImplementedError(
            f"{flat2d!r} are defined for 2-D images only (as scikit-image); got {ndim}-D."
        )
    hu = [p for p in properties if p in ("moments_hu", "moments_weighted_hu")]
    if hu and np.any(spacing != 1):
        raise NotImplementedError(f"{hu!r} support spacing 1 only (as scikit-image).")
    extras = tuple(extra_properties or ())
    for f in extras:
        if not callable(f):
            raise TypeError(f"`extra_properties` must hold callables; got {f!r}.")
    return properties, extras


# ------------------------------------------------------------------- crop properties
class _CropProps:
    """Per-object evaluation of scikit-image properties on the object's crop.

    Called with the object's values (C order) and flat positions; small and picklable.
    """

    def __init__(self, names, extras, shape, spacing, has_intensity):
        self.names = tuple(names)
        self.extras = tuple(extras)
        self.shape = tuple(shape)
        self.spacing = tuple(float(s) for s in spacing)
        self.has_intensity = has_intensity

    def __call__(self, vals, pos):
        coords = np.stack(np.unravel_index(pos, self.shape), axis=1)
        lo = coords.min(axis=0)
        local = coords - lo
        crop_shape = tuple(coords.max(axis=0) - lo + 1)
        out = []
        need_sk = [n for n in self.names if n not in ("coords", "coords_scaled")]
        region = None
        if need_sk or self.extras:
            try:
                from skimage.measure import regionprops
            except ImportError as exc:  # pragma: no cover - scikit-image is a test dependency
                raise ImportError(
                    f"properties {need_sk!r} and extra_properties need scikit-image; "
                    "install it with `pip install scikit-image`."
                ) from exc
            mask = np.zeros(crop_shape, np.uint8)  # one object: a byte per voxel of its box
            mask[tuple(local.T)] = 1
            inten = None
            if self.has_intensity:
                inten = np.zeros(crop_shape, vals.dtype)
                inten[tuple(local.T)] = vals
            region = regionprops(
                mask, inten, spacing=self.spacing, extra_properties=self.extras or None
            )[0]
        for n in self.names:
            if n == "coords":
                out.append(coords)
            elif n == "coords_scaled":
                out.append(coords * np.asarray(self.spacing))
            else:
                out.append(getattr(region, n))
        for f in self.extras:
            out.append(getattr(region, f.__name__))
        return tuple(out)


def regionprops_table(
    label_image: Any,
    intensity_image: Any = None,
    properties: Sequence[str] = ("label", "bbox"),
    *,
    cache: bool = True,
    separator: str = "-",
    extra_properties: Sequence[Callable] | None = None,
    spacing: float | Sequence[float] | None = None,
    as_dataframe: bool = False,
    as_dask: bool = False,
    max_label: int | None = None,
    split_every: int = 16,
) -> dict[str, np.ndarray] | Any:
    """Region properties as columns; twin of ``skimage.measure.regionprops_table``.

    Computes (with ``as_dask=True``: only the largest label, unless ``max_label``).

    Parameters
    ----------
    label_image : array_like or dask array of ints
        Labels; regions are the labels >= 1 (0 and negative labels are background).
    intensity_image : array_like or dask array, optional
        Intensities of the same shape (one channel).
    properties : sequence of str, optional
        scikit-image property names (see :data:`PROPERTIES`); default
        ``("label", "bbox")``.
    cache : bool, optional
        Accepted for compatibility; every property is computed once anyway.
    separator : str, optional
        Joins a property name and element index for array properties
        (``"bbox-0"``, ``"inertia_tensor-0-1"``).
    extra_properties : sequence of callables, optional
        ``f(region_mask)`` or ``f(region_mask, intensity)`` per object, as scikit-image;
        evaluated on each object's crop (needs scikit-image).
    spacing : float or sequence of float, optional
        Voxel size per axis (plane, row, column), as scikit-image.
    as_dataframe : bool, optional, keyword-only
        Return a ``pandas.DataFrame`` (needs pandas) instead of a dict.
    as_dask : bool, optional, keyword-only
        Return a lazy ``dask.dataframe.DataFrame`` (needs pandas and pyarrow) whose
        partitions are consecutive label ranges, indexed by label: the table never has
        to fit on the client. Write it with ``.to_parquet(url)`` or compute parts of it.
        Covers every property except the crop properties, ``intensity_median`` and
        ``extra_properties``.
    max_label : int, optional, keyword-only
        With ``as_dask=True``: the largest label, if known (e.g. the count
        :func:`bigimg.ndimage.label` returned), which saves the pass that finds it. A
        larger label raises ``ValueError`` when its partition computes.
    split_every : int, optional, keyword-only
        Fan-in of the merge tree.

    Returns
    -------
    dict of str to ndarray, pandas.DataFrame or dask.dataframe.DataFrame
        One row per label present, in increasing label order; the same column names,
        dtypes and values as scikit-image. With ``as_dask=True`` the index is the label
        and the divisions are the label ranges.

    Raises
    ------
    TypeError
        Non-integer ``label_image``; bad ``spacing`` or ``extra_properties`` types.
    ValueError
        Unknown property names; shape mismatch; bad ``spacing``.
    AttributeError
        Intensity properties without ``intensity_image`` (as scikit-image).
    NotImplementedError
        2-D-only properties on other ranks, Hu moments with spacing, multichannel
        intensity.

    Notes
    -----
    Computes. All table properties come from ONE pass over ``label_image`` (and
    ``intensity_image`` when an intensity property is asked for): every block task
    holds its blocks of both, a table of its labels (moments up to order 3 cost
    ``4**ndim`` numbers per label), a lookup table of its labels (at most 4 MiB) and
    at most 4 MiB of other temporaries, whatever the block: it walks the block in
    slabs of ``2**18`` voxels, making each slab's values in 64 bits and its int32
    label slots in turn. Measured
    (``benchmarks/bench_task_memory.py``, int32 labels and float32 intensity): 3 MiB
    above the input blocks for 64³ and 128³ blocks alike, where a task used to add
    16 bytes per voxel of its block (4x an int32 block; workers of 500 MB with the
    readers' default 32 MiB blocks were killed). Merges hold O(labels) rows.
    ``intensity_median`` adds the median's passes; crop properties and
    ``extra_properties`` add one pass that gathers each object's voxels into the task
    of its home block (see :func:`bigimg.ndimage.labeled_comprehension`: about 32
    bytes per voxel gathered, an object must fit in a task), where scikit-image
    measures each object on a crop of its bounding box (for ``area_filled``, about 6
    bytes per voxel of the box: 25 MiB for a 126 x 182 x 170 box).

    With ``as_dask=True`` nothing per label reaches the client: each block's rows are
    shuffled by label into partitions of ``bigimg.table-partition-labels`` consecutive
    labels (dask config, default 2**18; dask's peer-to-peer shuffle on a ``distributed``
    cluster, through each worker's local disk), and each partition merges its rows and
    derives its properties when computed. The call computes the largest label (one pass
    over ``label_image``); computing the frame makes one pass over both images.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from bigimg.measure import regionprops_table
    >>> from skimage.measure import regionprops_table as sk_table
    >>> lab = np.array([[0, 1, 1, 0], [2, 2, 0, 0], [2, 0, 0, 3]])
    >>> props = ("label", "area", "centroid")
    >>> t = regionprops_table(da.from_array(lab, chunks=2), properties=props)
    >>> t["centroid-1"]
    array([1.5       , 0.33333333, 3.        ])
    >>> ref = sk_table(lab, properties=props)
    >>> all(np.allclose(t[k], ref[k]) for k in ref) and list(t) == list(ref)
    True
    """
    lab = to_dask(label_image, name="label_image")
    if lab.dtype.kind not in "iu":
        raise TypeError(
            f"`label_image` must have an integer dtype; got {lab.dtype}. Label a mask "
            "first (bigimg.ndimage.label)."
        )
    x = None
    if intensity_image is not None:
        x = to_dask(intensity_image, name="intensity_image")
        if x.shape != lab.shape:
            if x.shape[: lab.ndim] == lab.shape:
                raise NotImplementedError(
                    "`intensity_image` with channels is not supported; got shape "
                    f"{x.shape} for labels {lab.shape}. Measure one channel at a time."
                )
            raise ValueError(
                f"`intensity_image` must have the shape of `label_image` {lab.shape}; "
                f"got {x.shape}."
            )
        if x.dtype.kind not in "biuf":
            raise TypeError(f"`intensity_image` must hold real numbers; got dtype {x.dtype}.")
    ndim = lab.ndim
    sp = _spacing(spacing, ndim)
    properties, extras = _check_properties(properties, extra_properties, ndim, x is not None, sp)
    if as_dask:
        return _lazy_table(lab, x, properties, extras, sp, separator, max_label)
    if as_dataframe:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("`as_dataframe=True` needs pandas; `pip install pandas`.") from exc
    table = _reduce(lab, x, set(properties), split_every)
    medians = None
    if "intensity_median" in properties:
        labels = table["labels"]
        medians = region_median(regions(x, lab, labels)) if labels.size else np.zeros(0)
    crop_names = [p for p in properties if p in _CROP]
    crop_values = {}
    if crop_names or extras:
        crop_values = _crop_properties(lab, x, table, crop_names, extras, sp)
    kinds = dict(PROPERTIES)
    kinds.update({f.__name__: extra_kind(crop_values[f.__name__]) for f in extras})
    out = assemble(
        table,
        names=[*properties, *(f.__name__ for f in extras)],
        kinds=kinds,
        spacing=sp,
        separator=separator,
        medians=medians,
        values=crop_values,
    )
    if as_dataframe:
        return pd.DataFrame(out)
    return out


def _table_spec(lab, x, props: set):
    """The aligned arrays, the table columns to measure and the moment orders."""
    order = 3 if props & _ORDER3 else 2 if props & _ORDER2 else 1 if props & _ORDER1 else -1
    wprops = {p for p in props if p.startswith(("moments_weighted", "centroid_weighted"))}
    worder = 3 if {p for p in wprops if p.startswith("moments")} else 1 if wprops else -1
    cols = {
        "mode": "labels",
        "lo": 1,
        "bbox": True,
        "moments": order,
        "wmoments": worder,
        "values": bool(props & {"intensity_mean", "intensity_std"}),
        "extrema": bool(props & {"intensity_min", "intensity_max"}),
        "m2": "intensity_std" in props,
    }
    use_x = worder >= 0 or cols["values"] or cols["extrema"] or cols["m2"]
    xa, la = align(
        x if use_x else None, lab, input_name="intensity_image", labels_name="label_image"
    )
    orders = {"mom_order": order, "wmom_order": worder}
    return xa, la, cols, orders


def _reduce(lab, x, props: set, split_every: int) -> dict:
    xa, la, cols, orders = _table_spec(lab, x, props)
    lazy = reduce_tables(xa, la, cols, split_every=split_every)
    (table,) = dask.compute(lazy.delayed)
    table.update(orders, dtype=x.dtype if x is not None else None)
    return table


def _lazy_table(lab, x, properties, extras, spacing, separator, max_label):
    """The table as a dask DataFrame partitioned by label range (``as_dask=True``)."""
    slow = [p for p in properties if p in _CROP or p == "intensity_median"]
    slow += [f.__name__ for f in extras]
    if slow:
        raise NotImplementedError(
            f"`as_dask=True` covers the properties computed from per-label sums; {slow} "
            "need each object's voxels in one task. Measure them with `as_dask=False` "
            "(on the objects you need, e.g. after `remove_small_objects`)."
        )
    if max_label is not None:
        if isinstance(max_label, bool) or not isinstance(max_label, Integral):
            raise TypeError(f"`max_label` must be an integer; got {max_label!r}.")
        max_label = int(max_label)
    xa, la, cols, orders = _table_spec(lab, x, set(properties))
    finish_kwargs = dict(
        orders,
        dtype=x.dtype if x is not None else None,
        names=list(properties),
        kinds=PROPERTIES,
        spacing=spacing,
        separator=separator,
    )
    return label_frame(
        xa, la, cols, finish=finish_table, finish_kwargs=finish_kwargs, top=max_label
    )


def _crop_properties(lab, x, table, names, extras, spacing) -> dict:
    xa, la = align(
        x if x is not None else lab, lab, input_name="intensity_image", labels_name="label_image"
    )
    func = _CropProps(names, extras, lab.shape, spacing, x is not None)
    idx = table["labels"]
    if not idx.size:
        return {n: [] for n in list(names) + [f.__name__ for f in extras]}
    sub = {"labels": idx, "lo": table["lo"], "hi": table["hi"]}
    lazy = gather_apply(
        xa, la, sub, {"lo": 1}, func, out_dtype=object, default=None, pass_positions=True, idx=idx
    )
    rows = lazy.compute()
    keys = list(names) + [f.__name__ for f in extras]
    return {k: [r[i] for r in rows] for i, k in enumerate(keys)}
