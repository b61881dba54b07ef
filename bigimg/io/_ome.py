"""OME-Zarr multiscale pyramids (images and label images) written in one streaming pass.

Every level is computed from the level above it by a blockwise reduction over windows
of ``factors`` voxels: a mean (or max, min, nearest) for the image, the exact mode for
label images (never an interpolation, so no label value is ever invented).

How the pass streams: the whole pyramid is one dask graph, computed once. Each block
of level ``n`` is written to the store and read back from the store by the tasks of
level ``n + 1`` (dask's ``store(return_stored=True, load_stored=False)``), so the source
is computed once, each level is read back once, and no level stays in memory: a task
holds one level-``n`` block of ``chunks × factors`` voxels and produces one stored chunk
of level ``n + 1``. Level ``n + 1`` starts as soon as the blocks it needs are on disk.

Sizes that are not multiples of the factors: a level has ``ceil(size / factor)`` voxels
along an axis and the trailing partial window is reduced over the voxels it holds (no
padding value enters a mean or a mode). Voxel ``i`` of level ``n`` stands for level-0
voxels ``i F ... (i + 1) F - 1`` (``F`` the cumulative factor), so its centre sits at
``translation + scale (i F + (F - 1) / 2)``: the level's ``coordinateTransformations``
are ``scale × F`` and ``translation + scale (F - 1) / 2``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import dask.array as da
import numba
import numpy as np
import zarr

from bigimg._args import as_dask
from bigimg._sources import rechunk
from bigimg.io._atomic import discard_on_error, prepare_output, resolve_progress, run_write
from bigimg.io._reader import check_path
from bigimg.io._zarr import INCOMPLETE_ATTR, _aligned, _default_compressor

__all__ = ["IMAGE_REDUCTIONS", "mode_downsample", "save_ome_zarr"]

#: Reductions ``save_ome_zarr`` offers for the image (label images always use the mode).
IMAGE_REDUCTIONS = ("mean", "max", "min", "nearest")

#: Space units OME-NGFF 0.4/0.5 allow (UDUNITS-2 names).
SPACE_UNITS = frozenset(
    "angstrom attometer centimeter decimeter exameter femtometer foot gigameter hectometer "
    "inch kilometer megameter meter micrometer mile millimeter nanometer parsec petameter "
    "picometer terameter yard yoctometer yottameter zeptometer zettameter".split()
)

_DEFAULT_CHUNK = {2: 1024, 3: 128}


# --- per-block reductions ---------------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def _mode3(block, fz, fy, fx, out):  # pragma: no cover - compiled
    nz, ny, nx = block.shape
    buf = np.empty(fz * fy * fx, block.dtype)
    for oz in range(out.shape[0]):
        z0, z1 = oz * fz, min(oz * fz + fz, nz)
        for oy in range(out.shape[1]):
            y0, y1 = oy * fy, min(oy * fy + fy, ny)
            for ox in range(out.shape[2]):
                x0, x1 = ox * fx, min(ox * fx + fx, nx)
                k = 0
                for z in range(z0, z1):
                    for y in range(y0, y1):
                        for x in range(x0, x1):
                            buf[k] = block[z, y, x]
                            k += 1
                first, same = buf[0], True
                for i in range(1, k):
                    if buf[i] != first:
                        same = False
                        break
                if same:  # the common case inside objects and background
                    out[oz, oy, ox] = first
                    continue
                window = buf[:k]
                if k > 32:
                    window.sort()
                else:  # insertion sort: cheapest for small windows
                    for i in range(1, k):
                        v, j = window[i], i - 1
                        while j >= 0 and window[j] > v:
                            window[j + 1] = window[j]
                            j -= 1
                        window[j + 1] = v
                best, best_count, run = window[0], 0, 0
                for i in range(k):
                    if i > 0 and window[i] != window[i - 1]:
                        run = 0
                    run += 1
                    if run > best_count:  # strict: ties keep the smaller value
                        best, best_count = window[i], run
                out[oz, oy, ox] = best
    return out


@numba.njit(nogil=True, cache=True)
def _fold3(block, fz, fy, fx, how, out):  # pragma: no cover - compiled
    """Fold every voxel into its window's entry of ``out``: 0 sum, 1 max, 2 min.

    For max/min ``out`` starts as each window's first voxel; NaN propagates.
    """
    nz, ny, nx = block.shape
    for z in range(nz):
        oz = z // fz
        for y in range(ny):
            oy = y // fy
            for x in range(nx):
                v = block[z, y, x]
                ox = x // fx
                if how == 0:
                    out[oz, oy, ox] += v
                elif v != v or (v > out[oz, oy, ox] if how == 1 else v < out[oz, oy, ox]):
                    out[oz, oy, ox] = v
    return out


def _out_shape(shape, factors) -> tuple[int, ...]:
    return tuple(-(-n // f) for n, f in zip(shape, factors))


def _as3d(block: np.ndarray, factors) -> tuple[np.ndarray, tuple[int, ...]]:
    """A 2-D block as a 3-D one with a leading axis of length 1 (factor 1)."""
    lead = (1,) * (3 - block.ndim)
    return np.ascontiguousarray(block.reshape(lead + block.shape)), lead + tuple(factors)


def mode_downsample(block: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """The most frequent value in each window of ``factors`` voxels; ties give the smallest.

    Windows tile the array from its origin; a trailing partial window counts only the
    voxels it holds. Every value, 0 included, counts the same. This is how
    :func:`save_ome_zarr` downsamples label images.

    Parameters
    ----------
    block : numpy.ndarray
        A 2-D or 3-D integer array.
    factors : sequence of int
        Window size per axis (each >= 1).

    Returns
    -------
    numpy.ndarray
        Shape ``ceil(block.shape / factors)``, dtype of ``block``.

    Notes
    -----
    Compiled with numba (no Python loop per window, releases the GIL); besides the
    input and output it holds one window.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from bigimg.io._ome import mode_downsample
    >>> lab = np.array([[1, 1, 2, 3, 7], [2, 2, 3, 2, 7]], dtype=np.uint32)
    >>> mode_downsample(lab, (2, 2))
    array([[1, 2, 7]], dtype=uint32)
    >>> int(stats.mode([2, 3, 3, 2]).mode)
    2
    """
    block = np.asarray(block)
    if block.ndim not in (2, 3) or block.dtype.kind not in "iu":
        raise TypeError(
            f"`block` must be a 2-D or 3-D integer array; got {block.ndim}-D {block.dtype}."
        )
    factors = _ints(factors, block.ndim, "factors")
    out = np.empty(_out_shape(block.shape, factors), block.dtype.newbyteorder("="))
    if block.size:
        b3, f3 = _as3d(block.astype(out.dtype, copy=False), factors)
        _mode3(b3, *f3, out.reshape(_out_shape(b3.shape, f3)))
    return out


def _downsample(block: np.ndarray, factors: tuple[int, ...], how: str) -> np.ndarray:
    """Reduce one block (whose origin is a window corner) by ``factors``."""
    if how == "mode":
        return mode_downsample(block, factors)
    if how == "nearest":
        return np.ascontiguousarray(block[tuple(slice(None, None, f) for f in factors)])
    dtype = block.dtype
    if dtype.kind == "b":
        block = block.view(np.uint8)
    elif dtype == np.float16:  # numba has no float16
        block = block.astype(np.float32)
    b3, f3 = _as3d(block, factors)
    if how == "mean":
        acc = np.zeros(_out_shape(b3.shape, f3), np.float64)
        _fold3(b3, *f3, 0, acc)
        sizes = [np.minimum(f, n - np.arange(0, n, f)) for n, f in zip(b3.shape, f3)]
        acc /= sizes[0][:, None, None] * sizes[1][None, :, None] * sizes[2][None, None, :]
        if dtype.kind in "biu":  # nearest integer, halves to even
            np.rint(acc, out=acc)
    else:
        acc = np.ascontiguousarray(b3[:: f3[0], :: f3[1], :: f3[2]])
        _fold3(b3, *f3, 1 if how == "max" else 2, acc)
    return acc.reshape(_out_shape(block.shape, factors)).astype(dtype, copy=False)


# --- argument checks ----------------------------------------------------------------------


def _per_axis(value, ndim: int, name: str, *, positive: bool) -> tuple[float, ...]:
    values = (value,) * ndim if isinstance(value, numbers.Real) else value
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(
            f"`{name}` must be a number or a sequence of {ndim} numbers; got {value!r}."
        )
    values = tuple(values)
    if len(values) != ndim or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"`{name}` must hold {ndim} numbers, one per axis; got {value!r}.")
    if not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        kind = "positive finite" if positive else "finite"
        raise ValueError(f"`{name}` must hold {kind} numbers; got {value!r}.")
    return tuple(float(v) for v in values)


def _check_axes(axes, ndim: int) -> str:
    if not isinstance(axes, str):
        raise TypeError(f"`axes` must be a str such as 'zyx'; got {axes!r}.")
    if ndim not in (2, 3) or set(axes) & set("tc"):
        raise NotImplementedError(
            f"save_ome_zarr writes 2-D (yx) or 3-D (zyx) spatial images; got a {ndim}-D image "
            f"with axes {axes!r} (time and channel axes are not supported). Write each "
            "channel or time point as its own image."
        )
    if axes != "zyx"[-ndim:]:
        raise ValueError(f"`axes` must be {'zyx'[-ndim:]!r} for a {ndim}-D image; got {axes!r}.")
    return axes


def _check_units(units, ndim: int) -> tuple[str | None, ...]:
    values = (units,) * ndim if units is None or isinstance(units, str) else units
    if not isinstance(values, Sequence) or len(values) != ndim:
        raise ValueError(f"`units` must be a unit name, None or {ndim} of them; got {units!r}.")
    for u in values:
        if u is not None and u not in SPACE_UNITS:
            raise ValueError(
                f"`units` must be OME-NGFF space units such as 'micrometer' or 'nanometer' "
                f"(full UDUNITS-2 names); got {units!r}."
            )
    return tuple(values)


def _ints(value, ndim: int, name: str, given=None) -> tuple[int, ...]:
    """``value`` as ``ndim`` ints >= 1 (an int is broadcast)."""
    values = (value,) * ndim if isinstance(value, numbers.Integral) else value
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"`{name}` must be an int or a tuple of ints; got {value!r}.")
    ok = len(values) == ndim
    if (
        not ok
        or not all(isinstance(v, numbers.Integral) and v >= 1 for v in values)
        or any(isinstance(v, bool) for v in values)
    ):
        extra = " or a list of such tuples, one per level after the first" if given else ""
        raise ValueError(
            f"`{name}` must be an int >= 1 or a tuple of {ndim} such ints{extra}; "
            f"got {value if given is None else given!r}."
        )
    return tuple(int(v) for v in values)


def _plan(shape, chunk, factors, levels) -> list[tuple[int, ...]]:
    """One factor tuple per level after the first."""
    ndim = len(shape)
    if levels is not None and (
        isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 1
    ):
        raise ValueError(
            f"`levels` must be None or an int >= 1 (levels in all, the full "
            f"resolution included); got {levels!r}."
        )
    per_level = (
        isinstance(factors, Sequence)
        and len(factors) > 0
        and all(isinstance(f, Sequence) for f in factors)
    )
    if per_level:
        steps = [_ints(f, ndim, "factors", factors) for f in factors]
        if levels is not None and levels != len(steps) + 1:
            raise ValueError(
                f"`levels` must be None or len(factors) + 1 = {len(steps) + 1} when `factors` "
                f"is a list per level; got {levels!r}."
            )
    else:
        step = _ints(factors, ndim, "factors", factors)
        if levels is None:
            steps, size = [], tuple(shape)
            while any(f > 1 and n > c for n, c, f in zip(size, chunk, step)):
                steps.append(step)
                size = _out_shape(size, step)
        else:
            steps = [step] * (levels - 1)
    if any(all(f == 1 for f in s) for s in steps):
        raise ValueError(f"`factors` must have a factor > 1 in every level; got {factors!r}.")
    return steps


def _check_labels(labels, image: da.Array) -> dict[str, da.Array]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"`labels` must be None or a dict name -> label array; got {type(labels).__name__}."
        )
    out = {}
    for name, lab in labels.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise ValueError(f"`labels` names must be non-empty strs without '/'; got {name!r}.")
        arr = as_dask(lab, name=f"labels[{name!r}]")
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"`labels[{name!r}]` must have an integer dtype; got {arr.dtype}. Use "
                ".astype(np.uint32) (label images are integers; bool masks become 0/1)."
            )
        if arr.shape != image.shape:
            raise ValueError(
                f"`labels[{name!r}]` must have the image's shape {image.shape}; got {arr.shape}."
            )
        out[name] = arr
    return out


# --- metadata and writing ----------------------------------------------------------------


class _Layout(NamedTuple):
    """Everything the levels of the image and of its label images share."""

    axes: str
    units: tuple[str | None, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    steps: list[tuple[int, ...]]
    chunk: tuple[int, ...]
    version: str


def _ome_attrs(version: str, **content) -> dict:
    """0.4 keeps OME keys at the top of the attributes; 0.5 nests them under ``"ome"``."""
    return content if version == "0.4" else {"ome": {"version": "0.5", **content}}


def _multiscales(name: str, method: str, lay: _Layout) -> dict:
    cumulative, datasets = [1] * len(lay.axes), []
    for level in range(len(lay.steps) + 1):
        if level:
            cumulative = [c * f for c, f in zip(cumulative, lay.steps[level - 1])]
        shift = [t + s * (c - 1) / 2 for t, s, c in zip(lay.translation, lay.scale, cumulative)]
        transforms = [
            {"type": "scale", "scale": [s * c for s, c in zip(lay.scale, cumulative)]},
            {"type": "translation", "translation": shift},
        ]
        datasets.append({"path": str(level), "coordinateTransformations": transforms})
    axes = [
        {"name": a, "type": "space"} | ({"unit": u} if u else {})
        for a, u in zip(lay.axes, lay.units)
    ]
    factors = [list(s) for s in lay.steps]
    ms = {
        "name": name,
        "axes": axes,
        "datasets": datasets,
        "type": method,
        "metadata": {"method": "bigimg.io.save_ome_zarr", "reduction": method, "factors": factors},
    }
    return ms | ({"version": "0.4"} if lay.version == "0.4" else {})


def _read_back(stored, block_info=None):
    where = tuple(slice(a, b) for a, b in block_info[0]["array-location"])
    return np.asarray(stored[where])


def _write_image(group, name: str, arr: da.Array, method: str, lay: _Layout, *, label=False):
    """Write the OME metadata and create the level arrays; return the graph filling them."""
    content = {"multiscales": [_multiscales(name, method, lay)]}
    if label:
        source = {"source": {"image": "../../"}}
        content["image-label"] = source | ({"version": "0.4"} if lay.version == "0.4" else {})
    group.attrs.update(_ome_attrs(lay.version, **content))
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    zarr_format = 2 if lay.version == "0.4" else 3
    if zarr_format == 2:  # OME-NGFF 0.4 requires "/" in chunk keys
        extra = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
    else:
        extra = {"dimension_names": list(lay.axes)}
    shapes = [arr.shape]
    for step in lay.steps:
        shapes.append(_out_shape(shapes[-1], step))
    targets = [
        group.create_array(
            str(level),
            shape=shape,
            dtype=arr.dtype,
            fill_value=0,
            chunks=tuple(min(c, n) for c, n in zip(lay.chunk, shape)),
            compressors=[_default_compressor(zarr_format, arr.dtype)],
            **extra,
        )
        for level, shape in enumerate(shapes)
    ]
    level = arr if _aligned(arr, lay.chunk) else rechunk(arr, lay.chunk)
    meta = np.empty((0,) * arr.ndim, arr.dtype)
    for n, step in enumerate(lay.steps):
        stored = da.store(
            level, targets[n], lock=False, compute=False, return_stored=True, load_stored=False
        )
        back = stored.map_blocks(_read_back, dtype=arr.dtype, meta=meta)
        back = back.rechunk(tuple(c * f for c, f in zip(lay.chunk, step)))
        out_chunks = tuple(tuple(-(-c // f) for c in cs) for cs, f in zip(back.chunks, step))
        level = back.map_blocks(
            _downsample, factors=step, how=method, dtype=arr.dtype, meta=meta, chunks=out_chunks
        )
    return da.store(level, targets[-1], lock=False, compute=False)


def save_ome_zarr(
    image,
    path,
    *,
    labels: Mapping | None = None,
    scale=1.0,
    translation=0.0,
    units="micrometer",
    axes: str = "zyx",
    levels: int | None = None,
    factors=2,
    image_reduce: str = "mean",
    chunks=None,
    ome_version: str = "0.4",
    overwrite: bool = False,
    progress=None,
    compute: bool = True,
):
    """Write an image (and label images) as an OME-Zarr multiscale pyramid napari opens.

    Parameters
    ----------
    image : numpy.ndarray or dask.array.Array
        A 3-D (z, y, x) or 2-D (y, x) volume; every level keeps its dtype.
    path : str or os.PathLike
        The local folder of the new OME-Zarr image.
    labels : dict of str to array, optional
        Label images of the image's shape and an integer dtype, written under
        ``labels/<name>`` with ``image-label`` metadata and downsampled by the mode.
    scale : float or sequence of float, optional
        Physical voxel size of the full-resolution level, per axis.
    translation : float or sequence of float, optional
        Physical position of the centre of the first full-resolution voxel.
    units : str, None or sequence, optional
        OME-NGFF space unit(s), e.g. ``"micrometer"``, ``"nanometer"``.
    axes : {"zyx", "yx"}, optional
        Axis names; must match the image's dimensionality.
    levels : int, optional
        Number of levels, the full resolution included. ``None``: downsample until
        every downsampled axis fits in one chunk (or the length of a per-level
        ``factors`` list plus one).
    factors : int, tuple of int or list of tuples, optional
        Downsampling factor per axis from one level to the next, e.g. ``(1, 2, 2)`` for
        anisotropic stacks, or one tuple per level after the first.
    image_reduce : {"mean", "max", "min", "nearest"}, optional
        How a window of the image becomes one voxel. Integer means are rounded to the
        nearest integer (halves to even); ``"nearest"`` keeps the window's first voxel.
    chunks : int or tuple of int, optional
        Stored chunk shape of every level (clipped to small levels). ``None``: 128 per
        axis for 3-D, 1024 for 2-D.
    ome_version : {"0.4", "0.5"}, optional
        "0.4" writes zarr v2 (read by every OME-Zarr tool); "0.5" writes zarr v3.
    overwrite : bool, optional
        Replace an existing output (only once the new one is complete).
    progress : bool or None, optional
        Show a progress bar; by default only when stderr is a terminal.
    compute : bool, optional
        If False, return a :class:`dask.delayed.Delayed` that writes everything and
        returns the path (the empty store is created now, under a partial name).

    Returns
    -------
    str or dask.delayed.Delayed
        The absolute path of the OME-Zarr image.

    Raises
    ------
    TypeError, ValueError
        For invalid arguments, before anything is created.
    NotImplementedError
        For images that are not 2-D or 3-D spatial (time or channel axes).
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    One pass (see the module notes): each level-``n + 1`` task reads back one block of
    ``chunks × factors`` level-``n`` voxels that was just stored and writes one chunk,
    so a task holds that block (for the mean also a float64 copy of at most half of
    it). Labels use :func:`mode_downsample`: the exact mode of each window, ties to the
    smallest label, 0 counted like any label. Level ``n``'s metadata has scale
    ``scale × F`` and translation ``translation + scale (F - 1) / 2`` for the
    cumulative factor ``F``, so voxel centres line up across levels. The store lives
    under a partial name with the root attribute ``"bigimg_incomplete"`` until the
    last chunk is written. :func:`bigimg.io.open_zarr` opens level 0 (``component="2"``
    for level 2, ``component="labels/<name>"`` for a label image).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_zarr
    >>> from bigimg.io._ome import save_ome_zarr
    >>> img = np.arange(4 * 6 * 6, dtype=np.uint16).reshape(4, 6, 6)
    >>> cells = (img // 40).astype(np.uint32)
    >>> path = save_ome_zarr(img, os.path.join(tempfile.mkdtemp(), "img.zarr"),
    ...                      labels={"cells": cells}, scale=(2.0, 0.5, 0.5),
    ...                      factors=(1, 2, 2), levels=2, progress=False)
    >>> open_zarr(path, component="1").shape
    (4, 3, 3)
    >>> bool((open_zarr(path, component="labels/cells").compute() == cells).all())
    True
    """
    arr = as_dask(image, name="image")
    path = check_path(path)
    if "://" in path:
        raise NotImplementedError(
            f"save_ome_zarr writes local folders only; got {path!r}. Write locally and upload."
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`image` must have a bool, integer or float dtype; got {arr.dtype}.")
    if any(not isinstance(n, numbers.Integral) for n in arr.shape) or 0 in arr.shape:
        raise ValueError(f"`image` must have a known, non-empty shape; got {arr.shape}.")
    ndim = arr.ndim
    axes = _check_axes(axes, ndim)
    scale = _per_axis(scale, ndim, "scale", positive=True)
    translation = _per_axis(translation, ndim, "translation", positive=False)
    units = _check_units(units, ndim)
    if image_reduce not in IMAGE_REDUCTIONS:
        raise ValueError(
            f"`image_reduce` must be one of {IMAGE_REDUCTIONS}; got "
            f"{image_reduce!r}. Label images always use the mode."
        )
    chunk = _ints(_DEFAULT_CHUNK[ndim] if chunks is None else chunks, ndim, "chunks")
    steps = _plan(arr.shape, chunk, factors, levels)
    if ome_version not in ("0.4", "0.5"):
        raise ValueError(f"`ome_version` must be '0.4' or '0.5'; got {ome_version!r}.")
    if not isinstance(compute, bool):
        raise TypeError(f"`compute` must be True or False; got {compute!r}.")
    label_arrays = _check_labels(labels, arr)
    show = resolve_progress(progress)
    partial = prepare_output(path, overwrite=overwrite, kind="directory", func="save_ome_zarr")
    path = os.path.abspath(path)

    lay = _Layout(axes, units, scale, translation, steps, chunk, ome_version)
    name = os.path.splitext(os.path.basename(path))[0]
    with discard_on_error(partial):
        root = zarr.open_group(partial, mode="w-", zarr_format=2 if ome_version == "0.4" else 3)
        root.attrs[INCOMPLETE_ATTR] = True
        writes = [_write_image(root, name, arr, image_reduce, lay)]
        if label_arrays:
            group = root.create_group("labels")
            group.attrs.update(_ome_attrs(ome_version, labels=list(label_arrays)))
            for label_name, lab in label_arrays.items():
                sub = group.create_group(label_name)
                writes.append(_write_image(sub, label_name, lab, "mode", lay, label=True))
    return run_write(
        writes,
        partial,
        path,
        overwrite=overwrite,
        progress=show,
        compute=compute,
        desc="save_ome_zarr",
        finish=_clear_marker,
    )


def _clear_marker(partial: str) -> None:
    root = zarr.open_group(partial, mode="r+")
    del root.attrs[INCOMPLETE_ATTR]
