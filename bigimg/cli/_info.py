"""``bigimg info``: what a volume on disk holds, read from its header (no voxels read)."""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET

import numpy as np

from bigimg._atomic import refuse_partial
from bigimg._monitor import format_bytes
from bigimg.cli._common import disk_size, shape_text
from bigimg.cli._sources import PHYSICAL_FORMATS, open_volume
from bigimg.io import header, tiff_stack_files

__all__ = ["array_spacing", "describe", "ome_image", "render", "spacing_of", "unit_name"]

_INCH_UM, _CM_UM = 25400.0, 10000.0
_UNIT_NAMES = {"um": "micrometer", "µm": "micrometer", "\\u00B5m": "micrometer",
               "micron": "micrometer", "nm": "nanometer", "mm": "millimeter",
               "cm": "centimeter", "m": "meter", "pixel": None, "": None}  # fmt: skip
#: How ``info`` names the axes of OME-Zarr (and a header's time axis).
_AXIS_NAMES = {"t": "time", "c": "channel", "z": "plane", "y": "row", "x": "column"}
_TIME_UNITS = frozenset(("second", "millisecond", "microsecond", "nanosecond", "minute", "hour"))


def unit_name(name):
    """The OME-NGFF (UDUNITS-2) name of a unit as files write it (``"mm"``, ``"µm"``, ...)."""
    if name is None:
        return None
    return _UNIT_NAMES.get(str(name).strip().lower(), str(name).strip())


def describe(path: str, fmt: str, **open_options) -> dict:
    """The facts ``bigimg info`` prints, as a JSON-ready dict."""
    refuse_partial(path, "input")
    if fmt == "raw":
        return _describe_raw(path, **open_options)
    arr = open_volume(path, fmt, **open_options)  # validates and refuses incomplete outputs
    info = {
        "path": os.path.abspath(path),
        "format": fmt,
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
    }
    if fmt == "tiff":
        info.update(_tiff_facts(path, open_options.get("series", 0), open_options.get("level", 0)))
    elif fmt in PHYSICAL_FORMATS:
        info.update(_physical_facts(arr))
    else:
        info.update(_zarr_facts(path, open_options.get("component")))
    info["nbytes"] = int(arr.nbytes)
    info["size_on_disk"] = _size_on_disk(path)
    return info


def _size_on_disk(path: str) -> int:
    if os.path.exists(path):
        return disk_size(path)
    import glob

    return sum(os.path.getsize(p) for p in glob.glob(path))


def _describe_raw(
    path: str, *, shape=None, dtype=None, offset=0, order="C", allow_trailing=False, **_
) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"raw file {path} does not exist.")
    size = os.path.getsize(path)
    info = {"path": os.path.abspath(path), "format": "raw", "size_on_disk": size}
    if shape is None and dtype is None:
        info["note"] = "a raw file has no header: pass --shape and --dtype to check them"
        guesses = []
        for name in ("uint8", "uint16", "float32"):
            n = (size - offset) // np.dtype(name).itemsize
            edge = round(n ** (1 / 3)) if n > 0 else 0
            if edge and edge**3 * np.dtype(name).itemsize == size - offset:
                guesses.append(f"{edge},{edge},{edge} {name}")
        if guesses:
            info["fits"] = guesses
        return info
    arr = open_volume(
        path,
        "raw",
        shape=shape,
        dtype=dtype,
        offset=offset,
        order=order,
        allow_trailing=allow_trailing,
    )
    trailing = size - offset - int(arr.nbytes)
    info.update(
        shape=list(arr.shape),
        dtype=str(arr.dtype),
        offset=offset,
        order=order,
        nbytes=int(arr.nbytes),
        chunks=list(arr.chunksize),
        note=f"{trailing} bytes after the data (allowed)"
        if trailing
        else "size matches shape, dtype and offset",
    )
    return info


def _tiff_facts(path: str, series: int, level: int) -> dict:
    import tifffile
    import zarr

    files = [path]
    if not os.path.isfile(path):  # a folder or a pattern: a stack of slice files
        files = tiff_stack_files(path)
    with tifffile.TiffFile(files[0]) as tif:
        s = tif.series[series if len(files) == 1 else 0]
        page = s.keyframe
        facts = {
            "files": len(files),
            "series": len(tif.series),
            "levels": [
                {"path": str(i), "shape": list(lev.shape)} for i, lev in enumerate(s.levels)
            ],
            "axes": s.axes,
            "compression": _compression(page),
        }
        if len(files) == 1:
            store = zarr.open_array(tif.aszarr(series=series, level=level), mode="r")
            facts["chunks"] = [min(c, n) for c, n in zip(store.chunks, store.shape)]
        else:
            facts["chunks"] = [1, *page.shape[-2:]]
        spacing, unit = _tiff_spacing(tif, page)
    if len(files) > 1 and spacing is not None:
        spacing = [None, *spacing[-2:]]
    if len(s.shape) == 2 and spacing is not None and len(files) == 1:
        spacing = spacing[-2:]
    facts["spacing"], facts["unit"] = spacing, unit
    return facts


def _compression(page) -> str | None:
    name = str(getattr(page.compression, "name", "")).lower()
    return None if name in ("", "none") else name


def _tiff_spacing(tif, page):
    """(z, y, x) spacing (None where unknown) and unit, from OME, ImageJ or TIFF tags."""
    if tif.is_ome and tif.ome_metadata:
        root = ET.fromstring(tif.ome_metadata)
        pixels = next((e for e in root.iter() if e.tag.endswith("Pixels")), None)
        if pixels is not None:
            sizes = [pixels.get(f"PhysicalSize{a}") for a in "ZYX"]
            if any(sizes):
                unit = unit_name(pixels.get("PhysicalSizeXUnit", "µm"))
                return [None if v is None else float(v) for v in sizes], unit
    tags = page.tags
    res = [tags[t].value for t in ("YResolution", "XResolution") if t in tags]
    yx = [d / n if n else None for n, d in res] if len(res) == 2 else [None, None]
    if tif.is_imagej:
        meta = tif.imagej_metadata or {}
        z = meta.get("spacing")
        unit = unit_name(meta.get("unit"))
        if z is None and unit is None and yx == [1.0, 1.0]:
            return None, None
        return [None if z is None else float(z), *yx], unit
    unit_tag = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 2
    scale = {2: _INCH_UM, 3: _CM_UM}.get(int(unit_tag))
    if scale is None or None in yx or yx == [1.0, 1.0]:
        return None, None
    return [None, yx[0] * scale, yx[1] * scale], "micrometer"


def _ome_spacing(multiscale: dict, ndim: int, level: int = 0):
    """Spacing and unit of a level (0: full resolution) from OME-Zarr ``multiscales``."""
    scale = [1.0] * ndim
    found = False
    transforms = [
        multiscale.get("coordinateTransformations") or [],
        multiscale["datasets"][level].get("coordinateTransformations") or [],
    ]
    for group in transforms:
        for t in group:
            if t.get("type") == "scale" and len(t.get("scale", ())) == ndim:
                scale = [a * float(b) for a, b in zip(scale, t["scale"])]
                found = True
    axes = multiscale.get("axes") or []
    units = {a.get("unit") for a in axes if isinstance(a, dict) and a.get("type") == "space"}
    unit = next(iter(units)) if len(units) == 1 else None
    return (scale if found else None), unit


def _ome_axes(multiscale: dict, ndim: int, level: int = 0) -> dict:
    """Axis names (``"tzyx"``; None unless one letter per axis), units and translation.

    The translation is the level's (the image-wide one added), None when not written.
    """
    axes = multiscale.get("axes") or []
    names = "".join(a.get("name", "?") if isinstance(a, dict) else str(a) for a in axes)
    units = [a.get("unit") if isinstance(a, dict) else None for a in axes]

    def pick(transforms, kind):
        return next(
            (
                [float(v) for v in t[kind]]
                for t in transforms or []
                if t.get("type") == kind and len(t.get(kind, ())) == ndim
            ),
            None,
        )

    # the image-wide transforms apply after the level's: scale, then translation
    own = multiscale["datasets"][level].get("coordinateTransformations")
    top = multiscale.get("coordinateTransformations")
    shift, top_scale, top_shift = (
        pick(own, "translation"),
        pick(top, "scale"),
        pick(top, "translation"),
    )
    if shift is not None or top_shift is not None:
        shift = [x * s for x, s in zip(shift or [0.0] * ndim, top_scale or [1.0] * ndim)]
        shift = [x + d for x, d in zip(shift, top_shift or [0.0] * ndim)]
    ok = len(names) == ndim == len(axes)
    return {
        "axes": names if ok else None,
        "units": units if ok else None,
        "translation": shift,
    }


def ome_image(path: str, component: str | None = None) -> dict | None:
    """Axes, units and translation of the OME-Zarr image at ``component`` (None if not one).

    ``component`` may name the image group or one of its levels.
    """
    import zarr

    where = (component or "").strip("/")
    try:
        root = zarr.open(path, mode="r")
        node = root[where] if where else root
    except (KeyError, OSError, ValueError, zarr.errors.NodeNotFoundError):
        return None
    level, name = 0, None
    if isinstance(node, zarr.Array):
        if not where:
            return None
        parent, _, name = where.rpartition("/")
        node = root[parent] if parent else root
    attrs = node.attrs.asdict()
    multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    if not multiscales:
        return None
    ms = multiscales[0]
    paths = [str(d.get("path")) for d in ms.get("datasets", [])]
    if name is not None:
        if name not in paths:
            return None
        level = paths.index(name)
    if not paths or paths[level] not in node:
        return None
    return _ome_axes(ms, node[paths[level]].ndim, level)


def _zarr_facts(path: str, component: str | None) -> dict:
    import zarr

    root = zarr.open(path, mode="r")
    node, where = root, (component or "").strip("/")
    if where:
        node = root[where]
    facts: dict = {}
    spacing = unit = None
    if isinstance(node, zarr.Array) and where:  # a level of an OME-Zarr image?
        parent, _, name = where.rpartition("/")
        spacing, unit = _level_spacing(root[parent] if parent else root, name, node.ndim)
    if isinstance(node, zarr.Group):
        attrs = node.attrs.asdict()
        multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
        if multiscales:
            ms = multiscales[0]
            paths = [str(d["path"]) for d in ms["datasets"]]
            facts["format_detail"] = "OME-Zarr image"
            facts["levels"] = [
                {"path": p, "shape": list(node[p].shape), "chunks": list(node[p].chunks)}
                for p in paths
            ]
            level0 = node[paths[0]]
            spacing, unit = _ome_spacing(ms, level0.ndim)
            described = _ome_axes(ms, level0.ndim)
            facts.update(_time_facts(described["axes"], spacing, described["units"]))
            if described["translation"] is not None:
                facts["translation"] = described["translation"]
            if "labels" in node:
                facts["labels"] = list(node["labels"].attrs.asdict().get("labels", []))
            node = level0
    facts["zarr_format"] = node.metadata.zarr_format
    facts["chunks"] = list(node.chunks)
    if node.shards is not None:
        facts["shards"] = list(node.shards)
    facts["compressor"] = ", ".join(_codec_name(c) for c in node.compressors) or None
    facts["spacing"], facts["unit"] = spacing, unit
    return facts


def _level_spacing(group, name: str, ndim: int):
    """Spacing and unit of the array ``name`` in ``group`` if it is a level of its image."""
    attrs = group.attrs.asdict()
    multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales") or []
    for ms in multiscales[:1]:
        paths = [str(d.get("path")) for d in ms.get("datasets", [])]
        if name in paths:
            return _ome_spacing(ms, ndim, paths.index(name))
    return None, None


def _time_facts(axes: str | None, spacing, units) -> dict:
    """``axes`` and, with a time axis, its step and unit (``units``: one per axis)."""
    if not axes:
        return {}
    t = axes.find("t")
    if t < 0:
        return {"axes": axes}
    step = None if spacing is None else spacing[t]
    return {"axes": axes, "time_step": step, "time_unit": units[t] if units else None}


def _header_axes(h) -> str | None:
    """``"zyx"``/``"yx"``, or ``"tzyx"`` when a 4-D header's leading axis is in time units."""
    ndim = len(h.shape)
    if ndim in (2, 3):
        return "zyx"[-ndim:]
    lead_is_time = h.units[0] in _TIME_UNITS and (h.direction is None or h.direction[0] is None)
    return "tzyx" if ndim == 4 and lead_is_time else None


def _codec_name(codec) -> str:
    cname = getattr(codec, "cname", None)
    cname = getattr(cname, "value", cname)
    name = type(codec).__name__.replace("Codec", "").lower()
    return f"{name} {cname}" if cname else name


def _physical_facts(arr) -> dict:
    """What a NIfTI, DICOM, HDF5, MRC or NRRD header says (``bigimg.io.header``)."""
    h = header(arr)
    detail = {
        "nifti": lambda f: f"NIfTI ({f['class']})",
        "dicom": lambda f: f"DICOM {f['Modality']} series {f['SeriesNumber']}, {f['files']} files",
        "hdf5": lambda f: f"HDF5 dataset {f['dataset']}",
        "mrc": lambda f: f"MRC (mode {f['mode']})",
        "nrrd": lambda f: f"NRRD ({f.get('encoding', 'raw')})",
    }[h.format](h.fields)
    known = [u for u in h.units if u is not None]
    same = len(set(h.units)) == 1
    unit = h.units[0] if same else (" / ".join(u or "?" for u in h.units) if known else None)
    facts = {"format_detail": detail, "chunks": list(arr.chunksize), "unit": unit}
    facts["spacing"] = list(h.spacing) if any(s is not None for s in h.spacing) else None
    axes = _header_axes(h)
    facts.update(_time_facts(axes, facts["spacing"], h.units))
    if axes and "t" in axes:
        facts["unit"] = h.unit  # the space axes' (the time unit is shown with the step)
    as_dict = h.as_dict()
    for key in ("units", "origin", "direction", "space"):
        facts[key] = as_dict[key]
    facts["header"] = as_dict["fields"]
    return facts


def array_spacing(arr):
    """The spacing and unit the header of an array straight from a reader records.

    ``(None, unit)`` unless every axis's spacing is known.
    """
    h = header(arr)
    if h is None:
        return None, None
    if any(s is None for s in h.spacing):
        return None, h.unit
    return tuple(float(s) for s in h.spacing), h.unit


def spacing_of(path: str, fmt: str, component=None, series: int = 0):
    """Voxel spacing (z, y, x) if the file records all of it, else None; and its unit."""
    if fmt == "raw":
        return None, None
    if fmt in PHYSICAL_FORMATS:
        return array_spacing(
            open_volume(path, fmt, component=component, series=series if fmt == "dicom" else 0)
        )
    facts = _tiff_facts(path, series, 0) if fmt == "tiff" else _zarr_facts(path, component)
    spacing = facts.get("spacing")
    if not spacing or any(s is None for s in spacing):
        return None, facts.get("unit")
    return tuple(float(s) for s in spacing), facts.get("unit")


def _chunk_count(shape, chunks) -> int:
    return math.prod(-(-n // c) for n, c in zip(shape, chunks) if c)


def render(info: dict, as_json: bool = False) -> str:
    """The dict as indented JSON, or as aligned ``key  value`` lines."""
    if as_json:
        return json.dumps(info, indent=2)
    rows = [("path", info["path"])]
    kind = info.get("format_detail") or info["format"]
    if info["format"] == "zarr":
        kind = f"{kind}, zarr v{info['zarr_format']}"
    if info.get("files", 1) > 1:
        kind = f"TIFF stack of {info['files']} files"
    rows.append(("format", kind))
    axes = info.get("axes")
    if "shape" in info:
        names = ["plane", "row", "column"][-len(info["shape"]) :] if info["shape"] else []
        names = [f"axis {i}" for i in range(len(info["shape"]) - len(names))] + names
        if axes and len(axes) == len(info["shape"]):
            names = [_AXIS_NAMES.get(a, a) for a in axes]
        rows.append(("shape", f"{shape_text(info['shape'])}  ({', '.join(names)})"))
        rows.append(("dtype", info["dtype"]))
    if "chunks" in info:
        n = _chunk_count(info["shape"], info["chunks"])
        rows.append(("chunks", f"{shape_text(info['chunks'])}  ({n:,} chunks)"))
    if info.get("shards"):
        rows.append(("shards", shape_text(info["shards"])))
    if info.get("compressor") or info.get("compression"):
        rows.append(("compression", info.get("compressor") or info.get("compression")))
    size = format_bytes(info["size_on_disk"])
    if info.get("nbytes") and (info.get("compressor") or info.get("compression")):
        ratio = info["nbytes"] / max(info["size_on_disk"], 1)
        size += f"  (uncompressed {format_bytes(info['nbytes'])}, ratio {ratio:.2f})"
    rows.append(("size on disk", size))
    if info.get("origin") is not None:
        where = ", ".join(f"{v:g}" for v in info["origin"])
        rows.append(("origin", f"({where}) {info.get('space') or ''}".rstrip()))
    spacing = info.get("spacing")
    if spacing and axes and len(axes) == len(spacing):  # space axes only: time has a row
        spacing = [s for a, s in zip(axes, spacing) if a in "zyx"]
    if spacing:
        values = " x ".join("?" if s is None else f"{s:g}" for s in spacing)
        rows.append(("spacing", f"{values} {info.get('unit') or '(no unit)'}"))
    elif info["format"] != "raw":
        rows.append(("spacing", "not recorded"))
    shift = info.get("translation")
    if shift and axes and len(axes) == len(shift):
        shift = [v for a, v in zip(axes, shift) if a in "zyx"]
    if shift and any(shift):
        rows.append(("translation", " x ".join(f"{v:g}" for v in shift)))
    if "time_step" in info:
        step = info["time_step"]
        step = (
            "not recorded" if step is None else f"{step:g} {info.get('time_unit') or '(no unit)'}"
        )
        rows.append(("time step", step))
    if axes and "c" in axes and len(axes) == len(info.get("shape", ())):
        rows.append(("channels", str(info["shape"][axes.index("c")])))
    levels = info.get("levels", [])
    for lev in levels if len(levels) > 1 else ():
        chunks = f", chunks {shape_text(lev['chunks'])}" if "chunks" in lev else ""
        rows.append((f"level {lev['path']}", shape_text(lev["shape"]) + chunks))
    if info.get("labels"):
        rows.append(("labels", ", ".join(info["labels"])))
    if info.get("series", 1) > 1:
        rows.append(("series", f"{info['series']} (use --series)"))
    if info.get("fits"):
        rows.append(("fits", "; ".join(info["fits"])))
    if info.get("note"):
        rows.append(("note", info["note"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
