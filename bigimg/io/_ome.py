"""OME-Zarr multiscale pyramids (images and label images) written in one streaming pass.

Every level is computed from the level above it by a blockwise reduction over windows
of ``factors`` voxels: a mean (or max, min, nearest) for the image, the exact mode for
label images (never an interpolation, so no label value is ever invented). Images may
have time and channel axes in front of the space axes (OME-Zarr's ``tczyx`` order;
:mod:`bigimg.io._ome_axes`): those are never downsampled.

How the pass streams: the whole pyramid is one dask graph, computed once. Each block
of level ``n`` is written to the store by one task and read back from the store by
another that waits for it (:func:`bigimg.io._blocks.write_blocks`), so the source is
computed once, each level is read back once, and no level stays in memory: a task
holds one level-``n`` block of ``chunks × factors`` voxels and produces one stored chunk
of level ``n + 1``. Level ``n + 1`` starts as soon as the blocks it needs are stored.
Sharded levels (``shards=``, OME-Zarr 0.5) gather a shard's chunks in one task before
writing it whole. Every written block leaves a completion record, so an interrupted
pass can be resumed (``resume=True``) without recomputing what was stored.

Sizes that are not multiples of the factors: a level has ``ceil(size / factor)`` voxels
along an axis and the trailing partial window is reduced over the voxels it holds (no
padding value enters a mean or a mode). Voxel ``i`` of level ``n`` stands for level-0
voxels ``i F ... (i + 1) F - 1`` (``F`` the cumulative factor), so its centre sits at
``translation + scale (i F + (F - 1) / 2)``: the level's ``coordinateTransformations``
are ``scale × F`` and ``translation + scale (F - 1) / 2``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from bigimg._args import as_dask
from bigimg._atomic import resolve_progress
from bigimg._sources import rechunk
from bigimg.io._blocks import Records, write_blocks
from bigimg.io._downsample import downsample, ints, mode_downsample, out_shape
from bigimg.io._ome_axes import (
    axes_metadata,
    check_axes,
    default_chunks,
    physical,
    spread_factors,
    spread_ints,
)
from bigimg.io._shards import aligned, normalize_shards
from bigimg.io._stores import locate
from bigimg.io._target import Target, open_target, resume_identity
from bigimg.io._zarr import stored_codecs

__all__ = ["IMAGE_REDUCTIONS", "mode_downsample", "save_ome_zarr"]

#: Reductions ``save_ome_zarr`` offers for the image (label images always use the mode).
IMAGE_REDUCTIONS = ("mean", "max", "min", "nearest")


# --- argument checks ----------------------------------------------------------------------


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
        steps = [ints(f, ndim, "factors", factors) for f in factors]
        if levels is not None and levels != len(steps) + 1:
            raise ValueError(
                f"`levels` must be None or len(factors) + 1 = {len(steps) + 1} when `factors` "
                f"is a list per level; got {levels!r}."
            )
    else:
        step = ints(factors, ndim, "factors", factors)
        if levels is None:
            steps, size = [], tuple(shape)
            while any(f > 1 and n > c for n, c, f in zip(size, chunk, step)):
                steps.append(step)
                size = out_shape(size, step)
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
    shards: tuple[int, ...] | None = None

    def stored(self, shape) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
        """A level's stored chunks and shards (clipped to the level, shards whole chunks)."""
        chunk = tuple(min(c, n) for c, n in zip(self.chunk, shape))
        if self.shards is None:
            return chunk, None
        return chunk, tuple(min(s, -(-n // c) * c) for s, c, n in zip(self.shards, chunk, shape))


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
    axes = axes_metadata(lay.axes, lay.units)
    factors = [list(s) for s in lay.steps]
    ms = {
        "name": name,
        "axes": axes,
        "datasets": datasets,
        "type": method,
        "metadata": {"method": "bigimg.io.save_ome_zarr", "reduction": method, "factors": factors},
    }
    return ms | ({"version": "0.4"} if lay.version == "0.4" else {})


def _shapes(shape, lay: _Layout) -> list[tuple[int, ...]]:
    shapes = [tuple(shape)]
    for step in lay.steps:
        shapes.append(out_shape(shapes[-1], step))
    return shapes


def _create_image(group, name: str, arr: da.Array, method: str, lay: _Layout, label: bool):
    """Write an image's OME metadata and create its (empty) level arrays."""
    content = {"multiscales": [_multiscales(name, method, lay)]}
    if label:
        source = {"source": {"image": "../../"}}
        content["image-label"] = source | ({"version": "0.4"} if lay.version == "0.4" else {})
    group.attrs.update(_ome_attrs(lay.version, **content))
    zarr_format = 2 if lay.version == "0.4" else 3
    if zarr_format == 2:  # OME-NGFF 0.4 requires "/" in chunk keys
        extra = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
    else:
        extra = {"dimension_names": list(lay.axes)}
    dtype = arr.dtype.newbyteorder("=")
    for level, shape in enumerate(_shapes(arr.shape, lay)):
        chunk, shard = lay.stored(shape)
        group.create_array(
            str(level),
            shape=shape,
            dtype=dtype,
            fill_value=0,
            chunks=chunk,
            shards=shard,
            **stored_codecs(zarr_format, dtype),
            **extra,
        )


def _write_image(group, path: str, arr: da.Array, method: str, lay: _Layout, target: Target):
    """The graph filling an image's levels; returns ``(counts, written, total)``.

    Level ``n`` is written block by block (whole chunks, or whole shards); level
    ``n + 1`` is computed from level ``n`` read back from the store, block by block.
    A resumed write skips the blocks whose completion records exist.
    """
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    shapes = _shapes(arr.shape, lay)
    chunk, shard = lay.stored(shapes[0])
    unit = shard or chunk
    level = arr if aligned(arr, unit) else rechunk(arr, unit)
    meta = np.empty((0,) * arr.ndim, arr.dtype)
    counts, written, total = [], 0, 0
    for n in range(len(shapes)):
        records = Records(target.store.bare(), f"{path}/{n}".strip("/"))
        done = records.covered(unit) if target.resumed else set()
        last = n == len(lay.steps)
        count, back, w, t = write_blocks(
            level, group[str(n)], records, unit, done, read_back=not last
        )
        counts.append(count)
        written, total = written + w, total + t
        if last:
            break
        step = lay.steps[n]
        back = back.rechunk(tuple(c * f for c, f in zip(lay.chunk, step)))
        out_chunks = tuple(tuple(-(-c // f) for c in cs) for cs, f in zip(back.chunks, step))
        level = back.map_blocks(
            downsample, factors=step, how=method, dtype=arr.dtype, meta=meta, chunks=out_chunks
        )
        chunk, shard = lay.stored(shapes[n + 1])
        unit = shard or chunk
        if not aligned(level, unit):  # sharded: gather the chunks of each shard
            level = rechunk(level, unit)
    return counts, written, total


def save_ome_zarr(
    image,
    path,
    *,
    labels: Mapping | None = None,
    scale=None,
    translation=None,
    units="auto",
    axes: str | None = None,
    header=None,
    levels: int | None = None,
    factors=2,
    image_reduce: str = "mean",
    chunks=None,
    shards=None,
    ome_version: str = "0.5",
    overwrite: bool = False,
    resume: bool | str = False,
    storage_options: Mapping | None = None,
    progress=None,
    compute: bool = True,
):
    """Write an image (and label images) as an OME-Zarr multiscale pyramid napari opens.

    Parameters
    ----------
    image : numpy.ndarray or dask.array.Array
        A 2-D (y, x) to 5-D (t, c, z, y, x) image (see ``axes``); every level keeps
        its dtype.
    path : str or os.PathLike
        The new OME-Zarr image: a local folder or an fsspec URL (``s3://bucket/x.zarr``,
        ``memory://...``; ``file://`` URLs are local folders).
    labels : dict of str to array, optional
        Label images of the image's shape and an integer dtype, written under
        ``labels/<name>`` with ``image-label`` metadata and downsampled by the mode.
    scale : float or sequence of float, optional
        Physical voxel size of the full-resolution level: one number or one per space
        axis (the time axis then gets its time step, the channel axis 1), or one per
        axis. ``None`` (default): the spacing of the file ``image`` was read from, if it
        comes straight from a NIfTI, DICOM, HDF5, MRC or NRRD reader (see
        :func:`bigimg.io.header`) and the header gives every space axis's spacing; else
        1.0. The time step is the header's (NIfTI ``pixdim[4]``) if it has a valid one,
        else 1; a channel axis always gets 1.
    translation : float or sequence of float, optional
        Physical position of the centre of the first full-resolution voxel: one number
        or one per space axis (0 on time and channel), or one per axis. ``None``
        (default): for an array straight from a reader whose header gives the origin
        and each space axis's direction, and whose units are written, the origin along
        each space axis (``origin . direction``; see Notes); else 0.
    units : str, None or sequence, optional
        OME-NGFF space unit(s) of the space axes, e.g. ``"micrometer"``,
        ``"nanometer"``; ``None`` writes no unit. A sequence gives one unit per space
        axis, or one per axis (a time unit such as ``"second"`` on ``t``, ``None`` on
        ``c``). ``"auto"`` (default): for an array straight from a reader, its header's
        units (none where the header gives none, or when neither its spacing nor a
        ``scale`` is written); for any other array ``"micrometer"``, as before. The time
        axis carries the header's time unit (NIfTI ``xyzt_units``) when its time step is
        the header's, unless a unit per axis is given.
    axes : str, optional
        Axis names in OME-Zarr order: an optional ``"t"`` (time), an optional ``"c"``
        (channel), then ``"zyx"`` or ``"yx"``, e.g. ``"tzyx"``, ``"czyx"``,
        ``"tczyx"``, ``"cyx"``. ``None`` (default): from the rank, 2-D ``"yx"``, 3-D
        ``"zyx"``, 4-D ``"tzyx"`` (a NIfTI series: volumes along the leading axis),
        5-D ``"tczyx"``; say ``"czyx"`` for a 4-D stack of channels.
    header : bigimg.io.Header, optional
        The header whose spacing, time step, units and origin give the defaults of
        ``scale``, ``units`` and ``translation``, for an image derived from a file (a
        filter or label result keeps its file's grid); it must have the image's shape.
        ``None``: the image's own header, if it comes straight from a reader.
    levels : int, optional
        Number of levels, the full resolution included. ``None``: downsample until
        every downsampled axis fits in one chunk (or the length of a per-level
        ``factors`` list plus one).
    factors : int, tuple of int or list of tuples, optional
        Downsampling factor per axis from one level to the next, e.g. ``(1, 2, 2)`` for
        anisotropic stacks, or one tuple per level after the first. An int or a tuple
        per space axis leaves time and channel axes alone; a tuple per axis must hold
        1 on them (they are never downsampled).
    image_reduce : {"mean", "max", "min", "nearest"}, optional
        How a window of the image becomes one voxel. Integer means are rounded to the
        nearest integer (halves to even); ``"nearest"`` keeps the window's first voxel.
    chunks : int or tuple of int, optional
        Stored chunk shape of every level (clipped to small levels); the inner chunks
        when sharded. An int or a tuple per space axis stores one time point and one
        channel per chunk. ``None``: 128 per space axis of a volume, 1024 of a plane,
        1 along time and channel.
    shards : None, int or tuple of int, optional
        Shard shape of every level (zarr v3 sharding, so ``ome_version="0.5"``): each
        shard is one stored object holding a grid of ``chunks``; a multiple of
        ``chunks`` along every axis (clipped to small levels); an int or a tuple per
        space axis keeps the chunks' extent along time and channel. ``None``: unsharded.
    ome_version : {"0.5", "0.4"}, optional
        "0.5" (default) writes zarr v3, what current OME-Zarr tools expect (ome-zarr-py
        >= 0.12, napari-ome-zarr); "0.4" writes zarr v2, for older readers.
    overwrite : bool, optional
        Replace an existing output: locally only once the new one is complete; at a
        URL the old output is deleted when the new write starts.
    resume : bool or str, optional
        Continue an interrupted write of the same image and labels (same graph, or the
        same str naming the computation) with the same layout: blocks already written
        are skipped and never computed. A failed resumable write keeps its partial
        output. See :func:`bigimg.io.save_zarr`.
    storage_options : dict, optional
        Options of the URL's filesystem (credentials, endpoint); they stay inside the
        store object and never appear in messages.
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
        For images of fewer than 2 or more than 5 dimensions (when ``axes`` is None).
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError, PermissionError, ImportError
        For a missing folder or bucket, refused credentials, or a URL scheme whose
        filesystem package is not installed; all before anything is written.

    Notes
    -----
    One pass (see the module notes): each level-``n + 1`` task reads back one block of
    ``chunks × factors`` level-``n`` voxels that was just stored and writes one chunk,
    so a task holds that block (for the mean also a float64 copy of at most half of
    it). Labels use :func:`mode_downsample`: the exact mode of each window, ties to the
    smallest label, 0 counted like any label. Level ``n``'s metadata has scale
    ``scale × F`` and translation ``translation + scale (F - 1) / 2`` for the
    cumulative factor ``F``, so voxel centres line up across levels. Sharded levels
    are written whole shard by whole shard (a task gathers a shard's chunks first).
    The root carries the attribute ``"bigimg_incomplete"`` until the last block is
    written (removed last, after the completion records); a local store also lives
    under a partial name until then, while at a URL (no rename) the attribute alone
    marks it incomplete and every bigimg reader refuses it.
    :func:`bigimg.io.open_zarr` opens level 0 (``component="2"`` for level 2,
    ``component="labels/<name>"`` for a label image).

    Time and channel axes (``axes`` with ``"t"``, ``"c"``) are written with the types
    ``"time"`` and ``"channel"``, never downsampled, and stored one time point and one
    channel per chunk by default, so each task of every level holds one 3-D block of one
    time point. The header's origin becomes the translation along the image's own axes
    (OME-Zarr has no rotation): ``origin . direction[a]`` for space axis ``a``, which is
    the world position of the first voxel for axes that run along the world axes; the
    orientation itself stays in the file's header.

    Only an array straight from a reader (or a rechunk of it) lends its header's
    spacing, units and origin; a slice, a transpose or any computed result has no header
    (:func:`bigimg.io.header` gives ``None``), so it is written with ``scale=1.0``
    unless given one: pass ``header=h``, the original's header, when the result keeps
    its grid (a filter, a threshold, labels), or ``scale=h.spacing, units=h.units``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from bigimg.io import open_zarr, save_ome_zarr
    >>> img = np.arange(4 * 6 * 6, dtype=np.uint16).reshape(4, 6, 6)
    >>> cells = (img // 40).astype(np.uint32)
    >>> path = save_ome_zarr(img, os.path.join(tempfile.mkdtemp(), "img.zarr"),
    ...                      labels={"cells": cells}, scale=(2.0, 0.5, 0.5),
    ...                      factors=(1, 2, 2), levels=2, progress=False)
    >>> open_zarr(path, component="1").shape
    (4, 3, 3)
    >>> bool((open_zarr(path, component="labels/cells").compute() == cells).all())
    True

    An array straight from a reader brings its header's spacing and unit:

    >>> import nibabel, zarr
    >>> from bigimg.io import open
    >>> brain = open(os.path.join(os.path.dirname(nibabel.__file__), "tests", "data",
    ...                           "anatomical.nii"))  # 2 mm voxels
    >>> path = save_ome_zarr(brain, os.path.join(tempfile.mkdtemp(), "brain.zarr"),
    ...                      levels=1, progress=False)
    >>> ms = zarr.open_group(path, mode="r").attrs["ome"]["multiscales"][0]
    >>> ms["datasets"][0]["coordinateTransformations"][0], ms["axes"][0]
    ({'type': 'scale', 'scale': [2.0, 2.0, 2.0]}, {'name': 'z', 'type': 'space', 'unit': 'millimeter'})

    A 4-D series (t, z, y, x): the time axis is kept whole, the space axes downsampled.

    >>> series = np.arange(3 * 4 * 6 * 6, dtype=np.uint16).reshape(3, 4, 6, 6)
    >>> path = save_ome_zarr(series, os.path.join(tempfile.mkdtemp(), "series.zarr"),
    ...                      scale=(2.5, 1.0, 0.5, 0.5), units=("second", *["micrometer"] * 3),
    ...                      factors=(1, 2, 2), levels=2, progress=False)
    >>> ms = zarr.open_group(path, mode="r").attrs["ome"]["multiscales"][0]
    >>> [(a["name"], a["type"], a.get("unit")) for a in ms["axes"]][:2]
    [('t', 'time', 'second'), ('z', 'space', 'micrometer')]
    >>> open_zarr(path, component="1").shape, ms["datasets"][1]["coordinateTransformations"][0]
    ((3, 4, 3, 3), {'type': 'scale', 'scale': [2.5, 1.0, 1.0, 1.0]})
    """
    arr = as_dask(image, name="image")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`image` must have a bool, integer or float dtype; got {arr.dtype}.")
    if any(not isinstance(n, numbers.Integral) for n in arr.shape) or 0 in arr.shape:
        raise ValueError(f"`image` must have a known, non-empty shape; got {arr.shape}.")
    ndim = arr.ndim
    axes = check_axes(axes, ndim)
    scale, translation, units = physical(arr, axes, scale, translation, units, header)
    if image_reduce not in IMAGE_REDUCTIONS:
        raise ValueError(
            f"`image_reduce` must be one of {IMAGE_REDUCTIONS}; got "
            f"{image_reduce!r}. Label images always use the mode."
        )
    chunk = default_chunks(axes) if chunks is None else chunks
    chunk = ints(spread_ints(chunk, axes, (1,) * ndim, "chunks"), ndim, "chunks")
    steps = _plan(arr.shape, chunk, spread_factors(factors, axes), levels)
    if ome_version not in ("0.4", "0.5"):
        raise ValueError(f"`ome_version` must be '0.4' or '0.5'; got {ome_version!r}.")
    if shards is not None and ome_version == "0.4":
        raise ValueError(
            f"`shards` need ome_version='0.5' (zarr v3; OME-Zarr 0.4 is zarr v2, which has "
            f"no sharding); got ome_version='0.4' with shards={shards!r}."
        )
    shard = normalize_shards(spread_ints(shards, axes, chunk, "shards"), chunk, 3)
    if not isinstance(compute, bool):
        raise TypeError(f"`compute` must be True or False; got {compute!r}.")
    label_arrays = _check_labels(labels, arr)
    show = resolve_progress(progress)
    resume, computation = resume_identity(
        resume, tokenize(arr.name, [(k, v.name) for k, v in label_arrays.items()])
    )
    lay = _Layout(axes, units, scale, translation, steps, chunk, ome_version, shard)
    loc = locate(path, storage_options)
    marker = {
        "writer": "save_ome_zarr",
        "computation": computation,
        "layout": tokenize(
            repr(lay),
            image_reduce,
            arr.shape,
            arr.dtype.str,
            sorted((k, v.dtype.str) for k, v in label_arrays.items()),
        ),
    }
    target = open_target(
        loc, overwrite=overwrite, resume=resume, marker=marker, func="save_ome_zarr"
    )
    base = os.path.basename(loc.path) if loc.local else loc.url.rstrip("/").rsplit("/", 1)[-1]
    name = os.path.splitext(base)[0]
    with target.creating():
        store = target.store.zarr_store(read_only=False)
        if target.resumed:
            root = zarr.open_group(store, mode="r+")
        else:
            zarr_format = 2 if ome_version == "0.4" else 3
            attrs = target.create_attrs(zarr_format)
            root = zarr.create_group(store, zarr_format=zarr_format, attributes=attrs)
            _create_image(root, name, arr, image_reduce, lay, label=False)
            if label_arrays:
                group = root.create_group("labels")
                group.attrs.update(_ome_attrs(ome_version, labels=list(label_arrays)))
                for label_name, lab in label_arrays.items():
                    sub = group.create_group(label_name)
                    _create_image(sub, label_name, lab, "mode", lay, label=True)
        counts, written, total = _write_image(root, "", arr, image_reduce, lay, target)
        for label_name, lab in label_arrays.items():
            path = f"labels/{label_name}"
            more, w, t = _write_image(root[path], path, lab, "mode", lay, target)
            counts, written, total = counts + more, written + w, total + t
    return target.run(
        counts, progress=show, compute=compute, desc="save_ome_zarr", blocks=(written, total)
    )
